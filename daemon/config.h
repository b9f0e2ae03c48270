/*
 * The daemon's settings file, dispvm.conf (docs/config.md): an INI file in
 * $XDG_CONFIG_HOME/dispvm/. The parser is pure apart from its warnings;
 * the daemon keeps the current settings and replaces them only with a
 * file that parsed without error.
 */
#ifndef DISPVMD_CONFIG_H
#define DISPVMD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "paths.h"

#define CONFIG_FILE_NAME "dispvm.conf"
/* Templates that may have their own section. */
#define CONFIG_MAX_TEMPLATES 32
/* Preloaded disposables per template: the default and the largest. */
#define CONFIG_DEFAULT_POOL_SIZE 1u
#define CONFIG_MAX_POOL_SIZE 16u
/* The pool refills only while MemAvailable is at least this many MiB. */
#define CONFIG_DEFAULT_MIN_AVAILABLE_MIB 1024u
#define CONFIG_MAX_MIN_AVAILABLE_MIB (1ull << 40)

#define CONFIG_NAME_SIZE 33 /* a template name (1..32 characters) and a NUL */

struct config_template {
	char name[CONFIG_NAME_SIZE];
	unsigned pool_size;
};

struct dispvm_config {
	char template[CONFIG_NAME_SIZE]; /* for requests that name none */
	uint64_t pool_min_available_mib;
	size_t template_count;
	struct config_template templates[CONFIG_MAX_TEMPLATES];
};

/* The settings without a file. */
void config_defaults(struct dispvm_config *config);

/*
 * Parse INI `text`; `source` names the file in messages. On success fills
 * `out` and returns 0; on a malformed line or an invalid value returns
 * -EINVAL with `err` naming the source, the line and the value, and leaves
 * `out` unchanged. Unknown sections and keys are logged and ignored.
 */
int config_parse_string(const char *text, const char *source, struct dispvm_config *out,
			struct dv_error *err);

/* Parse the file at `path`; a missing file gives the defaults. */
int config_parse_file(const char *path, struct dispvm_config *out, struct dv_error *err);

/* The pool size of `template`: its section's, else the default. */
unsigned config_pool_size(const struct dispvm_config *config, const char *template);

/* The daemon's current settings. */
const struct dispvm_config *config_current(void);

/* (Re)read the settings file into the current settings. On failure logs
 * one line and keeps the current settings. Returns 0 or a negative errno
 * value. */
int config_reload(void);

#endif
