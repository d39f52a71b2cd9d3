/* SPDX-License-Identifier: Apache-2.0 */
/*
 * users.c - the store_user_* hooks of postgres-store.
 */
#include <string.h>

#include "pg.h"

/* The columns user_from_row() reads, from column `first` on. */
#define USER_COLS                                                              \
	"u.id, u.email, u.name, u.admin, u.disabled, u.created_at, "           \
	"u.updated_at"

/* Serialises user creation so that "the first user" is decided once. */
#define USERS_LOCK_KEY "8462170301" /* any constant unique in the plugin */

static const pgs_stmt stmt_lock = {
        .name = "user_lock", .sql = "SELECT pg_advisory_xact_lock($1::int8)"};

/*
 * The decision about the first user reads the table in the same statement
 * that inserts, after the lock: under READ COMMITTED the statement's
 * snapshot then includes every creation committed before ours.
 */
static const pgs_stmt stmt_create = {
        .name = "user_create",
        .sql = "INSERT INTO users AS u (email, name, password_hash, admin, "
               "disabled)"
               " SELECT lower($1), $2, coalesce($3, ''),"
               " $4::bool OR ($5::bool AND NOT EXISTS (SELECT 1 FROM users)),"
               " $6::bool RETURNING " USER_COLS};

static const pgs_stmt stmt_get = {.name = "user_get",
                                  .sql = "SELECT " USER_COLS
                                         " FROM users u WHERE u.id = $1::uuid"};

static const pgs_stmt stmt_by_email = {
        .name = "user_by_email",
        .sql = "SELECT " USER_COLS ", u.password_hash"
               " FROM users u WHERE u.email = lower($1)"};

static const pgs_stmt stmt_update = {
        .name = "user_update",
        .sql = "UPDATE users u SET email = lower($2), name = $3, admin = "
               "$4::bool,"
               " disabled = $5::bool, password_hash = coalesce($6, "
               "password_hash),"
               " updated_at = greatest(now(), updated_at)"
               " WHERE u.id = $1::uuid RETURNING " USER_COLS};

/* Every user: the page and its total (pgs_run_page) share the FROM. */
#define USER_LIST_FROM " FROM users u"

static const pgs_stmt stmt_list = {.name = "user_list",
                                   .sql = "SELECT " USER_COLS USER_LIST_FROM
                                          " ORDER BY u.created_at, u.id"
                                          " LIMIT $1::int8 OFFSET $2::int8"};

static const pgs_stmt stmt_list_count = {
        .name = "user_list_count", .sql = "SELECT count(*)" USER_LIST_FROM};

static void user_from_row(const PGresult *r, int row, vbx_user *u)
{
	PGS_COPY(u->id, r, row, 0);
	PGS_COPY(u->email, r, row, 1);
	PGS_COPY(u->name, r, row, 2);
	u->admin = pgs_bool(r, row, 3);
	u->disabled = pgs_bool(r, row, 4);
	u->created_at = pgs_ms(r, row, 5);
	u->updated_at = pgs_ms(r, row, 6);
}

static const char *bool_arg(bool b)
{
	return b ? "true" : "false";
}

static int user_create(void *ud, vbx_user *u, const char *password_hash,
                       int admin_if_first)
{
	pgs *s = ud;
	PGresult *r = NULL;
	int rc;
	pgs_conn *c = pgs_acquire(s, &rc);

	if (!c)
		return rc;
	rc = pgs_begin(c);
	if (rc == VBX_OK)
		rc = pgs_query(c, &stmt_lock, PGS_ARGS(USERS_LOCK_KEY), NULL);
	if (rc == VBX_OK)
		rc = pgs_query(c, &stmt_create,
		               PGS_ARGS(u->email, u->name, password_hash,
		                        bool_arg(u->admin),
		                        bool_arg(admin_if_first != 0),
		                        bool_arg(u->disabled)),
		               &r);
	if (rc == VBX_OK)
		rc = pgs_commit(c);
	if (rc == VBX_OK)
		user_from_row(r, 0, u);
	PQclear(r);
	pgs_release(s, c);
	return rc;
}

static int user_get(void *ud, const char *id, vbx_user *out)
{
	PGresult *r;

	if (!vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	int rc = pgs_run(ud, &stmt_get, PGS_ARGS(id), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		user_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int user_by_email(void *ud, const char *email, vbx_user *out, char *hash,
                         size_t hash_len)
{
	PGresult *r;

	if (!email)
		return VBX_EINVAL;
	int rc = pgs_run(ud, &stmt_by_email, PGS_ARGS(email), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK) {
		user_from_row(r, 0, out);
		if (hash && hash_len)
			pgs_copy(hash, hash_len, r, 0, 7);
	}
	PQclear(r);
	return rc;
}

static int user_update(void *ud, vbx_user *u, const char *password_hash)
{
	PGresult *r;

	if (!vbx_uuid_ok(u->id))
		return VBX_ENOTFOUND;
	int rc = pgs_run(ud, &stmt_update,
	                 PGS_ARGS(u->id, u->email, u->name, bool_arg(u->admin),
	                          bool_arg(u->disabled), password_hash),
	                 &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		user_from_row(r, 0, u);
	PQclear(r);
	return rc;
}

struct user_each {
	vbx_user_each_fn *each;
	void *ctx;
};

static int user_row(void *arg, const PGresult *r, int row)
{
	const struct user_each *e = arg;
	vbx_user u;

	memset(&u, 0, sizeof(u));
	user_from_row(r, row, &u);
	return e->each ? e->each(e->ctx, &u) : VBX_OK;
}

static int user_list(void *ud, const vbx_page *page, vbx_user_each_fn *each,
                     void *ctx, int64_t *total)
{
	int64_t limit, offset;
	struct user_each e = {each, ctx};

	pgs_page_args(page, &limit, &offset);
	return pgs_run_page(ud, &stmt_list, &stmt_list_count, 0, NULL, limit,
	                    offset, total, user_row, &e);
}

int pgs_users_register(pgs *s)
{
	vbx_plugin *p = s->self;
	int rc = vbx_hook_store_user_create_register(p, user_create, s,
	                                             VBX_PRIO_MIDDLE);

	if (rc == VBX_OK)
		rc = vbx_hook_store_user_get_register(p, user_get, s,
		                                      VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_store_user_by_email_register(p, user_by_email, s,
		                                           VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_store_user_update_register(p, user_update, s,
		                                         VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_store_user_list_register(p, user_list, s,
		                                       VBX_PRIO_MIDDLE);
	return rc;
}
