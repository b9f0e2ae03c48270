#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <json-c/json.h>

#include "args.h"
#include "client.h"
#include "commands.h"

static const char kill_usage[] =
	"Usage: dispvm kill NAME...\n"
	"Destroy the disposable VMs NAME (as 'dispvm ls' shows them). The VMs that\n"
	"exist are destroyed even when other names are unknown.\n"
	"\n"
	"  -h, --help  print this help and exit\n";

static int send_kill(int fd, const struct kill_options *options, struct json_object **reply,
		     struct dv_error *err)
{
	struct json_object *request = json_object_new_object();
	struct json_object *names = json_object_new_array();
	struct line_reader reader;
	int r;

	json_object_object_add(request, "op", json_object_new_string("kill"));
	for (size_t i = 0; i < options->name_count; i++)
		json_object_array_add(names, json_object_new_string(options->names[i]));
	json_object_object_add(request, "names", names);
	if ((r = line_reader_init(&reader)) < 0) {
		json_object_put(request);
		return dv_error_set(err, ENOMEM, "cannot kill the VMs");
	}
	r = client_send(fd, request, NULL, 0, err);
	if (r == 0)
		r = client_read_line(fd, &reader, reply, err);
	line_reader_free(&reader);
	json_object_put(request);
	return r < 0 ? r : 0;
}

int cmd_kill(int argc, char *argv[])
{
	struct kill_options options;
	struct dv_error err = {0};
	struct json_object *reply = NULL;
	struct json_object *ok;
	int fd;
	int r;

	if (args_parse_kill(argc, argv, &options, &err) < 0)
		return cmd_fail(err.message);
	if (options.help) {
		fputs(kill_usage, stdout);
		return 0;
	}
	fd = client_connect(&err);
	if (fd < 0)
		return cmd_fail(err.message);
	r = send_kill(fd, &options, &reply, &err);
	close(fd);
	if (r < 0)
		return cmd_fail(err.message);
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		struct json_object *error = json_object_object_get(reply, "error");

		r = cmd_fail(error != NULL ? json_object_get_string(error) : "dispvmd rejected the kill request");
		json_object_put(reply);
		return r;
	}
	json_object_put(reply);
	return 0;
}
