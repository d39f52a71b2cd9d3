/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lock.c - cache_lock and cache_unlock: a key set NX with a TTL to a
 * random owner token, a fencing token from INCR of "<name>:fence" on
 * every new hold, renewal and release by scripts that compare the owner,
 * so that a hold that lapsed and was taken over is never touched.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rc.h"

#define RC_KEYBUF (VBX_CACHE_KEY_MAX + RC_PREFIX_MAX + 16)

/*
 * KEYS lock, fence; ARGV held owner ("" when none), new owner, ttl ms.
 * Returns {2, 0} renewed, {1, fence} a new hold, {0, 0} held by another.
 */
static const char lock_lua[] =
        "local cur = redis.call('GET', KEYS[1])\n"
        "if cur and ARGV[1] ~= '' and cur == ARGV[1] then\n"
        "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
        "  return {2, 0}\n"
        "end\n"
        "if cur then return {0, 0} end\n"
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
        "return {1, redis.call('INCR', KEYS[2])}\n";

/* KEYS lock; ARGV owner. 1 released, 0 not ours (or gone). */
static const char unlock_lua[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
        "  return redis.call('DEL', KEYS[1])\n"
        "end\n"
        "return 0\n";

static rc_script lock_script, unlock_script;

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int new_owner(char *out, size_t len)
{
	unsigned char raw[16];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) ||
	    len < 2 * sizeof(raw) + 1)
		return VBX_ERR;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * sizeof(raw)] = '\0';
	return VBX_OK;
}

static int lock_keys(rcache *r, const char *name, char *k, char *f)
{
	if (rc_key(r, name, NULL, k, RC_KEYBUF) != VBX_OK ||
	    rc_key(r, name, ":fence", f, RC_KEYBUF) != VBX_OK)
		return VBX_EINVAL;
	return VBX_OK;
}

static int apply_reply(const redisReply *rep, vbx_lock *lock, const char *owner,
                       int64_t expires)
{
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER)
		return VBX_EUNAVAIL;
	switch (rep->element[0]->integer) {
	case 2: /* renewed: the fence stays */
		lock->expires_ms = expires;
		return VBX_OK;
	case 1:
		snprintf(lock->owner, sizeof(lock->owner), "%s", owner);
		lock->fence = (uint64_t)rep->element[1]->integer;
		lock->expires_ms = expires;
		return VBX_OK;
	default:
		memset(lock, 0, sizeof(*lock));
		lock->version = 1;
		return VBX_EEXIST;
	}
}

static int cache_lock(void *ud, const char *name, int64_t ttl_ms,
                      vbx_lock *lock)
{
	rcache *r = ud;
	char k[RC_KEYBUF], f[RC_KEYBUF], owner[48], ttl[24];
	redisReply *rep;

	if (!lock || ttl_ms <= 0 || lock_keys(r, name, k, f) != VBX_OK)
		return VBX_EINVAL;
	if (new_owner(owner, sizeof(owner)) != VBX_OK)
		return VBX_ERR;
	lock->version = 1;
	lock->owner[sizeof(lock->owner) - 1] = '\0';
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
	/* Counted from before the call: the holder's view errs early. */
	int64_t expires = unix_ms() + ttl_ms;
	const char *argv[] = {NULL, NULL, "2", k, f, lock->owner, owner, ttl};
	size_t lens[8];
	for (int i = 2; i < 8; i++)
		lens[i] = strlen(argv[i]);
	int rc = rc_eval(r, &lock_script, &rep, 8, argv, lens);
	if (rc != VBX_OK)
		return rc;
	rc = apply_reply(rep, lock, owner, expires);
	if (rc == VBX_EUNAVAIL)
		rc_warn_reply(r, "lock", name, rep);
	freeReplyObject(rep);
	return rc;
}

static int cache_unlock(void *ud, const char *name, vbx_lock *lock)
{
	rcache *r = ud;
	char k[RC_KEYBUF], f[RC_KEYBUF];
	redisReply *rep;

	if (!lock || lock_keys(r, name, k, f) != VBX_OK)
		return VBX_EINVAL;
	lock->owner[sizeof(lock->owner) - 1] = '\0';
	if (!lock->owner[0])
		return VBX_ENOTFOUND;
	const char *argv[] = {NULL, NULL, "1", k, lock->owner};
	size_t lens[5];
	for (int i = 2; i < 5; i++)
		lens[i] = strlen(argv[i]);
	int rc = rc_eval(r, &unlock_script, &rep, 5, argv, lens);
	if (rc != VBX_OK) {
		memset(lock, 0, sizeof(*lock));
		lock->version = 1;
		return rc;
	}
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = VBX_EUNAVAIL;
	else
		rc = rep->integer == 1 ? VBX_OK : VBX_ENOTFOUND;
	freeReplyObject(rep);
	memset(lock, 0, sizeof(*lock));
	lock->version = 1;
	return rc;
}

int rc_lock_register(rcache *r)
{
	if (rc_script_init(&lock_script, lock_lua) != VBX_OK ||
	    rc_script_init(&unlock_script, unlock_lua) != VBX_OK)
		return VBX_ERR;
	int rc = vbx_hook_cache_lock_register(r->self, cache_lock, r,
	                                      VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_unlock_register(r->self, cache_unlock, r,
		                                    VBX_PRIO_MIDDLE);
	return rc;
}
