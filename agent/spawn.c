/* Fork, set-up and exec of session commands (see spawn.h). */
#include "spawn.h"
#include "kmsg.h"
#include "privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Steps of the child before and at exec, as its close-on-exec status
 * pipe reports a failure. */
enum child_step {
	STEP_SETUP = 1,
	STEP_CGROUP,
	STEP_TTY,
	STEP_PRIVILEGES,
	STEP_CHDIR,
	STEP_EXEC,
};

struct child_report {
	int step;
	int error;
};

/* Parent and child ends of the standard streams before the fork. */
struct stdio_fds {
	int child[3];
	int parent[3];
	char tty_path[64];
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_stdio(struct stdio_fds *fds)
{
	for (int i = 0; i < 3; i++) {
		close_fd(&fds->child[i]);
		close_fd(&fds->parent[i]);
	}
}

static int open_pipes(struct stdio_fds *fds)
{
	for (int i = 0; i < 3; i++) {
		int ends[2];

		if (pipe2(ends, O_CLOEXEC) < 0)
			return -errno;
		/* stdin: the child reads; stdout and stderr: the child writes. */
		fds->child[i] = i == 0 ? ends[0] : ends[1];
		fds->parent[i] = i == 0 ? ends[1] : ends[0];
		if (fcntl(fds->parent[i], F_SETFL, O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

static int open_pty(struct stdio_fds *fds, uint16_t rows, uint16_t cols)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (master < 0)
		return -errno;
	fds->parent[1] = master;

	struct winsize size = {.ws_row = rows, .ws_col = cols};

	if (grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, fds->tty_path, sizeof(fds->tty_path)) != 0)
		return -errno;
	if (ioctl(master, TIOCSWINSZ, &size) < 0)
		return -errno;

	/* The same open file for writing, so that the loop can watch reads
	 * and writes as two epoll entries. */
	fds->parent[0] = fcntl(master, F_DUPFD_CLOEXEC, 3);
	if (fds->parent[0] < 0)
		return -errno;
	return 0;
}

static __attribute__((noreturn)) void child_fail(int status_fd, int step, int error)
{
	struct child_report report = {step, error};

	(void)!write(status_fd, &report, sizeof(report));
	if (step != STEP_EXEC)
		_exit(125);
	_exit(error == ENOENT ? 127 : 126);
}

static int join_cgroup(const char *cgroup)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);

	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* "0" moves the writing process itself. */
	int ret = write(fd, "0", 1) == 1 ? 0 : -errno;

	close(fd);
	return ret;
}

static int attach_tty(const char *tty_path, int child_fds[3])
{
	int slave = open(tty_path, O_RDWR | O_CLOEXEC);

	if (slave < 0)
		return -errno;
	if (ioctl(slave, TIOCSCTTY, 0) < 0 || fchown(slave, USER_UID, USER_GID) < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		child_fds[i] = slave;
	return 0;
}

/* Runs in the child after fork: never returns. */
static __attribute__((noreturn)) void run_child(const struct spawn_request *request,
						struct stdio_fds *fds, char **environment,
						int status_fd)
{
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);

	if (setsid() < 0)
		child_fail(status_fd, STEP_SETUP, errno);
	if (join_cgroup(request->cgroup) < 0)
		child_fail(status_fd, STEP_CGROUP, errno);
	if (request->tty && attach_tty(fds->tty_path, fds->child) < 0)
		child_fail(status_fd, STEP_TTY, errno);
	for (int i = 0; i < 3; i++) {
		if (dup2(fds->child[i], i) < 0)
			child_fail(status_fd, STEP_SETUP, errno);
	}

	int ret = drop_privileges();

	if (ret < 0)
		child_fail(status_fd, STEP_PRIVILEGES, -ret);

	const char *cwd = request->cwd != NULL && request->cwd[0] != '\0' ? request->cwd : USER_HOME;

	if (chdir(cwd) < 0)
		child_fail(status_fd, STEP_CHDIR, errno);

	/* execvp searches the PATH of `environ`, so install the session's. */
	environ = environment;
	execvp(request->argv[0], request->argv);
	child_fail(status_fd, STEP_EXEC, errno);
}

static void describe_failure(const struct spawn_request *request, const struct child_report *report,
			     struct spawn_failure *failure)
{
	const char *name = request->argv[0];
	const char *cause = strerror(report->error);

