/* The API file systems the guest needs, mounted by PID 1 at boot. */
#include "boot.h"
#include "kmsg.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privileges.h"

struct mount_point {
	const char *source;
	const char *target;
	const char *type;
	unsigned long flags;
	const char *options;
};

#define NOSUID_NODEV (MS_NOSUID | MS_NODEV)

/* In mount order: /dev first so that /dev/kmsg can take log lines, and
 * /sys before the cgroup2 file system below it. */
static const struct mount_point mount_points[] = {
	{"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
	{"proc", "/proc", "proc", NOSUID_NODEV | MS_NOEXEC, NULL},
	{"sysfs", "/sys", "sysfs", NOSUID_NODEV | MS_NOEXEC, NULL},
	/* ptmxmode=0666 so that user 1000 could open /dev/pts/ptmx too. */
	{"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
	{"tmpfs", "/tmp", "tmpfs", NOSUID_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", NOSUID_NODEV, "mode=0755"},
	/* Its own tmpfs, so that the user's files do not compete with the
	 * root file system. Half of guest RAM: a session that fills it gets
	 * ENOSPC while the guest keeps memory to run, where a larger size
	 * ends in the OOM killer. The host gives an open session enough RAM
	 * for its file. */
	{"tmpfs", "/home", "tmpfs", NOSUID_NODEV, "mode=0755,size=50%"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", NOSUID_NODEV | MS_NOEXEC, NULL},
};

static int mount_one(const struct mount_point *point)
{
	/* The initramfs may lack the mount point (/dev/pts always does). */
	if (mkdir(point->target, 0755) < 0 && errno != EEXIST) {
		int err = errno;

		kmsg_open();
		log_error("cannot create mount point %s: %s", point->target, strerror(err));
		return -err;
	}
	if (mount(point->source, point->target, point->type, point->flags, point->options) < 0) {
		int err = errno;

		kmsg_open();
		log_error("cannot mount %s on %s: %s", point->type, point->target, strerror(err));
		return -err;
	}
	return 0;
}

/* The tmpfs on /home hides the initramfs's /home/user, so make it again. */
static int make_user_home(void)
{
	if (mkdir(USER_HOME, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", USER_HOME, strerror(errno));
		return -1;
	}
	if (chown(USER_HOME, USER_UID, USER_GID) < 0 || chmod(USER_HOME, 0700) < 0) {
		log_error("cannot give %s to user %d: %s", USER_HOME, USER_UID, strerror(errno));
		return -1;
	}
	return 0;
}

int mount_filesystems(void)
{
	int failures = 0;

	for (size_t i = 0; i < sizeof(mount_points) / sizeof(mount_points[0]); i++) {
		if (mount_one(&mount_points[i]) < 0)
			failures++;
		if (i == 0)
			kmsg_open();
	}
	if (make_user_home() < 0)
		failures++;
	return failures;
}
