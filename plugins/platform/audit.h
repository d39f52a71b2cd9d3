/* SPDX-License-Identifier: Apache-2.0 */
/*
 * audit.h - the platform's audit rows of environments, their variables
 * and terminal sockets (the table of actions is in docs/api.md, "Audit
 * log"). Each detail is a JSON object of at most 255 bytes; a variable's
 * value never appears in one, only its name.
 *
 * The writes block on the store, so they run where blocking is allowed:
 * a handler's worker, a WebSocket's open (a worker); a terminal's close
 * runs on the service thread and hands its row to a worker.
 */
#ifndef VBX_API_AUDIT_H
#define VBX_API_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include <vibebox/store.h>

#include "common.h"

/*
 * An environment action by the request's caller (actor), target
 * {"environment", e->id}, detail {"name", "status"} as the action left e,
 * and "changed" (a comma list of settings) when not NULL. The name is
 * left out when the detail would not fit.
 */
void vbx__audit_env(vbx_request *r, const char *action, const vbx_env *e,
                    const char *changed);

/* An action of the platform's own policy (an idle stop): no actor, no
 * client; detail {"status", "reason"}. Blocks: a worker or timer task. */
void vbx__audit_env_policy(const char *action, const char *env_id,
                           const char *status, const char *reason);

/* A variable of environment env_id set or deleted: detail {"name"} and,
 * for a set, "created" and "secret". Never the value. */
void vbx__audit_var(vbx_request *r, const char *action, const char *env_id,
                    const vbx_env_var *v, bool created);

/* A port of environment env_id added or removed: detail {"port",
 * "protocol"}. */
void vbx__audit_port(vbx_request *r, const char *action, const char *env_id,
                     const vbx_env_port *p);

/* What a terminal socket remembers from its open for its close row. */
typedef struct vbx__term_audit {
	char actor[VBX_ID_LEN];
	char env_id[VBX_ID_LEN];
	char session[VBX_ID_LEN];
	char client[64];
	int64_t opened_ms;   /* wall clock, for "openedAt" */
	int64_t opened_mono; /* monotonic ms, for "durationMs" */
} vbx__term_audit;

/* The socket ws was let into session of env_id: fill a (no I/O). */
void vbx__term_audit_begin(vbx__term_audit *a, vbx_ws *ws, const char *env_id,
                           const char *session);
/* Write terminal.open of a (joined: an existing session) on the caller's
 * thread (a worker: open). */
void vbx__term_audit_open(const vbx__term_audit *a, bool joined);

/* The socket of a closed with code: terminal.close with "openedAt" and
 * "durationMs", written on a worker (the caller is the service thread). */
void vbx__term_audit_close(const vbx__term_audit *a, int code);

/* open refused ws with rc after it authenticated: terminal.refused with
 * {"reason"} (a worker: open). */
void vbx__term_audit_refused(vbx_ws *ws, int rc);

/* ---- exec sockets (exec.c); a is filled by vbx__term_audit_begin ---- */

/* The command argv0 (argc arguments) was started, or failed to start
 * with rc: exec.start with {"argv0", "argc"} and, on failure, "error".
 * Blocks: a worker. */
void vbx__exec_audit_start(const vbx__term_audit *a, const char *argv0,
                           size_t argc, int rc);
/* Its socket closed with code: exec.close with {"argv0", "exitCode" (-1:
 * unknown, the process may still run), "closeCode", "durationMs"},
 * written on a worker (the caller is the service thread). */
void vbx__exec_audit_close(const vbx__term_audit *a, const char *argv0,
                           int exit_code, int code);
/* open refused ws with rc after it authenticated: exec.refused with
 * {"reason"} (a worker: open). */
void vbx__exec_audit_refused(vbx_ws *ws, int rc);

#endif
