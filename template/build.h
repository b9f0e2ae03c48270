/* Building a template: `dispvm template build`. */
#ifndef DISPVM_TEMPLATE_BUILD_H
#define DISPVM_TEMPLATE_BUILD_H

#include <stdbool.h>

#include "error.h"

#define TEMPLATE_BUSYBOX "/bin/busybox"
#define TEMPLATE_CMDLINE "console=ttyS0 quiet panic=-1"
#define TEMPLATE_MEMORY_MIB 256

struct template_build_options {
	const char *name;
	const char *kernel_file; /* --kernel, or NULL */
	const char *modules_dir; /* --modules, or NULL */
	const char *agent;       /* --agent, or NULL */
	bool force;              /* rebuild even when the inputs are unchanged */
};

/*
 * Build template `options->name` into a temporary folder beside the
 * templates and rename it into place, so a failed build leaves the old
 * template (or none) behind. Does nothing when every recorded input is
 * unchanged, unless options->force is set. Prints progress to stderr.
 */
int template_build(const struct template_build_options *options, struct dv_error *err);

#endif
