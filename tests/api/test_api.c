/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api.c - the platform endpoints for teams, members and projects
 * (plugins/platform/, loaded from its built plugin as the daemon loads
 * it), driven through libvibebox-test the way a client drives the
 * daemon: every route, its validation, its authorization (404 for what the
 * caller may not see, 403 for what it may see but not change), the last
 * admin rule, paging, and what a missing or failing store looks like.
 *
 * "fakes" is a plugin compiled into this program: an in-memory store
 * (every store hook the endpoints use) and an authorize hook with the
 * rules of docs/permissions.md in small. Two hand-written descriptors load
 * only one half each, for the 503 answers. vbx_test_request() runs each
 * handler on the calling thread, so the fakes need no lock.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <vibebox/store.h>
#include <vibebox/testing.h>

/* ---- the in-memory store ---- */

#define MAX_USERS 8
#define MAX_TEAMS 16
#define MAX_MEMBERS 256
#define MAX_PROJECTS 32

static struct {
	vbx_user users[MAX_USERS];
	size_t nusers;
	vbx_team teams[MAX_TEAMS];
	size_t nteams;
	vbx_member members[MAX_MEMBERS];
	size_t nmembers;
	vbx_project projects[MAX_PROJECTS];
	size_t nprojects;
	int64_t clock;
	unsigned next_id;
	/* Failure injection: the hook named (or "*": every store hook)
	 * returns fail_rc. */
	const char *fail;
	int fail_rc;
	int authz_calls;
} db;

#define FAIL_IF(name)                                                          \
	do {                                                                   \
		if (db.fail &&                                                 \
		    (strcmp(db.fail, name) == 0 || strcmp(db.fail, "*") == 0)) \
			return db.fail_rc;                                     \
	} while (0)

static int64_t tick(void)
{
	return db.clock += 1000;
}

static void new_id(char *out)
{
	db.next_id++;
	snprintf(out, VBX_ID_LEN, "%08x-abcd-4ef0-8000-%012x", db.next_id,
	         db.next_id);
}

