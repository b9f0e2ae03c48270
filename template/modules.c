#include "modules.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const template_guest_modules[] = {
	"virtio_pci",     /* the virtio PCI transport of every device below */
	"virtio_console", /* the virtio-serial port to the host */
	"virtio-rng",     /* entropy from the host, so the guest does not block */
	NULL,
};

enum visit_state { UNVISITED, VISITING, DONE };

struct dep_entry {
	char name[64];
	const char *path; /* into the parser's copy of modules.dep */
	char *deps;       /* space-separated paths, into the same copy */
	enum visit_state state;
};

struct dep_table {
	char *text; /* owned copy of modules.dep, split in place */
	struct dep_entry *entries;
	size_t count;
	const char *builtin_text;
};

static const char *const module_suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz", NULL};

void module_name_normalise(const char *name, char *out, size_t size)
{
	/* `name` may be followed by more text, as in a line of modules.builtin. */
	size_t end = strcspn(name, " \t\n");
	const char *base = name;

	for (size_t i = 0; i < end; i++) {
		if (name[i] == '/')
			base = name + i + 1;
	}

	size_t length = end - (size_t)(base - name);

	for (size_t i = 0; module_suffixes[i] != NULL; i++) {
		size_t suffix = strlen(module_suffixes[i]);

		if (length > suffix && strncmp(base + length - suffix, module_suffixes[i], suffix) == 0) {
			length -= suffix;
			break;
		}
	}
	if (length >= size)
		length = size - 1;
	for (size_t i = 0; i < length; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[length] = '\0';
}

static bool is_compressed(const char *path)
{
	size_t length = strlen(path);

	return length < 3 || strcmp(path + length - 3, ".ko") != 0;
}

static size_t count_lines(const char *text)
{
	size_t lines = 1;

	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	return lines;
}

/* Split one "path: dep dep ..." line into `entry`; false for a blank line. */
static bool parse_line(char *line, struct dep_entry *entry)
{
	char *colon = strchr(line, ':');

	if (colon == NULL)
		return false;
	*colon = '\0';
	entry->path = line;
	entry->deps = colon + 1;
	entry->state = UNVISITED;
	module_name_normalise(line, entry->name, sizeof(entry->name));
	return true;
}

static int table_parse(struct dep_table *table, const char *dep_text, struct dv_error *err)
{
	table->text = strdup(dep_text);
	table->entries = calloc(count_lines(dep_text), sizeof(*table->entries));
	table->count = 0;
	if (table->text == NULL || table->entries == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse modules.dep");

	char *save = NULL;

	for (char *line = strtok_r(table->text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (parse_line(line, &table->entries[table->count]))
			table->count++;
	}
	return 0;
}

static struct dep_entry *table_find(struct dep_table *table, const char *name)
{
	char wanted[64];

	module_name_normalise(name, wanted, sizeof(wanted));
	for (size_t i = 0; i < table->count; i++) {
		if (strcmp(table->entries[i].name, wanted) == 0)
			return &table->entries[i];
	}
	return NULL;
}

static bool is_builtin(const char *builtin_text, const char *name)
{
	char wanted[64];
	char candidate[64];

	if (builtin_text == NULL)
		return false;
	module_name_normalise(name, wanted, sizeof(wanted));
	for (const char *line = builtin_text; *line != '\0';) {
		module_name_normalise(line, candidate, sizeof(candidate));
		if (strcmp(candidate, wanted) == 0)
			return true;

		const char *newline = strchr(line, '\n');

		if (newline == NULL)
			break;
		line = newline + 1;
	}
	return false;
}

static int list_append(struct module_list *out, const struct dep_entry *entry, struct dv_error *err)
{
	if (is_compressed(entry->path))
		return dv_error_invalid(err, ENOTSUP,
					"module %s is compressed (%s), but the guest agent loads modules with finit_module and needs uncompressed .ko files; use a kernel with uncompressed modules",
					entry->name, entry->path);
	if (out->count >= TEMPLATE_MAX_MODULES)
		return dv_error_invalid(err, E2BIG, "more than %d modules needed at %s",
					TEMPLATE_MAX_MODULES, entry->name);
	if (strlen(entry->path) >= sizeof(out->paths[0]))
		return dv_error_invalid(err, ENAMETOOLONG, "module path too long: %s", entry->path);
	strcpy(out->paths[out->count++], entry->path);
	return 0;
}

/* Depth-first: every dependency is appended before the module itself. */
static int visit(struct dep_table *table, const char *name, const char *needed_by,
		 struct module_list *out, struct dv_error *err)
{
	if (is_builtin(table->builtin_text, name))
		return 0;

	struct dep_entry *entry = table_find(table, name);

	if (entry == NULL && needed_by != NULL)
		return dv_error_invalid(err, ENOENT, "module %s, needed by %s, is not in modules.dep",
					name, needed_by);
	if (entry == NULL)
		return dv_error_invalid(err, ENOENT, "module %s is not in modules.dep", name);
	if (entry->state == DONE)
		return 0;
	if (entry->state == VISITING)
		return dv_error_invalid(err, ELOOP, "modules.dep has a dependency cycle through %s",
					entry->name);

	entry->state = VISITING;

	/* strtok_r writes into the string it splits, so split a copy. */
	char deps[4096];
	char *save = NULL;

	snprintf(deps, sizeof(deps), "%s", entry->deps);
	for (char *dep = strtok_r(deps, " \t", &save); dep != NULL; dep = strtok_r(NULL, " \t", &save)) {
		int ret = visit(table, dep, entry->name, out, err);

		if (ret < 0)
			return ret;
	}
	entry->state = DONE;
	return list_append(out, entry, err);
}

int modules_resolve(const char *dep_text, const char *builtin_text, const char *const names[],
		    struct module_list *out, struct dv_error *err)
{
	struct dep_table table = {.builtin_text = builtin_text};
	int ret = table_parse(&table, dep_text, err);

	out->count = 0;
	for (size_t i = 0; ret == 0 && names[i] != NULL; i++)
		ret = visit(&table, names[i], NULL, out, err);

	free(table.entries);
	free(table.text);
	return ret;
}
