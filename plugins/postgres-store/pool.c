/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.c - the connection pool and the query helper of postgres-store.
 *
 * Connections open lazily, on the first acquire that finds an empty slot.
 * A connection that breaks (a server restart, a network cut) is closed on
 * release and reopened by a later acquire, so the daemon recovers from a
 * database restart by itself. Each connection prepares a statement the
 * first time it runs it and remembers that it did.
 *
 * Every wait has a deadline: for a free slot (acquire_timeout), for the
 * connection (connect_timeout) and for each answer, all within the call's
 * deadline (timeout, from acquire to release). libpq runs non-blocking and
 * we poll its socket, because the server's statement_timeout does not fire
 * when the server itself is stuck (SIGSTOP, a hung disk, a dead peer
 * behind TCP): a connection that misses its deadline is dropped.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"

/* ---- deadlines ---- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* now + ms, never past the call's deadline (0: none). */
static int64_t deadline_within(int64_t call, int64_t ms)
{
	int64_t d = now_ns() + ms * 1000000;

	return call && call < d ? call : d;
}

/*
 * Wait until the socket of pg is ready for events or deadline (monotonic
 * ns, 0: none) passes. VBX_OK, VBX_ETIMEDOUT, or VBX_EUNAVAIL when there
 * is no socket or poll fails.
 */
static int wait_socket(PGconn *pg, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(pg), .events = events};
		int ms = -1;

		if (pfd.fd < 0)
			return VBX_EUNAVAIL;
		if (deadline) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return VBX_ETIMEDOUT;
			ms = (int)((left + 999999) / 1000000);
		}
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return VBX_OK;
		if (n < 0 && errno != EINTR)
			return VBX_EUNAVAIL;
	}
}

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

/* Drive PQconnectPoll until the connection is made, fails, or the
 * deadline passes. VBX_OK, VBX_ETIMEDOUT or VBX_EUNAVAIL. */
static int connect_poll(PGconn *pg, int64_t deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			return VBX_EUNAVAIL;
		int rc = wait_socket(
		        pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		        deadline);
		if (rc != VBX_OK)
			return rc;
		st = PQconnectPoll(pg);
	}
	return VBX_OK;
}

/* Remember why the last connection attempt failed ("" when it worked). */
static void pool_connect_result(pgs *s, const char *err)
{
	pthread_mutex_lock(&s->pool.lock);
	snprintf(s->pool.connect_error, sizeof(s->pool.connect_error), "%s",
	         err);
	pthread_mutex_unlock(&s->pool.lock);
}

void pgs_pool_connect_error(pgs *s, char *buf, size_t len)
{
	pthread_mutex_lock(&s->pool.lock);
	snprintf(buf, len, "%s", s->pool.connect_error);
	pthread_mutex_unlock(&s->pool.lock);
}

/* Append what attempt pg said (or that it timed out) to c->errmsg. */
static void connect_error(pgs_conn *c, PGconn *pg, int rc, int64_t ms)
{
	size_t n = strlen(c->errmsg);
	char *at = c->errmsg + n;
	size_t left = sizeof(c->errmsg) - n;

	if (n && left > 2) {
		memcpy(at, "; ", 3);
		at += 2;
		left -= 2;
	}
	if (rc == VBX_ETIMEDOUT && pg && PQhost(pg))
		snprintf(at, left, "%s port %s: no answer within %lld ms",
		         PQhost(pg), PQport(pg), (long long)ms);
	else if (rc == VBX_ETIMEDOUT)
		snprintf(at, left, "no answer within %lld ms", (long long)ms);
	else
		one_line(at, left,
		         pg ? PQerrorMessage(pg) : "out of memory connecting");
}

/* One attempt with keys and vals (expand: the dbname is a conninfo),
 * within deadline. The connection, or NULL with c->errmsg saying why. */
static PGconn *connect_one(pgs_conn *c, const char *const *keys,
                           const char *const *vals, int expand,
                           int64_t deadline)
{
	int64_t t0 = now_ns();
	PGconn *pg = PQconnectStartParams(keys, vals, expand);
	int rc = !pg || PQstatus(pg) == CONNECTION_BAD
	                 ? VBX_EUNAVAIL
	                 : connect_poll(pg, deadline);

	if (rc == VBX_OK)
		return pg;
	connect_error(c, pg, rc, (deadline - t0) / 1000000);
	if (pg)
		PQfinish(pg);
	return NULL;
}

