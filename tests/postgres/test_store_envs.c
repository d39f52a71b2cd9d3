/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_envs.c - environments, their status transitions, variables
 * (plain and secret) and ports in the postgres-store plugin, against a
 * real PostgreSQL.
 *
 * Environment:
 *   VBX_TEST_PG          conninfo of a throwaway database (required; the
 *                        test skips, exit 77, without it)
 *   VBX_TEST_PG_PLUGIN   path of postgres-store.so (default
 *                        ./postgres-store.so)
 *
 * Three groups run in turn, each with its own fake host (one per process
 * at a time): with a secrets key A; with a rotated keyring (B, then A);
 * with no key at all. The last case of the first group leaves a secret
 * sealed under A behind, and the first case of each later group reads it
 * (they run without the per-case TRUNCATE), to prove rotation and the
 * refusal without a key on a value that really exists.
 *
 * The test empties the plugin's tables between cases: never point it at a
 * database that matters.
 */
#include <fcntl.h>
#include <math.h>
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
#define INJECTION "Robert'); DROP TABLE environments; --"
#define KEY_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define KEY_OPTION "plugins.postgres-store.secrets_key_file"
#define LEFT_BEHIND "LEFT_BEHIND"
#define LEFT_VALUE "sealed under key A"

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

static long long sql_int(const char *fmt, ...)
{
	char q[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	PGresult *r = sql(q);
	long long v;

	assert_int_equal(PQntuples(r), 1);
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static int setup(void **state)
{
	PQclear(sql("TRUNCATE users, teams, projects, audit_log CASCADE"));
	return 0;
}

/* Log lines of the plugin go to fd 2 from the calling thread: catch
 * them around a call. */
struct capture {
	int saved;
	int fd;
	char text[4096];
};

/* The log level the host was started with (VBX_TEST_LOG). */
static int configured_level(void)
{
	const char *v = getenv("VBX_TEST_LOG");

	if (!v || strcmp(v, "warn") == 0)
		return VBX_LOG_WARN;
	if (strcmp(v, "error") == 0)
		return VBX_LOG_ERROR;
	return strcmp(v, "debug") == 0 ? VBX_LOG_DEBUG : VBX_LOG_INFO;
}

/* Catch warnings too, whatever VBX_TEST_LOG says. */
static void capture_start(struct capture *c)
{
	char path[] = "/tmp/test_store_envs.XXXXXX";

	vbx_test_set_log_level(host, configured_level() == VBX_LOG_ERROR
	                                     ? VBX_LOG_WARN
	                                     : configured_level());
	fflush(stderr);
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	unlink(path);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->fd, STDERR_FILENO) >= 0);
}

static const char *capture_end(struct capture *c)
{
	ssize_t n;

	fflush(stderr);
	vbx_test_set_log_level(host, configured_level());
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	n = pread(c->fd, c->text, sizeof(c->text) - 1, 0);
	c->text[n > 0 ? n : 0] = '\0';
	close(c->fd);
	return c->text;
}

/* ---- fixtures ---- */

static void make_user(const char *email, vbx_user *u)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->name, sizeof(u->name), "Name of %s", email);
	assert_int_equal(RUN(store_user_create, u, "", 0), VBX_OK);
}

static void make_project(const char *slug, const char *owner_id,
                         const char *team_id, vbx_project *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "Project %s", slug);
	snprintf(p->slug, sizeof(p->slug), "%s", slug);
	snprintf(p->owner_id, sizeof(p->owner_id), "%s", owner_id);
	snprintf(p->team_id, sizeof(p->team_id), "%s", team_id);
	assert_int_equal(RUN(store_project_create, p), VBX_OK);
}

/* Ann and Bob; Ann's team "core" with a project, and Ann's own one. */
struct world {
	vbx_user ann, bob;
	vbx_team team;
	vbx_project team_proj, own_proj;
};

static void make_world(struct world *w, const char *tag)
{
	char email[64], slug[64];

	snprintf(email, sizeof(email), "ann-%s@example.com", tag);
	make_user(email, &w->ann);
	snprintf(email, sizeof(email), "bob-%s@example.com", tag);
	make_user(email, &w->bob);
	memset(&w->team, 0, sizeof(w->team));
	snprintf(w->team.name, sizeof(w->team.name), "Core %s", tag);
	snprintf(w->team.slug, sizeof(w->team.slug), "core-%s", tag);
	assert_int_equal(RUN(store_team_create, &w->team, w->ann.id), VBX_OK);
	snprintf(slug, sizeof(slug), "team-%s", tag);
	make_project(slug, "", w->team.id, &w->team_proj);
	snprintf(slug, sizeof(slug), "own-%s", tag);
	make_project(slug, w->ann.id, "", &w->own_proj);
}

static void env_fill(vbx_env *e, const char *project_id, const char *slug,
                     const char *created_by)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->project_id, sizeof(e->project_id), "%s", project_id);
	snprintf(e->name, sizeof(e->name), "Env %s", slug);
	snprintf(e->slug, sizeof(e->slug), "%s", slug);
	snprintf(e->image, sizeof(e->image), "vibebox/test:latest");
	snprintf(e->created_by, sizeof(e->created_by), "%s", created_by);
	e->cpu_limit = 1.5;
	e->memory_limit = 512;
}

static int make_env(const char *project_id, const char *slug,
                    const char *created_by, vbx_env *e)
{
	env_fill(e, project_id, slug, created_by);
	return RUN(store_env_create, e);
}

static int set_var(const char *env_id, const char *key, const char *value,
                   bool secret, vbx_env_var *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->key, sizeof(v->key), "%s", key);
	snprintf(v->value, sizeof(v->value), "%s", value);
	v->secret = secret;
	return RUN(store_env_var_set, env_id, v);
}

static int add_port(const char *env_id, int port, const char *protocol,
                    vbx_env_port *p)
{
	memset(p, 0, sizeof(*p));
	p->port = port;
	snprintf(p->protocol, sizeof(p->protocol), "%s", protocol);
	return RUN(store_env_port_add, env_id, p);
}

static int seen_env(void *ctx, const vbx_env *e)
{
	return seen_add(ctx, e->slug);
}

static int seen_var(void *ctx, const vbx_env_var *v)
{
	char what[sizeof(v->key) + sizeof(v->value) + 8];

	snprintf(what, sizeof(what), "%s=%s%s", v->key, v->value,
	         v->secret ? "(s)" : "");
	return seen_add(ctx, what);
}

static int seen_port(void *ctx, const vbx_env_port *p)
{
	char what[64];

	snprintf(what, sizeof(what), "%d/%s:%d", p->port, p->protocol,
	         p->host_port);
	return seen_add(ctx, what);
}

/* ---- create, get, update, delete ---- */

