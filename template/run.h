/*
 * Running helper programs (apt-cache, apt-get, dpkg-deb, depmod, busybox)
 * with posix_spawn and an argument vector; no shell is involved.
 */
#ifndef DISPVM_TEMPLATE_RUN_H
#define DISPVM_TEMPLATE_RUN_H

#include <stddef.h>

#include "error.h"

/*
 * Run argv[0], searched in PATH, in folder `cwd` (NULL for the current one)
 * and wait for it. Its standard output is stored NUL-terminated in `output`
 * (truncated to `output_size` - 1 bytes; NULL discards it). Fails with
 * -EIO and a message holding the exit status and the program's last line
 * of standard error when it exits with a status other than 0.
 */
int run_program(const char *const argv[], const char *cwd, char *output, size_t output_size,
		struct dv_error *err);

/* Print one progress line of a template build to standard error. */
void build_progress(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
