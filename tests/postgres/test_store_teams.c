/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_teams.c - teams, members, projects, dump and restore of the
 * postgres-store plugin against a real PostgreSQL.
 *
 * Environment:
 *   VBX_TEST_PG          conninfo of a throwaway database (required; the
 *                        test skips, exit 77, without it)
 *   VBX_TEST_PG_PLUGIN   path of postgres-store.so (default
 *                        ./postgres-store.so)
 *
 * The test empties the plugin's tables between cases: never point it at a
 * database that matters.
 */
#include <fcntl.h>
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

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
/* Stored verbatim, never executed. */
#define INJECTION "Robert'); DROP TABLE teams; --"

static const char *conninfo;
static const char *plugin_path;
static vbx_test_host *host;
static PGconn *admin; /* the test's own connection, for checks */

/* ---- helpers ---- */

static vbx_plugin *tp(void)
{
	return vbx_test_plugin(host);
}

#define RUN(name, ...)                                                         \
	vbx_hook_##name##_run(vbx_hook_##name##_get(tp()), __VA_ARGS__)

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
	long long v;

	assert_int_equal(PQntuples(r), 1);
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Set a role or remove a membership behind the store's back: the store
 * itself keeps a team's last admin (role NULL: remove). */
static void force_member(const char *team, const char *user, const char *role)
{
	char q[512];
	if (role)
		snprintf(q, sizeof(q),
		         "UPDATE team_members SET role = '%s' WHERE team_id = "
		         "'%s' AND user_id = '%s'",
		         role, team, user);
	else
		snprintf(q, sizeof(q),
		         "DELETE FROM team_members WHERE team_id = '%s' AND "
		         "user_id = '%s'",
		         team, user);
	PQclear(sql(q));
}

static int setup(void **state)
{
	PQclear(sql("TRUNCATE users, teams, projects, audit_log CASCADE"));
	return 0;
}

static void make_user(const char *email, vbx_user *u)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->name, sizeof(u->name), "Name of %s", email);
	assert_int_equal(RUN(store_user_create, u, "", 0), VBX_OK);
}

static int make_team(const char *name, const char *slug, const char *admin_id,
                     vbx_team *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->slug, sizeof(t->slug), "%s", slug);
	return RUN(store_team_create, t, admin_id);
}

static int make_member(const char *team_id, const char *user_id,
                       const char *role, int create, vbx_member *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->team_id, sizeof(m->team_id), "%s", team_id);
	snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
	snprintf(m->role, sizeof(m->role), "%s", role);
	return RUN(store_member_set, m, create);
}

static int make_project(const char *slug, const char *owner_id,
                        const char *team_id, vbx_project *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "Project %s", slug);
	snprintf(p->slug, sizeof(p->slug), "%s", slug);
	snprintf(p->owner_id, sizeof(p->owner_id), "%s", owner_id);
	snprintf(p->team_id, sizeof(p->team_id), "%s", team_id);
	return RUN(store_project_create, p);
}

static int seen_team(void *ctx, const vbx_team *t)
{
	return seen_add(ctx, t->slug);
}

static int seen_member(void *ctx, const vbx_member *m)
{
	char what[512];

	snprintf(what, sizeof(what), "%s:%s:%s", m->email, m->role, m->name);
	return seen_add(ctx, what);
}

static int seen_project(void *ctx, const vbx_project *p)
{
	return seen_add(ctx, p->slug);
}

/* ---- teams ---- */

static void test_team_create(void **state)
{
	vbx_user ann;
	vbx_team t, again;
	vbx_member m;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("Platform", "platform", ann.id, &t), VBX_OK);
	assert_int_equal(strlen(t.id), 36);
	assert_string_equal(t.name, "Platform");
	assert_true(t.created_at > 1600000000000LL);
	assert_int_equal(t.created_at, t.updated_at);
	/* The creator is its admin. */
	assert_int_equal(RUN(store_member_get, t.id, ann.id, &m), VBX_OK);
	assert_string_equal(m.role, VBX_ROLE_ADMIN);
	assert_string_equal(m.email, "ann@example.com");

	assert_int_equal(RUN(store_team_get, t.id, &again), VBX_OK);
	assert_string_equal(again.slug, "platform");
	assert_int_equal(again.created_at, t.created_at);
}

