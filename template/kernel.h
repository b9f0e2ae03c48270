/*
 * Where a template's kernel and modules come from, in this order:
 *   files           --kernel FILE --modules DIR
 *   debian-package  $DISPVM_KERNEL_PACKAGE, default linux-image-cloud-amd64,
 *                   fetched with apt-get download into the cache folder and
 *                   unpacked into a temporary folder, never installed
 *   host            /boot/vmlinuz-$(uname -r) and /lib/modules/$(uname -r),
 *                   when apt fails
 */
#ifndef DISPVM_TEMPLATE_KERNEL_H
#define DISPVM_TEMPLATE_KERNEL_H

#include <stdbool.h>

#include "error.h"
#include "metadata.h"

#define KERNEL_DEFAULT_PACKAGE "linux-image-cloud-amd64"

struct kernel_source {
	char kind[32]; /* "files", "debian-package" or "host" */
	char version[128];
	char vmlinuz[DV_PATH_MAX];
	char modules_dir[DV_PATH_MAX]; /* a /lib/modules/VERSION folder */
	char package[128];             /* debian-package: the real package */
	char package_version[128];
	char unpack_dir[DV_PATH_MAX]; /* owned temporary folder, or empty */
	/* What the up-to-date check compares; hashes are filled later. */
	unsigned input_count;
	struct template_input inputs[2];
};

/*
 * Choose the kernel source without downloading anything: `kernel_file`
 * and `modules_dir` are --kernel and --modules (both or neither). Asking
 * apt for the package version takes about 0.3 s with the private package
 * cache in the dispvm cache folder.
 */
int kernel_select(struct kernel_source *kernel, const char *kernel_file, const char *modules_dir,
		  struct dv_error *err);

/* Download and unpack the package if that is the source, falling back to
 * the host kernel when apt fails, so that vmlinuz and modules_dir exist. */
int kernel_prepare(struct kernel_source *kernel, struct dv_error *err);

/* Remove the temporary folder of an unpacked package. */
void kernel_cleanup(struct kernel_source *kernel);

/* Remove `path` and everything below it. */
int remove_tree(const char *path);

#endif