/* UUIDs compare without case, as PostgreSQL's uuid type does. */
static bool same_id(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static vbx_user *find_user(const char *id)
{
	for (size_t i = 0; i < db.nusers; i++)
		if (same_id(db.users[i].id, id))
			return &db.users[i];
	return NULL;
}

static vbx_team *find_team(const char *id)
{
	for (size_t i = 0; i < db.nteams; i++)
		if (same_id(db.teams[i].id, id))
			return &db.teams[i];
	return NULL;
}

static vbx_member *find_member(const char *team, const char *user)
{
	for (size_t i = 0; i < db.nmembers; i++)
		if (same_id(db.members[i].team_id, team) &&
		    same_id(db.members[i].user_id, user))
			return &db.members[i];
	return NULL;
}

static vbx_project *find_project(const char *id)
{
	for (size_t i = 0; i < db.nprojects; i++)
		if (same_id(db.projects[i].id, id))
			return &db.projects[i];
	return NULL;
}

static bool in_page(const vbx_page *pg, int64_t index)
{
	int64_t first = (int64_t)(pg->page - 1) * pg->limit;
	return index >= first && index < first + pg->limit;
}

static int s_user_get(void *ud, const char *id, vbx_user *out)
{
	FAIL_IF("store_user_get");
	vbx_user *u = find_user(id);
	if (!u)
		return VBX_ENOTFOUND;
	*out = *u;
	return VBX_OK;
}

static int s_user_by_email(void *ud, const char *email, vbx_user *out,
                           char *hash, size_t hash_len)
{
	FAIL_IF("store_user_by_email");
	for (size_t i = 0; i < db.nusers; i++) {
		if (strcasecmp(db.users[i].email, email) == 0) {
			*out = db.users[i];
			snprintf(hash, hash_len, "$argon2id$secret");
			return VBX_OK;
		}
	}
	return VBX_ENOTFOUND;
}

static bool team_slug_taken(const char *slug, const char *except)
{
	for (size_t i = 0; i < db.nteams; i++)
		if (strcmp(db.teams[i].slug, slug) == 0 &&
		    !(except && same_id(db.teams[i].id, except)))
			return true;
	return false;
}

static vbx_member *add_membership(const char *team, const char *user,
                                  const char *role)
{
	if (db.nmembers == MAX_MEMBERS)
		return NULL;
	vbx_member *m = &db.members[db.nmembers++];
	memset(m, 0, sizeof(*m));
	snprintf(m->team_id, sizeof(m->team_id), "%s", team);
	snprintf(m->user_id, sizeof(m->user_id), "%s", user);
	snprintf(m->role, sizeof(m->role), "%s", role);
	m->created_at = tick();
	return m;
}

static int s_team_create(void *ud, vbx_team *t, const char *admin_id)
{
	FAIL_IF("store_team_create");
	if (team_slug_taken(t->slug, NULL))
		return VBX_EEXIST;
	if (db.nteams == MAX_TEAMS || !find_user(admin_id))
		return VBX_EINVAL;
	new_id(t->id);
	t->created_at = t->updated_at = tick();
	db.teams[db.nteams++] = *t;
	add_membership(t->id, admin_id, VBX_ROLE_ADMIN);
	return VBX_OK;
}

static int s_team_get(void *ud, const char *id, vbx_team *out)
{
	FAIL_IF("store_team_get");
	vbx_team *t = find_team(id);
	if (!t)
		return VBX_ENOTFOUND;
	*out = *t;
	return VBX_OK;
}

static int s_team_update(void *ud, vbx_team *t)
{
	FAIL_IF("store_team_update");
	vbx_team *cur = find_team(t->id);
	if (!cur)
		return VBX_ENOTFOUND;
	if (team_slug_taken(t->slug, t->id))
		return VBX_EEXIST;
	t->updated_at = tick();
	*cur = *t;
	return VBX_OK;
}

/* Remove every element of v (n of them) for which drop() holds. */
#define REMOVE_IF(v, n, drop)                                                  \
	do {                                                                   \
		size_t kept_ = 0;                                              \
		for (size_t i_ = 0; i_ < (n); i_++)                            \
			if (!(drop(&(v)[i_])))                                 \
				(v)[kept_++] = (v)[i_];                        \
		(n) = kept_;                                                   \
	} while (0)

static const char *doomed;
static bool of_doomed_team_m(const vbx_member *m)
{
	return same_id(m->team_id, doomed);
}
static bool of_doomed_team_p(const vbx_project *p)
{
	return same_id(p->team_id, doomed);
}
static bool is_doomed_team(const vbx_team *t)
{
	return same_id(t->id, doomed);
}
static bool is_doomed_project(const vbx_project *p)
{
	return same_id(p->id, doomed);
}

static int s_team_delete(void *ud, const char *id)
{
	FAIL_IF("store_team_delete");
	if (!find_team(id))
		return VBX_ENOTFOUND;
	doomed = id;
	REMOVE_IF(db.members, db.nmembers, of_doomed_team_m);
	REMOVE_IF(db.projects, db.nprojects, of_doomed_team_p);
	REMOVE_IF(db.teams, db.nteams, is_doomed_team);
	return VBX_OK;
}

static int s_team_list(void *ud, const char *user_id, const vbx_page *pg,
                       vbx_team_each_fn *each, void *ctx, int64_t *total)
{
	FAIL_IF("store_team_list");
	int64_t n = 0;
	for (size_t i = 0; i < db.nteams; i++) {
		if (user_id && !find_member(db.teams[i].id, user_id))
			continue;
		if (in_page(pg, n)) {
			int rc = each(ctx, &db.teams[i]);
			if (rc)
				return rc;
		}
		n++;
	}
	*total = n;
	return VBX_OK;
}

/* True when cur is its team's only admin and would stop being one. */
static bool takes_last_admin(const vbx_member *cur, const char *new_role)
{
	if (strcmp(cur->role, "admin") != 0 ||
	    (new_role && strcmp(new_role, "admin") == 0))
		return false;
	size_t admins = 0;
	for (size_t i = 0; i < db.nmembers; i++)
		admins += same_id(db.members[i].team_id, cur->team_id) &&
		          strcmp(db.members[i].role, "admin") == 0;
	return admins < 2;
}

/* Like a real store's member_set: the time is not written back; a team
 * keeps an admin (VBX_ESTATE). */
static int s_member_set(void *ud, vbx_member *m, int create)
{
	FAIL_IF("store_member_set");
	vbx_member *cur = find_member(m->team_id, m->user_id);
	if (create) {
		if (cur)
			return VBX_EEXIST;
		if (!find_team(m->team_id) || !find_user(m->user_id))
			return VBX_ENOTFOUND;
		return add_membership(m->team_id, m->user_id, m->role)
		               ? VBX_OK
		               : VBX_EINVAL;
	}
	if (!cur)
		return VBX_ENOTFOUND;
	if (takes_last_admin(cur, m->role))
		return VBX_ESTATE;
	snprintf(cur->role, sizeof(cur->role), "%s", m->role);
	return VBX_OK;
}

/* For authorize: the membership without the user's email and name. */
static int s_member_get(void *ud, const char *team, const char *user,
                        vbx_member *out)
{
	FAIL_IF("store_member_get");
	vbx_member *m = find_member(team, user);
	if (!m)
		return VBX_ENOTFOUND;
	*out = *m;
	return VBX_OK;
}

static const char *doomed_user;
static bool is_doomed_member(const vbx_member *m)
{
	return same_id(m->team_id, doomed) && same_id(m->user_id, doomed_user);
}

static int s_member_remove(void *ud, const char *team, const char *user)
{
	FAIL_IF("store_member_remove");
	const vbx_member *cur = find_member(team, user);
	if (!cur)
		return VBX_ENOTFOUND;
	if (takes_last_admin(cur, NULL))
		return VBX_ESTATE;
	doomed = team;
	doomed_user = user;
	REMOVE_IF(db.members, db.nmembers, is_doomed_member);
	return VBX_OK;
}

static int s_member_list(void *ud, const char *team, const vbx_page *pg,
                         vbx_member_each_fn *each, void *ctx, int64_t *total)
{
	FAIL_IF("store_member_list");
	int64_t n = 0;
	for (size_t i = 0; i < db.nmembers; i++) {
		if (!same_id(db.members[i].team_id, team))
			continue;
		if (in_page(pg, n)) {
			vbx_member m = db.members[i];
			const vbx_user *u = find_user(m.user_id);
			snprintf(m.email, sizeof(m.email), "%s", u->email);
			snprintf(m.name, sizeof(m.name), "%s", u->name);
			int rc = each(ctx, &m);
			if (rc)
				return rc;
		}
		n++;
	}
	*total = n;
	return VBX_OK;
}

static bool project_slug_taken(const vbx_project *p)
{
	for (size_t i = 0; i < db.nprojects; i++) {
		const vbx_project *q = &db.projects[i];
		if (strcmp(q->slug, p->slug) == 0 && !same_id(q->id, p->id) &&
		    strcmp(q->owner_id, p->owner_id) == 0 &&
		    strcmp(q->team_id, p->team_id) == 0)
			return true;
	}
	return false;
}

static int s_project_create(void *ud, vbx_project *p)
{
	FAIL_IF("store_project_create");
	/* the schema's CHECK and foreign keys */
	if (!p->owner_id[0] == !p->team_id[0] || db.nprojects == MAX_PROJECTS)
		return VBX_EINVAL;
	if ((p->team_id[0] && !find_team(p->team_id)) ||
	    (p->owner_id[0] && !find_user(p->owner_id)))
		return VBX_EINVAL;
	p->id[0] = '\0';
	if (project_slug_taken(p))
		return VBX_EEXIST;
	new_id(p->id);
	p->created_at = p->updated_at = tick();
	db.projects[db.nprojects++] = *p;
	return VBX_OK;
}

static int s_project_get(void *ud, const char *id, vbx_project *out)
{
	FAIL_IF("store_project_get");
	vbx_project *p = find_project(id);
	if (!p)
		return VBX_ENOTFOUND;
	*out = *p;
	return VBX_OK;
}

/* Writes name and slug, and the row back to p (store.h's contract):
 * updated_at moves. */
static int s_project_update(void *ud, vbx_project *p)
{
	FAIL_IF("store_project_update");
	vbx_project *cur = find_project(p->id);
	if (!cur)
		return VBX_ENOTFOUND;
	if (project_slug_taken(p))
		return VBX_EEXIST;
	snprintf(cur->name, sizeof(cur->name), "%s", p->name);
	snprintf(cur->slug, sizeof(cur->slug), "%s", p->slug);
	cur->updated_at = tick();
	*p = *cur;
	return VBX_OK;
}

static int s_project_delete(void *ud, const char *id)
{
	FAIL_IF("store_project_delete");
	if (!find_project(id))
		return VBX_ENOTFOUND;
	doomed = id;
	REMOVE_IF(db.projects, db.nprojects, is_doomed_project);
	return VBX_OK;
}

static bool sees_project(const vbx_project *p, const char *user)
{
	return same_id(p->owner_id, user) ||
	       (p->team_id[0] && find_member(p->team_id, user));
}

static int s_project_list(void *ud, const char *user_id, const vbx_page *pg,
                          vbx_project_each_fn *each, void *ctx, int64_t *total)
{
	FAIL_IF("store_project_list");
	int64_t n = 0;
	for (size_t i = 0; i < db.nprojects; i++) {
		if (user_id && !sees_project(&db.projects[i], user_id))
			continue;
		if (in_page(pg, n)) {
			int rc = each(ctx, &db.projects[i]);
			if (rc)
				return rc;
		}
		n++;
	}
	*total = n;
	return VBX_OK;
}

/* ---- the authorize fake: docs/permissions.md in small ---- */

static int rank(const char *role)
{
	if (strcmp(role, VBX_ROLE_ADMIN) == 0)
		return 3;
	if (strcmp(role, VBX_ROLE_DEVELOPER) == 0)
		return 2;
	return strcmp(role, VBX_ROLE_VIEWER) == 0 ? 1 : 0;
}

static int team_rank(const char *team, const char *user)
{
	const vbx_member *m = team ? find_member(team, user) : NULL;
	return m ? rank(m->role) : 0;
}

/* The rank an action on a team needs. */
static int team_needs(const char *action)
{
	if (strcmp(action, "read") == 0)
		return 1;
	if (strcmp(action, "project.create") == 0)
		return 2;
	return 3; /* update, delete, member.manage */
}

static int project_allows(const vbx_principal *who, const char *action,
                          const char *id)
{
	const vbx_project *p = find_project(id);
	if (!p)
		return VBX_EDENIED;
	if (same_id(p->owner_id, who->user_id))
		return VBX_OK;
	int r = p->team_id[0] ? team_rank(p->team_id, who->user_id) : 0;
	int need = strcmp(action, "read") == 0     ? 1
	           : strcmp(action, "update") == 0 ? 2
	                                           : 3;
	return r >= need ? VBX_OK : VBX_EDENIED;
}

static int f_authorize(void *ud, const vbx_principal *who, const char *action,
                       const vbx_resource *res)
{
	db.authz_calls++;
	if (db.fail && strcmp(db.fail, "authorize") == 0)
		return db.fail_rc;
	if (who->flags & VBX_PRINCIPAL_ADMIN)
		return VBX_OK;
	if (strcmp(res->type, "instance") == 0)
		return strcmp(action, "team.create") == 0 ||
		                       strcmp(action, "project.create") == 0
		               ? VBX_OK
		               : VBX_EDENIED;
	if (strcmp(res->type, "team") == 0)
		return team_rank(res->id, who->user_id) >= team_needs(action)
		               ? VBX_OK
		               : VBX_EDENIED;
	if (strcmp(res->type, "project") == 0)
		return project_allows(who, action, res->id);
	return VBX_DECLINED;
}

/* ---- the plugins ---- */

static int register_store(vbx_plugin *self)
{
	int rc = 0;
	rc |= vbx_hook_store_user_get_register(self, s_user_get, NULL, 50);
	rc |= vbx_hook_store_user_by_email_register(self, s_user_by_email, NULL,
	                                            50);
	rc |= vbx_hook_store_team_create_register(self, s_team_create, NULL,
	                                          50);
	rc |= vbx_hook_store_team_get_register(self, s_team_get, NULL, 50);
	rc |= vbx_hook_store_team_update_register(self, s_team_update, NULL,
	                                          50);
	rc |= vbx_hook_store_team_delete_register(self, s_team_delete, NULL,
	                                          50);
	rc |= vbx_hook_store_team_list_register(self, s_team_list, NULL, 50);
	rc |= vbx_hook_store_member_set_register(self, s_member_set, NULL, 50);
	rc |= vbx_hook_store_member_get_register(self, s_member_get, NULL, 50);
	rc |= vbx_hook_store_member_remove_register(self, s_member_remove, NULL,
	                                            50);
	rc |= vbx_hook_store_member_list_register(self, s_member_list, NULL,
	                                          50);
	rc |= vbx_hook_store_project_create_register(self, s_project_create,
	                                             NULL, 50);
	rc |= vbx_hook_store_project_get_register(self, s_project_get, NULL,
	                                          50);
	rc |= vbx_hook_store_project_update_register(self, s_project_update,
	                                             NULL, 50);
	rc |= vbx_hook_store_project_delete_register(self, s_project_delete,
	                                             NULL, 50);
	rc |= vbx_hook_store_project_list_register(self, s_project_list, NULL,
	                                           50);
	return rc ? VBX_ERR : VBX_OK;
}

static int fakes_init(vbx_plugin *self, const vbx_config *cfg)
{
	if (register_store(self) != VBX_OK)
		return VBX_ERR;
	return vbx_hook_authorize_register(self, f_authorize, NULL, 50);
}

static int store_init(vbx_plugin *self, const vbx_config *cfg)
{
	return register_store(self);
}

static int authz_init(vbx_plugin *self, const vbx_config *cfg)
{
	return vbx_hook_authorize_register(self, f_authorize, NULL, 50);
}

static void fakes_fini(vbx_plugin *self)
{
}

static const char *const fakes_provides[] = {"store", "authz", NULL};
static const char *const store_provides[] = {"store", NULL};
static const char *const authz_provides[] = {"authz", NULL};

VBX_PLUGIN(.name = "fakes", .version = "1",
           .description = "an in-memory store and authorize",
           .provides = fakes_provides, .init = fakes_init, .fini = fakes_fini);

static const vbx_plugin_desc store_only = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "storeonly",
        .provides = store_provides,
        .init = store_init,
        .fini = fakes_fini,
};

