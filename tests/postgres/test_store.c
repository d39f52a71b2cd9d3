/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store.c - the postgres-store plugin against a real PostgreSQL.
 *
 * Environment:
 *   VBX_TEST_PG          conninfo of an empty database (required; the
 *                        test skips, exit 77, without it)
 *   VBX_TEST_PG_PLUGIN   path of postgres-store.so (default
 *                        ./postgres-store.so)
 *   VBX_TEST_PG_CLUSTER  path of pg_cluster.sh and
 *   VBX_TEST_PG_DIR      its cluster directory: with both, the restart and
 *                        database-down tests run too
 *
 * The test empties the plugin's tables between cases: never point it at a
 * database that matters.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include <vibebox/store.h>
#include <vibebox/testing.h>

#include "lists.h"

static const char *conninfo;
static const char *plugin_path;
static vbx_test_host *host;
static PGconn *admin; /* the test's own connection, for checks */

/* ---- helpers ---- */

static vbx_plugin *tp(void)
{
	return vbx_test_plugin(host);
}

/* Start a host with the plugin and an extra config text. */
static int host_up(const char *extra)
{
	char cfg[2048];

	snprintf(cfg, sizeof(cfg), "conninfo = \"%s\"; pool = 8; %s", conninfo,
	         extra ? extra : "");
	host = vbx_test_host_new();
	if (!host)
		return -1;
	int rc = vbx_test_load_file(host, plugin_path, cfg);
	if (rc == VBX_OK)
		rc = vbx_test_start(host);
	if (rc != VBX_OK)
		fprintf(stderr, "host_up: %d: %s\n", rc, vbx_test_errors(host));
	return rc;
}

static void host_down(void)
{
	vbx_test_host_free(host);
	host = NULL;
}

/* Run SQL on the test's own connection; fails the test on error. */
static PGresult *sql(const char *q)
{
	PGresult *r = PQexec(admin, q);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(admin));
	return r;
}

static long long sql_int(const char *q)
{
	PGresult *r = sql(q);
	assert_int_equal(PQntuples(r), 1);
	long long v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void wipe(void)
{
	PQclear(sql("TRUNCATE users, api_keys, refresh_tokens, audit_log "
	            "CASCADE"));
}

static int setup(void **state)
{
	wipe();
	return 0;
}

static int make_user(const char *email, int admin_if_first, vbx_user *u)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->name, sizeof(u->name), "User %s", email);
	return vbx_hook_store_user_create_run(
	        vbx_hook_store_user_create_get(tp()), u, "$argon2id$hash",
	        admin_if_first);
}

/* ---- migrations ---- */

static void test_migrations_once(void **state)
{
	assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations"), 4);
	assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations "
	                         "WHERE version = 3 AND "
	                         "name = '003_env_activity.sql'"),
	                 1);
	/* A second start finds nothing to do. */
	host_down();
	assert_int_equal(host_up(NULL), VBX_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations "
	                         "WHERE version = 1 AND name = '001_init.sql'"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations "
	                         "WHERE version = 2 AND name = "
	                         "'002_refresh_tokens_user_idx.sql'"),
	                 1);
}

/* ---- users ---- */

static void test_user_create(void **state)
{
	vbx_user a, b, c;

	assert_int_equal(make_user("Ann@Example.com", 1, &a), VBX_OK);
	assert_true(a.admin); /* the first user */
	assert_string_equal(a.email, "ann@example.com");
	assert_int_equal(strlen(a.id), 36);
	assert_true(a.created_at > 1600000000000LL);
	assert_int_equal(a.created_at, a.updated_at);

	assert_int_equal(make_user("bob@example.com", 1, &b), VBX_OK);
	assert_false(b.admin);
	assert_string_not_equal(a.id, b.id);

	/* The same email in another case is taken. */
	assert_int_equal(make_user("ANN@example.COM", 0, &c), VBX_EEXIST);
	/* The schema refuses an email shorter than 3. */
	assert_int_equal(make_user("ab", 0, &c), VBX_EINVAL);
}

static void test_user_not_first(void **state)
{
	vbx_user a;

	/* Without admin_if_first, the first user is no admin... */
	assert_int_equal(make_user("first@example.com", 0, &a), VBX_OK);
	assert_false(a.admin);
	/* ...unless asked. */
	memset(&a, 0, sizeof(a));
	strcpy(a.email, "root@example.com");
	a.admin = true;
	a.disabled = true;
	assert_int_equal(
	        vbx_hook_store_user_create_run(
	                vbx_hook_store_user_create_get(tp()), &a, NULL, 0),
	        VBX_OK);
	assert_true(a.admin);
	assert_true(a.disabled);
}

