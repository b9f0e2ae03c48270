/* Parsing of run, open and exec requests, and the start of their VM or,
 * for exec, of their session in a running VM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "control.h"
#include "config.h"
#include "log.h"
#include "paths.h"
#include "relay.h"
#include "request.h"
#include "vm.h"

static void send_failure(struct client *client, const char *text)
{
	struct json_object *event = json_object_new_object();

	json_object_object_add(event, "event", json_object_new_string("error"));
	json_object_object_add(event, "status", json_object_new_int(125));
	json_object_object_add(event, "error", json_object_new_string(text));
	client_send(client, event);
	client_finish(client);
}

/* Copy a JSON array of strings into a NULL-terminated array. */
static int string_array(struct json_object *request, const char *key, char ***out,
			struct dv_error *err)
{
	struct json_object *array;

	*out = calloc(1, sizeof(char *));
	if (*out == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse %s", key);
	if (!json_object_object_get_ex(request, key, &array))
		return 0;
	if (!json_object_is_type(array, json_type_array))
		return dv_error_invalid(err, EINVAL, "invalid request: %s must be an array", key);

	size_t count = json_object_array_length(array);
	char **strings = calloc(count + 1, sizeof(char *));

	if (strings == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse %s", key);
	free(*out);
	*out = strings;
	for (size_t i = 0; i < count; i++) {
		struct json_object *item = json_object_array_get_idx(array, i);

		if (!json_object_is_type(item, json_type_string))
			return dv_error_invalid(err, EINVAL,
						"invalid request: %s[%zu] is not a string", key, i);
		strings[i] = strdup(json_object_get_string(item));
		if (strings[i] == NULL)
			return dv_error_set(err, ENOMEM, "cannot parse %s", key);
	}
	return 0;
}

static const char *optional_string(struct json_object *request, const char *key)
{
	struct json_object *member;

	if (!json_object_object_get_ex(request, key, &member) ||
	    !json_object_is_type(member, json_type_string))
		return NULL;
	return json_object_get_string(member);
}

/* Read the integer member `key` into *out, which keeps its value when the
 * member is absent. A member of another type or outside min..max is
 * invalid. */
static int member_int(struct json_object *request, const char *key, int64_t min, int64_t max,
		      int64_t *out, struct dv_error *err)
{
	struct json_object *member;

	if (!json_object_object_get_ex(request, key, &member))
		return 0;
	if (!json_object_is_type(member, json_type_int))
		return dv_error_invalid(err, EINVAL,
					"invalid %s: must be a JSON number from %lld to %lld; see "
					"docs/api.md", key, (long long)min, (long long)max);

	int64_t value = json_object_get_int64(member);

	if (value < min || value > max)
		return dv_error_invalid(err, EINVAL, "invalid %s %lld: must be from %lld to %lld",
					key, (long long)value, (long long)min, (long long)max);
	*out = value;
	return 0;
}

static bool optional_bool(struct json_object *request, const char *key)
{
	struct json_object *member;

	return json_object_object_get_ex(request, key, &member) && json_object_get_boolean(member);
}

/* Reject optional members of the wrong JSON type, which would otherwise
 * count as absent or be converted. */
static int check_member_types(struct json_object *request, struct dv_error *err)
{
	static const char *const strings[] = {"template", "cwd", "app", "start", "file_name",
					      "name"};
	static const char *const booleans[] = {"tty", "view_only"};
	struct json_object *member;

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		if (json_object_object_get_ex(request, strings[i], &member) &&
		    !json_object_is_type(member, json_type_string))
			return dv_error_invalid(err, EINVAL,
						"invalid %s: must be a JSON string; see docs/api.md",
						strings[i]);
	}
	for (size_t i = 0; i < sizeof(booleans) / sizeof(booleans[0]); i++) {
		if (json_object_object_get_ex(request, booleans[i], &member) &&
		    !json_object_is_type(member, json_type_boolean))
			return dv_error_invalid(err, EINVAL,
						"invalid %s: must be true or false; see docs/api.md",
						booleans[i]);
	}
	return 0;
}

static int check_env(char **env, struct dv_error *err)
{
	for (size_t i = 0; env[i] != NULL; i++) {
		if (!dv_env_entry_valid(env[i]))
			return dv_error_invalid(err, EINVAL,
						"invalid env[%zu] \"%s\": need NAME=VALUE with a NAME "
						"of letters, digits and '_', not starting with a digit",
						i, env[i]);
	}
	return 0;
}

static int parse_open_fields(struct json_object *request, struct vm_request *out,
			     struct dv_error *err)
{
	const char *file_name = optional_string(request, "file_name");
	int64_t file_size = -1;
	const char *app = optional_string(request, "app");
	int ret = member_int(request, "file_size", 0, INT64_MAX, &file_size, err);