static const vbx_plugin_desc authz_only = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "authzonly",
        .provides = authz_provides,
        .init = authz_init,
        .fini = fakes_fini,
};

/* ---- the host and its users ---- */

static vbx_test_host *host;
static vbx_principal alice, bob, carol, dave, root;

static void add_user(vbx_principal *p, const char *name, const char *email,
                     bool admin)
{
	vbx_user *u = &db.users[db.nusers++];
	memset(u, 0, sizeof(*u));
	new_id(u->id);
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->admin = admin;
	u->created_at = u->updated_at = tick();
	memset(p, 0, sizeof(*p));
	snprintf(p->user_id, sizeof(p->user_id), "%s", u->id);
	snprintf(p->email, sizeof(p->email), "%s", email);
	p->flags = admin ? VBX_PRINCIPAL_ADMIN : 0;
	p->scopes = VBX_SCOPE_READ | VBX_SCOPE_WRITE | VBX_SCOPE_ADMIN;
}

static void reset_db(void)
{
	memset(&db, 0, sizeof(db));
	db.clock = 1764240000000LL; /* 2025-11-27T10:40:00Z */
	add_user(&alice, "Alice", "alice@example.test", false);
	add_user(&bob, "Bob", "bob@example.test", false);
	add_user(&carol, "Carol", "carol@example.test", false);
	add_user(&dave, "Dave", "dave@example.test", false);
	add_user(&root, "Root", "root@example.test", true);
}

static int start_with(const vbx_plugin_desc *const *descs)
{
	reset_db();
	host = vbx_test_host_new();
	if (!host)
		return -1;
	for (; *descs; descs++)
		if (vbx_test_load(host, *descs, NULL) != VBX_OK)
			goto fail;
	if (vbx_test_load_file(host, VBX_PLATFORM_SO, NULL) != VBX_OK)
		goto fail;
	if (vbx_test_start(host) != VBX_OK)
		goto fail;
	vbx_test_set_principal(host, &alice);
	return 0;
fail:
	fprintf(stderr, "test host: %s\n", vbx_test_errors(host));
	vbx_test_host_free(host);
	host = NULL;
	return -1;
}

static int setup(void **state)
{
	const vbx_plugin_desc *descs[] = {vbx_plugin_entry(), NULL};
	return start_with(descs);
}

static int setup_store_only(void **state)
{
	const vbx_plugin_desc *descs[] = {&store_only, NULL};
	return start_with(descs);
}

