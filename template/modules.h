/*
 * The kernel modules a guest loads, and their order. The order comes from
 * the kernel's modules.dep: each module's dependencies load before it and
 * every module loads once.
 */
#ifndef DISPVM_TEMPLATE_MODULES_H
#define DISPVM_TEMPLATE_MODULES_H

#include <stddef.h>

#include "error.h"
#include "metadata.h"

/* The modules every guest needs, NULL-terminated. */
extern const char *const template_guest_modules[];

struct module_list {
	unsigned count;
	/* Paths relative to /lib/modules/VERSION/, in load order. */
	char paths[TEMPLATE_MAX_MODULES][256];
};

/*
 * Write `name` normalised into `out` (at least 64 bytes): the base name of
 * a module path or a module name, without a .ko, .ko.xz, .ko.zst or .ko.gz
 * suffix and with every '-' replaced by '_', as the kernel names modules.
 */
void module_name_normalise(const char *name, char *out, size_t size);

/*
 * Resolve `names` (NULL-terminated) against the text of modules.dep
 * (`dep_text`) and modules.builtin (`builtin_text`, may be NULL) into the
 * load order. Modules built into the kernel are skipped. Fails with
 * -ENOENT naming a module that modules.dep does not list, -ELOOP on a
 * dependency cycle, -ENOTSUP on a compressed module file and -E2BIG when
 * more than TEMPLATE_MAX_MODULES modules are needed.
 */
int modules_resolve(const char *dep_text, const char *builtin_text, const char *const names[],
		    struct module_list *out, struct dv_error *err);

#endif
