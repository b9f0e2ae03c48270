#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tty.h"

/* How long output streams may stay open after the final event or the loss
 * of the connection before the CLI stops waiting for their end of file. */
#define RELAY_DRAIN_TIMEOUT_MS 5000

void relay_add(struct relay *relay, const struct relay_stream *stream)
{
	relay->streams[relay->stream_count++] = *stream;
}

static int send_op(struct relay *relay, const char *op, const char *key1, int value1,
		   const char *key2, int value2, struct dv_error *err)
{
	struct json_object *request = json_object_new_object();
	int r;

	json_object_object_add(request, "op", json_object_new_string(op));
	json_object_object_add(request, key1, json_object_new_int(value1));
	if (key2 != NULL)
		json_object_object_add(request, key2, json_object_new_int(value2));
	r = client_send(relay->control_fd, request, NULL, 0, err);
	json_object_put(request);
	return r;
}

static void stream_finish(struct relay_stream *stream)
{
	if (stream->role == RELAY_INPUT && stream->dst >= 0)
		shutdown(stream->dst, SHUT_WR);
	stream->done = true;
}

static int stream_read(struct relay_stream *stream, struct dv_error *err)
{
	size_t room = RELAY_BUFFER_SIZE;
	ssize_t n;

	if (stream->limit - stream->transferred < room)
		room = (size_t)(stream->limit - stream->transferred);
	n = room == 0 ? 0 : read(stream->src, stream->buffer, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (stream->hangup_ends && (n == 0 || (n < 0 && errno == EIO)))
		return dv_error_invalid(err, EIO, "the terminal hung up; the VM is destroyed");
	if (n < 0 && stream->role == RELAY_INPUT)
		return dv_error_set(err, errno, "cannot read %s", stream->name);
	if (n <= 0) {
		/* A reset socket ends the stream like a close does. */
		stream->src_eof = true;
		if (stream->exact && stream->transferred < stream->limit)
			return dv_error_invalid(err, EIO, "%s shrank to %llu bytes while it was being sent; try again",
						stream->name, (unsigned long long)stream->transferred);
		return 0;
	}
	if (stream->on_data != NULL)
		stream->on_data(stream->context, stream->buffer, (size_t)n);
	stream->transferred += (uint64_t)n;
	stream->start = 0;
	stream->end = (size_t)n;
	return 0;
}

static int stream_write(struct relay *relay, struct relay_stream *stream, struct dv_error *err)
{
	ssize_t n = write(stream->dst, stream->buffer + stream->start, stream->end - stream->start);

	if (n >= 0) {
		stream->start += (size_t)n;
		return 0;
	}
	if (errno == EINTR || errno == EAGAIN)
		return 0;
	if (errno == EPIPE) {
		/* The reader went away: the command gets SIGPIPE as it would
		 * locally, and further output is dropped. An input stream
		 * whose command stopped reading just ends. */
		stream->discard = true;
		stream->start = stream->end = 0;
		if (stream->role == RELAY_INPUT) {
			stream_finish(stream);
			return 0;
		}
		return stream->is_stdout ? send_op(relay, "signal", "signal", SIGPIPE, NULL, 0, err) : 0;
	}
	return dv_error_set(err, errno, "cannot write %s", stream->name);
}

/* Copy the text of `key` in `object` into `out`, empty when absent. */
static void copy_string(struct json_object *object, const char *key, char *out, size_t size)
{
	struct json_object *value;

	out[0] = '\0';
	if (json_object_object_get_ex(object, key, &value) && json_object_is_type(value, json_type_string))
		snprintf(out, size, "%s", json_object_get_string(value));
}

static int64_t get_int(struct json_object *object, const char *key, int64_t fallback)
{
	struct json_object *value;

	if (!json_object_object_get_ex(object, key, &value) || !json_object_is_type(value, json_type_int))
		return fallback;
	return json_object_get_int64(value);
}

static void handle_started(struct relay *relay, struct json_object *event)
{
	char accel[32];

	copy_string(event, "name", relay->vm_name, sizeof(relay->vm_name));
	copy_string(event, "accel", accel, sizeof(accel));
	if (strcmp(accel, "tcg") == 0 && !relay->joins_vm)
		fprintf(stderr, "dispvm: note: %s runs under TCG emulation (KVM is unavailable), so it is slower%s",
			relay->vm_name, relay->tty ? "\r\n" : "\n");
}

static void handle_line(struct relay *relay, struct json_object *line)
{
	char event[32];
	struct json_object *ok;

	copy_string(line, "event", event, sizeof(event));
	if (strcmp(event, "started") == 0) {
		handle_started(relay, line);
	} else if (strcmp(event, "file_changed") == 0) {
		int64_t size = get_int(line, "size", -1);

		relay->file_changed = size >= 0;
		relay->file_changed_size = size >= 0 ? (uint64_t)size : 0;
	} else if (strcmp(event, "exit") == 0 || strcmp(event, "error") == 0) {
		relay->final_seen = true;
		relay->failed = strcmp(event, "error") == 0;
		relay->status = (int)get_int(line, "status", 125);
		copy_string(line, strcmp(event, "exit") == 0 ? "message" : "error", relay->error,
			    sizeof(relay->error));
	} else if (json_object_object_get_ex(line, "ok", &ok) && !json_object_get_boolean(ok)) {
		/* A request the daemon rejected before the session started. */
		relay->final_seen = true;
		relay->failed = true;
		relay->status = 125;
		copy_string(line, "error", relay->error, sizeof(relay->error));
	}
}

/* Returns 1 when the control connection has ended. */
static int read_control(struct relay *relay, struct line_reader *reader, struct dv_error *err)
{
	struct json_object *line;
	long n = line_reader_fill(reader, relay->control_fd);
	int r;

	if (n < 0 && n != -EAGAIN && n != -EINTR)
		reader->eof = true; /* a reset connection is a lost one */
	while ((r = line_reader_next(reader, &line, err)) > 0) {
		handle_line(relay, line);
		json_object_put(line);
	}
	if (r < 0)
		return r;
	return reader->eof ? 1 : 0;
}

static int read_signal(struct relay *relay, int signal_fd, struct dv_error *err)
{
	struct signalfd_siginfo info;
	unsigned rows;
	unsigned cols;

	if (read(signal_fd, &info, sizeof(info)) != sizeof(info))
		return 0;
	if (info.ssi_signo == SIGWINCH) {
		if (!relay->tty)
			return 0;
		tty_window_size(&rows, &cols);
		return send_op(relay, "resize", "rows", (int)rows, "cols", (int)cols, err);
	}
	return send_op(relay, "signal", "signal", (int)info.ssi_signo, NULL, 0, err);
}

static int open_signal_fd(sigset_t *old_mask)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &mask, old_mask) < 0)
		return -errno;
	int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0) {
		int saved = errno;

		sigprocmask(SIG_SETMASK, old_mask, NULL);
		return -saved;
	}
	return fd;
}