static void test_user_get(void **state)
{
	vbx_user a, out;
	vbx_hook *get = vbx_hook_store_user_get_get(tp());

	assert_int_equal(make_user("get@example.com", 1, &a), VBX_OK);
	assert_int_equal(vbx_hook_store_user_get_run(get, a.id, &out), VBX_OK);
	assert_string_equal(out.email, "get@example.com");
	assert_string_equal(out.name, "User get@example.com");
	assert_true(out.admin);
	assert_false(out.disabled);
	assert_int_equal(out.created_at, a.created_at);

	assert_int_equal(
	        vbx_hook_store_user_get_run(
	                get, "00000000-0000-0000-0000-000000000000", &out),
	        VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_user_get_run(get, "not-a-uuid", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_user_get_run(get, "", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_user_get_run(get, NULL, &out),
	                 VBX_ENOTFOUND);
}

static void test_user_by_email(void **state)
{
	vbx_user a, out;
	char hash[64];
	vbx_hook *h = vbx_hook_store_user_by_email_get(tp());

	assert_int_equal(make_user("mail@example.com", 1, &a), VBX_OK);
	assert_int_equal(vbx_hook_store_user_by_email_run(h, "MAIL@Example.Com",
	                                                  &out, hash,
	                                                  sizeof(hash)),
	                 VBX_OK);
	assert_string_equal(out.id, a.id);
	assert_string_equal(hash, "$argon2id$hash");
	/* A short buffer gets a cut, terminated hash. */
	assert_int_equal(vbx_hook_store_user_by_email_run(h, "mail@example.com",
	                                                  &out, hash, 5),
	                 VBX_OK);
	assert_string_equal(hash, "$arg");
	assert_int_equal(
	        vbx_hook_store_user_by_email_run(h, "nobody@example.com", &out,
	                                         hash, sizeof(hash)),
	        VBX_ENOTFOUND);

	/* A user without a password: "". */
	memset(&a, 0, sizeof(a));
	strcpy(a.email, "nopw@example.com");
	assert_int_equal(
	        vbx_hook_store_user_create_run(
	                vbx_hook_store_user_create_get(tp()), &a, NULL, 0),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_user_by_email_run(h, "nopw@example.com",
	                                                  &out, hash,
	                                                  sizeof(hash)),
	                 VBX_OK);
	assert_string_equal(hash, "");
}

static void test_user_update(void **state)
{
	vbx_user a, b, out;
	char hash[64];
	vbx_hook *upd = vbx_hook_store_user_update_get(tp());
	vbx_hook *by = vbx_hook_store_user_by_email_get(tp());

	assert_int_equal(make_user("old@example.com", 1, &a), VBX_OK);
	assert_int_equal(make_user("taken@example.com", 1, &b), VBX_OK);

	strcpy(a.email, "New@Example.com");
	strcpy(a.name, "Renamed");
	a.admin = false;
	a.disabled = true;
	assert_int_equal(vbx_hook_store_user_update_run(upd, &a, NULL), VBX_OK);
	assert_string_equal(a.email, "new@example.com");
	assert_true(a.updated_at >= a.created_at);
	assert_int_equal(vbx_hook_store_user_by_email_run(by, "new@example.com",
	                                                  &out, hash,
	                                                  sizeof(hash)),
	                 VBX_OK);
	assert_string_equal(out.name, "Renamed");
	assert_false(out.admin);
	assert_true(out.disabled);
	assert_string_equal(hash, "$argon2id$hash"); /* kept */

	assert_int_equal(vbx_hook_store_user_update_run(upd, &a, "$new"),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_user_by_email_run(by, "new@example.com",
	                                                  &out, hash,
	                                                  sizeof(hash)),
	                 VBX_OK);
	assert_string_equal(hash, "$new");

	strcpy(a.email, "TAKEN@example.com");
	assert_int_equal(vbx_hook_store_user_update_run(upd, &a, NULL),
	                 VBX_EEXIST);
	strcpy(a.email, "x");
	assert_int_equal(vbx_hook_store_user_update_run(upd, &a, NULL),
	                 VBX_EINVAL);
	strcpy(a.email, "ok@example.com");
	strcpy(a.id, "11111111-1111-1111-1111-111111111111");
	assert_int_equal(vbx_hook_store_user_update_run(upd, &a, NULL),
	                 VBX_ENOTFOUND);
}

struct collect {
	int n;
	int stop_at; /* return 7 at this row (1-based); 0: never */
	char ids[8][VBX_ID_LEN];
};

static int collect_user(void *ctx, const vbx_user *u)
{
	struct collect *c = ctx;

	if (c->n < 8)
		strcpy(c->ids[c->n], u->id);
	c->n++;
	return c->n == c->stop_at ? 7 : 0;
}

static void test_user_list(void **state)
{
	vbx_user u[5];
	char email[64];
	int64_t total = -1;
	vbx_hook *list = vbx_hook_store_user_list_get(tp());

	for (int i = 0; i < 5; i++) {
		snprintf(email, sizeof(email), "list%d@example.com", i);
		assert_int_equal(make_user(email, 0, &u[i]), VBX_OK);
	}
	struct collect c = {0};
	vbx_page p = {.page = 2, .limit = 2};
	assert_int_equal(vbx_hook_store_user_list_run(list, &p, collect_user,
	                                              &c, &total),
	                 VBX_OK);
	assert_int_equal(total, 5);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.ids[0], u[2].id); /* creation order */
	assert_string_equal(c.ids[1], u[3].id);

	/* Past the end: no rows, the total still. */
	memset(&c, 0, sizeof(c));
	p.page = 9;
	total = -1;
	assert_int_equal(vbx_hook_store_user_list_run(list, &p, collect_user,
	                                              &c, &total),
	                 VBX_OK);
	assert_int_equal(c.n, 0);
	assert_int_equal(total, 5);

	/* A callback's non-zero stops the list and is returned. */
	memset(&c, 0, sizeof(c));
	c.stop_at = 3;
	p = (vbx_page){.page = 1, .limit = 100};
	assert_int_equal(
	        vbx_hook_store_user_list_run(list, &p, collect_user, &c, NULL),
	        7);
	assert_int_equal(c.n, 3);

	/* A silly page is clamped, not refused. */
	memset(&c, 0, sizeof(c));
	p = (vbx_page){.page = -4, .limit = 100000};
	assert_int_equal(vbx_hook_store_user_list_run(list, &p, collect_user,
	                                              &c, &total),
	                 VBX_OK);
	assert_int_equal(c.n, 5);
}

/* ---- 100 registrations at once ---- */

#define RACERS 100

struct racer {
	pthread_t thread;
	const char *email; /* NULL: a distinct email per racer */
	int index;
	int rc;
	bool admin;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char email[64];
	vbx_user u;

	if (r->email)
		snprintf(email, sizeof(email), "%s", r->email);
	else
		snprintf(email, sizeof(email), "racer%d@example.com", r->index);
	r->rc = make_user(email, 1, &u);
	r->admin = r->rc == VBX_OK && u.admin;
	return NULL;
}

static void run_race(struct racer *rs, const char *email)
{
	for (int i = 0; i < RACERS; i++) {
		rs[i] = (struct racer){.email = email, .index = i};
		assert_int_equal(
		        pthread_create(&rs[i].thread, NULL, race, &rs[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(rs[i].thread, NULL);
}

static void test_concurrent_same_email(void **state)
{
	struct racer rs[RACERS];
	int ok = 0, exist = 0;

	run_race(rs, "same@example.com");
	for (int i = 0; i < RACERS; i++) {
		ok += rs[i].rc == VBX_OK;
		exist += rs[i].rc == VBX_EEXIST;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exist, RACERS - 1);
	assert_int_equal(sql_int("SELECT count(*) FROM users"), 1);
}

static void test_concurrent_first_admin(void **state)
{
	struct racer rs[RACERS];
	int ok = 0, admins = 0;

	run_race(rs, NULL);
	for (int i = 0; i < RACERS; i++) {
		ok += rs[i].rc == VBX_OK;
		admins += rs[i].admin;
	}
	assert_int_equal(ok, RACERS);
	assert_int_equal(admins, 1);
	assert_int_equal(sql_int("SELECT count(*) FROM users WHERE admin"), 1);
}

/* ---- API keys ---- */

static int make_key(const char *user_id, const char *name, unsigned scopes,
                    const char *hash, vbx_api_key *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->user_id, sizeof(k->user_id), "%s", user_id);
	snprintf(k->name, sizeof(k->name), "%s", name);
	strcpy(k->prefix, "vbx_abc");
	k->scopes = scopes;
	return vbx_hook_store_key_create_run(
	        vbx_hook_store_key_create_get(tp()), k, hash);
}

static int collect_key(void *ctx, const vbx_api_key *k)
{
	struct collect *c = ctx;

	if (c->n < 8)
		strcpy(c->ids[c->n], k->id);
	c->n++;
	return 0;
}

static void test_keys(void **state)
{
	vbx_user u, v;
	vbx_api_key k1, k2, k, out;
	vbx_hook *use = vbx_hook_store_key_use_get(tp());
	vbx_hook *rev = vbx_hook_store_key_revoke_get(tp());
	vbx_hook *list = vbx_hook_store_key_list_get(tp());

	assert_int_equal(make_user("keys@example.com", 1, &u), VBX_OK);
	assert_int_equal(make_user("other@example.com", 1, &v), VBX_OK);
	assert_int_equal(make_key(u.id, "ci", 3, "h1", &k1), VBX_OK);
	assert_int_equal(strlen(k1.id), 36);
	assert_true(k1.created_at > 0);
	assert_int_equal(k1.last_used_at, 0);
	assert_int_equal(k1.expires_at, 0);

	k2 = k1;
	assert_int_equal(make_key(u.id, "deploy", 1, "h2", &k2), VBX_OK);

	/* Constraint errors. */
	assert_int_equal(make_key(u.id, "dup", 1, "h1", &k), VBX_EEXIST);
	assert_int_equal(make_key(u.id, "zero", 0, "h3", &k), VBX_EINVAL);
	assert_int_equal(make_key(u.id, "", 1, "h4", &k), VBX_EINVAL);
	assert_int_equal(make_key("22222222-2222-2222-2222-222222222222", "x",
	                          1, "h5", &k),
	                 VBX_EINVAL);
	assert_int_equal(make_key("bogus", "x", 1, "h6", &k), VBX_EINVAL);

	/* An expiry round-trips in ms. */
	memset(&k, 0, sizeof(k));
	strcpy(k.user_id, u.id);
	strcpy(k.name, "exp");
	k.scopes = 7;
	k.expires_at = 4102444800123LL;
	assert_int_equal(vbx_hook_store_key_create_run(
	                         vbx_hook_store_key_create_get(tp()), &k, "h7"),
	                 VBX_OK);
	assert_int_equal(k.expires_at, 4102444800123LL);

	assert_int_equal(vbx_hook_store_key_use_run(use, "h1", &out), VBX_OK);
	assert_string_equal(out.id, k1.id);
	assert_string_equal(out.user_id, u.id);
	assert_string_equal(out.name, "ci");
	assert_string_equal(out.prefix, "vbx_abc");
	assert_int_equal(out.scopes, 3);
	assert_true(out.last_used_at >= k1.created_at);
	assert_int_equal(vbx_hook_store_key_use_run(use, "nope", &out),
	                 VBX_ENOTFOUND);

	struct collect c = {0};
	assert_int_equal(
	        vbx_hook_store_key_list_run(list, u.id, collect_key, &c),
	        VBX_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.ids[0], k.id); /* newest first */
	assert_string_equal(c.ids[2], k1.id);

	/* Only the owner revokes; once. */
	assert_int_equal(vbx_hook_store_key_revoke_run(rev, v.id, k1.id),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_key_revoke_run(rev, u.id, k1.id),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_key_revoke_run(rev, u.id, k1.id),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_key_revoke_run(rev, u.id, "x"),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_key_use_run(use, "h1", &out),
	                 VBX_ENOTFOUND);
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	        vbx_hook_store_key_list_run(list, u.id, collect_key, &c),
	        VBX_OK);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	        vbx_hook_store_key_list_run(list, "junk", collect_key, &c),
	        VBX_OK);
	assert_int_equal(c.n, 0);
}

/* ---- refresh tokens ---- */

static int make_refresh(const char *user_id, const char *family,
                        const char *hash, vbx_refresh *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->user_id, sizeof(t->user_id), "%s", user_id);
	snprintf(t->family_id, sizeof(t->family_id), "%s", family);
	t->expires_at = 4102444800000LL;
	return vbx_hook_store_refresh_create_run(
	        vbx_hook_store_refresh_create_get(tp()), t, hash);
}

static void test_refresh(void **state)
{
	vbx_user u;
	vbx_refresh a, b, c, out;
	vbx_hook *use = vbx_hook_store_refresh_use_get(tp());
	vbx_hook *rev = vbx_hook_store_refresh_revoke_family_get(tp());

	assert_int_equal(make_user("refresh@example.com", 1, &u), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "r1", &a), VBX_OK);
	assert_int_equal(strlen(a.family_id), 36); /* a new family */
	assert_int_equal(make_refresh(u.id, a.family_id, "r2", &b), VBX_OK);
	assert_string_equal(b.family_id, a.family_id);
	assert_int_equal(make_refresh(u.id, "", "r3", &c), VBX_OK);
	assert_string_not_equal(c.family_id, a.family_id);

	assert_int_equal(make_refresh(u.id, "", "r1", &out), VBX_EEXIST);
	assert_int_equal(make_refresh("33333333-3333-3333-3333-333333333333",
	                              "", "r9", &out),
	                 VBX_EINVAL);
	assert_int_equal(make_refresh(u.id, "junk", "r9", &out), VBX_EINVAL);

	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r1", &out),
	                 VBX_OK);
	assert_string_equal(out.id, a.id);
	assert_string_equal(out.user_id, u.id);
	assert_string_equal(out.family_id, a.family_id);
	assert_int_equal(out.expires_at, 4102444800000LL);
	/* Reuse: EEXIST, with the family to revoke. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r1", &out),
	                 VBX_EEXIST);
	assert_string_equal(out.family_id, a.family_id);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "nope", &out),
	                 VBX_ENOTFOUND);

	assert_int_equal(
	        vbx_hook_store_refresh_revoke_family_run(rev, a.family_id),
	        VBX_OK);
	/* The unused sibling is dead, the other family is not. */
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r2", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r1", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r3", &out),
	                 VBX_OK);
	/* A token added to a revoked family (a racing rotation) is dead. */
	assert_int_equal(make_refresh(u.id, a.family_id, "r4", &out), VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "r4", &out),
	                 VBX_ENOTFOUND);
	/* Revoking again, or junk, is harmless. */
	assert_int_equal(
	        vbx_hook_store_refresh_revoke_family_run(rev, a.family_id),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_revoke_family_run(rev, "x"),
	                 VBX_OK);
}

