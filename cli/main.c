/* dispvm: run applications and open files in disposable VMs. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const char main_usage[] =
	"Usage: dispvm COMMAND [OPTION]...\n"
	"Run an application in a disposable VM: a QEMU virtual machine created for\n"
	"it and destroyed when it ends.\n"
	"\n"
	"Commands:\n"
	"  run [OPTION]... [--] COMMAND [ARG]...  run COMMAND in a new VM\n"
	"  exec NAME [OPTION]... [--] COMMAND [ARG]...\n"
	"                                         run COMMAND in the running VM NAME\n"
	"  open [OPTION]... FILE                  edit a copy of FILE in a new VM\n"
	"  ls [--all] [--json]                    list the running VMs\n"
	"  kill NAME...                           destroy VMs\n"
	"  template build [NAME]                  build the template NAME\n"
	"  template ls                            list the templates\n"
	"\n"
	"Options:\n"
	"  -h, --help     print this help and exit\n"
	"  --version      print the version and exit\n"
	"\n"
	"See 'dispvm COMMAND --help' for the options of each command.\n"
	"dispvm starts dispvmd, the daemon that runs the VMs, when it is not running.\n";

struct verb {
	const char *name;
	int (*run)(int argc, char *argv[]);
};

static const struct verb verbs[] = {
	{"run", cmd_run},
	{"exec", cmd_exec},
	{"open", cmd_open},
	{"ls", cmd_ls},
	{"kill", cmd_kill},
	{"template", cmd_template},
};

int cmd_fail(const char *message)
{
	fprintf(stderr, "dispvm: %s\n", message);
	return 125;
}

int main(int argc, char *argv[])
{
	char message[256];

	/* A closed reader shows up as EPIPE, which the relay turns into a
	 * SIGPIPE for the command in the VM. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2)
		return cmd_fail("missing COMMAND; see 'dispvm --help'");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(main_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("dispvm %s\n", DISPVM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].run(argc - 1, argv + 1);

	if (argv[1][0] == '-')
		snprintf(message, sizeof(message), "unknown option '%.64s'; see 'dispvm --help'", argv[1]);
	else
		snprintf(message, sizeof(message), "unknown command '%.64s'; see 'dispvm --help'", argv[1]);
	return cmd_fail(message);
}
