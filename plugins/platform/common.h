/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.h - what the platform's endpoints (teams, projects, ...) share:
 * the store hook handles, names, slugs, ids from the path, and the
 * answers for authorization denials. Paging, the list envelope, store
 * errors, times and UUIDs are the SDK's, as for any plugin
 * (<vibebox/http.h>, <vibebox/util.h>).
 *
 * The endpoints only orchestrate hooks: authorize decides, the store
 * keeps. A helper that "answers" has sent the response itself and returns
 * a non-zero result code, so a handler just returns it:
 *
 *     if ((rc = vbx__api_authorize(r, "read", "team", id)) != VBX_OK)
 *             return rc;
 */
#ifndef VBX_API_COMMON_H
#define VBX_API_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include <vibebox/util.h>
#include <vibebox/vibebox.h>

#define VBX__API_NAME_MAX 127 /* characters of a team or project name */
#define VBX__API_SLUG_MAX 63

/* The store hooks the endpoints run; set at registration, then read-only. */
typedef struct vbx__api_hooks {
	vbx_hook *user_get, *user_by_email;
	vbx_hook *team_create, *team_get, *team_update, *team_delete,
	        *team_list;
	vbx_hook *member_set, *member_get, *member_remove, *member_list;
	vbx_hook *project_create, *project_get, *project_update,
	        *project_delete, *project_list;
	vbx_hook *audit_add;
	vbx_hook *authorize;
	vbx_event *principal_changed;
} vbx__api_hooks;
extern vbx__api_hooks vbx__api;

/* The platform plugin itself (plugin.c), for the host calls that need it:
 * the log, the authorize verdict, workers. Set in init, then read-only. */
extern vbx_plugin *vbx__platform;

/* Fill vbx__api from the registry (during init). */
void vbx__api_hooks_init(vbx_plugin *self);
/* Every route of the platform (during init); VBX_OK or an error, logged. */
int vbx__api_platform_register(vbx_plugin *self);
/* The routes of each file (during init). */
void vbx__api_teams_register(vbx_plugin *self);
void vbx__api_projects_register(vbx_plugin *self);

/*
 * Tell open sockets that user_id's access (in team_id) changed, after the
 * store committed it: they re-check (principal_changed). user_id "" for
 * every user, as when a team or project goes away. Failures are logged.
 */
void vbx__api_principal_changed(const char *user_id, const char *team_id,
                                const char *reason);

/* ---- pure helpers (no request) ---- */

/*
 * A slug made from a name: ASCII letters lower-cased and digits kept,
 * every run of anything else one '-', none at either end, at most
 * VBX__API_SLUG_MAX characters (and len - 1). Returns its length; 0 (out
 * "") when the name has no ASCII letter or digit.
 */
size_t vbx__api_slug_from(const char *name, char *out, size_t len);

/* Does s match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ? */
bool vbx__api_slug_ok(const char *s);

/* ---- request helpers ---- */

/* The caller's user id ("" on a public route) and instance-admin flag. */
const char *vbx__api_user_id(const vbx_request *r);
bool vbx__api_is_admin(const vbx_request *r);
/*
 * Lists filter through the store rather than authorize, so they check the
 * caller's read scope (an API key may lack it) here. Returns VBX_OK, or
 * VBX_EDENIED after answering 403.
 */
int vbx__api_may_list(vbx_request *r);
/*
 * Record a security event (a role change) in the audit log, with the
 * caller as the actor. Best effort: a store that cannot write it is
 * logged and the request goes on.
 */
void vbx__api_audit(vbx_request *r, const char *action, const char *target_type,
                    const char *target_id, const char *detail);
/* The same without a request (a WebSocket, a worker): the strings are
 * cut to the row's sizes. It blocks on the store: never call it on the
 * service or pump thread (audit.h hands those to a worker). */
void vbx__audit_write(const char *actor_id, const char *action,
                      const char *target_type, const char *target_id,
                      const char *client, const char *detail);

/* Append item to the JSON array of a list callback's ctx; VBX_ENOMEM when
 * item is NULL (it could not be made). */
int vbx__api_add_row(cJSON *array, cJSON *item);

/* Answer status with o (taken); VBX_ENOMEM when o is NULL (the core then
 * answers 500). */
int vbx__api_respond(vbx_request *r, int status, cJSON *o);

/* Answer 204 No Content. */
int vbx__api_no_content(vbx_request *r);

/* The vbx__api_add_* helpers keep key as it is, not a copy: pass a string
 * literal (or one that outlives o). Out of memory, the member is left out,
 * as with cJSON's own cJSON_Add*ToObject. */

/* Add key: s to o. */
void vbx__api_add_str(cJSON *o, const char *key, const char *s);

/* Add key: RFC 3339 time of ms to o (null when it has none). */
void vbx__api_add_time(cJSON *o, const char *key, int64_t ms);

/* Add key: s to o, or null when s is "". */
void vbx__api_add_id(cJSON *o, const char *key, const char *s);

/*
 * Read body.name: 1..127 characters and at most 127 bytes (the store's
 * records hold 128), not blank, no control characters.
 * *out is NULL when it is absent and optional or wrong (error recorded).
 */
int vbx__api_name_field(vbx_request *r, const cJSON *body, int required,
                        const char **out);

/*
 * Read body.slug into out (64 bytes). When absent and name is not NULL,
 * make it from name ("" and an error asking for a slug when that gives
 * nothing). Returns VBX_OK (out set), VBX_ENOTFOUND (absent, no name: out
 * "") or VBX_EINVAL (error recorded).
 */
int vbx__api_slug_field(vbx_request *r, const cJSON *body, const char *name,
                        char *out);

/* Answer a store hook's failure rc about one resource with
 * vbx_resp_store_error(), what being "<type> <id>" ("team 3f..."). */
int vbx__api_store_fail_id(vbx_request *r, const vbx_hook *h, int rc,
                           const char *type, const char *id, const char *field);

/*
 * May the caller do action on {type, id} (id NULL: a collection or the
 * instance)? Returns VBX_OK, or answers and returns an error:
 *   denied "read", or denied anything on a resource it may not read: 404
 *   NOT_FOUND (its existence is not the caller's to know);
 *   denied on one it may read, or on a collection: 403 FORBIDDEN;
 *   no authorization provider: 503 naming the "authz" capability;
 *   VBX_EUNAVAIL from the hook: 503; anything else: 500.
 */
int vbx__api_authorize(vbx_request *r, const char *action, const char *type,
                       const char *id);
/*
 * The same on the row the handler has read (its owners; NULL: authorize
 * reads what it needs), so that authorize need not read it again. One run
 * of the authorize hook decides the 404 and the 403 alike
 * (vbx_authorize_verdict_row).
 */
int vbx__api_authorize_row(vbx_request *r, const char *action, const char *type,
                           const char *id, const vbx_resource_row *row);
/*
 * Is there an authorization provider? VBX_OK, or answers 503 naming the
 * "authz" capability and returns VBX_EUNAVAIL. For a handler that reads
 * its row before vbx__api_authorize_row: without authz nothing is open,
 * and the answer must say so rather than whether the row exists.
 */
int vbx__api_authz_ready(vbx_request *r);
/* The row of a project or environment for vbx__api_authorize_row. */
vbx_resource_row vbx__api_row(const char *owner_id, const char *team_id);

/* An id from the path that is a UUID, else answer 404 about
 * "<type> <id>" and return NULL. */
const char *vbx__api_path_id(vbx_request *r, const char *param,
                             const char *type);

#endif
