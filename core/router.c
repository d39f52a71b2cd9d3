/* SPDX-License-Identifier: Apache-2.0 */
/*
 * router.c - routes in a tree of path segments. See router.h.
 *
 * Every node is one segment position. A node has literal children (sorted,
 * found by binary search), at most one parameter child (all `{name}`s at
 * one position share it: the name is the route's business, not the
 * shape's), and up to one route per method that ends there.
 *
 * Matching is a depth-first walk that tries the literal child before the
 * parameter child. Each node sits at a fixed depth, so it is visited at
 * most once per match: the walk costs at most the size of the tree, and
 * its recursion is as deep as the longest registered pattern.
 *
 * A catch-all `{name...}` ends its pattern and hangs off its node as the
 * wild child. It is looked at only by a second walk, made when the first
 * found no route for any method, so that a catch-all turns 404s into
 * matches and changes no other answer (an exact path keeps its 405).
 */
#include "vbx_build.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h> /* vbx_hex_value: %XX escapes */

#include "router.h"

enum { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_COUNT };

static const char *const method_names[M_COUNT] = {
        "GET", "POST", "PUT", "PATCH", "DELETE",
};

/* A route as the router keeps it. pub comes first: a vbx__route pointer
 * handed out is a pointer to this. */
struct route {
	vbx__route pub;
	char *pattern;     /* pub.pattern */
	char *subprotocol; /* pub.subprotocol */
	char *names;       /* a copy of pattern with each '}' made a NUL */
	size_t nparams;
	bool wild; /* the last parameter is a catch-all */
	const char *param_names[VBX__MAX_PARAMS]; /* into names */
};

struct node {
	const char *lit; /* literal text of this segment (not terminated), */
	size_t litlen;   /* owned by the route whose pattern created it */
	struct node **lits;
	size_t nlits, caplits;
	struct node *param;
	struct node *wild; /* a catch-all `{name...}` ends here */
	struct route *routes[M_COUNT];
	unsigned methods; /* bit i set when routes[i] is */
};

struct vbx__router {
	struct node root; /* the empty path: the pattern "/" ends here */
	struct route **routes;
	size_t nroutes, caproutes;
	bool has_wild; /* some pattern ends in a catch-all */
};

/* A segment of a path or pattern: the bytes between two '/'. */
struct seg {
	const char *s;
	size_t len;
};

static int method_index(const char *method)
{
	if (!method)
		return -1;
	for (int i = 0; i < M_COUNT; i++)
		if (strcmp(method, method_names[i]) == 0)
			return i;
	return -1;
}

/*
 * The segment after the '/' at *pos, which is advanced to the '/' that
 * ends it (or to end). False when *pos is at end.
 */
static bool seg_next(const char **pos, const char *end, struct seg *out)
{
	if (*pos >= end)
		return false;
	const char *s = *pos + 1;
	const char *e = memchr(s, '/', (size_t)(end - s));
	if (!e)
		e = end;
	out->s = s;
	out->len = (size_t)(e - s);
	*pos = e;
	return true;
}

/* The end of the segments of an absolute path: "/" has none. */
static const char *segs_end(const char *path, size_t len)
{
	return len == 1 ? path : path + len;
}

static int seg_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

/* ---- the tree ---- */

