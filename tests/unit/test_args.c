/* Option parsing of the dispvm verbs (cli/args.c). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "writeback.h"

#define ARGC(argv) ((int)(sizeof(argv) / sizeof((argv)[0])) - 1)

static void run_full_options(void **state)
{
	char *argv[] = {"run", "--template", "web", "--memory=512", "-t", "-e", "A=1", "-eB=x=y",
			"--", "ls", "-l", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_run(ARGC(argv), argv, &options, &err), 0);
	assert_string_equal(options.template_name, "web");
	assert_int_equal(options.memory_mib, 512);
	assert_true(options.tty);
	assert_int_equal(options.env_count, 2);
	assert_string_equal(options.env[0], "A=1");
	assert_string_equal(options.env[1], "B=x=y");
	assert_int_equal(options.command_count, 2);
	assert_string_equal(options.command[0], "ls");
	assert_string_equal(options.command[1], "-l");
	args_free_run(&options);
}

static void run_stops_at_command(void **state)
{
	char *argv[] = {"run", "sh", "-c", "--help", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_run(ARGC(argv), argv, &options, &err), 0);
	assert_false(options.help);
	assert_int_equal(options.command_count, 3);
	assert_string_equal(options.command[2], "--help");
	args_free_run(&options);
}

static void run_help(void **state)
{
	char *argv[] = {"run", "--help", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_run(ARGC(argv), argv, &options, &err), 0);
	assert_true(options.help);
	args_free_run(&options);
}

static void run_no_tty_last_wins(void **state)
{
	char *no_tty_argv[] = {"run", "-t", "-T", "true", NULL};
	char *tty_argv[] = {"run", "--no-tty", "--tty", "true", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_run(ARGC(no_tty_argv), no_tty_argv, &options, &err), 0);
	assert_true(options.no_tty);
	assert_false(options.tty);
	args_free_run(&options);
	assert_int_equal(args_parse_run(ARGC(tty_argv), tty_argv, &options, &err), 0);
	assert_false(options.no_tty);
	assert_true(options.tty);
	args_free_run(&options);
}

/* Each invalid vector fails with a message that contains `expected`. */
static void run_rejects_bad_input(void **state)
{
	static const struct {
		char *argv[6];
		const char *expected;
	} cases[] = {
		{{"run", "--foo", "ls"}, "unknown option '--foo' for 'run'; see 'dispvm run --help'"},
		{{"run", "--memory"}, "option '--memory' of 'run' requires a value"},
		{{"run", "--memory", "63", "ls"}, "out of range"},
		{{"run", "--memory", "65537", "ls"}, "out of range"},
		{{"run", "--memory", "1e3", "ls"}, "invalid --memory '1e3'"},
		{{"run", "--memory", "-5", "ls"}, "invalid --memory '-5'"},
		{{"run", "--memory", "", "ls"}, "invalid --memory ''"},
		{{"run", "-e", "NOEQUALS", "ls"}, "invalid -e 'NOEQUALS'"},
		{{"run", "-e", "=v", "ls"}, "invalid -e '=v'"},
		{{"run", "-e", "1A=v", "ls"}, "invalid -e '1A=v'"},
		{{"run", "--template", "Bad/Name", "ls"}, "invalid template name 'Bad/Name'"},
		{{"run", "--tty=yes", "ls"}, "option '--tty' of 'run' takes no value"},
		{{"run"}, "'run' requires a COMMAND"},
		{{"run", "-t", "--"}, "'run' requires a COMMAND"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_options options;
		struct dv_error err = {0};
		int argc = 0;

		while (cases[i].argv[argc] != NULL)
			argc++;
		assert_int_equal(args_parse_run(argc, (char **)cases[i].argv, &options, &err), -EINVAL);
		if (strstr(err.message, cases[i].expected) == NULL)
			fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, cases[i].expected);
	}
}

