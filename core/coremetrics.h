/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coremetrics.h - the daemon's own metrics: HTTP requests and WebSockets
 * per route (reqmetrics.c); events, readiness and secret files
 * (coremetrics.c). Not installed.
 *
 * Every family is declared by vbx__core_metrics_init() once the plugins
 * are loaded (so that the registry knows whether a plugin provides
 * "metrics"). Until then, and always when none does, every function here
 * returns after one branch.
 */
#ifndef VBX_COREMETRICS_H
#define VBX_COREMETRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "router.h"

/* Declare the core's families and register their collectors. */
void vbx__core_metrics_init(void);
/* Free what the per-route and file tables hold (at exit). */
void vbx__core_metrics_fini(void);
/* The per-route part of both (reqmetrics.c). */
void vbx__req_metrics_init(void);
void vbx__req_metrics_fini(void);

/*
 * One answered HTTP request: route is the matched route (NULL when none
 * matched: counted as route="unmatched"), method the request's, status
 * the answer's, seconds from its arrival to its last byte. Service thread.
 */
void vbx__http_metrics_observe(const vbx__route *route, const char *method,
                               int status, double seconds);

/* A WebSocket of route opened (+1) or closed (-1). */
void vbx__ws_metrics_conn(const vbx__route *route, int delta);
/* A whole message received (in = true) or sent on a socket of route. */
void vbx__ws_metrics_message(const vbx__route *route, bool in);

/* /health/ready was computed: ready, and each check's name and whether it
 * is up (ok or degraded). */
void vbx__health_metrics_ready(bool ready);
void vbx__health_metrics_check(const char *name, bool up);
/* Compute readiness as /health/ready would (health.c), for its metrics,
 * unless it was computed less than max_age_ms ago: so that health_ready
 * is true to life without a probe, and costs nothing more with one. */
void vbx__health_metrics_refresh(int64_t max_age_ms);

/*
 * A file the config names: a secret read through vbx_cfg_secret, or a
 * certificate or key option read through vbx_cfg_string (cfgval.c).
 * block is the config path of the plugin's block ("plugins.auth"), key
 * the option ("jwt_secret_file"), path the file. At each scrape,
 * file_readable{plugin,key} says whether it can still be opened. Copies the
 * strings; a second call for the same plugin and key replaces the path.
 */
void vbx__secret_file_note(const char *block, const char *key,
                           const char *path);

#endif
