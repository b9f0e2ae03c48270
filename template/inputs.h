/*
 * The files a template is built from: finding them, checking them and
 * recording their SHA-256 so that a rebuild can tell whether they changed.
 */
#ifndef DISPVM_TEMPLATE_INPUTS_H
#define DISPVM_TEMPLATE_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "metadata.h"

/* Set input->sha256, size and mtime_ns from the file at input->path. */
int input_hash(struct template_input *input, struct dv_error *err);

/*
 * Whether the file at current->path is still the one `recorded` describes:
 * same name, path and version, and same size and modification time or, when
 * those differ, the same SHA-256. Fills current's hash fields on the way.
 */
bool input_unchanged(const struct template_input *recorded, struct template_input *current);

/* Fail with a message naming `what` unless `path` is a statically linked
 * ELF executable (one without a program interpreter). */
int elf_check_static(const char *path, const char *what, struct dv_error *err);

/*
 * The guest agent: `option` (from --agent) when not NULL, else
 * $DISPVM_AGENT, else ../agent/dispvm-agent beside this program's folder
 * (the build tree), else the installed DISPVM_LIBEXECDIR/dispvm-agent.
 */
int find_agent(const char *option, char *out, size_t size, struct dv_error *err);

/* The mailcap: $DISPVM_DATA_DIR/mailcap, else ../data/mailcap beside this
 * program's folder, else the installed DISPVM_DATADIR/mailcap. */
int find_mailcap(char *out, size_t size, struct dv_error *err);

#endif
