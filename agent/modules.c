/* Loading of the kernel modules the template lists, in the listed order. */
#include "boot.h"
#include "kmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MODULES_LIST "/etc/dispvm/modules"

static int load_module(const char *release, const char *relative_path)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "/lib/modules/%s/%s", release, relative_path) >=
	    (int)sizeof(path)) {
		log_error("module path too long: %s", relative_path);
		return -ENAMETOOLONG;
	}

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		log_error("cannot open module %s: %s", path, strerror(err));
		return -err;
	}

	/* glibc 2.36 has no finit_module wrapper. EEXIST means the module is
	 * built in or already loaded. */
	int ret = (int)syscall(SYS_finit_module, fd, "", 0);
	int err = errno;

	close(fd);
	if (ret < 0 && err != EEXIST) {
		log_error("cannot load module %s: %s", path, strerror(err));
		return -err;
	}
	log_debug("loaded module %s", relative_path);
	return 0;
}

static void strip_line(char *line)
{
	size_t length = strlen(line);

	while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == ' ' ||
			      line[length - 1] == '\t' || line[length - 1] == '\r'))
		line[--length] = '\0';
}

int load_modules(void)
{
	struct utsname uts;

	if (uname(&uts) < 0) {
		log_error("uname failed: %m");
		return 1;
	}

	FILE *list = fopen(MODULES_LIST, "re");

	if (list == NULL) {
		log_warning("cannot open %s, loading no modules: %m", MODULES_LIST);
		return 0;
	}

	char line[4096];
	int failures = 0;

	while (fgets(line, sizeof(line), list) != NULL) {
		strip_line(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (load_module(uts.release, line) < 0)
			failures++;
	}
	fclose(list);
	return failures;
}
