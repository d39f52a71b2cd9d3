/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.c - the connection pool and the query helper of postgres-store.
 *
 * Connections open lazily, on the first acquire that finds an empty slot.
 * A connection that breaks (a server restart, a network cut) is closed on
 * release and reopened by a later acquire, so the daemon recovers from a
 * database restart by itself. Each connection prepares a statement the
 * first time it runs it and remembers that it did.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"

/* ---- connecting ---- */

static void conn_close(pgs_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->nprepared = 0;
	c->broken = false;
	c->in_tx = false;
}

/* Apply the session settings every connection needs: the statement
 * timeout, and the timestamp text that pgs_ms reads, whatever the server's
 * defaults. */
static int conn_setup(pgs *s, pgs_conn *c)
{
	static const pgs_stmt set_timeout = {
	        .name = "pool_set_timeout",
	        .sql = "SELECT set_config('statement_timeout', $1, false),"
	               " set_config('DateStyle', 'ISO, YMD', false),"
	               " set_config('TimeZone', 'UTC', false)"};
	char ms[PGS_INT_LEN];

	pgs_fmt_int(ms, s->cfg.statement_timeout_ms);
	return pgs_query(c, &set_timeout, PGS_ARGS(ms), NULL);
}

/* libpq's messages end in newlines and may span lines: make one line. */
static void one_line(char *dst, size_t len, const char *msg)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < len; p++) {
		bool space = *p == '\n' || *p == '\t' || *p == ' ';
		if (space && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = space ? ' ' : *p;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	if (len)
		dst[n] = '\0';
}

/* Server notices (NOTICE, and the FATAL of a restart read while idle) go
 * to the debug log, not to stderr. */
static void notice(void *arg, const char *msg)
{
	pgs_conn *c = arg;
	char line[512];

	one_line(line, sizeof(line), msg);
	vbx_log_debug(c->s->self, "postgres: %s", line);
}

static int conn_open(pgs *s, pgs_conn *c)
{
	char timeout[PGS_INT_LEN];
	int64_t secs = (s->cfg.connect_timeout_ms + 999) / 1000;

	/* libpq's connect_timeout is whole seconds, at least 2. */
	pgs_fmt_int(timeout, secs < 2 ? 2 : secs);
	/* The conninfo comes last so that its own settings win. */
	const char *const keys[] = {"connect_timeout", "application_name",
	                            "dbname", NULL};
	const char *const vals[] = {timeout, "vibeboxd", s->cfg.conninfo, NULL};

	c->pg = PQconnectdbParams(keys, vals, 1);
	if (!c->pg) {
		vbx_log_error(s->self, "postgres: out of memory connecting");
		return VBX_EUNAVAIL;
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		one_line(c->errmsg, sizeof(c->errmsg), PQerrorMessage(c->pg));
		vbx_log_warn(s->self,
		             "postgres: cannot connect: %s (check conninfo and "
		             "that the server is up)",
		             c->errmsg);
		conn_close(c);
		return VBX_EUNAVAIL;
	}
	PQsetNoticeProcessor(c->pg, notice, c);
	int rc = conn_setup(s, c);
	if (rc != VBX_OK) {
		conn_close(c);
		return VBX_EUNAVAIL;
	}
	return VBX_OK;
}

/*
 * An idle connection the server has closed (a restart sends a FATAL
 * "terminating connection" first, then closes) reads as broken only once
 * its input is consumed up to the end of file; do that before use, so that
 * the caller gets a fresh connection instead of an error.
 */
static bool conn_alive(pgs_conn *c)
{
	if (!c->pg || c->broken)
		return false;
	for (int i = 0; i < 4; i++) {
		struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
		if (pfd.fd < 0 || PQstatus(c->pg) != CONNECTION_OK)
			return false;
		if (poll(&pfd, 1, 0) <= 0)
			break; /* nothing to read: as good as we can tell */
		if (!PQconsumeInput(c->pg))
			return false;
	}
	return PQstatus(c->pg) == CONNECTION_OK &&
	       PQtransactionStatus(c->pg) == PQTRANS_IDLE;
}

/* ---- the pool ---- */

int pgs_pool_init(pgs *s)
{
	pgs_pool *p = &s->pool;
	pthread_condattr_t attr;

	p->size = s->cfg.pool_size;
	p->closing = false;
	p->conns = calloc((size_t)p->size, sizeof(*p->conns));
	if (!p->conns)
		return VBX_ENOMEM;
	for (int i = 0; i < p->size; i++)
		p->conns[i].s = s;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->freed, &attr);
	pthread_condattr_destroy(&attr);
	return VBX_OK;
}

