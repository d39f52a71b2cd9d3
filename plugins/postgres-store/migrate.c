/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate.c - bring the schema up to date at start.
 *
 * The migrations are the files migrations/NNN_name.sql, compiled into the
 * plugin by migrations.sh. Each pending one runs in its own transaction
 * together with its row in schema_migrations, so it is applied entirely or
 * not at all. A session advisory lock serialises daemons that start at
 * once against one database: the second waits, then finds nothing to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* The advisory lock key: "vbxm" as an integer. */
#define MIGRATE_LOCK_KEY "1986164845"

static const pgs_stmt stmt_no_timeout = {
        .name = "migrate_no_timeout",
        .sql = "SELECT set_config('statement_timeout', '0', false)"};

static const pgs_stmt stmt_lock = {.name = "migrate_lock",
                                   .sql = "SELECT pg_advisory_lock($1::int8)"};

static const pgs_stmt stmt_unlock = {
        .name = "migrate_unlock", .sql = "SELECT pg_advisory_unlock($1::int8)"};

static const pgs_stmt stmt_table = {
        .name = "migrate_table",
        .sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version integer PRIMARY KEY, name text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())"};

static const pgs_stmt stmt_applied = {
        .name = "migrate_applied",
        .sql = "SELECT version FROM schema_migrations"};

static const pgs_stmt stmt_record = {
        .name = "migrate_record",
        .sql = "INSERT INTO schema_migrations (version, name) VALUES ($1::int, "
               "$2)"};

static bool is_applied(const PGresult *applied, int version)
{
	for (int i = 0; i < PQntuples(applied); i++)
		if (pgs_int(applied, i, 0) == version)
			return true;
	return false;
}

static void warn_unknown(pgs *s, const PGresult *applied)
{
	for (int i = 0; i < PQntuples(applied); i++) {
		int64_t v = pgs_int(applied, i, 0);
		bool known = false;
		for (size_t m = 0; m < pgs_migrations_count; m++)
			known = known || pgs_migrations[m].version == v;
		if (!known)
			vbx_log_warn(
			        s->self,
			        "postgres: the database has migration %lld, "
			        "which this build does not know (was it "
			        "migrated by a newer vibeboxd?)",
			        (long long)v);
	}
}

/* The migration's SQL holds several statements: only the simple query
 * protocol runs those. It takes no parameters: nothing is spliced. */
static int run_script(pgs_conn *c, const pgs_migration *m)
{
	PGresult *r = PQexec(c->pg, m->sql);
	int rc = VBX_OK;
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *msg =
		        r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
		snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
		c->errmsg[strcspn(c->errmsg, "\n")] = '\0';
		rc = VBX_ERR;
		if (PQstatus(c->pg) != CONNECTION_OK)
			c->broken = true;
	}
	PQclear(r);
	return rc;
}

static int apply_one(pgs *s, pgs_conn *c, const pgs_migration *m)
{
	char version[PGS_INT_LEN];
	int rc = pgs_begin(c);

	pgs_fmt_int(version, m->version);
	if (rc == VBX_OK)
		rc = run_script(c, m);
	if (rc == VBX_OK)
		rc = pgs_query(c, &stmt_record, PGS_ARGS(version, m->name),
		               NULL);
	if (rc == VBX_OK)
		rc = pgs_commit(c);
	if (rc != VBX_OK) {
		vbx_log_error(s->self,
		              "postgres: migration %s failed: %s (fix the "
		              "database or the migration, then restart)",
		              m->name,
		              c->errmsg[0] ? c->errmsg : "unknown error");
		pgs_rollback(c);
		return rc == VBX_EUNAVAIL ? rc : VBX_ERR;
	}
	vbx_log_info(s->self, "postgres: applied migration %s", m->name);
	return VBX_OK;
}

static int apply_pending(pgs *s, pgs_conn *c)
{
	PGresult *applied;
	int rc = pgs_query(c, &stmt_table, 0, NULL, NULL);

	if (rc == VBX_OK)
		rc = pgs_query(c, &stmt_applied, 0, NULL, &applied);
	if (rc != VBX_OK) {
		vbx_log_error(s->self,
		              "postgres: cannot read schema_migrations: %s",
		              c->errmsg);
		return rc;
	}
	warn_unknown(s, applied);
	for (size_t i = 0; i < pgs_migrations_count && rc == VBX_OK; i++)
		if (!is_applied(applied, pgs_migrations[i].version))
			rc = apply_one(s, c, &pgs_migrations[i]);
	PQclear(applied);
	return rc;
}

int pgs_migrate(pgs *s)
{
	int rc;
	/* Migrations and waiting for another daemon's may take long. */
	pgs_conn *c = pgs_acquire_within(s, 0, &rc);

	if (!c)
		return rc;
	rc = pgs_query(c, &stmt_no_timeout, 0, NULL, NULL);
	if (rc == VBX_OK)
		rc = pgs_query(c, &stmt_lock, PGS_ARGS(MIGRATE_LOCK_KEY), NULL);
	if (rc == VBX_OK) {
		rc = apply_pending(s, c);
		pgs_query(c, &stmt_unlock, PGS_ARGS(MIGRATE_LOCK_KEY), NULL);
	} else {
		vbx_log_error(s->self,
		              "postgres: cannot lock for migrations: %s",
		              c->errmsg);
	}
	/* Drop this session: it holds no timeout and maybe the lock. */
	c->broken = true;
	pgs_release(s, c);
	return rc;
}
