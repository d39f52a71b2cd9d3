/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakecache.c - the cache hooks in memory, for auth's unit tests
 * (fakecache.h). A fixed table; a rate key keeps the times of its hits.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fakecache.h"

#define ENTRIES 256
#define HITS 64

typedef struct fentry {
	char key[VBX_CACHE_KEY_MAX];
	char value[512];
	size_t len;
	long long expires_ms; /* 0: free */
	long long hits[HITS]; /* a rate key's hit times */
	size_t nhits;
} fentry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static fentry table[ENTRIES];
static bool down;
static size_t calls;
static struct {
	char key[VBX_CACHE_KEY_MAX];
	char value[64];
	long long ttl_ms; /* 0: nothing armed */
} change;

static void put_locked(const char *key, const char *value, long long ttl_ms);

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static fentry *find(const char *key, bool make)
{
	long long now = now_ms();
	fentry *free_slot = NULL;
	for (size_t i = 0; i < ENTRIES; i++) {
		fentry *e = &table[i];
		if (e->expires_ms && e->expires_ms <= now)
			e->expires_ms = 0;
		if (e->expires_ms && strcmp(e->key, key) == 0)
			return e;
		if (!e->expires_ms && !free_slot)
			free_slot = e;
	}
	if (!make || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	free_slot->expires_ms = now + 3600000;
	return free_slot;
}

/* Under the lock: count the call; false when down. */
static bool up(void)
{
	calls++;
	return !down;
}

static int c_get(void *ud, const char *key, void *buf, size_t len,
                 size_t *out_len)
{
	(void)ud;
	pthread_mutex_lock(&lock);
	int rc = VBX_EUNAVAIL;
	if (up()) {
		fentry *e = find(key, false);
		rc = !e || e->nhits ? VBX_ENOTFOUND : VBX_OK;
		if (rc == VBX_OK) {
			*out_len = e->len;
			if (e->len > len)
				rc = VBX_EAGAIN;
			else
				memcpy(buf, e->value, e->len);
		}
		if (change.ttl_ms && strcmp(change.key, key) == 0) {
			put_locked(key, change.value, change.ttl_ms);
			change.ttl_ms = 0;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static int c_set(void *ud, const char *key, const void *value, size_t len,
                 int64_t ttl_ms)
{
	(void)ud;
	if (ttl_ms <= 0 || len > sizeof(table[0].value))
		return VBX_EINVAL;
	pthread_mutex_lock(&lock);
	int rc = VBX_EUNAVAIL;
	fentry *e = up() ? find(key, true) : NULL;
	if (e) {
		memcpy(e->value, value, len);
		e->len = len;
		e->nhits = 0;
		e->expires_ms = now_ms() + ttl_ms;
		rc = VBX_OK;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static int c_delete(void *ud, const char *key)
{
	(void)ud;
	pthread_mutex_lock(&lock);
	int rc = VBX_EUNAVAIL;
	if (up()) {
		fentry *e = find(key, false);
		if (e)
			e->expires_ms = 0;
		rc = VBX_OK;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* Drop the hits that left the window. */
static void slide(fentry *e, long long now, int64_t window_ms)
{
	size_t j = 0;
	for (size_t i = 0; i < e->nhits; i++)
		if (e->hits[i] > now - window_ms)
			e->hits[j++] = e->hits[i];
	e->nhits = j;
}

static int c_rate(void *ud, const char *key, int64_t limit, int64_t window_ms,
                  int64_t cost, vbx_rate *out)
{
	(void)ud;
	pthread_mutex_lock(&lock);
	fentry *e = up() ? find(key, true) : NULL;
	if (!e) {
		pthread_mutex_unlock(&lock);
		return VBX_EUNAVAIL;
	}
	long long now = now_ms();
	slide(e, now, window_ms);
	bool ok = (int64_t)e->nhits + (cost ? cost : 1) <= limit ||
	          (!cost && (int64_t)e->nhits < limit);
	for (int64_t i = 0; ok && i < cost && e->nhits < HITS; i++)
		e->hits[e->nhits++] = now;
	e->expires_ms = now + window_ms;
	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->count = (int64_t)e->nhits;
	out->limit = limit;
	out->remaining = limit > out->count ? limit - out->count : 0;
	out->reset_ms = e->nhits ? e->hits[0] + window_ms - now : 0;
	out->retry_after_ms = ok ? 0 : out->reset_ms;
	pthread_mutex_unlock(&lock);
	return ok ? VBX_OK : VBX_EAGAIN;
}

int fake_cache_register(vbx_plugin *p)
{
	pthread_mutex_lock(&lock);
	memset(table, 0, sizeof(table));
	memset(&change, 0, sizeof(change));
	down = false;
	calls = 0;
	pthread_mutex_unlock(&lock);
	int rc = vbx_hook_cache_get_register(p, c_get, NULL, VBX_PRIO_MIDDLE);
	rc = rc ? rc
	        : vbx_hook_cache_set_register(p, c_set, NULL, VBX_PRIO_MIDDLE);
	rc = rc ? rc
	        : vbx_hook_cache_delete_register(p, c_delete, NULL,
	                                         VBX_PRIO_MIDDLE);
	return rc ? rc
	          : vbx_hook_cache_rate_register(p, c_rate, NULL,
	                                         VBX_PRIO_MIDDLE);
}

void fake_cache_set_down(bool d)
{
	pthread_mutex_lock(&lock);
	down = d;
	pthread_mutex_unlock(&lock);
}

bool fake_cache_value(const char *key, char *buf, size_t len)
{
	pthread_mutex_lock(&lock);
	fentry *e = find(key, false);
	bool ok = e && !e->nhits;
	if (ok)
		snprintf(buf, len, "%.*s", (int)e->len, e->value);
	pthread_mutex_unlock(&lock);
	return ok;
}

size_t fake_cache_count(const char *prefix)
{
	size_t n = 0;
	long long now = now_ms();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ENTRIES; i++)
		n += table[i].expires_ms > now &&
		     strncmp(table[i].key, prefix, strlen(prefix)) == 0;
	pthread_mutex_unlock(&lock);
	return n;
}

bool fake_cache_key_contains(const char *s)
{
	bool found = false;
	long long now = now_ms();
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ENTRIES && !found; i++)
		found = table[i].expires_ms > now && strstr(table[i].key, s);
	pthread_mutex_unlock(&lock);
	return found;
}

size_t fake_cache_calls(void)
{
	pthread_mutex_lock(&lock);
	size_t n = calls;
	pthread_mutex_unlock(&lock);
	return n;
}

static void put_locked(const char *key, const char *value, long long ttl_ms)
{
	fentry *e = find(key, true);
	if (e) {
		e->len = strlen(value) < sizeof(e->value) ? strlen(value) : 0;
		memcpy(e->value, value, e->len);
		e->nhits = 0;
		e->expires_ms = now_ms() + ttl_ms;
	}
}

void fake_cache_put(const char *key, const char *value, long long ttl_ms)
{
	pthread_mutex_lock(&lock);
	put_locked(key, value, ttl_ms);
	pthread_mutex_unlock(&lock);
}

void fake_cache_change_after_get(const char *key, const char *value,
                                 long long ttl_ms)
{
	pthread_mutex_lock(&lock);
	snprintf(change.key, sizeof(change.key), "%s", key);
	snprintf(change.value, sizeof(change.value), "%s", value);
	change.ttl_ms = ttl_ms;
	pthread_mutex_unlock(&lock);
}