/* Index of the literal child for s, or where it would go (*found false). */
static size_t node_find(const struct node *n, const char *s, size_t len,
                        bool *found)
{
	size_t lo = 0, hi = n->nlits;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct node *c = n->lits[mid];
		int cmp = seg_cmp(s, len, c->lit, c->litlen);
		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

static struct node *node_literal(const struct node *n, const char *s,
                                 size_t len)
{
	bool found;
	size_t i = node_find(n, s, len, &found);
	return found ? n->lits[i] : NULL;
}

static struct node *node_add_literal(struct node *n, const char *s, size_t len)
{
	bool found;
	size_t i = node_find(n, s, len, &found);
	if (found)
		return n->lits[i];

	if (n->nlits == n->caplits) {
		size_t cap = n->caplits ? n->caplits * 2 : 4;
		struct node **v = realloc(n->lits, cap * sizeof(*v));
		if (!v)
			return NULL;
		n->lits = v;
		n->caplits = cap;
	}
	struct node *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lit = s;
	c->litlen = len;
	memmove(n->lits + i + 1, n->lits + i,
	        (n->nlits - i) * sizeof(*n->lits));
	n->lits[i] = c;
	n->nlits++;
	return c;
}

static struct node *node_add_param(struct node *n)
{
	if (!n->param)
		n->param = calloc(1, sizeof(*n->param));
	return n->param;
}

static struct node *node_add_wild(struct node *n)
{
	if (!n->wild)
		n->wild = calloc(1, sizeof(*n->wild));
	return n->wild;
}

/* Free n's children (n itself belongs to its parent or the router). */
static void node_clear(struct node *n)
{
	for (size_t i = 0; i < n->nlits; i++) {
		node_clear(n->lits[i]);
		free(n->lits[i]);
	}
	free(n->lits);
	if (n->param) {
		node_clear(n->param);
		free(n->param);
	}
	if (n->wild) {
		node_clear(n->wild);
		free(n->wild);
	}
}

/* ---- patterns ---- */

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool seg_is_param(const struct seg *sg)
{
	return sg->len > 0 && sg->s[0] == '{';
}

/* "{name...}": a catch-all (its name still to be checked). */
static bool seg_is_wild(const struct seg *sg)
{
	return seg_is_param(sg) && sg->len >= 5 &&
	       memcmp(sg->s + sg->len - 4, "...}", 4) == 0;
}

/* A literal segment: printable ASCII, none of the reserved characters. */
static bool literal_valid(const struct seg *sg)
{
	if (sg->len == 0)
		return false;
	for (size_t i = 0; i < sg->len; i++) {
		unsigned char c = (unsigned char)sg->s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("?#%{}", c))
			return false;
	}
	return true;
}

/* "{name}" (or "{name...}" when wild) with a valid name. */
static bool param_valid(const struct seg *sg, bool wild)
{
	size_t tail = wild ? 4 : 1; /* "...}" or "}" */
	if (sg->len < tail + 2 || sg->s[sg->len - 1] != '}' ||
	    !is_name_start(sg->s[1]))
		return false;
	for (size_t i = 2; i < sg->len - tail; i++)
		if (!is_name_char(sg->s[i]))
			return false;
	return true;
}

/* The length of the name in "{name}" or "{name...}". */
static size_t param_name_len(const struct seg *sg)
{
	return sg->len - (seg_is_wild(sg) ? 5 : 2);
}

static bool param_seen(const struct seg params[], size_t n,
                       const struct seg *sg)
{
	for (size_t i = 0; i < n; i++)
		if (seg_cmp(params[i].s + 1, param_name_len(&params[i]),
		            sg->s + 1, param_name_len(sg)) == 0)
			return true;
	return false;
}

/*
 * Check a pattern; on success *nparams is its parameter count and
 * params[] its parameter segments (braces included), *wild whether the
 * last is a catch-all.
 */
static bool pattern_valid(const char *pattern, size_t *nparams,
                          struct seg params[VBX__MAX_PARAMS], bool *wild)
{
	if (!pattern || pattern[0] != '/')
		return false;
	size_t len = strnlen(pattern, VBX__MAX_PATH + 1);
	if (len > VBX__MAX_PATH)
		return false;

	const char *pos = pattern, *end = segs_end(pattern, len);
	struct seg sg;
	*nparams = 0;
	*wild = false;
	while (seg_next(&pos, end, &sg)) {
		if (*wild)
			return false; /* a catch-all ends its pattern */
		if (!seg_is_param(&sg)) {
			if (!literal_valid(&sg))
				return false;
			continue;
		}
		*wild = seg_is_wild(&sg);
		if (!param_valid(&sg, *wild) || *nparams == VBX__MAX_PARAMS)
			return false;
		if (param_seen(params, *nparams, &sg))
			return false;
		params[(*nparams)++] = sg;
	}
	return true;
}

