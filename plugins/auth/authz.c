/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authz.c - the authorize hook: who may do what on which resource.
 *
 * This plugin is the authority, so the hook never declines: whatever the
 * matrix below does not allow is denied. docs/permissions.md is the same
 * matrix as a table; a unit test checks every cell of it against this
 * file. Roles come from the store on every call (one indexed lookup), so
 * a changed role or a removed member takes effect at once.
 */
#include <string.h>

#include "auth.h"

enum role {
	R_NONE = 0,
	R_VIEWER = 1 << 0,
	R_DEVELOPER = 1 << 1,
	R_TEAM_ADMIN = 1 << 2,
	R_OWNER = 1 << 3, /* owns a personal project */
	R_USER = 1 << 4,  /* any authenticated user */
};

#define R_MEMBER (R_VIEWER | R_DEVELOPER | R_TEAM_ADMIN)

/* One row of the matrix: on `type`, `action` is allowed to `roles`. */
typedef struct rule {
	const char *type;
	const char *action;
	unsigned roles;
} rule;

static const rule matrix[] = {
        {"instance", "team.create", R_USER},
        {"instance", "project.create", R_USER},
        {"team", "read", R_MEMBER},
        {"team", "update", R_TEAM_ADMIN},
        {"team", "delete", R_TEAM_ADMIN},
        {"team", "member.manage", R_TEAM_ADMIN},
        {"team", "project.create", R_TEAM_ADMIN | R_DEVELOPER},
        {"project", "read", R_OWNER | R_MEMBER},
        {"project", "update", R_OWNER | R_TEAM_ADMIN},
        {"project", "delete", R_OWNER | R_TEAM_ADMIN},
        {"project", "environment.create", R_OWNER | R_TEAM_ADMIN | R_DEVELOPER},
        /* An environment follows its project. */
        {"environment", "read", R_OWNER | R_MEMBER},
        {"environment", "operate", R_OWNER | R_TEAM_ADMIN | R_DEVELOPER},
        {"environment", "exec", R_OWNER | R_TEAM_ADMIN | R_DEVELOPER},
        {"environment", "update", R_OWNER | R_TEAM_ADMIN},
        {"environment", "delete", R_OWNER | R_TEAM_ADMIN},
};

/* The scope an API key needs for an action. */
static unsigned scope_for(const char *action)
{
	if (strcmp(action, "read") == 0)
		return VBX_SCOPE_READ;
	if (strncmp(action, "user.", 5) == 0 ||
	    strncmp(action, "audit.", 6) == 0 ||
	    strncmp(action, "admin.", 6) == 0)
		return VBX_SCOPE_ADMIN;
	return VBX_SCOPE_WRITE;
}

static const rule *rule_find(const char *type, const char *action)
{
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		if (strcmp(matrix[i].type, type) == 0 &&
		    strcmp(matrix[i].action, action) == 0)
			return &matrix[i];
	return NULL;
}

/* The caller's role in a team: a R_* bit, R_NONE when not a member. */
static int team_role(auth *a, const char *team_id, const char *user_id,
                     unsigned *role)
{
	vbx_member m = {0};
	int rc = vbx_hook_store_member_get_run(a->st.member_get, team_id,
	                                       user_id, &m);
	*role = R_NONE;
	if (rc == VBX_ENOTFOUND)
		return VBX_OK;
	if (rc != VBX_OK)
		return rc;
	if (strcmp(m.role, VBX_ROLE_ADMIN) == 0)
		*role = R_TEAM_ADMIN;
	else if (strcmp(m.role, VBX_ROLE_DEVELOPER) == 0)
		*role = R_DEVELOPER;
	else if (strcmp(m.role, VBX_ROLE_VIEWER) == 0)
		*role = R_VIEWER;
	return VBX_OK;
}

static int project_role(auth *a, const char *project_id, const char *user_id,
                        unsigned *role)
{
	vbx_project p = {0};
	int rc = vbx_hook_store_project_get_run(a->st.project_get, project_id,
	                                        &p);
	*role = R_NONE;
	if (rc == VBX_ENOTFOUND)
		return VBX_OK; /* nobody has a role on what does not exist */
	if (rc != VBX_OK)
		return rc;
	if (p.owner_id[0])
		*role = strcmp(p.owner_id, user_id) == 0 ? R_OWNER : R_NONE;
	else if (p.team_id[0])
		return team_role(a, p.team_id, user_id, role);
	return VBX_OK;
}

/* An environment's roles are its project's: the store_env_get row says
 * which team or which user owns that project. */
static int env_role(auth *a, const char *env_id, const char *user_id,
                    unsigned *role)
{
	vbx_env e = {0};
	int rc = vbx_hook_store_env_get_run(a->st.env_get, env_id, &e);
	*role = R_NONE;
	if (rc == VBX_ENOTFOUND)
		return VBX_OK;
	if (rc != VBX_OK)
		return rc;
	if (e.owner_id[0])
		*role = strcmp(e.owner_id, user_id) == 0 ? R_OWNER : R_NONE;
	else if (e.team_id[0])
		return team_role(a, e.team_id, user_id, role);
	return VBX_OK;
}

/* The caller's roles on the resource, R_USER included. */
static int roles_on(auth *a, const vbx_principal *who, const vbx_resource *res,
                    unsigned *roles)
{
	unsigned r = R_NONE;
	int rc = VBX_OK;

	if (strcmp(res->type, "instance") == 0)
		;
	else if (!res->id || !vbx_uuid_ok(res->id))
		return VBX_EDENIED;
	else if (strcmp(res->type, "team") == 0)
		rc = team_role(a, res->id, who->user_id, &r);
	else if (strcmp(res->type, "project") == 0)
		rc = project_role(a, res->id, who->user_id, &r);
	else if (strcmp(res->type, "environment") == 0)
		rc = env_role(a, res->id, who->user_id, &r);
	*roles = r | R_USER;
	return rc;
}

/*
 * Returns VBX_OK or VBX_EDENIED, and VBX_EUNAVAIL when the store is down
 * (the caller answers 503 rather than a misleading 403; either way
 * nothing is allowed).
 */
int auth_authorize(void *ud, const vbx_principal *who, const char *action,
                   const vbx_resource *res)
{
	auth *a = ud;

	if (!who || !action || !res || !res->type || !who->user_id[0])
		return VBX_EDENIED;
	if (!(who->scopes & scope_for(action)))
		return VBX_EDENIED;
	if (who->flags & VBX_PRINCIPAL_ADMIN)
		return VBX_OK;
	const rule *r = rule_find(res->type, action);
	if (!r)
		return VBX_EDENIED;
	unsigned roles;
	int rc = roles_on(a, who, res, &roles);
	if (rc != VBX_OK)
		return rc == VBX_EUNAVAIL ? rc : VBX_EDENIED;
	return (roles & r->roles) ? VBX_OK : VBX_EDENIED;
}