static void test_team_create_refused(void **state)
{
	vbx_user ann;
	vbx_team t;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("A", "taken", ann.id, &t), VBX_OK);
	assert_int_equal(make_team("B", "taken", ann.id, &t), VBX_EEXIST);
	/* The slug's shape and the name's length are the database's. */
	assert_int_equal(make_team("C", "Not A Slug", ann.id, &t), VBX_EINVAL);
	assert_int_equal(make_team("D", "-dash", ann.id, &t), VBX_EINVAL);
	assert_int_equal(make_team("", "empty-name", ann.id, &t), VBX_EINVAL);
	/* No such admin: no team is left behind. */
	assert_int_equal(make_team("E", "orphan", NO_SUCH_ID, &t), VBX_EINVAL);
	assert_int_equal(make_team("F", "bad-admin", "not-a-uuid", &t),
	                 VBX_EINVAL);
	assert_int_equal(make_team("G", "null-admin", NULL, &t), VBX_EINVAL);
	assert_int_equal(sql_int("SELECT count(*) FROM teams"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM team_members"), 1);
}

static void test_team_get_missing(void **state)
{
	vbx_team t;

	assert_int_equal(RUN(store_team_get, NO_SUCH_ID, &t), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_team_get, "x' OR '1'='1", &t),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_team_get, "", &t), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_team_get, NULL, &t), VBX_ENOTFOUND);
}

static void test_team_update(void **state)
{
	vbx_user ann;
	vbx_team t, u, other;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("One", "one", ann.id, &t), VBX_OK);
	assert_int_equal(make_team("Two", "two", ann.id, &other), VBX_OK);
	usleep(2000);
	u = t;
	snprintf(u.name, sizeof(u.name), "%s", INJECTION);
	snprintf(u.slug, sizeof(u.slug), "uno");
	assert_int_equal(RUN(store_team_update, &u), VBX_OK);
	assert_true(u.updated_at > t.updated_at);
	assert_int_equal(u.created_at, t.created_at);
	assert_int_equal(RUN(store_team_get, t.id, &u), VBX_OK);
	assert_string_equal(u.name, INJECTION);
	assert_string_equal(u.slug, "uno");

	snprintf(u.slug, sizeof(u.slug), "two");
	assert_int_equal(RUN(store_team_update, &u), VBX_EEXIST);
	snprintf(u.slug, sizeof(u.slug), "UPPER");
	assert_int_equal(RUN(store_team_update, &u), VBX_EINVAL);
	snprintf(u.id, sizeof(u.id), "%s", NO_SUCH_ID);
	snprintf(u.slug, sizeof(u.slug), "fine");
	assert_int_equal(RUN(store_team_update, &u), VBX_ENOTFOUND);
	snprintf(u.id, sizeof(u.id), "bogus");
	assert_int_equal(RUN(store_team_update, &u), VBX_ENOTFOUND);
}

static void test_team_delete_cascades(void **state)
{
	vbx_user ann;
	vbx_team t;
	vbx_project p;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("Doomed", "doomed", ann.id, &t), VBX_OK);
	assert_int_equal(make_project("inside", "", t.id, &p), VBX_OK);
	assert_int_equal(RUN(store_team_delete, t.id), VBX_OK);
	assert_int_equal(RUN(store_team_get, t.id, &t), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_project_get, p.id, &p), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM team_members"), 0);
	assert_int_equal(RUN(store_team_delete, t.id), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_team_delete, "nope"), VBX_ENOTFOUND);
	/* The user stays. */
	assert_int_equal(sql_int("SELECT count(*) FROM users"), 1);
}

