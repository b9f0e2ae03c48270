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

#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"
#define QEMU_MAX_ARGS 64
/* The chardev fds have these numbers in QEMU. */
#define QEMU_AGENT_FD 3
#define QEMU_QMP_FD 4

static bool is_executable_file(const char *path)
{
	struct stat info;

	return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

int qemu_find(char *out, size_t size, struct dv_error *err)
{
	const char *configured = getenv("DISPVM_QEMU");

	if (configured != NULL && configured[0] != '\0') {
		if (!is_executable_file(configured))
			return dv_error_invalid(err, ENOENT,
						"QEMU not found: %s (from DISPVM_QEMU)", configured);
		snprintf(out, size, "%s", configured);
		return 0;
	}

	const char *path = getenv("PATH");
	char *copy = strdup(path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;

	if (copy == NULL)
		return dv_error_set(err, ENOMEM, "cannot search PATH");
	for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", dir, QEMU_DEFAULT_BINARY);
		if (is_executable_file(out)) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return dv_error_invalid(err, ENOENT,
				"QEMU not found: %s; install the qemu-system-x86 package",
				QEMU_DEFAULT_BINARY);
}

/* Strings of the command line that need formatting. */
struct qemu_strings {
	char name[128];
	char memory[16];
	char kernel_append[1200];
	char serial[PATH_MAX + 8];
	char agent_chardev[64];
	char qmp_chardev[64];
};

static size_t build_argv(const struct qemu_config *config, struct qemu_strings *strings,
			 const char **argv)
{
	const char *console = getenv("DISPVM_GUEST_CONSOLE");
	bool kvm = config->accel == ACCEL_KVM;
	size_t n = 0;

	snprintf(strings->name, sizeof(strings->name), "%s,process=dispvm-%s", config->vm_name,
		 config->vm_name);
	snprintf(strings->memory, sizeof(strings->memory), "%u", config->memory_mib);
	snprintf(strings->kernel_append, sizeof(strings->kernel_append), "%s dispvm.name=%s",
		 config->template->cmdline, config->vm_name);
	snprintf(strings->agent_chardev, sizeof(strings->agent_chardev),
		 "socket,id=agent,fd=%d", QEMU_AGENT_FD);
	snprintf(strings->qmp_chardev, sizeof(strings->qmp_chardev), "socket,id=qmp,fd=%d",
		 QEMU_QMP_FD);
	if (console != NULL && console[0] != '\0')
		snprintf(strings->serial, sizeof(strings->serial), "file:%s", console);
	else
		snprintf(strings->serial, sizeof(strings->serial), "none");

	const char *fixed[] = {
		config->binary, "-nodefaults", "-no-user-config", "-name", strings->name,
		"-machine", "q35", "-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host" : "max",
		"-m", strings->memory, "-smp", "1", "-display", "none", "-vga", "none",
		"-no-reboot", "-serial", strings->serial,
		"-kernel", config->template->kernel, "-initrd", config->template->initramfs,
		"-append", strings->kernel_append,
		"-device", "virtio-rng-pci", "-device", "virtio-serial-pci",
		"-chardev", strings->agent_chardev,
		"-device", "virtserialport,chardev=agent,name=org.dispvm.agent.0",
		"-chardev", strings->qmp_chardev, "-mon", "chardev=qmp,mode=control",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < QEMU_MAX_ARGS; i++)
		argv[n++] = fixed[i];
	argv[n] = NULL;
	return n;
}

/* In the child: put the chardev fds at their numbers and close all other
 * fds but 0, 1 and 2. dup2 leaves the new fds without FD_CLOEXEC. */
static int place_fds(int agent_fd, int qmp_fd)
{
	int agent = fcntl(agent_fd, F_DUPFD_CLOEXEC, 10);
	int qmp = fcntl(qmp_fd, F_DUPFD_CLOEXEC, 10);
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (agent < 0 || qmp < 0 || null_fd < 0)
		return -1;
	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(agent, QEMU_AGENT_FD) < 0 ||
	    dup2(qmp, QEMU_QMP_FD) < 0)
		return -1;
	return close_range(QEMU_QMP_FD + 1, ~0u, 0);
}

static void reset_signals(void)
{
	sigset_t empty;

	for (int signo = 1; signo < NSIG; signo++)
		signal(signo, SIG_DFL);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
}

static _Noreturn void run_child(pid_t parent, const char *const *argv, int agent_fd,
				int qmp_fd)
{
	/* QEMU must not outlive the daemon, even when the daemon is killed
	 * with SIGKILL; the getppid check covers a parent that died before
	 * prctl took effect. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	reset_signals();
	if (place_fds(agent_fd, qmp_fd) < 0) {
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
		run_child(parent, argv, config->agent_fd, config->qmp_fd);
	*pid = child;
	log_debug("%s: QEMU started as pid %d with accel %s", config->vm_name, (int)child,
		  accel_name(config->accel));
	return 0;
}
