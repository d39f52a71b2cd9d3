/* SPDX-License-Identifier: Apache-2.0 */
/*
 * url.c - the server url and sentinel addresses of the redis-cache
 * plugin: redis://[user@]host[:port][/db], rediss://... (TLS),
 * unix:///path[?db=N]. Pure string parsing; every input is outside input
 * (tests/unit/test_redis_url.c, tests/fuzz/fuzz_redis_url.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rc.h"

#define RC_DEFAULT_PORT 6379
#define RC_DB_MAX 1000000

static int fail(char *err, size_t errlen, const char *fmt, ...)
        VBX_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return VBX_EINVAL;
}

/* A decimal integer of [s, end) in [min, max]; -1 when it is not one. */
static long parse_num(const char *s, const char *end, long min, long max)
{
	long v = 0;

	if (s >= end || end - s > 9)
		return -1;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < min || v > max ? -1 : v;
}

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/*
 * host[:port] or [v6]:port of [s, end) into a. The port is optional
 * (dflt_port) when dflt_port > 0.
 */
static int parse_hostport(const char *s, const char *end, int dflt_port,
                          rc_addr *a, char *err, size_t errlen)
{
	const char *hend, *colon = NULL;

	memset(a, 0, sizeof(*a));
	if (s < end && *s == '[') {
		hend = memchr(s, ']', (size_t)(end - s));
		if (!hend)
			return fail(err, errlen, "unclosed '[' in the host");
		s++;
		if (hend + 1 < end && hend[1] != ':')
			return fail(err, errlen, "expected ':' after ']'");
		colon = hend + 1 < end ? hend + 1 : NULL;
		for (const char *p = s; p < hend; p++)
			if (!((*p >= '0' && *p <= '9') ||
			      (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' ||
			      *p == '.'))
				return fail(err, errlen,
				            "bad IPv6 address in the host");
	} else {
		colon = memchr(s, ':', (size_t)(end - s));
		hend = colon ? colon : end;
		for (const char *p = s; p < hend; p++)
			if (!host_char_ok(*p))
				return fail(err, errlen,
				            "bad character '%c' in the host",
				            *p >= 0x20 && *p < 0x7f ? *p : '?');
	}
	if (hend == s)
		return fail(err, errlen, "no host");
	if ((size_t)(hend - s) >= sizeof(a->host))
		return fail(err, errlen, "host longer than %zu bytes",
		            sizeof(a->host) - 1);
	memcpy(a->host, s, (size_t)(hend - s));
	if (!colon) {
		if (dflt_port <= 0)
			return fail(err, errlen, "no port: expected host:port");
		a->port = dflt_port;
		return VBX_OK;
	}
	long port = parse_num(colon + 1, end, 1, 65535);
	if (port < 0)
		return fail(err, errlen, "bad port: expected 1..65535");
	a->port = (int)port;
	return VBX_OK;
}

int rc_hostport_parse(const char *s, rc_addr *out, char *err, size_t errlen)
{
	if (!s)
		return fail(err, errlen, "no address");
	return parse_hostport(s, s + strlen(s), 0, out, err, errlen);
}

static int parse_unix(const char *s, rc_url *u, char *err, size_t errlen)
{
	const char *q = strchr(s, '?');
	const char *end = q ? q : s + strlen(s);

	if (*s != '/')
		return fail(err, errlen,
		            "unix:// needs an absolute path: unix:///path");
	if ((size_t)(end - s) >= sizeof(u->addr.path))
		return fail(err, errlen, "socket path longer than %zu bytes",
		            sizeof(u->addr.path) - 1);
	for (const char *p = s; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(err, errlen,
			            "control character in the socket path");
	memcpy(u->addr.path, s, (size_t)(end - s));
	if (!q)
		return VBX_OK;
	if (strncmp(q + 1, "db=", 3) != 0)
		return fail(err, errlen,
		            "unknown query in the url: only ?db=N is known");
	long db = parse_num(q + 4, q + strlen(q), 0, RC_DB_MAX);
	if (db < 0)
		return fail(err, errlen, "bad ?db=: expected 0..%d", RC_DB_MAX);
	u->db = (int)db;
	return VBX_OK;
}

/* [user@] of an authority; a password ("user:pass@") is refused. */
static int parse_user(const char **s, const char *end, rc_url *u, char *err,
                      size_t errlen)
{
	const char *at = memchr(*s, '@', (size_t)(end - *s));

	if (!at)
		return VBX_OK;
	if (memchr(*s, ':', (size_t)(at - *s)))
		return fail(err, errlen,
		            "a password in the url would show in logs and ps: "
		            "remove it and set password_file");
	if (at == *s)
		return fail(err, errlen, "empty user before '@'");
	if ((size_t)(at - *s) >= sizeof(u->user))
		return fail(err, errlen, "user longer than %zu bytes",
		            sizeof(u->user) - 1);
	for (const char *p = *s; p < at; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/')
			return fail(err, errlen, "bad character in the user");
	memcpy(u->user, *s, (size_t)(at - *s));
	*s = at + 1;
	return VBX_OK;
}

static int parse_tcp(const char *s, rc_url *u, char *err, size_t errlen)
{
	const char *slash = strchr(s, '/');
	const char *end = slash ? slash : s + strlen(s);
	int rc;

	if (strchr(s, '?') || strchr(s, '#'))
		return fail(err, errlen,
		            "a query or fragment in a redis:// url is not "
		            "supported: set the options as keys of the block");
	if ((rc = parse_user(&s, end, u, err, errlen)) != VBX_OK)
		return rc;
	rc = parse_hostport(s, end, RC_DEFAULT_PORT, &u->addr, err, errlen);
	if (rc != VBX_OK || !slash || !slash[1])
		return rc;
	long db = parse_num(slash + 1, slash + strlen(slash), 0, RC_DB_MAX);
	if (db < 0)
		return fail(err, errlen,
		            "bad database after '/': expected "
		            "0..%d",
		            RC_DB_MAX);
	u->db = (int)db;
	return VBX_OK;
}

int rc_url_parse(const char *s, rc_url *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return fail(err, errlen, "no url");
	if (strncmp(s, "redis://", 8) == 0)
		return parse_tcp(s + 8, out, err, errlen);
	if (strncmp(s, "rediss://", 9) == 0) {
		out->tls = true;
		return parse_tcp(s + 9, out, err, errlen);
	}
	if (strncmp(s, "unix://", 7) == 0)
		return parse_unix(s + 7, out, err, errlen);
	return fail(err, errlen,
	            "expected redis://[user@]host:port/db, rediss://... or "
	            "unix:///path");
}