	if (ret < 0)
		return ret;
	if (file_name == NULL || !dv_file_name_valid(file_name, strlen(file_name)))
		return dv_error_invalid(err, EINVAL,
					"invalid file_name: need a base name of 1..255 bytes without '/'");
	if (file_size < 0)
		return dv_error_invalid(err, EINVAL, "missing file_size: need a number >= 0");
	out->file_name = strdup(file_name);
	out->app = strdup(app != NULL ? app : "");
	out->file_size = (uint64_t)file_size;
	out->view_only = optional_bool(request, "view_only");
	if (out->file_name == NULL || out->app == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse the open request");
	return 0;
}

static int parse_start(struct json_object *request, enum vm_start *out, struct dv_error *err)
{
	static const char *const names[] = {"auto", "pool", "restore", "boot"};
	static const enum vm_start values[] = {VM_START_AUTO, VM_START_POOL, VM_START_RESTORE,
					       VM_START_BOOT};
	const char *start = optional_string(request, "start");

	*out = VM_START_AUTO;
	if (start == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(start, names[i]) == 0) {
			*out = values[i];
			return 0;
		}
	}
	return dv_error_invalid(err, EINVAL, "invalid start %s: must be auto, pool, restore or boot",
				start);
}

static int parse_request(struct json_object *request, bool open, struct vm_request *out,
			 struct dv_error *err)
{
	int ret;
	const char *cwd = optional_string(request, "cwd");
	int64_t rows = 24;
	int64_t cols = 80;

