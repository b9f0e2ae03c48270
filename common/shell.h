/* Shell quoting for text shown to users: commands in `ls` and names in
 * error messages. */
#ifndef DISPVM_SHELL_H
#define DISPVM_SHELL_H

#include <stdio.h>

/* Write `word` to `out` so that a POSIX shell reads it back as one word:
 * as is when it contains only safe characters, else in single quotes. */
void dv_shell_quote(FILE *out, const char *word);

#endif
