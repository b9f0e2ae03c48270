#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

/* Walks the argument vector of one verb. */
struct cursor {
	int argc;
	char **argv;
	int index;
	const char *verb;
};

/*
 * Match `arg` against an option spelled `long_name` or `short_name` (either
 * may be NULL). Sets *inline_value for "--name=value" and "-xvalue", else
 * NULL.
 */
static bool option_matches(const char *arg, const char *long_name, const char *short_name,
			   const char **inline_value)
{
	*inline_value = NULL;
	if (long_name != NULL) {
		size_t length = strlen(long_name);

		if (strncmp(arg, long_name, length) == 0) {
			if (arg[length] == '\0')
				return true;
			if (arg[length] == '=') {
				*inline_value = arg + length + 1;
				return true;
			}
		}
	}
	if (short_name != NULL && strncmp(arg, short_name, 2) == 0) {
		if (arg[2] != '\0')
			*inline_value = arg + 2;
		return true;
	}
	return false;
}

static int unknown_option(const struct cursor *cursor, const char *arg, struct dv_error *err)
{
	return dv_error_invalid(err, EINVAL, "unknown option '%s' for '%s'; see 'dispvm %s --help'",
				arg, cursor->verb, cursor->verb);
}

/* Take the value of an option that requires one, inline or from the next
 * argument. */
static int take_value(struct cursor *cursor, const char *option, const char *inline_value,
		      const char **value, struct dv_error *err)
{
	if (inline_value != NULL) {
		*value = inline_value;
		return 0;
	}
	if (cursor->index + 1 >= cursor->argc)
		return dv_error_invalid(err, EINVAL, "option '%s' of '%s' requires a value; see 'dispvm %s --help'",
					option, cursor->verb, cursor->verb);
	cursor->index++;
	*value = cursor->argv[cursor->index];
	return 0;
}

/* Match a flag that takes no value; an inline value is an error. */
static int match_flag(const struct cursor *cursor, const char *arg, const char *long_name,
		      const char *short_name, struct dv_error *err)
{
	const char *inline_value;

	if (!option_matches(arg, long_name, short_name, &inline_value))
		return 0;
	if (inline_value != NULL)
		return dv_error_invalid(err, EINVAL, "option '%s' of '%s' takes no value; see 'dispvm %s --help'",
					long_name, cursor->verb, cursor->verb);
	return 1;
}

static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

int args_parse_memory(const char *text, unsigned *mib, struct dv_error *err)
{
	unsigned long value = 0;

	if (text[0] == '\0' || strspn(text, "0123456789") != strlen(text) || strlen(text) > 6)
		return dv_error_invalid(err, EINVAL,
					"invalid --memory '%s'; give a whole number of MiB from %u to %u",
					text, ARGS_MEMORY_MIN_MIB, ARGS_MEMORY_MAX_MIB);
	value = strtoul(text, NULL, 10);
	if (!dv_memory_mib_valid((int64_t)value))
		return dv_error_invalid(err, EINVAL,
					"--memory %s is out of range; give a whole number of MiB from %u to %u",
					text, ARGS_MEMORY_MIN_MIB, ARGS_MEMORY_MAX_MIB);
	*mib = (unsigned)value;
	return 0;
}

int args_check_env(const char *entry, struct dv_error *err)
{
	if (!dv_env_entry_valid(entry))
		return dv_error_invalid(err, EINVAL, "invalid -e '%s'; give NAME=VALUE with a NAME of letters, digits and '_'",
					entry);
	return 0;
}

int args_check_start(const char *value, struct dv_error *err)
{
	static const char *const names[] = {"auto", "pool", "restore", "boot"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0)
			return 0;
	}
	return dv_error_invalid(err, EINVAL, "invalid --start '%s'; give auto, pool, restore or boot",
				value);
}

/* Parse --start into *start. Returns 1 when `arg` is --start, 0 when it
 * is not, or a negative errno value. */
static int start_option(struct cursor *cursor, const char *arg, const char **start,
			struct dv_error *err)
{
	const char *inline_value;
	const char *value = NULL;
	int r;

	if (!option_matches(arg, "--start", NULL, &inline_value))
		return 0;
	if ((r = take_value(cursor, "--start", inline_value, &value, err)) < 0 ||
	    (r = args_check_start(value, err)) < 0)
		return r;
	*start = value;
	return 1;
}

static int check_template(const char *name, struct dv_error *err)
{
	if (!dv_template_name_valid(name))
		return dv_error_invalid(err, EINVAL,
					"invalid template name '%s'; use 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit",
					name);
	return 0;
}

