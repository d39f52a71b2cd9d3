/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lifecycle.c - the environment lifecycle policy at work (lifecycle.h):
 * the runtime's fact events, the reconcile pass, idle stops.
 *
 * A timer ticks every TICK_MS on a worker; a tick runs the reconcile pass
 * when it is due (at start, every reconcile_interval, soon after an event
 * left a doubt, at once when the engine is back) and otherwise the idle
 * check when that is due. One tick works at a time; the settings are read
 * at each tick, so a reload applies from the next one.
 *
 * With several replicas, only the one holding the cache lock
 * "platform:lifecycle" runs the passes (singleton.h); the others stand by
 * and take over when it stops renewing it, or at once when it releases it
 * at its stop. The facts' events are handled by every replica: each one
 * whose runtime saw the fact.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "envs.h"
#include "lifecycle.h"
#include "singleton.h"

#define TICK_MS 500
#define RECHECK_MS 2000 /* a pass soon after an event left a doubt */
#define ENV_ALL_ACTIVE (VBX_ENV_RUNNING | VBX_ENV_STARTING | VBX_ENV_STOPPING)
#define LOCK_NAME "platform:lifecycle"

static struct {
	vbx_plugin *p;
	vbx_hook *get, *list, *inspect, *rt_list, *stop, *remove;
	vbx_hook *leftovers, *purge;

	pthread_mutex_t lock;
	bool pass_now;                /* under lock: a pass at the next tick */
	int64_t pass_due_ms;          /* under lock: 0, or a recheck time */
	int64_t next_pass, next_idle; /* under lock */

	atomic_bool busy, stopping;
	vbx__single job;  /* who runs the passes among the replicas */
	int64_t lock_ttl; /* the tick's jobs.lock_ttl */
	bool store_down, engine_down; /* the tick's: log a failure once */
	/* the tick's: leftovers seen orphaned, waiting out orphan_grace */
	struct suspect *sus;
	size_t n_sus, cap_sus;
} lc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* May the pass at work go on? Not once the daemon stops, nor once this
 * replica lost the lock (another one runs the passes now). */
static bool go_on(void)
{
	return !atomic_load(&lc.stopping) &&
	       vbx__single_held(&lc.job, lc.lock_ttl, now_ms());
}

/* ---- applying decisions ---- */

/* store_env_transition and env_status (vbx__env_move), logged. */
static int transition(const vbx_env *e, unsigned from, const char *to,
                      const char *reason, bool clear)
{
	vbx_env row = *e;
	int rc = vbx__env_move(&row, from, to, reason, clear ? "" : NULL);
	if (rc == VBX_OK)
		vbx_log_info(lc.p, "environment %s is now %s%s%s", e->id, to,
		             reason[0] ? ": " : "", reason);
	else if (rc == VBX_ESTATE)
		vbx_log_debug(lc.p,
		              "environment %s changed meanwhile; not moving it "
		              "to %s",
		              e->id, to);
	else
		vbx_log_warn(lc.p,
		             "environment %s: could not record its status %s "
		             "(%s): %s",
		             e->id, to, reason, vbx_strerror(lc.p, rc));
	return rc;
}

static void apply(const vbx_env *e, const vbx__lc_verdict *v)
{
	transition(e, v->from, v->to, v->reason, v->clear_container);
}

/* Ask for a pass at the latest in ms (0: at the next tick). */
static void pass_soon(int64_t ms)
{
	pthread_mutex_lock(&lc.lock);
	int64_t due = now_ms() + ms;
	if (ms == 0)
		lc.pass_now = true;
	else if (!lc.pass_due_ms || due < lc.pass_due_ms)
		lc.pass_due_ms = due;
	pthread_mutex_unlock(&lc.lock);
}

/* ---- the runtime's facts ---- */

static bool same_container(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	return n >= 12 && strncmp(a, b, n) == 0;
}

/* The environment a fact is about, if the fact is about its current
 * container. */
static bool fact_env(const char *env_id, const char *container_id, vbx_env *e)
{
	int rc = vbx_hook_store_env_get_run(lc.get, env_id, e);
	if (rc == VBX_ENOTFOUND)
		return false; /* an orphan: the reconcile pass removes it */
	if (rc != VBX_OK) {
		vbx_log_warn(lc.p,
		             "environment %s: could not read it after an "
		             "event of its container %.12s: %s; the next "
		             "reconcile pass will check it",
		             env_id, container_id, vbx_strerror(lc.p, rc));
		return false;
	}
	/* else an earlier container of it, removed by a restart */
	return same_container(e->container_id, container_id);
}

