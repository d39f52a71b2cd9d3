/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sharedlimit.c - the rate limits of auth counted in the cache that every
 * replica shares (cache_rate, cache_get/set/delete of <vibebox/cache.h>),
 * so that N+1 attempts spread over the replicas meet one limit.
 *
 * Windows: one sliding-window counter per key; the provider counts and
 * refuses atomically, so concurrent replicas never both take the last
 * slot.
 *
 * Backoff (login_limit): the failures in a row of an (account, address)
 * pair are the hits of a sliding window of period + max, counted
 * atomically by cache_rate with a limit nobody reaches, so two replicas
 * failing at once both count. The lock that the Nth and later failures
 * set is derived from that count (the doubling holds across replicas
 * because the count does) and kept as its end, in Unix ms, under
 * "<key>:lock" with the lock's length as TTL: the cache's own clock
 * forgets it, a skew between replicas only moves Retry-After. A success
 * deletes both keys.
 *
 * Every function answers VBX_EUNAVAIL when the cache does, and the
 * limiter (ratelimit.c) then counts in its own table for that call.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"

/* A limit a backoff's failure count never meets (login_limit's N is at
 * most 1000000, and a locked pair cannot fail again until its lock ends). */
#define NEVER_REFUSED 1000000000LL

static bool make_key(const auth_shared_limit *s, const char *key,
                     const char *suffix, char *out)
{
	int n = snprintf(out, VBX_CACHE_KEY_MAX, "auth:%s:%s%s", s->name, key,
	                 suffix);
	return n > 0 && n < VBX_CACHE_KEY_MAX;
}

static int64_t window_ms(const auth_shared_limit *s)
{
	return s->base_ms ? s->period_ms + s->max_ms : s->period_ms;
}

static int64_t limit_of(const auth_shared_limit *s)
{
	return s->base_ms ? NEVER_REFUSED : s->n;
}

/* cache_rate on key: VBX_OK, VBX_EAGAIN (refused) or VBX_EUNAVAIL. */
static int rate(const auth_shared_limit *s, const char *key, int64_t cost,
                vbx_rate *out)
{
	char k[VBX_CACHE_KEY_MAX];
	if (!make_key(s, key, "", k))
		return VBX_EUNAVAIL;
	memset(out, 0, sizeof(*out));
	int rc = vbx_hook_cache_rate_run(s->c->rate, k, limit_of(s),
	                                 window_ms(s), cost, out);
	if (rc == VBX_OK || rc == VBX_EAGAIN)
		return rc;
	return VBX_EUNAVAIL; /* down, or an answer not in the contract */
}

static int64_t seconds_up(int64_t ms)
{
	int64_t s = (ms + 999) / 1000;
	return s > 0 ? s : 1;
}

int auth_shared_take_rate(const auth_shared_limit *s, const char *key,
                          vbx_rate *out)
{
	return rate(s, key, 1, out);
}

/* A backoff's lock: the seconds left of it, 0 when none. */
static int lock_check(const auth_shared_limit *s, const char *key,
                      int64_t now_ms, int64_t *wait_s)
{
	char k[VBX_CACHE_KEY_MAX], v[24];
	size_t len = 0;
	int64_t until;

	*wait_s = 0;
	if (!make_key(s, key, ":lock", k))
		return VBX_EUNAVAIL;
	int rc = vbx_hook_cache_get_run(s->c->get, k, v, sizeof(v), &len);
	if (rc == VBX_ENOTFOUND)
		return VBX_OK;
	if (rc != VBX_OK || auth_cache_decode_ms(v, len, &until) != VBX_OK)
		return VBX_EUNAVAIL; /* a value we did not write: count here */
	if (until > now_ms)
		*wait_s = seconds_up(until - now_ms);
	return VBX_OK;
}

int auth_shared_check(const auth_shared_limit *s, const char *key,
                      int64_t now_ms, int64_t *wait_s)
{
	vbx_rate r;

	if (s->base_ms)
		return lock_check(s, key, now_ms, wait_s);
	int rc = rate(s, key, 0, &r);
	if (rc == VBX_EUNAVAIL)
		return rc;
	*wait_s = rc == VBX_EAGAIN ? seconds_up(r.retry_after_ms) : 0;
	return VBX_OK;
}

/* The failure of a backoff key was counted: lock it when the count says. */
static int lock_set(const auth_shared_limit *s, const char *key, int64_t now_ms,
                    long count)
{
	char k[VBX_CACHE_KEY_MAX], v[24];

	if (count < s->n)
		return VBX_OK;
	int64_t d = auth_backoff_lock_ms(s, count);
	int n = snprintf(v, sizeof(v), "%lld", (long long)(now_ms + d));
	if (!make_key(s, key, ":lock", k))
		return VBX_EUNAVAIL;
	int rc = vbx_hook_cache_set_run(s->c->set, k, v, (size_t)n, d);
	return rc == VBX_OK ? VBX_OK : VBX_EUNAVAIL;
}

int auth_shared_hit(const auth_shared_limit *s, const char *key, int64_t now_ms)
{
	vbx_rate r;

	int rc = rate(s, key, 1, &r);
	if (rc == VBX_EUNAVAIL)
		return rc;
	return s->base_ms ? lock_set(s, key, now_ms, (long)r.count) : VBX_OK;
}

int auth_shared_count(const auth_shared_limit *s, const char *key, long *count)
{
	vbx_rate r;

	int rc = rate(s, key, 0, &r);
	if (rc == VBX_EUNAVAIL)
		return rc;
	*count = (long)r.count;
	return VBX_OK;
}

int auth_shared_clear(const auth_shared_limit *s, const char *key)
{
	char k[VBX_CACHE_KEY_MAX];

	if (!make_key(s, key, "", k) ||
	    vbx_hook_cache_delete_run(s->c->del, k) != VBX_OK)
		return VBX_EUNAVAIL;
	if (s->base_ms && make_key(s, key, ":lock", k))
		return vbx_hook_cache_delete_run(s->c->del, k) == VBX_OK
		               ? VBX_OK
		               : VBX_EUNAVAIL;
	return VBX_OK;
}
