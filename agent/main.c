/*
 * dispvm-agent: PID 1 of a disposable guest. It mounts the API file
 * systems, loads the template's modules, opens the virtio-serial port to
 * the host and serves sessions from one epoll loop until the host goes
 * away, then powers the guest off. PID 1 must never exit, because the
 * kernel panics when it does.
 */
#include "boot.h"
#include "kmsg.h"
#include "port.h"
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* How long to wait for the port device after the modules loaded. */
#define PORT_TIMEOUT_MS 5000
#define MAX_EVENTS 32

static int epoll_fd = -1;

static uint64_t make_tag(enum watch_kind kind, unsigned slot)
{
	return (uint64_t)slot * WATCH_KINDS + kind;
}

int loop_watch(int fd, uint32_t events, enum watch_kind kind, unsigned slot)
{
	struct epoll_event event = {.events = events, .data.u64 = make_tag(kind, slot)};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int loop_modify(int fd, uint32_t events, enum watch_kind kind, unsigned slot)
{
	struct epoll_event event = {.events = events, .data.u64 = make_tag(kind, slot)};

	return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) < 0 ? -errno : 0;
}

void loop_unwatch(int fd)
{
	/* ENOENT for an fd that is not watched is expected. */
	(void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

int64_t now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The kernel starts PID 1 without fds 0-2 when the initramfs has no
 * /dev/console; fill them so that pipes never land there. */
static void fill_standard_fds(void)
{
	for (;;) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY);

		if (fd < 0)
			fd = open("/dev/null", O_RDWR);
		if (fd < 0 || fd > 2) {
			if (fd > 2)
				close(fd);
			return;
		}
	}
}

static void boot(void)
{
	int failures = mount_filesystems();

	fill_standard_fds();
	unlimit_kmsg();
	failures += load_modules();
	bring_up_loopback();
	if (failures > 0)
		log_warning("boot continued after %d failures", failures);
}

static int setup_loop(int port_fd)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	/* Writes to a closed pipe return EPIPE instead of killing PID 1. */
	signal(SIGPIPE, SIG_IGN);

	int signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (signal_fd < 0 || epoll_fd < 0)
		return -errno;

	int ret = loop_watch(signal_fd, EPOLLIN, WATCH_SIGNAL, 0);

	if (ret == 0)
		ret = loop_watch(port_fd, EPOLLIN, WATCH_PORT, 0);
	return ret < 0 ? ret : signal_fd;
}

static void drain_signals(int signal_fd)
{
	struct signalfd_siginfo info;

	while (read(signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		;
	sessions_reap();
}

/* Returns a negative errno when the port is closed or broken. */
static int handle_port(int port_fd, uint32_t events)
{
	int ret = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		ret = port_receive(session_handle_frame);
	if (ret == 0 && (events & EPOLLOUT))
		ret = port_flush();
	return ret;
}

/* Flush queued frames and watch for writability while some remain. */
static int flush_port(int port_fd, bool *waiting)
{
	int ret = port_flush();

	if (ret < 0)
		return ret;

	bool pending = port_output_pending();

	if (pending != *waiting) {
		ret = loop_modify(port_fd, EPOLLIN | (pending ? EPOLLOUT : 0), WATCH_PORT, 0);
		*waiting = pending;
	}
	return ret;
}

static int dispatch(const struct epoll_event *event, int port_fd, int signal_fd)
{
	enum watch_kind kind = (enum watch_kind)(event->data.u64 % WATCH_KINDS);
	unsigned slot = (unsigned)(event->data.u64 / WATCH_KINDS);

	switch (kind) {
	case WATCH_PORT:
		return handle_port(port_fd, event->events);
	case WATCH_SIGNAL:
		drain_signals(signal_fd);
		return 0;
	default:
		session_handle_event(kind, slot, event->events);
		return 0;
	}
}

static int serve(int port_fd, int signal_fd)
{
	struct epoll_event events[MAX_EVENTS];
	bool waiting = false;
	int timeout = -1;

	for (;;) {
		int ret = flush_port(port_fd, &waiting);

		if (ret < 0)
			return ret;

		int count = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout);

		if (count < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < count; i++) {
			ret = dispatch(&events[i], port_fd, signal_fd);
			if (ret < 0)
				return ret;
		}
		timeout = sessions_advance();
	}
}

static void send_hello(void)
{
	uint8_t payload[8];

	dv_put_u32(payload, DV_PROTOCOL_VERSION);
	dv_put_u32(payload + 4, DV_MAX_PAYLOAD);
	port_send(DV_MSG_HELLO, 0, payload, sizeof(payload));
}

int main(void)
{
	boot();

	int port_fd = port_open(PORT_TIMEOUT_MS);

	if (port_fd < 0) {
		log_error("cannot find the port %s: %s", DV_PORT_NAME, strerror(-port_fd));
		power_off();
	}

	int signal_fd = setup_loop(port_fd);

	if (signal_fd < 0) {
		log_error("cannot set up the event loop: %s", strerror(-signal_fd));
		power_off();
	}
	send_hello();
	log_info("serving on %s", DV_PORT_NAME);

	int ret = serve(port_fd, signal_fd);

	if (ret == -EPIPE)
		log_info("the host closed the port");
	else if (ret != -EPROTO)
		log_error("port failed: %s", strerror(-ret));
	power_off();
}