static int setup_authz_only(void **state)
{
	const vbx_plugin_desc *descs[] = {&authz_only, NULL};
	return start_with(descs);
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

/* ---- requests ---- */

static void as(const vbx_principal *who)
{
	vbx_test_set_principal(host, who);
}

/* The last response; freed by the next call and at the end of a test. */
static vbx_test_response *last;

static const vbx_test_response *call(const char *method, const char *path,
                                     const char *body)
{
	vbx_test_response_free(last);
	last = vbx_test_request(host, method, path, body, NULL);
	assert_non_null(last);
	return last;
}

static int free_last(void **state)
{
	vbx_test_response_free(last);
	last = NULL;
	return teardown(state);
}

/* Send and check the status; the body is printed when it differs. */
static const vbx_test_response *expect(int status, const char *method,
                                       const char *path, const char *body)
{
	const vbx_test_response *res = call(method, path, body);
	if (vbx_test_status(res) != status)
		fail_msg("%s %s %s: expected %d, got %d: %s", method, path,
		         body ? body : "", status, vbx_test_status(res),
		         vbx_test_body(res));
	return res;
}

/* A member of the answer by a dotted path ("error.fields.name"), or NULL. */
static const cJSON *get(const vbx_test_response *res, const char *path)
{
	const cJSON *o = vbx_test_json(res);
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(key))
		                     : cJSON_GetObjectItemCaseSensitive(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *str(const vbx_test_response *res, const char *path)
{
	const char *s = cJSON_GetStringValue(get(res, path));
	if (!s)
		fail_msg("no string at %s in %s", path, vbx_test_body(res));
	return s;
}

static double num(const vbx_test_response *res, const char *path)
{
	const cJSON *n = get(res, path);
	if (!cJSON_IsNumber(n))
		fail_msg("no number at %s in %s", path, vbx_test_body(res));
	return n->valuedouble;
}

static void assert_null_at(const vbx_test_response *res, const char *path)
{
	if (!cJSON_IsNull(get(res, path)))
		fail_msg("expected null at %s in %s", path, vbx_test_body(res));
}

static void assert_code(const vbx_test_response *res, const char *code)
{
	assert_string_equal(str(res, "error.code"), code);
}

static void assert_message_has(const vbx_test_response *res, const char *s)
{
	const char *m = str(res, "error.message");
	if (!strstr(m, s))
		fail_msg("message \"%s\" lacks \"%s\"", m, s);
}

/* Format a path into a static buffer (one of eight, rotating: copy what
 * must live longer). */
static const char *path(const char *fmt, ...) VBX_PRINTF(1, 2);
static const char *path(const char *fmt, ...)
{
	static char bufs[8][256];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* Create a team as the current principal; its id goes to id. */
static void make_team(const char *body, char *id)
{
	const vbx_test_response *res =
	        expect(201, "POST", "/api/v1/teams", body);
	snprintf(id, VBX_ID_LEN, "%s", str(res, "id"));
}

static void format(char *buf, size_t len, const char *fmt, ...)
        VBX_PRINTF(3, 4);
static void format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < len);
}

/* A copy of a formatted path that lives as long as the test. */
#define PATH(var, ...)                                                         \
	char var[256];                                                         \
	format(var, sizeof(var), __VA_ARGS__)

static void add_member(const char *team, const vbx_principal *who,
                       const char *role)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"userId\":\"%s\",\"role\":\"%s\"}",
	         who->user_id, role);
	expect(201, "POST", path("/api/v1/teams/%s/members", team), body);
}

static bool is_rfc3339_ms(const char *s)
{
	int y, mo, d, h, mi, sec, ms;
	char z;
	return strlen(s) == 24 &&
	       sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi,
	              &sec, &ms, &z) == 8 &&
	       z == 'Z';
}

#define MISSING "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"

/* ---- teams ---- */

static void team_create_read_update_delete(void **state)
{
	const vbx_test_response *res = expect(201, "POST", "/api/v1/teams",
	                                      "{\"name\":\"Acme Corp\"}");
	char id[VBX_ID_LEN];
	snprintf(id, sizeof(id), "%s", str(res, "id"));
	assert_string_equal(str(res, "name"), "Acme Corp");
	assert_string_equal(str(res, "slug"), "acme-corp");
	assert_string_equal(str(res, "role"), "admin");
	assert_string_equal(str(res, "createdAt"), "2025-11-27T10:40:06.000Z");
	assert_true(is_rfc3339_ms(str(res, "updatedAt")));
	assert_string_equal(vbx_test_header(res, "Content-Type"),
	                    "application/json");

	res = expect(200, "GET", path("/api/v1/teams/%s", id), NULL);
	assert_string_equal(str(res, "id"), id);
	assert_string_equal(str(res, "role"), "admin");

	res = expect(200, "PATCH", path("/api/v1/teams/%s", id),
	             "{\"name\":\"Acme Inc\"}");
	assert_string_equal(str(res, "name"), "Acme Inc");
	assert_string_equal(str(res, "slug"), "acme-corp"); /* kept */
	assert_string_not_equal(str(res, "updatedAt"), str(res, "createdAt"));

	res = expect(200, "PATCH", path("/api/v1/teams/%s", id),
	             "{\"slug\":\"acme\"}");
	assert_string_equal(str(res, "slug"), "acme");
	assert_string_equal(str(res, "name"), "Acme Inc");

	/* An empty PATCH changes nothing and answers the team. */
	res = expect(200, "PATCH", path("/api/v1/teams/%s", id), "{}");
	assert_string_equal(str(res, "slug"), "acme");

	res = expect(204, "DELETE", path("/api/v1/teams/%s", id), NULL);
	assert_int_equal(vbx_test_body_len(res), 0);
	res = expect(404, "GET", path("/api/v1/teams/%s", id), NULL);
	assert_code(res, "NOT_FOUND");
}

static void team_given_slug_and_conflicts(void **state)
{
	const vbx_test_response *res =
	        expect(201, "POST", "/api/v1/teams",
	               "{\"name\":\"Platform\",\"slug\":\"plat-9\"}");
	assert_string_equal(str(res, "slug"), "plat-9");
	res = expect(409, "POST", "/api/v1/teams",
	             "{\"name\":\"Plat 9\",\"slug\":\"plat-9\"}");
	assert_code(res, "CONFLICT");
	assert_message_has(res, "slug");
	/* a generated slug collides the same way */
	expect(201, "POST", "/api/v1/teams", "{\"name\":\"Web\"}");
	res = expect(409, "POST", "/api/v1/teams", "{\"name\":\"WEB!\"}");
	assert_message_has(res, "choose another slug");

	char web[VBX_ID_LEN];
	make_team("{\"name\":\"Other\"}", web);
	res = expect(409, "PATCH", path("/api/v1/teams/%s", web),
	             "{\"slug\":\"plat-9\"}");
	assert_code(res, "CONFLICT");
	assert_message_has(res, "slug");
}

