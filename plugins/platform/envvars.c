/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envvars.c - the variables and ports of an environment:
 * /api/v1/environments/{id}/variables[/{key}] and .../ports[/{port}].
 *
 * Reading them needs "read" on the environment, changing them "update".
 * A secret variable's value is sealed by the store and never leaves it
 * through the API: it shows "secret": true and no value. A change reaches
 * the container when one is next created: at once for a stopped
 * environment (its container is removed, the next start creates one), at
 * the next restart for a running one.
 */
#include <string.h>

#include "audit.h"
#include "envs.h"

static const char *const var_fields[] = {"value", "secret", NULL};
static const char *const port_fields[] = {"port", "protocol", NULL};

/* ---- variables ---- */

static cJSON *var_json(const vbx_env_var *v)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "key", v->key);
	if (!v->secret)
		cJSON_AddStringToObject(o, "value", v->value);
	cJSON_AddBoolToObject(o, "secret", v->secret);
	vbx__api_add_time(o, "updatedAt", v->updated_at);
	return o;
}

static int add_var_row(void *ctx, const vbx_env_var *v)
{
	return vbx__api_add_row(ctx, var_json(v));
}

static int count_row(void *ctx, const void *row)
{
	(*(size_t *)ctx)++;
	return 0;
}

static int count_var(void *ctx, const vbx_env_var *v)
{
	return count_row(ctx, v);
}

static int count_port(void *ctx, const vbx_env_port *p)
{
	return count_row(ctx, p);
}

/* {"data": data}, taking data. */
static int answer_data(vbx_request *r, cJSON *data)
{
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		cJSON_Delete(data);
		return VBX_ENOMEM;
	}
	cJSON_AddItemToObject(o, "data", data);
	return vbx__api_respond(r, 200, o);
}

static int list_vars(void *ud, vbx_request *r)
{
	vbx_env e;
	int rc = vbx__env_for(r, "read", &e);
	if (rc != VBX_OK)
		return rc;
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return VBX_ENOMEM;
	rc = vbx_hook_store_env_var_list_run(vbx__envh.var_list, e.id, 0,
	                                     add_var_row, data);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return vbx__env_store_fail(r, vbx__envh.var_list, rc, e.id);
	}
	return answer_data(r, data);
}

/* The variable name of the path; 404 when it cannot name one. */
static const char *key_param(vbx_request *r)
{
	const char *key = vbx_req_param(r, "key");
	if (key && vbx__env_var_key_ok(key))
		return key;
	vbx_resp_error(r, 404, "NOT_FOUND", "variable %.40s not found",
	               key ? key : "");
	return NULL;
}

static int var_fail(vbx_request *r, const vbx_hook *h, int rc, const vbx_env *e,
                    const char *key)
{
	char what[200];
	snprintf(what, sizeof(what), "variable %s of environment %s", key,
	         e->id);
	return vbx_resp_store_error(r, h, rc, what, NULL);
}

static int get_var(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_env_var v = {0};
	const char *key;
	int rc = vbx__env_for(r, "read", &e);
	if (rc != VBX_OK || !(key = key_param(r)))
		return rc != VBX_OK ? rc : VBX_ENOTFOUND;
	rc = vbx_hook_store_env_var_get_run(vbx__envh.var_get, e.id, key, 0,
	                                    &v);
	if (rc != VBX_OK)
		return var_fail(r, vbx__envh.var_get, rc, &e, key);
	return vbx__api_respond(r, 200, var_json(&v));
}

/* Read {value, secret?} into v. */
static int var_body(vbx_request *r, vbx_env_var *v)
{
	cJSON *body;
	const char *value;
	int secret = 0, rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, var_fields);
	if (vbx_json_string(r, body, "value", VBX_REQUIRED, 0,
	                    sizeof(v->value) - 1, &value) == VBX_OK &&
	    strlen(value) >= sizeof(v->value))
		vbx_field_error(r, "value",
		                "must be at most %zu bytes of UTF-8",
		                sizeof(v->value) - 1);
	vbx_json_bool(r, body, "secret", VBX_OPTIONAL, &secret);
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	snprintf(v->value, sizeof(v->value), "%s", value);
	v->secret = secret != 0;
	return VBX_OK;
}

