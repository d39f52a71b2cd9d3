/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the metrics plugin: provides "metrics" (which turns the
 * registry on) and exposes every family as Prometheus text or
 * OpenMetrics, on a listener of its own (`listen`, by default
 * 127.0.0.1:9464) or, when `listen` is "", as GET /metrics on the public
 * API listener. The latter needs `token_file`: the registry must never be
 * readable by anyone on the public listener by accident.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vibebox/config.h>
#include <vibebox/http.h>
#include <vibebox/log.h>

#include "mx.h"

#ifndef MX_VERSION
#define MX_VERSION "unknown"
#endif

#define DEFAULT_LISTEN "127.0.0.1:9464"

/* Equal without telling by its timing how much of it matched. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)(a[i < alen ? i : 0] ^ b[i]);
	return alen > 0 && diff == 0;
}

static bool authorized(const mx_state *st, const char *authorization)
{
	if (!st->token)
		return true;
	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return false;
	const char *t = authorization + 7;
	while (*t == ' ')
		t++;
	return same_secret(t, strlen(t), st->token, st->token_len);
}

static void plain(mx_answer *a, int status, const char *msg)
{
	a->status = status;
	a->ctype = "text/plain; charset=utf-8";
	mx_buf_puts(&a->body, msg);
}

/* Who may scrape and how; false when *a is answered already. */
static bool admit(mx_state *st, const char *method, const char *path,
                  const char *authorization, mx_answer *a)
{
	if (strcmp(path, "/metrics")) {
		plain(a, 404, "not found: the metrics are at /metrics\n");
		return false;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		a->allow = "GET, HEAD";
		plain(a, 405, "only GET and HEAD\n");
		return false;
	}
	if (!authorized(st, authorization)) {
		plain(a, 401,
		      "unauthorized: send Authorization: Bearer <the "
		      "token of plugins.metrics.token_file>\n");
		return false;
	}
	return true;
}

void mx_answer_request(mx_state *st, const char *method, const char *path,
                       const char *accept, const char *authorization,
                       mx_answer *a)
{
	*a = (mx_answer){0};
	if (!admit(st, method, path, authorization, a))
		return;
	mx_render r = {.out = &a->body, .format = mx_accept_format(accept)};
	if (vbx_metrics_visit(st->self, mx_render_visit, &r) != VBX_OK) {
		mx_buf_free(&a->body);
		plain(a, 500, "metrics are not enabled\n");
		return;
	}
	mx_render_process(&r, MX_VERSION);
	mx_render_end(&r);
	if (a->body.oom) {
		mx_buf_free(&a->body);
		plain(a, 500, "out of memory rendering the metrics\n");
		return;
	}
	a->status = 200;
	a->ctype = r.format == MX_OPENMETRICS ? MX_CTYPE_OPENMETRICS
	                                      : MX_CTYPE_TEXT;
}

/* GET /metrics on the public API listener (listen = ""). */
static int public_metrics(void *ud, vbx_request *req)
{
	mx_answer a;
	mx_answer_request(ud, vbx_req_method(req), "/metrics",
	                  vbx_req_header(req, "accept"),
	                  vbx_req_header(req, "authorization"), &a);
	if (a.status == 401)
		vbx_resp_header(req, "WWW-Authenticate", "Bearer");
	int rc = vbx_resp_body(req, a.status, a.ctype, a.body.data, a.body.len);
	mx_buf_free(&a.body);
	return rc;
}

static void state_free(mx_state *st)
{
	if (!st)
		return;
	if (st->token) {
		memset(st->token, 0, st->token_len);
		free(st->token);
	}
	free(st->listen);
	free(st);
}

/* The block, read by init and validate alike. */
static int parse_config(vbx_plugin *self, const vbx_config *cfg, mx_state **out)
{
	mx_state *st = calloc(1, sizeof(*st));
	const char *listen = NULL;
	char err[160];

	*out = st;
	if (!st)
		return VBX_ENOMEM;
	st->self = self;
	if (vbx_cfg_string(cfg, "listen", DEFAULT_LISTEN, &listen) != VBX_OK ||
	    vbx_cfg_secret(cfg, "token", 0, &st->token) != VBX_OK)
		return VBX_EINVAL;
	if (st->token && !st->token[0])
		return vbx_cfg_error(cfg, "token_file",
		                     "the token is empty; put a long random "
		                     "string in the file");
	st->token_len = st->token ? strlen(st->token) : 0;
	if (!(st->listen = strdup(listen)))
		return VBX_ENOMEM;
	if (!listen[0] && !st->token)
		return vbx_cfg_error(cfg, "token_file",
		                     "required when listen is \"\" (metrics on "
		                     "the public API listener): set "
		                     "plugins.metrics.token_file, or give "
		                     "listen an address such as \"%s\"",
		                     DEFAULT_LISTEN);
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (listen[0] &&
	    mx_listen_parse(listen, &ss, &sslen, err, sizeof(err)) != 0)
		return vbx_cfg_error(cfg, "listen", "%s", err);
	return VBX_OK;
}

static int mx_validate(vbx_plugin *self, const vbx_config *cfg)
{
	mx_state *st;
	int rc = parse_config(self, cfg, &st);

	state_free(st);
	return rc;
}

static int mx_init(vbx_plugin *self, const vbx_config *cfg)
{
	mx_state *st;
	int rc = parse_config(self, cfg, &st);

	if (rc == VBX_OK && st->listen[0] == '\0')
		rc = vbx_route_add(self, "GET", "/metrics", VBX_ROUTE_PUBLIC,
		                   public_metrics, st);
	if (rc != VBX_OK) {
		state_free(st);
		return rc;
	}
	vbx_plugin_set_data(self, st);
	return VBX_OK;
}

static int mx_start(vbx_plugin *self)
{
	mx_state *st = vbx_plugin_data(self);
	char err[256];

	if (!st->listen[0]) {
		vbx_log_info(self, "metrics: GET /metrics on the API listener, "
		                   "bearer token required");
		return VBX_OK;
	}
	st->listener = mx_listener_start(st, st->listen, err, sizeof(err));
	if (!st->listener) {
		vbx_log_error(self, "metrics: plugins.metrics.listen: %s", err);
		return VBX_ERR;
	}
	vbx_log_info(self, "metrics: serving http://%s/metrics%s", st->listen,
	             st->token ? " (bearer token required)" : "");
	return VBX_OK;
}

static void mx_stop(vbx_plugin *self)
{
	mx_state *st = vbx_plugin_data(self);

	mx_listener_stop(st->listener);
	st->listener = NULL;
}

static void mx_fini(vbx_plugin *self)
{
	state_free(vbx_plugin_data(self));
	vbx_plugin_set_data(self, NULL);
}

static const char *const mx_provides[] = {"metrics", NULL};

VBX_PLUGIN(.name = "metrics", .version = MX_VERSION,
           .description = "the metric registry as Prometheus text and "
                          "OpenMetrics, on its own listener",
           .provides = mx_provides, .init = mx_init, .start = mx_start,
           .stop = mx_stop, .fini = mx_fini, .validate = mx_validate);
