/*
 * The QEMU machine of a disposable: the one definition of every QEMU
 * argument that shapes guest state. The daemon builds its command line
 * from it, and the savefile key (savefile.h) hashes it, so a savefile is
 * restored only into the machine it was saved from.
 */
#ifndef DISPVM_TEMPLATE_MACHINE_H
#define DISPVM_TEMPLATE_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "metadata.h"

/* Upper bound of machine_args' count. */
#define MACHINE_MAX_ARGS 40
/* The id of the chardev that the guest's serial console writes to; the
 * daemon defines it (a file or null) outside the machine arguments. */
#define MACHINE_CONSOLE_CHARDEV "console"
/* The id of the chardev of the agent's virtio-serial port. */
#define MACHINE_AGENT_CHARDEV "agent"

struct machine_args {
	char memory[16];
	const char *argv[MACHINE_MAX_ARGS + 1]; /* NULL-terminated */
	size_t count;
};

/*
 * Fill `out` with the guest-shaping arguments for `template` with `kvm`
 * (else TCG) and `memory_mib` of RAM: machine, accelerator, CPU, memory,
 * devices, kernel, initramfs and kernel command line. The strings point
 * into `out` and `template`, which must outlive it.
 */
void machine_args(const struct template_metadata *template, bool kvm, unsigned memory_mib,
		  struct machine_args *out);

/* Find QEMU: $DISPVM_QEMU, else qemu-system-x86_64 in PATH. */
int machine_find_qemu(char *out, size_t size, struct dv_error *err);

#endif