static void test_env_create(void **state)
{
	struct world w;
	vbx_env e, own, again;

	make_world(&w, "c");
	assert_int_equal(make_env(w.team_proj.id, "web", w.ann.id, &e), VBX_OK);
	assert_int_equal(strlen(e.id), 36);
	assert_string_equal(e.project_id, w.team_proj.id);
	assert_string_equal(e.name, "Env web");
	assert_string_equal(e.image, "vibebox/test:latest");
	assert_float_equal(e.cpu_limit, 1.5, 1e-9);
	assert_int_equal(e.memory_limit, 512);
	assert_string_equal(e.status, "stopped");
	assert_string_equal(e.status_reason, "");
	assert_string_equal(e.container_id, "");
	assert_string_equal(e.created_by, w.ann.id);
	/* The owner comes from the project. */
	assert_string_equal(e.team_id, w.team.id);
	assert_string_equal(e.owner_id, "");
	assert_true(e.created_at > 1600000000000LL);
	assert_int_equal(e.updated_at, e.created_at);
	assert_int_equal(e.status_at, e.created_at);
	assert_int_equal(e.started_at, 0);
	assert_int_equal(e.stopped_at, 0);
	assert_int_equal(e.active_at, 0);

	assert_int_equal(make_env(w.own_proj.id, "web", "", &own), VBX_OK);
	assert_string_equal(own.owner_id, w.ann.id);
	assert_string_equal(own.team_id, "");
	assert_string_equal(own.created_by, "");

	assert_int_equal(RUN(store_env_get, e.id, &again), VBX_OK);
	assert_memory_equal(&again, &e, sizeof(e));
	assert_int_equal(RUN(store_env_get, own.id, &again), VBX_OK);
	assert_string_equal(again.owner_id, w.ann.id);

	/* Two decimals of cores, rounded by the column. */
	env_fill(&again, w.team_proj.id, "small", w.bob.id);
	again.cpu_limit = 0.255;
	assert_int_equal(RUN(store_env_create, &again), VBX_OK);
	assert_float_equal(again.cpu_limit, 0.26, 1e-9);
}

static void test_env_create_refused(void **state)
{
	struct world w;
	vbx_env e;

	make_world(&w, "r");
	assert_int_equal(make_env(w.team_proj.id, "taken", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "taken", w.bob.id, &e),
	                 VBX_EEXIST);
	/* Slugs are unique per project only. */
	assert_int_equal(make_env(w.own_proj.id, "taken", w.ann.id, &e),
	                 VBX_OK);

	assert_int_equal(make_env(NO_SUCH_ID, "orphan", w.ann.id, &e),
	                 VBX_EINVAL);
	assert_int_equal(make_env("not-a-uuid", "orphan", w.ann.id, &e),
	                 VBX_EINVAL);
	assert_int_equal(make_env("", "orphan", w.ann.id, &e), VBX_EINVAL);
	assert_int_equal(make_env(w.team_proj.id, "who", NO_SUCH_ID, &e),
	                 VBX_EINVAL);
	assert_int_equal(make_env(w.team_proj.id, "who", "ann", &e),
	                 VBX_EINVAL);
	assert_int_equal(make_env(w.team_proj.id, "Not A Slug", w.ann.id, &e),
	                 VBX_EINVAL);
	assert_int_equal(make_env(w.team_proj.id, "-dash", w.ann.id, &e),
	                 VBX_EINVAL);

	const double bad_cpu[] = {0, -1, 0.001, 1e9, NAN, INFINITY, -INFINITY};
	for (size_t i = 0; i < sizeof(bad_cpu) / sizeof(bad_cpu[0]); i++) {
		env_fill(&e, w.team_proj.id, "cpu", w.ann.id);
		e.cpu_limit = bad_cpu[i];
		assert_int_equal(RUN(store_env_create, &e), VBX_EINVAL);
	}
	env_fill(&e, w.team_proj.id, "mem", w.ann.id);
	e.memory_limit = 0;
	assert_int_equal(RUN(store_env_create, &e), VBX_EINVAL);
	e.memory_limit = -5;
	assert_int_equal(RUN(store_env_create, &e), VBX_EINVAL);
	env_fill(&e, w.team_proj.id, "noname", w.ann.id);
	e.name[0] = '\0';
	assert_int_equal(RUN(store_env_create, &e), VBX_EINVAL);
	assert_int_equal(RUN(store_env_create, NULL), VBX_EINVAL);
	assert_int_equal(sql_int("SELECT count(*) FROM environments"), 2);
}

static void test_env_get_missing(void **state)
{
	struct world w;
	vbx_env e, got;

	make_world(&w, "g");
	assert_int_equal(RUN(store_env_get, NO_SUCH_ID, &got), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_get, "x' OR '1'='1", &got),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_get, "", &got), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_get, NULL, &got), VBX_ENOTFOUND);
	/* A project id is not an environment id. */
	assert_int_equal(RUN(store_env_get, w.team_proj.id, &got),
	                 VBX_ENOTFOUND);
	/* UUIDs compare as UUIDs: upper case finds the row. */
	assert_int_equal(make_env(w.team_proj.id, "case", w.ann.id, &e),
	                 VBX_OK);
	char upper[VBX_ID_LEN];
	for (int i = 0; i < VBX_ID_LEN; i++)
		upper[i] = e.id[i] >= 'a' && e.id[i] <= 'f'
		                   ? (char)(e.id[i] - 32)
		                   : e.id[i];
	assert_int_equal(RUN(store_env_get, upper, &got), VBX_OK);
	assert_string_equal(got.id, e.id);
}

static void test_env_update(void **state)
{
	struct world w;
	vbx_env e, u, other;

	make_world(&w, "u");
	assert_int_equal(make_env(w.team_proj.id, "one", w.ann.id, &e), VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "two", w.ann.id, &other),
	                 VBX_OK);
	usleep(2000);
	u = e;
	snprintf(u.name, sizeof(u.name), "%s", INJECTION);
	snprintf(u.slug, sizeof(u.slug), "uno");
	snprintf(u.image, sizeof(u.image), "debian:12");
	u.cpu_limit = 2.25;
	u.memory_limit = 2048;
	snprintf(u.status, sizeof(u.status), "running"); /* not written */
	assert_int_equal(RUN(store_env_update, &u), VBX_OK);
	assert_true(u.updated_at > e.updated_at);
	assert_int_equal(u.created_at, e.created_at);
	assert_int_equal(u.status_at, e.status_at);
	assert_string_equal(u.status, "stopped");
	assert_string_equal(u.team_id, w.team.id);
	assert_int_equal(RUN(store_env_get, e.id, &u), VBX_OK);
	assert_string_equal(u.name, INJECTION);
	assert_string_equal(u.slug, "uno");
	assert_string_equal(u.image, "debian:12");
	assert_float_equal(u.cpu_limit, 2.25, 1e-9);
	assert_int_equal(u.memory_limit, 2048);

	snprintf(u.slug, sizeof(u.slug), "two");
	assert_int_equal(RUN(store_env_update, &u), VBX_EEXIST);
	snprintf(u.slug, sizeof(u.slug), "UPPER");
	assert_int_equal(RUN(store_env_update, &u), VBX_EINVAL);
	snprintf(u.slug, sizeof(u.slug), "fine");
	u.cpu_limit = NAN;
	assert_int_equal(RUN(store_env_update, &u), VBX_EINVAL);
	u.cpu_limit = 1;
	u.memory_limit = 0;
	assert_int_equal(RUN(store_env_update, &u), VBX_EINVAL);
	u.memory_limit = 1;
	snprintf(u.id, sizeof(u.id), "%s", NO_SUCH_ID);
	assert_int_equal(RUN(store_env_update, &u), VBX_ENOTFOUND);
	snprintf(u.id, sizeof(u.id), "bogus");
	assert_int_equal(RUN(store_env_update, &u), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_update, NULL), VBX_EINVAL);
	/* Nothing of the refused updates stuck. */
	assert_int_equal(RUN(store_env_get, e.id, &u), VBX_OK);
	assert_string_equal(u.slug, "uno");
	assert_int_equal(u.memory_limit, 2048);
}

