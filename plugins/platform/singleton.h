/* SPDX-License-Identifier: Apache-2.0 */
/*
 * singleton.h - run a job on one replica at a time: the replica that
 * holds the cache lock NAME (cache_lock of <vibebox/cache.h>) runs it,
 * the others stand by and take over when the holder stops renewing.
 *
 * The caller asks at each turn of its timer (vbx__single_turn) whether
 * to run the job now, and during a long job whether it still may
 * (vbx__single_held); it releases the lock when it stops
 * (vbx__single_release), so that another replica takes over at once
 * instead of a TTL later.
 *
 * What each answer of the lock provider means:
 *   - no provider (redis-cache not loaded: one replica): run, as a
 *     daemon without replicas always did; nothing is logged;
 *   - VBX_OK: this replica holds the lock (the runner) and runs; the
 *     lock is renewed at a third of the TTL;
 *   - VBX_EEXIST: another replica holds it; stand by;
 *   - VBX_EUNAVAIL from a loaded provider (its server is down): run
 *     here too. A job built on compare-and-set writes is safe to run on
 *     several replicas at once, only wasteful; a job that is not must
 *     not use this fallback (see docs/plugin-guide.md). Logged once per
 *     outage.
 * Every change of role is logged at info with the lock's fencing token.
 *
 * Only the SDK is used, so another plugin may compile this file in.
 * One job's state is used by one thread at a time (its timer's task, or
 * the plugin's stop once no task runs); vbx__single_status may be called
 * from any thread.
 */
#ifndef VBX_PLATFORM_SINGLETON_H
#define VBX_PLATFORM_SINGLETON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vibebox/cache.h>
#include <vibebox/vibebox.h>

/* This replica's part in a job. */
typedef enum vbx__single_role {
	VBX__SINGLE_NONE,    /* not decided yet, or released */
	VBX__SINGLE_ALONE,   /* no lock provider: runs */
	VBX__SINGLE_RUNNER,  /* holds the lock: runs */
	VBX__SINGLE_STANDBY, /* another replica holds it: waits */
	VBX__SINGLE_LOCAL,   /* the provider's server is down: runs too */
} vbx__single_role;

/* One single-runner job. Fill it with vbx__single_init; the fields are
 * the implementation's. */
typedef struct vbx__single {
	vbx_plugin *p;
	char name[VBX_CACHE_KEY_MAX];
	vbx_hook *lock, *unlock;
	vbx_lock held;      /* the hold, while RUNNER */
	int64_t renewed_ms; /* when the hold was last taken or renewed */
	pthread_mutex_t mu; /* role, fence, runs: read by other threads */
	vbx__single_role role;
	uint64_t fence; /* of the last hold (kept after it ends, for logs) */
	uint64_t runs;  /* jobs run on this replica */
} vbx__single;

/*
 * Prepare s for the lock name (printable ASCII without spaces, named
 * after the plugin: "platform:lifecycle"), for plugin p. Call during the
 * plugin's init (it takes the hooks' handles). Returns VBX_OK,
 * VBX_EINVAL for a name that is empty or too long, or VBX_ESIGNATURE
 * (logged) when another plugin declared the cache hooks differently.
 * Borrows p; copies name.
 */
int vbx__single_init(vbx__single *s, vbx_plugin *p, const char *name);

/*
 * Should this replica run the job now? Takes the lock when it is free,
 * renews it when a third of ttl_ms has gone since the last renewal, and
 * logs a change of role. now_ms is Unix ms. Returns true for ALONE,
 * RUNNER and LOCAL. Blocks for at most the provider's command timeout:
 * call it from a timer's task or a worker.
 */
bool vbx__single_turn(vbx__single *s, int64_t ttl_ms, int64_t now_ms);

/*
 * During a job: may it go on? Renews the lock when due, as
 * vbx__single_turn does, and returns false once the lock is lost (taken
 * by another replica after it lapsed) or about to lapse without a
 * renewal, so that a runner never acts past its hold. Call it before
 * each step that changes something.
 */
bool vbx__single_held(vbx__single *s, int64_t ttl_ms, int64_t now_ms);

/* Count one run of the job (shown by vbx__single_status). */
void vbx__single_ran(vbx__single *s);

/*
 * Release the lock if this replica holds it, so that another replica
 * takes over at its next turn, and log it. The role becomes NONE; a
 * later vbx__single_turn takes the lock again. Blocks like
 * vbx__single_turn.
 */
void vbx__single_release(vbx__single *s);

/* This replica's role, the fence of its last hold, and the runs counted,
 * any thread. Any out pointer may be NULL. */
vbx__single_role vbx__single_status(vbx__single *s, uint64_t *fence,
                                    uint64_t *runs);

/* A static word for a role: "none", "alone", "runner", "standby",
 * "local". */
const char *vbx__single_role_name(vbx__single_role role);

#endif
