/* SPDX-License-Identifier: Apache-2.0 */
/*
 * teams.c - /api/v1/teams and their members. Each handler asks the
 * authorize hook, then the store; the rules of who may do what live in the
 * authorization plugin (docs/permissions.md), not here. The one rule kept
 * here is about the data: a team always keeps an admin.
 */
#include <string.h>

#include "common.h"

#define WHAT_LEN 96

static const char *const team_fields[] = {"name", "slug", NULL};
static const char *const member_fields[] = {"userId", "email", "role", NULL};
static const char *const role_fields[] = {"role", NULL};

/* ---- JSON ---- */

static cJSON *team_json(const vbx_team *t, const char *role)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", t->id);
	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "slug", t->slug);
	vbx__api_add_time(o, "createdAt", t->created_at);
	vbx__api_add_time(o, "updatedAt", t->updated_at);
	if (role && role[0])
		cJSON_AddStringToObject(o, "role", role);
	return o;
}

static cJSON *member_json(const vbx_member *m)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "userId", m->user_id);
	cJSON_AddStringToObject(o, "email", m->email);
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "role", m->role);
	vbx__api_add_time(o, "createdAt", m->created_at);
	return o;
}

/* ---- store calls ---- */

static int team_fail(vbx_request *r, const vbx_hook *h, int rc, const char *id)
{
	return vbx__api_store_fail_id(r, h, rc, "team", id, "slug");
}

/* The caller's role in the team; "" when not a member or unknown (the
 * role is an extra, so a failure here costs only the field). */
static void caller_role(vbx_request *r, const char *team_id, char *role,
                        size_t len)
{
	vbx_member m = {0};
	role[0] = '\0';
	if (vbx_hook_store_member_get_run(vbx__api.member_get, team_id,
	                                  vbx__api_user_id(r), &m) == VBX_OK)
		snprintf(role, len, "%s", m.role);
}

/* Answer t with the caller's role in it as team_for() read it (none when
 * that read failed: the role is an extra). */
static int answer_team(vbx_request *r, int status, const vbx_team *t,
                       const vbx_resource_row *row)
{
	const char *role = (row->flags & VBX_ROW_ROLE) ? row->role : "";
	return vbx__api_respond(r, status, team_json(t, role));
}

/* ---- /api/v1/teams ---- */

typedef struct team_rows {
	vbx_team *v;
	size_t n, cap;
} team_rows;

/* Rows are collected first and their roles looked up after the list has
 * returned: a store may hold its connection for the whole list. */
static int collect_team(void *ctx, const vbx_team *t)
{
	team_rows *rows = ctx;
	if (rows->n < rows->cap)
		rows->v[rows->n++] = *t;
	return 0;
}

static int answer_team_list(vbx_request *r, const team_rows *rows,
                            const vbx_page *pg, int64_t total)
{
	cJSON *data = cJSON_CreateArray();
	for (size_t i = 0; data && i < rows->n; i++) {
		char role[sizeof(((vbx_member *)0)->role)];
		caller_role(r, rows->v[i].id, role, sizeof(role));
		cJSON *o = team_json(&rows->v[i], role);
		if (!o) {
			cJSON_Delete(data);
			return VBX_ENOMEM;
		}
		cJSON_AddItemToArray(data, o);
	}
	return vbx__api_respond(r, 200, vbx_page_body(r, data, pg, total));
}

static int list_teams(void *ud, vbx_request *r)
{
	vbx_page pg;
	int rc = vbx__api_may_list(r);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_req_page(r, &pg);
	if (rc != VBX_OK)
		return rc;
	team_rows rows = {.cap = (size_t)pg.limit};
	rows.v = vbx_req_alloc(r, rows.cap * sizeof(*rows.v));
	if (!rows.v)
		return VBX_ENOMEM;
	/* Instance admins see every team, others the teams they are in. */
	const char *who = vbx__api_is_admin(r) ? NULL : vbx__api_user_id(r);
	int64_t total = 0;
	rc = vbx_hook_store_team_list_run(vbx__api.team_list, who, &pg,
	                                  collect_team, &rows, &total);
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__api.team_list, rc,
		                            "the list of teams", NULL);
	return answer_team_list(r, &rows, &pg, total);
}

