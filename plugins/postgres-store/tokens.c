/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokens.c - the store_key_* (API keys) and store_refresh_* (refresh
 * tokens) hooks of postgres-store. Only hashes of the secrets are stored.
 */
#include <string.h>

#include "pg.h"

/* ---- API keys ---- */

#define KEY_COLS                                                               \
	"id, user_id, name, prefix, scopes, expires_at, last_used_at, "        \
	"created_at"

static const pgs_stmt stmt_key_create = {
        .name = "key_create",
        .sql = "INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes,"
               " expires_at) VALUES ($1::uuid, $2, $3, $4, $5::int,"
               " CASE WHEN $6::int8 = 0 THEN NULL"
               " ELSE to_timestamp($6::int8 / 1000.0) END)"
               " RETURNING " KEY_COLS};

/* Revoked keys never match; expiry is the caller's to check. */
static const pgs_stmt stmt_key_use = {
        .name = "key_use",
        .sql = "UPDATE api_keys SET last_used_at = now()"
               " WHERE key_hash = $1 AND revoked_at IS NULL"
               " RETURNING " KEY_COLS};

static const pgs_stmt stmt_key_list = {
        .name = "key_list",
        .sql = "SELECT " KEY_COLS " FROM api_keys"
               " WHERE user_id = $1::uuid AND revoked_at IS NULL"
               " ORDER BY created_at DESC, id DESC"};

static const pgs_stmt stmt_key_revoke = {
        .name = "key_revoke",
        .sql = "UPDATE api_keys SET revoked_at = now()"
               " WHERE user_id = $1::uuid AND id = $2::uuid"
               " AND revoked_at IS NULL"};

static void key_from_row(const PGresult *r, int row, vbx_api_key *k)
{
	PGS_COPY(k->id, r, row, 0);
	PGS_COPY(k->user_id, r, row, 1);
	PGS_COPY(k->name, r, row, 2);
	PGS_COPY(k->prefix, r, row, 3);
	k->scopes = (unsigned)pgs_int(r, row, 4);
	k->expires_at = pgs_ms(r, row, 5);
	k->last_used_at = pgs_ms(r, row, 6);
	k->created_at = pgs_ms(r, row, 7);
}

static int key_create(void *ud, vbx_api_key *k, const char *hash)
{
	char scopes[PGS_INT_LEN], expires[PGS_INT_LEN];
	PGresult *r;

	if (!hash)
		return VBX_EINVAL;
	pgs_fmt_int(scopes, k->scopes);
	pgs_fmt_int(expires, k->expires_at);
	int rc = pgs_run(
	        ud, &stmt_key_create,
	        PGS_ARGS(k->user_id, k->name, k->prefix, hash, scopes, expires),
	        &r);
	if (rc == VBX_OK)
		key_from_row(r, 0, k);
	PQclear(r);
	return rc;
}