	failure->kind = DV_EXIT_FAILED;
	failure->value = 125;
	switch (report->step) {
	case STEP_EXEC:
		if (report->error == ENOENT) {
			failure->kind = DV_EXIT_NOT_FOUND;
			failure->value = 127;
			snprintf(failure->message, sizeof(failure->message), "command not found: %s", name);
		} else {
			failure->kind = DV_EXIT_NOT_EXECUTABLE;
			failure->value = 126;
			snprintf(failure->message, sizeof(failure->message), "cannot execute %s: %s", name, cause);
		}
		break;
	case STEP_CHDIR:
		snprintf(failure->message, sizeof(failure->message), "cannot change directory to %s: %s",
			 request->cwd, cause);
		break;
	case STEP_CGROUP:
		snprintf(failure->message, sizeof(failure->message), "cannot join cgroup %s: %s",
			 request->cgroup, cause);
		break;
	case STEP_TTY:
		snprintf(failure->message, sizeof(failure->message), "cannot set up the terminal: %s", cause);
		break;
	case STEP_PRIVILEGES:
		snprintf(failure->message, sizeof(failure->message), "cannot drop privileges: %s", cause);
		break;
	default:
		snprintf(failure->message, sizeof(failure->message), "cannot set up the session: %s", cause);
		break;
	}
}

/* Wait for the child's exec or its failure report. Returns 0 or -errno. */
static int await_exec(const struct spawn_request *request, int status_fd,
		      struct spawn_failure *failure)
{
	struct child_report report;
	ssize_t length;

	do
		length = read(status_fd, &report, sizeof(report));
	while (length < 0 && errno == EINTR);

	if (length == 0)
		return 0;
	if (length != (ssize_t)sizeof(report))
		report = (struct child_report){STEP_SETUP, EIO};
	describe_failure(request, &report, failure);
	return -report.error;
}

static int prepare_stdio(const struct spawn_request *request, struct stdio_fds *fds,
			 struct spawn_failure *failure)
{
	int ret = request->tty ? open_pty(fds, request->rows, request->cols) : open_pipes(fds);

	if (ret < 0) {
		failure->kind = DV_EXIT_FAILED;
		failure->value = 125;
		snprintf(failure->message, sizeof(failure->message), "cannot create the %s: %s",
			 request->tty ? "pty" : "pipes", strerror(-ret));
	}
	return ret;
}

static int fork_child(const struct spawn_request *request, struct stdio_fds *fds,
		      char **environment, struct spawn_result *result,
		      struct spawn_failure *failure)
{
	int status[2];

	if (pipe2(status, O_CLOEXEC) < 0)
		return -errno;
	result->pid = fork();
	if (result->pid == 0) {
		close(status[0]);
		run_child(request, fds, environment, status[1]);
	}

	int ret = result->pid < 0 ? -errno : 0;

	close(status[1]);
	if (ret == 0)
		ret = await_exec(request, status[0], failure);
	close(status[0]);
	return ret;
}

int spawn_process(const struct spawn_request *request, struct spawn_result *result,
		  struct spawn_failure *failure)
{
	struct stdio_fds fds = {{-1, -1, -1}, {-1, -1, -1}, ""};
	char **environment = build_environment(request->extra_env, request->tty);

	*result = (struct spawn_result){-1, -1, -1, -1};
	*failure = (struct spawn_failure){DV_EXIT_FAILED, 125, "cannot start the command: out of memory"};
	if (environment == NULL)
		return -ENOMEM;
	failure->message[0] = '\0';

	int ret = prepare_stdio(request, &fds, failure);

	if (ret == 0) {
		ret = fork_child(request, &fds, environment, result, failure);
		if (ret < 0 && failure->message[0] == '\0')
			snprintf(failure->message, sizeof(failure->message), "cannot fork: %s",
				 strerror(-ret));
	}
	if (ret == 0) {
		result->stdin_fd = fds.parent[0];
		result->stdout_fd = fds.parent[1];
		result->stderr_fd = fds.parent[2];
		fds.parent[0] = fds.parent[1] = fds.parent[2] = -1;
	}
	close_stdio(&fds);
	free(environment);
	return ret;
}
