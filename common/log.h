/*
 * Leveled logging for host programs. Lines go to standard error as
 *   2026-12-04T19:50:00.123Z info  dispvmd[1234]: disp42: started ...
 * Lifecycle lines name the VM first. Error lines carry their cause.
 */
#ifndef DISPVM_LOG_H
#define DISPVM_LOG_H

enum dv_log_level {
	DV_LOG_ERROR = 0,
	DV_LOG_WARNING = 1,
	DV_LOG_INFO = 2,
	DV_LOG_DEBUG = 3,
};

/* Set the program name shown in each line and the most verbose level
 * printed. */
void dv_log_init(const char *program, enum dv_log_level level);

/* Print lines as a command-line tool does, "PROGRAM: warning: ...", with
 * no time stamp or pid ("PROGRAM: ..." for info lines). */
void dv_log_use_plain_format(void);

/* Parse "error", "warning", "info" or "debug". Returns 0 or -EINVAL. */
int dv_log_level_parse(const char *text, enum dv_log_level *level);

void dv_log(enum dv_log_level level, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) dv_log(DV_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) dv_log(DV_LOG_WARNING, __VA_ARGS__)
#define log_info(...) dv_log(DV_LOG_INFO, __VA_ARGS__)
#define log_debug(...) dv_log(DV_LOG_DEBUG, __VA_ARGS__)

#endif
