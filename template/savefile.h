/*
 * A template's savefile: the memory and device state of a guest booted
 * from the template up to its agent's HELLO, saved with QEMU migration
 * (TEMPLATE/savefile), and its record (TEMPLATE/savefile.json, see
 * docs/templates.md). The daemon writes both and restores new disposables
 * from the savefile; the CLI reads the record for `template ls`.
 *
 * The record contains a key: SHA-256 over template.json's content, the QEMU
 * binary's path, size, mtime and version, and every guest-shaping QEMU
 * argument (machine.h), memory size included. A savefile whose key differs
 * from the key of the current inputs is stale.
 */
#ifndef DISPVM_TEMPLATE_SAVEFILE_H
#define DISPVM_TEMPLATE_SAVEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "machine.h"
#include "metadata.h"

#define SAVEFILE_NAME "savefile"
#define SAVEFILE_RECORD_NAME "savefile.json"
/* Largest template.json the key covers. */
#define SAVEFILE_MAX_TEMPLATE_JSON (1024u * 1024u)

/* Everything the key covers. */
struct savefile_inputs {
	const char *template_json; /* template.json's content */
	size_t template_json_length;
	const char *qemu_path;
	uint64_t qemu_size;
	int64_t qemu_mtime_ns;
	const char *qemu_version; /* as QMP query-version reports it */
	unsigned memory_mib;
	const char *const *machine; /* machine_args() of that memory */
	size_t machine_count;
};

/* The key of `inputs` as 64 lowercase hex digits and a NUL. Pure. */
void savefile_key(const struct savefile_inputs *inputs, char out[65]);

/* What TEMPLATE/savefile.json records. */
struct savefile_record {
	char key[65];
	char qemu_version[128];
	bool kvm;
	unsigned memory_mib;
	uint64_t size_bytes;
	time_t saved_at;
	double save_seconds;
};

enum savefile_state { SAVEFILE_MISSING, SAVEFILE_STALE, SAVEFILE_FRESH };

const char *savefile_state_name(enum savefile_state state);

/*
 * Compute the key of `template` restored by `qemu_path` reporting
 * `qemu_version`, with `kvm` or TCG, at the template's memory size.
 * Reads template.json and stats QEMU.
 */
int savefile_compute_key(const struct template_metadata *template, const char *qemu_path,
			 const char *qemu_version, bool kvm, char out[65], struct dv_error *err);

/*
 * Is the savefile of `template` fresh for `qemu_path`? With `kvm` NULL the
 * recorded accelerator counts (all the CLI can check); else the savefile is
 * stale unless it was saved with *kvm. The version counts as recorded:
 * it cannot change unless the binary's size or mtime does. `record` may
 * be NULL.
 */
enum savefile_state savefile_check(const struct template_metadata *template,
				   const char *qemu_path, const bool *kvm,
				   struct savefile_record *record);

int savefile_record_load(const char *dir, struct savefile_record *out, struct dv_error *err);

/* Write DIR/savefile.json atomically (temporary file, fsync, rename). */
int savefile_record_save(const char *dir, const struct savefile_record *record,
			 struct dv_error *err);

#endif
