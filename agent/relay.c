/*
 * Relay of a session's standard streams between the command and the host,
 * within the credit windows of the protocol. Output is read only while the
 * host has granted credit, so no more than the window per stream waits in
 * the port's queue. Host STDIN is buffered up to the window, and its credit
 * goes back to the host once the bytes reached the command.
 */
#include "kmsg.h"
#include "port.h"
#include "session-state.h"
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

/* Credit above this is a host bug: the window never grows that far. */
#define MAX_CREDIT (1ull << 40)

void relay_init(struct session *session)
{
	session->input = (struct input_stream){.fd = -1, .credit = DV_INITIAL_WINDOW,
					       .at_line_start = true};
	for (int i = 0; i < 2; i++) {
		session->output[i] = (struct output_stream){
			.fd = -1,
			.type = i == 0 ? DV_MSG_STDOUT : DV_MSG_STDERR,
			.credit = DV_INITIAL_WINDOW,
		};
	}
}

/* Watch an output fd only while it may be read, and an input fd only while
 * data waits: epoll reports hang-ups even for an empty event mask, which
 * would spin the loop. */
void relay_watch_output(struct session *session, int index)
{
	struct output_stream *output = &session->output[index];
	bool wanted = output->fd >= 0 && output->credit > 0;

	if (wanted == output->watched)
		return;
	if (wanted)
		loop_watch(output->fd, EPOLLIN, WATCH_STDOUT + index, session->slot);
	else
		loop_unwatch(output->fd);
	output->watched = wanted;
}

static void close_output(struct session *session, int index)
{
	struct output_stream *output = &session->output[index];

	if (output->fd >= 0) {
		if (output->watched)
			loop_unwatch(output->fd);
		close(output->fd);
	}
	output->fd = -1;
	output->watched = false;
	output->eof = true;
}

static void grant_input(struct session *session, size_t length)
{
	session->input.credit += length;
	port_send_window(session->channel, DV_MSG_STDIN, (uint32_t)length);
}

static void close_input(struct session *session)
{
	struct input_stream *input = &session->input;

	if (input->fd >= 0) {
		loop_unwatch(input->fd);
		close(input->fd);
	}
	input->fd = -1;
	input->closed = true;
	if (input->length > 0)
		grant_input(session, input->length);
	input->length = 0;
}

void relay_close(struct session *session)
{
	close_input(session);
	free(session->input.buffer);
	session->input.buffer = NULL;
	close_output(session, 0);
	close_output(session, 1);
}

void relay_read_output(struct session *session, int index)
{
	static uint8_t buffer[DV_MAX_PAYLOAD];
	struct output_stream *output = &session->output[index];
	uint64_t max_length = output->credit < sizeof(buffer) ? output->credit : sizeof(buffer);

	if (output->fd < 0 || max_length == 0)
		return;

	ssize_t length = read(output->fd, buffer, (size_t)max_length);

	if (length > 0) {
		port_send(output->type, session->channel, buffer, (size_t)length);
		output->credit -= (uint64_t)length;
		if (session->exited)
			session->pty_deadline = now_ms() + PTY_QUIET_MS;
	} else if (length < 0 && (errno == EAGAIN || errno == EINTR)) {
		/* A pty whose main process exited and that stayed quiet is done,
		 * even when a background process keeps it open. */
		if (session->exited && (session->flags & DV_START_TTY) &&
		    now_ms() >= session->pty_deadline)
			close_output(session, index);
	} else {
		/* EOF, or EIO from a pty master whose slave side closed. */
		if (length < 0 && errno != EIO)
			log_warning("channel %u: reading %s failed: %m", session->channel,
				    dv_msg_name(output->type));
		close_output(session, index);
	}
	relay_watch_output(session, index);
}

/* With a pty, EOF is the VEOF character at the start of a line, so a
 * partial line first needs one to flush it. */
static void send_pty_eof(struct session *session)
{
	static const char eof_characters[2] = {4, 4};
	size_t count = session->input.at_line_start ? 1 : 2;

	if (write(session->input.fd, eof_characters, count) < 0)
		log_debug("channel %u: writing EOF to the pty failed: %m", session->channel);
}

static void finish_input(struct session *session)
{
	if (session->flags & DV_START_TTY)
		send_pty_eof(session);
	close_input(session);
}

void relay_flush_input(struct session *session)
{
	struct input_stream *input = &session->input;

	while (input->fd >= 0 && input->length > 0) {
		ssize_t written = write(input->fd, input->buffer, input->length);

		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0 && errno == EAGAIN) {
			if (loop_modify(input->fd, EPOLLOUT, WATCH_STDIN, session->slot) < 0)
				loop_watch(input->fd, EPOLLOUT, WATCH_STDIN, session->slot);
			return;
		}
		if (written < 0) {
			/* EPIPE: the command closed its stdin; drop the rest. */
			log_debug("channel %u: writing stdin failed: %m", session->channel);
			close_input(session);
			return;
		}
		input->at_line_start = input->buffer[written - 1] == '\n';
		memmove(input->buffer, input->buffer + written, input->length - (size_t)written);
		input->length -= (size_t)written;
		grant_input(session, (size_t)written);
	}
	if (input->fd >= 0)
		loop_unwatch(input->fd);
	if (input->fd >= 0 && input->eof_received)
		finish_input(session);
}

int relay_stdin(struct session *session, const uint8_t *untrusted_data, size_t length)
{
	struct input_stream *input = &session->input;

	if (input->eof_received) {
		log_error("protocol violation: channel %u: STDIN after its EOF", session->channel);
		return -EPROTO;
	}
	if (length > input->credit) {
		log_error("protocol violation: channel %u: STDIN of %zu bytes beyond the window",
			  session->channel, length);
		return -EPROTO;
	}
	if (length == 0) {
		input->eof_received = true;
		relay_flush_input(session);
		return 0;
	}
	input->credit -= length;
	if (input->closed) {
		grant_input(session, length);
		return 0;
	}
	if (input->buffer == NULL) {
		input->buffer = malloc(DV_INITIAL_WINDOW);
		if (input->buffer == NULL) {
			log_error("channel %u: out of memory for stdin, dropping it", session->channel);
			close_input(session);
			grant_input(session, length);
			return 0;
		}
	}
	/* This fits because the buffered bytes never exceed
	 * DV_INITIAL_WINDOW minus the credit. */
	memcpy(input->buffer + input->length, untrusted_data, length);
	input->length += length;
	relay_flush_input(session);
	return 0;
}

int relay_window(struct session *session, const uint8_t *untrusted_payload)
{
	uint32_t stream = dv_get_u32(untrusted_payload);
	uint32_t increment = dv_get_u32(untrusted_payload + 4);
	uint64_t *credit = NULL;

	if (stream == DV_MSG_STDOUT || stream == DV_MSG_STDERR)
		credit = &session->output[stream - DV_MSG_STDOUT].credit;
	else if (stream == DV_MSG_FILE_OUT)
		credit = &session->file.credit;
	if (credit == NULL || increment == 0 || *credit + increment > MAX_CREDIT) {
		log_error("protocol violation: channel %u: invalid WINDOW (stream %u, increment %u)",
			  session->channel, stream, increment);
		return -EPROTO;
	}
	*credit += increment;
	if (stream != DV_MSG_FILE_OUT)
		relay_watch_output(session, (int)(stream - DV_MSG_STDOUT));
	return 0;
}