static void decide(const vbx_env *e, int rc, const vbx_container_state *c)
{
	vbx__lc_verdict v;
	if (vbx__lc_judge(e, rc, c, now_ms(), false, &v))
		apply(e, &v);
	else if (vbx_env_status_bit(e->status) == VBX_ENV_STARTING)
		pass_soon(RECHECK_MS); /* did the start survive it? */
}

static void exited_work(void *ud)
{
	vbx_runtime_container_exited *x = ud;
	vbx_env e;
	if (!atomic_load(&lc.stopping) &&
	    fact_env(x->env_id, x->container_id, &e)) {
		vbx_container_state c = {.running = x->running,
		                         .oom_killed = x->oom_killed,
		                         .exit_code = x->exit_code,
		                         .started_at = x->started_at,
		                         .finished_at = x->finished_at};
		snprintf(c.id, sizeof(c.id), "%s", x->container_id);
		snprintf(c.env_id, sizeof(c.env_id), "%s", x->env_id);
		snprintf(c.status, sizeof(c.status), "%s", x->status);
		decide(&e, VBX_OK, &c);
	}
	free(x);
}

static void vanished_work(void *ud)
{
	vbx_runtime_container_vanished *x = ud;
	vbx_env e;
	if (!atomic_load(&lc.stopping) &&
	    fact_env(x->env_id, x->container_id, &e)) {
		unsigned bit = vbx_env_status_bit(e.status);
		vbx_container_state c = {0};
		snprintf(c.id, sizeof(c.id), "%s", x->container_id);
		/* A stopped or failed environment forgets it, so that its
		 * next start creates a new one. */
		if (bit == VBX_ENV_STOPPED || bit == VBX_ENV_ERROR)
			transition(&e, bit, e.status, e.status_reason, true);
		else
			decide(&e, VBX_ENOTFOUND, &c);
	}
	free(x);
}

/* Subscribers do not block: a copy of the fact goes to a worker. */
static void hand_over(vbx_task_fn *fn, const void *fact, size_t size)
{
	void *copy = malloc(size);
	if (copy) {
		memcpy(copy, fact, size);
		if (vbx_work_submit(lc.p, fn, copy) == VBX_OK)
			return;
		free(copy);
	}
	vbx_log_warn(lc.p, "a container event was not handled (out of "
	                   "memory or stopping); the next reconcile pass "
	                   "will check");
}

static void on_exited(void *ud, const vbx_runtime_container_exited *ev)
{
	if (ev->version >= 1)
		hand_over(exited_work, ev, sizeof(*ev));
}

static void on_vanished(void *ud, const vbx_runtime_container_vanished *ev)
{
	if (ev->version >= 1)
		hand_over(vanished_work, ev, sizeof(*ev));
}

/* Back after an outage: events may have been missed. Gone (one of
 * several engines): its environments go to error at the next pass. */
static void on_engine(void *ud, const vbx_runtime_engine_state *ev)
{
	const char *name = ev->version >= 2 ? ev->engine : "";
	if (ev->version >= 1 && ev->reachable) {
		vbx_log_info(lc.p,
		             "the runtime's engine%s%s is back; reconciling",
		             name[0] ? " " : "", name);
		pass_soon(0);
	} else if (ev->version >= 2) {
		pass_soon(0);
	}
}

/* ---- the reconcile pass and idle stops ---- */

/* A growing array of rows copied out of a callback: v, n rows of size
 * bytes each, room for cap. */
typedef struct rows {
	void *v;
	size_t n, cap, size;
} rows;

static int rows_add(rows *r, const void *row)
{
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		void *nv = realloc(r->v, ncap * r->size);
		if (!nv)
			return VBX_ENOMEM;
		r->v = nv;
		r->cap = ncap;
	}
	memcpy((char *)r->v + r->n++ * r->size, row, r->size);
	return 0;
}

typedef rows env_rows; /* of vbx_env */

static int collect_env(void *ctx, const vbx_env *e)
{
	return rows_add(ctx, e);
}

/* The environments in `mask`, copied out so that no store connection is
 * held while the runtime is asked about them. */
