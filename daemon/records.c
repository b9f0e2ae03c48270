/* Runtime records of live VMs and the removal of stale ones. */
#include "records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "paths.h"

static char records_dir[DV_PATH_MAX];

int records_init(const char *runtime_dir, struct dv_error *err)
{
	int ret = dv_path_join(records_dir, sizeof(records_dir), err, runtime_dir, "vms");

	if (ret < 0)
		return ret;
	return dv_dir_ensure_private(records_dir, err);
}

int records_write(const char *vm_name, pid_t qemu_pid, struct dv_error *err)
{
	char path[DV_PATH_MAX];
	char temporary[DV_PATH_MAX];
	int ret = dv_path_join(path, sizeof(path), err, records_dir, "%s", vm_name);

	if (ret == 0)
		ret = dv_path_join(temporary, sizeof(temporary), err, records_dir, ".%s.tmp",
				   vm_name);
	if (ret < 0)
		return ret;

	int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot create %s", temporary);
	if (dprintf(fd, "%d %s\n", (int)qemu_pid, vm_name) < 0) {
		ret = dv_error_set(err, errno, "cannot write %s", temporary);
		close(fd);
		unlink(temporary);
		return ret;
	}
	close(fd);
	if (rename(temporary, path) < 0) {
		ret = dv_error_set(err, errno, "cannot rename %s to %s", temporary, path);
		unlink(temporary);
		return ret;
	}
	return 0;
}

void records_remove(const char *vm_name)
{
	char path[DV_PATH_MAX];

	if (dv_path_join(path, sizeof(path), NULL, records_dir, "%s", vm_name) < 0)
		return;
	if (unlink(path) < 0 && errno != ENOENT)
		log_warning("%s: cannot remove record %s: %m", vm_name, path);
}

/* True when /proc/PID/cmdline is a QEMU started by dispvmd for `vm_name`:
 * one argument is exactly "NAME,process=dispvm-NAME". */
static bool is_our_qemu(pid_t pid, const char *vm_name)
{
	char path[64];
	char cmdline[8192];
	char expected[64];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	snprintf(expected, sizeof(expected), "%s,process=dispvm-%s", vm_name, vm_name);

	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;

	ssize_t length = read(fd, cmdline, sizeof(cmdline) - 1);

	close(fd);
	if (length <= 0)
		return false;
	cmdline[length] = '\0';
	for (char *arg = cmdline; arg < cmdline + length; arg += strlen(arg) + 1) {
		if (strcmp(arg, expected) == 0)
			return true;
	}
	return false;
}

static void clean_record(const char *file_name)
{
	char path[DV_PATH_MAX];
	char name[NAMES_BUFFER_SIZE] = "";
	int pid = 0;

	if (dv_path_join(path, sizeof(path), NULL, records_dir, "%s", file_name) < 0)
		return;

	FILE *record = fopen(path, "re");

	if (record != NULL) {
		if (fscanf(record, "%d %15s", &pid, name) != 2)
			pid = 0;
		fclose(record);
	}

	const char *outcome = "gone";

	if (pid > 0 && strcmp(name, file_name) == 0 && is_our_qemu(pid, name)) {
		if (kill(pid, SIGKILL) == 0)
			outcome = "killed";
		else
			log_warning("%s: cannot kill stale QEMU pid %d: %m", name, pid);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		log_warning("cannot remove stale VM record %s: %m", path);
	log_info("removed stale VM record %s (qemu pid %d %s)", file_name, pid, outcome);
}

void records_clean_stale(void)
{
	DIR *dir = opendir(records_dir);

	if (dir == NULL) {
		log_warning("cannot open %s: %m", records_dir);
		return;
	}
	for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
		if (entry->d_name[0] == '.') {
			/* Leftover temporary files of records_write. */
			if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
				unlinkat(dirfd(dir), entry->d_name, 0);
			continue;
		}
		clean_record(entry->d_name);
	}
	closedir(dir);
}