static int create_team(void *ud, vbx_request *r)
{
	int rc = vbx__api_authorize(r, "team.create", "instance", NULL);
	cJSON *body;
	if (rc != VBX_OK || (rc = vbx_req_json(r, &body)) != VBX_OK)
		return rc;
	vbx_team t = {0};
	const char *name;
	vbx_json_known_fields(r, body, team_fields);
	vbx__api_name_field(r, body, VBX_REQUIRED, &name);
	vbx__api_slug_field(r, body, name, t.slug);
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	snprintf(t.name, sizeof(t.name), "%s", name);
	rc = vbx_hook_store_team_create_run(vbx__api.team_create, &t,
	                                    vbx__api_user_id(r));
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__api.team_create, rc,
		                            "a team", "slug");
	/* The store made the caller its admin in the same transaction. */
	return vbx__api_respond(r, 201, team_json(&t, VBX_ROLE_ADMIN));
}

/* ---- /api/v1/teams/{id} ---- */

/* The team of the path if the caller may do action on it; else NULL,
 * answered, with *rc set. The caller's membership is read here, once:
 * authorize decides on it, and *row keeps it for the answer. */
static const char *team_for(vbx_request *r, const char *action,
                            vbx_resource_row *row, int *rc)
{
	const char *id = vbx__api_path_id(r, "id", "team");
	if (!id) {
		*rc = VBX_ENOTFOUND;
		return NULL;
	}
	if ((*rc = vbx__api_authz_ready(r)) != VBX_OK)
		return NULL;
	*row = vbx__api_row("", id);
	vbx_member m = {0};
	int got = vbx_hook_store_member_get_run(vbx__api.member_get, id,
	                                        vbx__api_user_id(r), &m);
	if (got == VBX_OK || got == VBX_ENOTFOUND) {
		row->flags |= VBX_ROW_ROLE;
		snprintf(row->role, sizeof(row->role), "%s",
		         got == VBX_OK ? m.role : "");
	} /* else authorize reads it, and says what failed */
	*rc = vbx__api_authorize_row(r, action, "team", id, row);
	return *rc == VBX_OK ? id : NULL;
}

static int get_team(void *ud, vbx_request *r)
{
	int rc;
	vbx_resource_row row;
	const char *id = team_for(r, "read", &row, &rc);
	if (!id)
		return rc;
	vbx_team t = {0};
	rc = vbx_hook_store_team_get_run(vbx__api.team_get, id, &t);
	if (rc != VBX_OK)
		return team_fail(r, vbx__api.team_get, rc, id);
	return answer_team(r, 200, &t, &row);
}

/* Read the fields of a PATCH; NULL name or "" slug: unchanged. Renaming
 * keeps the slug: it is an identifier others may hold. */
static int patch_fields(vbx_request *r, const char **name, char *slug)
{
	cJSON *body;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, team_fields);
	vbx__api_name_field(r, body, VBX_OPTIONAL, name);
	vbx__api_slug_field(r, body, NULL, slug);
	if (!vbx_fields_failed(r))
		return VBX_OK;
	vbx_resp_validation(r);
	return VBX_EINVAL;
}