/* May one more variable be added to e? 409 when it has the most. */
static int room_for_var(vbx_request *r, const vbx_env *e)
{
	size_t n = 0;
	int rc = vbx_hook_store_env_var_list_run(vbx__envh.var_list, e->id, 0,
	                                         count_var, &n);
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.var_list, rc, e->id);
	if (n < VBX__ENV_VARS_MAX)
		return VBX_OK;
	vbx_resp_error(r, 409, "CONFLICT",
	               "environment %s has %d variables, the most it may "
	               "have; delete one first",
	               e->id, VBX__ENV_VARS_MAX);
	return VBX_EEXIST;
}

static int put_var(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_env_var v = {0}, old = {0};
	int rc = vbx__env_for(r, "update", &e);
	if (rc != VBX_OK)
		return rc;
	const char *key = vbx_req_param(r, "key");
	if (!key || !vbx__env_var_key_ok(key))
		vbx_field_error(r, "key",
		                "must be a variable name: letters, digits and "
		                "'_', not starting with a digit, at most 128");
	if ((rc = var_body(r, &v)) != VBX_OK)
		return rc;
	snprintf(v.key, sizeof(v.key), "%s", key);
	rc = vbx_hook_store_env_var_get_run(vbx__envh.var_get, e.id, key, 0,
	                                    &old);
	bool created = rc == VBX_ENOTFOUND;
	if (rc != VBX_OK && !created)
		return var_fail(r, vbx__envh.var_get, rc, &e, key);
	if (created && (rc = room_for_var(r, &e)) != VBX_OK)
		return rc;
	rc = vbx_hook_store_env_var_set_run(vbx__envh.var_set, e.id, &v);
	if (rc != VBX_OK)
		return var_fail(r, vbx__envh.var_set, rc, &e, key);
	vbx__audit_var(r, "environment.variable.set", e.id, &v, created);
	vbx__env_settings_changed(&e);
	return vbx__api_respond(r, created ? 201 : 200, var_json(&v));
}

static int delete_var(void *ud, vbx_request *r)
{
	vbx_env e;
	const char *key;
	int rc = vbx__env_for(r, "update", &e);
	if (rc != VBX_OK || !(key = key_param(r)))
		return rc != VBX_OK ? rc : VBX_ENOTFOUND;
	rc = vbx_hook_store_env_var_delete_run(vbx__envh.var_delete, e.id, key);
	if (rc != VBX_OK)
		return var_fail(r, vbx__envh.var_delete, rc, &e, key);
	vbx_env_var gone = {0};
	snprintf(gone.key, sizeof(gone.key), "%s", key);
	vbx__audit_var(r, "environment.variable.delete", e.id, &gone, false);
	vbx__env_settings_changed(&e);
	return vbx__api_no_content(r);
}

/* ---- ports ---- */

static cJSON *port_json(const vbx_env_port *p)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "port", p->port);
	cJSON_AddStringToObject(o, "protocol", p->protocol);
	if (p->host_port)
		cJSON_AddNumberToObject(o, "hostPort", p->host_port);
	else
		cJSON_AddNullToObject(o, "hostPort");
	return o;
}

static int add_port_row(void *ctx, const vbx_env_port *p)
{
	return vbx__api_add_row(ctx, port_json(p));
}

static int list_ports(void *ud, vbx_request *r)
{
	vbx_env e;
	int rc = vbx__env_for(r, "read", &e);
	if (rc != VBX_OK)
		return rc;
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return VBX_ENOMEM;
	rc = vbx_hook_store_env_port_list_run(vbx__envh.port_list, e.id,
	                                      add_port_row, data);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return vbx__env_store_fail(r, vbx__envh.port_list, rc, e.id);
	}
	return answer_data(r, data);
}

static bool protocol_ok(const char *s)
{
	return strcmp(s, "tcp") == 0 || strcmp(s, "udp") == 0;
}

/* Read {port, protocol?} into p. */
static int port_body(vbx_request *r, vbx_env_port *p)
{
	cJSON *body;
	const char *proto = "tcp";
	long long port = 0;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, port_fields);
	vbx_json_int(r, body, "port", VBX_REQUIRED, 1, 65535, &port);
	if (vbx_json_string(r, body, "protocol", VBX_OPTIONAL, 3, 3, &proto) ==
	            VBX_OK &&
	    !protocol_ok(proto))
		vbx_field_error(r, "protocol", "must be \"tcp\" or \"udp\"");
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	p->port = (int)port;
	snprintf(p->protocol, sizeof(p->protocol), "%s", proto ? proto : "tcp");
	return VBX_OK;
}

