/* SPDX-License-Identifier: Apache-2.0 */
/*
 * teams.c - the store_team_* and store_member_* hooks of postgres-store.
 *
 * A list's page and its total are two statements sharing one filter
 * (pgs_run_page), the total counted only when the page cannot tell it.
 * Pages are ordered by creation time, then id: a stable order that renames
 * do not shuffle.
 */
#include <string.h>

#include "pg.h"

#define TEAM_COLS "t.id, t.name, t.slug, t.created_at, t.updated_at"

#define MEMBER_COLS                                                            \
	"m.team_id, m.user_id, u.email, u.name, m.role, m.created_at"

/* The team and its first admin in one statement, hence one transaction:
 * a refused admin (no such user) leaves no team behind. */
static const pgs_stmt stmt_team_create = {
        .name = "team_create",
        .sql = "WITH t AS (INSERT INTO teams (name, slug) VALUES ($1, $2)"
               "  RETURNING *),"
               " m AS (INSERT INTO team_members (team_id, user_id, role)"
               "  SELECT id, $3::uuid, 'admin' FROM t)"
               " SELECT " TEAM_COLS " FROM t"};

static const pgs_stmt stmt_team_get = {
        .name = "team_get",
        .sql = "SELECT " TEAM_COLS " FROM teams t WHERE t.id = $1::uuid"};

static const pgs_stmt stmt_team_update = {
        .name = "team_update",
        .sql = "UPDATE teams t SET name = $2, slug = $3,"
               " updated_at = greatest(now(), updated_at)"
               " WHERE t.id = $1::uuid RETURNING " TEAM_COLS};

/* Memberships and projects go with it (ON DELETE CASCADE). */
static const pgs_stmt stmt_team_delete = {
        .name = "team_delete", .sql = "DELETE FROM teams WHERE id = $1::uuid"};

/* $1 NULL: every team; else the teams $1 belongs to. */
#define TEAM_LIST_FROM                                                         \
	" FROM teams t WHERE $1::uuid IS NULL OR EXISTS"                       \
	" (SELECT 1 FROM team_members tm"                                      \
	" WHERE tm.team_id = t.id AND tm.user_id = $1::uuid)"

static const pgs_stmt stmt_team_list = {
        .name = "team_list",
        .sql = "SELECT " TEAM_COLS TEAM_LIST_FROM " ORDER BY t.created_at, t.id"
               " LIMIT $2::int8 OFFSET $3::int8"};

static const pgs_stmt stmt_team_list_count = {
        .name = "team_list_count", .sql = "SELECT count(*)" TEAM_LIST_FROM};

static const pgs_stmt stmt_member_add = {
        .name = "member_add",
        .sql = "WITH m AS (INSERT INTO team_members (team_id, user_id, role)"
               "  VALUES ($1::uuid, $2::uuid, $3) RETURNING *)"
               " SELECT " MEMBER_COLS
               " FROM m JOIN users u ON u.id = m.user_id"};

/*
 * A role change or a removal that would leave the team without an admin
 * matches no row. The team's admins are locked FOR UPDATE first: of two
 * changes at once (two admins demoting each other), the second waits for
 * the first to commit, and READ COMMITTED then rechecks the locked rows,
 * so it counts one admin fewer and refuses.
 */
#define LOCK_ADMINS                                                            \
	"WITH admins AS (SELECT user_id FROM team_members"                     \
	" WHERE team_id = $1::uuid AND role = 'admin' FOR UPDATE)"
#define LEAVES_AN_ADMIN                                                        \
	"(x.role <> 'admin' OR (SELECT count(*) FROM admins) > 1)"

static const pgs_stmt stmt_member_role = {
        .name = "member_role",
        .sql = LOCK_ADMINS
        ", m AS (UPDATE team_members x SET role = $3"
        " WHERE x.team_id = $1::uuid AND x.user_id = $2::uuid"
        " AND ($3 = 'admin' OR " LEAVES_AN_ADMIN ") RETURNING *)"
        " SELECT " MEMBER_COLS " FROM m JOIN users u ON u.id = m.user_id"};

static const pgs_stmt stmt_member_get = {
        .name = "member_get",
        .sql = "SELECT " MEMBER_COLS " FROM team_members m"
               " JOIN users u ON u.id = m.user_id"
               " WHERE m.team_id = $1::uuid AND m.user_id = $2::uuid"};

static const pgs_stmt stmt_member_remove = {
        .name = "member_remove",
        .sql = LOCK_ADMINS
        " DELETE FROM team_members x"
        " WHERE x.team_id = $1::uuid AND x.user_id = $2::uuid"
        " AND " LEAVES_AN_ADMIN};

/* The members of team $1. The join adds columns, never rows or
 * filters: a membership always has its user (NOT NULL foreign key), so
 * the count needs no join. */
#define MEMBER_LIST_WHERE " WHERE m.team_id = $1::uuid"

static const pgs_stmt stmt_member_list = {
        .name = "member_list",
        .sql = "SELECT " MEMBER_COLS " FROM team_members m"
               " JOIN users u ON u.id = m.user_id" MEMBER_LIST_WHERE
               " ORDER BY m.created_at, m.user_id"
               " LIMIT $2::int8 OFFSET $3::int8"};

static const pgs_stmt stmt_member_list_count = {
        .name = "member_list_count",
        .sql = "SELECT count(*) FROM team_members m" MEMBER_LIST_WHERE};

