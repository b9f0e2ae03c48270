#include "host_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int64_t host_memory_parse_available(const char *meminfo_text)
{
	const char *line = meminfo_text;

	while (line != NULL && *line != '\0') {
		unsigned long long kib;
		char unit[8];

		if (sscanf(line, "MemAvailable: %llu %7s", &kib, unit) == 2 &&
		    strcmp(unit, "kB") == 0)
			return (int64_t)(kib / 1024);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

/* MemAvailable in MiB, or -errno. */
static int64_t read_available(void)
{
	char text[8192];
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t length;

	if (fd < 0)
		return -errno;
	length = read(fd, text, sizeof(text) - 1);
	if (length < 0) {
		int saved = errno;

		close(fd);
		return -saved;
	}
	close(fd);
	text[length] = '\0';

	int64_t available = host_memory_parse_available(text);

	return available < 0 ? -EINVAL : available;
}

static const char *advice(enum host_memory_reason reason)
{
	switch (reason) {
	case HOST_MEMORY_REQUESTED:
		return "request less memory (--memory) or free memory";
	case HOST_MEMORY_FILE:
		return "the file's size sets it, because the file must fit in guest RAM; "
		       "open a smaller file or free memory";
	case HOST_MEMORY_TEMPLATE:
		break;
	}
	return "use a template with less memory or free memory";
}

int host_memory_check(const char *vm_name, uint64_t memory_mib,
		      enum host_memory_reason reason, struct dv_error *err)
{
	int64_t available = read_available();
	int64_t usable;

	if (available < 0) {
		log_warning("%s: cannot read MemAvailable from /proc/meminfo: %s; starting "
			    "without a memory check", vm_name, strerror((int)-available));
		return 0;
	}
	usable = available > HOST_MEMORY_RESERVE_MIB ? available - HOST_MEMORY_RESERVE_MIB : 0;
	if (memory_mib <= (uint64_t)usable)
		return 0;
	return dv_error_invalid(err, ENOMEM,
				"%s needs %" PRIu64 " MiB of guest memory, but the host has %" PRId64
				" MiB available (MemAvailable minus %u MiB kept for the host); %s",
				vm_name, memory_mib, usable, HOST_MEMORY_RESERVE_MIB,
				advice(reason));
}
