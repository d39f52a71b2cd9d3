/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envvars.c - the store_env_var_* and store_env_port_* hooks of
 * postgres-store: an environment's variables and published ports.
 *
 * A secret variable is sealed by crypto.c (AES-256-GCM under the current
 * key of secrets_key_file) before it leaves the process: the row holds the
 * ciphertext and the key's id, its value column is NULL. The associated
 * data is the environment id and the variable name, so the environment id
 * is always used in one spelling, lower case as PostgreSQL prints a UUID:
 * a caller that wrote it in upper case must still open what it sealed.
 *
 * Ciphertext is selected only when the caller asks to reveal, and the
 * plain text of a revealed secret is wiped from this file's buffers once
 * the caller has seen it.
 *
 * Setting a variable or adding a port of an environment that does not
 * exist answers VBX_ENOTFOUND (the foreign key says so): the environment
 * is the subject of those requests, not a value in them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "pg.h"

#define TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

/* The option an admin sets to allow secrets, for messages. */
#define KEY_OPTION "plugins.postgres-store.secrets_key_file"

/* ---- variables ---- */

/* $3: reveal; without it the ciphertext is not even sent. */
static const pgs_stmt stmt_var_get = {
        .name = "env_var_get",
        .sql = "SELECT key, value, secret, CASE WHEN $3::bool THEN ciphertext "
               "END,"
               " key_id, updated_at"
               " FROM environment_variables"
               " WHERE environment_id = $1::uuid AND key = $2"};

static const pgs_stmt stmt_var_list = {
        .name = "env_var_list",
        .sql = "SELECT key, value, secret, CASE WHEN $2::bool THEN ciphertext "
               "END,"
               " key_id, updated_at"
               " FROM environment_variables WHERE environment_id = $1::uuid"
               " ORDER BY key"};

/* $5 is the ciphertext, bound in binary. The table's check constraint
 * keeps a row either plain or secret, never both. */
static const pgs_stmt stmt_var_set = {
        .name = "env_var_set",
        .sql = "INSERT INTO environment_variables AS v"
               " (environment_id, key, value, secret, ciphertext, key_id)"
               " VALUES ($1::uuid, $2, $3, $4::bool, $5::bytea, $6)"
               " ON CONFLICT (environment_id, key) DO UPDATE SET"
               "  value = EXCLUDED.value, secret = EXCLUDED.secret,"
               "  ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id,"
               "  updated_at = greatest(now(), v.updated_at)"
               " RETURNING v.updated_at"};

static const pgs_stmt stmt_var_delete = {
        .name = "env_var_delete",
        .sql = "DELETE FROM environment_variables"
               " WHERE environment_id = $1::uuid AND key = $2"};

/* The lower-case spelling of a UUID (checked by the caller). */
static void id_canon(char out[VBX_ID_LEN], const char *id)
{
	for (int i = 0; i < VBX_ID_LEN - 1; i++)
		out[i] = id[i] >= 'A' && id[i] <= 'F' ? (char)(id[i] + 32)
		                                      : id[i];
	out[VBX_ID_LEN - 1] = '\0';
}

/* Say why a secret does not open; the caller gets VBX_ERR. */
static void reveal_failed(pgs *s, const char *env_id, const vbx_env_var *v,
                          const char *key_id, int rc)
{
	if (!s->crypto)
		vbx_log_error(s->self,
		              "postgres: secret variable %s of environment %s: "
		              "no secrets key is configured; set " KEY_OPTION
		              " to the key file it was sealed with",
		              v->key, env_id);
	else if (rc == VBX_ENOTFOUND)
		vbx_log_error(
		        s->self,
		        "postgres: secret variable %s of environment %s "
		        "was sealed with key %s, which is not in " KEY_OPTION
		        "; put that key back on a line below the current "
		        "one, or set the variable again",
		        v->key, env_id, key_id);
	else
		vbx_log_error(
		        s->self,
		        "postgres: secret variable %s of environment %s "
		        "does not open with key %s (%s): the stored value "
		        "was changed or moved; set it again",
		        v->key, env_id, key_id, vbx_strerror(s->self, rc));
}

