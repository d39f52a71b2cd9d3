/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pg.h - internals shared by the files of the postgres-store plugin.
 *
 * The plugin state `pgs` holds the config, a pool of libpq connections and
 * the plugin handle. A store hook is registered with the pgs as its ud and
 * does:
 *
 *     pgs *s = ud;
 *     int rc;
 *     pgs_conn *c = pgs_acquire(s, &rc);     // NULL + VBX_EUNAVAIL: db down
 *     if (!c)
 *             return rc;
 *     PGresult *r;
 *     rc = pgs_query(c, &stmt_team_get, PGS_ARGS(id), &r);
 *     if (rc == VBX_OK && PQntuples(r) == 0)
 *             rc = VBX_ENOTFOUND;
 *     else if (rc == VBX_OK)
 *             PGS_COPY(out->name, r, 0, 0);
 *     PQclear(r);                            // PQclear(NULL) is fine
 *     pgs_release(s, c);
 *     return rc;
 *
 * with the statement defined once, at file scope:
 *
 *     static const pgs_stmt stmt_team_get = {
 *             .name = "team_get",
 *             .sql = "SELECT name FROM teams WHERE id = $1"};
 *
 * Rules: parameters are always bound ($1...), never spliced into SQL; every
 * statement name is unique in the plugin (prefix it with the file's topic);
 * timestamps are selected as they are and read with pgs_ms(). Everything here
 * is thread-safe except that one pgs_conn is used by one thread between acquire
 * and release.
 */
#ifndef VBX_PGS_PG_H
#define VBX_PGS_PG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <vibebox/config.h>
#include <vibebox/hook.h>
#include <vibebox/log.h>
#include <vibebox/plugin.h>
#include <vibebox/store.h>
#include <vibebox/util.h> /* check ids with vbx_uuid_ok() before binding
                            * them to a ::uuid parameter */

/* ---- plugin state ---- */

typedef struct pgs pgs;

typedef struct pgs_config {
	char *conninfo; /* malloc'd; from config or the embedded cluster */
	bool embedded;  /* conninfo came from pgs_embedded_start() */
	int pool_size;  /* 1..256, default 8 */
	int64_t statement_timeout_ms; /* default 5s, enforced by the server */
	int64_t connect_timeout_ms;   /* default 5s */
	int64_t acquire_timeout_ms;   /* default 5s: the wait for a free slot */
	int64_t timeout_ms; /* default 5s: a whole call, acquire to release */
	char *secrets_key;  /* malloc'd secrets_key(_file) or NULL; wiped
	                     * and freed at fini; crypto.c reads it */
} pgs_config;

/* One pooled connection. Only the owner between acquire and release
 * touches it. */
typedef struct pgs_conn {
	struct pgs *s;       /* the owner, for logging */
	PGconn *pg;          /* NULL until first use or after a break */
	bool busy;           /* acquired (pool lock) */
	bool connecting;     /* busy, opening its connection (atomic) */
	bool broken;         /* drop and reopen on release/next acquire */
	bool in_tx;          /* between pgs_begin and commit/rollback */
	int64_t deadline;    /* of this call, CLOCK_MONOTONIC ns; 0: none */
	int64_t acquired_at; /* when acquire began, CLOCK_MONOTONIC ns */
	const char *op;      /* the acquiring handler's __func__ (metrics.c) */
	uint64_t generation; /* the pool's generation when it opened */
	const void **prepared; /* pgs_stmt pointers prepared on this pg */
	size_t nprepared, prepared_cap;
	/* The last error of pgs_query on this connection, for callers that
	 * need more than the VBX_* code (e.g. which constraint failed). */
	char sqlstate[6];
	char constraint[64];
	char errmsg[256];
} pgs_conn;

typedef struct pgs_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed; /* signalled on every release */
	pgs_conn *conns;      /* cfg.pool_size slots */
	int size;
	bool closing; /* before start, after stop: acquire fails (EUNAVAIL) */
	/* Bumped when a server goes away or turns read-only (a failover):
	 * a connection of an older generation is closed at its next
	 * acquire, for it leads to the old primary. */
	uint64_t generation;
	/* Why the last connection attempt failed ("" after one that
	 * worked), for the readiness check's detail. */
	char connect_error[256];
} pgs_pool;

/*
 * The servers of a conninfo with several hosts, one keyword/value array
 * each (its host, hostaddr and port, and every other option of the
 * conninfo), so that the pool can give each its own connect deadline.
 * count 0: one server, connect with the conninfo itself.
 */