static int list_envs(unsigned mask, env_rows *out)
{
	*out = (env_rows){.size = sizeof(vbx_env)};
	int rc = vbx_hook_store_env_list_run(lc.list, NULL, NULL, mask, NULL,
	                                     collect_env, out, NULL);
	bool down = rc != VBX_OK;
	if (down && !lc.store_down)
		vbx_log_warn(lc.p,
		             "reconcile: could not list the environments: %s; "
		             "retrying at the next pass",
		             vbx_strerror(lc.p, rc));
	else if (!down && lc.store_down)
		vbx_log_info(lc.p, "reconcile: the store answers again");
	lc.store_down = down;
	if (down) {
		free(out->v);
		*out = (env_rows){.size = sizeof(vbx_env)};
	}
	return rc;
}

/* Log the engine's state changes once, not at every pass. */
static void engine_state(bool down, const char *env_id, int rc)
{
	if (down && !lc.engine_down)
		vbx_log_warn(lc.p,
		             "reconcile: could not inspect the container of "
		             "environment %s: %s; retrying at the next pass",
		             env_id, vbx_strerror(lc.p, rc));
	lc.engine_down = down;
}

/* Check one environment against its container. false: the engine is
 * down, end the pass. */
static bool reconcile_env(const vbx_env *e)
{
	vbx_container_state c = {0};
	int rc = e->container_id[0] ? vbx_hook_runtime_inspect_run(
	                                      lc.inspect, e->container_id, &c)
	                            : VBX_ENOTFOUND;
	if (rc == VBX_EUNAVAIL && c.error[0]) {
		/* That engine is known down; the others still answer. */
		vbx__lc_verdict v;
		if (vbx__lc_judge(e, rc, &c, now_ms(), true, &v))
			apply(e, &v);
		return true;
	}
	if (rc != VBX_OK && rc != VBX_ENOTFOUND) {
		engine_state(true, e->id, rc);
		return false;
	}
	engine_state(false, e->id, rc);
	vbx__lc_verdict v;
	if (vbx__lc_judge(e, rc, &c, now_ms(), true, &v))
		apply(e, &v);
	return true;
}

/* running -> stopping, stop the container, stopping -> stopped. */
static void idle_stop(const vbx_env *listed, const vbx__env_limits *l)
{
	vbx_env e;
	char reason[128];
	/* Activity may have come since the list: look once more. */
	if (vbx_hook_store_env_get_run(lc.get, listed->id, &e) != VBX_OK ||
	    !vbx__lc_idle(&e, l->idle_ms, now_ms(), reason, sizeof(reason)))
		return;
	if (transition(&e, VBX_ENV_RUNNING, "stopping", "", false) != VBX_OK)
		return;
	int rc = e.container_id[0]
	                 ? vbx_hook_runtime_stop_run(lc.stop, e.container_id,
	                                             l->stop_timeout_s)
	                 : VBX_OK;
	if (rc == VBX_OK || rc == VBX_ENOTFOUND) {
		transition(&e, VBX_ENV_STOPPING, "stopped", reason,
		           rc == VBX_ENOTFOUND);
		vbx__audit_env_policy("environment.stop", e.id, "stopped",
		                      reason);
		return;
	}
	char why[256];
	snprintf(why, sizeof(why), "could not stop the idle environment: %s",
	         vbx_strerror(lc.p, rc));
	vbx_log_warn(lc.p, "environment %s: %s", e.id, why);
	transition(&e, VBX_ENV_STOPPING, "error", why, false);
	vbx__audit_env_policy("environment.stop", e.id, "error", why);
}

static void idle_pass(const vbx__env_limits *l)
{
	env_rows running;
	char reason[128];
	if (list_envs(VBX_ENV_RUNNING, &running) != VBX_OK)
		return;
	const vbx_env *e = running.v;
	int64_t now = now_ms();
	for (size_t i = 0; i < running.n && go_on(); i++)
		if (vbx__lc_idle(&e[i], l->idle_ms, now, reason,
		                 sizeof(reason)))
			idle_stop(&e[i], l);
	free(running.v);
}

static int collect_box(void *ctx, const vbx_container_state *c)
{
	return rows_add(ctx, c);
}

/* Remove one container of this installation if its environment is gone.
 * false: the store is down, end the pass. */
