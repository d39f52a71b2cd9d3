/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/catalog.h - the catalog of the daemon's own hooks and events:
 * who is asking (authenticate), may they (authorize), health checks, config
 * reloads and environment status. (ABI 1.0 called it hooks.h; that name
 * still includes this one.)
 *
 * The store's and the runtime's catalogs are store.h and runtime.h. See
 * hook.h for the policies.
 */
#ifndef VIBEBOX_CATALOG_H
#define VIBEBOX_CATALOG_H

#include <vibebox/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Principal flags. */
#define VBX_PRINCIPAL_ADMIN 0x1u  /* instance admin */
#define VBX_PRINCIPAL_APIKEY 0x2u /* authenticated by an API key */

/* Scopes of a principal; tokens of a logged-in user carry all three. */
#define VBX_SCOPE_READ 0x1u
#define VBX_SCOPE_WRITE 0x2u
#define VBX_SCOPE_ADMIN 0x4u

/* Who is making a request. Filled by the authenticate hook; owned by the
 * request (or WebSocket) it belongs to. */
typedef struct vbx_principal {
	char user_id[40]; /* UUID text */
	char email[256];
	unsigned flags;  /* VBX_PRINCIPAL_* */
	unsigned scopes; /* VBX_SCOPE_* */
} vbx_principal;

/* What an action is about: a type ("instance", "team", "project",
 * "environment", ...) and a UUID, or NULL for a collection. The strings
 * belong to the caller. Plugins built for 1.0 allocate it with these two
 * members only, so it cannot grow: the row a caller has read travels
 * beside it (vbx_resource_row, vbx_authorize_verdict_row()). */
typedef struct vbx_resource {
	const char *type;
	const char *id;
} vbx_resource;

/*
 * authenticate(bearer, client_addr, out) - FIRST, default VBX_EUNAUTH.
 * Turn the bearer credential of a request or WebSocket (the text after
 * "Bearer ", never NULL) into a principal written to *out.
 * Returns VBX_OK, VBX_DECLINED (not a credential of this handler's kind),
 * VBX_EUNAUTH (invalid, expired, revoked), or VBX_EUNAVAIL (a dependency
 * is down). With every handler declining the run returns VBX_EUNAUTH
 * (401). With no handler at all the daemon does not run it and answers
 * 503 to every endpoint that needs a principal.
 * Runs on a worker; may block.
 */
VBX_HOOK_DECLARE(authenticate, FIRST, VBX_EUNAUTH,
                 (const char *bearer, const char *client_addr,
                  vbx_principal *out),
                 (bearer, client_addr, out))

/*
 * authorize(who, action, res) - FIRST, default VBX_EDENIED.
 * May `who` do `action` ("read", "update", "project.create", ...) on
 * `res`? Returns VBX_OK to allow, VBX_EDENIED to deny, VBX_DECLINED to
 * leave it to the next handler. Everything is denied when no handler
 * allows it. Runs on a worker; may block. Borrows all its arguments.
 */
VBX_HOOK_DECLARE(authorize, FIRST, VBX_EDENIED,
                 (const vbx_principal *who, const char *action,
                  const vbx_resource *res),
                 (who, action, res))

/*
 * The answer of docs/permissions.md to "may who do action on res?", built
 * on the authorize hook (ABI 1.1): a resource the caller may not even
 * read does not exist for it, one it may read but not change is
 * forbidden. Returns
 *   VBX_OK        allowed;
 *   VBX_ENOTFOUND who may not read res (answer 404: its existence is not
 *                 the caller's to know);
 *   VBX_EDENIED   who may read res, or res is a collection (id NULL), but
 *                 not do action (answer 403);
 *   VBX_EUNAVAIL  no plugin provides "authz" (*failed is action), or the
 *                 hook's own VBX_EUNAVAIL;
 *   else the hook's failure.
 * *failed names the action whose check gave the result ("read" when the
 * second check decided). Runs the hook on the calling thread (a worker:
 * it may block). Borrows every argument; *failed is one of the actions.
 */
static inline int vbx_authorize_verdict(vbx_plugin *p, const vbx_principal *who,
                                        const char *action,
                                        const vbx_resource *res,
                                        const char **failed)
{
	return VBX__HOST(p)->authorize_verdict(who, action, res, failed);
}

/*
 * The row an action is about, as the caller has just read it from the
 * store (ABI 1.1): who owns it, and the caller's membership of the owning
 * team when the caller read that too. An authorize handler given one
 * decides on it instead of reading those rows again. Owned by the caller;
 * valid for the one run it is passed to. Later versions only append
 * members: a handler uses what its version (>= 1) has, and ignores a row
 * with version 0.
 */
typedef struct vbx_resource_row {
	uint32_t version;  /* 1 */
	char owner_id[40]; /* the user who owns it; "" when a team does */
	char team_id[40];  /* the team that owns it (a team: itself); "" when
	                      a user does */
	unsigned flags;    /* VBX_ROW_* */
	char role[16];     /* with VBX_ROW_ROLE: the caller's role in team_id
	                      as the caller read it ("admin", "developer",
	                      "viewer"), "" when it is not a member */
} vbx_resource_row;