/* Several servers: each in order, with its share of the deadline (the
 * conninfo's connect_timeout, else an equal share), until one takes us. */
static PGconn *connect_each(pgs *s, pgs_conn *c, int64_t deadline)
{
	const pgs_targets *t = &s->targets;
	int64_t share = t->per_host_ms ? t->per_host_ms
	                               : s->cfg.connect_timeout_ms / t->count;
	PGconn *pg = NULL;

	if (share < 500)
		share = 500;
	for (int i = 0; i < t->count && !pg && now_ns() < deadline; i++)
		pg = connect_one(c, t->keys, t->vals[i], 0,
		                 deadline_within(deadline, share));
	return pg;
}

/* Open c for the pool's generation gen. With several hosts in the
 * conninfo they are tried in order, skipping those that refuse, do not
 * answer in their share of connect_timeout or (with
 * target_session_attrs=read-write) take no writes. */
static int conn_open(pgs *s, pgs_conn *c, uint64_t gen)
{
	/* The conninfo comes last so that its own settings win. */
	const char *const keys[] = {"application_name", "dbname", NULL};
	const char *const vals[] = {"vibeboxd", s->cfg.conninfo, NULL};
	int64_t deadline =
	        deadline_within(c->deadline, s->cfg.connect_timeout_ms);

	c->errmsg[0] = '\0';
	c->pg = s->targets.count > 1 ? connect_each(s, c, deadline)
	                             : connect_one(c, keys, vals, 1, deadline);
	if (!c->pg) {
		vbx_log_warn(s->self,
		             "postgres: cannot connect: %s (check conninfo and "
		             "that the server is up and not stopped; during a "
		             "failover, until a standby is promoted)",
		             c->errmsg);
		pool_connect_result(s, c->errmsg);
		return VBX_EUNAVAIL;
	}
	if (c->errmsg[0]) /* hosts passed over on the way */
		vbx_log_info(s->self,
		             "postgres: connected to %s port %s after: %s",
		             PQhost(c->pg), PQport(c->pg), c->errmsg);
	c->generation = gen;
	PQsetNoticeProcessor(c->pg, notice, c);
	/* Sends never block; wait_socket does the waiting. */
	if (PQsetnonblocking(c->pg, 1) != 0 || conn_setup(s, c) != VBX_OK) {
		pool_connect_result(s, c->errmsg[0]
		                               ? c->errmsg
		                               : "the session setup failed");
		conn_close(c);
		return VBX_EUNAVAIL;
	}
	pool_connect_result(s, "");
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
	p->closing = true; /* until start: the conninfo may still change */
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

/* Wait for a free slot until the deadline (monotonic ns). Under lock. */
static pgs_conn *pool_wait(pgs *s, int64_t until)
{
	pgs_pool *p = &s->pool;
	struct timespec deadline = {.tv_sec = (time_t)(until / 1000000000),
	                            .tv_nsec = (long)(until % 1000000000)};
	pgs_conn *c;

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

pgs_conn *pgs_acquire_within_op(pgs *s, int64_t ms, int *rc, const char *op)
{
	int64_t t0 = now_ns();
	int64_t call = ms > 0 ? t0 + ms * 1000000 : 0;
	int64_t wait = deadline_within(call, s->cfg.acquire_timeout_ms);

	pthread_mutex_lock(&s->pool.lock);
	bool closing = s->pool.closing;
	pgs_conn *c = pool_wait(s, wait);
	uint64_t gen = s->pool.generation;
	pthread_mutex_unlock(&s->pool.lock);

	if (!c) {
		if (!closing)
			vbx_log_warn(s->self,
			             "postgres: all %d connections stayed busy "
			             "for %lld ms (raise `pool`, or look for "
			             "slow statements)",
			             s->pool.size,
			             (long long)((now_ns() - t0) / 1000000));
		*rc = VBX_EUNAVAIL;
		return NULL;
	}
	c->deadline = call;
	c->acquired_at = t0;
	c->op = op;
	/* Before anything is sent: a connection of an older generation (to
	 * the server a failover left) or one the server closed while idle is
	 * replaced here, so the call does not fail on it. */
	if (c->pg && (c->generation != gen || !conn_alive(c)))
		conn_close(c);
	if (!c->pg) {
		/* store_pool_connections{state="connecting"} (metrics.c) */
		__atomic_store_n(&c->connecting, true, __ATOMIC_RELAXED);
		int orc = conn_open(s, c, gen);
		__atomic_store_n(&c->connecting, false, __ATOMIC_RELAXED);
		if (orc != VBX_OK) {
			pool_put(s, c);
			*rc = VBX_EUNAVAIL;
			return NULL;
		}
	}
	*rc = VBX_OK;
	return c;
}

pgs_conn *pgs_acquire_op(pgs *s, int *rc, const char *op)
{
	return pgs_acquire_within_op(s, s->cfg.timeout_ms, rc, op);
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
	pgs_metrics_observe(c->op, c->acquired_at);
	pool_put(s, c);
}

void pgs_pool_failover(pgs_conn *c, const char *why)
{
	pgs_pool *p = &c->s->pool;
	bool bumped = false;

	c->broken = true;
	pthread_mutex_lock(&p->lock);
	if (c->generation == p->generation) {
		p->generation++;
		bumped = true;
	}
	pthread_mutex_unlock(&p->lock);
	if (bumped)
		vbx_log_warn(c->s->self,
		             "postgres: the server at %s port %s %s: dropping "
		             "the pool's connections to it; new ones follow "
		             "the conninfo's host list (a failover?)",
		             c->pg ? PQhost(c->pg) : "?",
		             c->pg ? PQport(c->pg) : "?", why);
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
	pgs_state_kind kind = pgs_state_kind_of(c->sqlstate);
	if (kind == PGS_STATE_READ_ONLY) {
		pgs_pool_failover(c, "is read-only (a standby: set "
		                     "target_session_attrs=read-write in "
		                     "conninfo)");
		rc = VBX_EUNAVAIL;
	} else if (PQstatus(c->pg) != CONNECTION_OK || kind == PGS_STATE_GONE) {
		pgs_pool_failover(c, "went away");
		rc = VBX_EUNAVAIL;
	}
	if (c->sqlstate[0] && state_needs_new_session(c->sqlstate))
		c->broken = true;
	if (rc == VBX_EEXIST || rc == VBX_EINVAL)
		vbx_log_debug(c->s->self, "postgres: %s: %s (%s)", st->name,
		              c->errmsg, c->sqlstate);
	else if (kind == PGS_STATE_READ_ONLY)
		vbx_log_warn(c->s->self,
		             "postgres: %s: refused by a read-only server: %s",
		             st->name, c->errmsg);
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

/* Send what libpq still holds, reading meanwhile (the server may be
 * waiting for us to read before it reads on). */
static int conn_flush(pgs_conn *c)
{
	int f;

	while ((f = PQflush(c->pg)) == 1) {
		int rc = wait_socket(c->pg, POLLIN | POLLOUT, c->deadline);
		if (rc != VBX_OK)
			return rc;
		if (!PQconsumeInput(c->pg))
			return VBX_EUNAVAIL;
	}
	return f == 0 ? VBX_OK : VBX_EUNAVAIL;
}

/* The next result of the statement sent, NULL after the last; reads
 * until libpq has it. *rc: VBX_OK, VBX_ETIMEDOUT, VBX_EUNAVAIL. */
static PGresult *conn_next_result(pgs_conn *c, int *rc)
{
	*rc = VBX_OK;
	while (PQisBusy(c->pg)) {
		*rc = wait_socket(c->pg, POLLIN, c->deadline);
		if (*rc == VBX_OK && !PQconsumeInput(c->pg))
			*rc = VBX_EUNAVAIL;
		if (*rc != VBX_OK)
			return NULL;
	}
	return PQgetResult(c->pg);
}

/*
 * Wait for the answer to the statement just sent (sent: PQsend* returned
 * 1), within the call's deadline. *res is its result (NULL when none
 * came). VBX_OK, or VBX_EUNAVAIL when the link failed or the deadline
 * passed: then the connection is broken, for its state is unknown; the
 * server's statement_timeout ends what the backend still runs.
 */
static int conn_wait(pgs_conn *c, const pgs_stmt *st, int sent, PGresult **res)
{
	PGresult *last = NULL, *r;
	int rc = sent ? conn_flush(c) : VBX_EUNAVAIL;

	while (rc == VBX_OK && (r = conn_next_result(c, &rc))) {
		PQclear(last);
		last = r;
	}
	*res = NULL;
	if (rc == VBX_OK) {
		*res = last;
		return VBX_OK;
	}
	PQclear(last);
	if (rc == VBX_ETIMEDOUT) {
		snprintf(c->errmsg, sizeof(c->errmsg),
		         "no answer by the deadline");
		vbx_log_warn(c->s->self,
		             "postgres: %s: no answer by the deadline "
		             "(`timeout`); dropping the connection (is the "
		             "server stopped or overloaded?)",
		             st->name);
	} else {
		conn_error(c, st, NULL);
	}
	c->broken = true;
	return VBX_EUNAVAIL;
}

static int conn_prepare(pgs_conn *c, const pgs_stmt *st)
{
	PGresult *r;
	int rc = conn_wait(
	        c, st, PQsendPrepare(c->pg, st->name, st->sql, 0, NULL), &r);

	if (rc == VBX_OK && (!r || PQresultStatus(r) != PGRES_COMMAND_OK))
		rc = conn_error(c, st, r);
	else if (rc == VBX_OK)
		rc = conn_remember(c, st);
	PQclear(r);
	return rc;
}

/* Before sending: a call whose deadline passed fails at once. */
static bool conn_late(const pgs_conn *c)
{
	return c->deadline && now_ns() >= c->deadline;
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
	if (conn_late(c)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "past the deadline");
		return VBX_EUNAVAIL;
	}
	if (!conn_prepared(c, st)) {
		int rc = conn_prepare(c, st);
		if (rc != VBX_OK)
			return rc;
	}

	PGresult *r;
	int rc = conn_wait(c, st,
	                   PQsendQueryPrepared(c->pg, st->name, n, params,
	                                       lengths, formats, st->binary),
	                   &r);
	if (rc != VBX_OK)
		return rc;
	ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		rc = conn_error(c, st, r);
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
	/* The link broke during COMMIT: the transaction may or may not have
	 * been committed, and nothing here can tell. The caller answers
	 * VBX_EUNAVAIL (503) and the client re-reads; retrying here could
	 * apply a write twice. */
	if (rc == VBX_EUNAVAIL && c->broken)
		vbx_log_warn(c->s->self,
		             "postgres: the connection broke during COMMIT: "
		             "the transaction's outcome is unknown (answered "
		             "as unavailable; clients should re-read)");
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

int pgs_run_op(const char *op, pgs *s, const pgs_stmt *st, int n,
               const char *const *params, PGresult **res)
{
	int rc;
	pgs_conn *c = pgs_acquire_op(s, &rc, op);

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

int pgs_run_list_op(const char *op, pgs *s, const pgs_stmt *st, int n,
                    const char *const *params, pgs_row_fn *row, void *arg)
{
	PGresult *r;
	int rc = pgs_run_op(op, s, st, n, params, &r);

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

int pgs_run_page_op(const char *op, pgs *s, const pgs_stmt *list,
                    const pgs_stmt *count, int n, const char *const *params,
                    int64_t limit, int64_t offset, int64_t *total,
                    pgs_row_fn *row, void *arg)
{
	PGresult *r;
	int rc;

	if (n < 0 || n > PGS_PAGE_MAX_PARAMS || limit < PGS_NO_LIMIT)
		return VBX_EINVAL;
	if (limit == INT64_MAX)
		limit = PGS_NO_LIMIT; /* limit + 1 would overflow */
	pgs_conn *c = pgs_acquire_op(s, &rc, op);
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
