/* Limits of the values a run, open or exec request carries, shared by the
 * CLI (which checks options) and dispvmd (which checks requests). */
#ifndef DISPVM_REQUEST_H
#define DISPVM_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

/* Guest memory a request may set, in MiB. */
#define DV_MEMORY_MIN_MIB 64u
#define DV_MEMORY_MAX_MIB 65536u

/* Terminal rows and columns a request may set. */
#define DV_TERMINAL_SIZE_MIN 1u
#define DV_TERMINAL_SIZE_MAX 65535u

/* True for DV_MEMORY_MIN_MIB..DV_MEMORY_MAX_MIB. */
bool dv_memory_mib_valid(int64_t mib);

/* True for an environment entry NAME=VALUE whose NAME is letters, digits
 * and '_', not starting with a digit. */
bool dv_env_entry_valid(const char *entry);

#endif
