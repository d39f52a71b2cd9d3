/* SPDX-License-Identifier: Apache-2.0 */
/*
 * projects.c - /api/v1/projects. A project belongs to its creator, or
 * to a team when created with a teamId; the authorize hook decides who may
 * see and change it, the store keeps it.
 */
#include <string.h>

#include "common.h"

static const char *const create_fields[] = {"name", "slug", "teamId", NULL};
static const char *const patch_fields[] = {"name", "slug", NULL};

/* RFC 3339 text of ms in buf, or NULL (JSON null) when it has none. */
static const char *time_or_null(int64_t ms, char buf[VBX_TIME_LEN])
{
	return vbx_time_format(ms, buf, VBX_TIME_LEN) == VBX_OK ? buf : NULL;
}

/* Written as text (a Raw item): pages of projects are the API's hottest
 * answer, and a tree costs two allocations per field. */
static cJSON *project_json(const vbx_project *p)
{
	char created[VBX_TIME_LEN], updated[VBX_TIME_LEN];
	const char *const kv[] = {
	        "id",        p->id,
	        "name",      p->name,
	        "slug",      p->slug,
	        "teamId",    p->team_id[0] ? p->team_id : NULL,
	        "ownerId",   p->owner_id[0] ? p->owner_id : NULL,
	        "createdAt", time_or_null(p->created_at, created),
	        "updatedAt", time_or_null(p->updated_at, updated),
	};
	return vbx_json_row(vbx__platform, kv, sizeof(kv) / sizeof(kv[0]) / 2);
}

static int project_fail(vbx_request *r, const vbx_hook *h, int rc,
                        const char *id)
{
	return vbx__api_store_fail_id(r, h, rc, "project", id, NULL);
}

/* Slugs are unique per owner: the 409 says whose. */
static int slug_taken(vbx_request *r, const vbx_project *p)
{
	vbx_resp_error(r, 409, "CONFLICT",
	               "%s has a project with the slug \"%s\" already; choose "
	               "another slug",
	               p->team_id[0] ? "the team" : "you", p->slug);
	return VBX_EEXIST;
}

/* ---- /api/v1/projects ---- */

static int add_project_row(void *ctx, const vbx_project *p)
{
	return vbx__api_add_row(ctx, project_json(p));
}

static int list_projects(void *ud, vbx_request *r)
{
	vbx_page pg;
	int rc = vbx__api_may_list(r);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_req_page(r, &pg);
	if (rc != VBX_OK)
		return rc;
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return VBX_ENOMEM;
	/* Instance admins see every project; others their own and their
	 * teams'. */
	const char *who = vbx__api_is_admin(r) ? NULL : vbx__api_user_id(r);
	int64_t total = 0;
	rc = vbx_hook_store_project_list_run(vbx__api.project_list, who, &pg,
	                                     add_project_row, data, &total);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return vbx_resp_store_error(r, vbx__api.project_list, rc,
		                            "the list of projects", NULL);
	}
	return vbx__api_respond(r, 200, vbx_page_body(r, data, &pg, total));
}

/* Read {name, slug?, teamId?} into p. */
static int create_body(vbx_request *r, vbx_project *p)
{
	cJSON *body;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	const char *name, *team = NULL;
	vbx_json_known_fields(r, body, create_fields);
	vbx__api_name_field(r, body, VBX_REQUIRED, &name);
	vbx__api_slug_field(r, body, name, p->slug);
	if (vbx_json_string(r, body, "teamId", VBX_OPTIONAL, 1, 64, &team) ==
	            VBX_OK &&
	    !vbx_uuid_ok(team))
		vbx_field_error(r, "teamId", "must be a UUID");
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (team)
		snprintf(p->team_id, sizeof(p->team_id), "%s", team);
	else
		snprintf(p->owner_id, sizeof(p->owner_id), "%s",
		         vbx__api_user_id(r));
	return VBX_OK;
}

/* May the caller create p? In a team: "project.create" on the team, which
 * must exist (an instance admin may be allowed on one that does not);
 * else on the instance. */
static int may_create(vbx_request *r, const vbx_project *p)
{
	if (!p->team_id[0])
		return vbx__api_authorize(r, "project.create", "instance",
		                          NULL);
	int rc = vbx__api_authorize(r, "project.create", "team", p->team_id);
	if (rc != VBX_OK)
		return rc;
	vbx_team t = {0};
	rc = vbx_hook_store_team_get_run(vbx__api.team_get, p->team_id, &t);
	if (rc == VBX_OK)
		return VBX_OK;
	return vbx__api_store_fail_id(r, vbx__api.team_get, rc, "team",
	                              p->team_id, NULL);
}

