/*
 * The error convention of dispvm's host code (see docs/errors.md).
 *
 * A function that can fail returns 0 (or a non-negative count) on success
 * and a negative errno value on failure. When it takes a struct dv_error it
 * also writes one line into it that says what failed, on which value, and
 * the cause. Callers add context on the way up with dv_error_prefix and
 * report the line once, at the top: the CLI prints it, the daemon logs it or
 * sends it to the client.
 */
#ifndef DISPVM_ERROR_H
#define DISPVM_ERROR_H

#include <stddef.h>

#define DV_ERROR_MAX 512

struct dv_error {
	int code; /* positive errno value, 0 while unset */
	char message[DV_ERROR_MAX];
};

/*
 * Store a formatted message and `code`, appending ": strerror(code)" when
 * `code` is nonzero. Returns -code, or -EIO when `code` is 0, so a caller
 * can write `return dv_error_set(err, errno, "...")`. `err` may be NULL.
 */
int dv_error_set(struct dv_error *err, int code, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Like dv_error_set without the strerror text: for failures whose cause is
 * the value itself (an unknown name, an invalid option). */
int dv_error_invalid(struct dv_error *err, int code, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "formatted text: " to the stored message. */
void dv_error_prefix(struct dv_error *err, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

#endif
