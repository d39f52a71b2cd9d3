/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_router.c - match hostile request lines against the platform's
 * routes and check the answer against a slow reference matcher.
 *
 * Input: the first byte picks the method (GET POST PUT PATCH DELETE, or
 * HEAD which no route has), the rest is the path (cut at a NUL byte).
 *
 * The reference walks every route of the table and applies the rules of
 * router.h directly: the path checks, shape matching, literal-before-
 * parameter priority, per-method choice, 405 with Allow, and parameter
 * decoding. Router and reference must agree on the status, the route, the
 * parameters and the Allow list.
 *
 * Catch-alls `{name...}` are matched by the reference as router.h says:
 * only when no other pattern matches the path for any method; one or more
 * non-empty segments; at each position a literal before a parameter
 * before a catch-all ending there; the value each segment decoded and
 * checked, joined by "/".
 */
#include "vbx_build.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static int handler(void *ud, vbx_request *req)
{
	return VBX_OK;
}

static const vbx_ws_ops ws_ops = {.struct_size = sizeof(vbx_ws_ops)};

static const char *const methods[] = {"GET",   "POST",   "PUT",
                                      "PATCH", "DELETE", "HEAD"};

static const struct {
	const char *method, *pattern;
	bool ws;
} table[] = {
        {"GET", "/", false},
        {"GET", "/health/live", false},
        {"GET", "/metrics", false},
        {"POST", "/api/v1/auth/login", false},
        {"GET", "/api/v1/users/me", false},
        {"PATCH", "/api/v1/users/me", false},
        {"GET", "/api/v1/users/{id}", false},
        {"GET", "/api/v1/teams", false},
        {"POST", "/api/v1/teams", false},
        {"GET", "/api/v1/teams/mine", false},
        {"GET", "/api/v1/teams/{id}", false},
        {"DELETE", "/api/v1/teams/{id}", false},
        {"PATCH", "/api/v1/teams/{id}/members/{userId}", false},
        {"GET", "/api/v1/environments/{id}/variables/{key}", false},
        {"PUT", "/api/v1/environments/{id}/variables/{key}", false},
        {"POST", "/api/v1/environments/{id}/start", false},
        {"GET", "/api/v1/environments/{id}/terminal", true},
        {"GET", "/api/v1/environments/{id}/logs/stream", true},
        {"GET", "/api/v1/{a}/{b}/x", false},
        {"GET", "/api/{v}/teams/{t}/x", false},
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", false},
        {"GET", "/{path...}", false},
        {"GET", "/api/v1/x/acme/{rest...}", false},
        {"POST", "/api/v1/x/acme/{rest...}", false},
        {"DELETE", "/api/{v}/files/{p...}", false},
        {"GET", "/teams/{id}/{more...}", false},
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

static vbx__router *router;
static vbx__arena *arena;

static void setup(void)
{
	router = vbx__router_new();
	arena = vbx__arena_new(256); /* small: long paths make it grow */
	if (!router || !arena)
		abort();
	for (size_t i = 0; i < NROUTES; i++) {
		vbx__route t = {
		        .method = table[i].method,
		        .pattern = table[i].pattern,
		        .fn = table[i].ws ? NULL : handler,
		        .ws = table[i].ws ? &ws_ops : NULL,
		        .subprotocol =
		                table[i].ws ? "vibebox.terminal.v1" : NULL,
		        .ud = (void *)&table[i],
		};
		if (vbx__router_add(router, &t, NULL) != VBX_OK)
			abort();
	}
}

/* ---- the reference ---- */

static int hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Split an absolute path into segments ("/" has none). Returns -1 when
 * there are more than max. */
static int split(const char *p, const char *segs[], size_t lens[], int max)
{
	int n = 0;
	if (strcmp(p, "/") == 0)
		return 0;
	while (*p == '/') {
		const char *s = p + 1, *e = strchr(s, '/');
		if (!e)
			e = s + strlen(s);
		if (n == max)
			return -1;
		segs[n] = s;
		lens[n++] = (size_t)(e - s);
		p = e;
	}
	return n;
}

static bool is_wild(size_t i)
{
	return strstr(table[i].pattern, "...}") != NULL;
}

/*
 * Does route i's shape match the path? kinds[k] is 1 for a literal
 * segment; used to rank the matches.
 */
static bool shape_match(size_t i, const char *path, char kinds[])
{
	const char *ps[64], *qs[64];
	size_t pl[64], ql[64];
	int np = split(table[i].pattern, ps, pl, 64);
	int nq = split(path, qs, ql, 64);
	if (np != nq || is_wild(i))
		return false;
	for (int k = 0; k < np; k++) {
		if (ql[k] == 0)
			return false;
		kinds[k] = ps[k][0] != '{';
		if (kinds[k] && (pl[k] != ql[k] || memcmp(ps[k], qs[k], pl[k])))
			return false;
	}
	return true;
}

/*
 * Does catch-all route i match the path? Every segment of the path must
 * be non-empty, the pattern's prefix must match, and at least one segment
 * be left for the catch-all. kinds[k]: 2 literal, 1 parameter, 0 the
 * catch-all (at position *n - 1).
 */
static bool wild_match(size_t i, const char *path, char kinds[], size_t *n)
{
	const char *ps[64], *qs[VBX__MAX_PATH];
	size_t pl[64], ql[VBX__MAX_PATH];
	int np = split(table[i].pattern, ps, pl, 64);
	int nq = split(path, qs, ql, VBX__MAX_PATH);
	if (!is_wild(i) || nq < np)
		return false;
	for (int k = 0; k < nq; k++)
		if (ql[k] == 0)
			return false;
	for (int k = 0; k < np - 1; k++) {
		kinds[k] = ps[k][0] != '{' ? 2 : 1;
		if (kinds[k] == 2 &&
		    (pl[k] != ql[k] || memcmp(ps[k], qs[k], pl[k])))
			return false;
	}
	kinds[np - 1] = 0;
	*n = (size_t)np;
	return true;
}

/* Literal at the first differing position wins. */
static bool better(const char *a, const char *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (a[k] != b[k])
			return a[k] > b[k];
	return false;
}

struct expect {
	int status;
	int route; /* index in table, or -1 */
	char allow[64];
};

static int method_bit(const char *m)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(m, methods[i]) == 0)
			return i;
	return -1;
}

