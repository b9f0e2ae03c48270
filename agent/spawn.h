/*
 * Starting a session's command: a child in its own session, process
 * group and cgroup, with pipes or a pty for its standard streams, running
 * as the unprivileged user.
 */
#ifndef DISPVM_AGENT_SPAWN_H
#define DISPVM_AGENT_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dispvm-protocol.h"

struct spawn_request {
	char *const *argv;
	char *const *extra_env; /* NAME=VALUE entries from START */
	const char *cwd;        /* NULL or empty: the user's home */
	const char *cgroup;     /* directory the child joins */
	bool tty;
	uint16_t rows;
	uint16_t cols;
};

/* The parent's ends of the child's standard streams, all non-blocking
 * and close-on-exec. With a pty, stdout_fd is the master, stdin_fd a
 * duplicate of it and stderr_fd is -1. */
struct spawn_result {
	pid_t pid;
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
};

/* Reason a command did not start, as the EXIT message reports it. */
struct spawn_failure {
	uint32_t kind;  /* enum dv_exit_kind */
	int32_t value;  /* 127, 126 or 125 */
	char message[256];
};

/*
 * Fork and exec the command. Returns 0 once the exec succeeded, or a
 * negative errno with *failure filled in. A child that failed after the
 * fork still has to be reaped; result->pid names it.
 */
int spawn_process(const struct spawn_request *request, struct spawn_result *result,
		  struct spawn_failure *failure);

#endif
