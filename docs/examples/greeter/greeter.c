/* SPDX-License-Identifier: Apache-2.0 */
/*
 * greeter.c - the example plugin of docs/plugin-guide.md.
 *
 * Its routes live under its name, as every third-party plugin's must:
 *
 *   GET  /api/v1/x/greeter/greet/{name}     public: {"message":"Hello, ann!"}
 *   POST /api/v1/x/greeter/greetings        signed in: {"name":"ann"} gives
 *                                           201 and publishes a "greeted"
 *                                           event
 *   GET  /api/v1/x/greeter/greetings/count  signed in: {"count":N}, the
 *                                           greeted events seen so far
 *
 * Config block: greeting (a string, default "Hello") and max_name (the
 * longest name in characters, 1..64, default 32).
 *
 * Build: cc -shared -fPIC $(pkg-config --cflags vibebox-plugin) \
 *           -o greeter.so greeter.c $(pkg-config --libs vibebox-plugin)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greeter.h"

/* What the config block says. */
typedef struct greeter_settings {
	const char *greeting; /* owned by the config block */
	long long max_name;
} greeter_settings;

typedef struct greeter {
	vbx_plugin *self;
	const char *greeting; /* owned by the config block */
	long long max_name;
	vbx_hook *format; /* greet_format */
	vbx_event *greeted;
	atomic_llong count; /* written by the event dispatcher */
} greeter;

/* Characters of a UTF-8 string: the bytes that do not continue one. */
static size_t characters(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Answer {"message": ...} with the greeting for name. */
static int answer(greeter *g, vbx_request *req, int status, const char *name)
{
	char msg[512];
	int rc = vbx_hook_greet_format_run(g->format, name, msg, sizeof(msg));
	if (rc == VBX_DECLINED)
		snprintf(msg, sizeof(msg), "%s, %s!", g->greeting, name);
	else if (rc != VBX_OK)
		return rc; /* the core answers with the matching status */
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "message", msg);
	return vbx_resp_json(req, status, body); /* takes body */
}

static int get_greet(void *ud, vbx_request *req)
{
	greeter *g = ud;
	const char *name = vbx_req_param(req, "name");
	if (characters(name) > (size_t)g->max_name) {
		vbx_field_error(req, "name", "must be at most %lld characters",
		                g->max_name);
		return vbx_resp_validation(req);
	}
	return answer(g, req, 200, name);
}

static int post_greeting(void *ud, vbx_request *req)
{
	greeter *g = ud;
	cJSON *body;
	const char *name = NULL;
	if (vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK; /* it has answered 400 */
	vbx_json_string(req, body, "name", VBX_REQUIRED, 1, (size_t)g->max_name,
	                &name);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	greeted_event ev = {.version = 1};
	snprintf(ev.name, sizeof(ev.name), "%s", name);
	if (vbx_event_greeted_publish(g->greeted, &ev) != VBX_OK)
		vbx_log_warn(g->self, "event queue full: %s not counted", name);
	return answer(g, req, 201, name);
}

static int get_count(void *ud, vbx_request *req)
{
	greeter *g = ud;
	cJSON *body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "count", (double)atomic_load(&g->count));
	return vbx_resp_json(req, 200, body);
}

/* On the event dispatcher thread: quick, and never blocking. */
static void on_greeted(void *ud, const greeted_event *ev)
{
	greeter *g = ud;
	atomic_fetch_add(&g->count, 1);
	vbx_log_debug(g->self, "greeted %s", ev->name);
}

static int register_all(greeter *g)
{
	vbx_plugin *self = g->self;
	g->format = vbx_hook_greet_format_get(self);
	g->greeted = vbx_event_greeted_get(self);
	if (!g->format || !g->greeted)
		return VBX_ESIGNATURE; /* the registry logged both sides */
	int rc = vbx_event_greeted_subscribe(self, on_greeted, g);
	if (rc == VBX_OK)
		rc = vbx_route_add(self, "GET",
		                   "/api/v1/x/greeter/greet/{name}",
		                   VBX_ROUTE_PUBLIC, get_greet, g);
	if (rc == VBX_OK)
		rc = vbx_route_add(self, "POST", "/api/v1/x/greeter/greetings",
		                   0, post_greeting, g);
	if (rc == VBX_OK)
		rc = vbx_route_add(self, "GET",
		                   "/api/v1/x/greeter/greetings/count", 0,
		                   get_count, g);
	return rc;
}

/*
 * The whole block, for init and validate alike, so that the two never
 * disagree. Every key is read even after an error, so that all bad
 * values are reported at once. Strings in out belong to the block.
 */
static int parse_config(const vbx_config *cfg, greeter_settings *out)
{
	int rc = vbx_cfg_string(cfg, "greeting", "Hello", &out->greeting);
	if (vbx_cfg_int(cfg, "max_name", 1, 64, 32, &out->max_name) != VBX_OK)
		rc = VBX_EINVAL;
	return rc;
}

/* Check a block, on SIGHUP too, without applying it: parse and forget. */
static int greeter_validate(vbx_plugin *self, const vbx_config *cfg)
{
	greeter_settings s;
	return parse_config(cfg, &s);
}

static int greeter_init(vbx_plugin *self, const vbx_config *cfg)
{
	greeter *g = calloc(1, sizeof(*g));
	if (!g)
		return VBX_ENOMEM;
	g->self = self;
	greeter_settings set;
	int rc = parse_config(cfg, &set);
	g->greeting = set.greeting;
	g->max_name = set.max_name;
	if (rc == VBX_OK)
		rc = register_all(g);
	if (rc != VBX_OK) {
		free(g); /* fini is not called after a failed init */
		return rc;
	}
	vbx_plugin_set_data(self, g);
	vbx_log_info(self, "greeting with \"%s\"", g->greeting);
	return VBX_OK;
}

static void greeter_fini(vbx_plugin *self)
{
	free(vbx_plugin_data(self));
}

static const char *const greeter_provides[] = {"greeting", NULL};

VBX_PLUGIN(.name = "greeter", .version = "1.0.0",
           .description = "says hello over HTTP", .provides = greeter_provides,
           .init = greeter_init, .validate = greeter_validate,
           .fini = greeter_fini);
