/* Moving bytes between each session's client fds and the guest's streams
 * of its channel. Session lifecycle lives in sessions.c. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "vm.h"

/* Stop reading client input while this much waits for the guest. */
#define RELAY_MAX_BACKLOG (1024u * 1024u)

int relay_check_fds(const int *fds, size_t count, struct dv_error *err)
{
	static const char *const names[] = {"stdin", "stdout", "stderr", "file_in", "file_out"};

	for (size_t i = 0; i < count && i < 5; i++) {
		struct stat info;

		if (fstat(fds[i], &info) < 0)
			return dv_error_set(err, errno, "cannot inspect the %s fd", names[i]);
		if (!S_ISFIFO(info.st_mode) && !S_ISSOCK(info.st_mode))
			return dv_error_invalid(err, EINVAL,
						"invalid %s fd: must be a pipe or a socket", names[i]);
	}
	return 0;
}

/* Watch `source` for `events`, or stop watching when `events` is 0: a
 * pipe whose peer closed reports EPOLLHUP or EPOLLERR even then. */
static void watch(struct loop_source *source, int fd, uint32_t events, loop_handler handler,
		  void *data)
{
	if (fd < 0 || events == 0) {
		loop_remove(source);
		return;
	}
	if (source->registered)
		loop_modify(source, events);
	else if (loop_add(source, fd, events, handler, data) < 0)
		log_warning("cannot watch client fd %d: %m", fd);
}

static void close_input(struct relay_input *input)
{
	if (input->fd < 0)
		return;
	loop_remove(&input->source);
	close(input->fd);
	input->fd = -1;
}

void relay_close_output_fd(struct relay_output *output)
{
	if (output->fd >= 0) {
		loop_remove(&output->source);
		close(output->fd);
		output->fd = -1;
	}
	buffer_free(&output->pending);
}

void relay_close_fds(struct vm_session *session)
{
	close_input(&session->relay.stdin_in);
	close_input(&session->relay.file_in);
	relay_close_output_fd(&session->relay.stdout_out);
	relay_close_output_fd(&session->relay.stderr_out);
	relay_close_output_fd(&session->relay.file_out);
}

void relay_attach(struct vm_session *session, int *fds, size_t count)
{
	struct relay *relay = &session->relay;
	int *slots[] = {&relay->stdin_in.fd, &relay->stdout_out.fd, &relay->stderr_out.fd,
			&relay->file_in.fd, &relay->file_out.fd};

	for (size_t i = 0; i < count && i < 5; i++) {
		int flags = fcntl(fds[i], F_GETFL);

		if (flags < 0 || fcntl(fds[i], F_SETFL, flags | O_NONBLOCK) < 0)
			log_warning("%s: cannot make client fd non-blocking: %m", session->vm->name);
		*slots[i] = fds[i];
	}
	relay->file_in.remaining = session->request.file_size;
}

static uint32_t frame_limit(const struct vm *vm)
{
	uint32_t limit = DV_MAX_PAYLOAD;

	if (vm->max_payload != 0 && vm->max_payload < limit)
		limit = vm->max_payload;
	return limit;
}

int relay_send(struct vm_session *session, uint16_t type, const void *payload, uint32_t length)
{
	struct vm *vm = session->vm;
	int ret = vm_send_frame(vm, session->channel, type, payload, length);

	if (ret < 0 && ret != -EPIPE)
		vm_destroy(vm, "cannot queue a frame for the guest: out of memory",
			   "the daemon ran out of memory");
	return ret;
}

static void input_ready(struct loop_source *source, uint32_t events);

/* How many bytes `input` may read now: 0 while the guest has no credit
 * for it or too much waits in the guest queue. */
static size_t input_allowance(const struct vm_session *session, const struct relay_input *input,
			      uint16_t type)
{
	const struct vm *vm = session->vm;
	uint64_t allowance = guest_decoder_credit(vm->decoder, session->channel, type);

	if (input->fd < 0 || vm->state != VM_RUNNING || session->closing ||
	    vm_guest_backlog(vm) >= RELAY_MAX_BACKLOG)
		return 0;
	if (type == DV_MSG_FILE_IN && input->remaining < allowance)
		allowance = input->remaining;
	if (allowance > frame_limit(vm))
		allowance = frame_limit(vm);
	/* A finished FILE_IN still needs one read for nothing: its EOF frame
	 * is sent once `remaining` is 0. */
	return (size_t)allowance;
}