static bool orphan_check(const vbx_container_state *c)
{
	vbx_env e;
	if (!vbx_uuid_ok(c->env_id))
		return true; /* not ours to judge */
	int rc = vbx_hook_store_env_get_run(lc.get, c->env_id, &e);
	if (rc == VBX_EUNAVAIL)
		return false;
	if (rc != VBX_ENOTFOUND)
		return true;
	rc = vbx_hook_runtime_remove_run(lc.remove, c->id);
	if (rc == VBX_OK)
		vbx_log_info(lc.p,
		             "removed container %.12s: its environment %s no "
		             "longer exists",
		             c->id, c->env_id);
	else
		vbx_log_warn(lc.p,
		             "could not remove container %.12s of the deleted "
		             "environment %s: %s",
		             c->id, c->env_id, vbx_strerror(lc.p, rc));
	return true;
}

static void orphan_pass(void)
{
	rows boxes = {.size = sizeof(vbx_container_state)};
	int rc = vbx_hook_runtime_list_run(lc.rt_list, collect_box, &boxes);
	if (rc != VBX_OK) {
		vbx_log_debug(lc.p, "reconcile: could not list containers: %s",
		              vbx_strerror(lc.p, rc));
	} else {
		const vbx_container_state *c = boxes.v;
		for (size_t i = 0; i < boxes.n && go_on(); i++)
			if (!orphan_check(&c[i]))
				break;
	}
	free(boxes.v);
}

/* ---- leftovers: networks and workspaces no environment uses ---- */

/* Something seen orphaned, first at `since`; removed once it has been
 * orphaned for orphan_grace. The count starts again with the daemon. */
typedef struct suspect {
	char env_id[VBX_ID_LEN];
	unsigned what; /* VBX_RUNTIME_* bits */
	int64_t since; /* Unix ms */
	bool seen;     /* in the pass at work */
} suspect;

static suspect *suspect_get(const char *env_id, int64_t now)
{
	for (size_t i = 0; i < lc.n_sus; i++)
		if (strcmp(lc.sus[i].env_id, env_id) == 0)
			return &lc.sus[i];
	if (lc.n_sus == lc.cap_sus) {
		size_t cap = lc.cap_sus ? lc.cap_sus * 2 : 16;
		suspect *v = realloc(lc.sus, cap * sizeof(*v));
		if (!v)
			return NULL;
		lc.sus = v;
		lc.cap_sus = cap;
	}
	suspect *s = &lc.sus[lc.n_sus++];
	memset(s, 0, sizeof(*s));
	snprintf(s->env_id, sizeof(s->env_id), "%s", env_id);
	s->since = now;
	return s;
}

/* Forget what this pass did not see orphaned (or removed). */
static void suspects_sweep(void)
{
	size_t k = 0;
	for (size_t i = 0; i < lc.n_sus; i++)
		if (lc.sus[i].seen)
			lc.sus[k++] = lc.sus[i];
	lc.n_sus = k;
}

static void purge_leftover(suspect *s)
{
	char why[256] = "";
	int rc = vbx_hook_runtime_env_purge_run(lc.purge, s->env_id, s->what,
	                                        why, sizeof(why));
	const char *what = s->what & VBX_RUNTIME_WORKSPACE
	                           ? "network and workspace"
	                           : "network";
	if (rc == VBX_OK) {
		vbx_log_info(lc.p,
		             "removed the orphaned %s of environment %s "
		             "(orphaned for more than orphan_grace)",
		             what, s->env_id);
		s->seen = false; /* gone: forget it */
	} else {
		vbx_log_warn(lc.p,
		             "could not remove the orphaned %s of environment "
		             "%s: %s; retrying at the next pass",
		             what, s->env_id,
		             why[0] ? why : vbx_strerror(lc.p, rc));
	}
}

/* Judge one leftover. false: the store is down, end the pass. */
static bool leftover_check(const vbx_runtime_leftover *l, int64_t grace_ms,
                           int64_t now)
{
	vbx_env e;
	int rc = vbx_hook_store_env_get_run(lc.get, l->env_id, &e);
	if (rc != VBX_OK && rc != VBX_ENOTFOUND)
		return false;
	unsigned what = vbx__lc_orphaned(l, rc, rc == VBX_OK ? &e : NULL);
	if (!what)
		return true;
	suspect *s = suspect_get(l->env_id, now);
	if (!s)
		return true;
	s->seen = true;
	s->what = what;
	if (now - s->since >= grace_ms)
		purge_leftover(s);
	return true;
}

static int collect_leftover(void *ctx, const vbx_runtime_leftover *l)
{
	return rows_add(ctx, l);
}

