/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testkit.c - a working plugin that the integration tests drive the daemon
 * with: a token authenticator, an authorizer, slow and echo routes, a
 * WebSocket echo with backpressure, an event publisher, a health check and
 * a reload subscriber.
 *
 * Tokens: "admin" is an instance admin, "alice" and "bob" are users.
 * alice may read environments whose id starts with "a", bob those with "b".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vibebox/vibebox.h>

typedef struct testkit {
	vbx_plugin *self;
	vbx_event *env_status;
	const char *fail_file; /* health fails while this file exists */
	long long greeting_generation;
} testkit;

static testkit kit;

static int authenticate(void *ud, const char *bearer, const char *addr,
                        vbx_principal *out)
{
	static const char *const users[] = {"admin", "alice", "bob"};
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(bearer, users[i]) != 0)
			continue;
		snprintf(out->user_id, sizeof(out->user_id),
		         "00000000-0000-0000-0000-00000000000%zu", i);
		snprintf(out->email, sizeof(out->email), "%s@example.test",
		         users[i]);
		out->flags = i == 0 ? VBX_PRINCIPAL_ADMIN : 0;
		out->scopes = VBX_SCOPE_READ | VBX_SCOPE_WRITE;
		return VBX_OK;
	}
	return strncmp(bearer, "vbx_", 4) == 0 ? VBX_EUNAUTH : VBX_DECLINED;
}

static int authorize(void *ud, const vbx_principal *who, const char *action,
                     const vbx_resource *res)
{
	if (who->flags & VBX_PRINCIPAL_ADMIN)
		return VBX_OK;
	if (strcmp(res->type, "environment") == 0 && res->id &&
	    who->email[0] == res->id[0])
		return VBX_OK;
	return VBX_EDENIED;
}

static int slow(void *ud, vbx_request *r)
{
	const char *ms = vbx_req_query(r, "ms");
	long n = ms ? strtol(ms, NULL, 10) : 1000;
	struct timespec ts = {n / 1000, (n % 1000) * 1000000};
	nanosleep(&ts, NULL);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "slept", (double)n);
	cJSON_AddStringToObject(o, "user", vbx_req_principal(r)->email);
	return vbx_resp_json(r, 200, o);
}

static int echo(void *ud, vbx_request *r)
{
	cJSON *body;
	const char *name = NULL;
	long long count = 0;
	if (vbx_req_json(r, &body) != VBX_OK)
		return VBX_OK;
	vbx_json_string(r, body, "name", VBX_REQUIRED, 1, 32, &name);
	vbx_json_int(r, body, "count", VBX_OPTIONAL, 0, 100, &count);
	if (vbx_fields_failed(r))
		return vbx_resp_validation(r);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "count", (double)count);
	const char *q = vbx_req_query(r, "q");
	if (q)
		cJSON_AddStringToObject(o, "q", q);
	const char *ua = vbx_req_header(r, "User-Agent");
	if (ua)
		cJSON_AddStringToObject(o, "userAgent", ua);
	vbx_resp_header(r, "X-Testkit", "echo");
	return vbx_resp_json(r, 201, o);
}

static int item(void *ud, vbx_request *r)
{
	const char *id = vbx_req_param(r, "id");
	if (strcmp(id, "missing") == 0)
		return VBX_ENOTFOUND; /* the core answers 404 */
	if (strcmp(id, "silent") == 0)
		return VBX_OK; /* no answer: the core answers 500 */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	return vbx_resp_json(r, 200, o);
}

static int publish(void *ud, vbx_request *r)
{
	const char *id = vbx_req_param(r, "id");
	vbx_env_status_event ev = {.version = 1, .at_ms = 1};
	snprintf(ev.env_id, sizeof(ev.env_id), "%s", id);
	snprintf(ev.project_id, sizeof(ev.project_id), "p-1");
	snprintf(ev.status, sizeof(ev.status), "running");
	snprintf(ev.reason, sizeof(ev.reason), "started by test");
	int rc = vbx_event_env_status_publish(kit.env_status, &ev);
	if (rc != VBX_OK)
		return rc;
	return vbx_resp_body(r, 204, NULL, NULL, 0);
}

/* ---- WebSocket echo: replies "echo:<msg>"; "flood:N" sends N 64 KiB
 * messages as fast as the queue takes them, counting refusals. ---- */

typedef struct flood {
	vbx_ws *ws;
	long left, refused;
} flood;

static void flood_more(flood *f)
{
	static char chunk[65536];
	while (f->left > 0) {
		int rc = vbx_ws_send(f->ws, chunk, sizeof(chunk), 1);
		if (rc == VBX_EAGAIN) {
			f->refused++;
			return; /* wait for drain */
		}
		if (rc != VBX_OK)
			return;
		f->left--;
	}
	char done[64];
	int n = snprintf(done, sizeof(done), "flood-done refused=%ld",
	                 f->refused);
	vbx_ws_send(f->ws, done, (size_t)n, 0);
}

