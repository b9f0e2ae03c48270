/*
 * Sessions: one command (run session) or one file and its handler (open
 * session) per channel, with the relay of its streams under the
 * protocol's credit windows.
 */
#ifndef DISPVM_AGENT_SESSION_H
#define DISPVM_AGENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dispvm-protocol.h"

/* Concurrent sessions; a START beyond this gets EXIT with DV_EXIT_FAILED. */
#define MAX_SESSIONS 64

/* Kinds of epoll entries; the epoll tag is kind + slot * WATCH_KINDS. */
enum watch_kind {
	WATCH_PORT,
	WATCH_SIGNAL,
	WATCH_STDIN,
	WATCH_STDOUT,
	WATCH_STDERR,
	WATCH_KINDS,
};

/* Register, change or remove an epoll entry (main.c owns the epoll fd).
 * Return 0 or a negative errno. */
int loop_watch(int fd, uint32_t events, enum watch_kind kind, unsigned slot);
int loop_modify(int fd, uint32_t events, enum watch_kind kind, unsigned slot);
void loop_unwatch(int fd);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);

/* Handle one frame from the host. Returns 0 or -EPROTO. */
int session_handle_frame(const struct dv_header *header, const uint8_t *untrusted_payload);

/* Relay events of a session's fds. */
void session_handle_event(enum watch_kind kind, unsigned slot, uint32_t events);

/* Reap every exited child and record the sessions' exit statuses. */
void sessions_reap(void);

/* Finish the sessions whose processes and streams are done and send
 * what they still owe the host. Returns the milliseconds until the next
 * deadline, or -1 when there is none. */
int sessions_advance(void);

#endif