/* Parse one option of `run` or `exec` at the cursor (exec has no
 * --template, --start and --memory: its VM runs already). Returns 1 when it
 * matched, 0 when it is unknown, or a negative errno value. */
static int run_option(struct cursor *cursor, struct run_options *options, struct dv_error *err)
{
	bool creates_vm = strcmp(cursor->verb, "run") == 0;
	const char *arg = cursor->argv[cursor->index];
	const char *inline_value;
	const char *value = NULL;
	int r;

	if ((r = match_flag(cursor, arg, "--help", "-h", err)) != 0) {
		options->help = true;
		return r;
	}
	/* The last of -t and -T wins. */
	if ((r = match_flag(cursor, arg, "--tty", "-t", err)) != 0) {
		options->tty = true;
		options->no_tty = false;
		return r;
	}
	if ((r = match_flag(cursor, arg, "--no-tty", "-T", err)) != 0) {
		options->no_tty = true;
		options->tty = false;
		return r;
	}
	if (creates_vm && option_matches(arg, "--template", NULL, &inline_value)) {
		if ((r = take_value(cursor, "--template", inline_value, &value, err)) < 0 ||
		    (r = check_template(value, err)) < 0)
			return r;
		options->template_name = value;
		return 1;
	}
	if (creates_vm && (r = start_option(cursor, arg, &options->start, err)) != 0)
		return r;
	if (creates_vm && option_matches(arg, "--memory", NULL, &inline_value)) {
		if ((r = take_value(cursor, "--memory", inline_value, &value, err)) < 0 ||
		    (r = args_parse_memory(value, &options->memory_mib, err)) < 0)
			return r;
		return 1;
	}
	if (option_matches(arg, "--env", "-e", &inline_value)) {
		if ((r = take_value(cursor, "-e", inline_value, &value, err)) < 0 ||
		    (r = args_check_env(value, err)) < 0)
			return r;
		options->env[options->env_count++] = (char *)value;
		return 1;
	}
	return 0;
}

/* The options of run or exec, up to COMMAND. For exec the first word
 * that is not an option is the VM name, and options may follow it. */
static int parse_command_options(struct cursor *cursor, struct run_options *options,
				 bool takes_name, struct dv_error *err)
{
	int r;

	for (; cursor->index < cursor->argc; cursor->index++) {
		const char *arg = cursor->argv[cursor->index];

		if (strcmp(arg, "--") == 0) {
			cursor->index++;
			return 0;
		}
		if (!is_option(arg) && takes_name && options->vm_name == NULL) {
			options->vm_name = arg;
			continue;
		}
		if (!is_option(arg))
			return 0;
		r = run_option(cursor, options, err);
		if (r == 0)
			r = unknown_option(cursor, arg, err);
		if (r < 0)
			return r;
		if (options->help)
			return 0;
	}
	return 0;
}

static int parse_command_verb(int argc, char *argv[], const char *verb,
			      struct run_options *options, struct dv_error *err)
{
	struct cursor cursor = {argc, argv, 1, verb};
	bool takes_name = strcmp(verb, "exec") == 0;
	int r = 0;

	*options = (struct run_options){0};
	options->env = calloc((size_t)argc + 1, sizeof(*options->env));
	if (options->env == NULL)
		return dv_error_set(err, ENOMEM, "cannot parse the arguments of '%s'", verb);
	r = parse_command_options(&cursor, options, takes_name, err);
	if (r < 0)
		goto fail;
	if (options->help)
		return 0;
	if (takes_name && options->vm_name == NULL) {
		r = dv_error_invalid(err, EINVAL, "'exec' requires a VM NAME; list VMs with: dispvm ls");
		goto fail;
	}
	options->command = argv + cursor.index;
	options->command_count = (size_t)(argc - cursor.index);
	if (options->command_count == 0) {
		r = dv_error_invalid(err, EINVAL, "'%s' requires a COMMAND; see 'dispvm %s --help'",
				     verb, verb);
		goto fail;
	}
	return 0;

fail:
	args_free_run(options);
	return r;
}

int args_parse_run(int argc, char *argv[], struct run_options *options, struct dv_error *err)
{
	return parse_command_verb(argc, argv, "run", options, err);
}

int args_parse_exec(int argc, char *argv[], struct run_options *options, struct dv_error *err)
{
	return parse_command_verb(argc, argv, "exec", options, err);
}

void args_free_run(struct run_options *options)
{
	free(options->env);
	options->env = NULL;
	options->env_count = 0;
}

