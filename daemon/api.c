/* Control requests: version, list, kill, run, open, exec, signal, resize. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "dispvm-protocol.h"
#include "log.h"
#include "paths.h"
#include "relay.h"
#include "shell.h"
#include "snapshot.h"
#include "vm.h"

/* A kill request waiting for its VMs to be freed. */
struct kill_wait {
	struct client *client;
	struct json_object *pending; /* names not yet freed */
	struct json_object *killed;
	struct json_object *unknown; /* names that no VM has */
	struct kill_wait *next;
};

static struct kill_wait *kill_waits;

static void close_fds(int *fds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		close(fds[i]);
}

static struct json_object *ok_reply(void)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	return reply;
}

static void handle_version(struct client *client)
{
	struct json_object *reply = ok_reply();

	json_object_object_add(reply, "version", json_object_new_string(DISPVM_VERSION));
	json_object_object_add(reply, "protocol", json_object_new_int(DV_PROTOCOL_VERSION));
	client_send(client, reply);
}

static const char *state_name(enum vm_state state)
{
	switch (state) {
	case VM_STARTING:
		return "starting";
	case VM_RUNNING:
		return "running";
	case VM_STOPPING:
		return "stopping";
	}
	return "unknown";
}

static const char *vm_state_name(const struct vm *vm)
{
	if (vm->preloaded && vm->state != VM_STOPPING)
		return vm->pool_ready ? "preloaded" : "preloading";
	return state_name(vm->state);
}

static struct json_object *describe_vm(const struct vm *vm, int64_t now)
{
	struct json_object *entry = json_object_new_object();

	json_object_object_add(entry, "name", json_object_new_string(vm->name));
	json_object_object_add(entry, "state", json_object_new_string(vm_state_name(vm)));
	json_object_object_add(entry, "template", json_object_new_string(vm->template->name));
	json_object_object_add(entry, "accel", json_object_new_string(accel_name(vm->accel)));
	json_object_object_add(entry, "memory_mib", json_object_new_int64(vm->memory_mib));
	json_object_object_add(entry, "uptime_ms", json_object_new_int64(now - vm->created_ms));
	json_object_object_add(entry, "command", json_object_new_string(vm->command_display));
	json_object_object_add(entry, "kind", json_object_new_string(vm_kind_name(vm->kind)));
	json_object_object_add(entry, "start", json_object_new_string(vm_start_name(vm->start)));
	json_object_object_add(entry, "sessions", json_object_new_int((int)relay_session_count(vm)));
	json_object_object_add(entry, "qemu_pid", json_object_new_int(vm->qemu_pid));
	return entry;
}

static void handle_list(struct client *client, struct json_object *request)
{
	struct json_object *reply = ok_reply();
	struct json_object *vms = json_object_new_array();
	struct json_object *all_member;
	bool all = json_object_object_get_ex(request, "all", &all_member) &&
		   json_object_get_boolean(all_member);
	int64_t now = loop_now_ms();

	/* VMs that build savefiles are the daemon's own business; preloaded
	 * ones are listed on request. */
	for (struct vm *vm = vm_first(); vm != NULL; vm = vm->next) {
		if (vm->kind != VM_KIND_SAVE && (all || !vm->preloaded))
			json_object_array_add(vms, describe_vm(vm, now));
	}
	json_object_object_add(reply, "vms", vms);
	client_send(client, reply);
}

/* "no VM named X; ..." or "no VMs named X, Y; ..." for the unknown names,
 * or NULL when out of memory. */
static char *unknown_names_error(struct json_object *unknown)
{
	size_t count = json_object_array_length(unknown);
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out == NULL)
		return NULL;
	fputs(count == 1 ? "no VM named " : "no VMs named ", out);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			fputs(", ", out);
		dv_shell_quote(out, json_object_get_string(json_object_array_get_idx(unknown, i)));
	}
	fputs("; list VMs with: dispvm ls", out);
	fclose(out);
	return text;
}

static void free_kill_wait(struct kill_wait *wait)
{
	json_object_put(wait->pending);
	json_object_put(wait->killed);
	json_object_put(wait->unknown);
	free(wait);
}

static void finish_kill(struct kill_wait *wait)
{
	struct json_object *reply = json_object_new_object();
	bool ok = json_object_array_length(wait->unknown) == 0;
	char *error = ok ? NULL : unknown_names_error(wait->unknown);

	json_object_object_add(reply, "ok", json_object_new_boolean(ok));
	if (!ok)
		json_object_object_add(reply, "error",
				       json_object_new_string(error != NULL ? error
						      : "no VM has some of the names"));
	json_object_object_add(reply, "killed", json_object_get(wait->killed));
	client_send(wait->client, reply);
	free(error);
	free_kill_wait(wait);
}

