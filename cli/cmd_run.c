/* `run` and `exec`: a command in a new VM, or in one that runs already.
 * Both relay the same streams and report the same exit statuses. */
#include <stdio.h>

#include <json-c/json.h>

#include "args.h"
#include "commands.h"
#include "session.h"
#include "tty.h"

/* Options and exit statuses that run and exec share. */
#define COMMAND_OPTIONS_HELP \
	"  -t, --tty        run COMMAND under a terminal in the guest; the default when\n" \
	"                   standard input and output are both terminals\n" \
	"  -T, --no-tty     run COMMAND without a terminal even when standard input and\n" \
	"                   output are terminals\n" \
	"  -e NAME=VALUE    set the environment variable NAME for COMMAND; repeatable\n" \
	"  -h, --help       print this help and exit\n" \
	"\n" \
	"The exit status is COMMAND's, 128+N when a signal N killed it, 126 when it\n" \
	"could not be executed, 127 when it was not found, and 125 when dispvm failed.\n"

static const char run_usage[] =
	"Usage: dispvm run [OPTION]... [--] COMMAND [ARG]...\n"
	"Run COMMAND in a new disposable VM, connected to this terminal's standard\n"
	"input, output and error, and destroy the VM when it ends.\n"
	"\n"
	"  --template NAME  start from the template NAME (default: the daemon's,\n"
	"                   set in dispvm.conf, else minimal)\n"
	"  --memory MIB     guest memory in MiB, 64 to 65536 (default: the template's);\n"
	"                   another size than the template's boots the VM and\n"
	"                   cannot use the pool\n"
	"  --start HOW      auto (default): a preloaded VM from the pool, else restore\n"
	"                   the template's savefile, else boot; pool, restore or boot\n"
	"                   demand one way\n"
	COMMAND_OPTIONS_HELP;

static const char exec_usage[] =
	"Usage: dispvm exec NAME [OPTION]... [--] COMMAND [ARG]...\n"
	"Run COMMAND in the running disposable VM NAME (see 'dispvm ls'), connected\n"
	"to this terminal's standard input, output and error. The VM stays when\n"
	"COMMAND ends: it lives as long as the run or open that created it, and\n"
	"when that ends COMMAND is killed and exec fails with status 125.\n"
	"A VM that is still starting is waited for.\n"
	"\n"
	COMMAND_OPTIONS_HELP
	"Killing this command ends COMMAND only; the VM stays. A VM runs at most 16\n"
	"commands at once.\n";

static struct json_object *build_request(const struct run_options *options,
					 const struct session *session)
{
	struct json_object *request = json_object_new_object();
	struct json_object *argv = json_object_new_array();
	struct json_object *env = json_object_new_array();
	bool exec = options->vm_name != NULL;

	json_object_object_add(request, "op", json_object_new_string(exec ? "exec" : "run"));
	if (exec)
		json_object_object_add(request, "name", json_object_new_string(options->vm_name));
	for (size_t i = 0; i < options->command_count; i++)
		json_object_array_add(argv, json_object_new_string(options->command[i]));
	json_object_object_add(request, "argv", argv);
	for (size_t i = 0; i < options->env_count; i++)
		json_object_array_add(env, json_object_new_string(options->env[i]));
	json_object_object_add(request, "env", env);
	if (options->start != NULL)
		json_object_object_add(request, "start", json_object_new_string(options->start));
	if (options->memory_mib != 0)
		json_object_object_add(request, "memory_mib", json_object_new_int((int)options->memory_mib));
	session_fill_request(session, request, options->template_name);
	return request;
}

static int run_session(const struct run_options *options)
{
	struct session session;
	struct relay relay = {0};
	struct json_object *request = NULL;
	struct dv_error err = {0};
	int r;

	session_init(&session);
	session.tty = !options->no_tty && (options->tty || tty_both_terminals());
	if ((r = session_create_pairs(&session, 3, &err)) < 0)
		goto out;
	request = build_request(options, &session);
	if ((r = session_start(&session, request, &err)) < 0)
		goto out;
	session_add_stdio(&session, &relay);
	relay.joins_vm = options->vm_name != NULL;
	r = session_relay(&session, &relay, &err);
out:
	r = session_report(&relay, r, &err);
	json_object_put(request);
	session_close(&session);
	return r;
}

/* `run` and `exec` differ only in their parser and help. */
static int run_or_exec(int argc, char *argv[],
		       int (*parse)(int, char **, struct run_options *, struct dv_error *),
		       const char *usage)
{
	struct run_options options;
	struct dv_error err = {0};
	int status;

	if (parse(argc, argv, &options, &err) < 0)
		return cmd_fail(err.message);
	if (options.help) {
		fputs(usage, stdout);
		args_free_run(&options);
		return 0;
	}
	options.env[options.env_count] = NULL;
	if (session_check_start_size((const char *const *)options.command,
				     (const char *const *)options.env, NULL, NULL, &err) < 0) {
		args_free_run(&options);
		return cmd_fail(err.message);
	}
	status = run_session(&options);
	args_free_run(&options);
	return status;
}

int cmd_run(int argc, char *argv[])
{
	return run_or_exec(argc, argv, args_parse_run, run_usage);
}

int cmd_exec(int argc, char *argv[])
{
	return run_or_exec(argc, argv, args_parse_exec, exec_usage);
}