static void reference(const char *method, const char *path, struct expect *x)
{
	size_t len = strlen(path);
	memset(x, 0, sizeof(*x));
	x->route = -1;
	x->status = 400;
	if (path[0] != '/' || len > VBX__MAX_PATH)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c < 0x20 || c == 0x7f)
			return;
		if (c == '%' && (hex(path[i + 1]) < 0 || hex(path[i + 2]) < 0))
			return;
	}

	unsigned allow = 0;
	char best[64], kinds[64];
	for (size_t i = 0; i < NROUTES; i++) {
		if (!shape_match(i, path, kinds))
			continue;
		allow |= 1u << method_bit(table[i].method);
		if (strcmp(table[i].method, method) != 0)
			continue;
		const char *ps[64];
		size_t pl[64];
		size_t n = (size_t)split(table[i].pattern, ps, pl, 64);
		if (x->route < 0 || better(kinds, best, n)) {
			x->route = (int)i;
			memcpy(best, kinds, n);
		}
	}
	if (x->route >= 0) {
		x->status = 200; /* parameters are checked by the caller */
		return;
	}
	if (!allow) { /* the second walk: catch-alls */
		size_t bestn = 0, n = 0;
		for (size_t i = 0; i < NROUTES; i++) {
			if (!wild_match(i, path, kinds, &n))
				continue;
			allow |= 1u << method_bit(table[i].method);
			if (strcmp(table[i].method, method) != 0)
				continue;
			if (x->route < 0 ||
			    better(kinds, best, n < bestn ? n : bestn)) {
				x->route = (int)i;
				memcpy(best, kinds, n);
				bestn = n;
			}
		}
		if (x->route >= 0) {
			x->status = 200;
			return;
		}
	}
	x->status = allow ? 405 : 404;
	for (int b = 0; b < 5; b++) {
		if (!(allow & (1u << b)))
			continue;
		if (x->allow[0])
			strcat(x->allow, ", ");
		strcat(x->allow, methods[b]);
	}
}

