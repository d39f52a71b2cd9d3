/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/cache.h - what several replicas share, without knowing how: a
 * key-value cache with expiry, a sliding-window rate counter, a lock with
 * a TTL and a fencing token, and publish/subscribe (ABI 1.2).
 *
 * One plugin provides them (redis-cache); every hook is PROVIDER and
 * answers VBX_EUNAVAIL when none is loaded or when its backend is down, so
 * that a caller always has one thing to fall back on: its own process.
 * A caller must never fail a request because the cache is missing:
 * bypass it (read the store), count locally, or run the job itself.
 *
 * Keys and channels are short printable ASCII without spaces (at most
 * VBX_CACHE_KEY_MAX bytes including the NUL), named by the caller's
 * plugin ("auth:principal:<id>"); the provider adds its own prefix, so
 * two installations can share one server. Values are bytes.
 *
 * Every hook may block (a network round trip) for at most the provider's
 * command timeout, and runs on a worker, a timer or a plugin's own thread,
 * never on the service thread or the event dispatcher.
 */
#ifndef VIBEBOX_CACHE_H
#define VIBEBOX_CACHE_H

#include <vibebox/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBX_CACHE_KEY_MAX 200

/*
 * cache_get(key, buf, len, out_len) - PROVIDER, default VBX_EUNAVAIL.
 * Copy the value of key into buf (len bytes) and its length to *out_len.
 * Returns VBX_OK; VBX_ENOTFOUND (absent or expired); VBX_EAGAIN when the
 * value is longer than len (*out_len is its length; nothing is copied);
 * VBX_EUNAVAIL (no provider, or its server is down or too slow).
 * Borrows key; buf and out_len belong to the caller.
 */
VBX_HOOK_DECLARE(cache_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *key, void *buf, size_t len, size_t *out_len),
                 (key, buf, len, out_len))

/*
 * cache_set(key, value, len, ttl_ms) - PROVIDER, default VBX_EUNAVAIL.
 * Store len bytes of value under key for ttl_ms milliseconds (> 0: every
 * entry expires). Returns VBX_OK, VBX_EINVAL (bad key or ttl), or
 * VBX_EUNAVAIL. Borrows its arguments.
 */
VBX_HOOK_DECLARE(cache_set, PROVIDER, VBX_EUNAVAIL,
                 (const char *key, const void *value, size_t len,
                  int64_t ttl_ms),
                 (key, value, len, ttl_ms))

/*
 * cache_delete(key) - PROVIDER, default VBX_EUNAVAIL.
 * Remove key, whatever holds it: a value of cache_set, or the counter of
 * cache_rate under that key (which starts it over). Returns VBX_OK (also
 * when it was absent) or VBX_EUNAVAIL.
 */
VBX_HOOK_DECLARE(cache_delete, PROVIDER, VBX_EUNAVAIL, (const char *key), (key))

/* What a rate counter answered. */
typedef struct vbx_rate {
	uint32_t version;       /* 1, set by the provider */
	int64_t count;          /* hits in the window, this one included
	                           when it was allowed */
	int64_t limit;          /* the limit asked for */
	int64_t remaining;      /* limit - count, at least 0 */
	int64_t reset_ms;       /* ms until the oldest hit in the window
	                           leaves it (0: the window is empty) */
	int64_t retry_after_ms; /* refused: ms until one more hit would be
	                           allowed; allowed: 0 */
} vbx_rate;

/*
 * cache_rate(key, limit, window_ms, cost, out) - PROVIDER, default
 * VBX_EUNAVAIL. A sliding-window counter shared by every replica: count
 * cost hits (1 for one request; 0 only reads) against key when fewer than
 * limit hits fell in the last window_ms, else count nothing. Returns
 * VBX_OK (allowed), VBX_EAGAIN (refused: over the limit), or VBX_EUNAVAIL
 * (fall back to a counter of the caller's own process). *out is filled on
 * VBX_OK and VBX_EAGAIN. The window slides: a hit leaves it exactly
 * window_ms after it was counted, not at a fixed boundary.
 */
