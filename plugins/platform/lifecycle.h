/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lifecycle.h - the environment lifecycle policy: what the runtime's
 * facts mean for an environment's status.
 *
 * A runtime plugin reports facts (vibebox/runtime.h: the runtime_inspect
 * and runtime_list hooks, the runtime_container_exited,
 * runtime_container_vanished and runtime_engine_state events). The
 * platform decides:
 *   - on an exit or a removal: a running environment goes to stopped (a
 *     clean exit) or error; a stopped or failed one whose container was
 *     removed forgets it, so that its next start creates one;
 *   - the reconcile pass, at start, every reconcile_interval and when the
 *     engine is back after an outage: environments in running, starting
 *     or stopping are checked against their containers (gone, exited,
 *     stuck in starting or stopping past VBX__LC_PHASE_TIMEOUT_MS), and
 *     containers of this installation whose environment no longer exists
 *     are removed through runtime_remove; networks and workspaces of
 *     deleted environments, and networks of stopped ones that no
 *     container uses, once they have been seen so for orphan_grace
 *     (runtime_leftovers, runtime_env_purge);
 *   - an engine down (a runtime with several engines): the running,
 *     starting and stopping environments on it go to error with the
 *     runtime's reason naming it; when it is back they follow their
 *     containers (running ones are running again);
 *   - idle stop: a running environment without activity for idle_timeout
 *     is stopped (stop_timeout's grace period).
 *
 * Every change is a compare-and-set in the store (store_env_transition)
 * and publishes env_status, so the API and the policy never overwrite
 * each other. With several replicas sharing a lock provider (redis-cache)
 * one replica runs the passes, the holder of the cache lock
 * "platform:lifecycle" (singleton.h; jobs.lock_ttl); the facts' events are
 * handled by each replica that saw them; both are safe to race.
 *
 * lifejudge.c holds the pure decisions (unit-tested on their own);
 * lifecycle.c the event subscribers, the timer and the passes. Event
 * subscribers never block: they hand the store and runtime calls to a
 * worker (vbx_work_submit); the passes run in the timer's task.
 */
#ifndef VBX_PLATFORM_LIFECYCLE_H
#define VBX_PLATFORM_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include <vibebox/runtime.h>

/* How long an environment may stay in starting or stopping. */
#define VBX__LC_PHASE_TIMEOUT_MS (2 * 60 * 1000)

/* What the policy does to an environment: nothing when from is 0, else
 * store_env_transition(id, from, to, reason, clear ? "" : NULL). */
typedef struct vbx__lc_verdict {
	unsigned from;  /* VBX_ENV_* bit */
	const char *to; /* a static status name */
	bool clear_container;
	char reason[256];
} vbx__lc_verdict;

/*
 * Decide from an environment and what the runtime says of its container:
 * inspect_rc VBX_OK with c, or VBX_ENOTFOUND (c NULL or only c->id
 * valid); VBX_EUNAVAIL with c->error set (a runtime with several engines
 * knows the container's engine is down, runtime.h): an active environment
 * goes to error with that reason; any other inspect_rc decides nothing
 * (the engine did not say). An environment in error for such a reason
 * follows its container once it answers: running, stopped or error.
 * timeouts: also move starting/stopping past VBX__LC_PHASE_TIMEOUT_MS
 * (the reconcile pass; events do not). Returns out->from != 0.
 */
bool vbx__lc_judge(const vbx_env *e, int inspect_rc,
                   const vbx_container_state *c, int64_t now_ms, bool timeouts,
                   vbx__lc_verdict *out);

/*
 * Is reason what an environment in error got because its engine was
 * down ("engine NAME unreachable: ...", runtime.h)? Such an environment
 * is checked again by the reconcile pass, and recovers from its
 * container's state once the engine answers.
 */
bool vbx__lc_engine_reason(const char *reason);

/*
 * What of an environment's leftovers (runtime_leftovers) is orphaned,
 * given what the store says of it: env_rc VBX_ENOTFOUND (deleted): its
 * network and workspace; VBX_OK with e, stopped or in error and without
 * any container: its network (the next start makes one). Anything else:
 * 0. Returns VBX_RUNTIME_* bits; the pass removes them after
 * orphan_grace.
 */
unsigned vbx__lc_orphaned(const vbx_runtime_leftover *l, int env_rc,
                          const vbx_env *e);

/* Is a running e idle for idle_ms (0: never) at now_ms? When it is,
 * reason (len bytes) gets "stopped after N minutes without activity". */
bool vbx__lc_idle(const vbx_env *e, int64_t idle_ms, int64_t now_ms,
                  char *reason, size_t len);

/*
 * Subscribe to the runtime's fact events and add the policy's timer.
 * During init only. VBX_OK, or VBX_ESIGNATURE (logged) when a hook or
 * event is declared with another signature by another plugin.
 */
int vbx__lc_init(vbx_plugin *self);

/* The first reconcile pass, on a worker (the plugin's start). */
void vbx__lc_start(void);

/* End the passes: a running one stops at its next environment, later
 * ticks and events do nothing, and the lock "platform:lifecycle" is
 * released (now, or by the tick at work when it ends) so that another
 * replica takes over (the plugin's stop). */
void vbx__lc_stop(void);

/* Free what the passes remember (the plugin's fini: no tick runs). */
void vbx__lc_fini(void);

#endif
