/*
 * The poll loop of a session: copies bytes between the CLI's descriptors
 * and the socketpairs handed to dispvmd, reads the daemon's event lines and
 * forwards SIGINT, SIGTERM, SIGHUP and SIGWINCH as `signal` and `resize`
 * requests. Each stream has a bounded buffer, so any amount streams through.
 */
#ifndef DISPVM_CLI_RELAY_H
#define DISPVM_CLI_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "error.h"

#define RELAY_BUFFER_SIZE (64u * 1024u)
#define RELAY_MAX_STREAMS 5

enum relay_role {
	RELAY_INPUT,  /* to the daemon; shut down the destination at end of file */
	RELAY_OUTPUT, /* from the daemon; the session ends after its end of file */
};

struct relay_stream {
	const char *name; /* for messages: "standard output", "the file" */
	enum relay_role role;
	int src;
	int dst;
	uint64_t limit;	      /* bytes to read from src at most, UINT64_MAX for all */
	bool exact;	      /* end of file before `limit` is an error */
	bool is_stdout;	      /* EPIPE sends SIGPIPE to the command */
	/* src is a terminal in raw mode, where ^D is an ordinary byte: end of
	 * input there means the terminal hung up, which ends the session. */
	bool hangup_ends;
	void (*on_data)(void *context, const void *data, size_t length);
	void *context;

	/* State kept by the relay. */
	char *buffer;
	size_t start, end;
	uint64_t transferred;
	bool src_eof;
	bool discard;
	bool done;
};

struct relay {
	int control_fd;
	bool tty;
	bool joins_vm; /* exec: the VM ran before, so no note on its accelerator */
	struct relay_stream streams[RELAY_MAX_STREAMS];
	size_t stream_count;

	/* Results, filled from the events. */
	char vm_name[64];
	bool final_seen;
	bool failed;	      /* an `error` event or a rejected request */
	int status;	      /* of the final event */
	char error[1024];     /* of an `error` event or reply, else empty */
	bool file_changed;
	uint64_t file_changed_size;
};

/* Add a stream; `relay` stores a copy. */
void relay_add(struct relay *relay, const struct relay_stream *stream);

/*
 * Run until the final event and the end of every output stream, or until
 * the connection is lost. Returns 0, -ECONNRESET when the connection ended
 * without a final event, or another negative errno value with `err` set.
 * Blocks SIGINT, SIGTERM, SIGHUP and SIGWINCH while it runs.
 */
int relay_run(struct relay *relay, struct dv_error *err);

#endif