static void test_env_delete_cascades(void **state)
{
	struct world w;
	vbx_env e, keep, got;
	vbx_env_var v;
	vbx_env_port p;

	make_world(&w, "d");
	assert_int_equal(make_env(w.team_proj.id, "doomed", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "kept", w.ann.id, &keep),
	                 VBX_OK);
	assert_int_equal(set_var(e.id, "A", "1", false, &v), VBX_OK);
	assert_int_equal(set_var(e.id, "S", "2", true, &v), VBX_OK);
	assert_int_equal(set_var(keep.id, "A", "1", false, &v), VBX_OK);
	assert_int_equal(add_port(e.id, 80, "tcp", &p), VBX_OK);
	assert_int_equal(add_port(keep.id, 80, "tcp", &p), VBX_OK);

	assert_int_equal(RUN(store_env_delete, e.id), VBX_OK);
	assert_int_equal(RUN(store_env_get, e.id, &got), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_ports"), 1);
	assert_int_equal(RUN(store_env_delete, e.id), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_delete, "nope"), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_delete, NULL), VBX_ENOTFOUND);

	/* A project takes its environments with it. */
	assert_int_equal(RUN(store_project_delete, w.team_proj.id), VBX_OK);
	assert_int_equal(RUN(store_env_get, keep.id, &got), VBX_ENOTFOUND);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables"),
	                 0);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_ports"), 0);
}

/* ---- lists ---- */

static void test_env_list(void **state)
{
	struct world w;
	vbx_env e[3], other, moved;
	struct seen s;
	int64_t total = -1;
	const char *slugs[] = {"first", "second", "third"};

	make_world(&w, "l");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		        make_env(w.team_proj.id, slugs[i], w.ann.id, &e[i]),
		        VBX_OK);
		usleep(1000);
	}
	assert_int_equal(make_env(w.own_proj.id, "elsewhere", w.ann.id, &other),
	                 VBX_OK);

	vbx_page page = {1, 2};
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL, VBX_ENV_ANY,
	                     &page, seen_env, &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "first,second");
	assert_int_equal(total, 3);
	page.page = 2;
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL, VBX_ENV_ANY,
	                     &page, seen_env, &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "third");
	page.page = 3;
	memset(&s, 0, sizeof(s));
	total = -1;
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL, VBX_ENV_ANY,
	                     &page, seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 0);
	assert_int_equal(total, 3);

	/* Every project, every row, no total. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, NULL, VBX_ENV_ANY, NULL,
	                     seen_env, &s, NULL),
	                 VBX_OK);
	assert_string_equal(s.text, "first,second,third,elsewhere");

	/* The projects a user may read: ann owns one and admins the team;
	 * bob sees nothing until he joins the team, then its three. */
	page.page = 1;
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, w.ann.id, VBX_ENV_ANY, &page,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "first,second");
	assert_int_equal(total, 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, w.bob.id, VBX_ENV_ANY, NULL,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 0);
	assert_int_equal(total, 0);
	vbx_member m = {0};
	snprintf(m.team_id, sizeof(m.team_id), "%s", w.team.id);
	snprintf(m.user_id, sizeof(m.user_id), "%s", w.bob.id);
	snprintf(m.role, sizeof(m.role), "%s", VBX_ROLE_VIEWER);
	assert_int_equal(RUN(store_member_set, &m, 1), VBX_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, w.bob.id, VBX_ENV_ANY, NULL,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "first,second,third");
	assert_int_equal(total, 3);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, "junk", VBX_ENV_ANY, NULL,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 0);

	/* By status. */
	assert_int_equal(RUN(store_env_transition, e[1].id, VBX_ENV_STOPPED,
	                     "starting", "", NULL, &moved),
	                 VBX_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, NULL, NULL, VBX_ENV_STARTING, NULL,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "second");
	assert_int_equal(total, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL,
	                     VBX_ENV_STOPPED | VBX_ENV_ERROR, NULL, seen_env,
	                     &s, &total),
	                 VBX_OK);
	assert_string_equal(s.text, "first,third");
	assert_int_equal(total, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	        RUN(store_env_list, NULL, NULL, 0, NULL, seen_env, &s, &total),
	        VBX_OK);
	assert_int_equal(s.count, 0);
	assert_int_equal(total, 0);
	assert_int_equal(RUN(store_env_list, NULL, NULL, 0x20u, NULL, seen_env,
	                     &s, &total),
	                 VBX_EINVAL);

	/* A callback stops the list with its value. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(RUN(store_env_list, NULL, NULL, VBX_ENV_ANY, NULL,
	                     seen_env, &s, NULL),
	                 7);
	assert_int_equal(s.count, 2);

	/* A project that is not one has no environments. */
	memset(&s, 0, sizeof(s));
	total = -1;
	assert_int_equal(RUN(store_env_list, "junk", NULL, VBX_ENV_ANY, &page,
	                     seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(total, 0);
	assert_int_equal(RUN(store_env_list, NO_SUCH_ID, NULL, VBX_ENV_ANY,
	                     &page, seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 0);
	assert_int_equal(total, 0);
}

/* page NULL is every row: more than the 100 a page may hold. */
static void test_env_list_unpaged(void **state)
{
	struct world w;
	vbx_env e;
	struct seen s;
	int64_t total = 0;
	char slug[16];

	make_world(&w, "n");
	for (int i = 0; i < 120; i++) {
		snprintf(slug, sizeof(slug), "e%03d", i);
		assert_int_equal(make_env(w.team_proj.id, slug, w.ann.id, &e),
		                 VBX_OK);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL,
	                     VBX_ENV_STOPPED, NULL, seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 120);
	assert_int_equal(total, 120);
	vbx_page page = {1, 1000}; /* clamped to 100 */
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_list, w.team_proj.id, NULL, VBX_ENV_ANY,
	                     &page, seen_env, &s, &total),
	                 VBX_OK);
	assert_int_equal(s.count, 100);
	assert_int_equal(total, 120);
}

/* ---- paging (lists.c) ---- */

/* Environments of the team's project, each with one in ann's own project
 * and one in the team's project but starting around it. */
static void add_env(void *arg, int i, char *name, size_t len)
{
	struct world *w = arg;
	vbx_env e, moved;
	char slug[32];

	snprintf(name, len, "e%02d", i);
	assert_int_equal(make_env(w->team_proj.id, name, w->ann.id, &e),
	                 VBX_OK);
	snprintf(slug, sizeof(slug), "own%02d", i);
	assert_int_equal(make_env(w->own_proj.id, slug, w->ann.id, &e), VBX_OK);
	snprintf(slug, sizeof(slug), "starting%02d", i);
	assert_int_equal(make_env(w->team_proj.id, slug, w->ann.id, &e),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_STOPPED,
	                     "starting", "", NULL, &moved),
	                 VBX_OK);
}

/* Every filter bound: the project, the statuses and the reader. */
static int list_envs(void *arg, const vbx_page *page, struct seen *s,
                     int64_t *total)
{
	struct world *w = arg;

	return RUN(store_env_list, w->team_proj.id, w->ann.id,
	           VBX_ENV_STOPPED | VBX_ENV_RUNNING, page, seen_env, s, total);
}

static void test_env_list_pages(void **state)
{
	struct world w;

	make_world(&w, "p");
	struct paged pg = {.what = "environment list",
	                   .add = add_env,
	                   .list = list_envs,
	                   .arg = &w};
	check_paging(&pg);
}

/* Environments bob may read (the team's, he is a member), each with one
 * in ann's own project around it. */
static void add_readable_env(void *arg, int i, char *name, size_t len)
{
	struct world *w = arg;
	vbx_env e;
	char slug[32];

	snprintf(name, len, "e%02d", i);
	assert_int_equal(make_env(w->team_proj.id, name, w->ann.id, &e),
	                 VBX_OK);
	snprintf(slug, sizeof(slug), "own%02d", i);
	assert_int_equal(make_env(w->own_proj.id, slug, w->ann.id, &e), VBX_OK);
}