/* Decrypt the ciphertext in column 3 of row into v->value. */
static int var_reveal(pgs *s, const char *env_id, const PGresult *r, int row,
                      vbx_env_var *v)
{
	const char *key_id = PQgetvalue(r, row, 4);
	size_t len = 0, plain_len = 0;
	char *plain = NULL;
	unsigned char *blob = PQunescapeBytea(
	        (const unsigned char *)PQgetvalue(r, row, 3), &len);
	int rc;

	if (!blob)
		return VBX_ENOMEM;
	rc = s->crypto ? pgs_secret_open(s->crypto, env_id, v->key, blob, len,
	                                 key_id, &plain)
	               : VBX_ENOTFOUND;
	PQfreemem(blob);
	if (plain)
		plain_len = strlen(plain);
	/* Only var_set seals, and it takes what fits: longer is foreign. */
	if (rc == VBX_OK && plain_len >= sizeof(v->value))
		rc = VBX_EINVAL;
	if (rc == VBX_OK)
		memcpy(v->value, plain, plain_len + 1);
	if (plain) {
		explicit_bzero(plain, plain_len);
		free(plain);
	}
	if (rc == VBX_OK || rc == VBX_ENOMEM)
		return rc;
	reveal_failed(s, env_id, v, key_id, rc);
	return VBX_ERR;
}

/* Fill v from row; a secret's value is "" unless its ciphertext was
 * selected (reveal), then it is decrypted. */
static int var_from_row(pgs *s, const char *env_id, const PGresult *r, int row,
                        vbx_env_var *v)
{
	PGS_COPY(v->key, r, row, 0);
	PGS_COPY(v->value, r, row, 1);
	v->secret = pgs_bool(r, row, 2);
	v->updated_at = pgs_ms(r, row, 5);
	if (!v->secret || PQgetisnull(r, row, 3))
		return VBX_OK;
	return var_reveal(s, env_id, r, row, v);
}

/* Write one row: value (plain) or blob (secret). */
static int var_write(pgs *s, const char *env_id, vbx_env_var *v,
                     const unsigned char *blob, size_t blob_len,
                     const char *key_id)
{
	const char *params[] = {env_id,
	                        v->key,
	                        blob ? NULL : v->value,
	                        blob ? "true" : "false",
	                        (const char *)blob,
	                        key_id};
	const int lengths[] = {0, 0, 0, 0, (int)blob_len, 0};
	const int formats[] = {0, 0, 0, 0, 1, 0};
	PGresult *r;
	int rc;
	pgs_conn *c = pgs_acquire(s, &rc);

	if (!c)
		return rc;
	rc = pgs_query_bin(c, &stmt_var_set, 6, params, lengths, formats, &r);
	if (rc == VBX_EINVAL && strcmp(c->sqlstate, "23503") == 0)
		rc = VBX_ENOTFOUND; /* no such environment */
	pgs_release(s, c);
	if (rc == VBX_OK)
		v->updated_at = pgs_ms(r, 0, 0);
	PQclear(r);
	return rc;
}

static int var_set_secret(pgs *s, const char *env_id, vbx_env_var *v)
{
	char key_id[PGS_KEY_ID_LEN];
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc;

	if (!s->crypto) {
		vbx_log_warn(
		        s->self,
		        "postgres: secret variable of environment %s "
		        "refused: no secrets key is configured; set " KEY_OPTION
		        " (one key per line, `openssl rand -hex 32`)",
		        env_id);
		return VBX_EINVAL;
	}
	rc = pgs_secret_seal(s->crypto, env_id, v->key, v->value, &blob, &len,
	                     key_id);
	if (rc != VBX_OK) {
		vbx_log_error(s->self,
		              "postgres: sealing a secret variable of "
		              "environment %s failed: %s",
		              env_id, vbx_strerror(s->self, rc));
		return rc == VBX_ENOMEM ? rc : VBX_ERR;
	}
	rc = var_write(s, env_id, v, blob, len, key_id);
	free(blob);
	return rc;
}

