/* Dropping to the session user and that user's environment. */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int drop_privileges(void)
{
	/* Order matters: the group calls need root, which setuid gives up. */
	if (setgroups(0, NULL) < 0)
		return -errno;
	if (setgid(USER_GID) < 0)
		return -errno;
	if (setuid(USER_UID) < 0)
		return -errno;
	return 0;
}

static const char *const default_environment[] = {
	"HOME=" USER_HOME,
	"USER=user",
	"LOGNAME=user",
	"SHELL=/bin/sh",
	"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
};
#define DEFAULT_COUNT (sizeof(default_environment) / sizeof(default_environment[0]))

/* Index of the entry with the same NAME as `entry`, or `count`. */
static size_t find_name(char **environment, size_t count, const char *entry)
{
	const char *equals = strchr(entry, '=');
	size_t name_length = equals != NULL ? (size_t)(equals - entry) : strlen(entry);

	for (size_t i = 0; i < count; i++) {
		if (strncmp(environment[i], entry, name_length) == 0 &&
		    environment[i][name_length] == '=')
			return i;
	}
	return count;
}

char **build_environment(char *const *extra, bool tty)
{
	size_t extra_count = 0;

	while (extra != NULL && extra[extra_count] != NULL)
		extra_count++;

	char **environment = calloc(DEFAULT_COUNT + 1 + extra_count + 1, sizeof(*environment));

	if (environment == NULL)
		return NULL;

	size_t count = 0;

	for (size_t i = 0; i < DEFAULT_COUNT; i++)
		environment[count++] = (char *)default_environment[i];
	if (tty)
		environment[count++] = "TERM=xterm-256color";
	for (size_t i = 0; i < extra_count; i++) {
		/* An entry without '=' is not a variable; execve would pass it
		 * on unchanged, so skip it. */
		if (strchr(extra[i], '=') == NULL)
			continue;

		size_t index = find_name(environment, count, extra[i]);

		environment[index] = extra[i];
		if (index == count)
			count++;
	}
	environment[count] = NULL;
	return environment;
}