static int update_team(void *ud, vbx_request *r)
{
	int rc;
	vbx_resource_row row;
	const char *id = team_for(r, "update", &row, &rc), *name;
	char slug[VBX__API_SLUG_MAX + 1];
	if (!id || (rc = patch_fields(r, &name, slug)) != VBX_OK)
		return rc;
	vbx_team t = {0};
	rc = vbx_hook_store_team_get_run(vbx__api.team_get, id, &t);
	if (rc != VBX_OK)
		return team_fail(r, vbx__api.team_get, rc, id);
	if (name)
		snprintf(t.name, sizeof(t.name), "%s", name);
	if (slug[0])
		snprintf(t.slug, sizeof(t.slug), "%s", slug);
	if (name || slug[0]) {
		rc = vbx_hook_store_team_update_run(vbx__api.team_update, &t);
		if (rc == VBX_EEXIST)
			return vbx_resp_store_error(r, vbx__api.team_update, rc,
			                            "a team", "slug");
		if (rc != VBX_OK)
			return team_fail(r, vbx__api.team_update, rc, id);
	}
	/* t is the row as written (store.h): no read after it. */
	return answer_team(r, 200, &t, &row);
}

static int delete_team(void *ud, vbx_request *r)
{
	int rc;
	vbx_resource_row row;
	const char *id = team_for(r, "delete", &row, &rc);
	if (!id)
		return rc;
	rc = vbx_hook_store_team_delete_run(vbx__api.team_delete, id);
	if (rc != VBX_OK)
		return team_fail(r, vbx__api.team_delete, rc, id);
	vbx__api_principal_changed("", id, VBX_REVOKE_TEAM_DELETED);
	return vbx__api_no_content(r);
}

/* ---- /api/v1/teams/{id}/members ---- */

/* As team_for(), and the team exists (an instance admin may act on a
 * team that does not). */
static const char *existing_team_for(vbx_request *r, const char *action,
                                     int *rc)
{
	vbx_resource_row row;
	const char *id = team_for(r, action, &row, rc);
	if (!id)
		return NULL;
	vbx_team t = {0};
	*rc = vbx_hook_store_team_get_run(vbx__api.team_get, id, &t);
	if (*rc == VBX_OK)
		return id;
	team_fail(r, vbx__api.team_get, *rc, id);
	return NULL;
}

static int add_member_row(void *ctx, const vbx_member *m)
{
	return vbx__api_add_row(ctx, member_json(m));
}

static int list_members(void *ud, vbx_request *r)
{
	vbx_page pg;
	int rc = vbx_req_page(r, &pg);
	const char *id;
	if (rc != VBX_OK || !(id = existing_team_for(r, "read", &rc)))
		return rc;
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return VBX_ENOMEM;
	int64_t total = 0;
	rc = vbx_hook_store_member_list_run(vbx__api.member_list, id, &pg,
	                                    add_member_row, data, &total);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return team_fail(r, vbx__api.member_list, rc, id);
	}
	return vbx__api_respond(r, 200, vbx_page_body(r, data, &pg, total));
}

static int role_field(vbx_request *r, const cJSON *body, const char **out)
{
	int rc = vbx_json_string(r, body, "role", VBX_REQUIRED, 1, 15, out);
	if (rc != VBX_OK)
		return rc;
	if (strcmp(*out, VBX_ROLE_ADMIN) == 0 ||
	    strcmp(*out, VBX_ROLE_DEVELOPER) == 0 ||
	    strcmp(*out, VBX_ROLE_VIEWER) == 0)
		return VBX_OK;
	*out = NULL;
	vbx_field_error(r, "role", "must be admin, developer or viewer");
	return VBX_EINVAL;
}

/* Read {userId | email, role}; *user_id or *email is set. */
static int member_body(vbx_request *r, const char **user_id, const char **email,
                       const char **role)
{
	cJSON *body;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, member_fields);
	int has_id = vbx_json_string(r, body, "userId", VBX_OPTIONAL, 1, 64,
	                             user_id);
	if (has_id == VBX_OK && !vbx_uuid_ok(*user_id))
		vbx_field_error(r, "userId", "must be a UUID");
	int has_email =
	        vbx_json_string(r, body, "email", VBX_OPTIONAL, 3, 255, email);
	if (has_id == VBX_ENOTFOUND && has_email == VBX_ENOTFOUND)
		vbx_field_error(r, "userId", "is required (or give email)");
	if (has_id == VBX_OK && has_email == VBX_OK)
		vbx_field_error(r, "email", "give userId or email, not both");
	if (role_field(r, body, role) == VBX_OK && !vbx_fields_failed(r))
		return VBX_OK;
	vbx_resp_validation(r);
	return VBX_EINVAL;
}

