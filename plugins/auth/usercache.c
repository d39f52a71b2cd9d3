/* SPDX-License-Identifier: Apache-2.0 */
/*
 * usercache.c - the users that authentication read lately, kept for
 * `user_cache` (a few seconds) so that a busy client costs one store read
 * per interval instead of one per request.
 *
 * Direct-mapped: a user id hashes to one slot, and a newcomer replaces
 * whoever was there. Slots are guarded by a few striped locks so that
 * workers rarely wait on each other.
 *
 * A change made through this process (auth_user_cache_drop) takes effect
 * at once: the slot is emptied, and the generation moves on so that a
 * reader that fetched the old row before the change cannot put it back.
 * A change made through another replica takes effect when its
 * principal_changed event arrives (principal.c), or within the TTL when
 * no event bridge carries it.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

#define SLOTS 1024 /* a power of two */
#define STRIPES 16

typedef struct slot {
	char id[VBX_ID_LEN]; /* "" when empty */
	char email[sizeof(((vbx_user *)0)->email)];
	bool admin;
	bool disabled;
	int64_t until_ms; /* monotonic */
} slot;

struct auth_user_cache {
	int64_t ttl_ms;
	atomic_uint_fast64_t generation;
	pthread_mutex_t locks[STRIPES];
	slot slots[SLOTS];
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a of the id's text: ids are random UUIDs, any mix will do. */
static size_t slot_of(const char *id)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h & (SLOTS - 1);
}

static pthread_mutex_t *lock_of(auth_user_cache *c, size_t i)
{
	return &c->locks[i % STRIPES];
}

auth_user_cache *auth_user_cache_new(int64_t ttl_ms)
{
	if (ttl_ms <= 0)
		return NULL;
	auth_user_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ttl_ms = ttl_ms;
	atomic_init(&c->generation, 1);
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	return c;
}

void auth_user_cache_free(auth_user_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->locks[i]);
	free(c);
}

bool auth_user_cache_get(auth_user_cache *c, const char *id, vbx_user *out,
                         uint64_t *gen)
{
	*gen = 0;
	if (!c)
		return false;
	/* Read before the slot: a drop after this makes the put a no-op. */
	*gen = atomic_load(&c->generation);
	size_t i = slot_of(id);
	slot *s = &c->slots[i];
	bool hit = false;

	pthread_mutex_lock(lock_of(c, i));
	if (strcmp(s->id, id) == 0 && s->until_ms > mono_ms()) {
		memset(out, 0, sizeof(*out));
		memcpy(out->id, s->id, sizeof(out->id));
		memcpy(out->email, s->email, sizeof(out->email));
		out->admin = s->admin;
		out->disabled = s->disabled;
		hit = true;
	}
	pthread_mutex_unlock(lock_of(c, i));
	return hit;
}

void auth_user_cache_put(auth_user_cache *c, const vbx_user *u, uint64_t gen)
{
	if (!c || strlen(u->id) >= sizeof(((slot *)0)->id))
		return;
	size_t i = slot_of(u->id);
	slot *s = &c->slots[i];

	pthread_mutex_lock(lock_of(c, i));
	/* Checked under the lock: a drop takes the same lock after moving
	 * the generation, so it either sees this row or this sees it. */
	if (atomic_load(&c->generation) == gen) {
		memcpy(s->id, u->id, sizeof(s->id));
		memcpy(s->email, u->email, sizeof(s->email));
		s->admin = u->admin;
		s->disabled = u->disabled;
		s->until_ms = mono_ms() + c->ttl_ms;
	}
	pthread_mutex_unlock(lock_of(c, i));
}

void auth_user_cache_drop(auth_user_cache *c, const char *id)
{
	if (!c)
		return;
	size_t i = slot_of(id);
	slot *s = &c->slots[i];

	atomic_fetch_add(&c->generation, 1);
	pthread_mutex_lock(lock_of(c, i));
	if (strcmp(s->id, id) == 0)
		s->id[0] = '\0';
	pthread_mutex_unlock(lock_of(c, i));
}

void auth_user_cache_clear(auth_user_cache *c)
{
	if (!c)
		return;
	atomic_fetch_add(&c->generation, 1);
	for (size_t i = 0; i < SLOTS; i++) {
		pthread_mutex_lock(lock_of(c, i));
		c->slots[i].id[0] = '\0';
		pthread_mutex_unlock(lock_of(c, i));
	}
}