static void leftover_pass(int64_t grace_ms)
{
	rows left = {.size = sizeof(vbx_runtime_leftover)};
	int rc = vbx_hook_runtime_leftovers_run(lc.leftovers, collect_leftover,
	                                        &left);
	const vbx_runtime_leftover *l = left.v;
	int64_t now = now_ms();
	bool whole = rc == VBX_OK;
	if (rc != VBX_OK)
		vbx_log_debug(lc.p,
		              "reconcile: could not list networks and "
		              "volumes: %s",
		              vbx_strerror(lc.p, rc));
	for (size_t i = 0; i < lc.n_sus; i++)
		lc.sus[i].seen = false;
	for (size_t i = 0; whole && i < left.n; i++)
		whole = go_on() && leftover_check(&l[i], grace_ms, now);
	if (whole) /* a partial pass forgets nothing */
		suspects_sweep();
	free(left.v);
}

/* One line per pass at debug, so that a test (or an admin) sees which
 * replica runs them; the health check "jobs" counts them. */
static void pass_done(size_t checked, bool whole)
{
	uint64_t fence, runs;
	vbx__single_ran(&lc.job);
	vbx__single_role role = vbx__single_status(&lc.job, &fence, &runs);
	vbx_log_debug(lc.p,
	              "reconcile: pass %" PRIu64 " %s: %zu environments "
	              "checked (%s %s, fencing token %" PRIu64 ")",
	              runs, whole ? "done" : "cut short", checked, LOCK_NAME,
	              vbx__single_role_name(role), fence);
}

static void reconcile_pass(int64_t grace_ms)
{
	env_rows active;
	if (list_envs(ENV_ALL_ACTIVE | VBX_ENV_ERROR, &active) != VBX_OK) {
		pass_done(0, false);
		return;
	}
	const vbx_env *e = active.v;
	size_t i = 0;
	for (; i < active.n; i++) {
		/* In error: only those whose engine was down. */
		if (vbx_env_status_bit(e[i].status) == VBX_ENV_ERROR &&
		    !vbx__lc_engine_reason(e[i].status_reason))
			continue;
		if (!go_on() || !reconcile_env(&e[i]))
			break;
	}
	free(active.v);
	bool whole = i == active.n && !lc.engine_down && go_on();
	if (whole) {
		orphan_pass();
		leftover_pass(grace_ms);
	}
	pass_done(i, whole);
}

/* ---- the timer ---- */

/* How often to check for idle environments: often enough to stop one
 * within a quarter of idle_timeout of its due time. */
static int64_t idle_every(const vbx__env_limits *l)
{
	int64_t every = l->idle_ms / 4;
	if (every < 1000)
		every = 1000;
	if (l->reconcile_ms > 0 && every > l->reconcile_ms)
		every = l->reconcile_ms;
	return every;
}

/* What is due now: *full the reconcile pass, *idle the idle check. */
static void due_now(const vbx__env_limits *l, int64_t now, bool *full,
                    bool *idle)
{
	pthread_mutex_lock(&lc.lock);
	*full = lc.pass_now || now >= lc.next_pass ||
	        (lc.pass_due_ms && now >= lc.pass_due_ms);
	*idle = l->idle_ms > 0 && now >= lc.next_idle;
	if (*full) {
		lc.pass_now = false;
		lc.pass_due_ms = 0;
	}
	pthread_mutex_unlock(&lc.lock);
}

/* The passes that are due, on the runner. */
static void passes(const vbx__env_limits *l)
{
	bool full, idle;
	due_now(l, now_ms(), &full, &idle);
	if (full)
		reconcile_pass(l->orphan_grace_ms);
	/* After a pass too: it may have moved some. */
	if ((full || idle) && l->idle_ms > 0 && go_on())
		idle_pass(l);
	int64_t now = now_ms();
	pthread_mutex_lock(&lc.lock);
	if (full)
		lc.next_pass = now + l->reconcile_ms;
	if (full || idle)
		lc.next_idle = now + idle_every(l);
	pthread_mutex_unlock(&lc.lock);
}

/* Does this replica run the passes now? One that stands by owes a pass
 * as soon as it takes over: the runner it replaces may have died in the
 * middle of one. */
static bool runner_now(const vbx__env_limits *l)
{
	lc.lock_ttl = l->lock_ttl_ms;
	if (vbx__single_turn(&lc.job, lc.lock_ttl, now_ms()))
		return true;
	pthread_mutex_lock(&lc.lock);
	lc.pass_now = true;
	pthread_mutex_unlock(&lc.lock);
	return false;
}

