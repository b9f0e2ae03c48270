/* The epoll event loop and its timerfd timers. */
#include "loop.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int epoll_fd = -1;
static bool quit_requested;

int loop_init(struct dv_error *err)
{
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		return dv_error_set(err, errno, "cannot create epoll instance");
	return 0;
}

int loop_add(struct loop_source *source, int fd, uint32_t events, loop_handler handler,
	     void *data)
{
	struct epoll_event event = {.events = events, .data.ptr = source};

	source->fd = fd;
	source->events = events;
	source->handler = handler;
	source->data = data;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0)
		return -errno;
	source->registered = true;
	return 0;
}

int loop_modify(struct loop_source *source, uint32_t events)
{
	if (!source->registered || source->events == events)
		return 0;

	struct epoll_event event = {.events = events, .data.ptr = source};

	if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, source->fd, &event) < 0)
		return -errno;
	source->events = events;
	return 0;
}

void loop_remove(struct loop_source *source)
{
	if (!source->registered)
		return;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_DEL, source->fd, NULL) < 0)
		log_warning("cannot remove fd %d from epoll: %m", source->fd);
	source->registered = false;
}

int loop_run(void)
{
	while (!quit_requested) {
		struct epoll_event event;
		/* One event per wait: a handler may free sources that would
		 * otherwise still sit in the returned batch. */
		int count = epoll_wait(epoll_fd, &event, 1, -1);

		if (count < 0 && errno == EINTR)
			continue;
		if (count < 0)
			return -errno;
		if (count == 0)
			continue;

		struct loop_source *source = event.data.ptr;

		source->handler(source, event.events);
	}
	return 0;
}

void loop_quit(void)
{
	quit_requested = true;
}

static void timer_fired(struct loop_source *source, uint32_t events)
{
	struct loop_timer *timer = source->data;
	uint64_t expirations;

	(void)events;
	if (read(source->fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	timer->callback(timer->data);
}

int loop_timer_init(struct loop_timer *timer, void (*callback)(void *data), void *data)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	timer->source.fd = -1;
	timer->source.registered = false;
	if (fd < 0)
		return -errno;
	timer->callback = callback;
	timer->data = data;

	int ret = loop_add(&timer->source, fd, EPOLLIN, timer_fired, timer);

	if (ret < 0) {
		close(fd);
		timer->source.fd = -1;
	}
	return ret;
}

int loop_timer_arm(struct loop_timer *timer, unsigned milliseconds)
{
	struct itimerspec spec = {
		.it_value = {.tv_sec = milliseconds / 1000,
			     .tv_nsec = (long)(milliseconds % 1000) * 1000000},
	};

	if (timerfd_settime(timer->source.fd, 0, &spec, NULL) < 0)
		return -errno;
	return 0;
}

void loop_timer_free(struct loop_timer *timer)
{
	if (timer->source.fd < 0)
		return;
	loop_remove(&timer->source);
	close(timer->source.fd);
	timer->source.fd = -1;
}

int64_t loop_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
