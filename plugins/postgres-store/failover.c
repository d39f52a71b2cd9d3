/* SPDX-License-Identifier: Apache-2.0 */
/*
 * failover.c - what postgres-store needs to follow a PostgreSQL failover:
 * the host list of a conninfo, and which errors of a server mean that it
 * is no longer the primary we should write to.
 *
 * The host list itself is libpq's (host=h1,h2 port=p1,p2, or
 * postgresql://h1:p1,h2:p2/db, with target_session_attrs=read-write):
 * libpq walks it on every new connection, so following a failover is
 * dropping the connections to the old primary and opening new ones
 * (pool.c). We only read the list to check it at start and to warn when
 * several hosts come without target_session_attrs, for then libpq takes
 * the first server that answers, a standby included.
 *
 * One thing libpq does not do for us: it applies connect_timeout per host
 * only to blocking connects, and the pool connects non-blocking (every
 * wait has a deadline). A first host that drops packets would then hold
 * every attempt until its deadline and the next hosts would never be
 * tried. So with several hosts the pool tries them one at a time, in
 * order, each with its own share of the deadline (pgs_targets), which is
 * what libpq's blocking connect does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* Elements of a libpq comma list: "a,b" 2, "a" 1, "" or NULL 0. An
 * empty element ("a,,b") is libpq's default host, so it counts. */
static int list_count(const char *v)
{
	int n = 1;

	if (!v || !v[0])
		return 0;
	for (const char *p = v; *p; p++)
		n += *p == ',';
	return n;
}

/* libpq takes a bare database name as a conninfo too ("vibebox"), which
 * PQconninfoParse refuses: that is one host, the default. */
static bool bare_dbname(const char *conninfo)
{
	return !strchr(conninfo, '=') &&
	       strncmp(conninfo, "postgresql://", 13) != 0 &&
	       strncmp(conninfo, "postgres://", 11) != 0;
}

/* Fill out from the parsed options; VBX_EINVAL (err set) for lists libpq
 * would refuse at the first connection. */
static int hosts_from(const PQconninfoOption *opts, pgs_hosts *out, char *err,
                      size_t len)
{
	int hosts = 0, addrs = 0, ports = 0;

	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			hosts = list_count(o->val);
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addrs = list_count(o->val);
		else if (strcmp(o->keyword, "port") == 0)
			ports = list_count(o->val);
		else if (strcmp(o->keyword, "target_session_attrs") == 0 &&
		         o->val)
			snprintf(out->attrs, sizeof(out->attrs), "%s", o->val);
	}
	if (hosts && addrs && hosts != addrs) {
		snprintf(err, len,
		         "%d host names but %d hostaddr values: give one "
		         "hostaddr per host",
		         hosts, addrs);
		return VBX_EINVAL;
	}
	out->count = hosts > addrs ? hosts : addrs;
	if (out->count == 0)
		out->count = 1;
	if (ports > 1 && ports != out->count) {
		snprintf(err, len,
		         "%d ports for %d hosts: give one port for all, or "
		         "one per host",
		         ports, out->count);
		return VBX_EINVAL;
	}
	out->read_write = strcmp(out->attrs, "read-write") == 0 ||
	                  strcmp(out->attrs, "primary") == 0;
	return VBX_OK;
}

int pgs_hosts_parse(const char *conninfo, pgs_hosts *out, char *err, size_t len)
{
	char *perr = NULL;

	memset(out, 0, sizeof(*out));
	out->count = 1;
	if (len)
		err[0] = '\0';
	if (!conninfo || bare_dbname(conninfo))
		return VBX_OK;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		/* libpq's message ends in a newline; none: out of memory */
		if (!perr)
			return VBX_ENOMEM;
		snprintf(err, len, "%.*s", (int)strcspn(perr, "\n"), perr);
		PQfreemem(perr);
		return VBX_EINVAL;
	}
	int rc = hosts_from(opts, out, err, len);
	PQconninfoFree(opts);
	return rc;
}

pgs_state_kind pgs_state_kind_of(const char *sqlstate)
{
	if (!sqlstate)
		return PGS_STATE_OTHER;
	/* 08: the link; 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
	 * cannot_connect_now (starting up or shutting down) */
	if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
	    strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0)
		return PGS_STATE_GONE;
	/* 25006 read_only_sql_transaction: a standby (or a primary demoted
	 * and restarted as one), or default_transaction_read_only */
	if (strcmp(sqlstate, "25006") == 0)
		return PGS_STATE_READ_ONLY;
	return PGS_STATE_OTHER;
}

/* ---- one server at a time ---- */

