/*
 * Where dispvm keeps its files, following the XDG base directory rules:
 *   runtime  $XDG_RUNTIME_DIR/dispvm   (else /run/user/UID/dispvm, else
 *            /tmp/dispvm-UID): control socket, daemon lock, VM records
 *   data     $XDG_DATA_HOME/dispvm     (else ~/.local/share/dispvm): templates
 *   cache    $XDG_CACHE_HOME/dispvm    (else ~/.cache/dispvm): downloads,
 *            the accelerator probe result
 *   state    $XDG_STATE_HOME/dispvm    (else ~/.local/state/dispvm): daemon log
 *   config   $XDG_CONFIG_HOME/dispvm   (else ~/.config/dispvm)
 * Each function writes the path into `out` and returns 0, or returns
 * -ENAMETOOLONG / -ENOENT with `err` set.
 */
#ifndef DISPVM_PATHS_H
#define DISPVM_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define DV_PATH_MAX 4096

enum dv_dir_kind {
	DV_DIR_RUNTIME,
	DV_DIR_DATA,
	DV_DIR_CACHE,
	DV_DIR_STATE,
	DV_DIR_CONFIG,
};

int dv_path_dir(enum dv_dir_kind kind, char *out, size_t size, struct dv_error *err);

/* `dir` joined with a formatted relative path. */
int dv_path_join(char *out, size_t size, struct dv_error *err, const char *dir,
		 const char *format, ...) __attribute__((format(printf, 5, 6)));

/* The daemon's control socket: RUNTIME/control.sock. */
int dv_path_control_socket(char *out, size_t size, struct dv_error *err);

/* A template's folder: DATA/templates/NAME. */
int dv_path_template(const char *name, char *out, size_t size, struct dv_error *err);

/*
 * Create `path` and its missing parents with mode 0700 and check that the
 * last component is a directory owned by the caller and not accessible to
 * others (fixing the mode where it is ours).
 */
int dv_dir_ensure_private(const char *path, struct dv_error *err);

/* Template names: 1..32 of [a-z0-9_-], starting with a letter or digit. */
bool dv_template_name_valid(const char *name);

#define DV_DEFAULT_TEMPLATE "minimal"

#endif
