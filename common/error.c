#include "error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int store(struct dv_error *err, int code, bool with_cause, const char *format,
		 va_list args)
{
	int result = code > 0 ? -code : -EIO;

	if (err == NULL)
		return result;

	err->code = code > 0 ? code : EIO;
	vsnprintf(err->message, sizeof(err->message), format, args);
	if (with_cause && code > 0) {
		size_t used = strlen(err->message);

		snprintf(err->message + used, sizeof(err->message) - used, ": %s", strerror(code));
	}
	return result;
}

int dv_error_set(struct dv_error *err, int code, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	int result = store(err, code, true, format, args);
	va_end(args);
	return result;
}

int dv_error_invalid(struct dv_error *err, int code, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	int result = store(err, code, false, format, args);
	va_end(args);
	return result;
}

void dv_error_prefix(struct dv_error *err, const char *format, ...)
{
	if (err == NULL)
		return;

	char joined[2 * DV_ERROR_MAX + 2];
	va_list args;

	va_start(args, format);
	int length = vsnprintf(joined, DV_ERROR_MAX, format, args);
	va_end(args);
	if (length < 0)
		return;
	if (length >= DV_ERROR_MAX)
		length = DV_ERROR_MAX - 1;
	snprintf(joined + length, sizeof(joined) - (size_t)length, ": %s", err->message);
	/* Long chains lose their tail, which holds the least context. */
	snprintf(err->message, sizeof(err->message), "%.*s", DV_ERROR_MAX - 1, joined);
}
