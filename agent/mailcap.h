/*
 * Parser and matcher for the mailcap file that picks the command opening
 * a file in an open session. The format is a subset of RFC 1524 with one
 * entry per line, `type/subtype; command`, and `#` comment lines. The first
 * matching entry wins. A `*` subtype matches any subtype, and an entry
 * whose type and subtype are both `*` matches every file. `%s` in the
 * command is the shell-quoted file path, and a command without `%s` gets
 * the path appended.
 * Fields after a second `;` (RFC 1524 flags such as needsterminal) are
 * ignored. The API is pure: it touches no files.
 */
#ifndef DISPVM_AGENT_MAILCAP_H
#define DISPVM_AGENT_MAILCAP_H

#include <stddef.h>

struct mailcap_entry {
	char *type;    /* lower case, e.g. "text" or "*" */
	char *subtype; /* lower case, e.g. "plain" or "*" */
	char *command;
};

struct mailcap {
	struct mailcap_entry *entries;
	size_t count;
};

/*
 * Parse `length` bytes of mailcap text into `mailcap`. Malformed lines are
 * skipped and counted in *skipped when it is not NULL. Returns 0 or
 * -ENOMEM.
 */
int mailcap_parse(const char *text, size_t length, struct mailcap *mailcap, size_t *skipped);
void mailcap_free(struct mailcap *mailcap);

/* Return the command of the first entry matching `mime_type`
 * ("type/subtype", any case), or NULL when none matches. */
const char *mailcap_lookup(const struct mailcap *mailcap, const char *mime_type);

/*
 * Quote `path` for /bin/sh: wrap it in single quotes and write each ' as
 * '\''. Returns a malloc'ed string or NULL when out of memory.
 */
char *mailcap_quote(const char *path);

/*
 * Build the shell command that opens `path` with `command`: each `%s` is
 * replaced by the quoted path, and without `%s` a space and the quoted
 * path are appended. `%%` stands for one `%`. Returns a malloc'ed string or
 * NULL when out of memory.
 */
char *mailcap_build_command(const char *command, const char *path);

#endif
