/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakestore.c - see fakestore.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fakestore.h"

#define MAXROWS 256

typedef struct urow {
	vbx_user u;
	char hash[256];
} urow;

typedef struct krow {
	vbx_api_key k;
	char hash[65];
	bool revoked;
} krow;

typedef struct rrow {
	vbx_refresh t;
	char hash[65];
	bool used;
} rrow;

static struct {
	pthread_mutex_t lock;
	bool down;
	bool fail_revoke_user;
	unsigned next_id;
	urow users[MAXROWS];
	size_t nusers;
	krow keys[MAXROWS];
	size_t nkeys;
	rrow refresh[MAXROWS];
	size_t nrefresh;
	char revoked_families[MAXROWS][VBX_ID_LEN];
	size_t nrevoked;
	vbx_member members[MAXROWS];
	size_t nmembers;
	vbx_project projects[MAXROWS];
	size_t nprojects;
	vbx_audit audit[MAXROWS];
	size_t naudit;
	vbx_env envs[MAXROWS];
	size_t nenvs;
} fs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void new_id(char out[VBX_ID_LEN])
{
	snprintf(out, VBX_ID_LEN, "00000000-0000-4000-8000-%012x",
	         ++fs.next_id);
}

void fake_reset(void)
{
	pthread_mutex_lock(&fs.lock);
	unsigned id = fs.next_id;
	memset((char *)&fs + sizeof(fs.lock), 0, sizeof(fs) - sizeof(fs.lock));
	fs.next_id = id; /* ids stay unique across tests */
	pthread_mutex_unlock(&fs.lock);
}

void fake_set_down(bool down)
{
	fs.down = down;
}

void fake_fail_revoke_user(bool fail)
{
	fs.fail_revoke_user = fail;
}

int fake_audit_count(const char *action)
{
	int n = 0;
	for (size_t i = 0; i < fs.naudit; i++)
		n += strcmp(fs.audit[i].action, action) == 0;
	return n;
}

const vbx_audit *fake_audit_last(const char *action)
{
	for (size_t i = fs.naudit; i-- > 0;)
		if (strcmp(fs.audit[i].action, action) == 0)
			return &fs.audit[i];
	return NULL;
}

const char *fake_user_add(const char *email, bool admin, bool disabled)
{
	urow *r = &fs.users[fs.nusers++];
	memset(r, 0, sizeof(*r));
	new_id(r->u.id);
	snprintf(r->u.email, sizeof(r->u.email), "%s", email);
	r->u.admin = admin;
	r->u.disabled = disabled;
	r->u.created_at = r->u.updated_at = now_ms();
	return r->u.id;
}

vbx_user *fake_user(const char *id)
{
	for (size_t i = 0; i < fs.nusers; i++)
		if (strcmp(fs.users[i].u.id, id) == 0)
			return &fs.users[i].u;
	return NULL;
}

void fake_member_add(const char *team_id, const char *user_id, const char *role)
{
	vbx_member *m = &fs.members[fs.nmembers++];
	memset(m, 0, sizeof(*m));
	snprintf(m->team_id, sizeof(m->team_id), "%s", team_id);
	snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
	snprintf(m->role, sizeof(m->role), "%s", role);
}

const char *fake_project_add(const char *owner_id, const char *team_id)
{
	vbx_project *p = &fs.projects[fs.nprojects++];
	memset(p, 0, sizeof(*p));
	new_id(p->id);
	snprintf(p->owner_id, sizeof(p->owner_id), "%s",
	         owner_id ? owner_id : "");
	snprintf(p->team_id, sizeof(p->team_id), "%s", team_id ? team_id : "");
	return p->id;
}

const char *fake_env_add(const char *project_id)
{
	vbx_env *e = &fs.envs[fs.nenvs++];
	memset(e, 0, sizeof(*e));
	new_id(e->id);
	snprintf(e->project_id, sizeof(e->project_id), "%s", project_id);
	snprintf(e->status, sizeof(e->status), "stopped");
	for (size_t i = 0; i < fs.nprojects; i++)
		if (strcmp(fs.projects[i].id, project_id) == 0) {
			snprintf(e->owner_id, sizeof(e->owner_id), "%s",
			         fs.projects[i].owner_id);
			snprintf(e->team_id, sizeof(e->team_id), "%s",
			         fs.projects[i].team_id);
		}
	return e->id;
}

/* ---- the hooks ---- */

#define ENTER()                                                                \
	do {                                                                   \
		if (fs.down)                                                   \
			return VBX_EUNAVAIL;                                   \
		pthread_mutex_lock(&fs.lock);                                  \
	} while (0)
#define LEAVE(rc)                                                              \
	do {                                                                   \
		pthread_mutex_unlock(&fs.lock);                                \
		return (rc);                                                   \
	} while (0)

static urow *user_by_email(const char *email)
{
	for (size_t i = 0; i < fs.nusers; i++)
		if (strcasecmp(fs.users[i].u.email, email) == 0)
			return &fs.users[i];
	return NULL;
}