/* The node where pattern ends, without creating any; NULL when none. */
static const struct node *tree_lookup(const struct node *root,
                                      const char *pattern)
{
	const char *pos = pattern;
	const char *end = segs_end(pattern, strlen(pattern));
	const struct node *n = root;
	struct seg sg;
	while (n && seg_next(&pos, end, &sg))
		n = seg_is_wild(&sg)    ? n->wild
		    : seg_is_param(&sg) ? n->param
		                        : node_literal(n, sg.s, sg.len);
	return n;
}

/* The node where pattern ends, creating what is missing; NULL on OOM.
 * Literal nodes point into pattern, which must outlive the tree. */
static struct node *tree_insert(struct node *root, const char *pattern)
{
	const char *pos = pattern;
	const char *end = segs_end(pattern, strlen(pattern));
	struct node *n = root;
	struct seg sg;
	while (n && seg_next(&pos, end, &sg))
		n = seg_is_wild(&sg)    ? node_add_wild(n)
		    : seg_is_param(&sg) ? node_add_param(n)
		                        : node_add_literal(n, sg.s, sg.len);
	return n;
}

/* ---- routes ---- */

static void route_free(struct route *rt)
{
	if (!rt)
		return;
	free(rt->pattern);
	free(rt->subprotocol);
	free(rt->names);
	free(rt);
}

/* A copy of tmpl whose strings the router owns. */
static struct route *route_copy(const vbx__route *tmpl, int mi, size_t np,
                                const struct seg params[], bool wild)
{
	struct route *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	rt->pub = *tmpl;
	rt->pub.method = method_names[mi];
	rt->pattern = strdup(tmpl->pattern);
	rt->names = strdup(tmpl->pattern);
	if (tmpl->subprotocol)
		rt->subprotocol = strdup(tmpl->subprotocol);
	if (!rt->pattern || !rt->names ||
	    (tmpl->subprotocol && !rt->subprotocol)) {
		route_free(rt);
		return NULL;
	}
	rt->pub.pattern = rt->pattern;
	rt->pub.subprotocol = rt->subprotocol;

	rt->nparams = np;
	rt->wild = wild;
	for (size_t i = 0; i < np; i++) {
		size_t at = (size_t)(params[i].s - tmpl->pattern);
		size_t tail = wild && i == np - 1 ? 4 : 1; /* "...}" or "}" */
		rt->names[at + params[i].len - tail] = '\0';
		rt->param_names[i] = rt->names + at + 1;
	}
	return rt;
}

static int routes_push(vbx__router *r, struct route *rt)
{
	if (r->nroutes == r->caproutes) {
		size_t cap = r->caproutes ? r->caproutes * 2 : 32;
		struct route **v = realloc(r->routes, cap * sizeof(*v));
		if (!v)
			return VBX_ENOMEM;
		r->routes = v;
		r->caproutes = cap;
	}
	r->routes[r->nroutes++] = rt;
	return VBX_OK;
}

vbx__router *vbx__router_new(void)
{
	return calloc(1, sizeof(vbx__router));
}

void vbx__router_free(vbx__router *r)
{
	if (!r)
		return;
	node_clear(&r->root);
	for (size_t i = 0; i < r->nroutes; i++)
		route_free(r->routes[i]);
	free(r->routes);
	free(r);
}

int vbx__router_add(vbx__router *r, const vbx__route *tmpl,
                    const vbx__route **existing)
{
	struct seg params[VBX__MAX_PARAMS];
	size_t np;
	bool wild;

	if (existing)
		*existing = NULL;
	if (!r || !tmpl || (!tmpl->fn && !tmpl->ws))
		return VBX_EINVAL;
	int mi = method_index(tmpl->method);
	if (mi < 0 || !pattern_valid(tmpl->pattern, &np, params, &wild))
		return VBX_EINVAL;

	const struct node *same = tree_lookup(&r->root, tmpl->pattern);
	if (same && same->routes[mi]) {
		if (existing)
			*existing = &same->routes[mi]->pub;
		return VBX_EEXIST;
	}

	struct route *rt = route_copy(tmpl, mi, np, params, wild);
	if (!rt)
		return VBX_ENOMEM;
	/* Insert with the router's copy: literal nodes point into it. Nodes
	 * created before an OOM stay, empty, which matching ignores. */
	struct node *n = tree_insert(&r->root, rt->pattern);
	if (!n || routes_push(r, rt) != VBX_OK) {
		route_free(rt);
		return VBX_ENOMEM;
	}
	n->routes[mi] = rt;
	n->methods |= 1u << mi;
	r->has_wild = r->has_wild || wild;
	return VBX_OK;
}