static void test_team_list(void **state)
{
	vbx_user ann, bob;
	vbx_team t;
	vbx_member m;
	vbx_page page = {1, 2};
	struct seen s = {0};
	int64_t total = -1;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	assert_int_equal(make_team("A", "a", ann.id, &t), VBX_OK);
	assert_int_equal(make_team("B", "b", bob.id, &t), VBX_OK);
	assert_int_equal(make_member(t.id, ann.id, "viewer", 1, &m), VBX_OK);
	assert_int_equal(make_team("C", "c", ann.id, &t), VBX_OK);

	/* Everything, by creation: two pages of two. */
	assert_int_equal(
	        RUN(store_team_list, NULL, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_int_equal(total, 3);
	assert_string_equal(s.text, "a,b");
	page.page = 2;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_team_list, NULL, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text, "c");
	assert_int_equal(total, 3);
	/* Past the end: nothing, but the total still. */
	page.page = 9;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_team_list, NULL, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_int_equal(s.count, 0);
	assert_int_equal(total, 3);

	/* By member. */
	page = (vbx_page){1, 100};
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_team_list, bob.id, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text, "b");
	assert_int_equal(total, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_team_list, ann.id, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text, "a,b,c");
	/* Nobody, and a non-id, belong to nothing. */
	assert_int_equal(
	        RUN(store_team_list, NO_SUCH_ID, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_int_equal(total, 0);
	total = -1;
	assert_int_equal(
	        RUN(store_team_list, INJECTION, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_int_equal(total, 0);

	/* A callback that stops the list: its value comes back. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(RUN(store_team_list, NULL, &page, seen_team, &s, NULL),
	                 7);
	assert_int_equal(s.count, 2);
	/* Out-of-range pages are clamped, not refused. */
	page = (vbx_page){-3, 1000};
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_team_list, NULL, &page, seen_team, &s, &total),
	        VBX_OK);
	assert_int_equal(s.count, 3);
}

/* ---- members ---- */

static void test_members(void **state)
{
	vbx_user ann, bob;
	vbx_team t;
	vbx_member m;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);

	assert_int_equal(make_member(t.id, bob.id, "developer", 1, &m), VBX_OK);
	assert_string_equal(m.email, "bob@example.com");
	assert_string_equal(m.name, "Name of bob@example.com");
	assert_true(m.created_at > 1600000000000LL);
	/* Twice: taken. */
	assert_int_equal(make_member(t.id, bob.id, "viewer", 1, &m),
	                 VBX_EEXIST);
	/* Change the role. */
	assert_int_equal(make_member(t.id, bob.id, "viewer", 0, &m), VBX_OK);
	assert_int_equal(RUN(store_member_get, t.id, bob.id, &m), VBX_OK);
	assert_string_equal(m.role, "viewer");
	/* Roles the database does not know. */
	assert_int_equal(make_member(t.id, bob.id, "owner", 0, &m), VBX_EINVAL);
	assert_int_equal(make_member(t.id, bob.id, "admin' --", 0, &m),
	                 VBX_EINVAL);
	assert_int_equal(make_member(t.id, bob.id, "", 0, &m), VBX_EINVAL);

	/* Remove, then it is gone. */
	assert_int_equal(RUN(store_member_remove, t.id, bob.id), VBX_OK);
	assert_int_equal(RUN(store_member_get, t.id, bob.id, &m),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_member_remove, t.id, bob.id), VBX_ENOTFOUND);
	/* Changing a role of a non-member. */
	assert_int_equal(make_member(t.id, bob.id, "viewer", 0, &m),
	                 VBX_ENOTFOUND);
}

/* The store keeps a team's last admin, whoever asks. */
static void test_last_admin(void **state)
{
	vbx_user ann, bob;
	vbx_team t;
	vbx_member m;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	assert_int_equal(make_member(t.id, ann.id, "viewer", 0, &m),
	                 VBX_ESTATE);
	assert_int_equal(RUN(store_member_remove, t.id, ann.id), VBX_ESTATE);
	assert_int_equal(make_member(t.id, ann.id, "admin", 0, &m), VBX_OK);
	/* A developer does not count; a second admin does. */
	assert_int_equal(make_member(t.id, bob.id, "developer", 1, &m), VBX_OK);
	assert_int_equal(RUN(store_member_remove, t.id, ann.id), VBX_ESTATE);
	assert_int_equal(make_member(t.id, bob.id, "admin", 0, &m), VBX_OK);
	assert_int_equal(make_member(t.id, ann.id, "viewer", 0, &m), VBX_OK);
	assert_int_equal(RUN(store_member_remove, t.id, bob.id), VBX_ESTATE);
	assert_int_equal(RUN(store_member_remove, t.id, ann.id), VBX_OK);
	/* Unknown member: still not found. */
	assert_int_equal(RUN(store_member_remove, t.id, ann.id), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM team_members WHERE "
	                         "role = 'admin'"),
	                 1);
}

