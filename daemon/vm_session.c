/*
 * Sessions of a VM: the main session that created it and the exec
 * sessions started in it later. Each gets its own guest channel, numbered
 * upwards from 1, and ends with the guest's EXIT on that channel.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "log.h"
#include "relay.h"
#include "vm.h"

static void init_fds(struct relay *relay)
{
	relay->stdin_in.fd = relay->file_in.fd = -1;
	relay->stdout_out.fd = relay->stderr_out.fd = relay->file_out.fd = -1;
	relay->stdin_in.source.fd = relay->file_in.source.fd = -1;
	relay->stdout_out.source.fd = relay->stderr_out.source.fd = -1;
	relay->file_out.source.fd = -1;
}

struct vm_session *relay_session_new(struct vm *vm, struct vm_request *request,
				     struct client *client, bool main)
{
	struct vm_session *session = calloc(1, sizeof(*session));

	if (session == NULL) {
		vm_request_free(request);
		return NULL;
	}
	session->vm = vm;
	session->request = *request;
	memset(request, 0, sizeof(*request));
	session->client = client;
	session->main = main;
	init_fds(&session->relay);

	/* Appended, so that sessions start in the order they came. */
	struct vm_session **link = &vm->sessions;

	while (*link != NULL)
		link = &(*link)->next;
	*link = session;
	if (main)
		vm->main = session;
	return session;
}

unsigned relay_session_count(const struct vm *vm)
{
	unsigned count = 0;

	for (const struct vm_session *session = vm->sessions; session != NULL;
	     session = session->next)
		count++;
	return count;
}

struct vm_session *relay_session_find(struct vm *vm, uint32_t channel)
{
	for (struct vm_session *session = vm->sessions; session != NULL; session = session->next) {
		if (session->channel == channel && channel != 0)
			return session;
	}
	return NULL;
}

/* Unlink and free one session; its client must be detached already. */
static void session_free(struct vm_session *session)
{
	struct vm *vm = session->vm;

	for (struct vm_session **link = &vm->sessions; *link != NULL; link = &(*link)->next) {
		if (*link == session) {
			*link = session->next;
			break;
		}
	}
	if (vm->main == session)
		vm->main = NULL;
	if (session->client != NULL)
		session->client->session = NULL;
	relay_close_fds(session);
	vm_request_free(&session->request);
	free(session->relay.exit_message);
	free(session);
}

void relay_free_all(struct vm *vm)
{
	while (vm->sessions != NULL)
		session_free(vm->sessions);
}

static void send_event_error(struct client *client, const char *error)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("error"));
	json_object_object_add(event, "status", json_object_new_int(125));
	json_object_object_add(event, "error", json_object_new_string(error));
	client_send(client, event);
}

/* Send the client its last event and close its connection once sent. */
static void finish_client(struct vm_session *session, const char *error)
{
	struct client *client = session->client;

	if (client == NULL)
		return;
	if (error != NULL)
		send_event_error(client, error);
	client_finish(client);
	session->client = NULL;
}

static void send_started(struct vm_session *session)
{
	struct vm *vm = session->vm;
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("started"));
	json_object_object_add(event, "name", json_object_new_string(vm->name));
	json_object_object_add(event, "accel", json_object_new_string(accel_name(vm->accel)));
	json_object_object_add(event, "start", json_object_new_string(vm_start_name(vm->start)));
	json_object_object_add(event, "qemu_pid", json_object_new_int(vm->qemu_pid));
	client_send(session->client, event);
}

/* Encode START, open the channel in the decoder and queue the frame. */
static int send_start(struct vm_session *session)
{
	const struct vm_request *request = &session->request;
	struct vm *vm = session->vm;
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

	int ret = guest_decoder_start(vm->decoder, vm->last_channel + 1, fixed.flags);

	if (ret < 0)
		return ret;
	session->channel = ++vm->last_channel;
	return vm_send_frame(vm, session->channel, DV_MSG_START, payload, (uint32_t)length);
}

static const char *start_failure(int ret)
{
	switch (ret) {
	case -E2BIG:
		return "the command, environment and names exceed 64 KiB";
	case -ENOSPC:
		return "the VM runs too many sessions";
	case -EINVAL:
		return "the VM ran out of channel numbers; start a new VM";
	default:
		return "cannot queue START";
	}
}

