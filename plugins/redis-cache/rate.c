/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rate.c - cache_rate: a sliding window over a sorted set, decided
 * atomically by one Lua script on the server with the server's clock, so
 * that replicas with skewed clocks count the same window.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "rc.h"

#define RC_KEYBUF (VBX_CACHE_KEY_MAX + RC_PREFIX_MAX + 16)

/*
 * KEYS[1] the set; ARGV limit, window ms, cost, a member tag unique to
 * this call. A hit scored t leaves the window at t + window exactly.
 * Allowed when count + max(cost, 1) <= limit (cost 0 only reads).
 * Returns {allowed, count, reset_ms, retry_after_ms}.
 */
static const char rate_lua[] =
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / "
        "1000)\n"
        "local limit, win, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), "
        "tonumber(ARGV[3])\n"
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)\n"
        "local count = redis.call('ZCARD', KEYS[1])\n"
        "local need = math.max(cost, 1)\n"
        "local allowed = 0\n"
        "if count + need <= limit then\n"
        "  allowed = 1\n"
        "  for i = 1, cost do\n"
        "    redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)\n"
        "  end\n"
        "  count = count + cost\n"
        "  if cost > 0 then redis.call('PEXPIRE', KEYS[1], win) end\n"
        "end\n"
        "local reset, retry = 0, 0\n"
        "local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
        "if o[2] then reset = tonumber(o[2]) + win - now end\n"
        "if allowed == 0 then\n"
        "  local i = count + need - limit - 1\n"
        "  local e = redis.call('ZRANGE', KEYS[1], i, i, 'WITHSCORES')\n"
        "  if e[2] then retry = tonumber(e[2]) + win - now else retry = win "
        "end\n"
        "  if retry < 1 then retry = 1 end\n"
        "end\n"
        "return {allowed, count, reset, retry}\n";

static atomic_ullong rate_seq;
static rc_script rate_script;

static int read_reply(const redisReply *rep, int64_t limit, vbx_rate *out)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
		return VBX_EUNAVAIL;
	for (size_t i = 0; i < 4; i++)
		if (rep->element[i]->type != REDIS_REPLY_INTEGER)
			return VBX_EUNAVAIL;
	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->count = rep->element[1]->integer;
	out->limit = limit;
	out->remaining = limit - out->count > 0 ? limit - out->count : 0;
	out->reset_ms = rep->element[2]->integer;
	out->retry_after_ms =
	        rep->element[0]->integer ? 0 : rep->element[3]->integer;
	return rep->element[0]->integer ? VBX_OK : VBX_EAGAIN;
}

static int cache_rate(void *ud, const char *key, int64_t limit,
                      int64_t window_ms, int64_t cost, vbx_rate *out)
{
	rcache *r = ud;
	char k[RC_KEYBUF], a[3][24], tag[64];
	redisReply *rep;

	if (rc_key(r, key, NULL, k, sizeof(k)) != VBX_OK || limit <= 0 ||
	    window_ms <= 0 || cost < 0 || !out)
		return VBX_EINVAL;
	snprintf(a[0], sizeof(a[0]), "%lld", (long long)limit);
	snprintf(a[1], sizeof(a[1]), "%lld", (long long)window_ms);
	snprintf(a[2], sizeof(a[2]), "%lld", (long long)cost);
	snprintf(tag, sizeof(tag), "%s:%llu", vbx_replica_id(r->self),
	         (unsigned long long)atomic_fetch_add(&rate_seq, 1));
	const char *argv[] = {NULL, NULL, "1", k, a[0], a[1], a[2], tag};
	size_t lens[8];
	for (int i = 2; i < 8; i++)
		lens[i] = strlen(argv[i]);
	int rc = rc_eval(r, &rate_script, &rep, 8, argv, lens);
	if (rc != VBX_OK)
		return rc;
	rc = read_reply(rep, limit, out);
	if (rc == VBX_EUNAVAIL)
		rc_warn_reply(r, "rate", key, rep);
	freeReplyObject(rep);
	return rc;
}

int rc_rate_register(rcache *r)
{
	if (rc_script_init(&rate_script, rate_lua) != VBX_OK)
		return VBX_ERR;
	return vbx_hook_cache_rate_register(r->self, cache_rate, r,
	                                    VBX_PRIO_MIDDLE);
}