static void team_validation(void **state)
{
	static const struct {
		const char *body, *field, *msg;
	} cases[] = {
	        {"{}", "name", "is required"},
	        {"{\"name\":\"\"}", "name", "must be 1..127 characters"},
	        {"{\"name\":42}", "name", "must be a string"},
	        {"{\"name\":\"  \"}", "name", "must not be blank"},
	        {"{\"name\":\"a\\tb\"}", "name",
	         "must not contain control characters"},
	        {"{\"name\":\"x\",\"slug\":\"Not OK\"}", "slug", NULL},
	        {"{\"name\":\"x\",\"slug\":\"-x\"}", "slug", NULL},
	        {"{\"name\":\"\\u65e5\\u672c\"}", "slug", "give a slug"},
	        {"{\"name\":\"x\",\"nmae\":\"y\"}", "nmae",
	         "is not a known field"},
	        {"{\"name\":\"x\",\"id\":\"y\"}", "id", "is not a known field"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const vbx_test_response *res =
		        expect(400, "POST", "/api/v1/teams", cases[i].body);
		assert_code(res, "VALIDATION_ERROR");
		char at[64];
		snprintf(at, sizeof(at), "error.fields.%s", cases[i].field);
		const char *m = str(res, at);
		if (cases[i].msg && !strstr(m, cases[i].msg))
			fail_msg("%s: %s says \"%s\"", cases[i].body,
			         cases[i].field, m);
	}
	/* 128 characters */
	char body[200] = "{\"name\":\"";
	memset(body + 9, 'n', 128);
	strcpy(body + 137, "\"}");
	expect(400, "POST", "/api/v1/teams", body);
	/* not JSON, not an object, empty */
	assert_code(expect(400, "POST", "/api/v1/teams", "{\"name\":"),
	            "BAD_REQUEST");
	assert_code(expect(400, "POST", "/api/v1/teams", "[1]"), "BAD_REQUEST");
	assert_code(expect(400, "POST", "/api/v1/teams", NULL), "BAD_REQUEST");
	assert_int_equal(db.nteams, 0);

	char id[VBX_ID_LEN];
	make_team("{\"name\":\"Fine\"}", id);
	const vbx_test_response *res =
	        expect(400, "PATCH", path("/api/v1/teams/%s", id),
	               "{\"name\":\"\",\"slug\":\"UP\"}");
	assert_non_null(get(res, "error.fields.name"));
	assert_non_null(get(res, "error.fields.slug"));
}

static void team_visibility(void **state)
{
	char id[VBX_ID_LEN];
	make_team("{\"name\":\"Secret\"}", id);
	PATH(team, "/api/v1/teams/%s", id);

	/* bob is no member: the team does not exist for him */
	as(&bob);
	assert_code(expect(404, "GET", team, NULL), "NOT_FOUND");
	assert_message_has(last, id);
	expect(404, "PATCH", team, "{\"name\":\"Mine\"}");
	expect(404, "DELETE", team, NULL);
	expect(404, "GET", path("%s/members", team), NULL);
	expect(404, "POST", path("%s/members", team),
	       "{\"email\":\"bob@example.test\",\"role\":\"admin\"}");
	expect(404, "PATCH", path("%s/members/%s", team, alice.user_id),
	       "{\"role\":\"viewer\"}");
	expect(404, "DELETE", path("%s/members/%s", team, alice.user_id), NULL);

	/* as a viewer he sees it but may not change it */
	as(&alice);
	add_member(id, &bob, "viewer");
	as(&bob);
	const vbx_test_response *res = expect(200, "GET", team, NULL);
	assert_string_equal(str(res, "role"), "viewer");
	assert_code(expect(403, "PATCH", team, "{\"name\":\"Mine\"}"),
	            "FORBIDDEN");
	expect(403, "DELETE", team, NULL);
	expect(200, "GET", path("%s/members", team), NULL);
	expect(403, "POST", path("%s/members", team),
	       "{\"email\":\"carol@example.test\",\"role\":\"viewer\"}");
	expect(403, "PATCH", path("%s/members/%s", team, alice.user_id),
	       "{\"role\":\"viewer\"}");
	expect(403, "DELETE", path("%s/members/%s", team, alice.user_id), NULL);
	assert_string_equal(find_team(id)->name, "Secret");

	/* ids that cannot exist, and one that does not */
	as(&root);
	expect(404, "GET", "/api/v1/teams/not-a-uuid", NULL);
	expect(404, "GET", "/api/v1/teams/" MISSING, NULL);
	expect(404, "PATCH", "/api/v1/teams/" MISSING, "{\"name\":\"x\"}");
	expect(404, "DELETE", "/api/v1/teams/" MISSING, NULL);
	expect(404, "GET", "/api/v1/teams/" MISSING "/members", NULL);
	/* the instance admin sees it without a role */
	res = expect(200, "GET", team, NULL);
	assert_null(get(res, "role"));
}

static void team_create_may_be_denied(void **state)
{
	db.fail = "authorize";
	db.fail_rc = VBX_EDENIED;
	const vbx_test_response *res =
	        expect(403, "POST", "/api/v1/teams", "{\"name\":\"No\"}");
	assert_code(res, "FORBIDDEN");
	assert_message_has(res, "team.create");
	/* authorization comes before the body is even read */
	expect(403, "POST", "/api/v1/teams", "not json");
	assert_int_equal(db.nteams, 0);
}

static void team_list_filters_and_pages(void **state)
{
	char a1[VBX_ID_LEN], a2[VBX_ID_LEN], a3[VBX_ID_LEN], b1[VBX_ID_LEN];
	make_team("{\"name\":\"A1\"}", a1);
	make_team("{\"name\":\"A2\"}", a2);
	make_team("{\"name\":\"A3\"}", a3);
	as(&bob);
	make_team("{\"name\":\"B1\"}", b1);
	as(&alice);
	add_member(a3, &bob, "developer");

	const vbx_test_response *res =
	        expect(200, "GET", "/api/v1/teams", NULL);
	assert_int_equal(num(res, "pagination.total"), 3);
	assert_int_equal(num(res, "pagination.page"), 1);
	assert_int_equal(num(res, "pagination.limit"), 20);
	assert_string_equal(str(res, "data.0.name"), "A1");
	assert_string_equal(str(res, "data.0.role"), "admin");

	res = expect(200, "GET", "/api/v1/teams?limit=2&page=2", NULL);
	assert_int_equal(cJSON_GetArraySize(get(res, "data")), 1);
	assert_string_equal(str(res, "data.0.name"), "A3");
	assert_int_equal(num(res, "pagination.page"), 2);
	assert_int_equal(num(res, "pagination.limit"), 2);
	assert_int_equal(num(res, "pagination.total"), 3);

	res = expect(200, "GET", "/api/v1/teams?page=9", NULL);
	assert_int_equal(cJSON_GetArraySize(get(res, "data")), 0);
	assert_int_equal(num(res, "pagination.total"), 3);

	as(&bob);
	res = expect(200, "GET", "/api/v1/teams", NULL);
	assert_int_equal(num(res, "pagination.total"), 2);
	assert_string_equal(str(res, "data.0.name"), "A3");
	assert_string_equal(str(res, "data.0.role"), "developer");
	assert_string_equal(str(res, "data.1.role"), "admin");

	as(&carol);
	res = expect(200, "GET", "/api/v1/teams", NULL);
	assert_int_equal(num(res, "pagination.total"), 0);

	as(&root);
	res = expect(200, "GET", "/api/v1/teams?limit=100", NULL);
	assert_int_equal(num(res, "pagination.total"), 4);
	assert_null(get(res, "data.0.role"));

	res = expect(400, "GET", "/api/v1/teams?page=0&limit=101", NULL);
	assert_code(res, "VALIDATION_ERROR");
	assert_non_null(get(res, "error.fields.page"));
	assert_non_null(get(res, "error.fields.limit"));
	expect(400, "GET", "/api/v1/teams?limit=ten", NULL);
	expect(400, "GET", "/api/v1/teams?page=-1", NULL);
}

/* ---- members ---- */

static void members_add_list_change_remove(void **state)
{
	char id[VBX_ID_LEN];
	make_team("{\"name\":\"Crew\"}", id);
	PATH(members, "/api/v1/teams/%s/members", id);

	char body[256];
	snprintf(body, sizeof(body),
	         "{\"userId\":\"%s\",\"role\":\"developer\"}", bob.user_id);
	const vbx_test_response *res = expect(201, "POST", members, body);
	assert_string_equal(str(res, "userId"), bob.user_id);
	assert_string_equal(str(res, "email"), "bob@example.test");
	assert_string_equal(str(res, "name"), "Bob");
	assert_string_equal(str(res, "role"), "developer");
	assert_true(is_rfc3339_ms(str(res, "createdAt")));
	assert_string_not_equal(str(res, "createdAt"),
	                        "1970-01-01T00:00:00.000Z");

	/* by email, in any case */
	res = expect(201, "POST", members,
	             "{\"email\":\"CAROL@Example.test\",\"role\":\"viewer\"}");
	assert_string_equal(str(res, "userId"), carol.user_id);
	assert_string_equal(str(res, "name"), "Carol");

	res = expect(409, "POST", members, body);
	assert_code(res, "CONFLICT");
	assert_message_has(res, "PATCH");

	res = expect(200, "GET", members, NULL);
	assert_int_equal(num(res, "pagination.total"), 3);
	assert_string_equal(str(res, "data.0.userId"), alice.user_id);
	assert_string_equal(str(res, "data.0.role"), "admin");
	assert_string_equal(str(res, "data.2.email"), "carol@example.test");
	res = expect(200, "GET", path("%s?limit=1&page=3", members), NULL);
	assert_string_equal(str(res, "data.0.name"), "Carol");
	expect(400, "GET", path("%s?limit=0", members), NULL);

	PATH(bob_path, "%s/%s", members, bob.user_id);
	res = expect(200, "PATCH", bob_path, "{\"role\":\"admin\"}");
	assert_string_equal(str(res, "role"), "admin");
	assert_string_equal(str(res, "email"), "bob@example.test");
	assert_true(is_rfc3339_ms(str(res, "createdAt")));
	assert_string_equal(find_member(id, bob.user_id)->role, "admin");
	/* the same role again is no change */
	expect(200, "PATCH", bob_path, "{\"role\":\"admin\"}");

	/* bob, now an admin, manages members */
	as(&bob);
	expect(204, "DELETE", path("%s/%s", members, carol.user_id), NULL);
	assert_null(find_member(id, carol.user_id));
	expect(404, "DELETE", path("%s/%s", members, carol.user_id), NULL);
	expect(404, "PATCH", path("%s/%s", members, carol.user_id),
	       "{\"role\":\"viewer\"}");
	expect(404, "PATCH", path("%s/not-a-uuid", members),
	       "{\"role\":\"viewer\"}");
	expect(404, "DELETE", path("%s/%s", members, MISSING), NULL);
}

static void member_validation(void **state)
{
	char id[VBX_ID_LEN];
	make_team("{\"name\":\"Crew\"}", id);
	PATH(members, "/api/v1/teams/%s/members", id);
	static const struct {
		const char *body, *field, *msg;
	} cases[] = {
	        {"{\"role\":\"viewer\"}", "userId",
	         "is required (or give email)"},
	        {"{\"email\":\"bob@example.test\"}", "role", "is required"},
	        {"{\"email\":\"bob@example.test\",\"role\":\"owner\"}", "role",
	         "must be admin, developer or viewer"},
	        {"{\"email\":\"bob@example.test\",\"role\":\"Admin\"}", "role",
	         NULL},
	        {"{\"userId\":\"nope\",\"role\":\"viewer\"}", "userId",
	         "must be a UUID"},
	        {"{\"userId\":5,\"role\":\"viewer\"}", "userId",
	         "must be a string"},
	        {"{\"email\":\"nobody@example.test\",\"role\":\"viewer\"}",
	         "email", "no user has this email"},
	        {"{\"userId\":\"" MISSING "\",\"role\":\"viewer\"}", "userId",
	         "no user has this id"},
	        {"{\"email\":\"bob@example.test\",\"role\":\"viewer\","
	         "\"teamId\":\"x\"}",
	         "teamId", "is not a known field"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const vbx_test_response *res =
		        expect(400, "POST", members, cases[i].body);
		assert_code(res, "VALIDATION_ERROR");
		char at[64];
		snprintf(at, sizeof(at), "error.fields.%s", cases[i].field);
		const char *m = str(res, at);
		if (cases[i].msg && strcmp(m, cases[i].msg) != 0)
			fail_msg("%s: %s says \"%s\"", cases[i].body,
			         cases[i].field, m);
	}
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"userId\":\"%s\",\"email\":\"bob@example.test\","
	         "\"role\":\"viewer\"}",
	         bob.user_id);
	const vbx_test_response *res = expect(400, "POST", members, body);
	assert_string_equal(str(res, "error.fields.email"),
	                    "give userId or email, not both");

	PATH(me, "%s/%s", members, alice.user_id);
	res = expect(400, "PATCH", me, "{}");
	assert_string_equal(str(res, "error.fields.role"), "is required");
	res = expect(400, "PATCH", me, "{\"role\":\"boss\",\"x\":1}");
	assert_non_null(get(res, "error.fields.role"));
	assert_non_null(get(res, "error.fields.x"));
	assert_int_equal(db.nmembers, 1);
}

static void last_admin_stays(void **state)
{
	char id[VBX_ID_LEN];
	make_team("{\"name\":\"Solo\"}", id);
	PATH(members, "/api/v1/teams/%s/members", id);
	PATH(me, "%s/%s", members, alice.user_id);

	const vbx_test_response *res =
	        expect(409, "PATCH", me, "{\"role\":\"developer\"}");
	assert_code(res, "CONFLICT");
	assert_message_has(res, "last admin");
	expect(409, "DELETE", me, NULL);

	/* The path's id in upper case is still the same user. */
	char upper[VBX_ID_LEN];
	for (size_t i = 0; i < sizeof(upper); i++)
		upper[i] = (char)toupper((unsigned char)alice.user_id[i]);
	expect(409, "PATCH", path("%s/%s", members, upper),
	       "{\"role\":\"viewer\"}");
	expect(409, "DELETE", path("%s/%s", members, upper), NULL);
	assert_string_equal(find_member(id, alice.user_id)->role, "admin");

	/* Demoting to admin is no demotion; other members do not count. */
	expect(200, "PATCH", me, "{\"role\":\"admin\"}");
	add_member(id, &bob, "developer");
	expect(409, "PATCH", me, "{\"role\":\"viewer\"}");

	/* With a second admin, either may go. */
	expect(200, "PATCH", path("%s/%s", members, bob.user_id),
	       "{\"role\":\"admin\"}");
	res = expect(200, "PATCH", me, "{\"role\":\"viewer\"}");
	assert_string_equal(str(res, "role"), "viewer");
	as(&bob);
	expect(204, "DELETE", path("%s/%s", members, alice.user_id), NULL);
	expect(409, "DELETE", path("%s/%s", members, bob.user_id), NULL);
	/* a non-admin member leaves without the check */
	add_member(id, &carol, "viewer");
	expect(204, "DELETE", path("%s/%s", members, carol.user_id), NULL);
}

/* ---- projects ---- */

static void project_personal_crud(void **state)
{
	const vbx_test_response *res = expect(201, "POST", "/api/v1/projects",
	                                      "{\"name\":\"Web App\"}");
	char id[VBX_ID_LEN];
	snprintf(id, sizeof(id), "%s", str(res, "id"));
	assert_string_equal(str(res, "name"), "Web App");
	assert_string_equal(str(res, "slug"), "web-app");
	assert_string_equal(str(res, "ownerId"), alice.user_id);
	assert_null_at(res, "teamId");
	assert_true(is_rfc3339_ms(str(res, "createdAt")));
	assert_true(is_rfc3339_ms(str(res, "updatedAt")));

	PATH(p, "/api/v1/projects/%s", id);
	res = expect(200, "GET", p, NULL);
	assert_string_equal(str(res, "id"), id);

	res = expect(200, "PATCH", p, "{\"name\":\"Web\",\"slug\":\"web\"}");
	assert_string_equal(str(res, "name"), "Web");
	assert_string_equal(str(res, "slug"), "web");
	/* the store's new updated_at, read back */
	assert_string_not_equal(str(res, "updatedAt"), str(res, "createdAt"));
	assert_string_equal(find_project(id)->slug, "web");

	res = expect(400, "PATCH", p, "{\"teamId\":\"" MISSING "\"}");
	assert_string_equal(str(res, "error.fields.teamId"),
	                    "is not a known field");
	expect(400, "PATCH", p, "{\"slug\":\"No!\"}");

	/* slugs are unique per owner: bob may have "web" too */
	res = expect(409, "POST", "/api/v1/projects",
	             "{\"name\":\"Web\",\"slug\":\"web\"}");
	assert_code(res, "CONFLICT");
	assert_message_has(res, "slug");
	as(&bob);
	expect(201, "POST", "/api/v1/projects", "{\"name\":\"Web\"}");
	/* and does not see alice's */
	expect(404, "GET", p, NULL);
	expect(404, "PATCH", p, "{\"name\":\"Mine\"}");
	expect(404, "DELETE", p, NULL);

	as(&alice);
	expect(204, "DELETE", p, NULL);
	expect(404, "GET", p, NULL);
	expect(404, "GET", "/api/v1/projects/nope", NULL);
	expect(404, "PATCH", "/api/v1/projects/" MISSING, "{}");
	as(&root);
	expect(404, "GET", "/api/v1/projects/" MISSING, NULL);
	expect(404, "DELETE", "/api/v1/projects/" MISSING, NULL);
}

static void project_in_a_team(void **state)
{
	char team[VBX_ID_LEN];
	make_team("{\"name\":\"Devs\"}", team);
	add_member(team, &bob, "viewer");
	add_member(team, &carol, "developer");

	char body[256];
	snprintf(body, sizeof(body), "{\"name\":\"API\",\"teamId\":\"%s\"}",
	         team);
	const vbx_test_response *res =
	        expect(201, "POST", "/api/v1/projects", body);
	char id[VBX_ID_LEN];
	snprintf(id, sizeof(id), "%s", str(res, "id"));
	assert_string_equal(str(res, "teamId"), team);
	assert_null_at(res, "ownerId");
	PATH(p, "/api/v1/projects/%s", id);

	/* a viewer reads; may not create, change or delete */
	as(&bob);
	expect(200, "GET", p, NULL);
	assert_code(expect(403, "PATCH", p, "{\"name\":\"X\"}"), "FORBIDDEN");
	expect(403, "DELETE", p, NULL);
	res = expect(403, "POST", "/api/v1/projects", body);
	assert_message_has(res, "project.create");

	/* a developer creates and changes, may not delete */
	as(&carol);
	snprintf(body, sizeof(body), "{\"name\":\"CLI\",\"teamId\":\"%s\"}",
	         team);
	expect(201, "POST", "/api/v1/projects", body);
	expect(200, "PATCH", p, "{\"name\":\"API v2\"}");
	expect(403, "DELETE", p, NULL);
	/* the team's slugs are the team's: "cli" is taken there */
	res = expect(409, "POST", "/api/v1/projects", body);
	assert_message_has(res, "the team");

	/* an outsider learns nothing about the team */
	as(&dave);
	expect(404, "GET", p, NULL);
	res = expect(404, "POST", "/api/v1/projects", body);
	assert_message_has(res, team);

	as(&alice);
	expect(204, "DELETE", p, NULL);

	/* teamId must be a UUID, and the team must exist */
	res = expect(400, "POST", "/api/v1/projects",
	             "{\"name\":\"X\",\"teamId\":\"devs\"}");
	assert_string_equal(str(res, "error.fields.teamId"), "must be a UUID");
	expect(400, "POST", "/api/v1/projects",
	       "{\"name\":\"X\",\"teamId\":17}");
	as(&root);
	res = expect(404, "POST", "/api/v1/projects",
	             "{\"name\":\"X\",\"teamId\":\"" MISSING "\"}");
	assert_message_has(res, "team " MISSING " not found");

	/* deleting the team deletes its projects */
	expect(204, "DELETE", path("/api/v1/teams/%s", team), NULL);
	assert_int_equal(db.nprojects, 0);
}

static void project_validation(void **state)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
	        {"{}", "name"},
	        {"{\"name\":\"\"}", "name"},
	        {"{\"name\":null}", "name"},
	        {"{\"name\":\"ok\",\"slug\":\"a_b\"}", "slug"},
	        {"{\"name\":\"%%%\"}", "slug"},
	        {"{\"name\":\"ok\",\"ownerId\":\"x\"}", "ownerId"},
	        {"{\"name\":\"ok\",\"teamId\":\"\"}", "teamId"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const vbx_test_response *res =
		        expect(400, "POST", "/api/v1/projects", cases[i].body);
		assert_code(res, "VALIDATION_ERROR");
		char at[64];
		snprintf(at, sizeof(at), "error.fields.%s", cases[i].field);
		if (!get(res, at))
			fail_msg("%s: no error for %s: %s", cases[i].body,
			         cases[i].field, vbx_test_body(res));
	}
	assert_int_equal(db.nprojects, 0);
	assert_code(expect(400, "POST", "/api/v1/projects", "\"x\""),
	            "BAD_REQUEST");
}