static int open_option(struct cursor *cursor, struct open_options *options, struct dv_error *err)
{
	const char *arg = cursor->argv[cursor->index];
	const char *inline_value;
	const char *value = NULL;
	int r;

	if ((r = match_flag(cursor, arg, "--help", "-h", err)) != 0) {
		options->help = true;
		return r;
	}
	if ((r = match_flag(cursor, arg, "--view-only", NULL, err)) != 0) {
		options->view_only = true;
		return r;
	}
	if (option_matches(arg, "--template", NULL, &inline_value)) {
		if ((r = take_value(cursor, "--template", inline_value, &value, err)) < 0 ||
		    (r = check_template(value, err)) < 0)
			return r;
		options->template_name = value;
		return 1;
	}
	if ((r = start_option(cursor, arg, &options->start, err)) != 0)
		return r;
	if (option_matches(arg, "--app", NULL, &inline_value)) {
		if ((r = take_value(cursor, "--app", inline_value, &value, err)) < 0)
			return r;
		if (value[0] == '\0')
			return dv_error_invalid(err, EINVAL, "--app is empty; give a command such as 'nano' or leave --app out");
		options->app = value;
		return 1;
	}
	return 0;
}

static int set_file(struct open_options *options, const char *file, struct dv_error *err)
{
	if (options->file != NULL)
		return dv_error_invalid(err, EINVAL, "'open' takes one FILE but got '%s' and '%s'; open each in its own dispvm",
					options->file, file);
	if (file[0] == '\0')
		return dv_error_invalid(err, EINVAL, "FILE is empty; give the path of a regular file");
	options->file = file;
	return 0;
}

int args_parse_open(int argc, char *argv[], struct open_options *options, struct dv_error *err)
{
	struct cursor cursor = {argc, argv, 1, "open"};
	bool options_done = false;
	int r;

	*options = (struct open_options){0};
	for (; cursor.index < argc; cursor.index++) {
		const char *arg = argv[cursor.index];

		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (options_done || !is_option(arg)) {
			if ((r = set_file(options, arg, err)) < 0)
				return r;
			continue;
		}
		r = open_option(&cursor, options, err);
		if (r == 0)
			r = unknown_option(&cursor, arg, err);
		if (r < 0)
			return r;
		if (options->help)
			return 0;
	}
	if (options->file == NULL)
		return dv_error_invalid(err, EINVAL, "'open' requires a FILE; see 'dispvm open --help'");
	return 0;
}

int args_parse_ls(int argc, char *argv[], struct ls_options *options, struct dv_error *err)
{
	struct cursor cursor = {argc, argv, 1, "ls"};
	int r;

	*options = (struct ls_options){0};
	for (; cursor.index < argc; cursor.index++) {
		const char *arg = argv[cursor.index];

		if ((r = match_flag(&cursor, arg, "--help", "-h", err)) != 0) {
			if (r < 0)
				return r;
			options->help = true;
			return 0;
		}
		if ((r = match_flag(&cursor, arg, "--json", NULL, err)) != 0) {
			if (r < 0)
				return r;
			options->json = true;
			continue;
		}
		if ((r = match_flag(&cursor, arg, "--all", "-a", err)) != 0) {
			if (r < 0)
				return r;
			options->all = true;
			continue;
		}
		if (is_option(arg))
			return unknown_option(&cursor, arg, err);
		return dv_error_invalid(err, EINVAL, "'ls' takes no arguments but got '%s'; see 'dispvm ls --help'", arg);
	}
	return 0;
}

int args_parse_kill(int argc, char *argv[], struct kill_options *options, struct dv_error *err)
{
	struct cursor cursor = {argc, argv, 1, "kill"};
	int r;

	*options = (struct kill_options){0};
	for (; cursor.index < argc; cursor.index++) {
		const char *arg = argv[cursor.index];

		if (strcmp(arg, "--") == 0) {
			cursor.index++;
			break;
		}
		if (!is_option(arg))
			break;
		if ((r = match_flag(&cursor, arg, "--help", "-h", err)) != 0) {
			if (r < 0)
				return r;
			options->help = true;
			return 0;
		}
		return unknown_option(&cursor, arg, err);
	}
	options->names = argv + cursor.index;
	options->name_count = (size_t)(argc - cursor.index);
	if (options->name_count == 0)
		return dv_error_invalid(err, EINVAL, "'kill' requires at least one NAME; list VMs with: dispvm ls");
	return 0;
}