/* A family is live until any of its tokens is revoked; using a token
 * (rotation) keeps it live; an unknown family or junk is not live. */
static void test_refresh_family_live(void **state)
{
	vbx_user u;
	vbx_refresh a, b, out;
	vbx_hook *live = vbx_hook_store_refresh_family_live_get(tp());
	vbx_hook *use = vbx_hook_store_refresh_use_get(tp());
	vbx_hook *rev = vbx_hook_store_refresh_revoke_family_get(tp());
	vbx_hook *revu = vbx_hook_store_refresh_revoke_user_get(tp());

	assert_non_null(live);
	assert_int_equal(make_user("fl@example.com", 1, &u), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "fl-a", &a), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "fl-b", &b), VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_family_live_run(live, a.family_id),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "fl-a", &out),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_family_live_run(live, a.family_id),
	        VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_revoke_family_run(rev, a.family_id),
	        VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_family_live_run(live, a.family_id),
	        VBX_ENOTFOUND);
	assert_int_equal(
	        vbx_hook_store_refresh_family_live_run(live, b.family_id),
	        VBX_OK);
	/* A password change revokes every family of the user. */
	assert_int_equal(vbx_hook_store_refresh_revoke_user_run(revu, u.id, ""),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_family_live_run(live, b.family_id),
	        VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_family_live_run(
	                         live, "33333333-3333-3333-3333-333333333333"),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_family_live_run(live, "junk"),
	                 VBX_ENOTFOUND);
}

