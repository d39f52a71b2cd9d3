/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httputil.c - the request helpers every endpoint of the API shares, in
 * the host table so that plugins answer as the core does (httputil.h):
 * ?page= and ?limit=, the {data, pagination} envelope, and one mapping
 * from store results to HTTP errors.
 */
#include "vbx_build.h"

#include "httputil.h"
#include "request.h"

/* A decimal number of digits only in [1, max]; 0 when it is not one. */
static long parse_count(const char *s, long max)
{
	long v = 0;
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
		if (v > max)
			return 0;
	}
	return v;
}

int vbx__page_parse(const char *page, const char *limit, vbx_page *out,
                    vbx__fields *f)
{
	long p = page ? parse_count(page, VBX_PAGE_MAX) : 1;
	long l = limit ? parse_count(limit, VBX_PAGE_LIMIT_MAX)
	               : VBX_PAGE_LIMIT_DEFAULT;
	if (p == 0)
		vbx__fields_add(f, "page",
		                "must be an integer between 1 and %d",
		                VBX_PAGE_MAX);
	if (l == 0)
		vbx__fields_add(f, "limit",
		                "must be an integer between 1 and %d",
		                VBX_PAGE_LIMIT_MAX);
	if (p == 0 || l == 0)
		return VBX_EINVAL;
	out->page = (int)p;
	out->limit = (int)l;
	return VBX_OK;
}

int vbx__req_page(vbx_request *r, vbx_page *out)
{
	if (vbx__page_parse(vbx__req_query(r, "page"),
	                    vbx__req_query(r, "limit"), out,
	                    &r->fields) == VBX_OK)
		return VBX_OK;
	vbx__resp_validation(r);
	return VBX_EINVAL;
}

cJSON *vbx__page_body(cJSON *data, const vbx_page *pg, int64_t total)
{
	cJSON *body = cJSON_CreateObject(), *p = cJSON_CreateObject();
	if (!body || !p || !data) {
		cJSON_Delete(body);
		cJSON_Delete(p);
		cJSON_Delete(data);
		return NULL;
	}
	cJSON_AddItemToObject(body, "data", data);
	cJSON_AddNumberToObject(p, "page", pg->page);
	cJSON_AddNumberToObject(p, "limit", pg->limit);
	cJSON_AddNumberToObject(p, "total", (double)total);
	cJSON_AddItemToObject(body, "pagination", p);
	return body;
}

static int store_unavailable(vbx_request *r, const vbx_hook *h)
{
	if (h && h->count == 0)
		return vbx__respond_error(r, 503, "UNAVAILABLE",
		                          "no plugin provides the \"store\" "
		                          "capability; load one "
		                          "(postgres-store) in the daemon's "
		                          "config");
	/* A write cut by a failover may have been committed (the answer to
	 * its COMMIT was lost): the client must look before it repeats. */
	return vbx__respond_error(r, 503, "UNAVAILABLE",
	                          "the store is unavailable (its database may "
	                          "be down or failing over); try again later "
	                          "(after a write, re-read first: it may have "
	                          "been applied)");
}

/* The plugin whose route this request runs, for the log. */
static const char *route_owner(const vbx_request *r)
{
	const vbx__route *rt = r->match.route;
	return rt && rt->owner && rt->owner->name ? rt->owner->name : "core";
}

static int store_failed(vbx_request *r, int rc, const char *what)
{
	vbx__log(route_owner(r), VBX_LOG_ERROR,
	         "%s %s: the store failed on %s: %s", r->method, r->path, what,
	         vbx__strerror(rc));
	vbx__respond_error(r, 500, "INTERNAL_ERROR",
	                   "the store failed on %s; see the daemon's log",
	                   what);
	return rc == VBX_OK ? VBX_ERR : rc;
}

int vbx__resp_store_error(vbx_request *r, const vbx_hook *h, int rc,
                          const char *what, const char *field)
{
	switch (rc) {
	case VBX_ENOTFOUND:
		vbx__respond_error(r, 404, "NOT_FOUND", "%s not found", what);
		return rc;
	case VBX_EEXIST:
		if (field)
			vbx__respond_error(r, 409, "CONFLICT",
			                   "%s with this %s exists already; "
			                   "choose another %s",
			                   what, field, field);
		else
			vbx__respond_error(r, 409, "CONFLICT",
			                   "%s exists already", what);
		return rc;
	case VBX_EUNAVAIL:
		store_unavailable(r, h);
		return rc;
	case VBX_ETIMEDOUT: /* the server's statement_timeout: slow, not broken
	                     */
		vbx__respond_error(r, 503, "UNAVAILABLE",
		                   "the store did not answer in time on %s "
		                   "(the database is slow); try again later",
		                   what);
		return rc;
	case VBX_EINVAL:
		vbx__respond_error(r, 400, "BAD_REQUEST",
		                   "the store refused a value of %s", what);
		return rc;
	default:
		return store_failed(r, rc, what);
	}
}
