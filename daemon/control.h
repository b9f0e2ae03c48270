/* The control socket: accepting clients, reading request lines with their
 * fds, writing replies and events. */
#ifndef DISPVMD_CONTROL_H
#define DISPVMD_CONTROL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "error.h"
#include "loop.h"

/* Maximum length of a request line, newline included. */
#define CONTROL_MAX_LINE (1024u * 1024u)
/* Maximum number of fds one request may carry (open takes five). */
#define CONTROL_MAX_FDS 8

struct vm_session;

struct client {
	int fd;
	struct loop_source source;
	struct buffer input;
	struct buffer output;
	int fds[CONTROL_MAX_FDS]; /* received and not yet taken by a request */
	size_t fd_count;
	struct vm_session *session; /* of a run, open or exec request */
	bool closing;  /* close once the output is written */
	struct client *next;
};

/* Bind RUNTIME/control.sock with mode 0600 and listen. */
int control_listen(const char *path, int *out_fd, struct dv_error *err);

/* Serve clients on `listen_fd`. */
int control_start(int listen_fd, struct dv_error *err);

/* Queue `message` as one line; takes the reference. */
void client_send(struct client *client, struct json_object *message);

/* Send {"ok":false,"error":...}. */
void client_send_error(struct client *client, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Detach the client's session and close the connection once the queued
 * output is written. */
void client_finish(struct client *client);

/* Close the listening socket. Connected clients stay, so they still get
 * the last event of their VM. */
void control_stop(void);

#endif
