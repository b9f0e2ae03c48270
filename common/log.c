#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "dispvm";
static enum dv_log_level log_max_level = DV_LOG_INFO;
static bool log_plain;

static const char *const level_names[] = {
	[DV_LOG_ERROR] = "error",
	[DV_LOG_WARNING] = "warning",
	[DV_LOG_INFO] = "info",
	[DV_LOG_DEBUG] = "debug",
};

void dv_log_init(const char *program, enum dv_log_level level)
{
	log_program = program;
	log_max_level = level;
}

void dv_log_use_plain_format(void)
{
	log_plain = true;
}

int dv_log_level_parse(const char *text, enum dv_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*level = (enum dv_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void dv_log(enum dv_log_level level, const char *format, ...)
{
	if (level > log_max_level)
		return;

	int saved_errno = errno;
	struct timespec now;
	struct tm utc;
	char stamp[32];
	char line[2048];
	va_list args;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &utc);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);

	int used;

	if (log_plain && level == DV_LOG_INFO)
		used = snprintf(line, sizeof(line), "%s: ", log_program);
	else if (log_plain)
		used = snprintf(line, sizeof(line), "%s: %s: ", log_program, level_names[level]);
	else
		used = snprintf(line, sizeof(line), "%s.%03ldZ %-7s %s[%d]: ", stamp,
				now.tv_nsec / 1000000, level_names[level], log_program,
				(int)getpid());

	va_start(args, format);
	vsnprintf(line + used, sizeof(line) - (size_t)used, format, args);
	va_end(args);
	/* One write per line keeps lines whole when several processes share
	 * the log file. */
	size_t length = strlen(line);

	if (length < sizeof(line) - 1) {
		line[length++] = '\n';
	} else {
		line[sizeof(line) - 2] = '\n';
		length = sizeof(line) - 1;
	}
	if (write(STDERR_FILENO, line, length) < 0) {
		/* Nowhere left to report a failed log write. */
	}
	errno = saved_errno;
}