/* Only the reader bound: every project, every status. */
static int list_readable_envs(void *arg, const vbx_page *page, struct seen *s,
                              int64_t *total)
{
	struct world *w = arg;

	return RUN(store_env_list, NULL, w->bob.id, VBX_ENV_ANY, page, seen_env,
	           s, total);
}

static void test_env_list_pages_by_reader(void **state)
{
	struct world w;
	vbx_member m = {0};

	make_world(&w, "r");
	snprintf(m.team_id, sizeof(m.team_id), "%s", w.team.id);
	snprintf(m.user_id, sizeof(m.user_id), "%s", w.bob.id);
	snprintf(m.role, sizeof(m.role), "%s", VBX_ROLE_VIEWER);
	assert_int_equal(RUN(store_member_set, &m, 1), VBX_OK);
	struct paged pg = {.what = "environment list of a reader",
	                   .add = add_readable_env,
	                   .list = list_readable_envs,
	                   .arg = &w};
	check_paging(&pg);
}

/* ---- status ---- */

static void test_env_transition(void **state)
{
	struct world w;
	vbx_env e, out;

	make_world(&w, "t");
	assert_int_equal(make_env(w.team_proj.id, "box", w.ann.id, &e), VBX_OK);
	usleep(2000);
	assert_int_equal(RUN(store_env_transition, e.id,
	                     VBX_ENV_STOPPED | VBX_ENV_ERROR, "starting", "",
	                     "c0ffee", &out),
	                 VBX_OK);
	assert_string_equal(out.status, "starting");
	assert_string_equal(out.container_id, "c0ffee");
	assert_true(out.status_at > e.status_at);
	assert_int_equal(out.updated_at, e.updated_at);
	assert_int_equal(out.started_at, 0);
	assert_int_equal(out.stopped_at, 0);
	assert_string_equal(out.team_id, w.team.id);

	/* NULL keeps the container; running sets started_at. */
	usleep(2000);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_STARTING,
	                     "running", NULL, NULL, &out),
	                 VBX_OK);
	assert_string_equal(out.status, "running");
	assert_string_equal(out.container_id, "c0ffee");
	assert_true(out.started_at > 0);
	assert_int_equal(out.started_at, out.status_at);
	assert_int_equal(out.stopped_at, 0);
	int64_t started = out.started_at;

	/* The wrong from-state: VBX_ESTATE and the current row. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(RUN(store_env_transition, e.id,
	                     VBX_ENV_STOPPED | VBX_ENV_ERROR, "starting", "",
	                     "other", &out),
	                 VBX_ESTATE);
	assert_string_equal(out.id, e.id);
	assert_string_equal(out.status, "running");
	assert_string_equal(out.container_id, "c0ffee");
	assert_int_equal(
	        RUN(store_env_transition, e.id, 0, "stopping", "", NULL, NULL),
	        VBX_ESTATE);

	usleep(2000);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_RUNNING,
	                     "stopping", "", NULL, NULL),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_STOPPING,
	                     "stopped", "", NULL, &out),
	                 VBX_OK);
	assert_string_equal(out.status, "stopped");
	assert_true(out.stopped_at > started);
	assert_int_equal(out.started_at, started);
	assert_string_equal(out.container_id, "c0ffee"); /* files persist */

	/* error: a reason, stopped_at, and "" clears the container. */
	usleep(2000);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "error",
	                     INJECTION, "", &out),
	                 VBX_OK);
	assert_string_equal(out.status, "error");
	assert_string_equal(out.status_reason, INJECTION);
	assert_string_equal(out.container_id, "");
	assert_true(out.stopped_at > started);
	assert_int_equal(sql_int("SELECT count(*) FROM environments WHERE "
	                         "container_id IS NULL AND id = '%s'",
	                         e.id),
	                 1);
	/* The next change clears the reason unless it gives one. */
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ERROR,
	                     "starting", NULL, NULL, &out),
	                 VBX_OK);
	assert_string_equal(out.status_reason, "");
}

static void test_env_transition_refused(void **state)
{
	struct world w;
	vbx_env e, out;
	char longer[600], big[200];

	make_world(&w, "x");
	assert_int_equal(make_env(w.team_proj.id, "box", w.ann.id, &e), VBX_OK);
	assert_int_equal(RUN(store_env_transition, NO_SUCH_ID, VBX_ENV_ANY,
	                     "starting", "", NULL, &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_transition, "junk", VBX_ENV_ANY,
	                     "starting", "", NULL, &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_transition, NULL, VBX_ENV_ANY,
	                     "starting", "", NULL, &out),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "paused",
	                     "", NULL, &out),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "", "",
	                     NULL, &out),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, NULL, "",
	                     NULL, &out),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_transition, e.id, 0x40u, "starting", "",
	                     NULL, &out),
	                 VBX_EINVAL);
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY,
	                     "starting", "", big, &out),
	                 VBX_EINVAL);
	/* Invalid UTF-8 is the database's to refuse. */
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "error",
	                     "bad \xff\xfe byte", NULL, &out),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_get, e.id, &out), VBX_OK);
	assert_string_equal(out.status, "stopped");

	/* A long reason is cut to fit, on a character boundary. */
	for (size_t i = 0; i + 2 < sizeof(longer); i += 2)
		memcpy(longer + i, "\xc3\xa9", 2); /* é */
	longer[sizeof(longer) - 2] = '\0';
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "error",
	                     longer, NULL, &out),
	                 VBX_OK);
	assert_int_equal(strlen(out.status_reason), 254);
	assert_memory_equal(out.status_reason, longer, 254);
	assert_int_equal(sql_int("SELECT octet_length(status_reason) FROM "
	                         "environments WHERE id = '%s'",
	                         e.id),
	                 254);
}

struct racer {
	const vbx_hook *hook;
	const char *id;
	pthread_barrier_t *go;
	int rc;
	vbx_env out;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = vbx_hook_store_env_transition_run(
	        r->hook, r->id, VBX_ENV_STOPPED, "starting", "", NULL, &r->out);
	return NULL;
}

/* Twenty workers press "start" at once: exactly one moves it. */
static void test_env_transition_race(void **state)
{
	enum { N = 20 };
	struct world w;
	vbx_env e;
	struct racer r[N];
	pthread_t t[N];
	pthread_barrier_t go;
	int ok = 0, busy = 0;

	make_world(&w, "race");
	assert_int_equal(make_env(w.team_proj.id, "hot", w.ann.id, &e), VBX_OK);
	pthread_barrier_init(&go, NULL, N);
	const vbx_hook *h = vbx_hook_store_env_transition_get(tp());
	for (int i = 0; i < N; i++) {
		r[i] = (struct racer){.hook = h, .id = e.id, .go = &go};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < N; i++) {
		if (r[i].rc == VBX_OK)
			ok++;
		else if (r[i].rc == VBX_ESTATE)
			busy++;
		/* Winner and losers alike see it starting. */
		assert_string_equal(r[i].out.status, "starting");
	}
	assert_int_equal(ok, 1);
	assert_int_equal(busy, N - 1);
}

