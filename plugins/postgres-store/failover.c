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
 */
#include <stdio.h>
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