static void project_list_filters_and_pages(void **state)
{
	char team[VBX_ID_LEN];
	make_team("{\"name\":\"T\"}", team);
	add_member(team, &bob, "viewer");
	char body[128];
	snprintf(body, sizeof(body), "{\"name\":\"Shared\",\"teamId\":\"%s\"}",
	         team);
	expect(201, "POST", "/api/v1/projects", body);
	expect(201, "POST", "/api/v1/projects", "{\"name\":\"Alice 1\"}");
	expect(201, "POST", "/api/v1/projects", "{\"name\":\"Alice 2\"}");
	as(&bob);
	expect(201, "POST", "/api/v1/projects", "{\"name\":\"Bob 1\"}");
	as(&carol);
	expect(201, "POST", "/api/v1/projects", "{\"name\":\"Carol 1\"}");

	as(&alice);
	const vbx_test_response *res =
	        expect(200, "GET", "/api/v1/projects", NULL);
	assert_int_equal(num(res, "pagination.total"), 3);
	assert_string_equal(str(res, "data.0.name"), "Shared");
	res = expect(200, "GET", "/api/v1/projects?page=2&limit=2", NULL);
	assert_int_equal(cJSON_GetArraySize(get(res, "data")), 1);
	assert_string_equal(str(res, "data.0.name"), "Alice 2");

	as(&bob);
	res = expect(200, "GET", "/api/v1/projects", NULL);
	assert_int_equal(num(res, "pagination.total"), 2);
	assert_string_equal(str(res, "data.1.name"), "Bob 1");

	as(&root);
	res = expect(200, "GET", "/api/v1/projects", NULL);
	assert_int_equal(num(res, "pagination.total"), 5);
	res = expect(400, "GET", "/api/v1/projects?limit=1000", NULL);
	assert_non_null(get(res, "error.fields.limit"));
}

