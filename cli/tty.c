/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tty.c - the local terminal's modes: no echo for a password prompt, raw
 * for `vibebox shell`. The saved mode comes back on every way out: a
 * normal return, exit(), and the signals that end the process (the
 * handler restores it, then dies of the same signal).
 */
#include "vbx_build.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tty.h"

static struct termios saved;
static int saved_fd = -1;
static volatile sig_atomic_t changed;

static const int fatal_signals[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
                                    SIGABRT, SIGSEGV, SIGBUS, SIGFPE};
#define NSIG_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

void cli_tty_restore(void)
{
	if (!changed)
		return;
	/* tcsetattr is async-signal-safe: this runs in handlers too */
	tcsetattr(saved_fd, TCSAFLUSH, &saved);
	changed = 0;
}

static void on_fatal(int sig)
{
	cli_tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	atexit(cli_tty_restore);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIG_FATAL; i++)
		sigaction(fatal_signals[i], &sa, NULL);
}

static int set_mode(int fd, bool raw)
{
	struct termios t;
	if (tcgetattr(fd, &saved) < 0)
		return -1;
	saved_fd = fd;
	install_handlers();
	t = saved;
	if (raw)
		cfmakeraw(&t);
	else
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	changed = 1;
	if (tcsetattr(fd, TCSAFLUSH, &t) < 0) {
		changed = 0;
		return -1;
	}
	return 0;
}

int cli_tty_raw(int fd)
{
	return set_mode(fd, true);
}

int cli_tty_noecho(int fd)
{
	return set_mode(fd, false);
}

bool cli_tty_is_raw(void)
{
	return changed;
}