struct demoter {
	const char *team, *user;
	bool remove;
	pthread_barrier_t *go;
	int rc;
};

static void *demote(void *arg)
{
	struct demoter *d = arg;
	vbx_member m = {0};

	snprintf(m.team_id, sizeof(m.team_id), "%s", d->team);
	snprintf(m.user_id, sizeof(m.user_id), "%s", d->user);
	snprintf(m.role, sizeof(m.role), "viewer");
	pthread_barrier_wait(d->go);
	d->rc = d->remove ? RUN(store_member_remove, d->team, d->user)
	                  : RUN(store_member_set, &m, 0);
	return NULL;
}

/* Two admins demote (or remove) each other at the same moment, many
 * times: exactly one wins each time and the team keeps an admin. */
static void test_last_admin_race(void **state)
{
	vbx_user ann, bob;
	vbx_team t;
	vbx_member m;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	assert_int_equal(make_member(t.id, bob.id, "admin", 1, &m), VBX_OK);
	for (int round = 0; round < 40; round++) {
		pthread_barrier_t go;
		pthread_t th[2];
		struct demoter d[2] = {
		        {t.id, ann.id, round % 2 == 1, &go, 0},
		        {t.id, bob.id, round % 4 >= 2, &go, 0},
		};
		pthread_barrier_init(&go, NULL, 2);
		for (int i = 0; i < 2; i++)
			assert_int_equal(
			        pthread_create(&th[i], NULL, demote, &d[i]), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&go);
		int won = (d[0].rc == VBX_OK) + (d[1].rc == VBX_OK);
		int kept = (d[0].rc == VBX_ESTATE) + (d[1].rc == VBX_ESTATE);
		if (won != 1 || kept != 1)
			fail_msg("round %d: rc %d and %d", round, d[0].rc,
			         d[1].rc);
		assert_int_equal(sql_int("SELECT count(*) FROM team_members "
		                         "WHERE role = 'admin'"),
		                 1);
		/* Both admins again for the next round. */
		for (int i = 0; i < 2; i++) {
			if (d[i].rc == VBX_OK && d[i].remove)
				assert_int_equal(make_member(t.id, d[i].user,
				                             "admin", 1, &m),
				                 VBX_OK);
			else
				force_member(t.id, d[i].user, "admin");
		}
	}
}

static void test_members_refused(void **state)
{
	vbx_user ann;
	vbx_team t;
	vbx_member m;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	/* No such user, no such team: the foreign keys refuse. */
	assert_int_equal(make_member(t.id, NO_SUCH_ID, "viewer", 1, &m),
	                 VBX_EINVAL);
	assert_int_equal(make_member(NO_SUCH_ID, ann.id, "viewer", 1, &m),
	                 VBX_EINVAL);
	assert_int_equal(make_member("x", ann.id, "viewer", 1, &m), VBX_EINVAL);
	assert_int_equal(make_member("x", ann.id, "viewer", 0, &m),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_member_get, "x", ann.id, &m), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_member_get, t.id, "'; --", &m),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_member_remove, NULL, ann.id), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM team_members"), 1);
}

