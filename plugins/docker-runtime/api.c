/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.c - GET /api/v1/x/docker-runtime/engines (instance admins): each
 * engine's state, capacity and what this installation reserves on it,
 * the same facts as the "docker" readiness check's detail, as JSON.
 */
#include <stdio.h>
#include <string.h>

#include <vibebox/http.h>

#include "docker.h"

#define ENGINES_TIMEOUT_MS 2000 /* one engine's list of containers */

static const char *state_name(int st)
{
	return st == DKR_ENGINE_UP     ? "up"
	       : st == DKR_ENGINE_DOWN ? "down"
	                               : "unknown";
}

/* {"capacity": cap (0: not limited), "reserved": used} */
static bool add_amount(cJSON *o, const char *name, double cap, double used)
{
	cJSON *a = cJSON_AddObjectToObject(o, name);
	return a && cJSON_AddNumberToObject(a, "capacity", cap) &&
	       cJSON_AddNumberToObject(a, "reserved", used);
}

static cJSON *engine_json(dkr *e)
{
	char why[256], when[VBX_TIME_LEN] = "";
	int64_t since = 0;
	dkr_usage u = {0};
	int st = dkr_engine_get(e, &since, why, sizeof(why));
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int rc = st == DKR_ENGINE_DOWN
	                 ? VBX_EUNAVAIL
	                 : dkr_usage_get(e, ENGINES_TIMEOUT_MS, &u);
	if (rc != VBX_OK && st != DKR_ENGINE_DOWN)
		snprintf(why, sizeof(why), "%s", vbx_strerror(e->plugin, rc));
	if (since)
		vbx_time_format(since, when, sizeof(when));
	bool ok =
	        cJSON_AddStringToObject(o, "name", e->name) &&
	        cJSON_AddStringToObject(o, "endpoint", e->conf.endpoint) &&
	        cJSON_AddStringToObject(o, "state", state_name(st)) &&
	        (since ? cJSON_AddStringToObject(o, "since", when) != NULL
	               : cJSON_AddNullToObject(o, "since") != NULL) &&
	        (why[0] ? cJSON_AddStringToObject(o, "reason", why) != NULL
	                : cJSON_AddNullToObject(o, "reason") != NULL) &&
	        add_amount(o, "cpus", e->cpus, u.cpus) &&
	        add_amount(o, "memory", (double)e->memory, (double)u.memory) &&
	        (rc == VBX_OK
	                 ? cJSON_AddNumberToObject(o, "environments",
	                                           (double)u.n) != NULL
	                 : cJSON_AddNullToObject(o, "environments") != NULL);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int list_engines(void *ud, vbx_request *req)
{
	dkr *d = ud;
	cJSON *body = cJSON_CreateObject();
	cJSON *data = body ? cJSON_AddArrayToObject(body, "data") : NULL;
	for (size_t i = 0; data && i < d->n_eng; i++) {
		cJSON *e = engine_json(d->eng[i]);
		if (!e) {
			data = NULL;
			break;
		}
		cJSON_AddItemToArray(data, e);
	}
	if (!data) {
		cJSON_Delete(body);
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "out of memory listing the engines");
	}
	return vbx_resp_json(req, 200, body);
}

int dkr_api_register(dkr *d)
{
	return vbx_route_add(d->plugin, "GET",
	                     "/api/v1/x/docker-runtime/engines",
	                     VBX_ROUTE_ADMIN, list_engines, d);
}
