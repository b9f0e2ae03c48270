/*
 * The CLI's side of the control socket (docs/api.md): connecting, starting
 * dispvmd on demand, sending requests with descriptors and reading the
 * reply and event lines.
 */
#ifndef DISPVM_CLI_CLIENT_H
#define DISPVM_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

/* Largest request or event line, including the newline (docs/api.md). */
#define CLIENT_MAX_LINE (1024u * 1024u)

/*
 * Connect to dispvmd, starting it and waiting for it (up to 10 s) when it
 * is not running. Every command starts it, so a daemon that died is
 * replaced at the next command and its stale state removed. Returns the
 * connected descriptor or a negative errno value.
 */
int client_connect(struct dv_error *err);

/* Write the daemon log path, named in errors that point the user at it. */
void client_log_path(char *out, size_t size);

/* Send `request` as one line, with `fds` attached to its first byte. */
int client_send(int fd, struct json_object *request, const int *fds, size_t fd_count,
		struct dv_error *err);

/* Buffers the bytes of a connection and splits them into JSON lines. */
struct line_reader {
	char *buffer; /* CLIENT_MAX_LINE bytes */
	size_t length;
	bool eof;
};

int line_reader_init(struct line_reader *reader);
void line_reader_free(struct line_reader *reader);

/* Read once from `fd`. Returns the byte count, 0 at end of file, or a
 * negative errno value (-EAGAIN when nothing is ready). */
long line_reader_fill(struct line_reader *reader, int fd);

/*
 * Take the next complete line and parse it. Returns 1 with *object set, 0
 * when no complete line is buffered, or -EPROTO when a line is not a JSON
 * object or exceeds CLIENT_MAX_LINE.
 */
int line_reader_next(struct line_reader *reader, struct json_object **object,
		     struct dv_error *err);

/* Block until the next line arrives; -ECONNRESET at end of file. */
int client_read_line(int fd, struct line_reader *reader, struct json_object **object,
		     struct dv_error *err);

#endif