static void test_env_touch(void **state)
{
	struct world w;
	vbx_env e, got;

	make_world(&w, "a");
	assert_int_equal(make_env(w.team_proj.id, "busy", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(e.active_at, 0);
	assert_int_equal(RUN(store_env_touch, e.id), VBX_OK);
	assert_int_equal(RUN(store_env_get, e.id, &got), VBX_OK);
	assert_true(got.active_at >= e.created_at);
	int64_t first = got.active_at;
	usleep(2000);
	assert_int_equal(RUN(store_env_touch, e.id), VBX_OK);
	assert_int_equal(RUN(store_env_get, e.id, &got), VBX_OK);
	assert_true(got.active_at > first);
	/* Activity is not an edit. */
	assert_int_equal(got.updated_at, e.updated_at);
	assert_int_equal(RUN(store_env_touch, NO_SUCH_ID), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_touch, "1; DROP"), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_touch, NULL), VBX_ENOTFOUND);
}

static void test_env_count(void **state)
{
	struct world w;
	vbx_env e;
	int64_t n = -1;

	make_world(&w, "q");
	assert_int_equal(RUN(store_env_count, w.ann.id, NULL, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_int_equal(make_env(w.team_proj.id, "a1", w.ann.id, &e), VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "a2", w.ann.id, &e), VBX_OK);
	assert_int_equal(make_env(w.own_proj.id, "a3", w.ann.id, &e), VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "b1", w.bob.id, &e), VBX_OK);

	assert_int_equal(RUN(store_env_count, w.ann.id, NULL, &n), VBX_OK);
	assert_int_equal(n, 3);
	assert_int_equal(RUN(store_env_count, w.bob.id, "", &n), VBX_OK);
	assert_int_equal(n, 1);
	assert_int_equal(RUN(store_env_count, NULL, w.team.id, &n), VBX_OK);
	assert_int_equal(n, 3);
	/* Both: either matches (a1 a2 a3 b1). */
	assert_int_equal(RUN(store_env_count, w.ann.id, w.team.id, &n), VBX_OK);
	assert_int_equal(n, 4);
	/* Neither: every environment. */
	assert_int_equal(RUN(store_env_count, NULL, NULL, &n), VBX_OK);
	assert_int_equal(n, 4);
	assert_int_equal(RUN(store_env_count, NO_SUCH_ID, NULL, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_int_equal(RUN(store_env_count, "ann", NULL, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_int_equal(RUN(store_env_count, NULL, INJECTION, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_int_equal(RUN(store_env_count, NULL, NULL, NULL), VBX_EINVAL);
}

/* ---- variables ---- */

static void test_var_plain(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_var v, got;
	struct seen s;

	make_world(&w, "v");
	assert_int_equal(make_env(w.team_proj.id, "vars", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(set_var(e.id, "FOO", "bar", false, &v), VBX_OK);
	assert_true(v.updated_at > 1600000000000LL);
	assert_int_equal(RUN(store_env_var_get, e.id, "FOO", 0, &got), VBX_OK);
	assert_string_equal(got.key, "FOO");
	assert_string_equal(got.value, "bar");
	assert_false(got.secret);
	assert_int_equal(got.updated_at, v.updated_at);
	assert_int_equal(RUN(store_env_var_get, e.id, "FOO", 1, &got), VBX_OK);
	assert_string_equal(got.value, "bar");

	/* Replace. */
	usleep(2000);
	assert_int_equal(set_var(e.id, "FOO", INJECTION, false, &got), VBX_OK);
	assert_true(got.updated_at > v.updated_at);
	assert_int_equal(RUN(store_env_var_get, e.id, "FOO", 0, &got), VBX_OK);
	assert_string_equal(got.value, INJECTION);
	assert_int_equal(set_var(e.id, "EMPTY", "", false, &v), VBX_OK);
	assert_int_equal(set_var(e.id, "_lower_9", "x y", false, &v), VBX_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables"),
	                 3);

	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_var_list, e.id, 0, seen_var, &s),
	                 VBX_OK);
	assert_string_equal(s.text, "EMPTY=,FOO=" INJECTION ",_lower_9=x y");
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(RUN(store_env_var_list, e.id, 1, seen_var, &s), 7);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_var_list, NO_SUCH_ID, 0, seen_var, &s),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_var_list, "junk", 0, seen_var, &s),
	                 VBX_OK);
	assert_int_equal(s.count, 0);

	/* Delete. */
	assert_int_equal(RUN(store_env_var_delete, e.id, "FOO"), VBX_OK);
	assert_int_equal(RUN(store_env_var_get, e.id, "FOO", 0, &got),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_delete, e.id, "FOO"), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_delete, e.id, NULL), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_delete, "junk", "EMPTY"),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_get, e.id, "foo", 0, &got),
	                 VBX_ENOTFOUND); /* names are case-sensitive */
	assert_int_equal(RUN(store_env_var_get, e.id, NULL, 0, &got),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_get, NO_SUCH_ID, "EMPTY", 0, &got),
	                 VBX_ENOTFOUND);
}

static void test_var_refused(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_var v;
	char key[129];

	make_world(&w, "vr");
	assert_int_equal(make_env(w.team_proj.id, "vars", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(set_var(NO_SUCH_ID, "A", "1", false, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(set_var(NO_SUCH_ID, "A", "1", true, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(set_var("junk", "A", "1", false, &v), VBX_ENOTFOUND);
	assert_int_equal(set_var(NULL, "A", "1", false, &v), VBX_ENOTFOUND);
	assert_int_equal(set_var(e.id, "1ABC", "1", false, &v), VBX_EINVAL);
	assert_int_equal(set_var(e.id, "A B", "1", false, &v), VBX_EINVAL);
	assert_int_equal(set_var(e.id, "A-B", "1", true, &v), VBX_EINVAL);
	assert_int_equal(set_var(e.id, "", "1", false, &v), VBX_EINVAL);
	assert_int_equal(set_var(e.id, INJECTION, "1", false, &v), VBX_EINVAL);
	assert_int_equal(set_var(e.id, "UTF", "\xff\xfe", false, &v),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_var_set, e.id, NULL), VBX_EINVAL);

	/* The longest name there is room for is allowed. */
	memset(key, 'K', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(set_var(e.id, key, "long name", false, &v), VBX_OK);

	/* An array without its NUL is refused, not read past. */
	memset(&v, 'x', sizeof(v));
	v.secret = false;
	assert_int_equal(RUN(store_env_var_set, e.id, &v), VBX_EINVAL);
	set_var(e.id, "OK", "", false, &v);
	memset(v.value, 'x', sizeof(v.value));
	assert_int_equal(RUN(store_env_var_set, e.id, &v), VBX_EINVAL);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables"),
	                 2);
}

/* The key id crypto.c gives a key: 16 hex digits of its SHA-256. */
static long long is_key_id_of(const char *env_id, const char *var,
                              const char *hexkey)
{
	return sql_int("SELECT count(*) FROM environment_variables WHERE "
	               "environment_id = '%s' AND key = '%s' AND key_id = "
	               "left(encode(sha256(decode('%s', 'hex')), 'hex'), 16)",
	               env_id, var, hexkey);
}

static void test_var_secret(void **state)
{
	struct world w;
	vbx_env e, other;
	vbx_env_var v, got;
	struct seen s;
	char big[4096];

	make_world(&w, "s");
	assert_int_equal(make_env(w.team_proj.id, "vault", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "other", w.ann.id, &other),
	                 VBX_OK);
	assert_int_equal(set_var(e.id, "TOKEN", "s3cr3t-value", true, &v),
	                 VBX_OK);
	assert_true(v.updated_at > 0);

	/* At rest: no value, ciphertext that is not the plain text, the
	 * sealing key's id. */
	assert_int_equal(
	        sql_int("SELECT count(*) FROM environment_variables WHERE "
	                "key = 'TOKEN' AND secret AND value IS NULL AND "
	                "ciphertext IS NOT NULL AND "
	                "position(convert_to('s3cr3t', 'UTF8') IN "
	                "ciphertext) = 0 AND "
	                "octet_length(ciphertext) = 12 + 12 + 16"),
	        1);
	assert_int_equal(is_key_id_of(e.id, "TOKEN", KEY_A), 1);

	/* reveal 0 is what the API shows; reveal 1 decrypts. */
	assert_int_equal(RUN(store_env_var_get, e.id, "TOKEN", 0, &got),
	                 VBX_OK);
	assert_true(got.secret);
	assert_string_equal(got.value, "");
	assert_int_equal(got.updated_at, v.updated_at);
	assert_int_equal(RUN(store_env_var_get, e.id, "TOKEN", 1, &got),
	                 VBX_OK);
	assert_true(got.secret);
	assert_string_equal(got.value, "s3cr3t-value");

	assert_int_equal(set_var(e.id, "PLAIN", "p", false, &v), VBX_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_var_list, e.id, 0, seen_var, &s),
	                 VBX_OK);
	assert_string_equal(s.text, "PLAIN=p,TOKEN=(s)");
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_var_list, e.id, 1, seen_var, &s),
	                 VBX_OK);
	assert_string_equal(s.text, "PLAIN=p,TOKEN=s3cr3t-value(s)");

	/* Plain to secret and back; an empty secret; a full-size one. */
	assert_int_equal(set_var(e.id, "PLAIN", "now hidden", true, &v),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_var_get, e.id, "PLAIN", 1, &got),
	                 VBX_OK);
	assert_string_equal(got.value, "now hidden");
	assert_int_equal(set_var(e.id, "PLAIN", "open", false, &v), VBX_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables "
	                         "WHERE key = 'PLAIN' AND value = 'open' AND "
	                         "ciphertext IS NULL AND key_id IS NULL"),
	                 1);
	assert_int_equal(set_var(e.id, "NONE", "", true, &v), VBX_OK);
	assert_int_equal(RUN(store_env_var_get, e.id, "NONE", 1, &got), VBX_OK);
	assert_string_equal(got.value, "");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(set_var(e.id, "BIG", big, true, &v), VBX_OK);
	assert_int_equal(RUN(store_env_var_get, e.id, "BIG", 1, &got), VBX_OK);
	assert_string_equal(got.value, big);

	/* The id is the same UUID however the caller spells it. */
	char upper[VBX_ID_LEN];
	for (int i = 0; i < VBX_ID_LEN; i++)
		upper[i] = e.id[i] >= 'a' && e.id[i] <= 'f'
		                   ? (char)(e.id[i] - 32)
		                   : e.id[i];
	assert_int_equal(set_var(upper, "UP", "shouted", true, &v), VBX_OK);
	assert_int_equal(RUN(store_env_var_get, e.id, "UP", 1, &got), VBX_OK);
	assert_string_equal(got.value, "shouted");
	assert_int_equal(RUN(store_env_var_get, upper, "TOKEN", 1, &got),
	                 VBX_OK);
	assert_string_equal(got.value, "s3cr3t-value");
}

