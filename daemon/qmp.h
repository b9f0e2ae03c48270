/*
 * The QMP client of one QEMU: greeting, capabilities negotiation, and
 * commands with a callback for each reply. QEMU answers commands in the
 * order it got them, so replies are matched to a FIFO of sent commands.
 */
#ifndef DISPVMD_QMP_H
#define DISPVMD_QMP_H

#include <json-c/json.h>
#include <stdbool.h>

#include "buffer.h"

/* Reply to a command: `result` is the "return" member, or NULL with
 * `error` set to QMP's error description (or "QEMU exited"). */
typedef void (*qmp_callback)(void *data, struct json_object *result, const char *error);

struct qmp_command;

struct qmp {
	struct buffer input;
	bool ready; /* capabilities accepted */
	bool quit_requested;
	const char *vm_name;
	struct qmp_command *queued; /* not yet sent: waiting for `ready` */
	struct qmp_command *sent;   /* sent, waiting for their reply */
};

/* Handle readable bytes on `fd`. Returns 0, or -EPIPE when QEMU closed
 * the socket, or another negative errno value. */
int qmp_read(struct qmp *qmp, int fd);

/*
 * Send `command` with `arguments` (a JSON object whose reference is taken,
 * or NULL) once QMP is ready, with `pass_fd` (or -1) attached as
 * SCM_RIGHTS; the caller keeps its own copy of `pass_fd`, which is
 * duplicated. `callback` (may be NULL) gets the reply. Returns 0 or a
 * negative errno value.
 */
int qmp_execute(struct qmp *qmp, int fd, const char *command, struct json_object *arguments,
		int pass_fd, qmp_callback callback, void *data);

/* Ask QEMU to quit. Returns 0, -EAGAIN before QMP is ready, or another
 * negative errno value. */
int qmp_quit(struct qmp *qmp, int fd);

/* Drop every command without calling its callback. */
void qmp_free(struct qmp *qmp);

#endif
