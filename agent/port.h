/*
 * The virtio-serial port to the host: finding it, and framed, buffered,
 * non-blocking reads and writes. There is one port per guest, so its state
 * is private to port.c.
 */
#ifndef DISPVM_AGENT_PORT_H
#define DISPVM_AGENT_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispvm-protocol.h"

/* Find the port named DV_PORT_NAME, waiting up to `timeout_ms` for it to
 * appear, and open it non-blocking. Returns the fd or a negative errno. */
int port_open(int timeout_ms);

/* Queue one frame. Returns 0 or -ENOMEM. */
int port_send(uint16_t type, uint32_t channel, const void *payload, size_t length);
int port_send_window(uint32_t channel, uint16_t stream, uint32_t increment);
int port_send_exit(uint32_t channel, uint32_t kind, int32_t value, const char *message);

/* Write queued frames until the port would block. Returns 0 or a negative
 * errno when the port failed. */
int port_flush(void);
bool port_output_pending(void);

/* Handler of one complete frame whose header passed dv_header_check. The
 * payload is untrusted. Returns 0, or -EPROTO for a violation. */
typedef int (*port_frame_handler)(const struct dv_header *header, const uint8_t *untrusted_payload);

/* Read what the port has and pass each complete frame to `handler`.
 * Returns 0, -EPIPE when the host closed the port, -EPROTO on a protocol
 * violation, or another negative errno. */
int port_receive(port_frame_handler handler);

#endif