static void test_member_list(void **state)
{
	vbx_user ann, bob, cy;
	vbx_team t, other;
	vbx_member m;
	vbx_page page = {1, 2};
	struct seen s = {0};
	int64_t total = -1;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	make_user("cy@example.com", &cy);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	assert_int_equal(make_team("O", "o", cy.id, &other), VBX_OK);
	assert_int_equal(make_member(t.id, bob.id, "developer", 1, &m), VBX_OK);
	assert_int_equal(make_member(t.id, cy.id, "viewer", 1, &m), VBX_OK);

	assert_int_equal(
	        RUN(store_member_list, t.id, &page, seen_member, &s, &total),
	        VBX_OK);
	assert_int_equal(total, 3);
	assert_string_equal(s.text, "ann@example.com:admin:Name of "
	                            "ann@example.com,bob@example.com:"
	                            "developer:Name of bob@example.com");
	page.page = 2;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_member_list, t.id, &page, seen_member, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text,
	                    "cy@example.com:viewer:Name of cy@example.com");
	/* A team nobody heard of: empty. */
	assert_int_equal(RUN(store_member_list, NO_SUCH_ID, &page, seen_member,
	                     &s, &total),
	                 VBX_OK);
	assert_int_equal(total, 0);
	total = -1;
	assert_int_equal(RUN(store_member_list, INJECTION, &page, seen_member,
	                     &s, &total),
	                 VBX_OK);
	assert_int_equal(total, 0);
	/* A deleted user leaves the team. */
	PQclear(sql("DELETE FROM users WHERE email = 'bob@example.com'"));
	page.page = 1;
	page.limit = 10;
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_member_list, t.id, &page, seen_member, &s, &total),
	        VBX_OK);
	assert_int_equal(total, 2);
	assert_int_equal(s.count, 2);
}

/* ---- projects ---- */

static void test_project_create(void **state)
{
	vbx_user ann, bob;
	vbx_team t;
	vbx_project p, q;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);

	assert_int_equal(make_project("web", ann.id, "", &p), VBX_OK);
	assert_int_equal(strlen(p.id), 36);
	assert_string_equal(p.owner_id, ann.id);
	assert_string_equal(p.team_id, "");
	assert_true(p.created_at > 1600000000000LL);
	assert_int_equal(RUN(store_project_get, p.id, &q), VBX_OK);
	assert_string_equal(q.name, "Project web");
	assert_string_equal(q.owner_id, ann.id);

	/* The same slug: refused for the same owner only. */
	assert_int_equal(make_project("web", ann.id, "", &q), VBX_EEXIST);
	assert_int_equal(make_project("web", bob.id, "", &q), VBX_OK);
	assert_int_equal(make_project("web", "", t.id, &q), VBX_OK);
	assert_string_equal(q.team_id, t.id);
	assert_string_equal(q.owner_id, "");
	assert_int_equal(make_project("web", "", t.id, &q), VBX_EEXIST);
}

static void test_project_create_refused(void **state)
{
	vbx_user ann;
	vbx_team t;
	vbx_project p;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	/* Owner XOR team, by the database. */
	assert_int_equal(make_project("both", ann.id, t.id, &p), VBX_EINVAL);
	assert_int_equal(make_project("neither", "", "", &p), VBX_EINVAL);
	/* No such owner or team; not an id. */
	assert_int_equal(make_project("x", NO_SUCH_ID, "", &p), VBX_EINVAL);
	assert_int_equal(make_project("x", "", NO_SUCH_ID, &p), VBX_EINVAL);
	assert_int_equal(make_project("x", INJECTION, "", &p), VBX_EINVAL);
	/* Bad slugs. */
	assert_int_equal(make_project("Bad Slug", ann.id, "", &p), VBX_EINVAL);
	assert_int_equal(make_project("", ann.id, "", &p), VBX_EINVAL);
	assert_int_equal(sql_int("SELECT count(*) FROM projects"), 0);
}