/* ---- failures of the store and of authorization ---- */

static void store_failures_map_to_statuses(void **state)
{
	char team[VBX_ID_LEN];
	make_team("{\"name\":\"T\"}", team);

	db.fail = "*";
	db.fail_rc = VBX_EUNAVAIL;
	const vbx_test_response *res =
	        expect(503, "GET", "/api/v1/teams", NULL);
	assert_code(res, "UNAVAILABLE");
	assert_message_has(res, "the store is unavailable");
	expect(503, "GET", "/api/v1/projects", NULL);
	expect(503, "POST", "/api/v1/teams", "{\"name\":\"X\"}");
	expect(503, "POST", "/api/v1/projects", "{\"name\":\"X\"}");

	db.fail = "store_team_get";
	expect(503, "GET", path("/api/v1/teams/%s", team), NULL);
	db.fail_rc = VBX_ERR;
	res = expect(500, "GET", path("/api/v1/teams/%s", team), NULL);
	assert_code(res, "INTERNAL_ERROR");
	db.fail_rc = VBX_EINVAL;
	assert_code(expect(400, "GET", path("/api/v1/teams/%s", team), NULL),
	            "BAD_REQUEST");

	/* a failing list callback's error comes back through the list */
	db.fail = "store_user_by_email";
	db.fail_rc = VBX_EUNAVAIL;
	expect(503, "POST", path("/api/v1/teams/%s/members", team),
	       "{\"email\":\"bob@example.test\",\"role\":\"viewer\"}");
	db.fail = "store_member_set";
	expect(503, "PATCH",
	       path("/api/v1/teams/%s/members/%s", team, alice.user_id),
	       "{\"role\":\"viewer\"}");
	db.fail = "store_member_remove";
	expect(503, "DELETE",
	       path("/api/v1/teams/%s/members/%s", team, alice.user_id), NULL);
	db.fail = NULL;

	/* the authorize hook's own failures */
	db.fail = "authorize";
	db.fail_rc = VBX_EUNAVAIL;
	res = expect(503, "GET", path("/api/v1/teams/%s", team), NULL);
	assert_message_has(res, "authorization is unavailable");
	db.fail_rc = VBX_ERR;
	expect(500, "GET", path("/api/v1/teams/%s", team), NULL);
	db.fail = NULL;
	expect(200, "GET", path("/api/v1/teams/%s", team), NULL);
}

