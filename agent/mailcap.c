/* Mailcap parsing, matching and command building (see mailcap.h). */
#include "mailcap.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Bounds of a piece of the input text, not NUL-terminated. */
struct span {
	const char *start;
	size_t length;
};

static struct span trim(struct span span)
{
	while (span.length > 0 && isspace((unsigned char)span.start[0])) {
		span.start++;
		span.length--;
	}
	while (span.length > 0 && isspace((unsigned char)span.start[span.length - 1]))
		span.length--;
	return span;
}

static char *copy_lower(struct span span)
{
	char *copy = strndup(span.start, span.length);

	for (size_t i = 0; copy != NULL && copy[i] != '\0'; i++)
		copy[i] = (char)tolower((unsigned char)copy[i]);
	return copy;
}

/* A type or subtype token: `*` or RFC 2045 token characters. */
static bool token_valid(struct span span)
{
	if (span.length == 0)
		return false;
	if (span.length == 1 && span.start[0] == '*')
		return true;
	for (size_t i = 0; i < span.length; i++) {
		unsigned char c = (unsigned char)span.start[i];

		if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=*", c) != NULL)
			return false;
	}
	return true;
}

/* Split one line into its MIME type and command. Returns false for a
 * malformed line. */
static bool split_line(struct span line, struct span *type, struct span *subtype,
		       struct span *command)
{
	const char *semicolon = memchr(line.start, ';', line.length);

	if (semicolon == NULL)
		return false;

	struct span mime = trim((struct span){line.start, (size_t)(semicolon - line.start)});
	struct span rest = {semicolon + 1, line.length - (size_t)(semicolon - line.start) - 1};
	const char *flags = memchr(rest.start, ';', rest.length);

	if (flags != NULL)
		rest.length = (size_t)(flags - rest.start);
	*command = trim(rest);

	const char *slash = memchr(mime.start, '/', mime.length);

	if (slash == NULL)
		return false;
	*type = trim((struct span){mime.start, (size_t)(slash - mime.start)});
	*subtype = trim((struct span){slash + 1, mime.length - (size_t)(slash - mime.start) - 1});
	return token_valid(*type) && token_valid(*subtype) && command->length > 0;
}

static int add_entry(struct mailcap *mailcap, struct span type, struct span subtype,
		     struct span command)
{
	struct mailcap_entry *entries =
		realloc(mailcap->entries, (mailcap->count + 1) * sizeof(*entries));

	if (entries == NULL)
		return -ENOMEM;
	mailcap->entries = entries;

	struct mailcap_entry *entry = &entries[mailcap->count];

	entry->type = copy_lower(type);
	entry->subtype = copy_lower(subtype);
	entry->command = strndup(command.start, command.length);
	mailcap->count++;
	if (entry->type == NULL || entry->subtype == NULL || entry->command == NULL)
		return -ENOMEM;
	return 0;
}

int mailcap_parse(const char *text, size_t length, struct mailcap *mailcap, size_t *skipped)
{
	const char *end = text + length;

	mailcap->entries = NULL;
	mailcap->count = 0;
	if (skipped != NULL)
		*skipped = 0;

	for (const char *next = text; next < end;) {
		const char *newline = memchr(next, '\n', (size_t)(end - next));
		const char *line_end = newline != NULL ? newline : end;
		struct span line = trim((struct span){next, (size_t)(line_end - next)});
		struct span type, subtype, command;

		next = line_end + 1;
		if (line.length == 0 || line.start[0] == '#')
			continue;
		if (!split_line(line, &type, &subtype, &command)) {
			if (skipped != NULL)
				(*skipped)++;
			continue;
		}
		if (add_entry(mailcap, type, subtype, command) < 0) {
			mailcap_free(mailcap);
			return -ENOMEM;
		}
	}
	return 0;
}

void mailcap_free(struct mailcap *mailcap)
{
	for (size_t i = 0; i < mailcap->count; i++) {
		free(mailcap->entries[i].type);
		free(mailcap->entries[i].subtype);
		free(mailcap->entries[i].command);
	}
	free(mailcap->entries);
	mailcap->entries = NULL;
	mailcap->count = 0;
}

static bool part_matches(const char *pattern, const char *value, size_t value_length)
{
	if (strcmp(pattern, "*") == 0)
		return true;
	return strlen(pattern) == value_length && strncasecmp(pattern, value, value_length) == 0;
}

const char *mailcap_lookup(const struct mailcap *mailcap, const char *mime_type)
{
	const char *slash = strchr(mime_type, '/');

	if (slash == NULL)
		return NULL;

	size_t type_length = (size_t)(slash - mime_type);
	const char *subtype = slash + 1;

	for (size_t i = 0; i < mailcap->count; i++) {
		const struct mailcap_entry *entry = &mailcap->entries[i];

		if (part_matches(entry->type, mime_type, type_length) &&
		    part_matches(entry->subtype, subtype, strlen(subtype)))
			return entry->command;
	}
	return NULL;
}

char *mailcap_quote(const char *path)
{
	size_t quotes = 0;

	for (const char *c = path; *c != '\0'; c++)
		quotes += *c == '\'';

	/* Each ' grows by 3 bytes ('\''), plus two enclosing quotes and NUL. */
	char *quoted = malloc(strlen(path) + 3 * quotes + 3);

	if (quoted == NULL)
		return NULL;

	char *out = quoted;

	*out++ = '\'';
	for (const char *c = path; *c != '\0'; c++) {
		if (*c == '\'') {
			memcpy(out, "'\\''", 4);
			out += 4;
		} else {
			*out++ = *c;
		}
	}
	*out++ = '\'';
	*out = '\0';
	return quoted;
}

/* Expand `command` into `out` when it is not NULL; returns the length the
 * expansion needs, without the NUL, and whether `%s` occurred. */
static size_t expand(const char *command, const char *quoted, char *out, bool *has_path)
{
	size_t quoted_length = strlen(quoted);
	size_t length = 0;

	*has_path = false;
	for (const char *c = command; *c != '\0'; c++) {
		if (c[0] == '%' && c[1] == 's') {
			if (out != NULL)
				memcpy(out + length, quoted, quoted_length);
			length += quoted_length;
			*has_path = true;
			c++;
			continue;
		}
		if (c[0] == '%' && c[1] == '%')
			c++;
		if (out != NULL)
			out[length] = *c;
		length++;
	}
	return length;
}

char *mailcap_build_command(const char *command, const char *path)
{
	char *quoted = mailcap_quote(path);

	if (quoted == NULL)
		return NULL;

	bool has_path;
	size_t length = expand(command, quoted, NULL, &has_path);
	size_t extra = has_path ? 0 : 1 + strlen(quoted);
	char *built = malloc(length + extra + 1);

	if (built != NULL) {
		expand(command, quoted, built, &has_path);
		if (!has_path) {
			built[length] = ' ';
			memcpy(built + length + 1, quoted, extra - 1);
		}
		built[length + extra] = '\0';
	}
	free(quoted);
	return built;
}
