/*
 * Option parsing for every dispvm verb. Each parser is a pure function of
 * its argument vector: it fills a struct and, on bad input, writes the one
 * line the CLI prints after "dispvm: " into `err` and returns -EINVAL.
 * argv[0] is the verb itself ("run", "open", ...). Strings in the structs
 * point into argv.
 */
#ifndef DISPVM_CLI_ARGS_H
#define DISPVM_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "request.h"

#define ARGS_MEMORY_MIN_MIB DV_MEMORY_MIN_MIB
#define ARGS_MEMORY_MAX_MIB DV_MEMORY_MAX_MIB

/* The options of `run`, and of `exec`, which names a VM instead of
 * choosing a template and memory. */
struct run_options {
	bool help;
	const char *vm_name;	   /* exec: the running VM */
	const char *template_name; /* NULL: the daemon's default template */
	unsigned memory_mib;	   /* 0: the template's memory */
	const char *start;	   /* --start: auto, pool, restore or boot; NULL: auto */
	bool tty;		   /* -t given */
	bool no_tty;		   /* -T given */
	char **env;		   /* NAME=VALUE entries, allocated array */
	size_t env_count;
	char **command; /* COMMAND and its arguments, a tail of argv */
	size_t command_count;
};

struct open_options {
	bool help;
	const char *template_name;
	bool view_only;
	const char *app; /* NULL: the template's mailcap entry */
	const char *start; /* --start, or NULL */
	const char *file;
};

struct ls_options {
	bool help;
	bool json;
	bool all; /* also the pool's preloaded VMs */
};

struct kill_options {
	bool help;
	char **names; /* a tail of argv */
	size_t name_count;
};

int args_parse_run(int argc, char *argv[], struct run_options *options, struct dv_error *err);
void args_free_run(struct run_options *options);

/* `exec NAME [-t] [-e NAME=VALUE]... [--] COMMAND [ARG]...`; free with
 * args_free_run. */
int args_parse_exec(int argc, char *argv[], struct run_options *options, struct dv_error *err);

int args_parse_open(int argc, char *argv[], struct open_options *options, struct dv_error *err);
int args_parse_ls(int argc, char *argv[], struct ls_options *options, struct dv_error *err);
int args_parse_kill(int argc, char *argv[], struct kill_options *options, struct dv_error *err);

/* Check a --start value: auto, pool, restore or boot. */
int args_check_start(const char *value, struct dv_error *err);

/* Parse a memory size in MiB: decimal digits only, 64..65536. */
int args_parse_memory(const char *text, unsigned *mib, struct dv_error *err);

/* Check an environment entry: NAME=VALUE with a non-empty NAME of
 * [A-Za-z0-9_] that does not start with a digit. */
int args_check_env(const char *entry, struct dv_error *err);

#endif