static void exec_name_then_options(void **state)
{
	char *argv[] = {"exec", "disp3", "-t", "-e", "A=1", "--", "sh", "-c", "x", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_exec(ARGC(argv), argv, &options, &err), 0);
	assert_string_equal(options.vm_name, "disp3");
	assert_true(options.tty);
	assert_int_equal(options.env_count, 1);
	assert_int_equal(options.command_count, 3);
	assert_string_equal(options.command[0], "sh");
	args_free_run(&options);
}

static void exec_options_before_name(void **state)
{
	char *argv[] = {"exec", "--tty", "disp3", "true", "--help", NULL};
	struct run_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_exec(ARGC(argv), argv, &options, &err), 0);
	assert_string_equal(options.vm_name, "disp3");
	assert_false(options.help);
	assert_int_equal(options.command_count, 2);
	assert_string_equal(options.command[1], "--help");
	args_free_run(&options);
}

static void exec_rejects_bad_input(void **state)
{
	static const struct {
		char *argv[6];
		const char *expected;
	} cases[] = {
		{{"exec"}, "'exec' requires a VM NAME"},
		{{"exec", "--", "ls"}, "'exec' requires a VM NAME"},
		{{"exec", "disp1"}, "'exec' requires a COMMAND; see 'dispvm exec --help'"},
		{{"exec", "--template", "x", "disp1"}, "unknown option '--template' for 'exec'"},
		{{"exec", "disp1", "--memory=64", "ls"}, "unknown option '--memory=64' for 'exec'"},
		{{"exec", "disp1", "-e", "1A=v", "ls"}, "invalid -e '1A=v'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_options options;
		struct dv_error err = {0};
		int argc = 0;

		while (cases[i].argv[argc] != NULL)
			argc++;
		assert_int_equal(args_parse_exec(argc, (char **)cases[i].argv, &options, &err),
				 -EINVAL);
		if (strstr(err.message, cases[i].expected) == NULL)
			fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, cases[i].expected);
	}
}

static void memory_bounds(void **state)
{
	struct dv_error err = {0};
	unsigned mib = 0;

	assert_int_equal(args_parse_memory("64", &mib, &err), 0);
	assert_int_equal(mib, 64);
	assert_int_equal(args_parse_memory("65536", &mib, &err), 0);
	assert_int_equal(mib, 65536);
	assert_int_equal(args_parse_memory("0", &mib, &err), -EINVAL);
	assert_int_equal(args_parse_memory("99999999999999999999", &mib, &err), -EINVAL);
	assert_int_equal(args_parse_memory(" 64", &mib, &err), -EINVAL);
}

static void open_options_and_file(void **state)
{
	char *argv[] = {"open", "--template=minimal", "--view-only", "--app", "nano", "notes.txt", NULL};
	struct open_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_open(ARGC(argv), argv, &options, &err), 0);
	assert_string_equal(options.template_name, "minimal");
	assert_true(options.view_only);
	assert_string_equal(options.app, "nano");
	assert_string_equal(options.file, "notes.txt");
}

