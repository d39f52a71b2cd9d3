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

/* The R_* bit of a team role ("" or unknown: R_NONE). */
static unsigned member_role(const char *role)
{
	if (strcmp(role, VBX_ROLE_ADMIN) == 0)
		return R_TEAM_ADMIN;
	if (strcmp(role, VBX_ROLE_DEVELOPER) == 0)
		return R_DEVELOPER;
	if (strcmp(role, VBX_ROLE_VIEWER) == 0)
		return R_VIEWER;
	return R_NONE;
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
	*role = member_role(m.role);
	return VBX_OK;
}

/* The caller's role on a row owned by a user or by a team. */
static int owner_role(auth *a, const char *owner_id, const char *team_id,
                      const char *user_id, unsigned *role)
{
	*role = R_NONE;
	if (owner_id[0])
		*role = strcmp(owner_id, user_id) == 0 ? R_OWNER : R_NONE;
	else if (team_id[0])
		return team_role(a, team_id, user_id, role);
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
	return owner_role(a, p.owner_id, p.team_id, user_id, role);
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
	return owner_role(a, e.owner_id, e.team_id, user_id, role);
}

/* The caller's membership as the caller read it with the row: true, and
 * *role set, when the row carries it for the team that owns res (a team:
 * itself). */
static bool row_member_role(const vbx_resource *res,
                            const vbx_resource_row *row, unsigned *role)
{
	if (!row || !(row->flags & VBX_ROW_ROLE) || row->owner_id[0] ||
	    !row->team_id[0])
		return false;
	bool team = strcmp(res->type, "team") == 0;
	bool owned = strcmp(res->type, "project") == 0 ||
	             strcmp(res->type, "environment") == 0;
	/* Another team's membership says nothing of this one. */
	if (team ? strcmp(row->team_id, res->id) != 0 : !owned)
		return false;
	*role = member_role(row->role);
	return true;
}

/* The caller's roles on the resource, R_USER included. row: what the
 * caller read (a project's or environment's owners, a membership), or
 * NULL to read it here. */
static int roles_on(auth *a, const vbx_principal *who, const vbx_resource *res,
                    const vbx_resource_row *row, unsigned *roles)
{
	unsigned r = R_NONE;
	int rc = VBX_OK;

	if (strcmp(res->type, "instance") == 0)
		;
	else if (!res->id || !vbx_uuid_ok(res->id))
		return VBX_EDENIED;
	else if (row_member_role(res, row, &r))
		;
	else if (row && (strcmp(res->type, "project") == 0 ||
	                 strcmp(res->type, "environment") == 0))
		rc = owner_role(a, row->owner_id, row->team_id, who->user_id,
		                &r);
	else if (strcmp(res->type, "team") == 0)
		rc = team_role(a, res->id, who->user_id, &r);
	else if (strcmp(res->type, "project") == 0)
		rc = project_role(a, res->id, who->user_id, &r);
	else if (strcmp(res->type, "environment") == 0)
		rc = env_role(a, res->id, who->user_id, &r);
	*roles = r | R_USER;
	return rc;
}

/* May who do action on res, its roles known? Scope first: an API key
 * without it is refused whatever its owner's role. */
static bool may(const vbx_principal *who, const char *action,
                const vbx_resource *res, unsigned roles)
{
	if (!(who->scopes & scope_for(action)))
		return false;
	if (who->flags & VBX_PRINCIPAL_ADMIN)
		return true;
	const rule *r = rule_find(res->type, action);
	return r && (roles & r->roles);
}

/* Does the decision need the caller's roles (a store read)? Not for an
 * instance admin, nor when the scope alone refuses; for "read" too when
 * the verdict asks. */
static bool needs_roles(const vbx_principal *who, const char *action,
                        const vbx_resource *res, bool verdict)
{
	if (who->flags & VBX_PRINCIPAL_ADMIN)
		return false;
	if ((who->scopes & scope_for(action)) && rule_find(res->type, action))
		return true;
	return verdict && (who->scopes & VBX_SCOPE_READ) &&
	       rule_find(res->type, "read");
}

/*
 * Returns VBX_OK or VBX_EDENIED, and VBX_EUNAVAIL when the store is down
 * (the caller answers 503 rather than a misleading 403; either way
 * nothing is allowed). In a run of vbx_authorize_verdict_row() (ABI 1.1)
 * it decides from the caller's row when there is one, and answers
 * VBX_ENOTFOUND when who may not even read res, from the same roles: one
 * run and one read of the row per request.
 */
int auth_authorize(void *ud, const vbx_principal *who, const char *action,
                   const vbx_resource *res)
{
	auth *a = ud;
	const vbx_resource_row *row;
	bool verdict = vbx_authorize_context(a->self, res, &row) == VBX_OK;
	if (row && row->version < 1)
		row = NULL; /* not filled in: read what it would say */
	int none = verdict ? VBX_ENOTFOUND : VBX_EDENIED; /* not even read */

	if (!who || !action || !res || !res->type || !who->user_id[0])
		return none;
	unsigned roles = R_USER;
	if (needs_roles(who, action, res, verdict)) {
		int rc = roles_on(a, who, res, row, &roles);
		if (rc == VBX_EUNAVAIL)
			return rc;
		if (rc != VBX_OK) /* who may do nothing, read included */
			return none;
	}
	if (may(who, action, res, roles))
		return VBX_OK;
	return verdict && !may(who, "read", res, roles) ? none : VBX_EDENIED;
}