/* The user a member body names, by id or by email. A user that does not
 * exist is a wrong field, not a missing route. */
static int find_user(vbx_request *r, const char *user_id, const char *email,
                     vbx_user *u)
{
	const vbx_hook *h =
	        user_id ? vbx__api.user_get : vbx__api.user_by_email;
	int rc;
	if (user_id) {
		rc = vbx_hook_store_user_get_run(h, user_id, u);
	} else {
		char hash[512]; /* not wanted; the hook has no way to skip it */
		rc = vbx_hook_store_user_by_email_run(h, email, u, hash,
		                                      sizeof(hash));
		explicit_bzero(hash, sizeof(hash));
	}
	if (rc == VBX_ENOTFOUND) {
		vbx_field_error(r, user_id ? "userId" : "email",
		                "no user has this %s",
		                user_id ? "id" : "email");
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, h, rc, "the user", NULL);
	return VBX_OK;
}

/* Fill what a member answer shows and the store may not have written back
 * (member_set need not return the time, member_get the user's name). */
static void complete_member(vbx_member *m)
{
	vbx_member got = {0};
	vbx_user u = {0};
	if (!m->created_at &&
	    vbx_hook_store_member_get_run(vbx__api.member_get, m->team_id,
	                                  m->user_id, &got) == VBX_OK)
		m->created_at = got.created_at;
	if (!m->email[0] &&
	    vbx_hook_store_user_get_run(vbx__api.user_get, m->user_id, &u) ==
	            VBX_OK) {
		snprintf(m->email, sizeof(m->email), "%s", u.email);
		snprintf(m->name, sizeof(m->name), "%s", u.name);
	}
}

static int member_conflict(vbx_request *r, const vbx_member *m)
{
	vbx_resp_error(r, 409, "CONFLICT",
	               "user %s is a member of team %s already; change the "
	               "role with PATCH /api/v1/teams/%s/members/%s",
	               m->user_id, m->team_id, m->team_id, m->user_id);
	return VBX_EEXIST;
}

/* Role changes are security events: the audit row names the team and
 * the member. */
static void audit_member(vbx_request *r, const char *action,
                         const vbx_member *m, const char *what)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "user %s: %s", m->user_id, what);
	vbx__api_audit(r, action, "team", m->team_id, detail);
}

static int add_member(void *ud, vbx_request *r)
{
	int rc;
	const char *team = existing_team_for(r, "member.manage", &rc);
	const char *user_id = NULL, *email = NULL, *role = NULL;
	vbx_user u = {0};
	if (!team || (rc = member_body(r, &user_id, &email, &role)) != VBX_OK ||
	    (rc = find_user(r, user_id, email, &u)) != VBX_OK)
		return rc;
	vbx_member m = {0};
	snprintf(m.team_id, sizeof(m.team_id), "%s", team);
	snprintf(m.user_id, sizeof(m.user_id), "%s", u.id);
	snprintf(m.email, sizeof(m.email), "%s", u.email);
	snprintf(m.name, sizeof(m.name), "%s", u.name);
	snprintf(m.role, sizeof(m.role), "%s", role);
	rc = vbx_hook_store_member_set_run(vbx__api.member_set, &m, 1);
	if (rc == VBX_EEXIST)
		return member_conflict(r, &m);
	if (rc != VBX_OK)
		return team_fail(r, vbx__api.member_set, rc, team);
	audit_member(r, "team.member.add", &m, m.role);
	complete_member(&m);
	return vbx__api_respond(r, 201, member_json(&m));
}

/* ---- /api/v1/teams/{id}/members/{userId} ---- */

/* The store refused to take the role of the team's last admin (m is the
 * membership as it was). */