static void test_project_update_delete(void **state)
{
	vbx_user ann;
	vbx_project p, q, other;

	make_user("ann@example.com", &ann);
	assert_int_equal(make_project("one", ann.id, "", &p), VBX_OK);
	assert_int_equal(make_project("two", ann.id, "", &other), VBX_OK);
	usleep(2000);
	q = p;
	snprintf(q.name, sizeof(q.name), "%s", INJECTION);
	snprintf(q.slug, sizeof(q.slug), "uno");
	/* The owner is not changed by an update. */
	snprintf(q.owner_id, sizeof(q.owner_id), "%s", NO_SUCH_ID);
	assert_int_equal(RUN(store_project_update, &q), VBX_OK);
	assert_string_equal(q.owner_id, ann.id);
	assert_true(q.updated_at > p.updated_at);
	/* The whole row written back is what the next read gives (store.h):
	 * the platform answers a PATCH with it. */
	vbx_project again;
	assert_int_equal(RUN(store_project_get, p.id, &again), VBX_OK);
	assert_int_equal(again.updated_at, q.updated_at);
	assert_int_equal(again.created_at, q.created_at);
	assert_string_equal(again.team_id, q.team_id);
	assert_int_equal(RUN(store_project_get, p.id, &q), VBX_OK);
	assert_string_equal(q.name, INJECTION);
	assert_string_equal(q.slug, "uno");

	snprintf(q.slug, sizeof(q.slug), "two");
	assert_int_equal(RUN(store_project_update, &q), VBX_EEXIST);
	snprintf(q.slug, sizeof(q.slug), "ok");
	q.name[0] = '\0';
	assert_int_equal(RUN(store_project_update, &q), VBX_EINVAL);
	snprintf(q.id, sizeof(q.id), "%s", NO_SUCH_ID);
	snprintf(q.name, sizeof(q.name), "fine");
	assert_int_equal(RUN(store_project_update, &q), VBX_ENOTFOUND);

	assert_int_equal(RUN(store_project_delete, p.id), VBX_OK);
	assert_int_equal(RUN(store_project_get, p.id, &q), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_project_delete, p.id), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_project_delete, "1; DROP TABLE projects"),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_project_get, NULL, &q), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM projects"), 1);
}

/* Each listed project (a binary result) equals project_get's (text). */
static int same_as_get(void *ctx, const vbx_project *p)
{
	vbx_project got;
	int *n = ctx;
	assert_int_equal(RUN(store_project_get, p->id, &got), VBX_OK);
	assert_string_equal(p->id, got.id);
	assert_string_equal(p->name, got.name);
	assert_string_equal(p->slug, got.slug);
	assert_string_equal(p->owner_id, got.owner_id);
	assert_string_equal(p->team_id, got.team_id);
	assert_int_equal(p->created_at, got.created_at);
	assert_int_equal(p->updated_at, got.updated_at);
	assert_true(p->created_at > 1700000000000LL);
	(*n)++;
	return VBX_OK;
}

static void test_project_list(void **state)
{
	vbx_user ann, bob, cy;
	vbx_team t;
	vbx_member m;
	vbx_project p;
	vbx_page page = {1, 100};
	struct seen s = {0};
	int64_t total = -1;

	make_user("ann@example.com", &ann);
	make_user("bob@example.com", &bob);
	make_user("cy@example.com", &cy);
	assert_int_equal(make_team("T", "t", ann.id, &t), VBX_OK);
	assert_int_equal(make_member(t.id, bob.id, "viewer", 1, &m), VBX_OK);
	assert_int_equal(make_project("ann-own", ann.id, "", &p), VBX_OK);
	assert_int_equal(make_project("team-one", "", t.id, &p), VBX_OK);
	assert_int_equal(make_project("bob-own", bob.id, "", &p), VBX_OK);
	assert_int_equal(make_project("cy-own", cy.id, "", &p), VBX_OK);
	assert_int_equal(make_project("team-two", "", t.id, &p), VBX_OK);

	assert_int_equal(RUN(store_project_list, bob.id, &page, seen_project,
	                     &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "team-one,bob-own,team-two");
	assert_int_equal(total, 3);
	int same = 0;
	assert_int_equal(
	        RUN(store_project_list, NULL, &page, same_as_get, &same, NULL),
	        VBX_OK);
	assert_int_equal(same, 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_project_list, cy.id, &page, seen_project, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text, "cy-own");
	assert_int_equal(total, 1);

	/* Everything, paged. */
	page = (vbx_page){2, 2};
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_project_list, NULL, &page, seen_project, &s, &total),
	        VBX_OK);
	assert_string_equal(s.text, "bob-own,cy-own");
	assert_int_equal(total, 5);
	/* Leaving the team hides its projects. */
	assert_int_equal(RUN(store_member_remove, t.id, bob.id), VBX_OK);
	page = (vbx_page){1, 100};
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_project_list, bob.id, &page, seen_project,
	                     &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "bob-own");
	total = -1;
	assert_int_equal(RUN(store_project_list, INJECTION, &page, seen_project,
	                     &s, &total),
	                 VBX_OK);
	assert_int_equal(total, 0);
}

