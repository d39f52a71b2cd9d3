/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/http.h - routes, requests, responses and WebSockets for plugins.
 *
 * Register routes during init. A route handler runs on a worker thread and
 * may block; it answers with one vbx_resp_*() call and returns. A handler
 * that returns without answering gets a 500. All memory a request hands
 * out (parameters, query values, parsed JSON, vbx_req_alloc()) belongs to
 * the request and is freed after the response is sent.
 *
 *     static int hello(void *ud, vbx_request *req)
 *     {
 *             cJSON *o = cJSON_CreateObject();
 *             cJSON_AddStringToObject(o, "hello", vbx_req_param(req, "name"));
 *             return vbx_resp_json(req, 200, o);
 *     }
 *     ...
 *     vbx_route_add(self, "GET", "/api/v1/x/hello/{name}", 0, hello, NULL);
 *
 * Errors follow the platform's envelope:
 *     {"error":{"code":"NOT_FOUND","message":"...","statusCode":404}}
 */
#ifndef VIBEBOX_HTTP_H
#define VIBEBOX_HTTP_H

#include <string.h> /* strcmp, for vbx_json_known_fields */

#include <cjson/cJSON.h>
#include <vibebox/catalog.h>
#include <vibebox/store.h> /* vbx_page, for the paging helpers */