void pgs_pool_fini(pgs *s)
{
	pgs_pool *p = &s->pool;

	if (!p->conns)
		return;
	for (int i = 0; i < p->size; i++) {
		conn_close(&p->conns[i]);
		free(p->conns[i].prepared);
	}
	free(p->conns);
	p->conns = NULL;
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
}

/* A free slot, an open one if any; NULL when all are busy. Under lock. */
static pgs_conn *pool_take(pgs_pool *p)
{
	pgs_conn *empty = NULL;

	for (int i = 0; i < p->size; i++) {
		pgs_conn *c = &p->conns[i];
		if (c->busy)
			continue;
		if (c->pg) {
			c->busy = true;
			return c;
		}
		if (!empty)
			empty = c;
	}
	if (empty)
		empty->busy = true;
	return empty;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait for a free slot until the deadline. Under lock. */
static pgs_conn *pool_wait(pgs *s)
{
	pgs_pool *p = &s->pool;
	struct timespec deadline;
	pgs_conn *c;

	deadline_after(&deadline, s->cfg.connect_timeout_ms);
	while (!p->closing && !(c = pool_take(p))) {
		if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) ==
		    ETIMEDOUT) {
			c = p->closing ? NULL : pool_take(p);
			break;
		}
	}
	return p->closing ? NULL : c;
}

static void pool_put(pgs *s, pgs_conn *c)
{
	pthread_mutex_lock(&s->pool.lock);
	c->busy = false;
	pthread_cond_signal(&s->pool.freed);
	pthread_mutex_unlock(&s->pool.lock);
}

pgs_conn *pgs_acquire(pgs *s, int *rc)
{
	pthread_mutex_lock(&s->pool.lock);
	bool closing = s->pool.closing;
	pgs_conn *c = pool_wait(s);
	pthread_mutex_unlock(&s->pool.lock);

	if (!c) {
		if (!closing)
			vbx_log_warn(s->self,
			             "postgres: all %d connections stayed busy "
			             "for %lld ms (raise `pool`)",
			             s->pool.size,
			             (long long)s->cfg.connect_timeout_ms);
		*rc = VBX_EUNAVAIL;
		return NULL;
	}
	if (c->pg && !conn_alive(c))
		conn_close(c);
	if (!c->pg && conn_open(s, c) != VBX_OK) {
		pool_put(s, c);
		*rc = VBX_EUNAVAIL;
		return NULL;
	}
	*rc = VBX_OK;
	return c;
}

void pgs_release(pgs *s, pgs_conn *c)
{
	if (!c)
		return;
	if (c->pg && !c->broken &&
	    (c->in_tx || PQtransactionStatus(c->pg) != PQTRANS_IDLE))
		pgs_rollback(c);
	if (c->broken || (c->pg && PQstatus(c->pg) != CONNECTION_OK))
		conn_close(c);
	pool_put(s, c);
}

/* ---- statements ---- */

static bool conn_prepared(const pgs_conn *c, const pgs_stmt *st)
{
	for (size_t i = 0; i < c->nprepared; i++)
		if (c->prepared[i] == st)
			return true;
	return false;
}

static int conn_remember(pgs_conn *c, const pgs_stmt *st)
{
	if (c->nprepared == c->prepared_cap) {
		size_t cap = c->prepared_cap ? 2 * c->prepared_cap : 32;
		const void **n = realloc(c->prepared, cap * sizeof(*n));
		if (!n)
			return VBX_ENOMEM;
		c->prepared = n;
		c->prepared_cap = cap;
	}
	c->prepared[c->nprepared++] = st;
	return VBX_OK;
}

static void copy_field(char *dst, size_t len, const PGresult *r, int field)
{
	const char *v = r ? PQresultErrorField(r, field) : NULL;
	snprintf(dst, len, "%s", v ? v : "");
}

/* Is this SQLSTATE the server or the link going away? */
static bool state_is_disconnect(const char *st)
{
	return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
	       strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0;
}

/* 0A000 on a prepared statement is "cached plan must not change result
 * type": another daemon migrated the schema under us. A fresh session
 * prepares the statements again. */
static bool state_needs_new_session(const char *st)
{
	return strcmp(st, "0A000") == 0;
}

static int state_to_rc(const char *st)
{
	if (strcmp(st, "23505") == 0)
		return VBX_EEXIST;
	if (strcmp(st, "23503") == 0 || strcmp(st, "23514") == 0 ||
	    strcmp(st, "23502") == 0 || strncmp(st, "22", 2) == 0)
		return VBX_EINVAL;
	if (strcmp(st, "57014") == 0)
		return VBX_ETIMEDOUT;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return VBX_EAGAIN;
	return VBX_ERR;
}

