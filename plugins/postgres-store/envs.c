/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envs.c - the store_env_* hooks of postgres-store: environments and their
 * status.
 *
 * Every read of an environment joins its project, so that vbx_env carries
 * the project's team_id and owner_id: authorize decides on them, and
 * reading them here saves the caller a second round trip (store_env_get,
 * store_env_list, and the rows written back by create, update and
 * transition all do it). A project never changes owner, so the join cannot
 * go stale while the caller holds the row.
 *
 * Status changes are compare-and-set in one UPDATE whose WHERE names the
 * allowed current statuses: PostgreSQL re-checks that WHERE on the newest
 * row version after waiting for a concurrent writer, so of any number of
 * racing transitions out of the same status exactly one wins. A loser
 * reads the row afterwards (a fresh snapshot) to report what it is now.
 *
 * updated_at is the time of the last edit of the settings (store_env_
 * update); a status change moves status_at instead, so the reconcile pass
 * can tell how long an environment has been starting or stopping.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* A char array the caller filled must hold its NUL: an unterminated one
 * would be read past its end. */
#define TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

#define ENV_COLS                                                               \
	"e.id, e.project_id, e.name, e.slug, e.image, e.cpu_limit::float8, "   \
	"e.memory_limit, e.status, e.status_reason, e.container_id, "          \
	"e.created_by, p.team_id, p.owner_id, e.created_at, e.updated_at, "    \
	"e.status_at, e.started_at, e.stopped_at, e.active_at"

static const pgs_stmt stmt_env_create = {
        .name = "env_create",
        .sql = "WITH e AS (INSERT INTO environments (project_id, name, slug, "
               "image,"
               "  cpu_limit, memory_limit, created_by)"
               "  VALUES ($1::uuid, $2, $3, $4, $5::numeric, $6::int4, "
               "$7::uuid)"
               "  RETURNING *)"
               " SELECT " ENV_COLS
               " FROM e JOIN projects p ON p.id = e.project_id"};

static const pgs_stmt stmt_env_get = {
        .name = "env_get",
        .sql = "SELECT " ENV_COLS " FROM environments e"
               " JOIN projects p ON p.id = e.project_id"
               " WHERE e.id = $1::uuid"};

static const pgs_stmt stmt_env_update = {
        .name = "env_update",
        .sql = "WITH e AS (UPDATE environments SET name = $2, slug = $3,"
               "  image = $4, cpu_limit = $5::numeric, memory_limit = $6::int4,"
               "  updated_at = greatest(now(), updated_at)"
               "  WHERE id = $1::uuid RETURNING *)"
               " SELECT " ENV_COLS
               " FROM e JOIN projects p ON p.id = e.project_id"};

/* Its variables and ports go with it (ON DELETE CASCADE). */
static const pgs_stmt stmt_env_delete = {
        .name = "env_delete",
        .sql = "DELETE FROM environments WHERE id = $1::uuid"};

/* $1 NULL: every project; $2 the statuses; $3 NULL: every user, else
 * the projects $3 owns or whose team it is in. Only environments' columns
 * filter: the join to the project adds columns, never rows (NOT NULL
 * foreign key), so the count needs no join. */
#define ENV_LIST_WHERE                                                         \
	" WHERE ($1::uuid IS NULL OR e.project_id = $1::uuid)"                 \
	" AND e.status = ANY ($2::text[])"                                     \
	" AND ($3::uuid IS NULL OR e.project_id IN"                            \
	" (SELECT pr.id FROM projects pr"                                      \
	" WHERE pr.owner_id = $3::uuid OR pr.team_id IN"                       \
	" (SELECT tm.team_id FROM team_members tm"                             \
	" WHERE tm.user_id = $3::uuid)))"

/* $4 NULL: no LIMIT (every row). */
static const pgs_stmt stmt_env_list = {
        .name = "env_list",
        .sql = "SELECT " ENV_COLS " FROM environments e"
               " JOIN projects p ON p.id = e.project_id" ENV_LIST_WHERE
               " ORDER BY e.created_at, e.id"
               " LIMIT $4::int8 OFFSET $5::int8"};

