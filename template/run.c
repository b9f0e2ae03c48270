#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Read what the child wrote into memory file `fd`, NUL-terminated. */
static void read_memfd(int fd, char *buffer, size_t size)
{
	ssize_t length = pread(fd, buffer, size - 1, 0);

	buffer[length > 0 ? length : 0] = '\0';
}

/* Keep only the last non-empty line of `text`, for an error message. */
static const char *last_line(char *text)
{
	size_t length = strlen(text);

	while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == ' '))
		text[--length] = '\0';

	char *newline = strrchr(text, '\n');

	return newline != NULL ? newline + 1 : text;
}

static int spawn_with_output(const char *const argv[], const char *cwd, int out_fd, int err_fd,
			     pid_t *pid, struct dv_error *err)
{
	posix_spawn_file_actions_t actions;
	int ret;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
	if (cwd != NULL)
		posix_spawn_file_actions_addchdir_np(&actions, cwd);
	ret = posix_spawnp(pid, argv[0], &actions, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (ret != 0)
		return dv_error_set(err, ret, "cannot execute %s", argv[0]);
	return 0;
}

static int wait_child(pid_t pid, const char *program, int *status, struct dv_error *err)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return dv_error_set(err, errno, "cannot wait for %s", program);
	}
	return 0;
}

int run_program(const char *const argv[], const char *cwd, char *output, size_t output_size,
		struct dv_error *err)
{
	char error_text[4096];
	int out_fd = memfd_create("dispvm-stdout", MFD_CLOEXEC);
	int err_fd = memfd_create("dispvm-stderr", MFD_CLOEXEC);
	pid_t pid;
	int status = 0;
	int ret;

	if (out_fd < 0 || err_fd < 0) {
		ret = dv_error_set(err, errno, "cannot create a memory file for %s", argv[0]);
		goto out;
	}
	ret = spawn_with_output(argv, cwd, out_fd, err_fd, &pid, err);
	if (ret < 0)
		goto out;
	ret = wait_child(pid, argv[0], &status, err);
	if (ret < 0)
		goto out;
	if (output != NULL && output_size > 0)
		read_memfd(out_fd, output, output_size);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		goto out;

	read_memfd(err_fd, error_text, sizeof(error_text));
	if (WIFSIGNALED(status))
		ret = dv_error_invalid(err, EIO, "%s was killed by signal %d", argv[0], WTERMSIG(status));
	else
		ret = dv_error_invalid(err, EIO, "%s exited with status %d: %s", argv[0],
				       WEXITSTATUS(status), last_line(error_text));
out:
	if (err_fd >= 0)
		close(err_fd);
	if (out_fd >= 0)
		close(out_fd);
	return ret;
}

void build_progress(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);
}
