/*
 * The guest's root file system as an uncompressed newc cpio archive. A
 * build first lists every entry (the plan), then writes them in order with
 * modification time 0, so the same inputs give the same archive.
 */
#ifndef DISPVM_TEMPLATE_INITRAMFS_H
#define DISPVM_TEMPLATE_INITRAMFS_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum initramfs_kind { ENTRY_DIR, ENTRY_FILE, ENTRY_SYMLINK, ENTRY_TEXT, ENTRY_CHAR_DEVICE };

struct initramfs_entry {
	enum initramfs_kind kind;
	char *path;   /* in the archive, without a leading '/' */
	char *source; /* FILE: host path; SYMLINK: target; TEXT: the content */
	mode_t mode;  /* permission bits */
	unsigned uid, gid;
	unsigned device_major, device_minor;
};

struct initramfs_plan {
	struct initramfs_entry *entries;
	size_t count, capacity;
	uint64_t data_bytes; /* file and text content, for the progress line */
};

/* Add a folder and the folders above it that the plan does not hold yet. */
int plan_add_dir(struct initramfs_plan *plan, const char *path, mode_t mode, unsigned uid,
		 unsigned gid);
int plan_add_file(struct initramfs_plan *plan, const char *path, const char *source, mode_t mode,
		  struct dv_error *err);
int plan_add_symlink(struct initramfs_plan *plan, const char *path, const char *target);
int plan_add_text(struct initramfs_plan *plan, const char *path, const char *text, mode_t mode);
int plan_add_char_device(struct initramfs_plan *plan, const char *path, mode_t mode,
			 unsigned major, unsigned minor);
void plan_free(struct initramfs_plan *plan);

/* Write the plan's entries, in order, into the cpio file `path`. */
int initramfs_write(const struct initramfs_plan *plan, const char *path, struct dv_error *err);

#endif