static const pgs_stmt stmt_env_list_count = {
        .name = "env_list_count",
        .sql = "SELECT count(*) FROM environments e" ENV_LIST_WHERE};

/* $2: the allowed current statuses; $5 NULL keeps the container id, ""
 * clears it. */
static const pgs_stmt stmt_env_cas = {
        .name = "env_cas",
        .sql = "WITH e AS (UPDATE environments SET status = $3::text,"
               "  status_reason = $4, status_at = now(),"
               "  started_at = CASE WHEN $3::text = 'running' THEN now()"
               "   ELSE started_at END,"
               "  stopped_at = CASE WHEN $3::text IN ('stopped', 'error')"
               "   THEN now() ELSE stopped_at END,"
               "  container_id = CASE WHEN $5::text IS NULL THEN container_id"
               "   ELSE nullif($5::text, '') END"
               "  WHERE id = $1::uuid AND status = ANY ($2::text[]) RETURNING "
               "*)"
               " SELECT " ENV_COLS
               " FROM e JOIN projects p ON p.id = e.project_id"};

static const pgs_stmt stmt_env_touch = {
        .name = "env_touch",
        .sql = "UPDATE environments"
               " SET active_at = greatest(now(), active_at)"
               " WHERE id = $1::uuid"};

/* $3: neither filter given, count everything. A filter given as NULL
 * (not a UUID) matches nothing. */
static const pgs_stmt stmt_env_count = {
        .name = "env_count",
        .sql = "SELECT count(*) FROM environments e"
               " JOIN projects p ON p.id = e.project_id"
               " WHERE $3::bool OR e.created_by = $1::uuid OR p.team_id = "
               "$2::uuid"};

static const pgs_stmt stmt_instance_id = {
        .name = "instance_id",
        .sql = "SELECT id FROM instance WHERE singleton"};

static void env_from_row(const PGresult *r, int row, vbx_env *e)
{
	PGS_COPY(e->id, r, row, 0);
	PGS_COPY(e->project_id, r, row, 1);
	PGS_COPY(e->name, r, row, 2);
	PGS_COPY(e->slug, r, row, 3);
	PGS_COPY(e->image, r, row, 4);
	e->cpu_limit = PQgetisnull(r, row, 5)
	                       ? 0
	                       : strtod(PQgetvalue(r, row, 5), NULL);
	e->memory_limit = (int)pgs_int(r, row, 6);
	PGS_COPY(e->status, r, row, 7);
	PGS_COPY(e->status_reason, r, row, 8);
	PGS_COPY(e->container_id, r, row, 9);
	PGS_COPY(e->created_by, r, row, 10);
	PGS_COPY(e->team_id, r, row, 11);
	PGS_COPY(e->owner_id, r, row, 12);
	e->created_at = pgs_ms(r, row, 13);
	e->updated_at = pgs_ms(r, row, 14);
	e->status_at = pgs_ms(r, row, 15);
	e->started_at = pgs_ms(r, row, 16);
	e->stopped_at = pgs_ms(r, row, 17);
	e->active_at = pgs_ms(r, row, 18);
}

/* The settings create and update write, as parameter text. */
struct env_args {
	char cpu[32];
	char memory[PGS_INT_LEN];
};

/*
 * Check the caller's fields and format the numbers. The database checks
 * the values (name length, slug shape, limits above 0, at most 9999.99
 * cores); here only what it cannot see: unterminated arrays, and a cpu
 * limit that is not a number (numeric would take NaN, and NaN > 0).
 */
static int env_args_make(const vbx_env *e, struct env_args *a)
{
	if (!TERMINATED(e->name) || !TERMINATED(e->slug) ||
	    !TERMINATED(e->image) || !isfinite(e->cpu_limit))
		return VBX_EINVAL;
	snprintf(a->cpu, sizeof(a->cpu), "%.17g", e->cpu_limit);
	pgs_fmt_int(a->memory, e->memory_limit);
	return VBX_OK;
}