/* A ciphertext moved to another variable or environment, or changed,
 * does not open: VBX_ERR, and reveal 0 still works. */
static void test_var_secret_tampered(void **state)
{
	struct world w;
	vbx_env e, other;
	vbx_env_var v, got;
	struct seen s;
	struct capture cap;
	char q[1024];

	make_world(&w, "tm");
	assert_int_equal(make_env(w.team_proj.id, "vault", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(make_env(w.team_proj.id, "other", w.ann.id, &other),
	                 VBX_OK);
	assert_int_equal(set_var(e.id, "A", "alpha", true, &v), VBX_OK);
	assert_int_equal(set_var(e.id, "B", "beta", true, &v), VBX_OK);
	assert_int_equal(set_var(other.id, "A", "gamma", true, &v), VBX_OK);

	/* B gets A's ciphertext: bound to A, it does not open as B. */
	snprintf(q, sizeof(q),
	         "UPDATE environment_variables SET ciphertext = (SELECT "
	         "ciphertext FROM environment_variables WHERE key = 'A' AND "
	         "environment_id = '%s') WHERE key = 'B' AND "
	         "environment_id = '%s'",
	         e.id, e.id);
	PQclear(sql(q));
	capture_start(&cap);
	int rc = RUN(store_env_var_get, e.id, "B", 1, &got);
	const char *log = capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);
	assert_non_null(strstr(log, "secret variable B"));
	assert_int_equal(RUN(store_env_var_get, e.id, "B", 0, &got), VBX_OK);
	assert_string_equal(got.value, "");

	/* Another environment's A does not open as this one's. */
	snprintf(q, sizeof(q),
	         "UPDATE environment_variables SET ciphertext = (SELECT "
	         "ciphertext FROM environment_variables WHERE "
	         "environment_id = '%s') WHERE key = 'A' AND "
	         "environment_id = '%s'",
	         other.id, e.id);
	PQclear(sql(q));
	capture_start(&cap);
	rc = RUN(store_env_var_get, e.id, "A", 1, &got);
	capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);

	/* A flipped bit, and a key that is not in the keyring. */
	snprintf(q, sizeof(q),
	         "UPDATE environment_variables SET ciphertext = "
	         "set_byte(ciphertext, 13, get_byte(ciphertext, 13) # 1) "
	         "WHERE environment_id = '%s'",
	         other.id);
	PQclear(sql(q));
	capture_start(&cap);
	rc = RUN(store_env_var_get, other.id, "A", 1, &got);
	capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);
	assert_int_equal(set_var(other.id, "R", "rotated", true, &v), VBX_OK);
	snprintf(q, sizeof(q),
	         "UPDATE environment_variables SET key_id = '0123456789abcdef' "
	         "WHERE key = 'R'");
	PQclear(sql(q));
	capture_start(&cap);
	rc = RUN(store_env_var_get, other.id, "R", 1, &got);
	log = capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);
	assert_non_null(strstr(log, "0123456789abcdef"));
	assert_non_null(strstr(log, KEY_OPTION));

	/* A list that reveals stops at the first that does not open. */
	memset(&s, 0, sizeof(s));
	capture_start(&cap);
	rc = RUN(store_env_var_list, other.id, 1, seen_var, &s);
	capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_var_list, other.id, 0, seen_var, &s),
	                 VBX_OK);
	assert_string_equal(s.text, "A=(s),R=(s)");
}

/* ---- ports ---- */