void vbx__router_foreach(const vbx__router *r,
                         void (*fn)(void *ud, const vbx__route *route),
                         void *ud)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nroutes; i++)
		fn(ud, &r->routes[i]->pub);
}

size_t vbx__router_count(const vbx__router *r)
{
	return r ? r->nroutes : 0;
}

/* ---- matching ---- */

struct walk {
	int mi;          /* the request's method; -1 when not one we route */
	bool wild;       /* the second walk: catch-alls count */
	const char *end; /* end of the path's segments */
	unsigned allow;  /* methods of every node the path reaches */
	struct seg caps[VBX__MAX_PARAMS]; /* parameter segments so far */
};

/* The catch-all node n takes the rest of the path from s: one or more
 * segments, none of them empty. */
static const struct route *walk_wild(const struct node *n, const char *s,
                                     struct walk *w, size_t ncap)
{
	size_t len = (size_t)(w->end - s);
	if (len == 0 || s[len - 1] == '/' || memmem(s, len, "//", 2))
		return NULL;
	w->caps[ncap].s = s;
	w->caps[ncap].len = len;
	w->allow |= n->methods;
	return w->mi >= 0 ? n->routes[w->mi] : NULL;
}

/* The route for the rest of the path from pos, at node n, with ncap
 * parameters captured so far. */
static const struct route *walk(const struct node *n, const char *pos,
                                struct walk *w, size_t ncap)
{
	struct seg sg;
	if (!seg_next(&pos, w->end, &sg)) {
		w->allow |= n->methods;
		return w->mi >= 0 ? n->routes[w->mi] : NULL;
	}
	if (sg.len == 0)
		return NULL; /* "//" or a trailing slash */

	const struct route *rt = NULL;
	const struct node *lit = node_literal(n, sg.s, sg.len);
	if (lit)
		rt = walk(lit, pos, w, ncap);
	if (!rt && n->param && ncap < VBX__MAX_PARAMS) {
		w->caps[ncap] = sg;
		rt = walk(n->param, pos, w, ncap + 1);
	}
	if (!rt && w->wild && n->wild && ncap < VBX__MAX_PARAMS)
		rt = walk_wild(n->wild, sg.s, w, ncap);
	return rt;
}

/* 0 when the path is one we look at, else 400 with m->error set. */
static int path_check(const char *path, size_t *len, vbx__match *m)
{
	if (!path || path[0] != '/') {
		m->error = "request path must start with \"/\"";
		return 400;
	}
	*len = strnlen(path, VBX__MAX_PATH + 1);
	if (*len > VBX__MAX_PATH) {
		m->error = "request path is longer than 8192 bytes";
		return 400;
	}
	for (size_t i = 0; i < *len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c < 0x20 || c == 0x7f) {
			m->error = "request path contains a control character";
			return 400;
		}
		if (c == '%' && (vbx_hex_value(path[i + 1]) < 0 ||
		                 vbx_hex_value(path[i + 2]) < 0)) {
			m->error = "request path has invalid percent-encoding";
			return 400;
		}
	}
	return 0;
}

/* The percent-decoded value of a parameter segment (checked already by
 * path_check()), in the arena; NULL when out of memory. *len is the
 * decoded length, which may hold NUL bytes. */
static char *param_decode(vbx__arena *a, const struct seg *sg, size_t *len)
{
	char *out = vbx__arena_alloc(a, sg->len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < sg->len; i++) {
		if (sg->s[i] == '%') {
			out[o++] = (char)(vbx_hex_value(sg->s[i + 1]) * 16 +
			                  vbx_hex_value(sg->s[i + 2]));
			i += 2;
		} else {
			out[o++] = sg->s[i];
		}
	}
	out[o] = '\0';
	*len = o;
	return out;
}

