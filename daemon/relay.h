/* Relay between the client's fds and the guest's streams. */
#ifndef DISPVMD_RELAY_H
#define DISPVMD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct vm;

/* Check that each fd is a pipe or a socket. */
int relay_check_fds(const int *fds, size_t count, struct dv_error *err);

/* Take the client fds: stdin, stdout, stderr and, for open, file_in and
 * file_out. Sets O_NONBLOCK. */
void relay_attach(struct vm *vm, int *fds, size_t count);

/* The session started: begin moving bytes. */
void relay_start(struct vm *vm);

/* The guest's socket accepted all queued bytes, or drained below the
 * limit: read client input again. */
void relay_resume_input(struct vm *vm);

/* Close every client fd. */
void relay_close(struct vm *vm);

void relay_send_signal(struct vm *vm, uint32_t signo);
void relay_send_resize(struct vm *vm, uint16_t rows, uint16_t cols);

/* Handle bytes read from the guest; returns 0, -EPROTO after destroying
 * the VM, or -ECANCELED when the VM ended. */
int relay_feed_guest(struct vm *vm, const uint8_t *untrusted_bytes, size_t length);

#endif