static int key_use(void *ud, const char *hash, vbx_api_key *out)
{
	PGresult *r;

	if (!hash)
		return VBX_ENOTFOUND;
	int rc = pgs_run(ud, &stmt_key_use, PGS_ARGS(hash), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		key_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

struct key_each {
	vbx_api_key_each_fn *each;
	void *ctx;
};

static int key_row(void *arg, const PGresult *r, int row)
{
	const struct key_each *e = arg;
	vbx_api_key k;

	memset(&k, 0, sizeof(k));
	key_from_row(r, row, &k);
	return e->each ? e->each(e->ctx, &k) : VBX_OK;
}

/* Not paged: no total (the id column is never NULL, so no row is skipped). */
static int key_list(void *ud, const char *user_id, vbx_api_key_each_fn *each,
                    void *ctx)
{
	struct key_each e = {each, ctx};

	if (!vbx_uuid_ok(user_id))
		return VBX_OK; /* no such user: no keys */
	return pgs_run_list(ud, &stmt_key_list, PGS_ARGS(user_id), key_row, &e);
}

static int key_revoke(void *ud, const char *user_id, const char *id)
{
	PGresult *r;

	if (!vbx_uuid_ok(user_id) || !vbx_uuid_ok(id))
		return VBX_ENOTFOUND;
	int rc = pgs_run(ud, &stmt_key_revoke, PGS_ARGS(user_id, id), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

/* ---- refresh tokens ---- */

static const pgs_stmt stmt_refresh_create = {
        .name = "refresh_create",
        .sql = "INSERT INTO refresh_tokens (user_id, family_id, token_hash,"
               " expires_at) VALUES ($1::uuid, coalesce($2::uuid,"
               " gen_random_uuid()), $3, to_timestamp($4::int8 / 1000.0))"
               " RETURNING id, family_id"};

/* A token whose family has a revoked member is dead: revoke_family may
 * race with a rotation that adds a token to the family. */
#define FAMILY_LIVE                                                            \
	"NOT EXISTS (SELECT 1 FROM refresh_tokens f"                           \
	" WHERE f.family_id = t.family_id AND f.revoked_at IS NOT NULL)"

/*
 * One statement: mark the token used if it is live and unused. When the
 * UPDATE matches nothing, the second branch (which reads the snapshot from
 * before the UPDATE) tells a used token (EEXIST: a replay, or a concurrent
 * use that won) from a missing or revoked one (no row).
 */
static const pgs_stmt stmt_refresh_use = {
        .name = "refresh_use",
        .sql = "WITH hit AS (UPDATE refresh_tokens t SET used_at = now()"
               " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
               " AND t.used_at IS NULL AND " FAMILY_LIVE
               " RETURNING t.id, t.user_id, t.family_id, t.expires_at)"
               " SELECT id, user_id, family_id, expires_at, true FROM hit"
               " UNION ALL"
               " SELECT t.id, t.user_id, t.family_id, t.expires_at, false"
               " FROM refresh_tokens t WHERE t.token_hash = $1"
               " AND t.revoked_at IS NULL AND " FAMILY_LIVE
               " AND NOT EXISTS (SELECT 1 FROM hit)"};

static const pgs_stmt stmt_refresh_revoke = {
        .name = "refresh_revoke_family",
        .sql = "UPDATE refresh_tokens SET revoked_at = now()"
               " WHERE family_id = $1::uuid AND revoked_at IS NULL"};

/* Every live token of the user outside keep_family ($2, NULL for none);
 * FAMILY_LIVE then kills tokens a racing rotation adds to those families. */
static const pgs_stmt stmt_refresh_revoke_user = {
        .name = "refresh_revoke_user",
        .sql = "UPDATE refresh_tokens SET revoked_at = now()"
               " WHERE user_id = $1::uuid AND revoked_at IS NULL"
               " AND family_id IS DISTINCT FROM $2::uuid"};

/* A family is live while it has tokens and none of them was revoked. */
static const pgs_stmt stmt_refresh_family_live = {
        .name = "refresh_family_live",
        .sql = "SELECT 1 FROM refresh_tokens WHERE family_id = $1::uuid"
               " HAVING count(*) > 0 AND bool_and(revoked_at IS NULL)"};

static int refresh_create(void *ud, vbx_refresh *t, const char *hash)
{
	char expires[PGS_INT_LEN];
	PGresult *r;

	if (!hash)
		return VBX_EINVAL;
	pgs_fmt_int(expires, t->expires_at);
	int rc = pgs_run(ud, &stmt_refresh_create,
	                 PGS_ARGS(t->user_id, pgs_nullif_empty(t->family_id),
	                          hash, expires),
	                 &r);
	if (rc == VBX_OK) {
		PGS_COPY(t->id, r, 0, 0);
		PGS_COPY(t->family_id, r, 0, 1);
	}
	PQclear(r);
	return rc;
}

static int refresh_use(void *ud, const char *hash, vbx_refresh *out)
{
	PGresult *r;

	if (!hash)
		return VBX_ENOTFOUND;
	int rc = pgs_run(ud, &stmt_refresh_use, PGS_ARGS(hash), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK) {
		PGS_COPY(out->id, r, 0, 0);
		PGS_COPY(out->user_id, r, 0, 1);
		PGS_COPY(out->family_id, r, 0, 2);
		out->expires_at = pgs_ms(r, 0, 3);
		if (!pgs_bool(r, 0, 4))
			rc = VBX_EEXIST;
	}
	PQclear(r);
	return rc;
}

/* Idempotent: revoking a revoked or unknown family is VBX_OK. */
static int refresh_revoke_family(void *ud, const char *family_id)
{
	if (!vbx_uuid_ok(family_id))
		return VBX_OK;
	return pgs_run(ud, &stmt_refresh_revoke, PGS_ARGS(family_id), NULL);
}

/* Idempotent like refresh_revoke_family; a keep_family that is not a UUID
 * names no family, so every family goes. */
static int refresh_revoke_user(void *ud, const char *user_id,
                               const char *keep_family)
{
	if (!vbx_uuid_ok(user_id))
		return VBX_OK;
	const char *keep = vbx_uuid_ok(keep_family) ? keep_family : NULL;
	return pgs_run(ud, &stmt_refresh_revoke_user, PGS_ARGS(user_id, keep),
	               NULL);
}

static int refresh_family_live(void *ud, const char *family_id)
{
	PGresult *r;

	if (!vbx_uuid_ok(family_id))
		return VBX_ENOTFOUND;
	int rc =
	        pgs_run(ud, &stmt_refresh_family_live, PGS_ARGS(family_id), &r);
	rc = pgs_one_row(rc, r);
	PQclear(r);
	return rc;
}

int pgs_tokens_register(pgs *s)
{
	vbx_plugin *p = s->self;
	int prio = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_key_create_register(p, key_create, s, prio);

	if (rc == VBX_OK)
		rc = vbx_hook_store_key_use_register(p, key_use, s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_key_list_register(p, key_list, s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_key_revoke_register(p, key_revoke, s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_refresh_create_register(p, refresh_create,
		                                            s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_refresh_use_register(p, refresh_use, s,
		                                         prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_refresh_revoke_family_register(
		        p, refresh_revoke_family, s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_refresh_revoke_user_register(
		        p, refresh_revoke_user, s, prio);
	if (rc == VBX_OK)
		rc = vbx_hook_store_refresh_family_live_register(
		        p, refresh_family_live, s, prio);
	return rc;
}