/* vbx_resource_row.flags: role holds the caller's membership of team_id,
 * so the handler need not read it. */
#define VBX_ROW_ROLE 0x1u

/*
 * vbx_authorize_verdict() in one run of the authorize hook (ABI 1.1),
 * optionally on the row the caller read (NULL: the handler reads what it
 * needs). The results and *failed are vbx_authorize_verdict()'s. A
 * handler that takes the run's context (vbx_authorize_context()) tells
 * "may not even read" (VBX_ENOTFOUND) from "may read but not act"
 * (VBX_EDENIED) itself, so a denied request costs one run; a handler
 * that does not (built for 1.0, or a third party's) gets a second run for
 * "read", as with vbx_authorize_verdict(). Runs the hook on the calling
 * thread (a worker: it may block). Borrows every argument.
 */
static inline int
vbx_authorize_verdict_row(vbx_plugin *p, const vbx_principal *who,
                          const char *action, const vbx_resource *res,
                          const vbx_resource_row *row, const char **failed)
{
	return VBX__HOST(p)->authorize_verdict_row(who, action, res, row,
	                                           failed);
}

/*
 * For an authorize handler (ABI 1.1): is this run one of
 * vbx_authorize_verdict_row() about res? Returns VBX_OK when it is: the
 * handler then answers VBX_OK (allowed), VBX_EDENIED (who may read res
 * but not do the action) or VBX_ENOTFOUND (who may not even read res),
 * and *row is the caller's row (valid until the handler returns), or
 * NULL when the caller read none. Returns VBX_ENOTFOUND (and *row NULL)
 * for a plain run of the hook: answer VBX_OK, VBX_EDENIED or
 * VBX_DECLINED as the hook says. A handler that declines after taking
 * the context leaves it to the next handler, as usual.
 */
static inline int vbx_authorize_context(vbx_plugin *p, const vbx_resource *res,
                                        const vbx_resource_row **row)
{
	return VBX__HOST(p)->authorize_context(res, row);
}

/*
 * health_check(report) - ALL, default VBX_OK.
 * Add one check or more to a readiness report with vbx_health_add() and
 * return VBX_OK. Runs on a thread of the core's for /health/ready, one run
 * at a time; the probe waits at most health.timeout (3 s) for the run and
 * then fails readiness, so a check should answer within a second and must
 * end by itself (give its own calls a deadline): a check still running
 * holds up later runs and the daemon's shutdown. The report is owned by
 * the daemon.
 */
VBX_HOOK_DECLARE(health_check, ALL, VBX_OK, (vbx_health * report), (report))

/*
 * A check's status (ABI 1.2) for a dependency that is down but not
 * required: shown as "degraded" with its detail, and /health/ready still
 * answers 200 (its status "degraded" when no check failed). Positive, so
 * that it is no VBX_* result code.
 */
#define VBX_HEALTH_DEGRADED 1

/*
 * Add a check to a readiness report. name: a short word ("postgres");
 * status: VBX_OK when healthy, VBX_HEALTH_DEGRADED (1.2) when impaired
 * but not required, else the error code; latency_us: how long the check
 * took; detail: NULL or a short text. Copies its strings. Any check that
 * is neither VBX_OK nor VBX_HEALTH_DEGRADED makes /health/ready answer
 * 503. A daemon older than 1.2 takes VBX_HEALTH_DEGRADED as a failure:
 * a plugin that must run there reports VBX_OK with a detail instead.
 */
static inline void vbx_health_add(vbx_health *h, const char *name, int status,
                                  int64_t latency_us, const char *detail)
{
	VBX__HOST(h)->health_add(h, name, status, latency_us, detail);
}

/*
 * config_reload - after SIGHUP re-read the config file. The payload says
 * which generation is now current; vbx_plugin_config() returns the
 * subscriber's new block. The old block stays valid.
 */
typedef struct vbx_config_reload_event {
	uint32_t version; /* 1 */
	uint32_t generation;
} vbx_config_reload_event;
VBX_EVENT_DECLARE(config_reload, vbx_config_reload_event, NULL)

/*
 * env_status - an environment changed status. User-facing: the daemon
 * renders it as {"type":"environment.status","environmentId",
 * "projectId","status","reason","at"} for /api/v1/events, shown to those
 * whom authorize allows "read" on the environment.
 */
typedef struct vbx_env_status_event {
	uint32_t version; /* 1 */
	char env_id[40];
	char project_id[40];
	char status[16]; /* stopped starting running stopping error */
	char reason[256];
	int64_t at_ms; /* Unix time in milliseconds */
} vbx_env_status_event;
VBX_EVENT_DECLARE(env_status, vbx_env_status_event, NULL)

/* ---- 1.1: revocation reaches open sockets (principal_changed) ---- */

