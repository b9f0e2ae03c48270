/* Relay between each session's client fds and the guest's streams of its
 * channel. */
#ifndef DISPVMD_RELAY_H
#define DISPVMD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct client;
struct vm;
struct vm_request;
struct vm_session;

/* Check that each fd is a pipe or a socket. */
int relay_check_fds(const int *fds, size_t count, struct dv_error *err);

/* Add a session for `request` (whose strings it takes over) and `client`
 * to `vm`; it waits for relay_start. Returns NULL when out of memory (the
 * request is freed then). */
struct vm_session *relay_session_new(struct vm *vm, struct vm_request *request,
				     struct client *client, bool main);

/* Sessions of `vm`, the main one and any closing ones included. */
unsigned relay_session_count(const struct vm *vm);

/* Take the client fds: stdin, stdout, stderr and, for open, file_in and
 * file_out. Sets O_NONBLOCK. */
void relay_attach(struct vm_session *session, int *fds, size_t count);

/* Send START for the session on a new channel and begin moving bytes.
 * Returns false when that failed and the VM (for the main session) or
 * the session was destroyed. */
bool relay_start(struct vm_session *session);

/* The guest's socket accepted all queued bytes, or drained below the
 * limit: read client input of every session again. */
void relay_resume_input(struct vm *vm);

/* The session's client closed its connection: for the main session the
 * VM is destroyed; an exec session is closed in the guest (CLOSE) and
 * freed once the guest's EXIT arrives. */
void relay_client_left(struct vm_session *session);

/* The VM is stopping: close every session's fds and send each client its
 * last event (the main client gets `main_error` unless it is NULL). */
void relay_vm_stopping(struct vm *vm, const char *cause, const char *main_error);

/* Close the fds of every session and free the sessions. */
void relay_free_all(struct vm *vm);

/* Forward a client's signal to the session's command. Before the command
 * started, the signal ends the session instead (relay_end_before_command). */
void relay_send_signal(struct vm_session *session, uint32_t signo);

/* End a session whose client sent signal `signo` before the guest started
 * its command: the client gets exit status 128+signo, and for the main
 * session the VM is destroyed; an exec session is freed. */
void relay_end_before_command(struct vm_session *session, uint32_t signo);
void relay_send_resize(struct vm_session *session, uint16_t rows, uint16_t cols);

/* Handle bytes read from the guest; returns 0, -EPROTO after destroying
 * the VM, or -ECANCELED when the VM ended. */
int relay_feed_guest(struct vm *vm, const uint8_t *untrusted_bytes, size_t length);

/* Between relay.c and sessions.c. */
struct relay_output;

/* The session of live `channel`, or NULL. */
struct vm_session *relay_session_find(struct vm *vm, uint32_t channel);

/* Queue a frame on the session's channel; destroys the VM on -ENOMEM. */
int relay_send(struct vm_session *session, uint16_t type, const void *payload,
	       uint32_t length);

/* Send EOF on DV_MSG_STDIN or DV_MSG_FILE_IN and close that client fd. */
void relay_end_input(struct vm_session *session, uint16_t type);

/* Close the output once the guest ended it and everything was written. */
void relay_maybe_close_output(struct vm_session *session, struct relay_output *output);

/* Whether guest output still waits to be written to the client. */
bool relay_output_pending(const struct vm_session *session);

void relay_close_fds(struct vm_session *session);
/* Close the client's output fds and credit the guest for the bytes that
 * were still waiting for them, so the guest can flush and send EXIT. */
void relay_discard_output(struct vm_session *session);
void relay_close_output_fd(struct relay_output *output);

/* After EXIT, once all output is written: send the exit event, then
 * destroy the VM (main session) or free the session (exec). Returns
 * -ECANCELED when the VM is stopping, else 0; the session may be freed
 * either way. */
int relay_try_finish(struct vm_session *session);

#endif
