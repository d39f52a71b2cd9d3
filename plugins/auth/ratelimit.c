/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ratelimit.c - "at most N per period" in fixed windows, per key (an
 * email, a client address), in memory; or, made with a backoff, "N
 * failures in a row, then locked out for longer and longer".
 *
 * A key's window opens at its first event and lasts one period; the
 * (N+1)th event in it is refused until the window ends, and the caller is
 * told how long that is (Retry-After). Fixed windows let a client spend N
 * at the end of one window and N at the start of the next; for login and
 * registration throttling that bound (2N per period) is fine and keeps
 * the state at one small entry per key.
 *
 * The table is bounded: when it is full, expired windows are swept, and
 * if none has expired the oldest window is dropped, so that an attacker
 * who sprays keys cannot grow memory without bound. This table is per
 * process; a limiter made shared (auth_limiter_share) counts in the
 * cache every replica shares instead, and here only while the cache
 * answers VBX_EUNAVAIL (sharedlimit.c).
 *
 * With a backoff (auth_limiter_backoff), a key's count is its failures in
 * a row: the Nth locks the key for base, each one after it for twice as
 * long as the one before, up to max. A key is forgotten one period after
 * its lock ends (or after its last failure, when it is not locked), so
 * that a patient guesser keeps the long lock while an owner who mistyped
 * once starts afresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define BUCKETS 1024

typedef struct entry {
	struct entry *next;
	int64_t start_ms;   /* when the window opened (or the last failure) */
	int64_t until_ms;   /* backoff: refused until then */
	int64_t expires_ms; /* forgotten from then on */
	long count;         /* events in the window, or failures in a row */
	char key[];
} entry;

