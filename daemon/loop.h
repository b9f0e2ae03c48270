/*
 * The daemon's single event loop: epoll for readiness, timerfd for timers.
 * Handlers run one event at a time, so a handler may close and free any
 * other source without leaving a stale event behind.
 */
#ifndef DISPVMD_LOOP_H
#define DISPVMD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct loop_source;
typedef void (*loop_handler)(struct loop_source *source, uint32_t events);

/* One fd watched by the loop. The owner of the fd closes it after
 * loop_remove. */
struct loop_source {
	int fd;
	uint32_t events;
	bool registered;
	loop_handler handler;
	void *data;
};

struct loop_timer {
	struct loop_source source; /* the timerfd */
	void (*callback)(void *data);
	void *data;
};

int loop_init(struct dv_error *err);

/* Watch `fd` for `events` (EPOLLIN, EPOLLOUT). */
int loop_add(struct loop_source *source, int fd, uint32_t events, loop_handler handler,
	     void *data);

/* Change the watched events; a no-op when they are unchanged. */
int loop_modify(struct loop_source *source, uint32_t events);

/* Stop watching; safe on a source that was never added. */
void loop_remove(struct loop_source *source);

/* Run until loop_quit. Returns 0, or a negative errno value when
 * epoll_wait fails. */
int loop_run(void);
void loop_quit(void);

int loop_timer_init(struct loop_timer *timer, void (*callback)(void *data), void *data);

/* Fire once after `milliseconds`; 0 disarms. */
int loop_timer_arm(struct loop_timer *timer, unsigned milliseconds);

/* Disarm and close the timer; safe on a timer that was never set up. */
void loop_timer_free(struct loop_timer *timer);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t loop_now_ms(void);

#endif