#ifdef __cplusplus
extern "C" {
#endif

/* Route flags. By default a route needs an authenticated principal. */
#define VBX_ROUTE_PUBLIC 0x1u /* no principal needed */
#define VBX_ROUTE_ADMIN 0x2u  /* instance admins only (403 otherwise) */

/*
 * Add a route. method: "GET", "POST", "PUT", "PATCH", "DELETE".
 * pattern: an absolute path whose segments are literal or `{name}`, e.g.
 * "/api/v1/x/acme/items/{id}". During init only.
 * Since ABI 1.3 the last segment may be a catch-all `{name...}`: it
 * matches one or more segments ("/api/v1/x/acme/files/{path...}" takes
 * ".../files/a/b.txt", and vbx_req_param(req, "path") is "a/b.txt", each
 * segment percent-decoded; an encoded "/" or NUL, a "." or ".." segment
 * is a 400, an empty segment no match). It is tried only for a path no
 * other pattern matches for any method, so it never takes a request
 * from another route, nor turns a 405 into a match. A 1.2 daemon refuses
 * the pattern (VBX_EINVAL).
 * A third-party plugin's routes live under its own name, /api/v1/x/NAME
 * and below (since ABI 1.1; the project's own plugins, listed in
 * docs/plugin-guide.md, use the rest of the API's paths).
 * Returns VBX_OK; VBX_EINVAL (bad pattern or method, or a pattern outside
 * the plugin's namespace; the log says where its routes must live);
 * VBX_EEXIST (a route of the same method and shape is taken, "/a/{x}" as
 * "/a/{y}"; the log names both plugins); VBX_ESTATE. Every refusal also
 * fails the plugin's load, whatever init returns.
 */
static inline int vbx_route_add(vbx_plugin *p, const char *method,
                                const char *pattern, unsigned flags,
                                vbx_route_fn *fn, void *ud)
{
	return VBX__HOST(p)->route_add(p, method, pattern, flags, fn, ud);
}

/* The request method, upper case. */
static inline const char *vbx_req_method(const vbx_request *r)
{
	return VBX__HOST(r)->req_method(r);
}

/* The request path, without the query string, not decoded. */
static inline const char *vbx_req_path(const vbx_request *r)
{
	return VBX__HOST(r)->req_path(r);
}

/* The request id (X-Request-Id, or generated). */
static inline const char *vbx_req_id(const vbx_request *r)
{
	return VBX__HOST(r)->req_id(r);
}

/* A path parameter, percent-decoded; NULL if the pattern has no `{name}`. */
static inline const char *vbx_req_param(const vbx_request *r, const char *name)
{
	return VBX__HOST(r)->req_param(r, name);
}

/* A query parameter, percent-decoded; NULL when absent. */
static inline const char *vbx_req_query(vbx_request *r, const char *name)
{
	return VBX__HOST(r)->req_query(r, name);
}

/* A request header (case-insensitive name); NULL when absent. */
static inline const char *vbx_req_header(vbx_request *r, const char *name)
{
	return VBX__HOST(r)->req_header(r, name);
}

/* The client's address as text ("127.0.0.1"). */
static inline const char *vbx_req_client_addr(const vbx_request *r)
{
	return VBX__HOST(r)->req_client_addr(r);
}

/* The raw body and its length (NULL and 0 when empty). Not NUL-terminated
 * in general. */
static inline const void *vbx_req_body(const vbx_request *r, size_t *len)
{
	return VBX__HOST(r)->req_body(r, len);
}

/*
 * Parse the body as a JSON object into *out (owned by the request).
 * On failure it answers 400 BAD_REQUEST itself (empty body, bad JSON with
 * the position, not an object) and returns VBX_EINVAL; the handler then
 * just returns.
 */
static inline int vbx_req_json(vbx_request *r, cJSON **out)
{
	return VBX__HOST(r)->req_json(r, out);
}

/* The authenticated principal, or NULL on a public route. */
static inline const vbx_principal *vbx_req_principal(const vbx_request *r)
{
	return VBX__HOST(r)->req_principal(r);
}

/* size bytes from the request's arena, 16-byte aligned, freed with the
 * request; NULL when out of memory. */
static inline void *vbx_req_alloc(vbx_request *r, size_t size)
{
	return VBX__HOST(r)->req_alloc(r, size);
}

/* Answer with a JSON body (takes ownership of body; NULL for none).
 * Returns VBX_OK, or VBX_ESTATE when an answer was already given. */
static inline int vbx_resp_json(vbx_request *r, int status, cJSON *body)
{
	return VBX__HOST(r)->resp_json(r, status, body);
}

/* Answer with the error envelope. code: "NOT_FOUND", ... */
static inline int vbx_resp_error(vbx_request *r, int status, const char *code,
                                 const char *fmt, ...) VBX_PRINTF(4, 5);
static inline int vbx_resp_error(vbx_request *r, int status, const char *code,
                                 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = VBX__HOST(r)->resp_error(r, status, code, fmt, ap);
	va_end(ap);
	return rc;
}

/* Answer with a body of any type (copied). Status 204 sends no body.
 * VBX_EINVAL, with nothing answered, for a status outside 200..599 or a
 * content type with a CR or LF in it. */
static inline int vbx_resp_body(vbx_request *r, int status,
                                const char *content_type, const void *body,
                                size_t len)
{
	return VBX__HOST(r)->resp_body(r, status, content_type, body, len);
}

/* Add a response header before answering. Both strings are copied. */
static inline int vbx_resp_header(vbx_request *r, const char *name,
                                  const char *value)
{
	return VBX__HOST(r)->resp_header(r, name, value);
}

/*
 * Field validation. The vbx_json_*() helpers read one member of a JSON
 * object, check it and, when it is wrong, record a field error on the
 * request. After checking every field:
 *
 *     if (vbx_fields_failed(req))
 *             return vbx_resp_validation(req);
 *
 * answers 400 VALIDATION_ERROR with "fields": {"name": "message", ...}.
 */
static inline int vbx_field_error(vbx_request *r, const char *field,
                                  const char *fmt, ...) VBX_PRINTF(3, 4);
static inline int vbx_field_error(vbx_request *r, const char *field,
                                  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = VBX__HOST(r)->field_error(r, field, fmt, ap);
	va_end(ap);
	return rc;
}

/* Nonzero when a field error has been recorded. */
static inline int vbx_fields_failed(const vbx_request *r)
{
	return VBX__HOST(r)->fields_failed(r);
}

/* Answer 400 VALIDATION_ERROR with the recorded field errors. */
static inline int vbx_resp_validation(vbx_request *r)
{
	return VBX__HOST(r)->resp_validation(r);
}

/*
 * Record the field error "is not a known field" for each member of the
 * JSON object body whose name is not in known (a NULL-terminated list of
 * names), so that a misspelt field does not pass silently as an absent
 * one. body NULL or not an object: nothing is recorded. Strings are read
 * only during the call. Since ABI 1.1; inline over vbx_field_error(), so
 * it needs nothing of the host that 1.0 lacks.
 *
 *     static const char *const known[] = {"name", "slug", NULL};
 *     vbx_json_known_fields(req, body, known);
 */
static inline void vbx_json_known_fields(vbx_request *r, const cJSON *body,
                                         const char *const *known)
{
	const cJSON *it;
	if (!cJSON_IsObject(body))
		return;
	cJSON_ArrayForEach(it, body)
	{
		const char *const *k = known;
		while (*k && strcmp(*k, it->string) != 0)
			k++;
		if (!*k)
			vbx_field_error(r, it->string, "is not a known field");
	}
}

#define VBX_REQUIRED 1
#define VBX_OPTIONAL 0

/*
 * A string member of `obj` of min..max UTF-8 bytes. *out points into obj
 * (owned by the request) or is NULL when absent and optional.
 * Returns VBX_OK, VBX_ENOTFOUND (absent and optional) or VBX_EINVAL (field
 * error recorded).
 */
static inline int vbx_json_string(vbx_request *r, const cJSON *obj,
                                  const char *key, int required, size_t min,
                                  size_t max, const char **out)
{
	return VBX__HOST(r)->json_string(r, obj, key, required, min, max, out);
}

/* An integer member in [min, max]; same returns as vbx_json_string(). */
static inline int vbx_json_int(vbx_request *r, const cJSON *obj,
                               const char *key, int required, long long min,
                               long long max, long long *out)
{
	return VBX__HOST(r)->json_int(r, obj, key, required, min, max, out);
}

/* A number member in [min, max]; same returns as vbx_json_string(). */
static inline int vbx_json_number(vbx_request *r, const cJSON *obj,
                                  const char *key, int required, double min,
                                  double max, double *out)
{
	return VBX__HOST(r)->json_number(r, obj, key, required, min, max, out);
}

/*
 * An object written straight to JSON text, for the rows of a long list
 * (ABI 1.1): one cJSON_Raw node where a tree takes a node and a string
 * per field, printed by the daemon's own printer. pairs holds npairs
 * key/value pairs, pairs[2 * i] the key and pairs[2 * i + 1] its string
 * value, or NULL for null:
 *
 *     const char *kv[] = {"id", p->id, "teamId", NULL};
 *     cJSON_AddItemToArray(data, vbx_json_row(self, kv, 2));
 *
 * The bytes are those of the same object built with cJSON and answered.
 * Returns a new Raw item owned by the caller (add it to an array or
 * object; do not add members to it), or NULL when out of memory.
 */
static inline cJSON *vbx_json_row(const vbx_plugin *p, const char *const *pairs,
                                  size_t npairs)
{
	return VBX__HOST(p)->json_row(pairs, npairs);
}

/* A boolean member; same returns as vbx_json_string(). */
static inline int vbx_json_bool(vbx_request *r, const cJSON *obj,
                                const char *key, int required, int *out)
{
	return VBX__HOST(r)->json_bool(r, obj, key, required, out);
}

/* ---- lists and store results (since ABI 1.1) ---- */

/* The bounds of ?page= and ?limit= every list of the API shares. */
#define VBX_PAGE_MAX 1000000 /* keeps (page - 1) * limit in an int */
#define VBX_PAGE_LIMIT_MAX 100
#define VBX_PAGE_LIMIT_DEFAULT 20

/*
 * The page a list request asks for: ?page= (default 1, at most
 * VBX_PAGE_MAX) and ?limit= (default VBX_PAGE_LIMIT_DEFAULT, at most
 * VBX_PAGE_LIMIT_MAX), each decimal digits only (no sign, no spaces;
 * leading zeros are fine). Returns VBX_OK with *out set, or answers 400
 * VALIDATION_ERROR itself, with "page" and "limit" field errors "must be
 * an integer between 1 and <max>", and returns VBX_EINVAL (*out then
 * untouched): the handler just returns.
 *
 *     vbx_page pg;
 *     if (vbx_req_page(req, &pg) != VBX_OK)
 *             return VBX_OK;
 */
static inline int vbx_req_page(vbx_request *r, vbx_page *out)
{
	return VBX__HOST(r)->req_page(r, out);
}

/*
 * The API's list envelope,
 *     {"data": data, "pagination": {"page": P, "limit": L, "total": T}},
 * built around data (a cJSON array of the page's rows), which it takes:
 * from then on data belongs to the returned object (or has been freed).
 * Returns the object, which the caller owns (hand it to vbx_resp_json());
 * NULL when data is NULL or memory ran out, with data freed.
 */
static inline cJSON *vbx_page_body(vbx_request *r, cJSON *data,
                                   const vbx_page *pg, int64_t total)
{
	return VBX__HOST(r)->page_body(data, pg, total);
}

/*
 * Answer a store hook's failure rc (anything but VBX_OK) the way every
 * endpoint of the API does, and return rc (VBX_ERR for VBX_OK):
 *   VBX_ENOTFOUND  404 NOT_FOUND "<what> not found"
 *   VBX_EEXIST     409 CONFLICT "<what> with this <field> exists already;
 *                  choose another <field>" ("<what> exists already" when
 *                  field is NULL)
 *   VBX_EUNAVAIL   503 UNAVAILABLE: when hook h has no handler, "no plugin
 *                  provides the \"store\" capability; load one
 *                  (postgres-store) in the daemon's config", else "the
 *                  store is unavailable (its database may be down); try
 *                  again later"
 *   VBX_EINVAL     400 BAD_REQUEST "the store refused a value of <what>"
 *   anything else  500 INTERNAL_ERROR "the store failed on <what>; see
 *                  the daemon's log", and the log line says what failed
 * what names the object: "team 3f...", "a team", "user 3f...". h is the
 * hook that failed (NULL: taken to have a handler). Strings are read only
 * during the call.
 */
static inline int vbx_resp_store_error(vbx_request *r, const vbx_hook *h,
                                       int rc, const char *what,
                                       const char *field)
{
	return VBX__HOST(r)->resp_store_error(r, h, rc, what, field);
}

/* ---- WebSockets ---- */

/*
 * The callbacks of a WebSocket route. `ud` is the route's user data.
 * open runs on a worker after authentication and may block; it returns
 * VBX_OK to accept, or an error (VBX_ENOTFOUND, VBX_EDENIED, ...) that
 * closes the socket with 4000 + the matching HTTP status (4404, 4403).
 * message, drain and close run on the service thread and must not block.
 */
typedef struct vbx_ws_ops {
	size_t struct_size; /* sizeof(vbx_ws_ops) */
	int (*open)(void *ud, vbx_ws *ws);
	void (*message)(void *ud, vbx_ws *ws, const void *data, size_t len,
	                int binary);
	/* The send queue fell below its low-water mark after a VBX_EAGAIN. */
	void (*drain)(void *ud, vbx_ws *ws);
	/* The connection is gone; code is the close code. The last callback. */
	void (*close)(void *ud, vbx_ws *ws, int code);
	/*
	 * Optional (ABI 1.1; NULL: nothing to re-check). Does the route still
	 * allow the socket's principal? Called on a worker (it may block)
	 * after a principal_changed event concerning the principal, once its
	 * credential was found still valid. Returns VBX_OK to keep the socket;
	 * VBX_EUNAVAIL closes it with 4503, anything else with 4403. Must not
	 * close the socket itself. May run concurrently with message, drain
	 * and even after close: use only vbx_ws_principal(), vbx_ws_param()
	 * and vbx_ws_query(), never vbx_ws_data().
	 */
	int (*recheck)(void *ud, vbx_ws *ws);
} vbx_ws_ops;

/*
 * Add a WebSocket route. subprotocol: the protocol name the client must
 * offer (e.g. "vibebox.terminal.v1"); clients may also offer
 * "bearer.<token>" to authenticate from a browser. flags as for routes.
 * During init only. Returns as vbx_route_add().
 */
static inline int vbx_ws_route_add(vbx_plugin *p, const char *pattern,
                                   const char *subprotocol, unsigned flags,
                                   const vbx_ws_ops *ops, void *ud)
{
	return VBX__HOST(p)->ws_route_add(p, pattern, subprotocol, flags, ops,
	                                  ud);
}

/*
 * Queue one message. Any thread. Copies the data. Returns VBX_OK;
 * VBX_EAGAIN when the queue is over its limit (nothing queued: wait for
 * the drain callback); VBX_ESTATE when the connection is closing.
 */
static inline int vbx_ws_send(vbx_ws *ws, const void *data, size_t len,
                              int binary)
{
	return VBX__HOST(ws)->ws_send(ws, data, len, binary);
}

/* Stop (paused != 0) or resume reading from the client. Any thread. */
static inline void vbx_ws_pause(vbx_ws *ws, int paused)
{
	VBX__HOST(ws)->ws_pause(ws, paused);
}

/* Close with a code (1000 normal, 1001 going away, 4xxx) and a reason. */
static inline void vbx_ws_close(vbx_ws *ws, int code, const char *reason)
{
	VBX__HOST(ws)->ws_close(ws, code, reason);
}

/* Keep ws valid past its close callback (for another thread); every ref
 * needs one unref. */
static inline void vbx_ws_ref(vbx_ws *ws)
{
	VBX__HOST(ws)->ws_ref(ws);
}

static inline void vbx_ws_unref(vbx_ws *ws)
{
	VBX__HOST(ws)->ws_unref(ws);
}

/* One pointer of the route's own per connection. */
static inline void vbx_ws_set_data(vbx_ws *ws, void *data)
{
	VBX__HOST(ws)->ws_set_data(ws, data);
}

static inline void *vbx_ws_data(const vbx_ws *ws)
{
	return VBX__HOST(ws)->ws_data(ws);
}

/* The principal (NULL on a public route), path and query parameters;
 * owned by the connection. */
static inline const vbx_principal *vbx_ws_principal(const vbx_ws *ws)
{
	return VBX__HOST(ws)->ws_principal(ws);
}

static inline const char *vbx_ws_param(const vbx_ws *ws, const char *name)
{
	return VBX__HOST(ws)->ws_param(ws, name);
}

static inline const char *vbx_ws_query(const vbx_ws *ws, const char *name)
{
	return VBX__HOST(ws)->ws_query(ws, name);
}

/* ---- 1.1 (audit) ---- */

/* The client's address as the daemon saw it ("127.0.0.1", "::1"; the
 * access log's "client"); owned by the connection, never NULL. Since ABI
 * 1.1. */
static inline const char *vbx_ws_client_addr(const vbx_ws *ws)
{
	return VBX__HOST(ws)->ws_client_addr(ws);
}
/* ---- end 1.1 (audit) ---- */

#ifdef __cplusplus
}
#endif
#endif