/* Record the error of r (NULL: out of memory or no link) on c and map it. */
static int conn_error(pgs_conn *c, const pgs_stmt *st, const PGresult *r)
{
	copy_field(c->sqlstate, sizeof(c->sqlstate), r, PG_DIAG_SQLSTATE);
	copy_field(c->constraint, sizeof(c->constraint), r,
	           PG_DIAG_CONSTRAINT_NAME);
	one_line(c->errmsg, sizeof(c->errmsg),
	         r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));

	int rc = c->sqlstate[0] ? state_to_rc(c->sqlstate) : VBX_EUNAVAIL;
	if (PQstatus(c->pg) != CONNECTION_OK ||
	    (c->sqlstate[0] && state_is_disconnect(c->sqlstate))) {
		c->broken = true;
		rc = VBX_EUNAVAIL;
	}
	if (c->sqlstate[0] && state_needs_new_session(c->sqlstate))
		c->broken = true;
	if (rc == VBX_EEXIST || rc == VBX_EINVAL)
		vbx_log_debug(c->s->self, "postgres: %s: %s (%s)", st->name,
		              c->errmsg, c->sqlstate);
	else if (rc == VBX_EUNAVAIL)
		vbx_log_warn(c->s->self,
		             "postgres: %s: lost the connection: %s", st->name,
		             c->errmsg);
	else
		vbx_log_error(c->s->self,
		              "postgres: %s failed: %s (SQLSTATE %s)", st->name,
		              c->errmsg, c->sqlstate[0] ? c->sqlstate : "none");
	return rc;
}

static int conn_prepare(pgs_conn *c, const pgs_stmt *st)
{
	PGresult *r = PQprepare(c->pg, st->name, st->sql, 0, NULL);
	int rc = VBX_OK;

	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = conn_error(c, st, r);
	else
		rc = conn_remember(c, st);
	PQclear(r);
	return rc;
}

int pgs_query_bin(pgs_conn *c, const pgs_stmt *st, int n,
                  const char *const *params, const int *lengths,
                  const int *formats, PGresult **res)
{
	if (res)
		*res = NULL;
	c->sqlstate[0] = c->constraint[0] = c->errmsg[0] = '\0';
	if (!c->pg || c->broken)
		return VBX_EUNAVAIL;
	if (!conn_prepared(c, st)) {
		int rc = conn_prepare(c, st);
		if (rc != VBX_OK)
			return rc;
	}

	PGresult *r = PQexecPrepared(c->pg, st->name, n, params, lengths,
	                             formats, st->binary);
	ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		int rc = conn_error(c, st, r);
		PQclear(r);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return VBX_OK;
}

int pgs_query(pgs_conn *c, const pgs_stmt *st, int n, const char *const *params,
              PGresult **res)
{
	return pgs_query_bin(c, st, n, params, NULL, NULL, res);
}

/* ---- transactions ---- */

static int conn_simple(pgs_conn *c, const pgs_stmt *st)
{
	return pgs_query(c, st, 0, NULL, NULL);
}

int pgs_begin(pgs_conn *c)
{
	static const pgs_stmt begin = {.name = "pool_begin", .sql = "BEGIN"};
	int rc = conn_simple(c, &begin);

	c->in_tx = rc == VBX_OK;
	return rc;
}

int pgs_commit(pgs_conn *c)
{
	static const pgs_stmt commit = {.name = "pool_commit", .sql = "COMMIT"};
	bool failed_tx = c->pg && PQtransactionStatus(c->pg) == PQTRANS_INERROR;
	int rc = conn_simple(c, &commit);

	c->in_tx = false;
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
	if (rc == VBX_OK && failed_tx)
		return VBX_ERR;
	return rc;
}

int pgs_rollback(pgs_conn *c)
{
	static const pgs_stmt rollback = {.name = "pool_rollback",
	                                  .sql = "ROLLBACK"};
	int rc = conn_simple(c, &rollback);

	c->in_tx = false;
	if (rc != VBX_OK)
		c->broken = true;
	return rc;
}

/* ---- values ---- */

const char *pgs_fmt_int(char buf[PGS_INT_LEN], int64_t v)
{
	snprintf(buf, PGS_INT_LEN, "%lld", (long long)v);
	return buf;
}

const char *pgs_nullif_empty(const char *s)
{
	return s && s[0] ? s : NULL;
}

void pgs_page_args(const vbx_page *page, int64_t *limit, int64_t *offset)
{
	int64_t n = page ? page->limit : 0, p = page ? page->page : 1;

	if (n < 1)
		n = 20;
	if (n > 100)
		n = 100;
	if (p < 1)
		p = 1;
	*limit = n;
	*offset = (p - 1) * n;
}

