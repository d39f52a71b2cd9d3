/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.c - reading a request and giving its answer: the request half of
 * the host table. Runs on whichever thread owns the request (see
 * request.h), so nothing here touches libwebsockets.
 */
#include "vbx_build.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "request.h"

int64_t vbx__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Ids are a random per-process prefix and a counter: unique without a
 * syscall per request. */
void vbx__request_id_new(char *buf)
{
	static _Atomic uint64_t prefix;
	static atomic_uint_fast64_t counter;
	uint64_t n = atomic_fetch_add(&counter, 1);
	uint64_t p = atomic_load(&prefix);
	if (!p) {
		if (getrandom(&p, sizeof(p), 0) != sizeof(p))
			p = (uint64_t)vbx__now_ns();
		p |= 1;
		uint64_t zero = 0;
		if (!atomic_compare_exchange_strong(&prefix, &zero, p))
			p = zero;
	}
	/* "%016llx%016llx" by hand: snprintf cost more than the rest */
	static const char hex[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, p >>= 4, n >>= 4) {
		buf[i] = hex[p & 15];
		buf[16 + i] = hex[n & 15];
	}
	buf[32] = '\0';
}

bool vbx__request_id_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	return n > 0 && s[n] == '\0' && n <= VBX__REQ_ID_LEN;
}

void vbx__request_set_id(vbx_request *r, const char *given)
{
	if (given && vbx__request_id_ok(given))
		snprintf(r->id, sizeof(r->id), "%s", given);
	else
		vbx__request_id_new(r->id);
}

bool vbx__method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") ||
	       !strcmp(m, "DELETE");
}

const char *vbx__router_path(vbx_request *r)
{
	if (!strchr(r->path, '%'))
		return r->path;
	size_t n = strlen(r->path), extra = 0;
	for (size_t i = 0; i < n; i++)
		extra += r->path[i] == '%';
	char *out = vbx__arena_alloc(r->arena, n + 2 * extra + 1), *o = out;
	if (!out)
		return r->path;
	for (size_t i = 0; i <= n; i++) {
		*o++ = r->path[i];
		if (r->path[i] == '%') {
			*o++ = '2';
			*o++ = '5';
		}
	}
	return out;
}

vbx_request *vbx__request_new(struct vbx__server *srv)
{
	vbx__arena *a = vbx__arena_new(4096);
	if (!a)
		return NULL;
	vbx_request *r = vbx__arena_alloc(a, sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->head.host = &vbx__host;
	r->arena = a;
	r->server = srv;
	r->start_ns = vbx__now_ns();
	return r;
}

void vbx__request_free(vbx_request *r)
{
	if (!r)
		return;
	vbx__span_discard(r->trace.span); /* never answered */
	cJSON_Delete(r->json);
	vbx__fields_free(&r->fields);
	free(r->body);
	free(r->resp);
	vbx__arena_free(r->arena);
}

void vbx__request_append_body(vbx_request *r, const void *data, size_t len,
                              size_t max)
{
	if (r->body_too_large || len == 0)
		return;
	if (r->body_len + len > max) {
		r->body_too_large = true;
		free(r->body);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		char *b = realloc(r->body, cap);
		if (!b) {
			r->body_too_large = true;
			return;
		}
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

const char *vbx__request_header(const vbx_request *r, const char *lname)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcmp(r->headers[i].name, lname) == 0)
			return r->headers[i].value;
	return NULL;
}

const char *vbx__req_method(const vbx_request *r)
{
	return r->method;
}

const char *vbx__req_path(const vbx_request *r)
{
	return r->path;
}

const char *vbx__req_id(const vbx_request *r)
{
	return r->id;
}

const char *vbx__req_param(const vbx_request *r, const char *name)
{
	for (size_t i = 0; i < r->match.nparams; i++)
		if (strcmp(r->match.params[i].name, name) == 0)
			return r->match.params[i].value;
	return NULL;
}

/* libwebsockets has already split and percent-decoded the arguments. */
const char *vbx__req_query(vbx_request *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

const char *vbx__req_header(vbx_request *r, const char *name)
{
	char lname[64];
	size_t n = strlen(name);
	if (n >= sizeof(lname))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lname[i] =
		        (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32
		                                                  : name[i]);
	return vbx__request_header(r, lname);
}

const char *vbx__req_client_addr(const vbx_request *r)
{
	return r->client;
}

const void *vbx__req_body(const vbx_request *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body_len ? r->body : NULL;
}

int vbx__req_json(vbx_request *r, cJSON **out)
{
	char err[160];
	*out = NULL;
	if (r->json) {
		*out = r->json;
		return VBX_OK;
	}
	if (vbx__json_parse_body(r->body, r->body_len, &r->json, err,
	                         sizeof(err)) != VBX_OK) {
		vbx__respond_error(r, 400, "BAD_REQUEST", "%s", err);
		return VBX_EINVAL;
	}
	int rc = vbx__json_duplicate_key(r->json, err, sizeof(err));
	if (rc != VBX_OK) {
		cJSON_Delete(r->json);
		r->json = NULL;
		if (rc != VBX_EEXIST) {
			vbx__respond_error(r, 500, NULL,
			                   "out of memory reading the body");
			return rc;
		}
		vbx__fields_add(&r->fields, err,
		                "is given more than once; send each key once");
		vbx__resp_validation(r);
		return VBX_EINVAL;
	}
	*out = r->json;
	return VBX_OK;
}

const vbx_principal *vbx__req_principal(const vbx_request *r)
{
	return r->has_principal ? &r->principal : NULL;
}

void *vbx__req_alloc(vbx_request *r, size_t size)
{
	return vbx__arena_alloc(r->arena, size);
}
