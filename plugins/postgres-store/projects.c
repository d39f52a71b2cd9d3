/* SPDX-License-Identifier: Apache-2.0 */
/*
 * projects.c - the store_project_* hooks of postgres-store.
 *
 * A project belongs to a user or to a team, never both: the table's check
 * constraint decides (a violation is VBX_EINVAL), and a slug is unique per
 * owner (VBX_EEXIST), so no race between two creators can break either.
 */
#include <string.h>

#include "pg.h"

#define PROJECT_COLS                                                           \
	"p.id, p.name, p.slug, p.owner_id, p.team_id, p.created_at, "          \
	"p.updated_at"

static const pgs_stmt stmt_project_create = {
        .name = "project_create",
        .sql = "INSERT INTO projects AS p (name, slug, owner_id, team_id)"
               " VALUES ($1, $2, $3::uuid, $4::uuid) RETURNING " PROJECT_COLS};

static const pgs_stmt stmt_project_get = {
        .name = "project_get",
        .sql = "SELECT " PROJECT_COLS " FROM projects p WHERE p.id = $1::uuid"};

static const pgs_stmt stmt_project_update = {
        .name = "project_update",
        .sql = "UPDATE projects p SET name = $2, slug = $3,"
               " updated_at = greatest(now(), updated_at)"
               " WHERE p.id = $1::uuid RETURNING " PROJECT_COLS};

/* Its environments go with it (ON DELETE CASCADE). */
static const pgs_stmt stmt_project_delete = {
        .name = "project_delete",
        .sql = "DELETE FROM projects WHERE id = $1::uuid"};

/* $1 NULL: every project; else those $1 owns or whose team it is in. The
 * page and its total (pgs_run_page) share the filter. */
#define PROJECT_LIST_FROM                                                      \
	" FROM projects p WHERE $1::uuid IS NULL OR p.owner_id = $1::uuid"     \
	" OR p.team_id IN (SELECT tm.team_id FROM team_members tm"             \
	" WHERE tm.user_id = $1::uuid)"

static const pgs_stmt stmt_project_list = {
        .name = "project_list",
        .sql = "SELECT " PROJECT_COLS PROJECT_LIST_FROM
               " ORDER BY p.created_at, p.id"
               " LIMIT $2::int8 OFFSET $3::int8",
        .binary = true};

static const pgs_stmt stmt_project_list_count = {
        .name = "project_list_count",
        .sql = "SELECT count(*)" PROJECT_LIST_FROM};

static void project_from_row(const PGresult *r, int row, vbx_project *p)
{
	PGS_COPY(p->id, r, row, 0);
	PGS_COPY(p->name, r, row, 1);
	PGS_COPY(p->slug, r, row, 2);
	PGS_COPY(p->owner_id, r, row, 3);
	PGS_COPY(p->team_id, r, row, 4);
	p->created_at = pgs_ms(r, row, 5);
	p->updated_at = pgs_ms(r, row, 6);
}

/* An owner given but not a UUID can own nothing. */
static bool bad_owner(const char *id)
{
	return id[0] && !vbx_uuid_ok(id);
}

static int project_create(void *ud, vbx_project *p)
{
	PGresult *r;
	int rc;

	if (!p || bad_owner(p->owner_id) || bad_owner(p->team_id))
		return VBX_EINVAL;
	rc = pgs_run(ud, &stmt_project_create,
	             PGS_ARGS(p->name, p->slug, pgs_nullif_empty(p->owner_id),
	                      pgs_nullif_empty(p->team_id)),
	             &r);
	if (rc == VBX_OK)
		project_from_row(r, 0, p);
	PQclear(r);
	return rc;
}

static int project_get(void *ud, const char *id, vbx_project *out)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_project_get, PGS_ARGS(id), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		project_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int project_update(void *ud, vbx_project *p)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(p->id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_project_update,
	             PGS_ARGS(p->id, p->name, p->slug), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		project_from_row(r, 0, p);
	PQclear(r);
	return rc;
}

static int project_delete(void *ud, const char *id)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_project_delete, PGS_ARGS(id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

struct project_each {
	vbx_project_each_fn *each;
	void *ctx;
};

static int project_row(void *arg, const PGresult *r, int row)
{
	const struct project_each *e = arg;
	vbx_project p;

	memset(&p, 0, sizeof(p));
	project_from_row(r, row, &p);
	return e->each ? e->each(e->ctx, &p) : VBX_OK;
}

static int project_list(void *ud, const char *user_id, const vbx_page *page,
                        vbx_project_each_fn *each, void *ctx, int64_t *total)
{
	int64_t limit, offset;
	struct project_each e = {each, ctx};

	if (total)
		*total = 0;
	if (user_id && !vbx_uuid_ok(user_id))
		return VBX_OK; /* no such user owns anything */
	pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_project_list, &stmt_project_list_count,
	                    PGS_ARGS(user_id), limit, offset, total,
	                    project_row, &e);
}

int pgs_projects_register(pgs *s)
{
	vbx_plugin *p = s->self;
	const int mid = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_project_create_register(p, project_create, s,
	                                                mid);

	if (rc == VBX_OK)
		rc = vbx_hook_store_project_get_register(p, project_get, s,
		                                         mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_project_update_register(p, project_update,
		                                            s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_project_delete_register(p, project_delete,
		                                            s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_project_list_register(p, project_list, s,
		                                          mid);
	return rc;
}