	memset(out, 0, sizeof(*out));
	out->kind = open ? VM_KIND_OPEN : VM_KIND_RUN;
	ret = check_member_types(request, err);
	if (ret == 0)
		ret = parse_start(request, &out->start, err);
	if (ret == 0)
		ret = member_int(request, "rows", DV_TERMINAL_SIZE_MIN, DV_TERMINAL_SIZE_MAX, &rows,
				 err);
	if (ret == 0)
		ret = member_int(request, "cols", DV_TERMINAL_SIZE_MIN, DV_TERMINAL_SIZE_MAX, &cols,
				 err);
	if (ret < 0)
		return ret;
	out->tty = optional_bool(request, "tty");
	out->rows = (uint16_t)rows;
	out->cols = (uint16_t)cols;
	out->cwd = strdup(cwd != NULL ? cwd : "");
	if (out->cwd == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse the request");
	ret = string_array(request, "env", &out->env, err);
	if (ret == 0)
		ret = check_env(out->env, err);
	/* An open request has no argv: the guest runs `app` or the mailcap
	 * entry, so its argv stays the empty array. */
	if (ret == 0)
		ret = open ? string_array(request, "", &out->argv, err)
			   : string_array(request, "argv", &out->argv, err);
	if (ret < 0)
		return ret;
	if (open)
		return parse_open_fields(request, out, err);
	if (out->argv[0] == NULL)
		return dv_error_invalid(err, EINVAL, "invalid request: argv is empty");
	return 0;
}

static int check_memory(struct json_object *request, unsigned *memory_mib, struct dv_error *err)
{
	int64_t memory = 0; /* absent: the template's memory, see default_memory */
	int ret = member_int(request, "memory_mib", DV_MEMORY_MIN_MIB, DV_MEMORY_MAX_MIB, &memory,
			     err);

	*memory_mib = (unsigned)memory;
	return ret;
}

/* What every session request needs: a connection without a session and
 * `expected` pipe or socket fds. */
static int check_connection(struct client *client, const char *op, size_t expected,
			    const int *fds, size_t fd_count, struct dv_error *err)
{
	if (client->session != NULL)
		return dv_error_invalid(err, EBUSY, "this connection already has a session");
	if (fd_count != expected)
		return dv_error_invalid(err, EINVAL,
					"%s needs %zu fds (%s) sent as SCM_RIGHTS with the first "
					"byte of the request, got %zu; see docs/api.md",
					op, expected,
					expected == 5 ? "stdin, stdout, stderr, file_in, file_out"
						      : "stdin, stdout, stderr",
					fd_count);
	return relay_check_fds(fds, fd_count, err);
}

static void reject(struct client *client, struct vm_request *parsed, int *fds, size_t fd_count,
		   const char *error)
{
	vm_request_free(parsed);
	for (size_t i = 0; i < fd_count; i++)
		close(fds[i]);
	send_failure(client, error);
}

void api_start_session(struct client *client, struct json_object *request, bool open,
		       int *fds, size_t fd_count)
{
	struct dv_error err = {0};
	struct vm_request parsed;
	const char *op = open ? "open" : "run";
	const char *template_name = optional_string(request, "template");
	unsigned memory_mib = 0;
	struct vm_session *session = NULL;
	int ret = parse_request(request, open, &parsed, &err);

	if (ret == 0)
		ret = check_memory(request, &memory_mib, &err);
	if (ret == 0)
		ret = check_connection(client, op, open ? 5 : 3, fds, fd_count, &err);
	if (ret < 0) {
		reject(client, &parsed, fds, fd_count, err.message);
		return;
	}
	ret = vm_create(&parsed, template_name != NULL ? template_name : config_current()->template,
			memory_mib, client, &session, &err);
	if (ret < 0) {
		log_error("cannot start a VM: %s", err.message);
		reject(client, &parsed, fds, fd_count, err.message);
		return;
	}
	client->session = session;
	relay_attach(session, fds, fd_count);
}

/* The VM an exec request may join: it exists, its main session still
 * runs, and it has room for one more session. */
static int find_exec_vm(const char *name, struct vm **out, struct dv_error *err)
{
	struct vm *vm = name != NULL ? vm_find(name) : NULL;

	if (name == NULL)
		return dv_error_invalid(err, EINVAL, "invalid exec request: name must be a VM name");
	/* A VM that writes a savefile runs no commands, and a preloaded VM
	 * none before a run or open takes it; `list` hides both. */
	if (vm == NULL || vm->kind == VM_KIND_SAVE || vm->preloaded)
		return dv_error_invalid(err, ENOENT, "no VM named %s; list VMs with: dispvm ls",
					name);
	if (vm->state == VM_STOPPING || vm->main == NULL || vm->main->relay.exit_received)
		return dv_error_invalid(err, ESHUTDOWN,
					"%s is being destroyed; start a new VM with: dispvm run",
					name);
	if (relay_session_count(vm) >= VM_MAX_SESSIONS)
		return dv_error_invalid(err, EBUSY,
					"%s already runs %u sessions, the maximum per VM; wait "
					"for one to end", name, VM_MAX_SESSIONS);
	*out = vm;
	return 0;
}

void api_start_exec(struct client *client, struct json_object *request, int *fds,
		    size_t fd_count)
{
	struct dv_error err = {0};
	struct vm_request parsed;
	struct vm *vm = NULL;
	int ret = parse_request(request, false, &parsed, &err);

	if (ret == 0)
		ret = check_connection(client, "exec", 3, fds, fd_count, &err);
	if (ret == 0)
		ret = find_exec_vm(optional_string(request, "name"), &vm, &err);
	if (ret < 0) {
		reject(client, &parsed, fds, fd_count, err.message);
		return;
	}

	struct vm_session *session = relay_session_new(vm, &parsed, client, false);

	if (session == NULL) {
		reject(client, &parsed, fds, fd_count, "cannot start exec: out of memory");
		return;
	}
	client->session = session;
	relay_attach(session, fds, fd_count);
	/* In a VM that is still starting, the session waits for the agent:
	 * vm_agent_ready starts it after the main session. */
	if (vm->state == VM_RUNNING)
		relay_start(session);
	else
		log_info("%s: exec waits for the VM to start", vm->name);
}