static const char *const every_route[][3] = {
        {"GET", "/api/v1/teams", NULL},
        {"POST", "/api/v1/teams", "{\"name\":\"x\"}"},
        {"GET", "/api/v1/teams/" MISSING, NULL},
        {"PATCH", "/api/v1/teams/" MISSING, "{}"},
        {"DELETE", "/api/v1/teams/" MISSING, NULL},
        {"GET", "/api/v1/teams/" MISSING "/members", NULL},
        {"POST", "/api/v1/teams/" MISSING "/members",
         "{\"email\":\"a@b.c\",\"role\":\"viewer\"}"},
        {"PATCH", "/api/v1/teams/" MISSING "/members/" MISSING,
         "{\"role\":\"viewer\"}"},
        {"DELETE", "/api/v1/teams/" MISSING "/members/" MISSING, NULL},
        {"GET", "/api/v1/projects", NULL},
        {"POST", "/api/v1/projects", "{\"name\":\"x\"}"},
        {"GET", "/api/v1/projects/" MISSING, NULL},
        {"PATCH", "/api/v1/projects/" MISSING, "{}"},
        {"DELETE", "/api/v1/projects/" MISSING, NULL},
};
#define NROUTES (sizeof(every_route) / sizeof(every_route[0]))

/* No store plugin: every route that reaches the store answers 503 and
 * names the capability. */
static void no_store_is_503(void **state)
{
	as(&root); /* allowed everything, so each route reaches the store */
	for (size_t i = 0; i < NROUTES; i++) {
		const vbx_test_response *res =
		        expect(503, every_route[i][0], every_route[i][1],
		               every_route[i][2]);
		assert_code(res, "UNAVAILABLE");
		assert_message_has(res, "\"store\" capability");
	}
}

/* No authorization plugin: nothing is open, and the answer says why. */
static void no_authz_is_503(void **state)
{
	as(&root);
	for (size_t i = 0; i < NROUTES; i++) {
		const char *p = every_route[i][1];
		if (strcmp(every_route[i][0], "GET") == 0 &&
		    (strcmp(p, "/api/v1/teams") == 0 ||
		     strcmp(p, "/api/v1/projects") == 0))
			continue; /* lists filter by user, without authorize */
		const vbx_test_response *res =
		        expect(503, every_route[i][0], p, every_route[i][2]);
		assert_message_has(res, "\"authz\" capability");
	}
	assert_int_equal(db.nteams, 0);
	assert_int_equal(db.nprojects, 0);
}

/* Without a principal (and no authenticate hook) the core answers before
 * any of these handlers runs. */
static void every_route_needs_a_principal(void **state)
{
	vbx_test_set_principal(host, NULL);
	for (size_t i = 0; i < NROUTES; i++)
		expect(503, every_route[i][0], every_route[i][1],
		       every_route[i][2]);
	assert_int_equal(db.authz_calls, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, free_last)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(team_create_read_update_delete),
	        T(team_given_slug_and_conflicts),
	        T(team_validation),
	        T(team_visibility),
	        T(team_create_may_be_denied),
	        T(team_list_filters_and_pages),
	        T(members_add_list_change_remove),
	        T(member_validation),
	        T(last_admin_stays),
	        T(project_personal_crud),
	        T(project_in_a_team),
	        T(project_validation),
	        T(project_list_filters_and_pages),
	        T(store_failures_map_to_statuses),
	        T(every_route_needs_a_principal),
	        cmocka_unit_test_setup_teardown(no_authz_is_503,
	                                        setup_store_only, free_last),
	        cmocka_unit_test_setup_teardown(no_store_is_503,
	                                        setup_authz_only, free_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