static int port_fail(vbx_request *r, const vbx_hook *h, int rc,
                     const vbx_env *e, const vbx_env_port *p)
{
	char what[160];
	snprintf(what, sizeof(what), "port %d/%s of environment %s", p->port,
	         p->protocol, e->id);
	return vbx_resp_store_error(r, h, rc, what, NULL);
}

static int room_for_port(vbx_request *r, const vbx_env *e)
{
	size_t n = 0;
	int rc = vbx_hook_store_env_port_list_run(vbx__envh.port_list, e->id,
	                                          count_port, &n);
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.port_list, rc, e->id);
	if (n < VBX__ENV_PORTS_MAX)
		return VBX_OK;
	vbx_resp_error(r, 409, "CONFLICT",
	               "environment %s publishes %d ports, the most it may; "
	               "remove one first",
	               e->id, VBX__ENV_PORTS_MAX);
	return VBX_EEXIST;
}

static int add_port(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_env_port p = {0};
	int rc = vbx__env_for(r, "update", &e);
	if (rc != VBX_OK || (rc = port_body(r, &p)) != VBX_OK ||
	    (rc = room_for_port(r, &e)) != VBX_OK)
		return rc;
	rc = vbx_hook_store_env_port_add_run(vbx__envh.port_add, e.id, &p);
	if (rc == VBX_EEXIST) {
		vbx_resp_error(r, 409, "CONFLICT",
		               "environment %s has port %d/%s already", e.id,
		               p.port, p.protocol);
		return rc;
	}
	if (rc != VBX_OK)
		return port_fail(r, vbx__envh.port_add, rc, &e, &p);
	vbx__audit_port(r, "environment.port.add", e.id, &p);
	vbx__env_settings_changed(&e);
	p.host_port = 0; /* published at the next start */
	return vbx__api_respond(r, 201, port_json(&p));
}

static int remove_port(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_env_port p = {0};
	int rc = vbx__env_for(r, "update", &e);
	if (rc != VBX_OK)
		return rc;
	const char *proto = vbx_req_query(r, "protocol");
	if (proto && !protocol_ok(proto)) {
		vbx_field_error(r, "protocol", "must be \"tcp\" or \"udp\"");
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	p.port = vbx__env_port_parse(vbx_req_param(r, "port"));
	snprintf(p.protocol, sizeof(p.protocol), "%s", proto ? proto : "tcp");
	if (p.port == 0) {
		vbx_resp_error(r, 404, "NOT_FOUND",
		               "port %.40s of environment %s not found",
		               vbx_req_param(r, "port"), e.id);
		return VBX_ENOTFOUND;
	}
	rc = vbx_hook_store_env_port_remove_run(vbx__envh.port_remove, e.id,
	                                        p.port, p.protocol);
	if (rc != VBX_OK)
		return port_fail(r, vbx__envh.port_remove, rc, &e, &p);
	vbx__audit_port(r, "environment.port.remove", e.id, &p);
	vbx__env_settings_changed(&e);
	return vbx__api_no_content(r);
}

void vbx__api_envvars_register(vbx_plugin *core)
{
	vbx_route_add(core, "GET", "/api/v1/environments/{id}/variables", 0,
	              list_vars, NULL);
	vbx_route_add(core, "GET", "/api/v1/environments/{id}/variables/{key}",
	              0, get_var, NULL);
	vbx_route_add(core, "PUT", "/api/v1/environments/{id}/variables/{key}",
	              0, put_var, NULL);
	vbx_route_add(core, "DELETE",
	              "/api/v1/environments/{id}/variables/{key}", 0,
	              delete_var, NULL);
	vbx_route_add(core, "GET", "/api/v1/environments/{id}/ports", 0,
	              list_ports, NULL);
	vbx_route_add(core, "POST", "/api/v1/environments/{id}/ports", 0,
	              add_port, NULL);
	vbx_route_add(core, "DELETE", "/api/v1/environments/{id}/ports/{port}",
	              0, remove_port, NULL);
}
