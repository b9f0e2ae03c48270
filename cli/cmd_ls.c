#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "args.h"
#include "client.h"
#include "commands.h"

static const char ls_usage[] =
	"Usage: dispvm ls [--all] [--json]\n"
	"List the running disposable VMs.\n"
	"\n"
	"  -a, --all   also list the pool's preloaded VMs, in state preloading\n"
	"              (restoring) or preloaded (paused, ready to be taken)\n"
	"  --json      print a JSON array of objects with the keys name, state,\n"
	"              template, accel, start (pool, restore or boot), memory (MiB),\n"
	"              uptime (seconds) and command\n"
	"  -h, --help  print this help and exit\n";

/* One row, as printed. */
struct vm_row {
	const char *name;
	const char *state;
	const char *template_name;
	const char *accel;
	const char *start;
	int64_t memory_mib;
	int64_t uptime_s;
	const char *command;
};

static const char *get_string(struct json_object *object, const char *key)
{
	struct json_object *value;

	if (json_object_object_get_ex(object, key, &value) && json_object_is_type(value, json_type_string))
		return json_object_get_string(value);
	return "";
}

static int64_t get_int(struct json_object *object, const char *key)
{
	struct json_object *value;

	if (json_object_object_get_ex(object, key, &value) && json_object_is_type(value, json_type_int))
		return json_object_get_int64(value);
	return 0;
}

static void read_row(struct json_object *vm, struct vm_row *row)
{
	row->name = get_string(vm, "name");
	row->state = get_string(vm, "state");
	row->template_name = get_string(vm, "template");
	row->accel = get_string(vm, "accel");
	row->start = get_string(vm, "start");
	row->memory_mib = get_int(vm, "memory_mib");
	row->uptime_s = get_int(vm, "uptime_ms") / 1000;
	row->command = get_string(vm, "command");
}

/* Format seconds as "42s", "3m05s" or "2h01m". */
static void format_uptime(int64_t seconds, char *out, size_t size)
{
	if (seconds < 60)
		snprintf(out, size, "%" PRId64 "s", seconds);
	else if (seconds < 3600)
		snprintf(out, size, "%" PRId64 "m%02" PRId64 "s", seconds / 60, seconds % 60);
	else
		snprintf(out, size, "%" PRId64 "h%02" PRId64 "m", seconds / 3600, seconds / 60 % 60);
}

static void print_json(struct json_object *vms)
{
	struct json_object *out = json_object_new_array();
	size_t count = vms != NULL ? json_object_array_length(vms) : 0;

	for (size_t i = 0; i < count; i++) {
		struct json_object *item = json_object_new_object();
		struct vm_row row;

		read_row(json_object_array_get_idx(vms, i), &row);
		json_object_object_add(item, "name", json_object_new_string(row.name));
		json_object_object_add(item, "state", json_object_new_string(row.state));
		json_object_object_add(item, "template", json_object_new_string(row.template_name));
		json_object_object_add(item, "accel", json_object_new_string(row.accel));
		json_object_object_add(item, "start", json_object_new_string(row.start));
		json_object_object_add(item, "memory", json_object_new_int64(row.memory_mib));
		json_object_object_add(item, "uptime", json_object_new_int64(row.uptime_s));
		json_object_object_add(item, "command", json_object_new_string(row.command));
		json_object_array_add(out, item);
	}
	puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(out);
}

static void print_table(struct json_object *vms)
{
	size_t count = vms != NULL ? json_object_array_length(vms) : 0;
	int widths[4] = {4, 5, 8, 5};

	for (size_t i = 0; i < count; i++) {
		struct vm_row row;

		read_row(json_object_array_get_idx(vms, i), &row);
		const char *cells[4] = {row.name, row.state, row.template_name, row.accel};
		for (int c = 0; c < 4; c++)
			if ((int)strlen(cells[c]) > widths[c])
				widths[c] = (int)strlen(cells[c]);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %6s  %6s  %s\n", widths[0], "NAME", widths[1], "STATE", widths[2],
	       "TEMPLATE", widths[3], "ACCEL", "MEMORY", "UPTIME", "COMMAND");
	for (size_t i = 0; i < count; i++) {
		struct vm_row row;
		char memory[32];
		char uptime[32];

		read_row(json_object_array_get_idx(vms, i), &row);
		snprintf(memory, sizeof(memory), "%" PRId64 "M", row.memory_mib);
		format_uptime(row.uptime_s, uptime, sizeof(uptime));
		printf("%-*s  %-*s  %-*s  %-*s  %6s  %6s  %s\n", widths[0], row.name, widths[1], row.state,
		       widths[2], row.template_name, widths[3], row.accel, memory, uptime, row.command);
	}
}

/* Ask the daemon, starting it if needed, for its VMs. */
static int request_list(bool all, struct json_object **reply, struct dv_error *err)
{
	struct json_object *request;
	struct line_reader reader;
	int fd;
	int r;

	*reply = NULL;
	fd = client_connect(err);
	if (fd < 0)
		return fd;
	if (line_reader_init(&reader) < 0) {
		close(fd);
		return dv_error_set(err, ENOMEM, "cannot list the VMs");
	}
	request = json_object_new_object();
	json_object_object_add(request, "op", json_object_new_string("list"));
	if (all)
		json_object_object_add(request, "all", json_object_new_boolean(1));
	r = client_send(fd, request, NULL, 0, err);
	if (r == 0)
		r = client_read_line(fd, &reader, reply, err);
	json_object_put(request);
	line_reader_free(&reader);
	close(fd);
	return r < 0 ? r : 0;
}

int cmd_ls(int argc, char *argv[])
{
	struct ls_options options;
	struct dv_error err = {0};
	struct json_object *reply;
	struct json_object *vms = NULL;
	struct json_object *ok;

	if (args_parse_ls(argc, argv, &options, &err) < 0)
		return cmd_fail(err.message);
	if (options.help) {
		fputs(ls_usage, stdout);
		return 0;
	}
	if (request_list(options.all, &reply, &err) < 0)
		return cmd_fail(err.message);
	if (reply != NULL && json_object_object_get_ex(reply, "ok", &ok) && !json_object_get_boolean(ok)) {
		int status = cmd_fail(json_object_get_string(json_object_object_get(reply, "error")));

		json_object_put(reply);
		return status;
	}
	if (reply != NULL)
		json_object_object_get_ex(reply, "vms", &vms);
	if (options.json)
		print_json(vms);
	else
		print_table(vms);
	json_object_put(reply);
	return 0;
}
