/* The verbs of `dispvm`. Each takes its own argument vector (argv[0] is
 * the verb) and returns the exit status. */
#ifndef DISPVM_CLI_COMMANDS_H
#define DISPVM_CLI_COMMANDS_H

int cmd_run(int argc, char *argv[]);
/* In cmd_run.c: a command in a running VM. */
int cmd_exec(int argc, char *argv[]);
int cmd_open(int argc, char *argv[]);
int cmd_ls(int argc, char *argv[]);
int cmd_kill(int argc, char *argv[]);
/* In cmd_template.c: `template build` and `template ls`. */
int cmd_template(int argc, char *argv[]);

/* Print "dispvm: MESSAGE" and return 125, the status of a dispvm failure. */
int cmd_fail(const char *message);

#endif