static void start_option(void **state)
{
	char *run_argv[] = {"run", "--start", "restore", "--", "true", NULL};
	char *open_argv[] = {"open", "--start=boot", "notes.txt", NULL};
	char *bad_argv[] = {"run", "--start", "snapshot", "true", NULL};
	char *missing_argv[] = {"run", "--start", NULL};
	struct run_options run;
	struct open_options open;
	struct dv_error err = {0};

	assert_int_equal(args_parse_run(ARGC(run_argv), run_argv, &run, &err), 0);
	assert_string_equal(run.start, "restore");
	args_free_run(&run);
	assert_int_equal(args_parse_open(ARGC(open_argv), open_argv, &open, &err), 0);
	assert_string_equal(open.start, "boot");
	assert_int_equal(args_parse_run(ARGC(bad_argv), bad_argv, &run, &err), -EINVAL);
	assert_non_null(strstr(err.message, "snapshot"));
	assert_int_equal(args_parse_run(ARGC(missing_argv), missing_argv, &run, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--start"));
	for (const char *const *name = (const char *const[]){"auto", "pool", "restore", "boot", NULL};
	     *name != NULL; name++)
		assert_int_equal(args_check_start(*name, &err), 0);
}

static void open_file_shaped_like_option(void **state)
{
	char *argv[] = {"open", "--", "--help", NULL};
	char *dash[] = {"open", "--", "-weird-name", NULL};
	struct open_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_open(ARGC(argv), argv, &options, &err), 0);
	assert_false(options.help);
	assert_string_equal(options.file, "--help");
	assert_int_equal(args_parse_open(ARGC(dash), dash, &options, &err), 0);
	assert_string_equal(options.file, "-weird-name");
}

static void open_rejects_bad_input(void **state)
{
	char *missing[] = {"open", "--view-only", NULL};
	char *two[] = {"open", "a", "b", NULL};
	char *unknown[] = {"open", "--editor", "vi", "a", NULL};
	char *empty_app[] = {"open", "--app", "", "a", NULL};
	struct open_options options;
	struct dv_error err = {0};

	assert_int_equal(args_parse_open(ARGC(missing), missing, &options, &err), -EINVAL);
	assert_non_null(strstr(err.message, "'open' requires a FILE"));
	assert_int_equal(args_parse_open(ARGC(two), two, &options, &err), -EINVAL);
	assert_non_null(strstr(err.message, "takes one FILE"));
	assert_int_equal(args_parse_open(ARGC(unknown), unknown, &options, &err), -EINVAL);
	assert_non_null(strstr(err.message, "unknown option '--editor' for 'open'"));
	assert_int_equal(args_parse_open(ARGC(empty_app), empty_app, &options, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--app is empty"));
}

static void ls_and_kill(void **state)
{
	char *ls_json[] = {"ls", "--json", NULL};
	char *ls_extra[] = {"ls", "disp1", NULL};
	char *kill_names[] = {"kill", "disp1", "disp2", NULL};
	char *kill_none[] = {"kill", NULL};
	struct ls_options ls;
	struct kill_options kill;
	struct dv_error err = {0};

	assert_int_equal(args_parse_ls(ARGC(ls_json), ls_json, &ls, &err), 0);
	assert_true(ls.json);
	assert_int_equal(args_parse_ls(ARGC(ls_extra), ls_extra, &ls, &err), -EINVAL);
	assert_int_equal(args_parse_kill(ARGC(kill_names), kill_names, &kill, &err), 0);
	assert_int_equal(kill.name_count, 2);
	assert_string_equal(kill.names[1], "disp2");
	assert_int_equal(args_parse_kill(ARGC(kill_none), kill_none, &kill, &err), -EINVAL);
}

static void conflict_names(void **state)
{
	char name[NAME_MAX * 2];
	char long_base[256];

	writeback_conflict_name("report.tar.gz", "disp42", 1, name, sizeof(name));
	assert_string_equal(name, "report.tar (edited in disp42).gz");
	writeback_conflict_name("notes", "disp42", 2, name, sizeof(name));
	assert_string_equal(name, "notes (edited in disp42) 2");
	writeback_conflict_name(".bashrc", "disp7", 1, name, sizeof(name));
	assert_string_equal(name, ".bashrc (edited in disp7)");

	memset(long_base, 'x', 251);
	memcpy(long_base + 251, ".txt", 5);
	writeback_conflict_name(long_base, "disp42", 3, name, sizeof(name));
	assert_int_equal(strlen(name), NAME_MAX);
	assert_non_null(strstr(name, " (edited in disp42) 3.txt"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run_full_options),
		cmocka_unit_test(run_stops_at_command),
		cmocka_unit_test(run_help),
		cmocka_unit_test(run_no_tty_last_wins),
		cmocka_unit_test(run_rejects_bad_input),
		cmocka_unit_test(exec_name_then_options),
		cmocka_unit_test(exec_options_before_name),
		cmocka_unit_test(exec_rejects_bad_input),
		cmocka_unit_test(memory_bounds),
		cmocka_unit_test(open_options_and_file),
		cmocka_unit_test(start_option),
		cmocka_unit_test(open_file_shaped_like_option),
		cmocka_unit_test(open_rejects_bad_input),
		cmocka_unit_test(ls_and_kill),
		cmocka_unit_test(conflict_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