/* ---- paging (lists.c) ---- */

/* The users, teams and ids the paged lists below filter on. */
struct paging_world {
	vbx_user ann, bob;
	vbx_team team, other; /* ann's and bob's */
};

static void paging_world(struct paging_world *w)
{
	make_user("ann@example.com", &w->ann);
	make_user("bob@example.com", &w->bob);
	assert_int_equal(make_team("Team", "team", w->ann.id, &w->team),
	                 VBX_OK);
	assert_int_equal(make_team("Other", "other", w->bob.id, &w->other),
	                 VBX_OK);
	/* ann reads the team's projects as a viewer, not as its admin. */
	force_member(w->team.id, w->ann.id, "viewer");
}

/* Teams of ann, each with a team of bob's created around it. */
static void add_team(void *arg, int i, char *name, size_t len)
{
	struct paging_world *w = arg;
	vbx_team t;
	char slug[32];

	snprintf(name, len, "t%02d", i);
	assert_int_equal(make_team(name, name, w->ann.id, &t), VBX_OK);
	snprintf(slug, sizeof(slug), "noise%02d", i);
	assert_int_equal(make_team(slug, slug, w->bob.id, &t), VBX_OK);
}

static int list_teams(void *arg, const vbx_page *page, struct seen *s,
                      int64_t *total)
{
	struct paging_world *w = arg;

	return RUN(store_team_list, w->ann.id, page, seen_team, s, total);
}

static void test_team_list_pages(void **state)
{
	struct paging_world w;

	make_user("ann@example.com", &w.ann);
	make_user("bob@example.com", &w.bob);
	struct paged pg = {.what = "team list",
	                   .add = add_team,
	                   .list = list_teams,
	                   .arg = &w};
	check_paging(&pg);
}

static int seen_member_email(void *ctx, const vbx_member *m)
{
	return seen_add(ctx, m->email);
}

/* Members of the team (its creator removed: it starts empty); each also
 * joins bob's team. */
static void add_member(void *arg, int i, char *name, size_t len)
{
	struct paging_world *w = arg;
	vbx_user u;
	vbx_member m;

	snprintf(name, len, "m%02d@example.com", i);
	make_user(name, &u);
	assert_int_equal(make_member(w->team.id, u.id, "viewer", 1, &m),
	                 VBX_OK);
	assert_int_equal(make_member(w->other.id, u.id, "viewer", 1, &m),
	                 VBX_OK);
}

static int list_members(void *arg, const vbx_page *page, struct seen *s,
                        int64_t *total)
{
	struct paging_world *w = arg;

	return RUN(store_member_list, w->team.id, page, seen_member_email, s,
	           total);
}

static void test_member_list_pages(void **state)
{
	struct paging_world w;

	paging_world(&w);
	force_member(w.team.id, w.ann.id, NULL);
	struct paged pg = {.what = "member list",
	                   .add = add_member,
	                   .list = list_members,
	                   .arg = &w};
	check_paging(&pg);
}

/* ann's projects, her own and her team's in turn; each with one of bob's
 * and one of bob's team around it. */
static void add_project(void *arg, int i, char *name, size_t len)
{
	struct paging_world *w = arg;
	vbx_project p;
	char slug[32];

	snprintf(name, len, "p%02d", i);
	assert_int_equal(make_project(name, i % 2 ? "" : w->ann.id,
	                              i % 2 ? w->team.id : "", &p),
	                 VBX_OK);
	snprintf(slug, sizeof(slug), "bob%02d", i);
	assert_int_equal(make_project(slug, w->bob.id, "", &p), VBX_OK);
	assert_int_equal(make_project(slug, "", w->other.id, &p), VBX_OK);
}

static int list_projects(void *arg, const vbx_page *page, struct seen *s,
                         int64_t *total)
{
	struct paging_world *w = arg;

	return RUN(store_project_list, w->ann.id, page, seen_project, s, total);
}

static void test_project_list_pages(void **state)
{
	struct paging_world w;

	paging_world(&w);
	struct paged pg = {.what = "project list",
	                   .add = add_project,
	                   .list = list_projects,
	                   .arg = &w};
	check_paging(&pg);
}

