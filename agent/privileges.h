/* The fixed unprivileged user that runs every session's commands. */
#ifndef DISPVM_AGENT_PRIVILEGES_H
#define DISPVM_AGENT_PRIVILEGES_H

#include <stdbool.h>

#define USER_UID 1000
#define USER_GID 1000
#define USER_HOME "/home/user"

/* Drop supplementary groups, then the group, then the user id. Returns 0
 * or the negative errno of the first call that failed. */
int drop_privileges(void);

/*
 * Build the environment of a session's command: the defaults for the
 * user, TERM=xterm-256color when `tty`, then `extra` (NAME=VALUE entries,
 * replacing a default of the same name). Returns a malloc'ed
 * NULL-terminated array whose strings belong to the caller's inputs or to
 * static storage, or NULL when out of memory. Free the array only.
 */
char **build_environment(char *const *extra, bool tty);

#endif
