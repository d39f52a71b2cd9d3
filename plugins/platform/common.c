/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - helpers the platform's endpoints share (see common.h).
 */
#include <stdio.h>
#include <string.h>

#include "common.h"

vbx__api_hooks vbx__api;

/* ---- pure helpers ---- */

static bool slug_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

size_t vbx__api_slug_from(const char *name, char *out, size_t len)
{
	size_t max = len > 0 ? len - 1 : 0, n = 0;
	if (max > VBX__API_SLUG_MAX)
		max = VBX__API_SLUG_MAX;
	bool dash = false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!slug_char(c)) {
			dash = n > 0; /* never a leading '-' */
			continue;
		}
		/* A '-' goes in only with a character after it, so none
		 * ends the slug when it is cut short. */
		if (n + (dash ? 2 : 1) > max)
			break;
		if (dash)
			out[n++] = '-';
		out[n++] = (char)c;
		dash = false;
	}
	if (len > 0)
		out[n] = '\0';
	return n;
}

bool vbx__api_slug_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > VBX__API_SLUG_MAX)
		return false;
	if (!slug_char((unsigned char)s[0]) ||
	    !slug_char((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!slug_char((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* ---- request helpers ---- */

const char *vbx__api_user_id(const vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	return p ? p->user_id : "";
}

bool vbx__api_is_admin(const vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	return p && (p->flags & VBX_PRINCIPAL_ADMIN);
}

int vbx__api_may_list(vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	if (p && (p->scopes & VBX_SCOPE_READ))
		return VBX_OK;
	vbx_resp_error(r, 403, "FORBIDDEN",
	               "this credential lacks the \"read\" scope");
	return VBX_EDENIED;
}

void vbx__audit_write(const char *actor_id, const char *action,
                      const char *target_type, const char *target_id,
                      const char *client, const char *detail)
{
	vbx_audit a = {0};
	if (!vbx__api.audit_add)
		return;
	snprintf(a.actor_id, sizeof(a.actor_id), "%.36s", actor_id);
	snprintf(a.action, sizeof(a.action), "%s", action);
	snprintf(a.target_type, sizeof(a.target_type), "%s", target_type);
	snprintf(a.target_id, sizeof(a.target_id), "%.36s", target_id);
	snprintf(a.client, sizeof(a.client), "%s", client);
	snprintf(a.detail, sizeof(a.detail), "%s", detail);
	int rc = vbx_hook_store_audit_add_run(vbx__api.audit_add, &a);
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform, "audit %s of %s %s not written: %s",
		             action, target_type, target_id,
		             vbx_strerror(vbx__platform, rc));
}

void vbx__api_audit(vbx_request *r, const char *action, const char *target_type,
                    const char *target_id, const char *detail)
{
	vbx__audit_write(vbx__api_user_id(r), action, target_type, target_id,
	                 vbx_req_client_addr(r), detail);
}

void vbx__api_principal_changed(const char *user_id, const char *team_id,
                                const char *reason)
{
	vbx_principal_changed_event ev = {.version = 1};
	snprintf(ev.user_id, sizeof(ev.user_id), "%s", user_id);
	snprintf(ev.team_id, sizeof(ev.team_id), "%s", team_id);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	int rc = vbx__api.principal_changed
	                 ? vbx_event_principal_changed_publish(
	                           vbx__api.principal_changed, &ev)
	                 : VBX_ESTATE;
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform,
		             "principal_changed (%s) not published: %s; open "
		             "sockets keep their access until they reconnect",
		             reason, vbx_strerror(vbx__platform, rc));
}

int vbx__api_add_row(cJSON *array, cJSON *item)
{
	if (!item)
		return VBX_ENOMEM;
	cJSON_AddItemToArray(array, item);
	return 0;
}

int vbx__api_respond(vbx_request *r, int status, cJSON *o)
{
	return o ? vbx_resp_json(r, status, o) : VBX_ENOMEM;
}

int vbx__api_no_content(vbx_request *r)
{
	return vbx_resp_body(r, 204, NULL, NULL, 0);
}

/* Under a key that is not copied: cJSON_Delete leaves it alone, and a
 * page of rows saves a malloc and a free per field. */
static void add_const(cJSON *o, const char *key, cJSON *item)
{
	if (item && !cJSON_AddItemToObjectCS(o, key, item))
		cJSON_Delete(item);
}

void vbx__api_add_str(cJSON *o, const char *key, const char *s)
{
	add_const(o, key, cJSON_CreateString(s));
}

void vbx__api_add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[VBX_TIME_LEN];
	if (vbx_time_format(ms, buf, sizeof(buf)) == VBX_OK)
		add_const(o, key, cJSON_CreateString(buf));
	else
		add_const(o, key, cJSON_CreateNull());
}

void vbx__api_add_id(cJSON *o, const char *key, const char *s)
{
	add_const(o, key, s[0] ? cJSON_CreateString(s) : cJSON_CreateNull());
}

static bool blank_or_control(const char *s, bool *control)
{
	bool blank = true;
	*control = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*control = true;
		else if (*p != ' ')
			blank = false;
	}
	return blank || *control;
}

int vbx__api_name_field(vbx_request *r, const cJSON *body, int required,
                        const char **out)
{
	int rc = vbx_json_string(r, body, "name", required, 1,
	                         VBX__API_NAME_MAX, out);
	bool control;
	if (rc != VBX_OK)
		return rc;
	if (strlen(*out) > VBX__API_NAME_MAX) {
		*out = NULL;
		vbx_field_error(r, "name", "must be at most %d bytes of UTF-8",
		                VBX__API_NAME_MAX);
		return VBX_EINVAL;
	}
	if (!blank_or_control(*out, &control))
		return rc;
	*out = NULL;
	vbx_field_error(r, "name",
	                control ? "must not contain control characters"
	                        : "must not be blank");
	return VBX_EINVAL;
}

int vbx__api_slug_field(vbx_request *r, const cJSON *body, const char *name,
                        char *out)
{
	const char *slug;
	out[0] = '\0';
	int rc = vbx_json_string(r, body, "slug", VBX_OPTIONAL, 1,
	                         VBX__API_SLUG_MAX, &slug);
	if (rc == VBX_OK) {
		if (!vbx__api_slug_ok(slug)) {
			vbx_field_error(
			        r, "slug",
			        "must be lower-case letters, digits and '-', "
			        "starting and ending with a letter or digit");
			return VBX_EINVAL;
		}
		snprintf(out, VBX__API_SLUG_MAX + 1, "%s", slug);
		return VBX_OK;
	}
	if (rc != VBX_ENOTFOUND || !name)
		return rc;
	if (vbx__api_slug_from(name, out, VBX__API_SLUG_MAX + 1) == 0) {
		vbx_field_error(r, "slug",
		                "cannot be made from the name (it has no ASCII "
		                "letter or digit); give a slug");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

int vbx__api_store_fail_id(vbx_request *r, const vbx_hook *h, int rc,
                           const char *type, const char *id, const char *field)
{
	char what[96];
	snprintf(what, sizeof(what), "%s %s", type, id);
	return vbx_resp_store_error(r, h, rc, what, field);
}

/* Answer an authorize result that is neither allow nor deny. */
static int authorize_fail(vbx_request *r, int rc, const char *action)
{
	if (rc == VBX_EUNAVAIL) {
		vbx_resp_error(r, 503, "UNAVAILABLE",
		               "authorization is unavailable (a dependency is "
		               "down); try again later");
		return rc;
	}
	vbx_log_error(vbx__platform,
	              "%s %s: the authorize hook failed on \"%s\": %s",
	              vbx_req_method(r), vbx_req_path(r), action,
	              vbx_strerror(vbx__platform, rc));
	vbx_resp_error(r, 500, "INTERNAL_ERROR",
	               "authorization failed; see the daemon's log");
	return VBX_ERR;
}

int vbx__api_authorize(vbx_request *r, const char *action, const char *type,
                       const char *id)
{
	return vbx__api_authorize_row(r, action, type, id, NULL);
}

int vbx__api_authz_ready(vbx_request *r)
{
	if (vbx__api.authorize->count > 0)
		return VBX_OK;
	vbx_resp_error(r, 503, "UNAVAILABLE",
	               "no plugin provides the \"authz\" capability; "
	               "load one (auth) in the daemon's config");
	return VBX_EUNAVAIL;
}

int vbx__api_authorize_row(vbx_request *r, const char *action, const char *type,
                           const char *id, const vbx_resource_row *row)
{
	int ready = vbx__api_authz_ready(r);
	if (ready != VBX_OK)
		return ready;
	const vbx_resource res = {type, id};
	const char *failed;
	int rc = vbx_authorize_verdict_row(vbx__platform, vbx_req_principal(r),
	                                   action, &res, row, &failed);
	if (rc == VBX_OK)
		return VBX_OK;
	if (rc == VBX_ENOTFOUND)
		vbx_resp_error(r, 404, "NOT_FOUND", "%s %s not found", type,
		               id);
	else if (rc == VBX_EDENIED && id)
		vbx_resp_error(r, 403, "FORBIDDEN",
		               "you may not %s %s %s; ask an admin of it",
		               action, type, id);
	else if (rc == VBX_EDENIED)
		vbx_resp_error(r, 403, "FORBIDDEN",
		               "you may not %s; ask an instance admin", action);
	else
		return authorize_fail(r, rc, failed);
	return rc;
}

vbx_resource_row vbx__api_row(const char *owner_id, const char *team_id)
{
	vbx_resource_row row = {.version = 1};
	snprintf(row.owner_id, sizeof(row.owner_id), "%s", owner_id);
	snprintf(row.team_id, sizeof(row.team_id), "%s", team_id);
	return row;
}

const char *vbx__api_path_id(vbx_request *r, const char *param,
                             const char *type)
{
	const char *id = vbx_req_param(r, param);
	if (vbx_uuid_ok(id))
		return id;
	/* Not a UUID: no such resource can exist. Quote it with %.40s so
	 * that a long parameter does not fill the message. */
	vbx_resp_error(r, 404, "NOT_FOUND", "%s %.40s not found", type,
	               id ? id : "");
	return NULL;
}
