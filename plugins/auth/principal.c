/* SPDX-License-Identifier: Apache-2.0 */
/*
 * principal.c - the user that authentication reads, shared by every
 * replica: this process's user cache (usercache.c, user_cache), then the
 * shared cache ("auth:user:<id>", principal_cache), then the store.
 *
 * A change to a user (disabled, admin taken away, ...) must stop working
 * on every replica at once. The replica that made it, after the store
 * committed, moves the user's generation "auth:gen:<id>" on, deletes the
 * shared entry, drops its own and publishes principal_changed; every
 * replica that hears the event (the core's bridge carries it) drops its
 * own entry and deletes the shared one once more.
 *
 * The race to guard against: a replica that read the row just before the
 * change puts it back into the shared cache just after the delete. A
 * filler reads the generation before it reads the store and again before
 * it writes, and writes only when both agree, so a change that committed
 * in between is seen. What is left is a write that lands between the
 * filler's second read and the delete (a round trip wide): the second
 * delete from every replica's subscriber closes it. README.md has the
 * full argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth.h"

#define GEN_LEN 17    /* 16 hex digits and the NUL */
#define ENTRY_MAX 300 /* "1|a|d|" and an email */

/* A generation outlives every entry filled under the one before it. */
static int64_t gen_ttl_ms(const auth *a)
{
	int64_t t = 2 * a->principal_cache_ms;
	return t > 60000 ? t : 60000;
}

static bool shared(const auth *a, const char *id, const char *kind, char *key)
{
	if (!a->principal_cache_ms)
		return false;
	int n = snprintf(key, VBX_CACHE_KEY_MAX, "auth:%s:%s", kind, id);
	return n > 0 && n < VBX_CACHE_KEY_MAX;
}

/* The generation of id into gen ("" when none is set). false when the
 * cache cannot say. */
static bool gen_read(auth *a, const char *id, char gen[GEN_LEN])
{
	char key[VBX_CACHE_KEY_MAX];
	size_t len = 0;

	if (!shared(a, id, "gen", key))
		return false;
	int rc = vbx_hook_cache_get_run(a->cache.get, key, gen, GEN_LEN - 1,
	                                &len);
	if (rc == VBX_ENOTFOUND)
		len = 0;
	else if (rc != VBX_OK)
		return false;
	gen[len] = '\0';
	return true;
}

static bool shared_get(auth *a, const char *id, vbx_user *u)
{
	char key[VBX_CACHE_KEY_MAX], v[ENTRY_MAX];
	size_t len = 0;

	if (!shared(a, id, "user", key) ||
	    vbx_hook_cache_get_run(a->cache.get, key, v, sizeof(v), &len) !=
	            VBX_OK)
		return false;
	memset(u, 0, sizeof(*u));
	if (auth_user_entry_decode(v, len, u) != VBX_OK) {
		vbx_log_warn(a->self,
		             "shared cache entry %s is not one auth wrote; "
		             "reading the user from the store",
		             key);
		return false;
	}
	snprintf(u->id, sizeof(u->id), "%s", id);
	return true;
}

/* Put u in the shared cache unless its generation moved since gen. */
static void shared_fill(auth *a, const vbx_user *u, const char *gen)
{
	char key[VBX_CACHE_KEY_MAX], v[ENTRY_MAX], now[GEN_LEN];

	size_t len = auth_user_entry_encode(u, v, sizeof(v));
	if (!len || !gen_read(a, u->id, now) || strcmp(now, gen) != 0 ||
	    !shared(a, u->id, "user", key))
		return;
	vbx_hook_cache_set_run(a->cache.set, key, v, len,
	                       a->principal_cache_ms);
}

int auth_user_lookup(auth *a, const char *id, vbx_user *u)
{
	uint64_t local_gen;
	char gen[GEN_LEN];

	if (auth_user_cache_get(a->users, id, u, &local_gen))
		return VBX_OK;
	if (shared_get(a, id, u)) {
		auth_user_cache_put(a->users, u, local_gen);
		return VBX_OK;
	}
	bool fill = gen_read(a, id, gen);
	int rc = vbx_hook_store_user_get_run(a->st.user_get, id, u);
	if (rc != VBX_OK)
		return rc;
	auth_user_cache_put(a->users, u, local_gen);
	if (fill)
		shared_fill(a, u, gen);
	return VBX_OK;
}

static void shared_delete(auth *a, const char *id)
{
	char key[VBX_CACHE_KEY_MAX];

	if (shared(a, id, "user", key))
		vbx_hook_cache_delete_run(a->cache.del, key);
}

void auth_user_forget(auth *a, const char *id)
{
	char key[VBX_CACHE_KEY_MAX];
	unsigned char raw[8];

	/* Shared first: dropped before, this process's copy could be filled
	 * again from the old shared entry. */
	if (shared(a, id, "gen", key) && RAND_bytes(raw, sizeof(raw)) == 1) {
		char gen[GEN_LEN];
		vbx_hex_encode(raw, sizeof(raw), gen, sizeof(gen));
		vbx_hook_cache_set_run(a->cache.set, key, gen, strlen(gen),
		                       gen_ttl_ms(a));
	}
	shared_delete(a, id);
	auth_user_cache_drop(a->users, id);
}

/* ---- principal_changed on every replica ---- */

typedef struct forget_task {
	auth *a;
	char user_id[sizeof(((vbx_principal_changed_event *)0)->user_id)];
} forget_task;

static void forget_shared(void *ud)
{
	forget_task *t = ud;
	shared_delete(t->a, t->user_id);
	free(t);
}

/* The event dispatcher must not block: the local drop is a mutex, the
 * shared delete (a round trip) goes to a worker. */
static void on_principal_changed(void *ud,
                                 const vbx_principal_changed_event *ev)
{
	auth *a = ud;

	if (!ev->user_id[0]) {
		auth_user_cache_clear(a->users);
		return;
	}
	auth_user_cache_drop(a->users, ev->user_id);
	forget_task *t = a->principal_cache_ms ? malloc(sizeof(*t)) : NULL;
	if (!t)
		return;
	t->a = a;
	snprintf(t->user_id, sizeof(t->user_id), "%s", ev->user_id);
	if (vbx_work_submit(a->self, forget_shared, t) != VBX_OK)
		free(t);
}

int auth_principal_subscribe(auth *a)
{
	return vbx_event_principal_changed_subscribe(a->self,
	                                             on_principal_changed, a);
}
