/*
 * Logging of the guest agent to the kernel log (/dev/kmsg), which the
 * guest's serial console shows. Each line carries a syslog level prefix
 * and "dispvm-agent: ".
 */
#ifndef DISPVM_AGENT_KMSG_H
#define DISPVM_AGENT_KMSG_H

#define KMSG_ERROR 3
#define KMSG_WARNING 4
#define KMSG_INFO 6
#define KMSG_DEBUG 7

/* Open /dev/kmsg; until this succeeds, log lines go to the console on
 * standard error. */
void kmsg_open(void);

__attribute__((format(printf, 2, 3))) void kmsg_log(int level, const char *format, ...);

#define log_error(...) kmsg_log(KMSG_ERROR, __VA_ARGS__)
#define log_warning(...) kmsg_log(KMSG_WARNING, __VA_ARGS__)
#define log_info(...) kmsg_log(KMSG_INFO, __VA_ARGS__)
#define log_debug(...) kmsg_log(KMSG_DEBUG, __VA_ARGS__)

/* Sync and power the guest off. PID 1 must never exit, so if the reboot
 * call fails this sleeps forever. */
__attribute__((noreturn)) void power_off(void);

#endif