static int last_admin(vbx_request *r, const vbx_member *m, const char *verb)
{
	return vbx_resp_error(r, 409, "CONFLICT",
	                      "user %s is the last admin of team %s and cannot "
	                      "be %s; make another member admin first",
	                      m->user_id, m->team_id, verb);
}

/* The membership of the path, for a caller that may manage members. */
static int member_for(vbx_request *r, vbx_member *m)
{
	int rc;
	const char *team = existing_team_for(r, "member.manage", &rc);
	if (!team)
		return rc;
	const char *user = vbx__api_path_id(r, "userId", "member");
	if (!user)
		return VBX_ENOTFOUND;
	rc = vbx_hook_store_member_get_run(vbx__api.member_get, team, user, m);
	if (rc == VBX_OK)
		return VBX_OK;
	char what[WHAT_LEN];
	snprintf(what, sizeof(what), "member %s of team %s", user, team);
	return vbx_resp_store_error(r, vbx__api.member_get, rc, what, NULL);
}

static int role_body(vbx_request *r, const char **role)
{
	cJSON *body;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, role_fields);
	if (role_field(r, body, role) == VBX_OK && !vbx_fields_failed(r))
		return VBX_OK;
	vbx_resp_validation(r);
	return VBX_EINVAL;
}

static int update_member(void *ud, vbx_request *r)
{
	vbx_member m = {0};
	const char *role;
	int rc = member_for(r, &m);
	if (rc != VBX_OK || (rc = role_body(r, &role)) != VBX_OK)
		return rc;
	if (strcmp(role, m.role) != 0) {
		vbx_member was = m;
		char change[64];
		snprintf(change, sizeof(change), "%s -> %s", m.role, role);
		snprintf(m.role, sizeof(m.role), "%s", role);
		rc = vbx_hook_store_member_set_run(vbx__api.member_set, &m, 0);
		if (rc == VBX_ESTATE)
			return last_admin(r, &was, "demoted");
		if (rc != VBX_OK)
			return vbx_resp_store_error(r, vbx__api.member_set, rc,
			                            "the membership", NULL);
		audit_member(r, "team.member.role", &m, change);
		vbx__api_principal_changed(m.user_id, m.team_id,
		                           VBX_REVOKE_MEMBER_ROLE);
	}
	complete_member(&m);
	return vbx__api_respond(r, 200, member_json(&m));
}

static int remove_member(void *ud, vbx_request *r)
{
	vbx_member m = {0};
	int rc = member_for(r, &m);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_hook_store_member_remove_run(vbx__api.member_remove, m.team_id,
	                                      m.user_id);
	if (rc == VBX_ESTATE)
		return last_admin(r, &m, "removed");
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__api.member_remove, rc,
		                            "the membership", NULL);
	audit_member(r, "team.member.remove", &m, m.role);
	vbx__api_principal_changed(m.user_id, m.team_id,
	                           VBX_REVOKE_MEMBER_REMOVED);
	return vbx__api_no_content(r);
}

void vbx__api_teams_register(vbx_plugin *core)
{
	static const struct {
		const char *method, *pattern;
		vbx_route_fn *fn;
	} routes[] = {
	        {"GET", "/api/v1/teams", list_teams},
	        {"POST", "/api/v1/teams", create_team},
	        {"GET", "/api/v1/teams/{id}", get_team},
	        {"PATCH", "/api/v1/teams/{id}", update_team},
	        {"DELETE", "/api/v1/teams/{id}", delete_team},
	        {"GET", "/api/v1/teams/{id}/members", list_members},
	        {"POST", "/api/v1/teams/{id}/members", add_member},
	        {"PATCH", "/api/v1/teams/{id}/members/{userId}", update_member},
	        {"DELETE", "/api/v1/teams/{id}/members/{userId}",
	         remove_member},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		vbx_route_add(core, routes[i].method, routes[i].pattern, 0,
		              routes[i].fn, NULL);
}
