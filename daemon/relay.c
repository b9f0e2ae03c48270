/* Moving bytes between the client's fds and the guest's streams. */
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
/* The one session channel of a VM. */
#define RELAY_CHANNEL 1u

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

static void close_output(struct relay_output *output)
{
	if (output->fd >= 0) {
		loop_remove(&output->source);
		close(output->fd);
		output->fd = -1;
	}
	buffer_free(&output->pending);
}

void relay_close(struct vm *vm)
{
	close_input(&vm->relay.stdin_in);
	close_input(&vm->relay.file_in);
	close_output(&vm->relay.stdout_out);
	close_output(&vm->relay.stderr_out);
	close_output(&vm->relay.file_out);
}

void relay_attach(struct vm *vm, int *fds, size_t count)
{
	int *slots[] = {&vm->relay.stdin_in.fd, &vm->relay.stdout_out.fd,
			&vm->relay.stderr_out.fd, &vm->relay.file_in.fd, &vm->relay.file_out.fd};

	for (size_t i = 0; i < count && i < 5; i++) {
		int flags = fcntl(fds[i], F_GETFL);

		if (flags < 0 || fcntl(fds[i], F_SETFL, flags | O_NONBLOCK) < 0)
			log_warning("%s: cannot make client fd non-blocking: %m", vm->name);
		*slots[i] = fds[i];
	}
	vm->relay.file_in.remaining = vm->request.file_size;
}

static uint32_t frame_limit(const struct vm *vm)
{
	uint32_t limit = DV_MAX_PAYLOAD;

	if (vm->relay.max_payload != 0 && vm->relay.max_payload < limit)
		limit = vm->relay.max_payload;
	return limit;
}

static int send_or_destroy(struct vm *vm, uint16_t type, const void *payload, uint32_t length)
{
	int ret = vm_send_frame(vm, type, payload, length);

	if (ret < 0 && ret != -EPIPE)
		vm_destroy(vm, "cannot queue a frame for the guest: out of memory",
			   "the daemon ran out of memory");
	return ret;
}

static void input_ready(struct loop_source *source, uint32_t events);

/* How many bytes `input` may read now: 0 while the guest has no credit
 * for it or too much waits in the guest queue. */
static size_t input_allowance(const struct vm *vm, const struct relay_input *input,
			      uint16_t type)
{
	uint64_t allowance = guest_decoder_credit(vm->decoder, type);

	if (input->fd < 0 || vm->state != VM_RUNNING || vm_guest_backlog(vm) >= RELAY_MAX_BACKLOG)
		return 0;
	if (type == DV_MSG_FILE_IN && input->remaining < allowance)
		allowance = input->remaining;
	if (allowance > frame_limit(vm))
		allowance = frame_limit(vm);
	/* A finished FILE_IN still needs one read for nothing: its EOF frame
	 * is sent once `remaining` is 0. */
	return (size_t)allowance;
}

static void update_input(struct vm *vm, struct relay_input *input, uint16_t type)
{
	bool has_allowance = input_allowance(vm, input, type) > 0;

	watch(&input->source, input->fd, has_allowance ? EPOLLIN : 0, input_ready, vm);
}

void relay_resume_input(struct vm *vm)
{
	update_input(vm, &vm->relay.stdin_in, DV_MSG_STDIN);
	update_input(vm, &vm->relay.file_in, DV_MSG_FILE_IN);
}

static void end_input(struct vm *vm, struct relay_input *input, uint16_t type)
{
	if (send_or_destroy(vm, type, NULL, 0) == -ENOMEM)
		return;
	guest_decoder_sent(vm->decoder, type, 0);
	input->ended = true;
	close_input(input);
}

/* Returns false when the VM was destroyed. */
static bool read_input(struct vm *vm, struct relay_input *input, uint16_t type)
{
	uint8_t chunk[DV_MAX_PAYLOAD];
	size_t allowance = input_allowance(vm, input, type);
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
		end_input(vm, input, type);
		return vm->state != VM_STOPPING;
	}
	if (send_or_destroy(vm, type, chunk, (uint32_t)count) == -ENOMEM)
		return false;
	guest_decoder_sent(vm->decoder, type, (size_t)count);
	if (type == DV_MSG_FILE_IN) {
		input->remaining -= (uint64_t)count;
		if (input->remaining == 0)
			end_input(vm, input, type);
	}
	return vm->state != VM_STOPPING;
}

static void input_ready(struct loop_source *source, uint32_t events)
{
	struct vm *vm = source->data;
	struct relay_input *input = source == &vm->relay.stdin_in.source ? &vm->relay.stdin_in
									   : &vm->relay.file_in;
	uint16_t type = input == &vm->relay.stdin_in ? DV_MSG_STDIN : DV_MSG_FILE_IN;

	(void)events;
	if (read_input(vm, input, type))
		update_input(vm, input, type);
}

static void output_ready(struct loop_source *source, uint32_t events);
static int try_finish(struct vm *vm);