typedef struct pgs_targets {
	int count;
	int64_t per_host_ms; /* the conninfo's connect_timeout; 0: absent */
	const char **keys;   /* shared by every server, NULL-terminated */
	const char ***vals;  /* vals[i]: server i's values, as keys */
	/* owned by the struct: */
	PQconninfoOption *opts; /* the parsed conninfo; values point here */
	const char **shared_vals;
	size_t nshared;
	const char *lists[3]; /* host, hostaddr, port as given */
	char ***owned;        /* owned[i][0..2]: server i's elements */
} pgs_targets;

struct pgs {
	vbx_plugin *self;
	pgs_config cfg;
	pgs_pool pool;
	void *crypto;   /* crypto.c's state, owned by it (NULL until set) */
	void *embedded; /* embedded.c's state, owned by it (NULL until set) */
	pgs_targets targets; /* set at start, when the conninfo is final */
};

/* ---- the pool (pool.c) ---- */

/* Set up pool->size empty slots; no connection is opened. VBX_OK or
 * VBX_ENOMEM. */
int pgs_pool_init(pgs *s);
/* Close every connection and free the slots (all must be released). */
void pgs_pool_fini(pgs *s);

/*
 * A connection for this thread, opened (or reopened after a break) on
 * demand, for one call that ends cfg.timeout_ms from now: waits at most
 * cfg.acquire_timeout_ms for a free slot and cfg.connect_timeout_ms to
 * connect, and every statement on it fails with VBX_EUNAVAIL (the
 * connection dropped) when its answer has not come by the deadline.
 * Returns NULL and sets *rc to VBX_EUNAVAIL when the database cannot be
 * reached, the pool stays exhausted or the plugin is stopping (logged).
 */
pgs_conn *pgs_acquire_op(pgs *s, int *rc, const char *op);
/* The same with a call deadline ms from now; 0: no deadline for the
 * statements (migrations, which may wait for another daemon's). */
pgs_conn *pgs_acquire_within_op(pgs *s, int64_t ms, int *rc, const char *op);
/* op names the caller for store_query_duration_seconds (metrics.c): the
 * handler's own name, which these macros pass. */
#define pgs_acquire(s, rc) pgs_acquire_op((s), (rc), __func__)
#define pgs_acquire_within(s, ms, rc)                                          \
	pgs_acquire_within_op((s), (ms), (rc), __func__)
/* Give c back. An open transaction is rolled back; a broken connection is
 * closed (reopened by a later acquire). c may be NULL. */
void pgs_release(pgs *s, pgs_conn *c);

/*
 * The server of c went away or is read-only (why: for the log): mark c
 * broken and, unless a newer generation already replaced it, bump the
 * pool's generation so that every idle connection, which leads to the
 * same server, is dropped at its next acquire. The next connections walk
 * the conninfo's host list (libpq). Logged once per generation.
 */
void pgs_pool_failover(pgs_conn *c, const char *why);
/* Copy the reason of the last failed connection attempt into buf ("" when
 * the last one worked). */
void pgs_pool_connect_error(pgs *s, char *buf, size_t len);

/* ---- statements (pool.c) ---- */

/* A named statement, prepared once per connection on first use. Define
 * as `static const` at file scope; its address identifies it. */
typedef struct pgs_stmt {
	const char *name; /* unique in the plugin, e.g. "user_get" */
	const char *sql;  /* $1... placeholders; types cast in SQL ($1::uuid) */
	/* Results in binary form (values.c): for hot statements whose
	 * columns are all text, uuid, timestamptz, int2/4/8 or bool. */
	bool binary;
} pgs_stmt;

/* PGS_ARGS(a, b, c) expands to `3, (const char *const[]){a, b, c}`: the
 * count and the text parameters of pgs_query. A NULL value binds SQL NULL. */
// clang-format off
#define PGS_ARGS(...)                                                          \
	(int)(sizeof((const char *const[]){__VA_ARGS__}) /                     \
	      sizeof(const char *)),                                           \
	(const char *const[]){__VA_ARGS__}
// clang-format on

/*
 * Run st with n text parameters (NULL entries are SQL NULL). On VBX_OK,
 * *res (when res is not NULL) is the result, which the caller PQclear()s;
 * otherwise *res is NULL. Errors:
 *   23505 unique violation                       VBX_EEXIST
 *   23503 23514 23502 and class 22 (bad data)    VBX_EINVAL
 *   57014 statement timeout                      VBX_ETIMEDOUT
 *   40001 40P01 serialization failure, deadlock  VBX_EAGAIN (retry)
 *   a broken connection (class 08, 57P01..03)    VBX_EUNAVAIL; failover
 *   25006 read-only transaction (a standby)      VBX_EUNAVAIL; failover
 *   no answer by the call's deadline             VBX_EUNAVAIL; c->broken
 *   anything else                                VBX_ERR (logged)
 * c->sqlstate, c->constraint and c->errmsg describe the last error.
 * "failover": c->broken, and pgs_pool_failover drops the idle connections.
 * Nothing is retried once sent: a write whose answer was lost (a COMMIT
 * cut by a failover) may or may not have been applied, and the caller
 * gets VBX_EUNAVAIL.
 */