/* Every family of the user but keep_family ("" or NULL: every one), not
 * another user's; junk ids are harmless. */
static void test_refresh_revoke_user(void **state)
{
	vbx_user u, v;
	vbx_refresh a, b, c, o, out;
	vbx_hook *use = vbx_hook_store_refresh_use_get(tp());
	vbx_hook *rev = vbx_hook_store_refresh_revoke_user_get(tp());

	assert_non_null(rev);
	assert_int_equal(make_user("ru1@example.com", 1, &u), VBX_OK);
	assert_int_equal(make_user("ru2@example.com", 1, &v), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "ru-a", &a), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "ru-b", &b), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "ru-c", &c), VBX_OK);
	assert_int_equal(make_refresh(v.id, "", "ru-o", &o), VBX_OK);

	assert_int_equal(
	        vbx_hook_store_refresh_revoke_user_run(rev, u.id, a.family_id),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-b", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-c", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-a", &out),
	                 VBX_OK);
	/* A token a racing rotation adds to a revoked family is dead. */
	assert_int_equal(make_refresh(u.id, b.family_id, "ru-b2", &out),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-b2", &out),
	                 VBX_ENOTFOUND);

	/* The kept family continues; then NULL and "" revoke it too. */
	assert_int_equal(make_refresh(u.id, a.family_id, "ru-a2", &out),
	                 VBX_OK);
	assert_int_equal(make_refresh(u.id, a.family_id, "ru-a3", &out),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_revoke_user_run(rev, u.id, ""),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-a2", &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(make_refresh(u.id, "", "ru-d", &out), VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_revoke_user_run(rev, u.id, NULL),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-d", &out),
	                 VBX_ENOTFOUND);
	/* A keep_family that is no UUID keeps nothing. */
	assert_int_equal(make_refresh(u.id, "", "ru-e", &out), VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_revoke_user_run(rev, u.id, "junk"),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-e", &out),
	                 VBX_ENOTFOUND);

	/* The other user is untouched; repeats and junk are harmless. */
	assert_int_equal(vbx_hook_store_refresh_use_run(use, "ru-o", &out),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_revoke_user_run(rev, u.id, ""),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_store_refresh_revoke_user_run(rev, "junk", NULL),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_revoke_user_run(rev, NULL, ""),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_refresh_revoke_user_run(
	                         rev, "'); DELETE FROM users; --", NULL),
	                 VBX_OK);
	vbx_user again;
	assert_int_equal(
	        vbx_hook_store_user_get_run(vbx_hook_store_user_get_get(tp()),
	                                    v.id, &again),
	        VBX_OK);
}