/*
 * principal_changed - something that can change what a principal may do
 * has happened and is committed to the store. Published by the plugin
 * that made the change (auth: a user disabled or deleted, admin revoked,
 * an API key revoked, a password changed, a refresh family revoked;
 * platform: a member removed or its role changed, a team or project
 * deleted). The daemon re-checks every open WebSocket of user_id (every
 * open WebSocket when user_id is "") and closes those whose credential
 * is no longer valid (4401) or whose route no longer allows them (4403).
 * Not user-facing (no JSON for /api/v1/events); a plain registry event,
 * so an event bridge between replicas carries it like any other.
 * Re-checks are keyed on user_id only: reason and credential_id say why,
 * for logs and for subscribers of the plugin's own.
 */
typedef struct vbx_principal_changed_event {
	uint32_t version;       /* 1 */
	char user_id[40];       /* the user concerned; "" for many */
	char team_id[40];       /* the team concerned, or "" */
	char reason[32];        /* a VBX_REVOKE_* reason below */
	char credential_id[40]; /* an API key's or refresh family's id, or "" */
} vbx_principal_changed_event;
VBX_EVENT_DECLARE(principal_changed, vbx_principal_changed_event, NULL)

/* principal_changed reasons (docs/plugin-guide.md). Plugins of their own
 * may publish other reasons; the daemon treats every reason alike. */
#define VBX_REVOKE_USER_DISABLED "user.disabled"
#define VBX_REVOKE_USER_DELETED "user.deleted"
#define VBX_REVOKE_ADMIN_REVOKED "user.admin_revoked"
#define VBX_REVOKE_KEY_REVOKED "key.revoked"
#define VBX_REVOKE_PASSWORD_CHANGED "password.changed"
#define VBX_REVOKE_FAMILY_REVOKED "session.revoked"
#define VBX_REVOKE_MEMBER_REMOVED "member.removed"
#define VBX_REVOKE_MEMBER_ROLE "member.role"
#define VBX_REVOKE_TEAM_DELETED "team.deleted"
#define VBX_REVOKE_PROJECT_DELETED "project.deleted"

/*
 * principal_check(bearer, who) - FIRST, default VBX_OK.
 * Is the credential `bearer` (the text a WebSocket authenticated with,
 * never NULL), which authenticate turned into `who` when the socket
 * opened, still valid now? Unlike authenticate it does not fail on the
 * credential's expiry (an open socket outlives its access token or
 * ticket) but on everything that revokes it: the user missing or
 * disabled, the API key revoked, the login's refresh family revoked
 * (logout, password change). Returns VBX_OK (still valid), VBX_EUNAUTH
 * (no longer valid: the socket closes with 4401), VBX_EDENIED (valid,
 * but the principal lost a privilege it had, such as instance admin:
 * 4403), VBX_EUNAVAIL (cannot tell now: 4503), or VBX_DECLINED (not a
 * credential of this handler's kind). Runs on a worker; may block.
 * Borrows its arguments.
 */
VBX_HOOK_DECLARE(principal_check, FIRST, VBX_OK,
                 (const char *bearer, const vbx_principal *who), (bearer, who))

/* ---- end of 1.1 principal_changed ---- */

/* ---- 1.2: a say on every authenticated request (request_admit) ---- */

/*
 * What request_admit tells the daemon about the caller's request budget.
 * Zeroed by the daemon before the run; a handler that leaves limit at 0
 * adds no header. Later versions only append members.
 */
typedef struct vbx_admit {
	uint32_t version;       /* 1, set by the daemon */
	int64_t limit;          /* requests allowed per window, > 0 to send
	                           X-RateLimit-Limit/-Remaining/-Reset */
	int64_t remaining;      /* requests left in the window, >= 0 */
	int64_t reset_ms;       /* ms until the window frees one request
	                           (X-RateLimit-Reset, in seconds rounded
	                           up); 0 when nothing is counted */
	int64_t retry_after_ms; /* refused: ms until a request would be
	                           allowed (Retry-After, seconds rounded up,
	                           at least 1) */
} vbx_admit;

/*
 * request_admit(who, method, route, out) - FIRST, default VBX_OK (ABI
 * 1.2). Runs for every HTTP request that needs a principal, after
 * authentication succeeded and before the route's handler: `who` is the
 * principal, `method` the request's method, `route` the matched route's
 * pattern ("/api/v1/projects/{id}"). Returns VBX_OK (go on: the daemon
 * adds the X-RateLimit-* headers of *out to the response when out->limit
 * > 0), VBX_EAGAIN (over a limit: the daemon answers 429
 * TOO_MANY_REQUESTS with Retry-After and the same headers, and the
 * handler does not run), or VBX_DECLINED (leave it to the next handler).
 * Any other answer is logged and the request goes on: a limit that
 * cannot be counted never fails a request. Runs on a worker and may
 * block briefly (a shared counter's round trip). Borrows its arguments;
 * *out belongs to the daemon.
 */
VBX_HOOK_DECLARE(request_admit, FIRST, VBX_OK,
                 (const vbx_principal *who, const char *method,
                  const char *route, vbx_admit *out),
                 (who, method, route, out))

/* ---- end of 1.2 request_admit ---- */

#ifdef __cplusplus
}
#endif
#endif