/* Fill one pollfd per stream: its source while the buffer is empty, its
 * destination while it holds bytes. */
static void poll_streams(struct relay *relay, struct pollfd *fds)
{
	for (size_t i = 0; i < relay->stream_count; i++) {
		struct relay_stream *stream = &relay->streams[i];

		fds[i] = (struct pollfd){.fd = -1};
		if (stream->done)
			continue;
		if (stream->start < stream->end)
			fds[i] = (struct pollfd){.fd = stream->dst, .events = POLLOUT};
		else if (!stream->src_eof)
			fds[i] = (struct pollfd){.fd = stream->src, .events = POLLIN};
	}
}

static int service_stream(struct relay *relay, struct relay_stream *stream, short revents,
			  struct dv_error *err)
{
	int r = 0;

	if (revents != 0 && stream->start < stream->end) {
		if (revents & POLLNVAL)
			stream->start = stream->end;
		else
			r = stream_write(relay, stream, err);
	} else if (revents != 0 && !stream->src_eof) {
		if (revents & POLLNVAL)
			stream->src_eof = true;
		else
			r = stream_read(stream, err);
		if (stream->discard)
			stream->start = stream->end = 0;
	}
	if (r == 0 && stream->src_eof && stream->start >= stream->end && !stream->done)
		stream_finish(stream);
	return r;
}

static bool outputs_done(const struct relay *relay)
{
	for (size_t i = 0; i < relay->stream_count; i++)
		if (relay->streams[i].role == RELAY_OUTPUT && !relay->streams[i].done)
			return false;
	return true;
}

static int relay_loop(struct relay *relay, struct line_reader *reader, int signal_fd,
		      struct dv_error *err)
{
	struct pollfd fds[RELAY_MAX_STREAMS + 2];
	bool control_done = false;
	size_t n = relay->stream_count;
	int r = 0;

	while (!(control_done && outputs_done(relay))) {
		poll_streams(relay, fds);
		fds[n] = (struct pollfd){.fd = control_done ? -1 : relay->control_fd, .events = POLLIN};
		fds[n + 1] = (struct pollfd){.fd = signal_fd, .events = POLLIN};

		int ready = poll(fds, n + 2, control_done ? RELAY_DRAIN_TIMEOUT_MS : -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return dv_error_set(err, errno, "cannot poll the session's descriptors");
		if (ready == 0)
			break;
		for (size_t i = 0; i < n && r == 0; i++)
			r = service_stream(relay, &relay->streams[i], fds[i].revents, err);
		if (r == 0 && fds[n + 1].revents)
			r = read_signal(relay, signal_fd, err);
		if (r == 0 && fds[n].revents) {
			r = read_control(relay, reader, err);
			control_done = r == 1 || relay->final_seen;
			r = r == 1 ? 0 : r;
		}
		if (r < 0)
			return r;
	}
	return relay->final_seen ? 0 : -ECONNRESET;
}

int relay_run(struct relay *relay, struct dv_error *err)
{
	struct line_reader reader;
	sigset_t old_mask;
	int signal_fd;
	int r;

	if (line_reader_init(&reader) < 0)
		return dv_error_set(err, ENOMEM, "cannot start the relay");
	for (size_t i = 0; i < relay->stream_count; i++) {
		relay->streams[i].buffer = malloc(RELAY_BUFFER_SIZE);
		if (relay->streams[i].buffer == NULL) {
			r = dv_error_set(err, ENOMEM, "cannot start the relay");
			goto free_buffers;
		}
	}
	signal_fd = open_signal_fd(&old_mask);
	if (signal_fd < 0) {
		r = dv_error_set(err, -signal_fd, "cannot create a signalfd");
		goto free_buffers;
	}

	r = relay_loop(relay, &reader, signal_fd, err);

	/* The signals stay blocked: one that arrives now is for the command,
	 * which has ended, and must not kill the CLI before it reports. */
	close(signal_fd);
free_buffers:
	for (size_t i = 0; i < relay->stream_count; i++) {
		free(relay->streams[i].buffer);
		relay->streams[i].buffer = NULL;
	}
	line_reader_free(&reader);
	return r;
}