struct use_racer {
	pthread_t thread;
	int rc;
};

static void *use_race(void *arg)
{
	struct use_racer *r = arg;
	vbx_refresh out;

	r->rc = vbx_hook_store_refresh_use_run(
	        vbx_hook_store_refresh_use_get(tp()), "race", &out);
	return NULL;
}

/* 20 uses of one token at once: exactly one wins. */
static void test_refresh_use_race(void **state)
{
	struct use_racer rs[20];
	vbx_user u;
	vbx_refresh t;
	int ok = 0, exist = 0;

	assert_int_equal(make_user("race@example.com", 1, &u), VBX_OK);
	assert_int_equal(make_refresh(u.id, "", "race", &t), VBX_OK);
	for (int i = 0; i < 20; i++)
		pthread_create(&rs[i].thread, NULL, use_race, &rs[i]);
	for (int i = 0; i < 20; i++) {
		pthread_join(rs[i].thread, NULL);
		ok += rs[i].rc == VBX_OK;
		exist += rs[i].rc == VBX_EEXIST;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exist, 19);
}

/* ---- audit ---- */

static int collect_audit(void *ctx, const vbx_audit *a)
{
	struct collect *c = ctx;

	if (c->n < 8)
		strcpy(c->ids[c->n], a->action);
	c->n++;
	return 0;
}