static int ws_open(void *ud, vbx_ws *ws)
{
	flood *f = calloc(1, sizeof(*f));
	if (!f)
		return VBX_ENOMEM;
	f->ws = ws;
	vbx_ws_set_data(ws, f);
	const char *who =
	        vbx_ws_principal(ws) ? vbx_ws_principal(ws)->email : "nobody";
	char hello[300];
	int n = snprintf(hello, sizeof(hello), "hello %s", who);
	return vbx_ws_send(ws, hello, (size_t)n, 0);
}

static void ws_message(void *ud, vbx_ws *ws, const void *data, size_t len,
                       int binary)
{
	flood *f = vbx_ws_data(ws);
	if (len > 6 && memcmp(data, "flood:", 6) == 0) {
		char num[32];
		snprintf(num, sizeof(num), "%.*s", (int)(len - 6),
		         (const char *)data + 6);
		f->left = strtol(num, NULL, 10);
		flood_more(f);
		return;
	}
	if (len == 5 && memcmp(data, "close", 5) == 0) {
		vbx_ws_close(ws, 1000, "bye");
		return;
	}
	char out[4096];
	if (len > sizeof(out) - 5)
		len = sizeof(out) - 5;
	memcpy(out, "echo:", 5);
	memcpy(out + 5, data, len);
	vbx_ws_send(ws, out, len + 5, binary);
}

static void ws_drain(void *ud, vbx_ws *ws)
{
	flood_more(vbx_ws_data(ws));
}

static void ws_close_cb(void *ud, vbx_ws *ws, int code)
{
	free(vbx_ws_data(ws));
}

static const vbx_ws_ops echo_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = ws_open,
        .message = ws_message,
        .drain = ws_drain,
        .close = ws_close_cb,
};

static int health(void *ud, vbx_health *h)
{
	struct stat st;
	bool failing = kit.fail_file && stat(kit.fail_file, &st) == 0;
	vbx_health_add(h, "testkit", failing ? VBX_EUNAVAIL : VBX_OK, 5,
	               failing ? "fail file present" : NULL);
	return VBX_OK;
}

/* The block's settings; init, validate and reload share this parser. */
typedef struct settings {
	const char *greeting, *fail_file; /* owned by the block */
} settings;

static int parse_config(const vbx_config *cfg, settings *out)
{
	int rc = vbx_cfg_string(cfg, "greeting", "hello", &out->greeting);
	if (vbx_cfg_string(cfg, "fail_file", NULL, &out->fail_file))
		rc = VBX_EINVAL;
	return rc;
}

static int testkit_validate(vbx_plugin *self, const vbx_config *cfg)
{
	settings s;
	return parse_config(cfg, &s);
}

static void on_reload(void *ud, const vbx_config_reload_event *ev)
{
	settings s;
	if (parse_config(vbx_plugin_config(kit.self), &s) != VBX_OK)
		return;
	kit.fail_file = s.fail_file;
	vbx_log_info(kit.self, "reloaded generation %u greeting=%s",
	             ev->generation, s.greeting);
}

static int testkit_init(vbx_plugin *self, const vbx_config *cfg)
{
	settings s;
	kit.self = self;
	if (parse_config(cfg, &s))
		return VBX_EINVAL;
	kit.fail_file = s.fail_file;
	const char *greeting = s.greeting;
	kit.env_status = vbx_event_env_status_get(self);
	if (!kit.env_status ||
	    vbx_hook_authenticate_register(self, authenticate, NULL,
	                                   VBX_PRIO_MIDDLE) ||
	    vbx_hook_authorize_register(self, authorize, NULL,
	                                VBX_PRIO_MIDDLE) ||
	    vbx_hook_health_check_register(self, health, NULL,
	                                   VBX_PRIO_MIDDLE) ||
	    vbx_event_config_reload_subscribe(self, on_reload, NULL))
		return VBX_ERR;
	if (vbx_route_add(self, "GET", "/api/v1/x/testkit/slow", 0, slow,
	                  NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/testkit/echo", 0, echo,
	                  NULL) ||
	    vbx_route_add(self, "GET", "/api/v1/x/testkit/items/{id}",
	                  VBX_ROUTE_PUBLIC, item, NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/testkit/publish/{id}", 0,
	                  publish, NULL) ||
	    vbx_ws_route_add(self, "/api/v1/x/testkit/ws", "vibebox.test.v1", 0,
	                     &echo_ops, NULL))
		return VBX_ERR;
	vbx_log_info(self, "ready, greeting=%s", greeting);
	return VBX_OK;
}

static void testkit_fini(vbx_plugin *self)
{
	vbx_log_info(self, "fini");
}

static const char *const testkit_provides[] = {"authn", "authz", NULL};

VBX_PLUGIN(.name = "testkit", .version = "1.0.0",
           .description = "test routes, tokens and events for the test suite",
           .provides = testkit_provides, .init = testkit_init,
           .validate = testkit_validate, .fini = testkit_fini)