/* ---- dump and restore ---- */

static void test_dump_restore(void **state)
{
	char path[] = "/tmp/vbx-test-dump.XXXXXX";
	vbx_user ann;
	vbx_team t;
	vbx_project p;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	make_user("ann@example.com", &ann);
	assert_int_equal(make_team(INJECTION, "kept", ann.id, &t), VBX_OK);
	assert_int_equal(make_project("kept", "", t.id, &p), VBX_OK);

	assert_int_equal(RUN(store_dump, fd), VBX_OK);
	assert_true(lseek(fd, 0, SEEK_END) > 5);
	/* A custom-format archive starts with "PGDMP". */
	char magic[5];
	assert_int_equal(pread(fd, magic, 5, 0), 5);
	assert_memory_equal(magic, "PGDMP", 5);

	/* Change everything, then restore: back as it was. */
	assert_int_equal(RUN(store_team_delete, t.id), VBX_OK);
	vbx_team extra;
	assert_int_equal(make_team("Extra", "extra", ann.id, &extra), VBX_OK);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(RUN(store_restore, fd), VBX_OK);
	assert_int_equal(RUN(store_team_get, t.id, &t), VBX_OK);
	assert_string_equal(t.name, INJECTION);
	assert_int_equal(RUN(store_project_get, p.id, &p), VBX_OK);
	assert_int_equal(RUN(store_team_get, extra.id, &extra), VBX_ENOTFOUND);
	/* Every migration (001..004) comes back with the data. */
	assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations"), 4);
	/* The hooks go on working on the restored tables. */
	assert_int_equal(make_team("After", "after", ann.id, &extra), VBX_OK);
	close(fd);

	/* Garbage is refused and changes nothing. */
	fd = open(path, O_RDWR | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a dump at all", 17), 17);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(RUN(store_restore, fd), VBX_ERR);
	assert_int_equal(RUN(store_team_get, extra.id, &extra), VBX_OK);
	close(fd);
	unlink(path);

	assert_int_equal(RUN(store_dump, -1), VBX_EINVAL);
	assert_int_equal(RUN(store_restore, -1), VBX_EINVAL);
}

/* ---- main ---- */

static int group_setup(void **state)
{
	char cfg[2048];

	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_store_teams: %s", PQerrorMessage(admin));
		return -1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	snprintf(cfg, sizeof(cfg), "conninfo = \"%s\"; pool = 4;", conninfo);
	host = vbx_test_host_new();
	if (!host)
		return -1;
	if (vbx_test_load_file(host, plugin_path, cfg) != VBX_OK ||
	    vbx_test_start(host) != VBX_OK) {
		fprintf(stderr, "test_store_teams: %s\n",
		        vbx_test_errors(host));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	vbx_test_host_free(host);
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
		fprintf(stderr, "test_store_teams: set VBX_TEST_PG to the "
		                "conninfo of a throwaway database; skipped\n");
		return 77;
	}

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_team_create, setup),
	        cmocka_unit_test_setup(test_team_create_refused, setup),
	        cmocka_unit_test_setup(test_team_get_missing, setup),
	        cmocka_unit_test_setup(test_team_update, setup),
	        cmocka_unit_test_setup(test_team_delete_cascades, setup),
	        cmocka_unit_test_setup(test_team_list, setup),
	        cmocka_unit_test_setup(test_members, setup),
	        cmocka_unit_test_setup(test_last_admin, setup),
	        cmocka_unit_test_setup(test_last_admin_race, setup),
	        cmocka_unit_test_setup(test_members_refused, setup),
	        cmocka_unit_test_setup(test_member_list, setup),
	        cmocka_unit_test_setup(test_project_create, setup),
	        cmocka_unit_test_setup(test_project_create_refused, setup),
	        cmocka_unit_test_setup(test_project_update_delete, setup),
	        cmocka_unit_test_setup(test_project_list, setup),
	        cmocka_unit_test_setup(test_team_list_pages, setup),
	        cmocka_unit_test_setup(test_member_list_pages, setup),
	        cmocka_unit_test_setup(test_project_list_pages, setup),
	        cmocka_unit_test_setup(test_dump_restore, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
