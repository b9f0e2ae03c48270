/* Kernel log output and power-off of the guest agent. */
#include "kmsg.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>

static int kmsg_fd = -1;

void kmsg_open(void)
{
	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
}

void kmsg_log(int level, const char *format, ...)
{
	char line[1024];
	int prefix = snprintf(line, sizeof(line), "<%d>dispvm-agent: ", level);
	va_list args;

	va_start(args, format);
	int length = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, format, args);
	va_end(args);

	if (length < 0)
		return;

	size_t total = (size_t)prefix + (size_t)length;

	if (total > sizeof(line) - 2)
		total = sizeof(line) - 2;
	line[total++] = '\n';

	/* /dev/kmsg takes one record per write; before it is open, write
	 * the line without its level prefix to the console. */
	if (kmsg_fd >= 0)
		(void)!write(kmsg_fd, line, total);
	else
		(void)!write(STDERR_FILENO, line + 3, total - 3);
}

void power_off(void)
{
	log_info("powering off");
	sync();
	reboot(RB_POWER_OFF);
	log_error("power off failed, halting in place: %m");
	for (;;)
		pause();
}
