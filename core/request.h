/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.h - one HTTP request as the core holds it, and the response the
 * handler gives. Shared by the server (service thread) and the workers.
 *
 * Ownership moves, it is never shared: the service thread builds the
 * request, a worker owns it while the handler runs, then the service
 * thread owns it again to write the response. Everything in it lives in
 * its arena.
 */
#ifndef VBX_REQUEST_H
#define VBX_REQUEST_H

#include "arena.h"
#include "core.h"
#include "json.h"
#include "router.h"
#include "trace.h"

#define VBX__REQ_ID_LEN 64 /* accepted from X-Request-Id; ours are 32 */

typedef struct vbx__header {
	const char *name; /* lower case */
	const char *value;
} vbx__header;

struct vbx_request {
	struct vbx_object_head head;
	vbx__arena *arena;
	struct lws *wsi; /* service thread only */
	struct vbx__server *server;
	struct vbx_request *next_done; /* the server's completion list */
	bool dispatched; /* routed once; lws may report a body twice */
	bool running;    /* a worker owns it */
	bool orphaned;   /* the connection closed while a worker ran */
	bool counted;    /* in the server's in-flight count */
	unsigned char completions; /* how often lws reported it */
	bool close_after; /* close the connection after the answer: what
	                     follows it cannot be framed (framing.h) */

	const char *method;
	const char *path;   /* without the query string */
	vbx__header *query; /* decoded query arguments */
	size_t nquery;
	char id[VBX__REQ_ID_LEN + 1];
	char client[64]; /* whom it comes from (clientaddr.c) */
	char peer[64];   /* the connection's peer, when client differs */
	vbx__header *headers;
	size_t nheaders;
	vbx__match match;
	char *body; /* NUL-terminated copy */
	size_t body_len, body_cap;
	bool body_too_large;
	cJSON *json; /* parsed body, freed with the request */
	vbx_principal principal;
	bool has_principal;
	vbx__fields fields;
	int64_t start_ns;
	vbx__trace trace; /* trace.h; inactive without a span exporter */

	/* the response */
	int status; /* 0 until answered */
	const char *content_type;
	char *resp; /* malloc'd */
	size_t resp_len, resp_sent;
	bool headers_sent;
	bool head_only; /* HEAD: answered as GET, the body left out */
	vbx__header *resp_headers;
	size_t nresp_headers;
};

/* A new request with its own arena, or NULL. */
vbx_request *vbx__request_new(struct vbx__server *srv);
void vbx__request_free(vbx_request *r);
/* Append body bytes; marks body_too_large past max (and keeps nothing). */
void vbx__request_append_body(vbx_request *r, const void *data, size_t len,
                              size_t max);
/* A header's value by lower-case name, or NULL. */
const char *vbx__request_header(const vbx_request *r, const char *lname);
/* Answer with the error envelope; message is printf-style. */
int vbx__respond_error(vbx_request *r, int status, const char *code,
                       const char *fmt, ...) VBX_PRINTF(4, 5);
/* Answer with a body (copied). */
int vbx__respond(vbx_request *r, int status, const char *content_type,
                 const void *body, size_t len);
/* Answer with a JSON document (takes ownership). */
int vbx__respond_json(vbx_request *r, int status, cJSON *body);
/* Fill a fresh request id into buf (32 hex chars + NUL). */
void vbx__request_id_new(char *buf);
/* Is s an X-Request-Id the daemon keeps: 1..VBX__REQ_ID_LEN characters of
 * [A-Za-z0-9._-]? Anything else could forge log lines or headers. */
bool vbx__request_id_ok(const char *s);
/* Give r the client's X-Request-Id (given, may be NULL) when it is one we
 * keep, else a fresh id. */
void vbx__request_set_id(vbx_request *r, const char *given);
/* Is the body of a request with this method read and handed to the
 * handler? POST, PUT, PATCH and DELETE; the others' bodies are ignored. */
bool vbx__method_has_body(const char *method);
/*
 * r->path as the router wants it. libwebsockets hands over the path
 * percent-decoded, but the router decodes each parameter itself, so every
 * '%' goes back to "%25" and cannot start an escape a second time. In r's
 * arena; r->path itself when it holds no '%' (or memory is short).
 */
const char *vbx__router_path(vbx_request *r);
/* Monotonic nanoseconds. */
int64_t vbx__now_ns(void);

/* The request functions of the host table (host.c wires them). */
const char *vbx__req_method(const vbx_request *r);
const char *vbx__req_path(const vbx_request *r);
const char *vbx__req_id(const vbx_request *r);
const char *vbx__req_param(const vbx_request *r, const char *name);
const char *vbx__req_query(vbx_request *r, const char *name);
const char *vbx__req_header(vbx_request *r, const char *name);
const char *vbx__req_client_addr(const vbx_request *r);
const void *vbx__req_body(const vbx_request *r, size_t *len);
int vbx__req_json(vbx_request *r, cJSON **out);
const vbx_principal *vbx__req_principal(const vbx_request *r);
void *vbx__req_alloc(vbx_request *r, size_t size);
int vbx__resp_json(vbx_request *r, int status, cJSON *body);
int vbx__resp_error(vbx_request *r, int status, const char *code,
                    const char *fmt, va_list ap);
int vbx__resp_body(vbx_request *r, int status, const char *content_type,
                   const void *body, size_t len);
int vbx__resp_header(vbx_request *r, const char *name, const char *value);
int vbx__field_error(vbx_request *r, const char *field, const char *fmt,
                     va_list ap);
int vbx__req_fields_failed(const vbx_request *r);
int vbx__resp_validation(vbx_request *r);
int vbx__req_json_string(vbx_request *r, const cJSON *obj, const char *key,
                         int required, size_t min, size_t max,
                         const char **out);
int vbx__req_json_int(vbx_request *r, const cJSON *obj, const char *key,
                      int required, long long min, long long max,
                      long long *out);
int vbx__req_json_number(vbx_request *r, const cJSON *obj, const char *key,
                         int required, double min, double max, double *out);
int vbx__req_json_bool(vbx_request *r, const cJSON *obj, const char *key,
                       int required, int *out);

#endif
