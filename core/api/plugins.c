/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/plugins.c - GET /api/v1/plugins: what is loaded, what it provides and
 * needs, and which hooks and events it uses. Instance admins only.
 */
#include "vbx_build.h"

#include "server.h"

static cJSON *string_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (; a && v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

static cJSON *plugin_json(const vbx_plugin *p)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "version",
	                        p->desc->version ? p->desc->version : "");
	cJSON_AddStringToObject(o, "description",
	                        p->desc->description ? p->desc->description
	                                             : "");
	cJSON_AddItemToObject(o, "provides", string_array(p->desc->provides));
	cJSON_AddItemToObject(o, "requires", string_array(p->desc->requires));
	cJSON *reg = vbx__registry_plugin_json(p);
	if (reg) {
		cJSON_AddItemToObject(o, "hooks",
		                      cJSON_DetachItemFromObject(reg, "hooks"));
		cJSON_AddItemToObject(
		        o, "events", cJSON_DetachItemFromObject(reg, "events"));
		cJSON_Delete(reg);
	}
	return o;
}

static int list_plugins(void *ud, vbx_request *r)
{
	cJSON *body = cJSON_CreateObject(), *data = cJSON_CreateArray();
	if (!body || !data) {
		cJSON_Delete(body);
		cJSON_Delete(data);
		return VBX_ENOMEM;
	}
	for (size_t i = 0; i < vbx__plugins_count(); i++)
		cJSON_AddItemToArray(data, plugin_json(vbx__plugins_at(i)));
	cJSON_AddItemToObject(body, "data", data);
	return vbx__respond_json(r, 200, body);
}

void vbx__api_register(vbx_plugin *core)
{
	vbx__route_add(core, "GET", "/api/v1/plugins", VBX_ROUTE_ADMIN,
	               list_plugins, NULL);
}