static void test_ports(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_port p;
	struct seen s;

	make_world(&w, "p");
	assert_int_equal(make_env(w.team_proj.id, "net", w.ann.id, &e), VBX_OK);
	assert_int_equal(add_port(e.id, 8080, "tcp", &p), VBX_OK);
	assert_int_equal(p.port, 8080);
	assert_string_equal(p.protocol, "tcp");
	assert_int_equal(p.host_port, 0);
	assert_true(p.created_at > 1600000000000LL);
	/* "" is tcp, so this one is there already. */
	assert_int_equal(add_port(e.id, 8080, "", &p), VBX_EEXIST);
	assert_int_equal(add_port(e.id, 8080, "udp", &p), VBX_OK);
	assert_int_equal(add_port(e.id, 22, "", &p), VBX_OK);
	assert_string_equal(p.protocol, "tcp");
	assert_int_equal(add_port(e.id, 65535, "udp", &p), VBX_OK);

	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_port_list, e.id, seen_port, &s), VBX_OK);
	assert_string_equal(s.text,
	                    "22/tcp:0,8080/tcp:0,8080/udp:0,65535/udp:0");

	/* Published, then unpublished. */
	assert_int_equal(RUN(store_env_port_set_host, e.id, 8080, "tcp", 32768),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_port_set_host, e.id, 22, NULL, 40022),
	                 VBX_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_port_list, e.id, seen_port, &s), VBX_OK);
	assert_string_equal(
	        s.text, "22/tcp:40022,8080/tcp:32768,8080/udp:0,65535/udp:0");
	assert_int_equal(RUN(store_env_port_set_host, e.id, 8080, "tcp", 0),
	                 VBX_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_ports "
	                         "WHERE host_port IS NULL"),
	                 3);
	assert_int_equal(RUN(store_env_port_set_host, e.id, 8080, "tcp", 70000),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_port_set_host, e.id, 8080, "tcp", -1),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_port_set_host, e.id, 9999, "tcp", 1),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_set_host, "junk", 22, "tcp", 1),
	                 VBX_ENOTFOUND);

	/* Remove. */
	assert_int_equal(RUN(store_env_port_remove, e.id, 8080, "udp"), VBX_OK);
	assert_int_equal(RUN(store_env_port_remove, e.id, 8080, "udp"),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_remove, e.id, 8080, NULL), VBX_OK);
	assert_int_equal(RUN(store_env_port_remove, e.id, 1, "tcp"),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_remove, NO_SUCH_ID, 22, "tcp"),
	                 VBX_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_port_list, e.id, seen_port, &s), VBX_OK);
	assert_string_equal(s.text, "22/tcp:40022,65535/udp:0");
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(RUN(store_env_port_list, e.id, seen_port, &s), 7);
	memset(&s, 0, sizeof(s));
	assert_int_equal(RUN(store_env_port_list, "junk", seen_port, &s),
	                 VBX_OK);
	assert_int_equal(RUN(store_env_port_list, NO_SUCH_ID, seen_port, &s),
	                 VBX_OK);
	assert_int_equal(s.count, 0);
}

static void test_ports_refused(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_port p;

	make_world(&w, "pr");
	assert_int_equal(make_env(w.team_proj.id, "net", w.ann.id, &e), VBX_OK);
	assert_int_equal(add_port(e.id, 0, "tcp", &p), VBX_EINVAL);
	assert_int_equal(add_port(e.id, 65536, "tcp", &p), VBX_EINVAL);
	assert_int_equal(add_port(e.id, -80, "tcp", &p), VBX_EINVAL);
	assert_int_equal(add_port(e.id, 80, "sct", &p), VBX_EINVAL);
	assert_int_equal(add_port(e.id, 80, "TCP", &p), VBX_EINVAL);
	assert_int_equal(add_port(e.id, 80, "'--", &p), VBX_EINVAL);
	assert_int_equal(add_port(NO_SUCH_ID, 80, "tcp", &p), VBX_ENOTFOUND);
	assert_int_equal(add_port("junk", 80, "tcp", &p), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_add, e.id, NULL), VBX_EINVAL);
	memset(&p, 'u', sizeof(p));
	p.port = 80;
	assert_int_equal(RUN(store_env_port_add, e.id, &p), VBX_EINVAL);
	assert_int_equal(sql_int("SELECT count(*) FROM environment_ports"), 0);
}

/* ---- hostile strings ---- */