/* Check the router's parameters against the path: each one the decoded
 * path segment at the parameter's position. Returns the status the
 * parameters call for: 200, or 400 when one is refused. */
/* Decode one segment into dec at *o; false when it is refused. */
static bool seg_ok(const char *s, size_t len, char *dec, size_t *o)
{
	size_t start = *o;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			dec[(*o)++] =
			        (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
			i += 2;
		} else {
			dec[(*o)++] = s[i];
		}
	}
	size_t n = *o - start;
	const char *d = dec + start;
	return !(memchr(d, '/', n) || memchr(d, '\0', n) ||
	         (n == 1 && d[0] == '.') ||
	         (n == 2 && d[0] == '.' && d[1] == '.'));
}

static int check_params(int ri, const char *path, const vbx__match *m)
{
	static const char *qs[VBX__MAX_PATH];
	static size_t ql[VBX__MAX_PATH];
	const char *ps[64];
	size_t pl[64];
	int np = split(table[ri].pattern, ps, pl, 64);
	int nq = split(path, qs, ql, VBX__MAX_PATH);
	bool wild = is_wild((size_t)ri);
	size_t j = 0;
	for (int k = 0; k < np; k++) {
		if (ps[k][0] != '{')
			continue;
		static char dec[VBX__MAX_PATH + 1];
		size_t o = 0;
		bool last = wild && k == np - 1;
		for (int q = k; q < (last ? nq : k + 1); q++) {
			if (q > k)
				dec[o++] = '/';
			if (!seg_ok(qs[q], ql[q], dec, &o))
				return 400;
		}
		if (!m->route)
			continue; /* the router refused an earlier one */
		if (j >= m->nparams)
			abort();
		size_t namelen = pl[k] - (last ? 5 : 2);
		if (strncmp(m->params[j].name, ps[k] + 1, namelen) != 0 ||
		    strlen(m->params[j].name) != namelen)
			abort();
		if (strlen(m->params[j].value) != o ||
		    memcmp(m->params[j].value, dec, o) != 0)
			abort();
		if (!last && strchr(m->params[j].value, '/'))
			abort();
		j++;
	}
	if (m->route && j != m->nparams)
		abort();
	return 200;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!router)
		setup();
	if (size < 1)
		return 0;

	const char *method = methods[data[0] % 6];
	char *path = malloc(size);
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';

	vbx__match m;
	int status = vbx__router_match(router, method, path, arena, &m);
	struct expect x;
	reference(method, path, &x);

	if (status == 200 || x.status == 200) {
		/* Both must pick the same route; then its parameters decide
		 * between 200 and 400. */
		if (x.status != 200)
			abort();
		int want = check_params(x.route, path, &m);
		if (status != want)
			abort();
		if (status == 200) {
			if (!m.route || m.route->ud != (void *)&table[x.route])
				abort();
			if (strcmp(m.route->method, method) != 0)
				abort();
		}
	} else if (status != x.status) {
		abort();
	}

	if (status != 200 && (m.route || m.nparams || !m.error))
		abort();
	if (status == 405 && strcmp(m.allow, x.allow) != 0)
		abort();
	if (status != 405 && m.allow[0])
		abort();
	if (status == 405 && method_bit(method) >= 0 && strstr(m.allow, method))
		abort(); /* (no method name is a substring of another) */

	vbx__arena_reset(arena);
	free(path);
	return 0;
}
