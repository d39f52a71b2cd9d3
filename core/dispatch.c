/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dispatch.c - what happens to a request between its arrival and its
 * handler's answer: the body limit, HEAD and OPTIONS, the route match and
 * its error answers, then authentication and the handler itself.
 *
 * The server and the fake host of libvibebox-test run these same two
 * functions, so a plugin's unit tests see exactly what the daemon does;
 * only where the work runs (a worker, or the test's own thread) differs.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

/* The Allow header of the path just matched: the router's methods, HEAD
 * wherever GET is, and OPTIONS everywhere. */
static void put_allow(vbx_request *r)
{
	const char *allow = r->match.allow;
	const char *get = strstr(allow, "GET");
	char buf[sizeof(r->match.allow) + 16];

	if (get)
		snprintf(buf, sizeof(buf), "%.*sGET, HEAD%s, OPTIONS",
		         (int)(get - allow), allow, get + 3);
	else
		snprintf(buf, sizeof(buf), "%s, OPTIONS", allow);
	vbx__resp_header(r, "allow", buf);
}

int vbx__dispatch_match(vbx_request *r, uint64_t max_body)
{
	if (r->body_too_large) {
		vbx__respond_error(r, 413, "PAYLOAD_TOO_LARGE",
		                   "request body exceeds server.max_body (%llu "
		                   "bytes)",
		                   (unsigned long long)max_body);
		return VBX__DISPATCH_ANSWERED;
	}
	r->head_only = strcmp(r->method, "HEAD") == 0;
	const vbx__router *routes = vbx__http_routes();
	int status = 404;
	if (routes)
		status = vbx__router_match(
		        routes, r->head_only ? "GET" : r->method,
		        vbx__router_path(r), r->arena, &r->match);
	if (status == 405 && strcmp(r->method, "OPTIONS") == 0) {
		/* OPTIONS of a path that exists: what may be done there */
		put_allow(r);
		vbx__respond(r, 204, NULL, NULL, 0);
		return VBX__DISPATCH_ANSWERED;
	}
	if (status != 200) {
		if (status == 405)
			put_allow(r);
		vbx__respond_error(r, status, NULL, "%s %s: %s", r->method,
		                   r->path,
		                   status == 404   ? "no such route"
		                   : status == 405 ? "method not allowed"
		                                   : "malformed path");
		return VBX__DISPATCH_ANSWERED;
	}
	return r->match.route->flags & VBX__ROUTE_INLINE ? VBX__DISPATCH_INLINE
	                                                 : VBX__DISPATCH_RUN;
}

/* Milliseconds as whole seconds, rounded up. */
static long long seconds_up(int64_t ms)
{
	return ms > 0 ? (long long)((ms + 999) / 1000) : 0;
}

static void put_number(vbx_request *r, const char *name, long long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", v);
	vbx__resp_header(r, name, buf);
}

/*
 * The request_admit hook (catalog.h) on an authenticated request: its
 * rate-limit headers, or a 429. A handler that fails is only logged: a
 * limit that cannot be counted must not fail the request.
 */
static bool admit_hook(vbx_request *r)
{
	vbx_hook *h = vbx__cat.request_admit;
	if (!h || h->count == 0)
		return true;
	vbx_admit ad = {.version = 1};
	int rc = vbx_hook_request_admit_run(h, &r->principal, r->method,
	                                    r->match.route->pattern, &ad);
	if (rc != VBX_OK && rc != VBX_EAGAIN && rc != VBX_DECLINED)
		vbx__warn("a request_admit handler failed for %s %s (%s); "
		          "the request goes on without its limit: see that "
		          "plugin's log lines",
		          r->method, r->path, vbx__strerror(rc));
	if (ad.limit > 0) {
		put_number(r, "x-ratelimit-limit", (long long)ad.limit);
		put_number(r, "x-ratelimit-remaining",
		           (long long)(ad.remaining > 0 ? ad.remaining : 0));
		put_number(r, "x-ratelimit-reset", seconds_up(ad.reset_ms));
	}
	if (rc != VBX_EAGAIN)
		return true;
	long long wait = seconds_up(ad.retry_after_ms);
	put_number(r, "retry-after", wait > 0 ? wait : 1);
	vbx__respond_error(r, 429, "TOO_MANY_REQUESTS",
	                   "too many requests for this principal; retry in "
	                   "%lld seconds",
	                   wait > 0 ? wait : 1);
	return false;
}

/* Fill in the principal; false when the request was answered instead. */
static bool admit(vbx_request *r, unsigned flags, const vbx_principal *as)
{
	if (flags & VBX_ROUTE_PUBLIC)
		return true;
	if (!as) {
		const char *bearer =
		        vbx__bearer(vbx__request_header(r, "authorization"),
		                    NULL, r->arena);
		if (vbx__authenticate(r, bearer, flags, &r->principal,
		                      &r->has_principal) != 0)
			return false;
		return admit_hook(r);
	}
	r->principal = *as;
	r->has_principal = true;
	if ((flags & VBX_ROUTE_ADMIN) && !(as->flags & VBX_PRINCIPAL_ADMIN)) {
		vbx__respond_error(r, 403, "FORBIDDEN",
		                   "this endpoint is for instance admins");
		return false;
	}
	return admit_hook(r);
}

void vbx__dispatch_run(vbx_request *r, const vbx_principal *as)
{
	const vbx__route *rt = r->match.route;
	vbx__log_set_request(r->id);
	vbx__log_set_trace(r->trace.active ? r->trace.hex : NULL);
	vbx_span *was = vbx__trace_enter(r->trace.span);
	int rc = admit(r, rt->flags, as) ? rt->fn(rt->ud, r) : VBX_OK;
	if (!r->status) {
		if (rc == VBX_OK)
			vbx__log(rt->owner->name, VBX_LOG_ERROR,
			         "handler of %s %s returned without answering",
			         rt->method, rt->pattern);
		vbx__respond_error(
		        r, rc == VBX_OK ? 500 : vbx__http_status_for(rc), NULL,
		        "%s %s: %s", r->method, r->path,
		        rc == VBX_OK ? "the handler gave no answer"
		                     : vbx__strerror(rc));
	}
	vbx__trace_leave(was);
	vbx__log_set_trace(NULL);
	vbx__log_set_request(NULL);
}