static int create_project(void *ud, vbx_request *r)
{
	vbx_project p = {0};
	int rc = create_body(r, &p);
	if (rc != VBX_OK || (rc = may_create(r, &p)) != VBX_OK)
		return rc;
	rc = vbx_hook_store_project_create_run(vbx__api.project_create, &p);
	if (rc == VBX_EEXIST)
		return slug_taken(r, &p);
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__api.project_create, rc,
		                            "the new project", NULL);
	return vbx__api_respond(r, 201, project_json(&p));
}

/* ---- /api/v1/projects/{id} ---- */

/* The project of the path, read from the store, if the caller may do
 * action on it: authorize decides on that row, so it is read once. One
 * that does not exist is 404 for everyone, as authorize would answer. */
static int project_for(vbx_request *r, const char *action, vbx_project *p)
{
	const char *id = vbx__api_path_id(r, "id", "project");
	if (!id)
		return VBX_ENOTFOUND;
	int rc = vbx__api_authz_ready(r);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_hook_store_project_get_run(vbx__api.project_get, id, p);
	if (rc != VBX_OK)
		return project_fail(r, vbx__api.project_get, rc, id);
	vbx_resource_row row = vbx__api_row(p->owner_id, p->team_id);
	return vbx__api_authorize_row(r, action, "project", id, &row);
}

static int get_project(void *ud, vbx_request *r)
{
	vbx_project p = {0};
	int rc = project_for(r, "read", &p);
	if (rc != VBX_OK)
		return rc;
	return vbx__api_respond(r, 200, project_json(&p));
}

/* Read {name?, slug?} onto p; *changed when either is given. The owner
 * cannot change here: teamId is not a known field of a PATCH. */
static int patch_body(vbx_request *r, vbx_project *p, bool *changed)
{
	cJSON *body;
	int rc = vbx_req_json(r, &body);
	if (rc != VBX_OK)
		return rc;
	const char *name;
	char slug[VBX__API_SLUG_MAX + 1];
	vbx_json_known_fields(r, body, patch_fields);
	vbx__api_name_field(r, body, VBX_OPTIONAL, &name);
	vbx__api_slug_field(r, body, NULL, slug);
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	if (name)
		snprintf(p->name, sizeof(p->name), "%s", name);
	if (slug[0])
		snprintf(p->slug, sizeof(p->slug), "%s", slug);
	*changed = name || slug[0];
	return VBX_OK;
}

static int update_project(void *ud, vbx_request *r)
{
	vbx_project p = {0};
	bool changed;
	int rc = project_for(r, "update", &p);
	if (rc != VBX_OK || (rc = patch_body(r, &p, &changed)) != VBX_OK)
		return rc;
	if (changed) {
		rc = vbx_hook_store_project_update_run(vbx__api.project_update,
		                                       &p);
		if (rc == VBX_EEXIST)
			return slug_taken(r, &p);
		/* p is now the row as written (store.h), updatedAt
		 * included: no second read. */
		if (rc != VBX_OK)
			return project_fail(r, vbx__api.project_update, rc,
			                    p.id);
	}
	return vbx__api_respond(r, 200, project_json(&p));
}

static int delete_project(void *ud, vbx_request *r)
{
	const char *id = vbx__api_path_id(r, "id", "project");
	if (!id)
		return VBX_ENOTFOUND;
	int rc = vbx__api_authorize(r, "delete", "project", id);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_hook_store_project_delete_run(vbx__api.project_delete, id);
	if (rc != VBX_OK)
		return project_fail(r, vbx__api.project_delete, rc, id);
	vbx__api_principal_changed("", "", VBX_REVOKE_PROJECT_DELETED);
	return vbx__api_no_content(r);
}

void vbx__api_projects_register(vbx_plugin *core)
{
	vbx_route_add(core, "GET", "/api/v1/projects", 0, list_projects, NULL);
	vbx_route_add(core, "POST", "/api/v1/projects", 0, create_project,
	              NULL);
	vbx_route_add(core, "GET", "/api/v1/projects/{id}", 0, get_project,
	              NULL);
	vbx_route_add(core, "PATCH", "/api/v1/projects/{id}", 0, update_project,
	              NULL);
	vbx_route_add(core, "DELETE", "/api/v1/projects/{id}", 0,
	              delete_project, NULL);
}