VBX_HOOK_DECLARE(cache_rate, PROVIDER, VBX_EUNAVAIL,
                 (const char *key, int64_t limit, int64_t window_ms,
                  int64_t cost, vbx_rate *out),
                 (key, limit, window_ms, cost, out))

/*
 * A lock held by this replica. The caller keeps it between calls and
 * passes it back to renew and release; zero it before the first
 * cache_lock.
 */
typedef struct vbx_lock {
	uint32_t version;   /* 1 */
	char owner[48];     /* the provider's random token of this hold;
	                       "" while not held */
	uint64_t fence;     /* fencing token: grows with every new hold of
	                       this name, so a store that remembers the
	                       highest it has seen can refuse a holder whose
	                       lock expired while it was paused */
	int64_t expires_ms; /* Unix ms at which the hold lapses unless
	                       renewed */
} vbx_lock;

/*
 * cache_lock(name, ttl_ms, lock) - PROVIDER, default VBX_EUNAVAIL.
 * Take the lock name for ttl_ms, or renew it when *lock already holds it.
 * Returns VBX_OK (held: lock->owner, ->fence and ->expires_ms are set; a
 * renewal keeps the fence), VBX_EEXIST (another holder has it; *lock is
 * cleared), or VBX_EUNAVAIL (no provider or server down: a single-runner
 * job then decides itself; see docs/plugin-guide.md). A holder that dies
 * loses the lock ttl_ms after its last renewal at most; renew at a third
 * of the TTL or more often.
 */
VBX_HOOK_DECLARE(cache_lock, PROVIDER, VBX_EUNAVAIL,
                 (const char *name, int64_t ttl_ms, vbx_lock *lock),
                 (name, ttl_ms, lock))

/*
 * cache_unlock(name, lock) - PROVIDER, default VBX_EUNAVAIL.
 * Release name if *lock still holds it (a lapsed hold taken over by
 * another is left alone). Clears *lock. Returns VBX_OK, VBX_ENOTFOUND
 * (not held by this lock any more) or VBX_EUNAVAIL.
 */
VBX_HOOK_DECLARE(cache_unlock, PROVIDER, VBX_EUNAVAIL,
                 (const char *name, vbx_lock *lock), (name, lock))

/*
 * cache_publish(channel, msg, len) - PROVIDER, default VBX_EUNAVAIL.
 * Send len bytes to every subscriber of channel on every replica, this
 * one included (a subscriber that must not see its own messages tags
 * them; see vbx_replica_id()). At most once: a message sent while the
 * server is down or a subscriber is reconnecting is lost. Returns VBX_OK
 * or VBX_EUNAVAIL. Borrows its arguments.
 */
VBX_HOOK_DECLARE(cache_publish, PROVIDER, VBX_EUNAVAIL,
                 (const char *channel, const void *msg, size_t len),
                 (channel, msg, len))

/*
 * A subscriber's callback: one message of channel, in the order the
 * server delivered them. Runs on the provider's subscriber thread and
 * must not block (copy, publish an event, or vbx_work_submit()). msg is
 * borrowed for the call. Called with msg NULL and len 0 each time the
 * server has confirmed the subscription, at first and after every
 * reconnect: messages published from then on arrive, and those of a
 * reconnect's gap were lost, so a subscriber that keeps state from them
 * re-reads it.
 */
typedef void vbx_cache_message_fn(void *ud, const char *channel,
                                  const void *msg, size_t len);

/*
 * cache_subscribe(channel, fn, arg) - PROVIDER, default VBX_EUNAVAIL.
 * Call fn(arg, ...) for every message published to channel from now on,
 * across reconnects, until the daemon stops. Call it from a plugin's
 * start (or later); there is no unsubscribe. Returns VBX_OK (subscribed,
 * even while the server is down: the provider subscribes when it
 * connects), VBX_EINVAL, or VBX_EUNAVAIL (no provider).
 */
VBX_HOOK_DECLARE(cache_subscribe, PROVIDER, VBX_EUNAVAIL,
                 (const char *channel, vbx_cache_message_fn *fn, void *arg),
                 (channel, fn, arg))

#ifdef __cplusplus
}
#endif
#endif
