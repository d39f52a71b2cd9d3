/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - the daemon's life: start-up, signals, reload, shutdown.
 */
#ifndef VBX_DAEMON_H
#define VBX_DAEMON_H

#include "core.h"

/* The state_dir of the current config. */
const char *vbx__state_dir(void);
/* The current config (NULL before the first load, as under the fake host
 * of libvibebox-test); every generation stays valid until exit. */
const vbx__conf *vbx__conf_current(void);
/* Add a check to a readiness report (health.c; catalog.h documents it). */
void vbx__health_add(vbx_health *h, const char *name, int status,
                     int64_t latency_us, const char *detail);
/* Run the daemon as `vibeboxd` would; returns the exit status. */
int vbx__daemon_main(int argc, char **argv);

/* sdnotify.c: tell systemd (when NOTIFY_SOCKET is set); no-op otherwise. */
void vbx__sd_notify(const char *state);

#endif
