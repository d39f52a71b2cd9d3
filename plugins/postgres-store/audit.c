/* SPDX-License-Identifier: Apache-2.0 */
/*
 * audit.c - the store_audit_* hooks of postgres-store: an append-only log
 * of who did what.
 */
#include <string.h>

#include "pg.h"

#define AUDIT_COLS                                                             \
	"a.id, a.at, a.actor_id, a.action,"                                    \
	" a.target_type, a.target_id, a.client, a.detail"

static const pgs_stmt stmt_add = {
        .name = "audit_add",
        .sql = "INSERT INTO audit_log AS a (actor_id, action, target_type,"
               " target_id, client, detail) VALUES ($1::uuid, $2, $3, $4, $5, "
               "$6)"
               " RETURNING " AUDIT_COLS};

/* The whole log, newest first: the page and its total (pgs_run_page)
 * share the FROM. */
#define AUDIT_LIST_FROM " FROM audit_log a"

static const pgs_stmt stmt_list = {.name = "audit_list",
                                   .sql = "SELECT " AUDIT_COLS AUDIT_LIST_FROM
                                          " ORDER BY a.at DESC, a.id DESC"
                                          " LIMIT $1::int8 OFFSET $2::int8"};

static const pgs_stmt stmt_list_count = {
        .name = "audit_list_count", .sql = "SELECT count(*)" AUDIT_LIST_FROM};

static void audit_from_row(const PGresult *r, int row, vbx_audit *a)
{
	PGS_COPY(a->id, r, row, 0);
	a->at = pgs_ms(r, row, 1);
	PGS_COPY(a->actor_id, r, row, 2);
	PGS_COPY(a->action, r, row, 3);
	PGS_COPY(a->target_type, r, row, 4);
	PGS_COPY(a->target_id, r, row, 5);
	PGS_COPY(a->client, r, row, 6);
	PGS_COPY(a->detail, r, row, 7);
}

static int audit_add(void *ud, vbx_audit *a)
{
	PGresult *r;

	if (!a->action[0])
		return VBX_EINVAL;
	int rc = pgs_run(ud, &stmt_add,
	                 PGS_ARGS(pgs_nullif_empty(a->actor_id), a->action,
	                          a->target_type, a->target_id, a->client,
	                          a->detail),
	                 &r);
	if (rc == VBX_OK) {
		PGS_COPY(a->id, r, 0, 0);
		a->at = pgs_ms(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

struct audit_each {
	vbx_audit_each_fn *each;
	void *ctx;
};

static int audit_row(void *arg, const PGresult *r, int row)
{
	const struct audit_each *e = arg;
	vbx_audit a;

	memset(&a, 0, sizeof(a));
	audit_from_row(r, row, &a);
	return e->each ? e->each(e->ctx, &a) : VBX_OK;
}

static int audit_list(void *ud, const vbx_page *page, vbx_audit_each_fn *each,
                      void *ctx, int64_t *total)
{
	int64_t limit, offset;
	struct audit_each e = {each, ctx};

	pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_list, &stmt_list_count, 0, NULL, limit,
	                    offset, total, audit_row, &e);
}

int pgs_audit_register(pgs *s)
{
	int rc = vbx_hook_store_audit_add_register(s->self, audit_add, s,
	                                           VBX_PRIO_MIDDLE);

	if (rc == VBX_OK)
		rc = vbx_hook_store_audit_list_register(s->self, audit_list, s,
		                                        VBX_PRIO_MIDDLE);
	return rc;
}
