/* QEMU's stderr, read through a pipe in the event loop: each line goes to
 * the daemon log under the VM's name, and the last one is kept for the
 * error a client gets when QEMU fails. */
#ifndef DISPVMD_QEMU_OUTPUT_H
#define DISPVMD_QEMU_OUTPUT_H

#include <stddef.h>

#include "error.h"
#include "loop.h"

/* Longest line kept; the rest of a longer line is dropped. */
#define QEMU_OUTPUT_LINE_MAX 512
/* Lines logged per QEMU process; later lines are only counted. */
#define QEMU_OUTPUT_MAX_LOGGED 32

struct qemu_output {
	int fd; /* read end of the pipe, -1 when closed */
	struct loop_source source;
	const char *vm_name;
	char partial[QEMU_OUTPUT_LINE_MAX]; /* the line being read */
	size_t partial_length;
	size_t dropped_length; /* bytes of the current line beyond the buffer */
	char last_line[QEMU_OUTPUT_LINE_MAX]; /* last non-empty line, "" if none */
	unsigned logged;
	unsigned suppressed;
};

void qemu_output_init(struct qemu_output *output);

/* Create the pipe and watch its read end. On success *write_fd is the end
 * for QEMU's stderr, which the caller closes once QEMU has it. */
int qemu_output_open(struct qemu_output *output, const char *vm_name, int *write_fd,
		     struct dv_error *err);

/* Read what the pipe has now, without blocking: call it once QEMU has
 * exited, before using the last line. */
void qemu_output_drain(struct qemu_output *output);

/* Drain, log a line cut off by the end of the pipe and the count of
 * suppressed lines, and close the pipe. Safe when already closed. */
void qemu_output_close(struct qemu_output *output);

#endif