bool relay_start(struct vm_session *session)
{
	struct vm *vm = session->vm;
	int ret = send_start(session);

	if (ret < 0 && (session->main || ret == -ENOMEM)) {
		vm_destroy(vm, start_failure(ret), start_failure(ret));
		return false;
	}
	if (ret < 0) {
		char error[160];

		snprintf(error, sizeof(error), "cannot start the command in %s: %s", vm->name,
			 start_failure(ret));
		log_warning("%s", error);
		session->channel = 0;
		finish_client(session, error);
		session_free(session);
		return false;
	}
	if (!session->main)
		log_info("%s: exec started on channel %u: %s", vm->name, session->channel,
			 session->request.argv[0]);
	if (session->client != NULL)
		send_started(session);
	if (session->request.tty)
		relay_close_output_fd(&session->relay.stderr_out);
	if (session->request.kind == VM_KIND_OPEN && session->request.file_size == 0)
		relay_end_input(session, DV_MSG_FILE_IN);
	relay_resume_input(vm);
	return vm->state != VM_STOPPING;
}

void relay_client_left(struct vm_session *session)
{
	struct vm *vm = session->vm;

	session->client = NULL;
	if (session->main) {
		vm_destroy(vm, "client closed the connection", NULL);
		return;
	}
	if (vm->state == VM_STOPPING)
		return; /* vm_free frees it */
	if (session->channel != 0 && !session->relay.exit_received) {
		relay_discard_output(session);
		if (vm->state == VM_STOPPING)
			return; /* out of memory: the VM is being destroyed */
		relay_close_fds(session);
		/* The guest kills the command and still sends EXIT, which
		 * frees the session. */
		log_info("%s: exec client on channel %u left; closing the session", vm->name,
			 session->channel);
		session->closing = true;
		relay_send(session, DV_MSG_CLOSE, NULL, 0);
		return;
	}
	session_free(session);
}

void relay_vm_stopping(struct vm *vm, const char *cause, const char *main_error)
{
	char error[DV_ERROR_MAX];

	snprintf(error, sizeof(error), "the VM %s was destroyed: %s", vm->name, cause);
	for (struct vm_session *session = vm->sessions; session != NULL; session = session->next) {
		relay_close_fds(session);
		finish_client(session, session->main ? main_error : error);
	}
}

static struct json_object *exit_event(const struct relay *relay)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("exit"));
	json_object_object_add(event, "status", json_object_new_int(relay->exit_status));
	if (relay->exit_message != NULL && relay->exit_message[0] != '\0')
		json_object_object_add(event, "message",
				       json_object_new_string(relay->exit_message));
	return event;
}

int relay_try_finish(struct vm_session *session)
{
	struct vm *vm = session->vm;
	struct relay *relay = &session->relay;

	if (vm->state == VM_STOPPING)
		return -ECANCELED;
	if (!relay->exit_received || relay_output_pending(session))
		return 0;
	relay_close_output_fd(&relay->stdout_out);
	relay_close_output_fd(&relay->stderr_out);
	relay_maybe_close_output(session, &relay->file_out);
	relay_close_output_fd(&relay->file_out);
	if (session->client != NULL) {
		client_send(session->client, exit_event(relay));
		finish_client(session, NULL);
	}

	char cause[64];

	snprintf(cause, sizeof(cause), "command exited with status %d", relay->exit_status);
	if (session->main) {
		vm_destroy(vm, cause, NULL);
		return -ECANCELED;
	}
	log_info("%s: exec on channel %u ended: %s", vm->name, session->channel, cause);
	session_free(session);
	return 0;
}

void relay_end_before_command(struct vm_session *session, uint32_t signo)
{
	struct vm *vm = session->vm;
	const char *abbrev = sigabbrev_np((int)signo);
	char name[32];
	char cause[128];

	if (abbrev != NULL)
		snprintf(name, sizeof(name), "SIG%s", abbrev);
	else
		snprintf(name, sizeof(name), "signal %u", signo);
	snprintf(cause, sizeof(cause), "the client sent %s before the command started", name);
	session->relay.exit_received = true;
	session->relay.exit_status = 128 + (int)signo;
	relay_close_fds(session);
	if (session->client != NULL) {
		client_send(session->client, exit_event(&session->relay));
		finish_client(session, NULL);
	}
	if (session->main) {
		vm_destroy(vm, cause, NULL);
		return;
	}
	log_info("%s: exec on channel %u ended: %s", vm->name, session->channel, cause);
	session_free(session);
}