static void test_audit(void **state)
{
	vbx_user u;
	vbx_audit a;
	vbx_hook *add = vbx_hook_store_audit_add_get(tp());
	vbx_hook *list = vbx_hook_store_audit_list_get(tp());

	assert_int_equal(make_user("audit@example.com", 1, &u), VBX_OK);
	memset(&a, 0, sizeof(a));
	strcpy(a.actor_id, u.id);
	strcpy(a.action, "user.register");
	strcpy(a.target_type, "user");
	strcpy(a.target_id, u.id);
	strcpy(a.client, "127.0.0.1");
	strcpy(a.detail, "{\"x\":1}");
	assert_int_equal(vbx_hook_store_audit_add_run(add, &a), VBX_OK);
	assert_int_equal(strlen(a.id), 36);
	assert_true(a.at > 0);

	memset(&a, 0, sizeof(a));
	strcpy(a.action, "auth.login.failure"); /* no actor */
	assert_int_equal(vbx_hook_store_audit_add_run(add, &a), VBX_OK);

	memset(&a, 0, sizeof(a));
	strcpy(a.action, "x");
	strcpy(a.actor_id, "not-a-uuid");
	assert_int_equal(vbx_hook_store_audit_add_run(add, &a), VBX_EINVAL);
	strcpy(a.actor_id, "44444444-4444-4444-4444-444444444444");
	assert_int_equal(vbx_hook_store_audit_add_run(add, &a), VBX_EINVAL);
	memset(&a, 0, sizeof(a));
	assert_int_equal(vbx_hook_store_audit_add_run(add, &a), VBX_EINVAL);

	struct collect c = {0};
	int64_t total = 0;
	vbx_page p = {.page = 1, .limit = 10};
	assert_int_equal(vbx_hook_store_audit_list_run(list, &p, collect_audit,
	                                               &c, &total),
	                 VBX_OK);
	assert_int_equal(total, 2);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.ids[0], "auth.login.failure"); /* newest */
	assert_string_equal(c.ids[1], "user.register");
}

/* What a paged list's callback saw, joined with ",". */
/* ---- paging (lists.c) ---- */

static int seen_user(void *ctx, const vbx_user *u)
{
	return seen_add(ctx, u->email);
}

static void add_user(void *arg, int i, char *name, size_t len)
{
	vbx_user u;

	snprintf(name, len, "u%02d@example.com", i);
	assert_int_equal(make_user(name, 0, &u), VBX_OK);
}

static int list_users(void *arg, const vbx_page *page, struct seen *s,
                      int64_t *total)
{
	return vbx_hook_store_user_list_run(vbx_hook_store_user_list_get(tp()),
	                                    page, seen_user, s, total);
}

static void test_user_list_pages(void **state)
{
	struct paged pg = {
	        .what = "user list", .add = add_user, .list = list_users};

	check_paging(&pg);
}

static int seen_audit(void *ctx, const vbx_audit *a)
{
	return seen_add(ctx, a->action);
}