static void update_input(struct vm_session *session, struct relay_input *input, uint16_t type)
{
	bool has_allowance = input_allowance(session, input, type) > 0;

	watch(&input->source, input->fd, has_allowance ? EPOLLIN : 0, input_ready, session);
}

static void resume_session_input(struct vm_session *session)
{
	update_input(session, &session->relay.stdin_in, DV_MSG_STDIN);
	update_input(session, &session->relay.file_in, DV_MSG_FILE_IN);
}

void relay_resume_input(struct vm *vm)
{
	for (struct vm_session *session = vm->sessions; session != NULL; session = session->next)
		resume_session_input(session);
}

void relay_end_input(struct vm_session *session, uint16_t type)
{
	struct relay_input *input =
		type == DV_MSG_STDIN ? &session->relay.stdin_in : &session->relay.file_in;

	if (relay_send(session, type, NULL, 0) == -ENOMEM)
		return;
	guest_decoder_sent(session->vm->decoder, session->channel, type, 0);
	input->ended = true;
	close_input(input);
}

/* Returns false when the VM was destroyed. */
static bool read_input(struct vm_session *session, struct relay_input *input, uint16_t type)
{
	struct vm *vm = session->vm;
	uint8_t chunk[DV_MAX_PAYLOAD];
	size_t allowance = input_allowance(session, input, type);
	ssize_t count = allowance > 0 ? read(input->fd, chunk, allowance) : 0;

	if (allowance == 0)
		return true;
	if (count < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (count < 0)
		log_warning("%s: cannot read client %s: %m; sending EOF", vm->name,
			    type == DV_MSG_STDIN ? "stdin" : "file_in");
	if (count <= 0 && type == DV_MSG_FILE_IN) {
		char cause[128];

		snprintf(cause, sizeof(cause), "file_in ended %llu bytes before file_size",
			 (unsigned long long)input->remaining);
		vm_destroy(vm, cause, cause);
		return false;
	}
	if (count <= 0) {
		relay_end_input(session, type);
		return vm->state != VM_STOPPING;
	}
	if (relay_send(session, type, chunk, (uint32_t)count) == -ENOMEM)
		return false;
	guest_decoder_sent(vm->decoder, session->channel, type, (size_t)count);
	if (type == DV_MSG_FILE_IN) {
		input->remaining -= (uint64_t)count;
		if (input->remaining == 0)
			relay_end_input(session, type);
	}
	return vm->state != VM_STOPPING;
}

static void input_ready(struct loop_source *source, uint32_t events)
{
	struct vm_session *session = source->data;
	struct relay_input *input = source == &session->relay.stdin_in.source
					    ? &session->relay.stdin_in
					    : &session->relay.file_in;
	uint16_t type = input == &session->relay.stdin_in ? DV_MSG_STDIN : DV_MSG_FILE_IN;

	(void)events;
	if (read_input(session, input, type))
		update_input(session, input, type);
}

static void output_ready(struct loop_source *source, uint32_t events);

static uint16_t output_type(const struct vm_session *session, const struct relay_output *output)
{
	if (output == &session->relay.stdout_out)
		return DV_MSG_STDOUT;
	if (output == &session->relay.stderr_out)
		return DV_MSG_STDERR;
	return DV_MSG_FILE_OUT;
}

/* Give the guest back credit for `length` bytes that left its stream. */
static int grant(struct vm_session *session, uint16_t type, size_t length)
{
	uint8_t payload[8];

	if (length == 0 || session->relay.exit_received)
		return 0;
	dv_put_u32(payload, type);
	dv_put_u32(payload + 4, (uint32_t)length);
	guest_decoder_grant(session->vm->decoder, session->channel, type, (uint32_t)length);
	return relay_send(session, DV_MSG_WINDOW, payload, sizeof(payload));
}

void relay_discard_output(struct vm_session *session)
{
	struct relay_output *outputs[] = {&session->relay.stdout_out, &session->relay.stderr_out,
					  &session->relay.file_out};

	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		size_t pending = buffer_length(&outputs[i]->pending);

		relay_close_output_fd(outputs[i]);
		if (grant(session, output_type(session, outputs[i]), pending) == -ENOMEM)
			return;
	}
}

