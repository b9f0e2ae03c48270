/*
 * The local terminal during `run -t`: raw mode, restored on every way the
 * CLI can end (normal return, exit, atexit, and fatal signals).
 */
#ifndef DISPVM_CLI_TTY_H
#define DISPVM_CLI_TTY_H

#include <stdbool.h>

/* Whether both stdin and stdout are terminals: the default for -t. */
bool tty_both_terminals(void);

/* Put stdin in raw mode if it is a terminal and arrange its restore.
 * Returns 0 or a negative errno value. */
int tty_enter_raw(void);

/* Restore the saved mode; safe to call more than once and from a signal
 * handler. */
void tty_restore(void);

/* The window size of stdin or stdout, 24x80 when neither is a terminal. */
void tty_window_size(unsigned *rows, unsigned *cols);

#endif