static void add_audit(void *arg, int i, char *name, size_t len)
{
	vbx_audit a;

	memset(&a, 0, sizeof(a));
	snprintf(name, len, "a%02d", i);
	snprintf(a.action, sizeof(a.action), "%s", name);
	assert_int_equal(vbx_hook_store_audit_add_run(
	                         vbx_hook_store_audit_add_get(tp()), &a),
	                 VBX_OK);
}

static int list_audit(void *arg, const vbx_page *page, struct seen *s,
                      int64_t *total)
{
	return vbx_hook_store_audit_list_run(
	        vbx_hook_store_audit_list_get(tp()), page, seen_audit, s,
	        total);
}

static void test_audit_list_pages(void **state)
{
	struct paged pg = {.what = "audit list",
	                   .add = add_audit,
	                   .list = list_audit,
	                   .newest_first = 1};

	check_paging(&pg);
}

/* ---- errors of the database ---- */

/* A statement that waits past statement_timeout gives VBX_ETIMEDOUT. */
static void test_statement_timeout(void **state)
{
	vbx_user u, out;

	assert_int_equal(make_user("slow@example.com", 1, &u), VBX_OK);
	host_down();
	assert_int_equal(host_up("statement_timeout = \"300ms\";"), VBX_OK);
	PQclear(sql("BEGIN"));
	PQclear(sql("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"));
	int rc = vbx_hook_store_user_get_run(vbx_hook_store_user_get_get(tp()),
	                                     u.id, &out);
	PQclear(sql("ROLLBACK"));
	assert_int_equal(rc, VBX_ETIMEDOUT);
	/* The connection is still good. */
	assert_int_equal(vbx_hook_store_user_get_run(
	                         vbx_hook_store_user_get_get(tp()), u.id, &out),
	                 VBX_OK);
	host_down();
	assert_int_equal(host_up(NULL), VBX_OK);
}

static int cluster(const char *cmd)
{
	char line[1024];
	const char *script = getenv("VBX_TEST_PG_CLUSTER");
	const char *dir = getenv("VBX_TEST_PG_DIR");

	snprintf(line, sizeof(line), "'%s' %s '%s' >/dev/null", script, cmd,
	         dir);
	return system(line);
}

static bool have_cluster(void)
{
	return getenv("VBX_TEST_PG_CLUSTER") && getenv("VBX_TEST_PG_DIR");
}

static int ready_status(void)
{
	vbx_test_response *res =
	        vbx_test_request(host, "GET", "/health/ready", NULL, NULL);
	int status = vbx_test_status(res);

	vbx_test_response_free(res);
	return status;
}

/* pg_ctl restart between two calls: a later call works again. */
static void test_reconnect_after_restart(void **state)
{
	vbx_user u, out;
	vbx_hook *get = vbx_hook_store_user_get_get(tp());

	if (!have_cluster())
		skip();
	assert_int_equal(make_user("restart@example.com", 1, &u), VBX_OK);
	assert_int_equal(vbx_hook_store_user_get_run(get, u.id, &out), VBX_OK);
	assert_int_equal(ready_status(), 200);
	PQfinish(admin);
	assert_int_equal(cluster("restart"), 0);
	admin = PQconnectdb(conninfo);

	int rc = vbx_hook_store_user_get_run(get, u.id, &out);
	for (int i = 0; i < 5 && rc != VBX_OK; i++) {
		assert_int_equal(rc, VBX_EUNAVAIL); /* the only excuse */
		usleep(200 * 1000);
		rc = vbx_hook_store_user_get_run(get, u.id, &out);
	}
	assert_int_equal(rc, VBX_OK);
	assert_string_equal(out.email, "restart@example.com");
}

/* The database down: hooks answer VBX_EUNAVAIL, readiness 503; back up,
 * everything works without a restart of the daemon. */
static void test_database_down(void **state)
{
	vbx_user u, out;
	vbx_hook *get = vbx_hook_store_user_get_get(tp());

	if (!have_cluster())
		skip();
	assert_int_equal(make_user("down@example.com", 1, &u), VBX_OK);
	PQfinish(admin);
	assert_int_equal(cluster("stop"), 0);
	assert_int_equal(vbx_hook_store_user_get_run(get, u.id, &out),
	                 VBX_EUNAVAIL);
	assert_int_equal(make_user("down2@example.com", 1, &out), VBX_EUNAVAIL);
	assert_int_equal(ready_status(), 503);
	assert_int_equal(cluster("start"), 0);
	admin = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(admin), CONNECTION_OK);
	assert_int_equal(vbx_hook_store_user_get_run(get, u.id, &out), VBX_OK);
	assert_int_equal(ready_status(), 200);
}

/* ---- config and start errors (each with its own host) ---- */