int pgs_query(pgs_conn *c, const pgs_stmt *st, int n, const char *const *params,
              PGresult **res);

/* As pgs_query, with lengths and formats per parameter (1: binary, e.g. a
 * bytea); either array may be NULL for all-text. */
int pgs_query_bin(pgs_conn *c, const pgs_stmt *st, int n,
                  const char *const *params, const int *lengths,
                  const int *formats, PGresult **res);

/*
 * Acquire a connection, run st as pgs_query, release: the whole body of a
 * hook that needs one statement. On VBX_OK the caller PQclear()s *res;
 * call list callbacks only after this returns, so that a callback that
 * runs another store hook does not hold two connections.
 */
int pgs_run_op(const char *op, pgs *s, const pgs_stmt *st, int n,
               const char *const *params, PGresult **res);
#define pgs_run(...) pgs_run_op(__func__, __VA_ARGS__)

/* Per row of a list: copy row `row` of r into a zeroed item of the hook's
 * type and pass it to the hook's callback; arg is the caller's. */
typedef int pgs_row_fn(void *arg, const PGresult *r, int row);

/*
 * Run a list statement that is not paged as pgs_run and call row for each
 * row, stopping at the first that does not return VBX_OK (that is the
 * return). Paged lists use pgs_run_page.
 */
int pgs_run_list_op(const char *op, pgs *s, const pgs_stmt *st, int n,
                    const char *const *params, pgs_row_fn *row, void *arg);
#define pgs_run_list(...) pgs_run_list_op(__func__, __VA_ARGS__)

/* The most filter parameters of a paged list, and pgs_run_page's limit for
 * every row (no LIMIT, hence never a count). */
#define PGS_PAGE_MAX_PARAMS 8
#define PGS_NO_LIMIT (-1)

/*
 * Run a paged list: one page of rows and, when total is not NULL, the
 * number of rows of the whole list. A paged list is two statements with
 * the same filter, taking the same n parameters $1..$n:
 *
 *   list   SELECT <cols> <filter> ORDER BY ... LIMIT $n+1 OFFSET $n+2
 *   count  SELECT count(*) <filter>
 *
 * Both run on one connection. list is asked for limit + 1 rows: when
 * fewer come back the page ends the list and the total is offset plus the
 * rows, without count (an empty page only at offset 0); count runs only
 * for a full page with more behind it or an empty page past the start.
 * At most limit rows go to row, after the connection is released, stopping
 * at the first that does not return VBX_OK (that is the return).
 *
 * limit PGS_NO_LIMIT: every row from offset. *total is written only when
 * the statements succeed (a callback may still fail after). Errors are
 * those of pgs_query, or VBX_EINVAL for n above PGS_PAGE_MAX_PARAMS or a
 * negative limit other than PGS_NO_LIMIT. The rows are valid during the
 * call of row only; nothing is left for the caller to free.
 */
int pgs_run_page_op(const char *op, pgs *s, const pgs_stmt *list,
                    const pgs_stmt *count, int n, const char *const *params,
                    int64_t limit, int64_t offset, int64_t *total,
                    pgs_row_fn *row, void *arg);
#define pgs_run_page(...) pgs_run_page_op(__func__, __VA_ARGS__)

/* The rc of a statement that returns the row it touched: VBX_ENOTFOUND
 * when it ran and returned none, else rc. */
int pgs_one_row(int rc, const PGresult *r);
/* The rc of a DELETE or UPDATE without RETURNING: VBX_ENOTFOUND when it
 * ran and touched no row, else rc. */
int pgs_touched(int rc, const PGresult *r);

/* Transactions on c: BEGIN (READ COMMITTED), COMMIT, ROLLBACK. Each returns
 * VBX_OK or an error as pgs_query. A commit that fails rolls back. */
int pgs_begin(pgs_conn *c);
int pgs_commit(pgs_conn *c);
int pgs_rollback(pgs_conn *c);

/* ---- reading and writing values ---- */

/* Copy column col of row into dst (len bytes), NUL-terminated, cut to fit
 * at a UTF-8 character boundary; "" for NULL. Returns the full length. */
size_t pgs_copy(char *dst, size_t len, const PGresult *r, int row, int col);
/* The same for a char array: PGS_COPY(u->email, r, 0, 1). */
#define PGS_COPY(arr, r, row, col)                                             \
	pgs_copy((arr), sizeof(arr), (r), (row), (col))

/* The readers of values.c take text and binary results alike. */

/* A timestamptz column as Unix ms; 0 for NULL or a value that is not a
 * time of years 0000..9999 ("infinity"). */