static void test_hostile(void **state)
{
	struct world w;
	vbx_env e, got;
	vbx_env_var v;
	char *huge = malloc(100000);
	int64_t n;

	assert_non_null(huge);
	memset(huge, 'A', 99999);
	huge[99999] = '\0';
	make_world(&w, "h");

	/* Quotes and SQL in the free-text fields are kept as they are. */
	env_fill(&e, w.team_proj.id, "quoted", w.ann.id);
	snprintf(e.name, sizeof(e.name), "%s \"dq\" \\ %%s $1", INJECTION);
	snprintf(e.image, sizeof(e.image), "img'; DELETE FROM users; --");
	assert_int_equal(RUN(store_env_create, &e), VBX_OK);
	assert_int_equal(RUN(store_env_get, e.id, &got), VBX_OK);
	assert_string_equal(got.name, e.name);
	assert_string_equal(got.image, "img'; DELETE FROM users; --");

	/* In the shaped ones they are refused. */
	env_fill(&got, w.team_proj.id, "x'; DROP TABLE projects; --", w.ann.id);
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);

	/* Arrays filled to the brim without a NUL. */
	env_fill(&got, w.team_proj.id, "brim", w.ann.id);
	memset(got.name, 'n', sizeof(got.name));
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);
	env_fill(&got, w.team_proj.id, "brim", w.ann.id);
	memset(got.image, 'i', sizeof(got.image));
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);
	env_fill(&got, w.team_proj.id, "brim", w.ann.id);
	memset(got.slug, 's', sizeof(got.slug));
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);
	env_fill(&got, w.team_proj.id, "brim", w.ann.id);
	memset(got.project_id, 'p', sizeof(got.project_id));
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);
	env_fill(&got, w.team_proj.id, "brim", w.ann.id);
	memset(got.created_by, 'c', sizeof(got.created_by));
	assert_int_equal(RUN(store_env_create, &got), VBX_EINVAL);
	got = e;
	memset(got.id, 'd', sizeof(got.id));
	assert_int_equal(RUN(store_env_update, &got), VBX_ENOTFOUND);
	got = e;
	memset(got.name, 'n', sizeof(got.name));
	assert_int_equal(RUN(store_env_update, &got), VBX_EINVAL);
	/* A name as long as the array holds is fine. */
	got = e;
	memset(got.name, 'n', sizeof(got.name) - 1);
	got.name[sizeof(got.name) - 1] = '\0';
	assert_int_equal(RUN(store_env_update, &got), VBX_OK);

	/* Very long strings where the hooks take a pointer. */
	assert_int_equal(RUN(store_env_get, huge, &got), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_delete, huge), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_touch, huge), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_transition, huge, VBX_ENV_ANY, "error",
	                     huge, NULL, &got),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "error",
	                     huge, huge, &got),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, huge, "",
	                     NULL, &got),
	                 VBX_EINVAL);
	assert_int_equal(RUN(store_env_transition, e.id, VBX_ENV_ANY, "error",
	                     huge, NULL, &got),
	                 VBX_OK);
	assert_int_equal(strlen(got.status_reason), 255);
	assert_int_equal(RUN(store_env_count, huge, huge, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_int_equal(RUN(store_env_var_get, e.id, huge, 1, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_get, e.id, INJECTION, 1, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_var_delete, e.id, huge), VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_remove, e.id, 80, huge),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_port_set_host, e.id, 80, huge, 1),
	                 VBX_ENOTFOUND);
	assert_int_equal(RUN(store_env_list, huge, NULL, VBX_ENV_ANY, NULL,
	                     seen_env, NULL, NULL),
	                 VBX_OK);
	free(huge);

	/* Every table is still there, with its rows. */
	assert_int_equal(sql_int("SELECT count(*) FROM environments"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM users"), 2);
	assert_int_equal(sql_int("SELECT count(*) FROM projects"), 2);
}

/* Last of the first group: a secret sealed under key A, left for the
 * groups that follow (they run without TRUNCATE first). */
static void test_leave_secret(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_var v;

	make_world(&w, "left");
	assert_int_equal(make_env(w.team_proj.id, "left", w.ann.id, &e),
	                 VBX_OK);
	assert_int_equal(set_var(e.id, LEFT_BEHIND, LEFT_VALUE, true, &v),
	                 VBX_OK);
}

/* The environment test_leave_secret made. */
static void left_env(char id[VBX_ID_LEN])
{
	PGresult *r = sql("SELECT environment_id FROM environment_variables "
	                  "WHERE key = '" LEFT_BEHIND "'");

	assert_int_equal(PQntuples(r), 1);
	snprintf(id, VBX_ID_LEN, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* ---- with a rotated keyring: B seals, A still opens ---- */

static void test_rotated_opens_old(void **state)
{
	char id[VBX_ID_LEN];
	vbx_env_var v, got;

	left_env(id);
	assert_int_equal(RUN(store_env_var_get, id, LEFT_BEHIND, 1, &got),
	                 VBX_OK);
	assert_string_equal(got.value, LEFT_VALUE);
	assert_int_equal(is_key_id_of(id, LEFT_BEHIND, KEY_A), 1);
	/* Set again, it is sealed with the new key. */
	assert_int_equal(set_var(id, LEFT_BEHIND, LEFT_VALUE, true, &v),
	                 VBX_OK);
	assert_int_equal(is_key_id_of(id, LEFT_BEHIND, KEY_B), 1);
	assert_int_equal(RUN(store_env_var_get, id, LEFT_BEHIND, 1, &got),
	                 VBX_OK);
	assert_string_equal(got.value, LEFT_VALUE);
}

/* ---- without a secrets key ---- */

static void test_nokey_reveal(void **state)
{
	char id[VBX_ID_LEN];
	vbx_env_var got;
	struct capture cap;

	left_env(id);
	capture_start(&cap);
	int rc = RUN(store_env_var_get, id, LEFT_BEHIND, 1, &got);
	const char *log = capture_end(&cap);
	assert_int_equal(rc, VBX_ERR);
	assert_non_null(strstr(log, KEY_OPTION));
	assert_int_equal(RUN(store_env_var_get, id, LEFT_BEHIND, 0, &got),
	                 VBX_OK);
	assert_true(got.secret);
	assert_string_equal(got.value, "");
}

static void test_nokey_set(void **state)
{
	struct world w;
	vbx_env e;
	vbx_env_var v;
	struct capture cap;

	make_world(&w, "k");
	assert_int_equal(make_env(w.team_proj.id, "nokey", w.ann.id, &e),
	                 VBX_OK);
	capture_start(&cap);
	int rc = set_var(e.id, "HIDDEN", "value", true, &v);
	const char *log = capture_end(&cap);
	assert_int_equal(rc, VBX_EINVAL);
	assert_non_null(strstr(log, KEY_OPTION));
	assert_null(strstr(log, "value\""));
	assert_int_equal(sql_int("SELECT count(*) FROM environment_variables "
	                         "WHERE environment_id = '%s'",
	                         e.id),
	                 0);
	/* Plain variables need no key. */
	assert_int_equal(set_var(e.id, "OPEN", "value", false, &v), VBX_OK);
}

/* ---- main ---- */

static char key_path[512];

/* A host whose plugin reads keys (a key file's text) or has none. */
static int host_up(const char *keys)
{
	char cfg[2048];
	int n;

	host = vbx_test_host_new();
	if (!host)
		return -1;
	n = snprintf(cfg, sizeof(cfg), "conninfo = \"%s\"; pool = 8;",
	             conninfo);
	if (keys) {
		snprintf(key_path, sizeof(key_path), "%s/secrets.key",
		         vbx_test_state_dir(host));
		FILE *f = fopen(key_path, "w");
		if (!f || fputs(keys, f) < 0 || fclose(f) != 0) {
			perror(key_path);
			return -1;
		}
		snprintf(cfg + n, sizeof(cfg) - (size_t)n,
		         " secrets_key_file = \"%s\";", key_path);
	}
	if (vbx_test_load_file(host, plugin_path, cfg) != VBX_OK ||
	    vbx_test_start(host) != VBX_OK) {
		fprintf(stderr, "test_store_envs: %s\n", vbx_test_errors(host));
		return -1;
	}
	return 0;
}

static int group_key_a(void **state)
{
	return host_up("# the only key\n" KEY_A "\n");
}

static int group_rotated(void **state)
{
	return host_up(KEY_B "\n" KEY_A "\n");
}

static int group_no_key(void **state)
{
	return host_up(NULL);
}

static int group_teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

/* One installation id, made by the migration, stable across calls. */
static void test_instance_id(void **state)
{
	char a[VBX_ID_LEN] = "", b[VBX_ID_LEN] = "";

	(void)state;
	assert_int_equal(RUN(store_instance_id, a), VBX_OK);
	assert_int_equal(strlen(a), VBX_ID_LEN - 1);
	assert_int_equal(RUN(store_instance_id, b), VBX_OK);
	assert_string_equal(a, b);
	assert_int_equal(sql_int("SELECT count(*) FROM instance WHERE id = "
	                         "'%s'",
	                         a),
	                 1);
}

int main(void)
{
	conninfo = getenv("VBX_TEST_PG");
	plugin_path = getenv("VBX_TEST_PG_PLUGIN");
	if (!plugin_path)
		plugin_path = "./postgres-store.so";
	if (!conninfo || !conninfo[0]) {
		fprintf(stderr, "test_store_envs: set VBX_TEST_PG to the "
		                "conninfo of a throwaway database; skipped\n");
		return 77;
	}
	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_store_envs: %s", PQerrorMessage(admin));
		PQfinish(admin);
		return 1;
	}
	PQclear(PQexec(admin, "SET client_min_messages = warning"));

	const struct CMUnitTest with_key[] = {
	        cmocka_unit_test_setup(test_env_create, setup),
	        cmocka_unit_test_setup(test_instance_id, setup),
	        cmocka_unit_test_setup(test_env_create_refused, setup),
	        cmocka_unit_test_setup(test_env_get_missing, setup),
	        cmocka_unit_test_setup(test_env_update, setup),
	        cmocka_unit_test_setup(test_env_delete_cascades, setup),
	        cmocka_unit_test_setup(test_env_list, setup),
	        cmocka_unit_test_setup(test_env_list_unpaged, setup),
	        cmocka_unit_test_setup(test_env_list_pages, setup),
	        cmocka_unit_test_setup(test_env_list_pages_by_reader, setup),
	        cmocka_unit_test_setup(test_env_transition, setup),
	        cmocka_unit_test_setup(test_env_transition_refused, setup),
	        cmocka_unit_test_setup(test_env_transition_race, setup),
	        cmocka_unit_test_setup(test_env_touch, setup),
	        cmocka_unit_test_setup(test_env_count, setup),
	        cmocka_unit_test_setup(test_var_plain, setup),
	        cmocka_unit_test_setup(test_var_refused, setup),
	        cmocka_unit_test_setup(test_var_secret, setup),
	        cmocka_unit_test_setup(test_var_secret_tampered, setup),
	        cmocka_unit_test_setup(test_ports, setup),
	        cmocka_unit_test_setup(test_ports_refused, setup),
	        cmocka_unit_test_setup(test_hostile, setup),
	        cmocka_unit_test_setup(test_leave_secret, setup),
	};
	const struct CMUnitTest rotated[] = {
	        cmocka_unit_test(test_rotated_opens_old),
	};
	const struct CMUnitTest no_key[] = {
	        cmocka_unit_test(test_nokey_reveal),
	        cmocka_unit_test_setup(test_nokey_set, setup),
	};
	int failed = cmocka_run_group_tests_name("with key A", with_key,
	                                         group_key_a, group_teardown);
	failed += cmocka_run_group_tests_name("rotated keyring B, A", rotated,
	                                      group_rotated, group_teardown);
	failed += cmocka_run_group_tests_name("no secrets key", no_key,
	                                      group_no_key, group_teardown);
	PQfinish(admin);
	return failed ? 1 : 0;
}
