/* dispvmd: options, single-instance lock, daemonizing, signals. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "paths.h"
#include "pool.h"
#include "records.h"
#include "vm.h"

struct daemon_paths {
	char runtime[DV_PATH_MAX];
	char socket[DV_PATH_MAX];
	char lock[DV_PATH_MAX];
};

static struct daemon_paths paths;
static struct loop_source signal_source = {.fd = -1};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: dispvmd [--foreground] [--log-level LEVEL] [--help] [--version]\n"
		"Run the dispvm daemon of this user; it serves the control socket\n"
		"$XDG_RUNTIME_DIR/dispvm/control.sock.\n\n"
		"  --foreground       stay attached and log to standard error; otherwise\n"
		"                     the daemon forks and logs to\n"
		"                     $XDG_STATE_HOME/dispvm/dispvmd.log\n"
		"  --log-level LEVEL  error, warning, info (default) or debug\n"
		"  --help             show this help\n"
		"  --version          show the version\n\n"
		"Settings: $XDG_CONFIG_HOME/dispvm/dispvm.conf (else\n"
		"~/.config/dispvm/dispvm.conf): the default template, the pool of preloaded\n"
		"disposables per template and the memory the pool leaves free (see\n"
		"docs/config.md). SIGHUP rereads it.\n\n"
		"Environment:\n"
		"  DISPVM_QEMU            QEMU binary (default: qemu-system-x86_64 in PATH)\n"
		"  DISPVM_ACCEL           kvm or tcg: skip the KVM probe and use this\n"
		"                         accelerator\n"
		"  DISPVM_GUEST_CONSOLE   file that receives the guest's serial console\n");
}

static int parse_options(int argc, char **argv, bool *foreground, enum dv_log_level *level)
{
	static const struct option options[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int option;

	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (option) {
		case 'f':
			*foreground = true;
			break;
		case 'l':
			if (dv_log_level_parse(optarg, level) < 0) {
				fprintf(stderr, "dispvmd: invalid log level %s; use error, "
						"warning, info or debug\n", optarg);
				exit(2);
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("dispvmd %s\n", DISPVM_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

static _Noreturn void die(const char *message)
{
	fprintf(stderr, "dispvmd: %s\n", message);
	exit(1);
}

/* Take RUNTIME/dispvmd.lock; exit 1 when another daemon holds it. */
static int take_lock(void)
{
	int fd = open(paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char text[32] = "";

	if (fd < 0) {
		fprintf(stderr, "dispvmd: cannot open %s: %s\n", paths.lock, strerror(errno));
		exit(1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno != EWOULDBLOCK) {
		fprintf(stderr, "dispvmd: cannot lock %s: %s\n", paths.lock, strerror(errno));
		exit(1);
	}
	if (read(fd, text, sizeof(text) - 1) < 0)
		text[0] = '\0';
	text[strcspn(text, "\n")] = '\0';
	fprintf(stderr, "dispvmd: already running (pid %s)\n", text[0] ? text : "unknown");
	exit(1);
}

static void write_pid(int lock_fd)
{
	if (ftruncate(lock_fd, 0) < 0 || dprintf(lock_fd, "%d\n", (int)getpid()) < 0)
		log_warning("cannot write the pid to %s: %m", paths.lock);
}

static int open_log_file(void)
{
	struct dv_error err = {0};
	char dir[DV_PATH_MAX];
	char path[DV_PATH_MAX];

	if (dv_path_dir(DV_DIR_STATE, dir, sizeof(dir), &err) < 0 ||
	    dv_dir_ensure_private(dir, &err) < 0 ||
	    dv_path_join(path, sizeof(path), &err, dir, "dispvmd.log") < 0)
		die(err.message);

	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "dispvmd: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/*
 * Fork; the parent exits 0 once the child reports that it serves the
 * socket (one byte on `ready_fd`), or 1 if the child died first. Returns
 * the write end of that pipe in the child.
 */
static int daemonize(void)
{
	int log_fd = open_log_file();
	int pipe_fds[2];

	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		die("cannot create a pipe");

	pid_t child = fork();

	if (child < 0)
		die("cannot fork");
	if (child > 0) {
		char byte;

		close(pipe_fds[1]);
		exit(read(pipe_fds[0], &byte, 1) == 1 ? 0 : 1);
	}
	close(pipe_fds[0]);
	setsid();

	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		die("cannot redirect standard streams");
	close(null_fd);
	close(log_fd);
	return pipe_fds[1];
}

static void all_vms_destroyed(void)
{
	loop_quit();
}

static void reap_children(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		vm_child_exited(pid, status);
}

static void signal_received(struct loop_source *source, uint32_t events)
{
	struct signalfd_siginfo info;

	(void)events;
	while (read(source->fd, &info, sizeof(info)) == sizeof(info)) {
		switch (info.ssi_signo) {
		case SIGCHLD:
			reap_children();
			break;
		case SIGHUP:
			log_info("received SIGHUP; rereading the settings");
			config_reload();
			pool_kick();
			break;
		default:
			log_info("received %s; destroying %u VMs and stopping",
				 strsignal((int)info.ssi_signo), vm_count());
			pool_stop();
			vm_destroy_all(all_vms_destroyed);
			control_stop();
			break;
		}
	}
}

static int watch_signals(struct dv_error *err)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return dv_error_set(err, errno, "cannot block signals");
	/* Writes to a client whose reader is gone fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);

	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		return dv_error_set(err, errno, "cannot create a signalfd");

	int ret = loop_add(&signal_source, fd, EPOLLIN, signal_received, NULL);

	if (ret < 0)
		return dv_error_set(err, -ret, "cannot watch the signalfd");
	return 0;
}

static void set_up_paths(void)
{
	struct dv_error err = {0};

	if (dv_path_dir(DV_DIR_RUNTIME, paths.runtime, sizeof(paths.runtime), &err) < 0 ||
	    dv_dir_ensure_private(paths.runtime, &err) < 0 ||
	    dv_path_control_socket(paths.socket, sizeof(paths.socket), &err) < 0 ||
	    dv_path_join(paths.lock, sizeof(paths.lock), &err, paths.runtime, "dispvmd.lock") < 0 ||
	    records_init(paths.runtime, &err) < 0)
		die(err.message);
}

static int bind_socket(void)
{
	struct dv_error err = {0};
	int fd;

	/* Only the lock holder may remove a socket file, which a crashed
	 * daemon may have left. */
	if (unlink(paths.socket) < 0 && errno != ENOENT) {
		fprintf(stderr, "dispvmd: cannot remove stale %s: %s\n", paths.socket,
			strerror(errno));
		exit(1);
	}
	if (control_listen(paths.socket, &fd, &err) < 0)
		die(err.message);
	return fd;
}

int main(int argc, char **argv)
{
	bool foreground = false;
	enum dv_log_level level = DV_LOG_INFO;
	struct dv_error err = {0};
	int ready_fd = -1;

	parse_options(argc, argv, &foreground, &level);
	dv_log_init("dispvmd", level);
	set_up_paths();

	int lock_fd = take_lock();
	int listen_fd = bind_socket();

	if (!foreground)
		ready_fd = daemonize();
	write_pid(lock_fd);
	if (loop_init(&err) < 0 || watch_signals(&err) < 0 || control_start(listen_fd, &err) < 0)
		die(err.message);
	records_clean_stale();
	log_info("dispvmd %s serving %s", DISPVM_VERSION, paths.socket);
	config_reload();
	if (pool_init(&err) < 0)
		log_error("%s; no preloaded disposables", err.message);
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			log_warning("cannot notify the parent process: %m");
		close(ready_fd);
	}

	int ret = loop_run();

	if (ret < 0)
		log_error("event loop failed: %s", strerror(-ret));
	unlink(paths.socket);
	unlink(paths.lock);
	close(lock_fd);
	log_info("stopped");
	return ret < 0 ? 1 : 0;
}
