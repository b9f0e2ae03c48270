/* The QMP client of one QEMU: greeting, capabilities negotiation, quit. */
#ifndef DISPVMD_QMP_H
#define DISPVMD_QMP_H

#include <stdbool.h>

#include "buffer.h"

struct qmp {
	struct buffer input;
	bool ready; /* capabilities accepted */
	bool quit_requested;
	const char *vm_name;
};

/* Handle readable bytes on `fd`. Returns 0, or -EPIPE when QEMU closed
 * the socket, or another negative errno value. */
int qmp_read(struct qmp *qmp, int fd);

/* Ask QEMU to quit. Returns 0, -EAGAIN before QMP is ready, or another
 * negative errno value. */
int qmp_quit(struct qmp *qmp, int fd);

void qmp_free(struct qmp *qmp);

#endif
