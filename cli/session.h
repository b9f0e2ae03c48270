/*
 * What `run` and `open` share: the socketpairs handed to dispvmd, the
 * common request members, sending the request and turning the outcome of
 * the relay into an exit status.
 */
#ifndef DISPVM_CLI_SESSION_H
#define DISPVM_CLI_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"
#include "relay.h"

#define SESSION_MAX_PAIRS 5

enum session_pair {
	SESSION_STDIN,
	SESSION_STDOUT,
	SESSION_STDERR,
	SESSION_FILE_IN,
	SESSION_FILE_OUT,
};

struct session {
	int control_fd;
	int local[SESSION_MAX_PAIRS];  /* the CLI's ends, nonblocking */
	int remote[SESSION_MAX_PAIRS]; /* the ends passed to dispvmd */
	size_t pair_count;
	bool tty;
};

void session_init(struct session *session);

/* Create `count` socketpairs, in enum session_pair order. */
int session_create_pairs(struct session *session, size_t count, struct dv_error *err);

/* Add template, tty, rows and cols to `request`. */
void session_fill_request(const struct session *session, struct json_object *request,
			  const char *template_name);

/* Connect (starting dispvmd if needed), send `request` with the remote
 * ends, and close the remote ends. */
int session_start(struct session *session, struct json_object *request, struct dv_error *err);

/* Add the relays of stdin, stdout and stderr. */
void session_add_stdio(struct session *session, struct relay *relay);

/* Run the relay with the terminal in raw mode when session->tty. Returns
 * what relay_run returns. */
int session_relay(struct session *session, struct relay *relay, struct dv_error *err);

/* Print the outcome of a relay that returned `r`, and return the exit
 * status. */
int session_report(const struct relay *relay, int r, const struct dv_error *err);

void session_close(struct session *session);

/* Check that the request fits in one START message of the guest protocol. */
int session_check_start_size(const char *const *argv, const char *const *envp,
			     const char *file_name, const char *app, struct dv_error *err);

#endif
