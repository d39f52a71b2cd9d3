/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/router.h - the table of HTTP and WebSocket routes. Not installed.
 *
 * Routes are added during init (single-threaded) and then only matched,
 * which reads the table without changing it, so any number of threads may
 * match at once without a lock.
 *
 * A pattern is an absolute path whose segments are literal text or a whole
 * segment parameter `{name}`: "/api/v1/teams/{id}/members/{userId}". At
 * add time each pattern is split into segments and merged into a tree, so
 * matching walks the request path once and allocates nothing but the
 * decoded parameter values.
 *
 * Matching rules:
 *   - A literal segment matches the same bytes; there is no decoding
 *     ("/teams/mine" is not matched by "/teams/min%65").
 *   - A parameter matches any non-empty segment. Its value is
 *     percent-decoded ("+" stays "+"); a value that decodes to something
 *     containing "/" or NUL, or that is "." or "..", is refused with 400.
 *   - For a given method, literal segments win over parameters, segment by
 *     segment from the left: GET "/teams/mine" goes to "/teams/mine", not
 *     "/teams/{id}". The choice is made per method: when "/teams/mine" has
 *     only GET, DELETE "/teams/mine" goes to DELETE "/teams/{id}".
 *   - A trailing slash or an empty segment ("//") never matches; "/" is
 *     matched only by the pattern "/".
 *   - A pattern may end in a catch-all `{name...}`, which matches one or
 *     more whole segments ("/{path...}" matches "/a" and "/a/b.js", not
 *     "/"). A catch-all is tried only for a path that no other pattern
 *     matches for any method: it turns what would be a 404 into a match
 *     and changes no other answer (a path with routes for other methods
 *     stays a 405). Among catch-alls the deepest wins, as for the rest.
 *     Its value is the segments, each decoded and refused as a parameter
 *     is, joined by "/"; an empty segment in them never matches.
 *   - Methods compare case-sensitively. WebSocket routes are registered
 *     with method "GET" (the upgrade request's method) and are told apart
 *     by route->ws != NULL; they therefore share GET's namespace.
 */
#ifndef VBX_ROUTER_H
#define VBX_ROUTER_H

#include <stddef.h>

#include <vibebox/http.h>

#include "arena.h"

/* Parameters per pattern. */
#define VBX__MAX_PARAMS 8

/* Longest request path the router looks at, in bytes; longer is a 400. */
#define VBX__MAX_PATH 8192

/* One route. vbx__router_add() copies the template; the router owns the
 * copy and its strings until vbx__router_free(). */
typedef struct vbx__route {
	const char *method;  /* "GET" ... ; copied */
	const char *pattern; /* "/api/v1/teams/{id}/members/{userId}"; copied */
	unsigned flags;      /* VBX_ROUTE_* (include/vibebox/http.h) */
	vbx_route_fn *fn;    /* may be NULL for WS routes */
	void *ud;            /* handed to fn (or the ws ops); not owned */
	vbx_plugin *owner;   /* who registered it; not owned */
	const vbx_ws_ops *ws;    /* WS routes only; not owned */
	const char *subprotocol; /* WS routes only; copied */
	/* The route's metric series (reqmetrics.c), resolved on its first
	 * request and published with an atomic store; owned there. */
	void *metrics;
} vbx__route;

typedef struct vbx__router vbx__router;

/* An empty router, or NULL when out of memory. Free with
 * vbx__router_free(). */
vbx__router *vbx__router_new(void);

/* Free the router, its routes and their strings. r may be NULL. */
void vbx__router_free(vbx__router *r);

/*
 * Add a copy of *tmpl. Checks that:
 *   - method is one of GET POST PUT PATCH DELETE;
 *   - pattern starts with "/", has no empty segment (except the lone "/"),
 *     only printable ASCII, none of "?#%", and braces only as whole-segment
 *     parameters `{name}` with name [A-Za-z_][A-Za-z0-9_]*, unique in the
 *     pattern, at most VBX__MAX_PARAMS of them, the last of which may be
 *     a catch-all `{name...}` that ends the pattern;
 *   - the route has fn or ws.
 * Returns VBX_OK; VBX_EINVAL for a bad method, pattern or route;
 * VBX_EEXIST when a route of the same method and the same shape exists
 * ("/a/{x}" and "/a/{y}" clash), with *existing (when existing is not
 * NULL) set to that route so that the caller can name its owner;
 * VBX_ENOMEM.
 */
int vbx__router_add(vbx__router *r, const vbx__route *tmpl,
                    const vbx__route **existing);

/* The outcome of vbx__router_match(). */
typedef struct vbx__match {
	const vbx__route *route; /* owned by the router; NULL unless 200 */
	size_t nparams;
	struct {
		const char *name;  /* owned by the router */
		const char *value; /* decoded, in the arena */
	} params[VBX__MAX_PARAMS];
	/* On 405: the methods the path has, for the Allow header:
	 * "GET, POST". Empty otherwise. */
	char allow[64];
	/* Unless 200: why, in words fit for the error message
	 * ("no route for GET /x"); static or in the arena. */
	const char *error;
} vbx__match;

/*
 * Match a request. path is the raw request path without the query string,
 * not decoded. Returns the HTTP status:
 *   200  m->route and m->params are set (values percent-decoded into a);
 *   404  no pattern matches the path;
 *   405  a pattern matches the path but not for this method; m->allow
 *        lists the methods that would match;
 *   400  path does not start with "/", is longer than VBX__MAX_PATH, has
 *        a control character or bad percent-encoding, or a parameter
 *        decodes to a value with "/" or NUL or to "." or "..";
 *   500  out of memory in a (or a is NULL) while decoding parameters.
 * m->error says why for anything but 200. Does not allocate except in a.
 */
int vbx__router_match(const vbx__router *r, const char *method,
                      const char *path, vbx__arena *a, vbx__match *m);

/* Call fn(ud, route) for every route in the order they were added. */
void vbx__router_foreach(const vbx__router *r,
                         void (*fn)(void *ud, const vbx__route *route),
                         void *ud);

/* How many routes the router holds. */
size_t vbx__router_count(const vbx__router *r);

#endif
