/* SPDX-License-Identifier: Apache-2.0 */
/*
 * singleton.c - run a job on the one replica that holds its cache lock
 * (singleton.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "singleton.h"

int vbx__single_init(vbx__single *s, vbx_plugin *p, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	memset(s, 0, sizeof(*s));
	if (n == 0 || n >= sizeof(s->name))
		return VBX_EINVAL;
	memcpy(s->name, name, n + 1);
	s->p = p;
	pthread_mutex_init(&s->mu, NULL);
	s->lock = vbx_hook_cache_lock_get(p);
	s->unlock = vbx_hook_cache_unlock_get(p);
	if (s->lock && s->unlock)
		return VBX_OK;
	vbx_log_error(p,
	              "%s: the cache_lock or cache_unlock hook is declared "
	              "with another signature by another plugin; rebuild the "
	              "plugins against this SDK",
	              name);
	return VBX_ESIGNATURE;
}

const char *vbx__single_role_name(vbx__single_role role)
{
	switch (role) {
	case VBX__SINGLE_ALONE:
		return "alone";
	case VBX__SINGLE_RUNNER:
		return "runner";
	case VBX__SINGLE_STANDBY:
		return "standby";
	case VBX__SINGLE_LOCAL:
		return "local";
	default:
		return "none";
	}
}

/* Say what a change of role means for whoever reads the log. */
static void log_change(vbx__single *s, vbx__single_role from,
                       vbx__single_role to, uint64_t fence, int rc)
{
	const char *n = s->name;
	if (from == VBX__SINGLE_LOCAL && to != VBX__SINGLE_LOCAL)
		vbx_log_info(s->p, "%s: the lock's provider answers again", n);
	if (to == VBX__SINGLE_RUNNER)
		vbx_log_info(s->p,
		             "%s: this replica is now the runner (fencing "
		             "token %" PRIu64 ")",
		             n, fence);
	else if (to == VBX__SINGLE_STANDBY && from == VBX__SINGLE_RUNNER)
		vbx_log_info(s->p,
		             "%s: this replica is no longer the runner: its "
		             "hold (fencing token %" PRIu64 ") lapsed and "
		             "another replica took the lock",
		             n, fence);
	else if (to == VBX__SINGLE_STANDBY)
		vbx_log_info(s->p,
		             "%s: another replica is the runner; this one "
		             "stands by",
		             n);
	else if (to == VBX__SINGLE_LOCAL)
		vbx_log_warn(s->p,
		             "%s: cannot take the lock: %s; running the job on "
		             "this replica too until the lock's provider "
		             "answers (safe, since its changes are "
		             "compare-and-set, but other replicas may repeat "
		             "the work)",
		             n, vbx_strerror(s->p, rc));
	else if (to == VBX__SINGLE_ALONE)
		vbx_log_debug(s->p,
		              "%s: no lock provider is loaded; this replica "
		              "runs the job",
		              n);
}

static void become(vbx__single *s, vbx__single_role to, int rc)
{
	pthread_mutex_lock(&s->mu);
	vbx__single_role from = s->role;
	s->role = to;
	if (to == VBX__SINGLE_RUNNER)
		s->fence = s->held.fence;
	uint64_t fence = s->fence;
	pthread_mutex_unlock(&s->mu);
	if (from != to)
		log_change(s, from, to, fence, rc);
}

/* Take or renew the lock: cache_lock's answer. */
static int take(vbx__single *s, int64_t ttl_ms, int64_t now_ms)
{
	int rc = vbx_hook_cache_lock_run(s->lock, s->name, ttl_ms, &s->held);
	if (rc == VBX_OK) {
		s->renewed_ms = now_ms;
	} else if (rc != VBX_EUNAVAIL && s->held.owner[0]) {
		/* A renewal refused: the hold lapsed. Try as a newcomer,
		 * once. The hold is kept through an outage, so that it can
		 * be renewed when the server answers again. */
		memset(&s->held, 0, sizeof(s->held));
		rc = vbx_hook_cache_lock_run(s->lock, s->name, ttl_ms,
		                             &s->held);
		if (rc == VBX_OK)
			s->renewed_ms = now_ms;
	}
	if (rc != VBX_OK && rc != VBX_EUNAVAIL)
		memset(&s->held, 0, sizeof(s->held));
	return rc;
}

bool vbx__single_turn(vbx__single *s, int64_t ttl_ms, int64_t now_ms)
{
	if (s->lock->count == 0) {
		become(s, VBX__SINGLE_ALONE, VBX_OK);
		return true;
	}
	if (s->role == VBX__SINGLE_RUNNER &&
	    now_ms - s->renewed_ms < ttl_ms / 3)
		return true;
	int rc = take(s, ttl_ms, now_ms);
	vbx__single_role to = rc == VBX_OK       ? VBX__SINGLE_RUNNER
	                      : rc == VBX_EEXIST ? VBX__SINGLE_STANDBY
	                                         : VBX__SINGLE_LOCAL;
	become(s, to, rc);
	return to != VBX__SINGLE_STANDBY;
}

bool vbx__single_held(vbx__single *s, int64_t ttl_ms, int64_t now_ms)
{
	switch (s->role) {
	case VBX__SINGLE_ALONE:
	case VBX__SINGLE_LOCAL:
		return true;
	case VBX__SINGLE_RUNNER:
		break;
	default:
		return false;
	}
	if (now_ms - s->renewed_ms >= ttl_ms / 3)
		return vbx__single_turn(s, ttl_ms, now_ms);
	return now_ms < s->held.expires_ms;
}

void vbx__single_ran(vbx__single *s)
{
	pthread_mutex_lock(&s->mu);
	s->runs++;
	pthread_mutex_unlock(&s->mu);
}

void vbx__single_release(vbx__single *s)
{
	if (s->role == VBX__SINGLE_RUNNER && s->held.owner[0]) {
		uint64_t fence = s->held.fence;
		int rc =
		        vbx_hook_cache_unlock_run(s->unlock, s->name, &s->held);
		if (rc == VBX_OK)
			vbx_log_info(s->p,
			             "%s: released the lock (fencing token "
			             "%" PRIu64 "); another replica takes over",
			             s->name, fence);
		else
			vbx_log_warn(s->p,
			             "%s: could not release the lock (fencing "
			             "token %" PRIu64 "): %s; another replica "
			             "takes over when it lapses. If the lock's "
			             "provider had stopped already, list it "
			             "before %s in plugins",
			             s->name, fence, vbx_strerror(s->p, rc),
			             vbx_plugin_name(s->p));
	}
	memset(&s->held, 0, sizeof(s->held));
	pthread_mutex_lock(&s->mu);
	s->role = VBX__SINGLE_NONE;
	pthread_mutex_unlock(&s->mu);
}

vbx__single_role vbx__single_status(vbx__single *s, uint64_t *fence,
                                    uint64_t *runs)
{
	pthread_mutex_lock(&s->mu);
	vbx__single_role role = s->role;
	if (fence)
		*fence = s->fence;
	if (runs)
		*runs = s->runs;
	pthread_mutex_unlock(&s->mu);
	return role;
}
