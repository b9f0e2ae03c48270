#include "tty.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_mode;
static volatile sig_atomic_t mode_saved;

bool tty_both_terminals(void)
{
	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

void tty_restore(void)
{
	if (!mode_saved)
		return;
	/* tcsetattr is async-signal-safe, so this also serves the handler. */
	tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_mode);
	mode_saved = 0;
}

static void restore_and_reraise(int signo)
{
	tty_restore();
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Signals that end the CLI without passing through exit(). SIGINT, SIGTERM
 * and SIGHUP are not here because the relay forwards them to the command
 * through a signalfd. */
static void install_fatal_handlers(void)
{
	static const int fatal[] = {SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
				    SIGXCPU, SIGXFSZ, SIGALRM, SIGUSR1, SIGUSR2};
	struct sigaction action = {.sa_handler = restore_and_reraise, .sa_flags = SA_RESETHAND};

	sigemptyset(&action.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &action, NULL);
}

int tty_enter_raw(void)
{
	static bool atexit_registered;
	struct termios raw;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved_mode) < 0)
		return -errno;
	if (!atexit_registered) {
		atexit(tty_restore);
		install_fatal_handlers();
		atexit_registered = true;
	}
	raw = saved_mode;
	cfmakeraw(&raw);
	mode_saved = 1;
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0) {
		int saved = errno;

		mode_saved = 0;
		return -saved;
	}
	return 0;
}

void tty_window_size(unsigned *rows, unsigned *cols)
{
	struct winsize size;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &size) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) < 0)
		return;
	if (size.ws_row > 0 && size.ws_col > 0) {
		*rows = size.ws_row;
		*cols = size.ws_col;
	}
}