static void send_file_changed(struct vm_session *session)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("file_changed"));
	json_object_object_add(event, "size",
			       json_object_new_int64((int64_t)session->relay.file_size));
	if (session->client != NULL)
		client_send(session->client, event);
	else
		json_object_put(event);
}

void relay_maybe_close_output(struct vm_session *session, struct relay_output *output)
{
	if (!output->guest_ended || buffer_length(&output->pending) > 0 || output->fd < 0)
		return;
	relay_close_output_fd(output);
	if (output == &session->relay.file_out && session->relay.file_announced &&
	    !output->broken)
		send_file_changed(session);
}

bool relay_output_pending(const struct vm_session *session)
{
	const struct relay *relay = &session->relay;

	return buffer_length(&relay->stdout_out.pending) > 0 ||
	       buffer_length(&relay->stderr_out.pending) > 0 ||
	       buffer_length(&relay->file_out.pending) > 0;
}

/* Write pending bytes. Returns what relay_try_finish returns, or -ENOMEM
 * after destroying the VM. */
static int flush_output(struct vm_session *session, struct relay_output *output)
{
	uint16_t type = output_type(session, output);
	size_t written_total = 0;

	while (buffer_length(&output->pending) > 0 && output->fd >= 0) {
		ssize_t written = write(output->fd, buffer_bytes(&output->pending),
					buffer_length(&output->pending));

		if (written < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (written < 0) {
			/* The client stopped reading; the rest is discarded and
			 * credited so the guest does not block. */
			log_debug("%s: cannot write to client %s: %m; discarding",
				  session->vm->name, dv_msg_name(type));
			written = (ssize_t)buffer_length(&output->pending);
			output->broken = true;
			loop_remove(&output->source);
			close(output->fd);
			output->fd = -1;
		}
		buffer_consume(&output->pending, (size_t)written);
		written_total += (size_t)written;
	}
	if (grant(session, type, written_total) == -ENOMEM)
		return -ENOMEM;
	relay_maybe_close_output(session, output);
	watch(&output->source, output->fd, buffer_length(&output->pending) > 0 ? EPOLLOUT : 0,
	      output_ready, session);
	return relay_try_finish(session);
}

static void output_ready(struct loop_source *source, uint32_t events)
{
	struct vm_session *session = source->data;
	struct relay *relay = &session->relay;
	struct relay_output *output = source == &relay->stdout_out.source   ? &relay->stdout_out
				      : source == &relay->stderr_out.source ? &relay->stderr_out
									    : &relay->file_out;

	(void)events;
	flush_output(session, output);
}

static int exit_status(uint32_t kind, int32_t value)
{
	switch (kind) {
	case DV_EXIT_CODE:
		return value;
	case DV_EXIT_SIGNAL:
		return 128 + value;
	case DV_EXIT_NOT_FOUND:
		return 127;
	case DV_EXIT_NOT_EXECUTABLE:
		return 126;
	default:
		return 125;
	}
}

static struct relay_output *output_for(struct vm_session *session, uint16_t type)
{
	if (type == DV_MSG_STDOUT)
		return &session->relay.stdout_out;
	if (type == DV_MSG_STDERR)
		return &session->relay.stderr_out;
	return &session->relay.file_out;
}

static int on_guest_hello(void *data, uint32_t version, uint32_t max_payload)
{
	struct vm *vm = data;

	(void)version;
	vm->max_payload = max_payload;
	vm_agent_up(vm);
	return vm->state == VM_STOPPING ? -ECANCELED : 0;
}

static int on_guest_ready(void *data)
{
	struct vm *vm = data;

	vm_agent_ready(vm);
	return vm->state == VM_STOPPING ? -ECANCELED : 0;
}

static int on_output(void *data, uint32_t channel, uint16_t type, const uint8_t *bytes,
		     size_t length)
{
	struct vm *vm = data;
	struct vm_session *session = relay_session_find(vm, channel);

	if (session == NULL)
		return 0;

	struct relay_output *output = output_for(session, type);

	if (length == 0) {
		output->guest_ended = true;
		relay_maybe_close_output(session, output);
		return vm->state == VM_STOPPING ? -ECANCELED : 0;
	}
	if (output->fd < 0) {
		/* No client fd takes this stream any more (after EPIPE, after
		 * the client left, or stderr of a tty session), so the bytes
		 * are discarded and credited at once. */
		return grant(session, type, length);
	}
	if (buffer_append(&output->pending, bytes, length) < 0) {
		vm_destroy(vm, "cannot buffer guest output: out of memory",
			   "the daemon ran out of memory");
		return -ECANCELED;
	}
	return flush_output(session, output);
}

static int on_window(void *data, uint32_t channel, uint16_t stream, uint32_t increment)
{
	struct vm_session *session = relay_session_find(data, channel);

	(void)stream;
	(void)increment;
	if (session != NULL)
		resume_session_input(session);
	return 0;
}

static int on_file_changed(void *data, uint32_t channel, uint64_t size)
{
	struct vm *vm = data;
	struct vm_session *session = relay_session_find(vm, channel);

	if (session == NULL)
		return 0;
	session->relay.file_announced = true;
	session->relay.file_size = size;
	log_debug("%s: the guest sends back the file (%llu bytes)", vm->name,
		  (unsigned long long)size);
	return 0;
}

static int on_guest_exit(void *data, uint32_t channel, uint32_t kind, int32_t value,
			 const char *message)
{
	struct vm_session *session = relay_session_find(data, channel);
	struct relay *relay;

	if (session == NULL)
		return 0;
	relay = &session->relay;
	relay->exit_received = true;
	relay->exit_status = exit_status(kind, value);
	relay->exit_message = strdup(message);
	/* EXIT ends the channel, so streams the guest left open end here. */
	relay->stdout_out.guest_ended = true;
	relay->stderr_out.guest_ended = true;
	close_input(&relay->stdin_in);
	close_input(&relay->file_in);
	return relay_try_finish(session);
}

static const struct guest_callbacks callbacks = {
	.hello = on_guest_hello,
	.ready = on_guest_ready,
	.output = on_output,
	.window = on_window,
	.file_changed = on_file_changed,
	.exit = on_guest_exit,
};

int relay_feed_guest(struct vm *vm, const uint8_t *untrusted_bytes, size_t length)
{
	int ret = guest_decoder_feed(vm->decoder, untrusted_bytes, length, &callbacks, vm);

	if (ret != -EPROTO)
		return ret;

	const struct dv_header *header = &vm->decoder->bad_header;
	char cause[256];
	char error[300];

	snprintf(cause, sizeof(cause), "protocol violation: %s (type %u, channel %u, length %u)",
		 vm->decoder->reason, header->type, header->channel, header->length);
	log_warning("%s: %s; destroying VM", vm->name, cause);
	snprintf(error, sizeof(error), "the VM broke the guest protocol: %s", vm->decoder->reason);
	vm_destroy(vm, cause, error);
	return -EPROTO;
}

/* True while the guest cannot have started the session's command: START
 * is not queued yet, or an open session's file is still being sent. */
static bool before_command(const struct vm_session *session)
{
	return session->channel == 0 ||
	       (session->request.kind == VM_KIND_OPEN && !session->relay.file_in.ended);
}

void relay_send_signal(struct vm_session *session, uint32_t signo)
{
	uint8_t payload[4];

	if (session->vm->state == VM_STOPPING || session->relay.exit_received)
		return;
	if (before_command(session)) {
		relay_end_before_command(session, signo);
		return;
	}
	dv_put_u32(payload, signo);
	relay_send(session, DV_MSG_SIGNAL, payload, sizeof(payload));
}

void relay_send_resize(struct vm_session *session, uint16_t rows, uint16_t cols)
{
	uint8_t payload[4];

	if (session->vm->state != VM_RUNNING || session->channel == 0 ||
	    session->relay.exit_received)
		return;
	dv_put_u16(payload, rows);
	dv_put_u16(payload + 2, cols);
	relay_send(session, DV_MSG_RESIZE, payload, sizeof(payload));
}
