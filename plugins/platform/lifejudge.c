/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lifejudge.c - the pure decisions of the lifecycle policy
 * (lifecycle.h): what an environment's status becomes given its
 * container's state, and when it is idle. No I/O, so that the unit test
 * drives every case.
 */
#include <stdio.h>
#include <string.h>

#include "lifecycle.h"

static void verdict(vbx__lc_verdict *v, unsigned from, const char *to,
                    bool clear, const char *reason)
{
	v->from = from;
	v->to = to;
	v->clear_container = clear;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

/* A container that is not running: stopped when it exited cleanly. */
static void exited(vbx__lc_verdict *v, unsigned from,
                   const vbx_container_state *c)
{
	if (strcmp(c->status, "created") == 0) {
		verdict(v, from, "error", false,
		        "the container was created but never started");
		return;
	}
	bool clean = c->exit_code == 0 && !c->oom_killed;
	v->from = from;
	v->to = clean ? "stopped" : "error";
	v->clear_container = false;
	snprintf(v->reason, sizeof(v->reason),
	         "the container exited with code %d%s", c->exit_code,
	         c->oom_killed ? " (killed: out of memory)" : "");
}

static bool judge_running(const vbx_env *e, int rc,
                          const vbx_container_state *c, vbx__lc_verdict *v)
{
	if (rc == VBX_ENOTFOUND || !e->container_id[0])
		verdict(v, VBX_ENV_RUNNING, "error", true,
		        "the container was removed outside VibeBox");
	else if (rc == VBX_OK && !c->running)
		exited(v, VBX_ENV_RUNNING, c);
	return v->from != 0;
}

/*
 * Starting: the API is creating and starting the container, and a
 * restart removes the previous one meanwhile, so only a container started
 * during this phase that has exited already says the start failed.
 */
static bool judge_starting(const vbx_env *e, int rc,
                           const vbx_container_state *c, int64_t now,
                           bool timeouts, vbx__lc_verdict *v)
{
	bool ok = rc == VBX_OK && c;
	if (ok && !c->running && c->started_at > 0 &&
	    c->started_at >= e->status_at)
		exited(v, VBX_ENV_STARTING, c);
	else if (timeouts && now - e->status_at > VBX__LC_PHASE_TIMEOUT_MS)
		verdict(v, VBX_ENV_STARTING,
		        ok && c->running ? "running" : "error", false,
		        ok && c->running ? "" : "timed out while starting");
	return v->from != 0;
}

/* Stopping: the API is stopping it; only a phase past its time matters.
 * A container found stopped by then did stop. */
static bool judge_stopping(const vbx_env *e, int rc,
                           const vbx_container_state *c, int64_t now,
                           bool timeouts, vbx__lc_verdict *v)
{
	if (!timeouts || now - e->status_at <= VBX__LC_PHASE_TIMEOUT_MS)
		return false;
	if (rc == VBX_OK && c && !c->running)
		verdict(v, VBX_ENV_STOPPING, "stopped", false, "");
	else if (rc == VBX_ENOTFOUND)
		verdict(v, VBX_ENV_STOPPING, "error", true,
		        "the container was removed outside VibeBox");
	else
		verdict(v, VBX_ENV_STOPPING, "error", false,
		        "timed out while stopping");
	return true;
}

bool vbx__lc_engine_reason(const char *reason)
{
	return strncmp(reason, "engine ", 7) == 0 &&
	       strstr(reason, " unreachable") != NULL;
}

/* The environment's engine is known to be down: an active environment
 * goes to error with the runtime's reason, which names the engine. */
static bool judge_engine_down(const vbx_env *e, const vbx_container_state *c,
                              vbx__lc_verdict *v)
{
	unsigned bit = vbx_env_status_bit(e->status);
	if (!(bit & (VBX_ENV_RUNNING | VBX_ENV_STARTING | VBX_ENV_STOPPING)))
		return false;
	verdict(v, bit, "error", false, c->error);
	return true;
}

/* In error because its engine was down, and the engine answers again:
 * what its container does now decides. */
static bool judge_engine_back(const vbx_env *e, int rc,
                              const vbx_container_state *c, vbx__lc_verdict *v)
{
	if (rc == VBX_ENOTFOUND || !c)
		verdict(v, VBX_ENV_ERROR, "error", true,
		        "the container was removed while its engine was "
		        "unreachable");
	else if (c->running)
		verdict(v, VBX_ENV_ERROR, "running", false, "");
	else
		exited(v, VBX_ENV_ERROR, c);
	return true;
}

bool vbx__lc_judge(const vbx_env *e, int inspect_rc,
                   const vbx_container_state *c, int64_t now_ms, bool timeouts,
                   vbx__lc_verdict *out)
{
	*out = (vbx__lc_verdict){0};
	if (inspect_rc == VBX_OK && !c)
		return false;
	if (inspect_rc == VBX_EUNAVAIL && c && c->error[0])
		return judge_engine_down(e, c, out);
	if (inspect_rc != VBX_OK && inspect_rc != VBX_ENOTFOUND)
		return false; /* the engine did not say: decide nothing */
	if (vbx_env_status_bit(e->status) == VBX_ENV_ERROR &&
	    vbx__lc_engine_reason(e->status_reason))
		return judge_engine_back(e, inspect_rc, c, out);
	switch (vbx_env_status_bit(e->status)) {
	case VBX_ENV_RUNNING:
		return judge_running(e, inspect_rc, c, out);
	case VBX_ENV_STARTING:
		return judge_starting(e, inspect_rc, c, now_ms, timeouts, out);
	case VBX_ENV_STOPPING:
		return judge_stopping(e, inspect_rc, c, now_ms, timeouts, out);
	default:
		return false;
	}
}

/* "90 seconds", "1 minute", "4 hours": the largest whole unit. */
static void duration_text(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	const char *unit = "second";
	int64_t n = s;
	if (s >= 3600 && s % 3600 == 0)
		unit = "hour", n = s / 3600;
	else if (s >= 60 && s % 60 == 0)
		unit = "minute", n = s / 60;
	snprintf(buf, len, "%lld %s%s", (long long)n, unit, n == 1 ? "" : "s");
}

bool vbx__lc_idle(const vbx_env *e, int64_t idle_ms, int64_t now_ms,
                  char *reason, size_t len)
{
	if (idle_ms <= 0 || vbx_env_status_bit(e->status) != VBX_ENV_RUNNING)
		return false;
	int64_t last =
	        e->active_at > e->started_at ? e->active_at : e->started_at;
	if (last <= 0)
		last = e->status_at;
	if (now_ms - last < idle_ms)
		return false;
	char d[48];
	duration_text(idle_ms, d, sizeof(d));
	snprintf(reason, len, "stopped after %s without activity", d);
	return true;
}

unsigned vbx__lc_orphaned(const vbx_runtime_leftover *l, int env_rc,
                          const vbx_env *e)
{
	unsigned parts = VBX_RUNTIME_NETWORK | VBX_RUNTIME_WORKSPACE;
	if (env_rc == VBX_ENOTFOUND)
		return l->have & parts;
	/* A start makes the network before the container: only an
	 * environment at rest has no start under way. */
	if (env_rc != VBX_OK || !e ||
	    !(vbx_env_status_bit(e->status) &
	      (VBX_ENV_STOPPED | VBX_ENV_ERROR)))
		return 0;
	if (l->have & VBX_RUNTIME_CONTAINERS)
		return 0;
	return l->have & VBX_RUNTIME_NETWORK;
}