/* An optional id the caller filled: "" is none, else a UUID. */
static bool bad_ref(const char *arr, size_t len)
{
	return !memchr(arr, '\0', len) || (arr[0] && !vbx_uuid_ok(arr));
}

/* The rc of a statement returning one environment, and out filled. */
static int env_result(int rc, PGresult *r, vbx_env *out)
{
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK && out) {
		memset(out, 0, sizeof(*out));
		env_from_row(r, 0, out);
	}
	PQclear(r);
	return rc;
}

static int env_create(void *ud, vbx_env *e)
{
	struct env_args a;
	PGresult *r;
	int rc;

	if (!e)
		return VBX_EINVAL;
	rc = env_args_make(e, &a);
	if (rc != VBX_OK)
		return rc;
	/* A project that is not a UUID or does not exist is refused like
	 * any other value the database refuses (a foreign key). */
	if (!TERMINATED(e->project_id) || !vbx_uuid_ok(e->project_id) ||
	    bad_ref(e->created_by, sizeof(e->created_by)))
		return VBX_EINVAL;
	rc = pgs_run(ud, &stmt_env_create,
	             PGS_ARGS(e->project_id, e->name, e->slug, e->image, a.cpu,
	                      a.memory, pgs_nullif_empty(e->created_by)),
	             &r);
	return env_result(rc, r, e);
}

static int env_get(void *ud, const char *id, vbx_env *out)
{
	PGresult *r;
	int rc;

	if (!out)
		return VBX_EINVAL;
	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_env_get, PGS_ARGS(id), &r);
	return env_result(rc, r, out);
}

static int env_update(void *ud, vbx_env *e)
{
	struct env_args a;
	PGresult *r;
	int rc;

	if (!e)
		return VBX_EINVAL;
	if (!TERMINATED(e->id) || !vbx_uuid_ok(e->id))
		return VBX_ENOTFOUND;
	rc = env_args_make(e, &a);
	if (rc != VBX_OK)
		return rc;
	rc = pgs_run(
	        ud, &stmt_env_update,
	        PGS_ARGS(e->id, e->name, e->slug, e->image, a.cpu, a.memory),
	        &r);
	return env_result(rc, r, e);
}

static int env_delete(void *ud, const char *id)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_env_delete, PGS_ARGS(id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

/* ---- lists ---- */

/* The statuses of mask as a text[] literal, e.g. "{stopped,error}". */
static void status_array(unsigned mask, char *buf, size_t len)
{
	static const char *const names[] = {"stopped", "starting", "running",
	                                    "stopping", "error"};
	size_t n = 0;

	buf[n++] = '{';
	for (unsigned i = 0; i < 5; i++) {
		if (!(mask & (1u << i)))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		                      buf[n - 1] == '{' ? "" : ",", names[i]);
	}
	snprintf(buf + n, len - n, "}");
}

/* Room for every name, commas and braces. */
#define STATUS_ARRAY_LEN 64

struct env_each {
	vbx_env_each_fn *each;
	void *ctx;
};

static int env_row(void *arg, const PGresult *r, int row)
{
	const struct env_each *e = arg;
	vbx_env env;

	memset(&env, 0, sizeof(env));
	env_from_row(r, row, &env);
	return e->each ? e->each(e->ctx, &env) : VBX_OK;
}

/* A mask with bits beyond VBX_ENV_ANY is a caller's bug: VBX_EINVAL. */
static int env_list(void *ud, const char *project_id, const char *user_id,
                    unsigned status_mask, const vbx_page *page,
                    vbx_env_each_fn *each, void *ctx, int64_t *total)
{
	int64_t limit = PGS_NO_LIMIT, offset = 0;
	char statuses[STATUS_ARRAY_LEN];
	struct env_each e = {each, ctx};

	if (total)
		*total = 0;
	if (status_mask & ~VBX_ENV_ANY)
		return VBX_EINVAL;
	if ((project_id && !vbx_uuid_ok(project_id)) ||
	    (user_id && !vbx_uuid_ok(user_id)))
		return VBX_OK; /* no such project or user has environments */
	status_array(status_mask, statuses, sizeof(statuses));
	if (page)
		pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_env_list, &stmt_env_list_count,
	                    PGS_ARGS(project_id, statuses, user_id), limit,
	                    offset, total, env_row, &e);
}