static int user_create(void *ud, vbx_user *u, const char *hash,
                       int admin_if_first)
{
	ENTER();
	if (user_by_email(u->email))
		LEAVE(VBX_EEXIST);
	if (fs.nusers == MAXROWS)
		LEAVE(VBX_EINVAL);
	if (admin_if_first)
		u->admin = fs.nusers == 0;
	urow *r = &fs.users[fs.nusers++];
	new_id(u->id);
	u->created_at = u->updated_at = now_ms();
	r->u = *u;
	snprintf(r->hash, sizeof(r->hash), "%s", hash);
	LEAVE(VBX_OK);
}

static int user_get(void *ud, const char *id, vbx_user *out)
{
	ENTER();
	vbx_user *u = fake_user(id);
	if (!u)
		LEAVE(VBX_ENOTFOUND);
	*out = *u;
	LEAVE(VBX_OK);
}

static int user_by_email_hook(void *ud, const char *email, vbx_user *out,
                              char *hash, size_t len)
{
	ENTER();
	urow *r = user_by_email(email);
	if (!r)
		LEAVE(VBX_ENOTFOUND);
	*out = r->u;
	snprintf(hash, len, "%s", r->hash);
	LEAVE(VBX_OK);
}

static int user_update(void *ud, vbx_user *u, const char *hash)
{
	ENTER();
	urow *other = user_by_email(u->email);
	if (other && strcmp(other->u.id, u->id) != 0)
		LEAVE(VBX_EEXIST);
	for (size_t i = 0; i < fs.nusers; i++)
		if (strcmp(fs.users[i].u.id, u->id) == 0) {
			u->updated_at = now_ms();
			fs.users[i].u = *u;
			if (hash)
				snprintf(fs.users[i].hash,
				         sizeof(fs.users[i].hash), "%s", hash);
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int user_list(void *ud, const vbx_page *pg, vbx_user_each_fn *each,
                     void *ctx, int64_t *total)
{
	ENTER();
	*total = (int64_t)fs.nusers;
	size_t from = (size_t)(pg->page - 1) * (size_t)pg->limit;
	for (size_t i = from; each && i < fs.nusers && i < from + pg->limit;
	     i++) {
		int rc = each(ctx, &fs.users[i].u);
		if (rc)
			LEAVE(rc);
	}
	LEAVE(VBX_OK);
}

static int key_create(void *ud, vbx_api_key *k, const char *hash)
{
	ENTER();
	krow *r = &fs.keys[fs.nkeys++];
	new_id(k->id);
	k->created_at = now_ms();
	r->k = *k;
	r->revoked = false;
	snprintf(r->hash, sizeof(r->hash), "%s", hash);
	LEAVE(VBX_OK);
}

static int key_use(void *ud, const char *hash, vbx_api_key *out)
{
	ENTER();
	for (size_t i = 0; i < fs.nkeys; i++)
		if (!fs.keys[i].revoked && strcmp(fs.keys[i].hash, hash) == 0) {
			fs.keys[i].k.last_used_at = now_ms();
			*out = fs.keys[i].k;
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int key_list(void *ud, const char *user_id, vbx_api_key_each_fn *each,
                    void *ctx)
{
	ENTER();
	for (size_t i = fs.nkeys; i-- > 0;)
		if (!fs.keys[i].revoked &&
		    strcmp(fs.keys[i].k.user_id, user_id) == 0) {
			int rc = each(ctx, &fs.keys[i].k);
			if (rc)
				LEAVE(rc);
		}
	LEAVE(VBX_OK);
}

static int key_revoke(void *ud, const char *user_id, const char *id)
{
	ENTER();
	for (size_t i = 0; i < fs.nkeys; i++)
		if (!fs.keys[i].revoked && strcmp(fs.keys[i].k.id, id) == 0 &&
		    strcmp(fs.keys[i].k.user_id, user_id) == 0) {
			fs.keys[i].revoked = true;
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int refresh_create(void *ud, vbx_refresh *t, const char *hash)
{
	ENTER();
	rrow *r = &fs.refresh[fs.nrefresh++];
	new_id(t->id);
	if (!t->family_id[0])
		new_id(t->family_id);
	r->t = *t;
	r->used = false;
	snprintf(r->hash, sizeof(r->hash), "%s", hash);
	LEAVE(VBX_OK);
}

static bool family_revoked(const char *family)
{
	for (size_t i = 0; i < fs.nrevoked; i++)
		if (strcmp(fs.revoked_families[i], family) == 0)
			return true;
	return false;
}

static int refresh_use(void *ud, const char *hash, vbx_refresh *out)
{
	ENTER();
	for (size_t i = 0; i < fs.nrefresh; i++) {
		rrow *r = &fs.refresh[i];
		if (strcmp(r->hash, hash) != 0)
			continue;
		if (family_revoked(r->t.family_id))
			LEAVE(VBX_ENOTFOUND);
		*out = r->t;
		if (r->used)
			LEAVE(VBX_EEXIST);
		r->used = true;
		LEAVE(VBX_OK);
	}
	LEAVE(VBX_ENOTFOUND);
}

static int refresh_revoke_family(void *ud, const char *family)
{
	ENTER();
	snprintf(fs.revoked_families[fs.nrevoked++], VBX_ID_LEN, "%s", family);
	LEAVE(VBX_OK);
}

static int refresh_revoke_user(void *ud, const char *user_id,
                               const char *keep_family)
{
	ENTER();
	if (fs.fail_revoke_user)
		LEAVE(VBX_EUNAVAIL);
	const char *keep = keep_family ? keep_family : "";
	for (size_t i = 0; i < fs.nrefresh; i++) {
		const vbx_refresh *t = &fs.refresh[i].t;
		if (strcmp(t->user_id, user_id) != 0 ||
		    strcmp(t->family_id, keep) == 0 ||
		    family_revoked(t->family_id))
			continue;
		if (fs.nrevoked == MAXROWS)
			LEAVE(VBX_ENOMEM);
		snprintf(fs.revoked_families[fs.nrevoked++], VBX_ID_LEN, "%s",
		         t->family_id);
	}
	LEAVE(VBX_OK);
}

static int member_get(void *ud, const char *team_id, const char *user_id,
                      vbx_member *out)
{
	ENTER();
	for (size_t i = 0; i < fs.nmembers; i++)
		if (strcmp(fs.members[i].team_id, team_id) == 0 &&
		    strcmp(fs.members[i].user_id, user_id) == 0) {
			*out = fs.members[i];
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int project_get(void *ud, const char *id, vbx_project *out)
{
	ENTER();
	for (size_t i = 0; i < fs.nprojects; i++)
		if (strcmp(fs.projects[i].id, id) == 0) {
			*out = fs.projects[i];
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int env_get(void *ud, const char *id, vbx_env *out)
{
	ENTER();
	for (size_t i = 0; i < fs.nenvs; i++)
		if (strcmp(fs.envs[i].id, id) == 0) {
			*out = fs.envs[i];
			LEAVE(VBX_OK);
		}
	LEAVE(VBX_ENOTFOUND);
}

static int audit_add(void *ud, vbx_audit *a)
{
	ENTER();
	if (fs.naudit == MAXROWS)
		LEAVE(VBX_EINVAL);
	new_id(a->id);
	a->at = now_ms();
	fs.audit[fs.naudit++] = *a;
	LEAVE(VBX_OK);
}

static int audit_list(void *ud, const vbx_page *pg, vbx_audit_each_fn *each,
                      void *ctx, int64_t *total)
{
	ENTER();
	*total = (int64_t)fs.naudit;
	size_t skip = (size_t)(pg->page - 1) * (size_t)pg->limit, n = 0;
	for (size_t i = fs.naudit; i-- > 0;) {
		if (skip) {
			skip--;
			continue;
		}
		if (n++ == (size_t)pg->limit)
			break;
		int rc = each(ctx, &fs.audit[i]);
		if (rc)
			LEAVE(rc);
	}
	LEAVE(VBX_OK);
}

static int fake_init(vbx_plugin *self, const vbx_config *cfg)
{
	int rc = 0;
	rc |= vbx_hook_store_user_create_register(self, user_create, NULL, 50);
	rc |= vbx_hook_store_user_get_register(self, user_get, NULL, 50);
	rc |= vbx_hook_store_user_by_email_register(self, user_by_email_hook,
	                                            NULL, 50);
	rc |= vbx_hook_store_user_update_register(self, user_update, NULL, 50);
	rc |= vbx_hook_store_user_list_register(self, user_list, NULL, 50);
	rc |= vbx_hook_store_key_create_register(self, key_create, NULL, 50);
	rc |= vbx_hook_store_key_use_register(self, key_use, NULL, 50);
	rc |= vbx_hook_store_key_list_register(self, key_list, NULL, 50);
	rc |= vbx_hook_store_key_revoke_register(self, key_revoke, NULL, 50);
	rc |= vbx_hook_store_refresh_create_register(self, refresh_create, NULL,
	                                             50);
	rc |= vbx_hook_store_refresh_use_register(self, refresh_use, NULL, 50);
	rc |= vbx_hook_store_refresh_revoke_family_register(
	        self, refresh_revoke_family, NULL, 50);
	rc |= vbx_hook_store_refresh_revoke_user_register(
	        self, refresh_revoke_user, NULL, 50);
	rc |= vbx_hook_store_member_get_register(self, member_get, NULL, 50);
	rc |= vbx_hook_store_project_get_register(self, project_get, NULL, 50);
	rc |= vbx_hook_store_audit_add_register(self, audit_add, NULL, 50);
	rc |= vbx_hook_store_audit_list_register(self, audit_list, NULL, 50);
	rc |= vbx_hook_store_env_get_register(self, env_get, NULL, 50);
	return rc ? VBX_EINVAL : VBX_OK;
}

static void fake_fini(vbx_plugin *self)
{
}

static const char *const fake_provides[] = {"store", NULL};

const vbx_plugin_desc fake_store_desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "fake-store",
        .version = "0",
        .description = "an in-memory store for tests",
        .provides = fake_provides,
        .init = fake_init,
        .fini = fake_fini,
};