struct auth_limiter {
	pthread_mutex_t lock;
	long n;
	int64_t period_ms;
	int64_t base_ms, max_ms; /* backoff; 0: fixed windows */
	size_t max_keys, keys;
	auth_shared_limit shared; /* .c NULL: local only */
	entry *buckets[BUCKETS];
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int auth_limit_parse(const char *text, long *n, int64_t *period_ms)
{
	char *end;
	/* Digits only: strtol alone would take " 5", "+5" and "5/ 1m". */
	if (!is_digit(text[0]) || (text[0] == '0' && is_digit(text[1])))
		return VBX_EINVAL;
	long count = strtol(text, &end, 10);
	if (end == text || *end != '/' || count < 1 || count > 1000000)
		return VBX_EINVAL;
	const char *p = end + 1;
	if (is_digit(*p) && (p[0] == '0' && is_digit(p[1])))
		return VBX_EINVAL;
	long long v = is_digit(*p) ? strtoll(p, &end, 10) : 1;
	if (!is_digit(*p))
		end = (char *)p; /* "5/h" reads as "5/1h" */
	if (end - p > 12)
		return VBX_EINVAL;
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
	        {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0 && v >= 1 &&
		    v <= 366LL * 86400000 / units[i].ms) {
			*n = count;
			*period_ms = v * units[i].ms;
			return VBX_OK;
		}
	return VBX_EINVAL;
}

auth_limiter *auth_limiter_new(long n, int64_t period_ms, size_t max_keys)
{
	auth_limiter *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->n = n;
	l->period_ms = period_ms;
	l->max_keys = max_keys ? max_keys : 1;
	return l;
}

void auth_limiter_free(auth_limiter *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		for (entry *e = l->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* FNV-1a */
static size_t bucket_of(const char *key)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % BUCKETS;
}

static entry *find(auth_limiter *l, const char *key)
{
	for (entry *e = l->buckets[bucket_of(key)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Drop forgotten keys; when none is, drop the one forgotten soonest. */
static void sweep(auth_limiter *l, int64_t now_ms)
{
	entry **oldest = NULL;
	for (size_t i = 0; i < BUCKETS; i++)
		for (entry **pe = &l->buckets[i]; *pe;) {
			entry *e = *pe;
			if (now_ms >= e->expires_ms) {
				*pe = e->next;
				free(e);
				l->keys--;
				continue;
			}
			if (!oldest || e->expires_ms < (*oldest)->expires_ms)
				oldest = pe;
			pe = &e->next;
		}
	if (l->keys >= l->max_keys && oldest) {
		entry *e = *oldest;
		*oldest = e->next;
		free(e);
		l->keys--;
	}
}

static int64_t retry_after(const auth_limiter *l, const entry *e,
                           int64_t now_ms)
{
	if (!e || now_ms >= e->expires_ms)
		return 0;
	int64_t until = l->base_ms ? e->until_ms : e->start_ms + l->period_ms;
	if ((!l->base_ms && e->count < l->n) || now_ms >= until)
		return 0;
	return (until - now_ms + 999) / 1000;
}

int64_t auth_backoff_lock_ms(const auth_shared_limit *s, long count)
{
	int64_t d = s->base_ms;
	for (long i = s->n; i < count && d < s->max_ms; i++)
		d *= 2;
	return d < s->max_ms ? d : s->max_ms;
}

/* The lock after a backoff key's count-th failure in a row. */
static int64_t backoff_ms(const auth_limiter *l, long count)
{
	auth_shared_limit s = {
	        .n = l->n, .base_ms = l->base_ms, .max_ms = l->max_ms};
	return auth_backoff_lock_ms(&s, count);
}

static entry *add(auth_limiter *l, const char *key, int64_t now_ms)
{
	if (l->keys >= l->max_keys)
		sweep(l, now_ms);
	size_t len = strlen(key) + 1;
	entry *e = malloc(sizeof(*e) + len);
	if (!e)
		return NULL; /* out of memory: count nothing */
	memcpy(e->key, key, len);
	e->count = 0;
	size_t b = bucket_of(key);
	e->next = l->buckets[b];
	l->buckets[b] = e;
	l->keys++;
	return e;
}

static void hit_locked(auth_limiter *l, const char *key, int64_t now_ms)
{
	entry *e = find(l, key);
	if (e && now_ms >= e->expires_ms)
		e->count = 0;
	if (!e && !(e = add(l, key, now_ms)))
		return;
	if (e->count == 0 || l->base_ms)
		e->start_ms = now_ms;
	e->count++;
	e->until_ms = now_ms;
	if (l->base_ms && e->count >= l->n)
		e->until_ms = now_ms + backoff_ms(l, e->count);
	e->expires_ms = l->base_ms ? e->until_ms + l->period_ms
	                           : e->start_ms + l->period_ms;
}

static int64_t local_check(auth_limiter *l, const char *key, int64_t now_ms)
{
	pthread_mutex_lock(&l->lock);
	int64_t s = retry_after(l, find(l, key), now_ms);
	pthread_mutex_unlock(&l->lock);
	return s;
}

int64_t auth_limiter_check(auth_limiter *l, const char *key, int64_t now_ms)
{
	int64_t wait;
	if (l->shared.c &&
	    auth_shared_check(&l->shared, key, now_ms, &wait) == VBX_OK)
		return wait;
	return local_check(l, key, now_ms);
}

void auth_limiter_hit(auth_limiter *l, const char *key, int64_t now_ms)
{
	if (l->shared.c && auth_shared_hit(&l->shared, key, now_ms) == VBX_OK)
		return;
	pthread_mutex_lock(&l->lock);
	hit_locked(l, key, now_ms);
	pthread_mutex_unlock(&l->lock);
}

/* Where key stands in its fixed window after this take. */
static void local_rate(const auth_limiter *l, const entry *e, int64_t now_ms,
                       int64_t wait_s, vbx_rate *out)
{
	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->limit = l->n;
	out->count = e && now_ms < e->expires_ms ? e->count : 0;
	out->remaining = out->count < l->n ? l->n - out->count : 0;
	if (out->count > 0)
		out->reset_ms = e->start_ms + l->period_ms - now_ms;
	out->retry_after_ms = wait_s ? out->reset_ms : 0;
}

int auth_limiter_take_rate(auth_limiter *l, const char *key, int64_t now_ms,
                           vbx_rate *out)
{
	if (l->shared.c) {
		int rc = auth_shared_take_rate(&l->shared, key, out);
		if (rc != VBX_EUNAVAIL)
			return rc;
	}
	pthread_mutex_lock(&l->lock);
	int64_t s = retry_after(l, find(l, key), now_ms);
	if (s == 0)
		hit_locked(l, key, now_ms);
	local_rate(l, find(l, key), now_ms, s, out);
	pthread_mutex_unlock(&l->lock);
	return s ? VBX_EAGAIN : VBX_OK;
}

int64_t auth_limiter_take(auth_limiter *l, const char *key, int64_t now_ms)
{
	vbx_rate r;
	if (auth_limiter_take_rate(l, key, now_ms, &r) == VBX_OK)
		return 0;
	int64_t s = (r.retry_after_ms + 999) / 1000;
	return s > 0 ? s : 1;
}

long auth_limiter_count(auth_limiter *l, const char *key, int64_t now_ms)
{
	long n;
	if (l->shared.c && auth_shared_count(&l->shared, key, &n) == VBX_OK)
		return n;
	pthread_mutex_lock(&l->lock);
	const entry *e = find(l, key);
	n = e && now_ms < e->expires_ms ? e->count : 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void auth_limiter_clear(auth_limiter *l, const char *key)
{
	/* Both: counts may have been made here while the cache was down. */
	if (l->shared.c)
		auth_shared_clear(&l->shared, key);
	pthread_mutex_lock(&l->lock);
	for (entry **pe = &l->buckets[bucket_of(key)]; *pe; pe = &(*pe)->next)
		if (strcmp((*pe)->key, key) == 0) {
			entry *e = *pe;
			*pe = e->next;
			free(e);
			l->keys--;
			break;
		}
	pthread_mutex_unlock(&l->lock);
}

void auth_limiter_backoff(auth_limiter *l, int64_t base_ms, int64_t max_ms)
{
	l->base_ms = base_ms > 0 ? base_ms : 1;
	l->max_ms = max_ms > l->base_ms ? max_ms : l->base_ms;
	l->shared.base_ms = l->base_ms;
	l->shared.max_ms = l->max_ms;
}

void auth_limiter_share(auth_limiter *l, const auth_cache *c, const char *name)
{
	l->shared.c = c;
	snprintf(l->shared.name, sizeof(l->shared.name), "%s", name);
	l->shared.n = l->n;
	l->shared.period_ms = l->period_ms;
	l->shared.base_ms = l->base_ms;
	l->shared.max_ms = l->max_ms;
}