static void team_from_row(const PGresult *r, int row, vbx_team *t)
{
	PGS_COPY(t->id, r, row, 0);
	PGS_COPY(t->name, r, row, 1);
	PGS_COPY(t->slug, r, row, 2);
	t->created_at = pgs_ms(r, row, 3);
	t->updated_at = pgs_ms(r, row, 4);
}

static void member_from_row(const PGresult *r, int row, vbx_member *m)
{
	PGS_COPY(m->team_id, r, row, 0);
	PGS_COPY(m->user_id, r, row, 1);
	PGS_COPY(m->email, r, row, 2);
	PGS_COPY(m->name, r, row, 3);
	PGS_COPY(m->role, r, row, 4);
	m->created_at = pgs_ms(r, row, 5);
}

struct team_each {
	vbx_team_each_fn *each;
	void *ctx;
};

static int team_row(void *arg, const PGresult *r, int row)
{
	const struct team_each *e = arg;
	vbx_team t;

	memset(&t, 0, sizeof(t));
	team_from_row(r, row, &t);
	return e->each ? e->each(e->ctx, &t) : VBX_OK;
}

struct member_each {
	vbx_member_each_fn *each;
	void *ctx;
};

static int member_row(void *arg, const PGresult *r, int row)
{
	const struct member_each *e = arg;
	vbx_member m;

	memset(&m, 0, sizeof(m));
	member_from_row(r, row, &m);
	return e->each ? e->each(e->ctx, &m) : VBX_OK;
}

/* ---- teams ---- */

static int team_create(void *ud, vbx_team *t, const char *admin_id)
{
	PGresult *r;
	int rc;

	if (!t || !vbx_uuid_ok(admin_id))
		return VBX_EINVAL;
	rc = pgs_run(ud, &stmt_team_create,
	             PGS_ARGS(t->name, t->slug, admin_id), &r);
	if (rc == VBX_OK)
		team_from_row(r, 0, t);
	PQclear(r);
	return rc;
}

static int team_get(void *ud, const char *id, vbx_team *out)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_team_get, PGS_ARGS(id), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		team_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int team_update(void *ud, vbx_team *t)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(t->id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_team_update, PGS_ARGS(t->id, t->name, t->slug),
	             &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		team_from_row(r, 0, t);
	PQclear(r);
	return rc;
}

static int team_delete(void *ud, const char *id)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_team_delete, PGS_ARGS(id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

static int team_list(void *ud, const char *user_id, const vbx_page *page,
                     vbx_team_each_fn *each, void *ctx, int64_t *total)
{
	int64_t limit, offset;
	struct team_each e = {each, ctx};

	if (total)
		*total = 0;
	if (user_id && !vbx_uuid_ok(user_id))
		return VBX_OK; /* no such user belongs to any team */
	pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_team_list, &stmt_team_list_count,
	                    PGS_ARGS(user_id), limit, offset, total, team_row,
	                    &e);
}

/* ---- members ---- */

static int member_get(void *ud, const char *team_id, const char *user_id,
                      vbx_member *out)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(team_id) || !vbx_uuid_ok(user_id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_member_get, PGS_ARGS(team_id, user_id), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		member_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

/* A change matched no row: VBX_ESTATE when the member is there (the team's
 * last admin), VBX_ENOTFOUND when not. */
static int why_untouched(void *ud, const char *team_id, const char *user_id)
{
	vbx_member m;
	int rc = member_get(ud, team_id, user_id, &m);
	return rc == VBX_OK ? VBX_ESTATE : rc;
}

static int member_set(void *ud, vbx_member *m, int create)
{
	PGresult *r;
	int rc;

	if (!m)
		return VBX_EINVAL;
	if (!vbx_uuid_ok(m->team_id) || !vbx_uuid_ok(m->user_id))
		return create ? VBX_EINVAL : VBX_ENOTFOUND;
	rc = pgs_run(ud, create ? &stmt_member_add : &stmt_member_role,
	             PGS_ARGS(m->team_id, m->user_id, m->role), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		member_from_row(r, 0, m);
	PQclear(r);
	if (rc == VBX_ENOTFOUND && !create)
		rc = why_untouched(ud, m->team_id, m->user_id);
	return rc;
}

static int member_remove(void *ud, const char *team_id, const char *user_id)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(team_id) || !vbx_uuid_ok(user_id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_member_remove, PGS_ARGS(team_id, user_id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	if (rc == VBX_ENOTFOUND)
		rc = why_untouched(ud, team_id, user_id);
	return rc;
}

static int member_list(void *ud, const char *team_id, const vbx_page *page,
                       vbx_member_each_fn *each, void *ctx, int64_t *total)
{
	int64_t limit, offset;
	struct member_each e = {each, ctx};

	if (total)
		*total = 0;
	if (!vbx_uuid_ok(team_id))
		return VBX_OK;
	pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_member_list, &stmt_member_list_count,
	                    PGS_ARGS(team_id), limit, offset, total, member_row,
	                    &e);
}

int pgs_teams_register(pgs *s)
{
	vbx_plugin *p = s->self;
	const int mid = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_team_create_register(p, team_create, s, mid);

	if (rc == VBX_OK)
		rc = vbx_hook_store_team_get_register(p, team_get, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_team_update_register(p, team_update, s,
		                                         mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_team_delete_register(p, team_delete, s,
		                                         mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_team_list_register(p, team_list, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_member_set_register(p, member_set, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_member_get_register(p, member_get, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_member_remove_register(p, member_remove, s,
		                                           mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_member_list_register(p, member_list, s,
		                                         mid);
	return rc;
}