static uint16_t output_type(const struct vm *vm, const struct relay_output *output)
{
	if (output == &vm->relay.stdout_out)
		return DV_MSG_STDOUT;
	if (output == &vm->relay.stderr_out)
		return DV_MSG_STDERR;
	return DV_MSG_FILE_OUT;
}

/* Give the guest back credit for `length` bytes that left its stream. */
static int grant(struct vm *vm, uint16_t type, size_t length)
{
	uint8_t payload[8];

	if (length == 0 || vm->relay.exit_received)
		return 0;
	dv_put_u32(payload, type);
	dv_put_u32(payload + 4, (uint32_t)length);
	guest_decoder_grant(vm->decoder, type, (uint32_t)length);
	return send_or_destroy(vm, DV_MSG_WINDOW, payload, sizeof(payload));
}

static void send_file_changed(struct vm *vm)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("file_changed"));
	json_object_object_add(event, "size", json_object_new_int64((int64_t)vm->relay.file_size));
	if (vm->client != NULL)
		client_send(vm->client, event);
	else
		json_object_put(event);
}

/* Close the output once the guest ended it and everything was written. */
static void maybe_close_output(struct vm *vm, struct relay_output *output)
{
	if (!output->guest_ended || buffer_length(&output->pending) > 0 || output->fd < 0)
		return;
	close_output(output);
	if (output == &vm->relay.file_out && vm->relay.file_announced && !output->broken)
		send_file_changed(vm);
}