/* Start destroying one named VM. Returns false when no VM has that name. */
static bool kill_one(struct kill_wait *wait, const char *name)
{
	struct vm *vm = vm_find(name);

	if (vm == NULL)
		return false;
	json_object_array_add(wait->killed, json_object_new_string(name));
	json_object_array_add(wait->pending, json_object_new_string(name));
	/* The name joins `pending` first because vm_destroy may free the VM
	 * at once and call api_vm_freed. */
	vm_destroy(vm, "killed on request", "killed by dispvm kill");
	return true;
}

static void handle_kill(struct client *client, struct json_object *request)
{
	struct json_object *names;

	if (!json_object_object_get_ex(request, "names", &names) ||
	    !json_object_is_type(names, json_type_array)) {
		client_send_error(client, "invalid kill request: names must be an array of VM names");
		return;
	}

	struct kill_wait *wait = calloc(1, sizeof(*wait));

	wait->client = client;
	wait->pending = json_object_new_array();
	wait->killed = json_object_new_array();
	wait->unknown = json_object_new_array();
	wait->next = kill_waits;
	kill_waits = wait;
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		struct json_object *item = json_object_array_get_idx(names, i);
		const char *name = json_object_is_type(item, json_type_string)
					   ? json_object_get_string(item)
					   : json_object_to_json_string(item);

		if (!kill_one(wait, name))
			json_object_array_add(wait->unknown, json_object_new_string(name));
	}
	api_vm_freed(NULL);
}

static bool pending_remove(struct json_object *pending, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(pending); i++) {
		if (strcmp(json_object_get_string(json_object_array_get_idx(pending, i)), name) == 0) {
			json_object_array_del_idx(pending, i, 1);
			return true;
		}
	}
	return false;
}

void api_vm_freed(const char *name)
{
	struct kill_wait **link = &kill_waits;

	while (*link != NULL) {
		struct kill_wait *wait = *link;

		if (name != NULL)
			pending_remove(wait->pending, name);
		if (json_object_array_length(wait->pending) == 0) {
			*link = wait->next;
			finish_kill(wait);
			continue;
		}
		link = &wait->next;
	}
}

void api_client_closed(struct client *client)
{
	snapshot_client_closed(client);
	struct kill_wait **link = &kill_waits;

	while (*link != NULL) {
		struct kill_wait *wait = *link;

		if (wait->client != client) {
			link = &wait->next;
			continue;
		}
		*link = wait->next;
		free_kill_wait(wait);
	}
}

static void handle_signal(struct client *client, struct json_object *request)
{
	struct json_object *member;

	if (client->session == NULL) {
		client_send_error(client, "signal needs a running session on this connection");
		return;
	}
	if (!json_object_object_get_ex(request, "signal", &member) ||
	    !json_object_is_type(member, json_type_int)) {
		client_send_error(client, "invalid signal request: signal must be a number 1..64");
		return;
	}

	int signo = json_object_get_int(member);

	if (signo < 1 || signo > 64) {
		client_send_error(client, "invalid signal %d: must be 1..64", signo);
		return;
	}
	relay_send_signal(client->session, (uint32_t)signo);
}

static void handle_resize(struct client *client, struct json_object *request)
{
	struct json_object *rows, *cols;

	if (client->session == NULL) {
		client_send_error(client, "resize needs a running session on this connection");
		return;
	}
	if (!json_object_object_get_ex(request, "rows", &rows) ||
	    !json_object_object_get_ex(request, "cols", &cols) ||
	    json_object_get_int(rows) < 1 || json_object_get_int(rows) > 65535 ||
	    json_object_get_int(cols) < 1 || json_object_get_int(cols) > 65535) {
		client_send_error(client, "invalid resize request: rows and cols must be 1..65535");
		return;
	}
	relay_send_resize(client->session, (uint16_t)json_object_get_int(rows),
			  (uint16_t)json_object_get_int(cols));
}

void api_handle(struct client *client, struct json_object *request, int *fds, size_t fd_count)
{
	struct json_object *op_member;
	const char *op = json_object_object_get_ex(request, "op", &op_member)
				 ? json_object_get_string(op_member)
				 : NULL;

	if (op != NULL && (strcmp(op, "run") == 0 || strcmp(op, "open") == 0)) {
		api_start_session(client, request, strcmp(op, "open") == 0, fds, fd_count);
		return;
	}
	if (op != NULL && strcmp(op, "exec") == 0) {
		api_start_exec(client, request, fds, fd_count);
		return;
	}
	/* Other requests take no fds. */
	close_fds(fds, fd_count);
	if (op == NULL)
		client_send_error(client, "invalid request: op missing");
	else if (strcmp(op, "version") == 0)
		handle_version(client);
	else if (strcmp(op, "list") == 0)
		handle_list(client, request);
	else if (strcmp(op, "kill") == 0)
		handle_kill(client, request);
	else if (strcmp(op, "signal") == 0)
		handle_signal(client, request);
	else if (strcmp(op, "resize") == 0)
		handle_resize(client, request);
	else if (strcmp(op, "save") == 0)
		snapshot_handle_save(client, request);
	else
		client_send_error(client, "unknown op %s; see docs/api.md", op);
}