static void tick(void *ud)
{
	if (atomic_load(&lc.stopping) || atomic_exchange(&lc.busy, true))
		return;
	vbx__env_limits l = vbx__env_limits_get();
	if (runner_now(&l))
		passes(&l);
	atomic_store(&lc.busy, false);
	/* A stop that came during the tick left the release to it. */
	if (atomic_load(&lc.stopping) && !atomic_exchange(&lc.busy, true))
		vbx__single_release(&lc.job);
}

/* The check "jobs" of /health/ready: this replica's part in the passes,
 * never a failure (a standby replica is as ready as the runner). */
static int jobs_health(void *ud, vbx_health *report)
{
	uint64_t fence, runs;
	vbx__single_role role = vbx__single_status(&lc.job, &fence, &runs);
	char detail[160];
	snprintf(detail, sizeof(detail),
	         "%s: %s, fencing token %" PRIu64 ", %" PRIu64
	         " reconcile passes on this replica",
	         LOCK_NAME, vbx__single_role_name(role), fence, runs);
	vbx_health_add(report, "jobs", VBX_OK, 0, detail);
	return VBX_OK;
}

/* ---- wiring ---- */

static int lc_hooks(vbx_plugin *p)
{
	lc.get = vbx_hook_store_env_get_get(p);
	lc.list = vbx_hook_store_env_list_get(p);
	lc.inspect = vbx_hook_runtime_inspect_get(p);
	lc.rt_list = vbx_hook_runtime_list_get(p);
	lc.stop = vbx_hook_runtime_stop_get(p);
	lc.remove = vbx_hook_runtime_remove_get(p);
	lc.leftovers = vbx_hook_runtime_leftovers_get(p);
	lc.purge = vbx_hook_runtime_env_purge_get(p);
	if (lc.get && lc.list && lc.inspect && lc.rt_list && lc.stop &&
	    lc.remove && lc.leftovers && lc.purge)
		return VBX_OK;
	vbx_log_error(p, "lifecycle: the store or runtime hooks are declared "
	                 "with other signatures than the platform's; rebuild "
	                 "the plugins against this SDK");
	return VBX_ESIGNATURE;
}

int vbx__lc_init(vbx_plugin *self)
{
	lc.p = self;
	atomic_store(&lc.stopping, false);
	atomic_store(&lc.busy, false);
	lc.pass_now = false;
	lc.pass_due_ms = lc.next_pass = lc.next_idle = 0;
	lc.store_down = lc.engine_down = false;
	vbx__lc_fini(); /* a test host may init the plugin again */
	int rc = lc_hooks(self);
	rc = rc ? rc : vbx__single_init(&lc.job, self, LOCK_NAME);
	rc = rc ? rc
	        : vbx_hook_health_check_register(self, jobs_health, NULL,
	                                         VBX_PRIO_MIDDLE);
	rc = rc ? rc
	        : vbx_event_runtime_container_exited_subscribe(self, on_exited,
	                                                       NULL);
	rc = rc ? rc
	        : vbx_event_runtime_container_vanished_subscribe(
	                  self, on_vanished, NULL);
	rc = rc ? rc
	        : vbx_event_runtime_engine_state_subscribe(self, on_engine,
	                                                   NULL);
	rc = rc ? rc : vbx_timer_add(self, TICK_MS, tick, NULL);
	if (rc != VBX_OK)
		vbx_log_error(self,
		              "lifecycle: cannot follow the runtime's events: "
		              "%s",
		              vbx_strerror(self, rc));
	return rc;
}

void vbx__lc_start(void)
{
	/* The timer's first tick comes one interval after start; a pass
	 * at once is what an admin restarting the daemon expects. */
	if (vbx_work_submit(lc.p, tick, NULL) != VBX_OK)
		vbx_log_warn(lc.p, "lifecycle: the first reconcile pass waits "
		                   "for the timer");
}

void vbx__lc_stop(void)
{
	atomic_store(&lc.stopping, true);
	/* Release the lock now, so that another replica takes over at its
	 * next tick, unless a tick is at work: it releases it when done. */
	if (!atomic_exchange(&lc.busy, true))
		vbx__single_release(&lc.job);
}

void vbx__lc_fini(void)
{
	free(lc.sus);
	lc.sus = NULL;
	lc.n_sus = lc.cap_sus = 0;
}