/* Element i of a comma list as a new string; a one-element list gives
 * its element for every i (one port for all hosts); NULL when v is NULL
 * or "" (absent), or out of memory (*oom set). */
static char *list_item(const char *v, int i, bool *oom)
{
	if (!v || !v[0])
		return NULL;
	if (list_count(v) == 1)
		i = 0;
	for (; i > 0 && v; i--) {
		v = strchr(v, ',');
		v = v ? v + 1 : NULL;
	}
	if (!v) /* past the end: the lists were checked, so never */
		return NULL;
	char *out = strndup(v, strcspn(v, ","));
	if (!out)
		*oom = true;
	return out;
}

/* libpq's reading of connect_timeout: whole seconds, at least 2. */
static int64_t timeout_ms(const char *v)
{
	long n = v ? strtol(v, NULL, 10) : 0;

	if (n <= 0)
		return 0;
	return (n < 2 ? 2 : n) * 1000LL;
}

/* The keyword/value arrays of server i: the shared options, then its
 * host, hostaddr and port. */
static int target_make(pgs_targets *t, int i)
{
	size_t n = t->nshared;
	bool oom = false;

	t->vals[i] = calloc(n + 4, sizeof(*t->vals[i]));
	t->owned[i] = calloc(3, sizeof(*t->owned[i]));
	if (!t->vals[i] || !t->owned[i])
		return VBX_ENOMEM;
	memcpy(t->vals[i], t->shared_vals, n * sizeof(*t->vals[i]));
	for (int k = 0; k < 3; k++) {
		t->owned[i][k] = list_item(t->lists[k], i, &oom);
		t->vals[i][n + (size_t)k] = t->owned[i][k];
	}
	return oom ? VBX_ENOMEM : VBX_OK;
}

/* Split opts, already read by hosts_from, into the shared options and the
 * three lists. Keys without a value are left out (libpq's defaults). */
static int targets_split(pgs_targets *t, PQconninfoOption *opts)
{
	size_t n = 0, all = 0;

	for (PQconninfoOption *o = opts; o->keyword; o++)
		all++;
	t->keys = calloc(all + 5, sizeof(*t->keys));
	t->shared_vals = calloc(all + 1, sizeof(*t->shared_vals));
	if (!t->keys || !t->shared_vals)
		return VBX_ENOMEM;
	t->keys[n] = "application_name"; /* a later one in opts wins */
	t->shared_vals[n++] = "vibeboxd";
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		int k = strcmp(o->keyword, "host") == 0       ? 0
		        : strcmp(o->keyword, "hostaddr") == 0 ? 1
		        : strcmp(o->keyword, "port") == 0     ? 2
		                                              : -1;
		if (k >= 0)
			t->lists[k] = o->val;
		else if (o->val) {
			t->keys[n] = o->keyword;
			t->shared_vals[n++] = o->val;
		}
		if (strcmp(o->keyword, "connect_timeout") == 0)
			t->per_host_ms = timeout_ms(o->val);
	}
	t->nshared = n;
	t->keys[n] = "host";
	t->keys[n + 1] = "hostaddr";
	t->keys[n + 2] = "port";
	return VBX_OK;
}

int pgs_targets_make(const char *conninfo, pgs_targets *t)
{
	pgs_hosts h;
	char err[8];

	memset(t, 0, sizeof(*t));
	/* One server (or a list libpq reads from the environment or a
	 * service file): libpq connects as it always does. */
	if (pgs_hosts_parse(conninfo, &h, err, sizeof(err)) != VBX_OK ||
	    h.count < 2)
		return VBX_OK;
	t->opts = PQconninfoParse(conninfo, NULL);
	t->vals = calloc((size_t)h.count, sizeof(*t->vals));
	t->owned = calloc((size_t)h.count, sizeof(*t->owned));
	int rc = t->opts && t->vals && t->owned ? targets_split(t, t->opts)
	                                        : VBX_ENOMEM;
	t->count = h.count;
	for (int i = 0; i < h.count && rc == VBX_OK; i++)
		rc = target_make(t, i);
	if (rc != VBX_OK)
		pgs_targets_free(t);
	return rc;
}

void pgs_targets_free(pgs_targets *t)
{
	for (int i = 0; i < t->count; i++) {
		if (t->owned && t->owned[i])
			for (int k = 0; k < 3; k++)
				free(t->owned[i][k]);
		free(t->owned ? t->owned[i] : NULL);
		free(t->vals ? t->vals[i] : NULL);
	}
	free(t->owned);
	free(t->vals);
	free(t->keys);
	free(t->shared_vals);
	if (t->opts)
		PQconninfoFree(t->opts);
	memset(t, 0, sizeof(*t));
}
