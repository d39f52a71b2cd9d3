/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health.c - /health/live (the daemon answers), /health/startup (every
 * plugin started) and /health/ready (every check of every plugin passes,
 * and the daemon is not draining).
 */
#include "vbx_build.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "daemon.h"
#include "server.h"

struct vbx_health {
	struct vbx_object_head head;
	cJSON *checks;
	bool failed;
};

static atomic_bool started;
static vbx__server **the_server;

void vbx__health_set_started(bool on)
{
	atomic_store(&started, on);
}

void vbx__health_add(vbx_health *h, const char *name, int status,
                     int64_t latency_us, const char *detail)
{
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return;
	cJSON_AddStringToObject(c, "name", name ? name : "?");
	cJSON_AddStringToObject(c, "status", status == VBX_OK ? "ok" : "fail");
	cJSON_AddNumberToObject(c, "latencyMs", (double)latency_us / 1000.0);
	if (detail)
		cJSON_AddStringToObject(c, "detail", detail);
	else if (status != VBX_OK)
		cJSON_AddStringToObject(c, "detail", vbx__strerror(status));
	cJSON_AddItemToArray(h->checks, c);
	if (status != VBX_OK)
		h->failed = true;
}

static int live(void *ud, vbx_request *r)
{
	static const char body[] = "{\"status\":\"ok\"}";
	return vbx__respond(r, 200, "application/json", body, sizeof(body) - 1);
}

static int startup(void *ud, vbx_request *r)
{
	static const char ok[] = "{\"status\":\"started\"}";
	static const char wait[] = "{\"status\":\"starting\"}";
	if (atomic_load(&started))
		return vbx__respond(r, 200, "application/json", ok,
		                    sizeof(ok) - 1);
	return vbx__respond(r, 503, "application/json", wait, sizeof(wait) - 1);
}

/* The core's own check: the event dispatcher keeps up. */
static void check_events(vbx_health *h)
{
	vbx__event_stats st;
	int64_t t0 = vbx__now_ns();
	vbx__events_stats(&st);
	bool full = st.queue_cap && st.queue_len >= st.queue_cap;
	vbx__health_add(h, "events", full ? VBX_EAGAIN : VBX_OK,
	                (vbx__now_ns() - t0) / 1000,
	                full ? "the event queue is full" : NULL);
}

static int ready(void *ud, vbx_request *r)
{
	vbx_health h = {.head.host = &vbx__host, .checks = cJSON_CreateArray()};
	cJSON *body = cJSON_CreateObject();
	if (!h.checks || !body) {
		cJSON_Delete(h.checks);
		cJSON_Delete(body);
		return VBX_ENOMEM;
	}
	bool draining = vbx__server_draining(*the_server);
	if (!draining) {
		check_events(&h);
		int rc = vbx_hook_health_check_run(vbx__cat.health_check, &h);
		if (rc != VBX_OK)
			h.failed = true;
	}
	const char *status = draining ? "draining" : h.failed ? "fail" : "ok";
	cJSON_AddStringToObject(body, "status", status);
	cJSON_AddItemToObject(body, "checks", h.checks);
	return vbx__respond_json(r, draining || h.failed ? 503 : 200, body);
}

void vbx__health_register(vbx_plugin *core, vbx__server **server)
{
	the_server = server;
	vbx__route_add(core, "GET", "/health/live",
	               VBX_ROUTE_PUBLIC | VBX__ROUTE_INLINE, live, NULL);
	vbx__route_add(core, "GET", "/health/startup",
	               VBX_ROUTE_PUBLIC | VBX__ROUTE_INLINE, startup, NULL);
	vbx__route_add(core, "GET", "/health/ready", VBX_ROUTE_PUBLIC, ready,
	               NULL);
}