/* Write pending bytes. Returns a negative value when the VM is stopping. */
static int flush_output(struct vm *vm, struct relay_output *output)
{
	uint16_t type = output_type(vm, output);
	size_t written_total = 0;

	while (buffer_length(&output->pending) > 0 && output->fd >= 0) {
		ssize_t written = write(output->fd, buffer_bytes(&output->pending),
					buffer_length(&output->pending));

		if (written < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (written < 0) {
			/* The client stopped reading; the rest is discarded and
			 * credited so the guest does not block. */
			log_debug("%s: cannot write to client %s: %m; discarding", vm->name,
				  dv_msg_name(type));
			written = (ssize_t)buffer_length(&output->pending);
			output->broken = true;
			loop_remove(&output->source);
			close(output->fd);
			output->fd = -1;
		}
		buffer_consume(&output->pending, (size_t)written);
		written_total += (size_t)written;
	}
	if (grant(vm, type, written_total) == -ENOMEM)
		return -ENOMEM;
	maybe_close_output(vm, output);
	watch(&output->source, output->fd, buffer_length(&output->pending) > 0 ? EPOLLOUT : 0,
	      output_ready, vm);
	return try_finish(vm);
}

static void output_ready(struct loop_source *source, uint32_t events)
{
	struct vm *vm = source->data;
	struct relay_output *output = source == &vm->relay.stdout_out.source ? &vm->relay.stdout_out
				      : source == &vm->relay.stderr_out.source ? &vm->relay.stderr_out
									     : &vm->relay.file_out;

	(void)events;
	flush_output(vm, output);
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

/* After EXIT, once all output is written: report and destroy the VM.
 * Returns -ECANCELED when it did. */
static int try_finish(struct vm *vm)
{
	struct relay *relay = &vm->relay;

	if (!relay->exit_received || vm->state == VM_STOPPING)
		return vm->state == VM_STOPPING ? -ECANCELED : 0;
	if (buffer_length(&relay->stdout_out.pending) > 0 ||
	    buffer_length(&relay->stderr_out.pending) > 0 ||
	    buffer_length(&relay->file_out.pending) > 0)
		return 0;
	close_output(&relay->stdout_out);
	close_output(&relay->stderr_out);
	maybe_close_output(vm, &relay->file_out);
	close_output(&relay->file_out);

	struct json_object *event = json_object_new_object();
	char cause[64];

	json_object_object_add(event, "event", json_object_new_string("exit"));
	json_object_object_add(event, "status", json_object_new_int(relay->exit_status));
	if (relay->exit_message != NULL && relay->exit_message[0] != '\0')
		json_object_object_add(event, "message",
				       json_object_new_string(relay->exit_message));
	if (vm->client != NULL) {
		client_send(vm->client, event);
		client_finish(vm->client);
	} else {
		json_object_put(event);
	}
	snprintf(cause, sizeof(cause), "command exited with status %d", relay->exit_status);
	vm_destroy(vm, cause, NULL);
	return -ECANCELED;
}

static struct relay_output *output_for(struct vm *vm, uint16_t type)
{
	if (type == DV_MSG_STDOUT)
		return &vm->relay.stdout_out;
	if (type == DV_MSG_STDERR)
		return &vm->relay.stderr_out;
	return &vm->relay.file_out;
}

static int on_guest_hello(void *data, uint32_t version, uint32_t max_payload)
{
	struct vm *vm = data;

	(void)version;
	vm->relay.max_payload = max_payload;
	vm_agent_up(vm);
	return vm->state == VM_STOPPING ? -ECANCELED : 0;
}

static int on_guest_ready(void *data)
{
	struct vm *vm = data;

	vm_agent_ready(vm);
	return vm->state == VM_STOPPING ? -ECANCELED : 0;
}

static int on_output(void *data, uint16_t type, const uint8_t *bytes, size_t length)
{
	struct vm *vm = data;
	struct relay_output *output = output_for(vm, type);

	if (length == 0) {
		output->guest_ended = true;
		maybe_close_output(vm, output);
		return vm->state == VM_STOPPING ? -ECANCELED : 0;
	}
	if (output->fd < 0) {
		/* No client fd takes this stream any more (after EPIPE, or
		 * stderr of a tty session), so the bytes are discarded and
		 * credited at once. */
		return grant(vm, type, length);
	}
	if (buffer_append(&output->pending, bytes, length) < 0) {
		vm_destroy(vm, "cannot buffer guest output: out of memory",
			   "the daemon ran out of memory");
		return -ECANCELED;
	}
	return flush_output(vm, output);
}

static int on_window(void *data, uint16_t stream, uint32_t increment)
{
	struct vm *vm = data;

	(void)stream;
	(void)increment;
	relay_resume_input(vm);
	return 0;
}

static int on_file_changed(void *data, uint64_t size)
{
	struct vm *vm = data;

	vm->relay.file_announced = true;
	vm->relay.file_size = size;
	log_debug("%s: the guest sends back the file (%llu bytes)", vm->name,
		  (unsigned long long)size);
	return 0;
}

static int on_guest_exit(void *data, uint32_t kind, int32_t value, const char *message)
{
	struct vm *vm = data;

	vm->relay.exit_received = true;
	vm->relay.exit_status = exit_status(kind, value);
	vm->relay.exit_message = strdup(message);
	/* EXIT ends the channel, so streams the guest left open end here. */
	vm->relay.stdout_out.guest_ended = true;
	vm->relay.stderr_out.guest_ended = true;
	close_input(&vm->relay.stdin_in);
	close_input(&vm->relay.file_in);
	return try_finish(vm);
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

static int send_start(struct vm *vm)
{
	const struct vm_request *request = &vm->request;
	struct dv_start fixed = {
		.rows = request->rows, .cols = request->cols, .file_size = request->file_size,
	};
	uint8_t payload[DV_MAX_PAYLOAD];

	if (request->tty)
		fixed.flags |= DV_START_TTY;
	if (request->kind == VM_KIND_OPEN)
		fixed.flags |= DV_START_FILE;
	if (request->view_only)
		fixed.flags |= DV_START_VIEW_ONLY;

	long length = dv_start_encode(payload, sizeof(payload), &fixed,
				      (const char *const *)request->argv,
				      (const char *const *)request->env, request->cwd,
				      request->file_name, request->app);

	if (length < 0)
		return -E2BIG;
	vm->channel = RELAY_CHANNEL;
	guest_decoder_start(vm->decoder, RELAY_CHANNEL, fixed.flags);
	return vm_send_frame(vm, DV_MSG_START, payload, (uint32_t)length);
}

static void send_started(struct vm *vm)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("started"));
	json_object_object_add(event, "name", json_object_new_string(vm->name));
	json_object_object_add(event, "accel", json_object_new_string(accel_name(vm->accel)));
	json_object_object_add(event, "start", json_object_new_string(vm_start_name(vm->start)));
	json_object_object_add(event, "qemu_pid", json_object_new_int(vm->qemu_pid));
	client_send(vm->client, event);
}

void relay_start(struct vm *vm)
{
	int ret = send_start(vm);

	if (ret < 0) {
		const char *cause = ret == -E2BIG ? "the command, environment and names exceed 64 KiB"
						  : "cannot queue START";

		vm_destroy(vm, cause, cause);
		return;
	}
	if (vm->client != NULL)
		send_started(vm);
	if (vm->request.tty)
		close_output(&vm->relay.stderr_out);
	if (vm->request.kind == VM_KIND_OPEN && vm->request.file_size == 0)
		end_input(vm, &vm->relay.file_in, DV_MSG_FILE_IN);
	relay_resume_input(vm);
}

void relay_send_signal(struct vm *vm, uint32_t signo)
{
	uint8_t payload[4];

	if (vm->state != VM_RUNNING)
		return;
	dv_put_u32(payload, signo);
	send_or_destroy(vm, DV_MSG_SIGNAL, payload, sizeof(payload));
}

void relay_send_resize(struct vm *vm, uint16_t rows, uint16_t cols)
{
	uint8_t payload[4];

	if (vm->state != VM_RUNNING)
		return;
	dv_put_u16(payload, rows);
	dv_put_u16(payload + 2, cols);
	send_or_destroy(vm, DV_MSG_RESIZE, payload, sizeof(payload));
}