static void test_config_errors(void **state)
{
	static const char *const bad[] = {
	        "pool = 0;",
	        "pool = 257;",
	        "statement_timeout = \"soon\";",
	        "connect_timeout = \"0s\";",
	        "conninfo = \"\";",
	        "colour = \"blue\";",
	};

	host_down();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char cfg[2048];
		snprintf(cfg, sizeof(cfg), "%s%s",
		         strstr(bad[i], "conninfo") ? "" : "conninfo = \"x\"; ",
		         bad[i]);
		host = vbx_test_host_new();
		assert_non_null(host);
		assert_int_not_equal(vbx_test_load_file(host, plugin_path, cfg),
		                     VBX_OK);
		host_down();
	}
	assert_int_equal(host_up(NULL), VBX_OK);
}

static void test_start_unreachable(void **state)
{
	host_down();
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load_file(host, plugin_path,
	                                    "conninfo = \"host=/nonexistent "
	                                    "port=1\"; connect_timeout = "
	                                    "\"1s\";"),
	                 VBX_OK);
	assert_int_not_equal(vbx_test_start(host), VBX_OK);
	host_down();
	assert_int_equal(host_up(NULL), VBX_OK);
}

/* A migration that fails is a start error naming the file. */
static void test_migration_failure(void **state)
{
	char ci[1024];

	host_down();
	PQclear(sql("DROP DATABASE IF EXISTS vbx_test_broken"));
	PQclear(sql("CREATE DATABASE vbx_test_broken"));
	snprintf(ci, sizeof(ci), "%s dbname=vbx_test_broken", conninfo);
	PGconn *b = PQconnectdb(ci);
	assert_int_equal(PQstatus(b), CONNECTION_OK);
	PQclear(PQexec(b, "CREATE TABLE users (x int)"));
	PQfinish(b);

	char cfg[2048];
	snprintf(cfg, sizeof(cfg), "conninfo = \"%s\";", ci);
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load_file(host, plugin_path, cfg), VBX_OK);
	assert_int_not_equal(vbx_test_start(host), VBX_OK);
	host_down();
	b = PQconnectdb(ci);
	/* Nothing of 001 stayed: it ran in one transaction. */
	PGresult *r = PQexec(b, "SELECT count(*) FROM schema_migrations");
	assert_string_equal(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
	r = PQexec(b, "SELECT to_regclass('teams') IS NULL");
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	PQfinish(b);
	PQclear(sql("DROP DATABASE vbx_test_broken"));
	assert_int_equal(host_up(NULL), VBX_OK);
}

static int group_setup(void **state)
{
	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_store: %s", PQerrorMessage(admin));
		return -1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	return host_up(NULL) == VBX_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	host_down();
	PQfinish(admin);
	return 0;
}

int main(void)
{
	conninfo = getenv("VBX_TEST_PG");
	plugin_path = getenv("VBX_TEST_PG_PLUGIN");
	if (!plugin_path)
		plugin_path = "./postgres-store.so";
	if (!conninfo || !conninfo[0]) {
		fprintf(stderr, "test_store: set VBX_TEST_PG to the conninfo "
		                "of an empty database; skipped\n");
		return 77;
	}

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_migrations_once, setup),
	        cmocka_unit_test_setup(test_user_create, setup),
	        cmocka_unit_test_setup(test_user_not_first, setup),
	        cmocka_unit_test_setup(test_user_get, setup),
	        cmocka_unit_test_setup(test_user_by_email, setup),
	        cmocka_unit_test_setup(test_user_update, setup),
	        cmocka_unit_test_setup(test_user_list, setup),
	        cmocka_unit_test_setup(test_concurrent_same_email, setup),
	        cmocka_unit_test_setup(test_concurrent_first_admin, setup),
	        cmocka_unit_test_setup(test_keys, setup),
	        cmocka_unit_test_setup(test_refresh, setup),
	        cmocka_unit_test_setup(test_refresh_revoke_user, setup),
	        cmocka_unit_test_setup(test_refresh_family_live, setup),
	        cmocka_unit_test_setup(test_refresh_use_race, setup),
	        cmocka_unit_test_setup(test_audit, setup),
	        cmocka_unit_test_setup(test_user_list_pages, setup),
	        cmocka_unit_test_setup(test_audit_list_pages, setup),
	        cmocka_unit_test_setup(test_statement_timeout, setup),
	        cmocka_unit_test_setup(test_config_errors, setup),
	        cmocka_unit_test_setup(test_start_unreachable, setup),
	        cmocka_unit_test_setup(test_migration_failure, setup),
	        cmocka_unit_test_setup(test_reconnect_after_restart, setup),
	        cmocka_unit_test_setup(test_database_down, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
