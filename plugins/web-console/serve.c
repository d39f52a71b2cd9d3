/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve.c - GET / and GET /{path...}: the console's files from the
 * snapshot, index.html for the app's own routes, and the headers every
 * answer carries.
 *
 * The hot path takes a read lock, looks the path up in the snapshot's
 * sorted table and hands the cached bytes to vbx_resp_body() (which copies
 * them for the server): no open(), no stat(). A rescan runs at most once
 * per recheck, on the request that finds the snapshot due, while the
 * others go on with the old one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wc.h"

int64_t wc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The daemon's own paths: never the app's, whatever no route has. */
static bool reserved(const char *rel)
{
	static const char *const dirs[] = {"api", "health", "metrics"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(rel, dirs[i], n) == 0 &&
		    (rel[n] == '\0' || rel[n] == '/'))
			return true;
	}
	return false;
}

static void security_headers(vbx_request *req, const wc_settings *s)
{
	vbx_resp_header(req, "Content-Security-Policy", s->csp);
	vbx_resp_header(req, "X-Content-Type-Options", "nosniff");
	vbx_resp_header(req, "Referrer-Policy", "no-referrer");
	vbx_resp_header(req, "X-Frame-Options", "DENY");
}

static const char *const coding_names[] = {NULL, "gzip", "br"};

/* f (or, when fallback, the app's page standing for another path). */
static int answer_file(wc *w, vbx_request *req, const wc_file *f, bool fallback)
{
	int e = wc_pick_encoding(vbx_req_header(req, "accept-encoding"),
	                         f->have);
	const wc_rep *rep = &f->rep[e];
	security_headers(req, &w->set);
	vbx_resp_header(req, "Cache-Control",
	                f->immutable && !fallback
	                        ? "public, max-age=31536000, immutable"
	                        : "no-cache");
	vbx_resp_header(req, "ETag", rep->etag);
	vbx_resp_header(req, "Last-Modified", f->last_modified);
	vbx_resp_header(req, "Vary", "Accept-Encoding");
	if (e != WC_IDENTITY)
		vbx_resp_header(req, "Content-Encoding", coding_names[e]);
	if (wc_inm_match(vbx_req_header(req, "if-none-match"), rep->etag))
		return vbx_resp_body(req, 304, NULL, NULL, 0);

	const char *data;
	size_t len;
	char *owned;
	int rc = wc_rep_body(rep, &data, &len, &owned);
	if (rc != VBX_OK) {
		vbx_log_warn(w->self,
		             "%s: cannot read %s (%s); it is looked for again "
		             "at the next rescan",
		             vbx_req_path(req), rep->path,
		             vbx_strerror(w->self, rc));
		atomic_store(&w->next_scan_ms, 0);
		return vbx_resp_error(req, 503, "UNAVAILABLE",
		                      "the file changed while being read; "
		                      "try again");
	}
	rc = vbx_resp_body(req, 200, f->type, data, len);
	free(owned);
	return rc;
}

static int answer_text(wc *w, vbx_request *req, int status, const char *type,
                       const char *text)
{
	security_headers(req, &w->set);
	vbx_resp_header(req, "Cache-Control", "no-cache");
	return vbx_resp_body(req, status, type, text, strlen(text));
}

/* Root, or the app's page in it, is missing: say so, and what to do. */
static int not_installed(wc *w, vbx_request *req)
{
	static const char page[] =
	        "<!doctype html>\n<html lang=\"en\"><head><meta "
	        "charset=\"utf-8\"><title>VibeBox</title></head><body>\n"
	        "<h1>The VibeBox web console is not installed</h1>\n"
	        "<p>This server runs the VibeBox API, but the files of its "
	        "web console are not where the web-console plugin looks for "
	        "them. An administrator installs them (<code>make "
	        "install</code> of a build with the console, or the "
	        "distribution's package of it) into the directory "
	        "<code>plugins.web-console.root</code> names; the daemon's "
	        "log says which directory that is. The console appears here "
	        "within seconds of being installed, without a restart.</p>\n"
	        "<p>The command-line client <code>vibebox</code> and the API "
	        "under <code>/api/v1</code> work meanwhile.</p>\n"
	        "</body></html>\n";
	return answer_text(w, req, 404, "text/html; charset=utf-8", page);
}

static int answer(wc *w, vbx_request *req, const char *rel)
{
	const wc_file *f = NULL;
	if (rel && wc_path_ok(rel) && (f = wc_snap_find(w->snap, rel)))
		return answer_file(w, req, f, false);
	/* a missing asset is a real 404: a stale page must not get HTML
	 * for its script */
	if (rel && wc_under(rel, w->set.assets))
		return answer_text(w, req, 404, "text/plain; charset=utf-8",
		                   "not found\n");
	f = wc_snap_find(w->snap, w->set.index);
	return f ? answer_file(w, req, f, rel != NULL) : not_installed(w, req);
}

static int serve(void *ud, vbx_request *req)
{
	wc *w = ud;
	const char *rel = vbx_req_param(req, "path"); /* NULL for "/" */
	if (rel && reserved(rel))
		return vbx_resp_error(req, 404, "NOT_FOUND",
		                      "%s %s: no such route",
		                      vbx_req_method(req), vbx_req_path(req));
	wc_refresh(w, false);
	pthread_rwlock_rdlock(&w->lock);
	int rc = answer(w, req, rel);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int wc_routes_register(wc *w)
{
	int rc = vbx_route_add(w->self, "GET", "/", VBX_ROUTE_PUBLIC, serve, w);
	if (rc == VBX_OK)
		rc = vbx_route_add(w->self, "GET", "/{path...}",
		                   VBX_ROUTE_PUBLIC, serve, w);
	return rc;
}