int pgs_run(pgs *s, const pgs_stmt *st, int n, const char *const *params,
            PGresult **res)
{
	int rc;
	pgs_conn *c = pgs_acquire(s, &rc);

	if (res)
		*res = NULL;
	if (!c)
		return rc;
	rc = pgs_query(c, st, n, params, res);
	pgs_release(s, c);
	return rc;
}

/* Hand rows [0, rows) of r to row, stopping at the first error. */
static int rows_each(const PGresult *r, int rows, pgs_row_fn *row, void *arg)
{
	int rc = VBX_OK;

	for (int i = 0; i < rows && rc == VBX_OK; i++)
		rc = row(arg, r, i);
	return rc;
}

int pgs_run_list(pgs *s, const pgs_stmt *st, int n, const char *const *params,
                 pgs_row_fn *row, void *arg)
{
	PGresult *r;
	int rc = pgs_run(s, st, n, params, &r);

	if (rc != VBX_OK)
		return rc;
	rc = rows_each(r, PQntuples(r), row, arg);
	PQclear(r);
	return rc;
}

/* Run a page's list statement: the n filter parameters, then LIMIT (one
 * row more than the page, to learn whether more follow) and OFFSET. */
static int page_rows(pgs_conn *c, const pgs_stmt *list, int n,
                     const char *const *params, int64_t limit, int64_t offset,
                     PGresult **res)
{
	const char *all[PGS_PAGE_MAX_PARAMS + 2];
	char lim[PGS_INT_LEN], off[PGS_INT_LEN];

	for (int i = 0; i < n; i++)
		all[i] = params[i];
	all[n] = limit == PGS_NO_LIMIT ? NULL : pgs_fmt_int(lim, limit + 1);
	all[n + 1] = pgs_fmt_int(off, offset);
	return pgs_query(c, list, n + 2, all, res);
}

/*
 * The total of a page that did not end the list, from count. The page and
 * the count are two statements, two snapshots under READ COMMITTED: a
 * write committed between them shows in the total and not in the page,
 * exactly as between two page requests of a client, which no total can
 * prevent. One snapshot for both would need a REPEATABLE READ
 * transaction begun before the page, that is a BEGIN and a COMMIT on
 * every list (whether it needs a count is known only after the page),
 * the round trips the skipped count saves. The total is never below what
 * the page itself proved to exist.
 */
static int page_count(pgs_conn *c, const pgs_stmt *count, int n,
                      const char *const *params, int64_t seen, int64_t *total)
{
	PGresult *r;
	int rc = pgs_query(c, count, n, params, &r);

	if (rc == VBX_OK) {
		int64_t all = PQntuples(r) == 1 ? pgs_int(r, 0, 0) : 0;
		*total = all > seen ? all : seen;
	}
	PQclear(r);
	return rc;
}

int pgs_run_page(pgs *s, const pgs_stmt *list, const pgs_stmt *count, int n,
                 const char *const *params, int64_t limit, int64_t offset,
                 int64_t *total, pgs_row_fn *row, void *arg)
{
	PGresult *r;
	int rc;

	if (n < 0 || n > PGS_PAGE_MAX_PARAMS || limit < PGS_NO_LIMIT)
		return VBX_EINVAL;
	if (limit == INT64_MAX)
		limit = PGS_NO_LIMIT; /* limit + 1 would overflow */
	pgs_conn *c = pgs_acquire(s, &rc);
	if (!c)
		return rc;
	rc = page_rows(c, list, n, params, limit, offset, &r);
	int rows = rc == VBX_OK ? PQntuples(r) : 0;
	bool more = limit != PGS_NO_LIMIT && rows > limit;
	if (more)
		rows = (int)limit;
	if (rc == VBX_OK && total) {
		if (!more && (rows > 0 || offset == 0))
			*total = offset + rows; /* this page ends the list */
		else
			rc = page_count(c, count, n, params,
			                more ? offset + rows + 1 : 0, total);
	}
	pgs_release(s, c);
	if (rc == VBX_OK)
		rc = rows_each(r, rows, row, arg);
	PQclear(r);
	return rc;
}

int pgs_one_row(int rc, const PGresult *r)
{
	return rc == VBX_OK && PQntuples(r) == 0 ? VBX_ENOTFOUND : rc;
}

int pgs_touched(int rc, const PGresult *r)
{
	return rc == VBX_OK && strcmp(PQcmdTuples((PGresult *)r), "0") == 0
	               ? VBX_ENOTFOUND
	               : rc;
}