/* ---- status ---- */

/* The longest reason kept: status_reason's room. */
#define REASON_MAX (sizeof(((vbx_env *)0)->status_reason) - 1)

/*
 * Copy reason into buf (REASON_MAX + 1 bytes), cut at a UTF-8 character
 * boundary. A long reason (a runtime's error message) is shortened rather
 * than refused: refusing it would leave the environment in its old status.
 */
static void reason_copy(char *buf, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > REASON_MAX) {
		n = REASON_MAX;
		while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(buf, reason, n);
	buf[n] = '\0';
}

/* The arguments of a transition a caller could get wrong. */
static int transition_check(const char *id, unsigned from_mask, const char *to,
                            const char *container_id)
{
	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	if ((from_mask & ~VBX_ENV_ANY) || !to || !vbx_env_status_bit(to))
		return VBX_EINVAL;
	/* A container id is not shortened: a cut id names nothing. */
	if (container_id &&
	    strlen(container_id) >= sizeof(((vbx_env *)0)->container_id))
		return VBX_EINVAL;
	return VBX_OK;
}

static int env_transition(void *ud, const char *id, unsigned from_mask,
                          const char *to, const char *reason,
                          const char *container_id, vbx_env *out)
{
	char statuses[STATUS_ARRAY_LEN], why[REASON_MAX + 1];
	PGresult *r;
	pgs_conn *c;
	int rc = transition_check(id, from_mask, to, container_id);

	if (rc != VBX_OK)
		return rc;
	status_array(from_mask, statuses, sizeof(statuses));
	reason_copy(why, reason);
	c = pgs_acquire(ud, &rc);
	if (!c)
		return rc;
	rc = pgs_query(c, &stmt_env_cas,
	               PGS_ARGS(id, statuses, to, why, container_id), &r);
	rc = env_result(rc, r, out);
	if (rc == VBX_ENOTFOUND) {
		/* Not changed: is it missing, or in another status? */
		rc = pgs_query(c, &stmt_env_get, PGS_ARGS(id), &r);
		rc = env_result(rc, r, out);
		if (rc == VBX_OK)
			rc = VBX_ESTATE;
	}
	pgs_release(ud, c);
	return rc;
}

static int env_touch(void *ud, const char *id)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_env_touch, PGS_ARGS(id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

static int instance_id(void *ud, char *out)
{
	PGresult *r;
	int rc;

	rc = pgs_run(ud, &stmt_instance_id, 0, NULL, &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		snprintf(out, VBX_ID_LEN, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

/*
 * Both filters given count the environments matching either (the union);
 * neither counts every environment (a gauge for metrics). NULL and "" are
 * "not given"; a value that is not a UUID matches nothing.
 */
static int env_count(void *ud, const char *created_by, const char *team_id,
                     int64_t *count)
{
	const char *user = pgs_nullif_empty(created_by);
	const char *team = pgs_nullif_empty(team_id);
	const char *all = !user && !team ? "true" : "false";
	PGresult *r;
	int rc;

	if (!count)
		return VBX_EINVAL;
	*count = 0;
	rc = pgs_run(ud, &stmt_env_count,
	             PGS_ARGS(vbx_uuid_ok(user) ? user : NULL,
	                      vbx_uuid_ok(team) ? team : NULL, all),
	             &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		*count = pgs_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int pgs_envs_register(pgs *s)
{
	vbx_plugin *p = s->self;
	const int mid = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_env_create_register(p, env_create, s, mid);

	if (rc == VBX_OK)
		rc = vbx_hook_store_env_get_register(p, env_get, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_update_register(p, env_update, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_delete_register(p, env_delete, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_list_register(p, env_list, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_transition_register(p, env_transition,
		                                            s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_touch_register(p, env_touch, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_count_register(p, env_count, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_instance_id_register(p, instance_id, s,
		                                         mid);
	return rc;
}
