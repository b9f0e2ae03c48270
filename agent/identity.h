/*
 * IDENTITY from the host: the guest's name, clock and entropy. Guests
 * restored from one savefile start with the same host name, clock and
 * random state, so the agent applies IDENTITY before anything runs and
 * answers READY; the host sends no START before that.
 */
#ifndef DISPVM_AGENT_IDENTITY_H
#define DISPVM_AGENT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Apply an IDENTITY payload and queue READY. Returns 0, or -EPROTO when
 * the payload is malformed or IDENTITY came twice. A failing system call
 * is logged and does not stop the guest. */
int identity_handle(const uint8_t *untrusted_payload, size_t length);

/* True once IDENTITY was applied. */
bool identity_applied(void);

#endif