static const char *param_error(vbx__arena *a, const char *name,
                               const char *what)
{
	const char *msg =
	        vbx__arena_printf(a, "path parameter \"%s\" %s", name, what);
	return msg ? msg : "a path parameter has a value that is not allowed";
}

/* The decoded value of one segment into *out, or 400/500 with m->error
 * set. */
static int seg_decode(vbx__arena *a, const struct seg *sg, const char *name,
                      vbx__match *m, char **out)
{
	size_t len;
	char *v = param_decode(a, sg, &len);
	if (!v) {
		m->error = "out of memory decoding path parameters";
		return 500;
	}
	if (memchr(v, '/', len) || strlen(v) != len) {
		m->error = param_error(a, name,
		                       "must not contain an encoded "
		                       "\"/\" or NUL");
		return 400;
	}
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		m->error = param_error(a, name, "must not be \".\" or \"..\"");
		return 400;
	}
	*out = v;
	return 200;
}

/* A catch-all's value: its segments decoded one by one (each under the
 * rules of a parameter), joined by "/". */
static int wild_decode(vbx__arena *a, const struct seg *all, const char *name,
                       vbx__match *m, char **out)
{
	char *v = vbx__arena_alloc(a, all->len + 1);
	if (!v) {
		m->error = "out of memory decoding path parameters";
		return 500;
	}
	size_t o = 0;
	const char *pos = all->s - 1, *end = all->s + all->len;
	struct seg sg;
	while (seg_next(&pos, end, &sg)) {
		char *part;
		int st = seg_decode(a, &sg, name, m, &part);
		if (st != 200)
			return st;
		size_t n = strlen(part);
		if (o)
			v[o++] = '/';
		memcpy(v + o, part, n);
		o += n;
	}
	v[o] = '\0';
	*out = v;
	return 200;
}

/* Decode the captured parameters into m; returns 200, 400 or 500. */
static int params_fill(const struct route *rt, const struct walk *w,
                       vbx__arena *a, vbx__match *m)
{
	for (size_t i = 0; i < rt->nparams; i++) {
		const char *name = rt->param_names[i];
		char *v = NULL;
		int st = rt->wild && i == rt->nparams - 1
		                 ? wild_decode(a, &w->caps[i], name, m, &v)
		                 : seg_decode(a, &w->caps[i], name, m, &v);
		if (st != 200)
			return st;
		m->params[i].name = name;
		m->params[i].value = v;
	}
	m->nparams = rt->nparams;
	return 200;
}

static void allow_format(unsigned allow, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < M_COUNT; i++) {
		if (!(allow & (1u << i)))
			continue;
		int n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "",
		                 method_names[i]);
		if (n < 0 || (size_t)n >= size - o)
			return; /* cannot happen: 64 bytes hold all five */
		o += (size_t)n;
	}
}

int vbx__router_match(const vbx__router *r, const char *method,
                      const char *path, vbx__arena *a, vbx__match *m)
{
	size_t len = 0;
	memset(m, 0, sizeof(*m));
	int status = path_check(path, &len, m);
	if (status)
		return status;

	struct walk w = {
	        .mi = method_index(method),
	        .end = segs_end(path, len),
	};
	const struct route *rt = r ? walk(&r->root, path, &w, 0) : NULL;
	if (!rt && !w.allow && r && r->has_wild) {
		w.wild = true;
		rt = walk(&r->root, path, &w, 0);
	}
	if (rt) {
		status = params_fill(rt, &w, a, m);
		if (status != 200) {
			m->nparams = 0;
			return status;
		}
		m->route = &rt->pub;
		return 200;
	}
	if (w.allow) {
		allow_format(w.allow, m->allow, sizeof(m->allow));
		m->error = "method not allowed on this path; see Allow";
		return 405;
	}
	m->error = "no route matches this path";
	return 404;
}