int64_t pgs_ms(const PGresult *r, int row, int col);
/* Parse PostgreSQL's ISO output of a timestamptz,
 * "2026-11-27 15:52:15.565123+00" (fraction optional, offset +HH[:MM[:SS]]),
 * into Unix ms rounded half away from zero. VBX_OK or VBX_EINVAL. */
int pgs_parse_timestamp(const char *s, int64_t *ms);
/* An int8 column; 0 for NULL. */
int64_t pgs_int(const PGresult *r, int row, int col);
/* A boolean column; false for NULL. */
bool pgs_bool(const PGresult *r, int row, int col);

/* Text of v for a parameter: buf must hold PGS_INT_LEN bytes. Returns buf.
 * Bind a Unix ms time as `to_timestamp($1::int8 / 1000.0)`. */
#define PGS_INT_LEN 24
const char *pgs_fmt_int(char buf[PGS_INT_LEN], int64_t v);
/* NULL when s is NULL or "", else s: optional uuid/text parameters. */
const char *pgs_nullif_empty(const char *s);
/* Clamp a page to page >= 1, limit 1..100 (below 1, or page NULL: 20), and
 * give its limit and offset for pgs_run_page. */
void pgs_page_args(const vbx_page *page, int64_t *limit, int64_t *offset);

/* ---- metrics (metrics.c) ---- */

/* Declare the plugin's families and resolve every series; the pool's
 * gauge reads s at scrape time until pgs_metrics_fini(s). VBX_OK, or
 * VBX_ERR when the registry refused a family (it logged why). */
int pgs_metrics_init(pgs *s);
void pgs_metrics_fini(pgs *s);
/* A store hook named by its handler fn (__func__) held a connection
 * since since_ns (CLOCK_MONOTONIC). Lock-free; reads no clock when metrics
 * are off; a name that is no hook is not counted. */
void pgs_metrics_observe(const char *fn, int64_t since_ns);

/* ---- failover (failover.c) ---- */

/* What a conninfo says about its servers. */
typedef struct pgs_hosts {
	int count;       /* servers in the host list, >= 1 */
	bool read_write; /* target_session_attrs read-write or primary */
	char attrs[32];  /* target_session_attrs as given; "" when absent */
} pgs_hosts;

/*
 * Read the host list of conninfo (key=value, URI, or a bare database
 * name: one host) with libpq's parser, without connecting. VBX_OK;
 * VBX_EINVAL with err (len bytes) saying why when libpq refuses it or its
 * host, hostaddr and port lists do not match; VBX_ENOMEM.
 */
int pgs_hosts_parse(const char *conninfo, pgs_hosts *out, char *err,
                    size_t len);

typedef enum pgs_state_kind {
	PGS_STATE_OTHER,    /* an error of the statement, not of the server */
	PGS_STATE_GONE,     /* the link or the server is going away */
	PGS_STATE_READ_ONLY /* the server takes no writes (a standby) */
} pgs_state_kind;

/* What a SQLSTATE ("57P01"; NULL or "" is OTHER) says about the server. */
pgs_state_kind pgs_state_kind_of(const char *sqlstate);

/* Fill t (pg.h's plugin state) from conninfo (count 0 for one server or
 * a conninfo libpq refuses). VBX_OK or VBX_ENOMEM (t empty). Free with
 * pgs_targets_free. */
int pgs_targets_make(const char *conninfo, pgs_targets *t);
void pgs_targets_free(pgs_targets *t);

/* ---- migrations (migrate.c; the array is generated from migrations/) ---- */

/* migrations.sh writes this struct too: change both together. */
typedef struct pgs_migration {
	int version;      /* NNN of migrations/NNN_name.sql */
	const char *name; /* the file name, e.g. "001_init.sql" */
	const char *sql;
} pgs_migration;

extern const pgs_migration pgs_migrations[];
extern const size_t pgs_migrations_count;

/* Apply the pending migrations under an advisory lock. VBX_OK, or an
 * error after logging which file failed and why. */
int pgs_migrate(pgs *s);

/* ---- hook registration, one function per file (called by plugin.c init) */

int pgs_users_register(pgs *s);    /* users.c: store_user_* */
int pgs_tokens_register(pgs *s);   /* tokens.c: store_key_*, store_refresh_* */
int pgs_audit_register(pgs *s);    /* audit.c: store_audit_* */
int pgs_teams_register(pgs *s);    /* teams.c: store_team_*, store_member_* */
int pgs_projects_register(pgs *s); /* projects.c: store_project_* */
int pgs_dump_register(pgs *s);     /* dump.c: store_dump, store_restore */
int pgs_envs_register(pgs *s);     /* envs.c: store_env_* */
int pgs_envvars_register(pgs *s);  /* envvars.c: store_env_var_*, _port_* */

#endif
