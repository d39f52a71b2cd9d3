/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tty.h - switching the local terminal's mode and always switching it
 * back (tty.c).
 */
#ifndef VBX_CLI_TTY_H
#define VBX_CLI_TTY_H

#include <stdbool.h>

/* Put terminal fd in raw mode / turn its echo off. The first call saves
 * the mode and arranges for cli_tty_restore at exit and on fatal
 * signals. Return 0 or -1 (errno). */
int cli_tty_raw(int fd);
int cli_tty_noecho(int fd);

/* Put the saved mode back; does nothing when nothing was changed. Safe in
 * a signal handler. */
void cli_tty_restore(void);

/* True while the mode is changed (messages then need "\r\n"). */
bool cli_tty_is_raw(void);

#endif
