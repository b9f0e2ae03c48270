/* State of one session, shared by session.c (run and relay) and open.c
 * (the file of an open session). */
#ifndef DISPVM_AGENT_SESSION_STATE_H
#define DISPVM_AGENT_SESSION_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dispvm-protocol.h"
#include "open.h"

enum session_phase {
	PHASE_RECEIVE, /* open session: FILE_IN still arriving */
	PHASE_RUNNING, /* command or handler running, streams relayed */
	PHASE_SEND_FILE, /* open session: sending the changed file back */
};

/* Output of the command towards the host (STDOUT or STDERR). */
struct output_stream {
	int fd;          /* -1 once closed */
	uint16_t type;   /* DV_MSG_STDOUT or DV_MSG_STDERR */
	uint64_t credit; /* bytes the host still accepts */
	bool eof;        /* the fd reached EOF, or the stream is unused */
	bool watched;    /* registered for EPOLLIN */
};

/* Host STDIN towards the command. `buffer` never exceeds the window. */
struct input_stream {
	int fd;          /* -1 once closed */
	uint8_t *buffer; /* DV_INITIAL_WINDOW bytes */
	size_t length;
	uint64_t credit;   /* bytes the host may still send */
	bool eof_received; /* zero-length STDIN arrived */
	bool closed;       /* the command's stdin is closed: drop new data */
	bool at_line_start; /* pty: last byte written was a newline */
};

struct session {
	bool used;
	unsigned slot;
	uint32_t channel;
	uint32_t flags;
	enum session_phase phase;
	uint8_t *start_payload; /* copy that `request` points into */
	struct dv_start_request request;

	pid_t pid; /* -1 before the command runs */
	bool exited;
	int status; /* wait status, once exited */
	bool closing; /* CLOSE received */
	char cgroup[64];

	struct input_stream input;
	struct output_stream output[2]; /* STDOUT, STDERR */
	int64_t pty_deadline; /* now_ms() after which a quiet pty counts as EOF */

	struct open_file file;
};

/* How long a pty may stay quiet after the main process exited before it
 * counts as EOF, for when a background process keeps the pty open. */
#define PTY_QUIET_MS 100

/* Relay (relay.c). */
void relay_init(struct session *session);
void relay_close(struct session *session);
void relay_read_output(struct session *session, int index);
void relay_flush_input(struct session *session);
int relay_stdin(struct session *session, const uint8_t *untrusted_data, size_t length);
int relay_window(struct session *session, const uint8_t *untrusted_payload);
void relay_watch_output(struct session *session, int index);

/* Start the command with `argv` in the session's cgroup and watch its
 * fds. On failure, sends EXIT and marks the session for release; returns
 * a negative errno then. */
int session_spawn(struct session *session, char *const *argv);

/* Send EXIT with DV_EXIT_FAILED and `message`, then release the session. */
void session_fail(struct session *session, const char *message);

#endif
