/* Building QEMU's command line and starting it. */
#include "qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "machine.h"

#define QEMU_MAX_ARGS (MACHINE_MAX_ARGS + 32)
/* The chardev fds and the savefile have these numbers in QEMU. */
#define QEMU_AGENT_FD 3
#define QEMU_QMP_FD 4
#define QEMU_INCOMING_FD 5

/* Strings of the command line that need formatting. */
struct qemu_strings {
	char name[128];
	char console[PATH_MAX + 32];
	char agent_chardev[64];
	char qmp_chardev[64];
	char incoming[32];
	struct machine_args machine;
};

static void format_strings(const struct qemu_config *config, struct qemu_strings *strings)
{
	const char *console = getenv("DISPVM_GUEST_CONSOLE");

	snprintf(strings->name, sizeof(strings->name), "%s,process=dispvm-%s", config->vm_name,
		 config->vm_name);
	if (console != NULL && console[0] != '\0')
		snprintf(strings->console, sizeof(strings->console), "file,id=%s,path=%s",
			 MACHINE_CONSOLE_CHARDEV, console);
	else
		snprintf(strings->console, sizeof(strings->console), "null,id=%s",
			 MACHINE_CONSOLE_CHARDEV);
	snprintf(strings->agent_chardev, sizeof(strings->agent_chardev), "socket,id=%s,fd=%d",
		 MACHINE_AGENT_CHARDEV, QEMU_AGENT_FD);
	snprintf(strings->qmp_chardev, sizeof(strings->qmp_chardev), "socket,id=qmp,fd=%d",
		 QEMU_QMP_FD);
	snprintf(strings->incoming, sizeof(strings->incoming), "fd:%d", QEMU_INCOMING_FD);
	machine_args(config->template, config->accel == ACCEL_KVM, config->memory_mib,
		     &strings->machine);
}

/* The machine (machine.h), then what does not shape guest state: name,
 * display, chardevs, monitor, sandbox and, to restore, the savefile. */
static size_t build_argv(const struct qemu_config *config, struct qemu_strings *strings,
			 const char **argv)
{
	size_t n = 0;

	format_strings(config, strings);

	const char *host[] = {
		"-name", strings->name, "-display", "none",
		"-chardev", strings->console, "-chardev", strings->agent_chardev,
		"-chardev", strings->qmp_chardev, "-mon", "chardev=qmp,mode=control",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
	};

	argv[n++] = config->binary;
	for (size_t i = 0; i < strings->machine.count; i++)
		argv[n++] = strings->machine.argv[i];
	for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++)
		argv[n++] = host[i];
	if (config->incoming_fd >= 0) {
		argv[n++] = "-S";
		argv[n++] = "-incoming";
		argv[n++] = strings->incoming;
	}
	argv[n] = NULL;
	return n;
}

/* In the child: put the chardev fds (and the savefile) at their numbers
 * and close all other fds but 0, 1 and 2. dup2 leaves the new fds without
 * FD_CLOEXEC. */
static int place_fds(const struct qemu_config *config)
{
	int agent = fcntl(config->agent_fd, F_DUPFD_CLOEXEC, 10);
	int qmp = fcntl(config->qmp_fd, F_DUPFD_CLOEXEC, 10);
	int incoming = config->incoming_fd >= 0 ? fcntl(config->incoming_fd, F_DUPFD_CLOEXEC, 10)
						: -1;
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* fd 2 is open in the daemon, so no other fd of `config` is 2. */
	if (config->stderr_fd >= 0 && dup2(config->stderr_fd, STDERR_FILENO) < 0)
		return -1;

	if (agent < 0 || qmp < 0 || null_fd < 0 || (config->incoming_fd >= 0 && incoming < 0))
		return -1;
	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(agent, QEMU_AGENT_FD) < 0 ||
	    dup2(qmp, QEMU_QMP_FD) < 0)
		return -1;
	if (incoming >= 0 && dup2(incoming, QEMU_INCOMING_FD) < 0)
		return -1;
	return close_range(incoming >= 0 ? QEMU_INCOMING_FD + 1 : QEMU_QMP_FD + 1, ~0u, 0);
}

static void reset_signals(void)
{
	sigset_t empty;

	for (int signo = 1; signo < NSIG; signo++)
		signal(signo, SIG_DFL);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
}

static _Noreturn void run_child(pid_t parent, const char *const *argv,
				const struct qemu_config *config)
{
	/* QEMU must not outlive the daemon, even when the daemon is killed
	 * with SIGKILL; the getppid check covers a parent that died before
	 * prctl took effect. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	reset_signals();
	if (place_fds(config) < 0) {
		dprintf(STDERR_FILENO, "dispvmd: cannot set up QEMU's fds: %s\n",
			strerror(errno));
		_exit(125);
	}
	execv(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "dispvmd: cannot execute %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int qemu_spawn(const struct qemu_config *config, pid_t *pid, struct dv_error *err)
{
	struct qemu_strings strings;
	const char *argv[QEMU_MAX_ARGS + 1];
	pid_t parent = getpid();

	build_argv(config, &strings, argv);

	pid_t child = fork();

	if (child < 0)
		return dv_error_set(err, errno, "cannot fork to start QEMU");
	if (child == 0)
		run_child(parent, argv, config);
	*pid = child;
	log_debug("%s: QEMU started as pid %d with accel %s", config->vm_name, (int)child,
		  accel_name(config->accel));
	return 0;
}