static int var_set(void *ud, const char *env_id, vbx_env_var *v)
{
	char id[VBX_ID_LEN];

	if (!v || !TERMINATED(v->key) || !TERMINATED(v->value))
		return VBX_EINVAL;
	if (!vbx_uuid_ok(env_id))
		return VBX_ENOTFOUND;
	id_canon(id, env_id);
	if (v->secret)
		return var_set_secret(ud, id, v);
	return var_write(ud, id, v, NULL, 0, NULL);
}

static int var_get(void *ud, const char *env_id, const char *key, int reveal,
                   vbx_env_var *out)
{
	char id[VBX_ID_LEN];
	PGresult *r;
	int rc;

	if (!out)
		return VBX_EINVAL;
	if (!vbx_uuid_ok(env_id) || !key)
		return VBX_ENOTFOUND;
	id_canon(id, env_id);
	rc = pgs_run(ud, &stmt_var_get,
	             PGS_ARGS(id, key, reveal ? "true" : "false"), &r);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK) {
		memset(out, 0, sizeof(*out));
		rc = var_from_row(ud, id, r, 0, out);
		if (rc != VBX_OK)
			explicit_bzero(out, sizeof(*out));
	}
	PQclear(r);
	return rc;
}

struct var_each {
	pgs *s;
	const char *env_id;
	vbx_env_var_each_fn *each;
	void *ctx;
};

/* A secret that does not open stops the list with VBX_ERR; the rows
 * before it have been passed. */
static int var_row(void *arg, const PGresult *r, int row)
{
	const struct var_each *e = arg;
	vbx_env_var v;
	int rc;

	memset(&v, 0, sizeof(v));
	rc = var_from_row(e->s, e->env_id, r, row, &v);
	if (rc == VBX_OK && e->each)
		rc = e->each(e->ctx, &v);
	explicit_bzero(&v, sizeof(v));
	return rc;
}

/* Variables by name; an unknown environment has none. */
static int var_list(void *ud, const char *env_id, int reveal,
                    vbx_env_var_each_fn *each, void *ctx)
{
	char id[VBX_ID_LEN];
	struct var_each e = {ud, id, each, ctx};

	if (!vbx_uuid_ok(env_id))
		return VBX_OK;
	id_canon(id, env_id);
	return pgs_run_list(ud, &stmt_var_list,
	                    PGS_ARGS(id, reveal ? "true" : "false"), var_row,
	                    &e);
}

static int var_delete(void *ud, const char *env_id, const char *key)
{
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(env_id) || !key)
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_var_delete, PGS_ARGS(env_id, key), &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

/* ---- ports ---- */

#define PORT_COLS "port, protocol, coalesce(host_port, 0), created_at"

static const pgs_stmt stmt_port_add = {
        .name = "env_port_add",
        .sql = "INSERT INTO environment_ports (environment_id, port, protocol)"
               " VALUES ($1::uuid, $2::int4, $3) RETURNING " PORT_COLS};

static const pgs_stmt stmt_port_remove = {
        .name = "env_port_remove",
        .sql = "DELETE FROM environment_ports"
               " WHERE environment_id = $1::uuid AND port = $2::int4"
               " AND protocol = $3"};

static const pgs_stmt stmt_port_list = {
        .name = "env_port_list",
        .sql = "SELECT " PORT_COLS " FROM environment_ports"
               " WHERE environment_id = $1::uuid"
               " ORDER BY port, protocol"};

/* host_port 0 is stored as NULL: not published. */
static const pgs_stmt stmt_port_set_host = {
        .name = "env_port_set_host",
        .sql = "UPDATE environment_ports SET host_port = nullif($4::int4, 0)"
               " WHERE environment_id = $1::uuid AND port = $2::int4"
               " AND protocol = $3"};

static void port_from_row(const PGresult *r, int row, vbx_env_port *p)
{
	p->port = (int)pgs_int(r, row, 0);
	PGS_COPY(p->protocol, r, row, 1);
	p->host_port = (int)pgs_int(r, row, 2);
	p->created_at = pgs_ms(r, row, 3);
}

