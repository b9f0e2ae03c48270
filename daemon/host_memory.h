/* Check of a VM's guest memory against what the host can give it. */
#ifndef DISPVMD_HOST_MEMORY_H
#define DISPVMD_HOST_MEMORY_H

#include <stdint.h>

#include "error.h"

/* Memory kept for the host and QEMU's own use beyond the guest RAM: a
 * VM's guest memory may be at most MemAvailable minus this. */
#define HOST_MEMORY_RESERVE_MIB 512u

/* What drives a VM's guest memory size, for the advice in the error. */
enum host_memory_reason {
	HOST_MEMORY_REQUESTED, /* memory_mib or --memory */
	HOST_MEMORY_TEMPLATE,  /* the template's memory size */
	HOST_MEMORY_FILE,      /* an open session's file must fit in guest RAM */
};

/* Check that the host can give `vm_name` `memory_mib` of guest memory.
 * Returns 0, or -ENOMEM with `err` naming both numbers and what to do.
 * When /proc/meminfo cannot be read, logs a warning and returns 0. */
int host_memory_check(const char *vm_name, uint64_t memory_mib,
		      enum host_memory_reason reason, struct dv_error *err);

/* MemAvailable from `meminfo_text` (the content of /proc/meminfo) in MiB,
 * or -1 when it has no valid MemAvailable line. */
int64_t host_memory_parse_available(const char *meminfo_text);

#endif
