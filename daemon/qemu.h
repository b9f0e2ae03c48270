/* QEMU command line and process start. */
#ifndef DISPVMD_QEMU_H
#define DISPVMD_QEMU_H

#include <stddef.h>
#include <sys/types.h>

#include "accel.h"
#include "error.h"
#include "metadata.h"

struct qemu_config {
	const char *binary;
	const char *vm_name;
	enum accel accel;
	unsigned memory_mib;
	const struct template_metadata *template;
	int agent_fd; /* socketpair end for the virtio-serial port */
	int qmp_fd;   /* socketpair end for the QMP monitor */
	int incoming_fd; /* savefile to restore (read-only), or -1 to boot */
	int stderr_fd;   /* becomes QEMU's stderr; -1 keeps the daemon's */
};

/* Start QEMU; it dies with the daemon (PR_SET_PDEATHSIG). */
int qemu_spawn(const struct qemu_config *config, pid_t *pid, struct dv_error *err);

#endif