/* NULL or "" is the default, tcp; the table refuses any other name. */
static const char *protocol_or_tcp(const char *protocol)
{
	return protocol && protocol[0] ? protocol : "tcp";
}

static int port_add(void *ud, const char *env_id, vbx_env_port *p)
{
	char port[PGS_INT_LEN];
	PGresult *r;
	int rc;
	pgs_conn *c;

	if (!p || !TERMINATED(p->protocol))
		return VBX_EINVAL;
	if (!vbx_uuid_ok(env_id))
		return VBX_ENOTFOUND;
	pgs_fmt_int(port, p->port);
	c = pgs_acquire(ud, &rc);
	if (!c)
		return rc;
	rc = pgs_query(c, &stmt_port_add,
	               PGS_ARGS(env_id, port, protocol_or_tcp(p->protocol)),
	               &r);
	if (rc == VBX_EINVAL && strcmp(c->sqlstate, "23503") == 0)
		rc = VBX_ENOTFOUND; /* no such environment */
	pgs_release(ud, c);
	rc = pgs_one_row(rc, r);
	if (rc == VBX_OK)
		port_from_row(r, 0, p);
	PQclear(r);
	return rc;
}

static int port_remove(void *ud, const char *env_id, int port,
                       const char *protocol)
{
	char num[PGS_INT_LEN];
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(env_id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_port_remove,
	             PGS_ARGS(env_id, pgs_fmt_int(num, port),
	                      protocol_or_tcp(protocol)),
	             &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

struct port_each {
	vbx_env_port_each_fn *each;
	void *ctx;
};

static int port_row(void *arg, const PGresult *r, int row)
{
	const struct port_each *e = arg;
	vbx_env_port p;

	memset(&p, 0, sizeof(p));
	port_from_row(r, row, &p);
	return e->each ? e->each(e->ctx, &p) : VBX_OK;
}

/* Ports by number; an unknown environment has none. */
static int port_list(void *ud, const char *env_id, vbx_env_port_each_fn *each,
                     void *ctx)
{
	struct port_each e = {each, ctx};

	if (!vbx_uuid_ok(env_id))
		return VBX_OK;
	return pgs_run_list(ud, &stmt_port_list, PGS_ARGS(env_id), port_row,
	                    &e);
}

static int port_set_host(void *ud, const char *env_id, int port,
                         const char *protocol, int host_port)
{
	char num[PGS_INT_LEN], host[PGS_INT_LEN];
	PGresult *r;
	int rc;

	if (!vbx_uuid_ok(env_id))
		return VBX_ENOTFOUND;
	rc = pgs_run(ud, &stmt_port_set_host,
	             PGS_ARGS(env_id, pgs_fmt_int(num, port),
	                      protocol_or_tcp(protocol),
	                      pgs_fmt_int(host, host_port)),
	             &r);
	rc = pgs_touched(rc, r);
	PQclear(r);
	return rc;
}

/* ---- registration ---- */

static int register_vars(pgs *s)
{
	vbx_plugin *p = s->self;
	const int mid = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_env_var_set_register(p, var_set, s, mid);

	if (rc == VBX_OK)
		rc = vbx_hook_store_env_var_get_register(p, var_get, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_var_list_register(p, var_list, s, mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_var_delete_register(p, var_delete, s,
		                                            mid);
	return rc;
}

static int register_ports(pgs *s)
{
	vbx_plugin *p = s->self;
	const int mid = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_store_env_port_add_register(p, port_add, s, mid);

	if (rc == VBX_OK)
		rc = vbx_hook_store_env_port_remove_register(p, port_remove, s,
		                                             mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_port_list_register(p, port_list, s,
		                                           mid);
	if (rc == VBX_OK)
		rc = vbx_hook_store_env_port_set_host_register(p, port_set_host,
		                                               s, mid);
	return rc;
}

int pgs_envvars_register(pgs *s)
{
	int rc = register_vars(s);

	return rc == VBX_OK ? register_ports(s) : rc;
}
