/*
 * A template's metadata, stored as template.json in its folder (see
 * docs/templates.md). The builder writes it; the daemon reads it to boot a
 * VM and the CLI reads it to list templates.
 */
#ifndef DISPVM_TEMPLATE_METADATA_H
#define DISPVM_TEMPLATE_METADATA_H

#include <stdint.h>
#include <time.h>

#include "error.h"
#include "paths.h"

#define TEMPLATE_MAX_MODULES 64
#define TEMPLATE_MAX_INPUTS 16

struct template_input {
	char name[64];
	char path[DV_PATH_MAX];
	char version[128]; /* empty when the input has none */
	char sha256[65];   /* lowercase hex */
	/* Size and modification time seen when it was hashed, so that an
	 * unchanged file need not be hashed again; 0 when unknown. */
	uint64_t size;
	int64_t mtime_ns;
};

struct template_metadata {
	char name[33];
	char dir[DV_PATH_MAX];       /* the template's folder */
	char kernel[DV_PATH_MAX];    /* absolute path of the kernel image */
	char initramfs[DV_PATH_MAX]; /* absolute path of the initramfs */
	char kernel_version[128];
	char kernel_source[32]; /* "files", "debian-package" or "host" */
	char cmdline[1024];
	time_t built_at;
	unsigned memory_mib;
	uint64_t size_bytes;
	unsigned module_count;
	char modules[TEMPLATE_MAX_MODULES][256];
	unsigned input_count;
	struct template_input inputs[TEMPLATE_MAX_INPUTS];
};

/*
 * Load the metadata of template `name` from its folder. Fails with
 * -ENOENT and a message that says how to build it when the template is
 * not built, and with -EINVAL when template.json is malformed.
 */
int template_metadata_load(const char *name, struct template_metadata *out,
			   struct dv_error *err);

/* Like template_metadata_load, from template.json in folder `dir`. */
int template_metadata_load_dir(const char *dir, struct template_metadata *out,
			       struct dv_error *err);

/* Write `metadata` as DIR/template.json atomically (temporary file, fsync,
 * rename). */
int template_metadata_save(const struct template_metadata *metadata, struct dv_error *err);

#endif
