/*
 * Runtime records RUNTIME/vms/NAME, one per live VM, holding QEMU's pid
 * and the VM name. They let a restarted daemon kill the QEMU processes a
 * crashed one left behind.
 */
#ifndef DISPVMD_RECORDS_H
#define DISPVMD_RECORDS_H

#include <sys/types.h>

#include "error.h"

/* Create RUNTIME/vms (mode 0700) and remember its path. */
int records_init(const char *runtime_dir, struct dv_error *err);

int records_write(const char *vm_name, pid_t qemu_pid, struct dv_error *err);
void records_remove(const char *vm_name);

/* Kill the QEMU of each leftover record and remove the records. */
void records_clean_stale(void);

#endif
