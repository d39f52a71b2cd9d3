/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/store.h - the catalog of store hooks: users, API keys, refresh
 * tokens, teams and their members, projects, the audit log, and dump and
 * restore for backups.
 *
 * Every store hook is PROVIDER (one plugin provides the store; postgres-store
 * does) and returns VBX_EUNAVAIL when no store is loaded or the database is
 * down, so that the endpoints that need it answer 503. Records are plain
 * structs of fixed-size strings: the caller owns them, the store fills them,
 * nothing is allocated across the hook boundary. Lists call a callback once
 * per row; a callback that returns non-zero stops the list and that value
 * is returned.
 *
 * Updates (store_*_update) write the whole row back: the caller passes the
 * record it read, with its changes, and on VBX_OK the record is the row as
 * stored, every field (updated_at included) as the next read would give
 * it. So a handler answers with the record it wrote, without a read after
 * the write: an update is one statement (UPDATE ... RETURNING in
 * postgres-store). On an error the record is left as it was passed.
 *
 * Common returns: VBX_OK; VBX_ENOTFOUND (no such row); VBX_EEXIST (a
 * unique constraint: email, slug, membership); VBX_EINVAL (a value the
 * database refuses); VBX_EUNAVAIL (no store, or the database is down).
 * Every hook may block; call them from workers.
 */
#ifndef VIBEBOX_STORE_H
#define VIBEBOX_STORE_H

#include <stdbool.h>

#include <vibebox/catalog.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBX_ID_LEN 37 /* a UUID as text, with its NUL */

/* Which page of a list: page from 1, limit 1..100. */
typedef struct vbx_page {
	int page;
	int limit;
} vbx_page;

/* Team roles, weakest first; "" means not a member. */
#define VBX_ROLE_VIEWER "viewer"
#define VBX_ROLE_DEVELOPER "developer"
#define VBX_ROLE_ADMIN "admin"

/* ---- users ---- */

typedef struct vbx_user {
	char id[VBX_ID_LEN];
	char email[256]; /* stored lower case; unique */
	char name[128];
	bool admin; /* instance admin */
	bool disabled;
	int64_t created_at; /* Unix ms */
	int64_t updated_at;
} vbx_user;

typedef int vbx_user_each_fn(void *ctx, const vbx_user *u);

/*
 * store_user_create(u, password_hash, admin_if_first): insert u (email,
 * name, admin, disabled are read; id and times are written back). With
 * admin_if_first, the user becomes an instance admin exactly when no other
 * user exists, decided inside the same transaction. VBX_EEXIST: the email
 * is taken.
 */
VBX_HOOK_DECLARE(store_user_create, PROVIDER, VBX_EUNAVAIL,
                 (vbx_user * u, const char *password_hash, int admin_if_first),
                 (u, password_hash, admin_if_first))

/* store_user_get(id, out): the user with this id. */
VBX_HOOK_DECLARE(store_user_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_user *out), (id, out))

/*
 * store_user_by_email(email, out, hash, hash_len): the user with this email
 * (compared case-insensitively) and its password hash, copied into hash
 * (hash_len bytes; "" when the user has no password).
 */
VBX_HOOK_DECLARE(store_user_by_email, PROVIDER, VBX_EUNAVAIL,
                 (const char *email, vbx_user *out, char *hash,
                  size_t hash_len),
                 (email, out, hash, hash_len))

/*
 * store_user_update(u, password_hash): write u's email, name, admin and
 * disabled; the password too unless password_hash is NULL. The whole row
 * is written back to u (updated_at included). VBX_EEXIST: the new email
 * is taken.
 */
VBX_HOOK_DECLARE(store_user_update, PROVIDER, VBX_EUNAVAIL,
                 (vbx_user * u, const char *password_hash), (u, password_hash))

/* store_user_list(page, each, ctx, total): users by creation time. */
VBX_HOOK_DECLARE(store_user_list, PROVIDER, VBX_EUNAVAIL,
                 (const vbx_page *page, vbx_user_each_fn *each, void *ctx,
                  int64_t *total),
                 (page, each, ctx, total))

/* ---- API keys (the secret is never stored, only its hash) ---- */

typedef struct vbx_api_key {
	char id[VBX_ID_LEN];
	char user_id[VBX_ID_LEN];
	char name[128];
	char prefix[16]; /* the first characters of the key, to recognise it */
	unsigned scopes; /* VBX_SCOPE_* */
	int64_t expires_at;   /* Unix ms; 0: never */
	int64_t last_used_at; /* 0: never */
	int64_t created_at;
} vbx_api_key;

typedef int vbx_api_key_each_fn(void *ctx, const vbx_api_key *k);

/* store_key_create(k, hash): insert k; id and created_at written back. */
VBX_HOOK_DECLARE(store_key_create, PROVIDER, VBX_EUNAVAIL,
                 (vbx_api_key * k, const char *hash), (k, hash))

/*
 * store_key_use(hash, out): the live key (not revoked) with this hash;
 * records now as its last use. The caller checks expiry and the user.
 */
VBX_HOOK_DECLARE(store_key_use, PROVIDER, VBX_EUNAVAIL,
                 (const char *hash, vbx_api_key *out), (hash, out))

/* store_key_list(user_id, each, ctx): the user's live keys, newest first. */
VBX_HOOK_DECLARE(store_key_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *user_id, vbx_api_key_each_fn *each, void *ctx),
                 (user_id, each, ctx))

/* store_key_revoke(user_id, id): revoke the user's key. VBX_ENOTFOUND when
 * the user has no such live key. */
VBX_HOOK_DECLARE(store_key_revoke, PROVIDER, VBX_EUNAVAIL,
                 (const char *user_id, const char *id), (user_id, id))

/* ---- refresh tokens (stored hashed; a family is one login's chain) ---- */

typedef struct vbx_refresh {
	char id[VBX_ID_LEN];
	char user_id[VBX_ID_LEN];
	char family_id[VBX_ID_LEN]; /* "" on create: a new family */
	int64_t expires_at;
} vbx_refresh;

/* store_refresh_create(t, hash): insert t; id (and family_id when empty)
 * written back. */
VBX_HOOK_DECLARE(store_refresh_create, PROVIDER, VBX_EUNAVAIL,
                 (vbx_refresh * t, const char *hash), (t, hash))

/*
 * store_refresh_use(hash, out): mark the token with this hash used, in one
 * statement, and fill out. VBX_OK: it was live. VBX_EEXIST: it had been
 * used already (reuse: the caller revokes the family). VBX_ENOTFOUND: no
 * such token, or its family is revoked. Expiry is the caller's to check.
 */
VBX_HOOK_DECLARE(store_refresh_use, PROVIDER, VBX_EUNAVAIL,
                 (const char *hash, vbx_refresh *out), (hash, out))

/* store_refresh_revoke_family(family_id): no token of it works again. */
VBX_HOOK_DECLARE(store_refresh_revoke_family, PROVIDER, VBX_EUNAVAIL,
                 (const char *family_id), (family_id))

/*
 * store_refresh_family_live(family_id) (ABI 1.1): VBX_OK when the refresh
 * family exists and none of its tokens was revoked (logout, reuse,
 * password change); VBX_ENOTFOUND otherwise. Read only: marks nothing.
 */
VBX_HOOK_DECLARE(store_refresh_family_live, PROVIDER, VBX_EUNAVAIL,
                 (const char *family_id), (family_id))

/* ---- teams and members ---- */

typedef struct vbx_team {
	char id[VBX_ID_LEN];
	char name[128];
	char slug[64]; /* unique */
	int64_t created_at;
	int64_t updated_at;
} vbx_team;

typedef struct vbx_member {
	char team_id[VBX_ID_LEN];
	char user_id[VBX_ID_LEN];
	char email[256]; /* of the user, when listed */
	char name[128];
	char role[16]; /* VBX_ROLE_* */
	int64_t created_at;
} vbx_member;

typedef int vbx_team_each_fn(void *ctx, const vbx_team *t);
typedef int vbx_member_each_fn(void *ctx, const vbx_member *m);

/* store_team_create(t, admin_id): insert t and make admin_id its admin, in
 * one transaction. VBX_EEXIST: the slug is taken. */
VBX_HOOK_DECLARE(store_team_create, PROVIDER, VBX_EUNAVAIL,
                 (vbx_team * t, const char *admin_id), (t, admin_id))

VBX_HOOK_DECLARE(store_team_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_team *out), (id, out))

/* store_team_update(t): write name and slug of the team t (as read, with
 * its changes); the whole row is written back to t, updated_at included.
 * VBX_EEXIST: the slug is taken. */
VBX_HOOK_DECLARE(store_team_update, PROVIDER, VBX_EUNAVAIL, (vbx_team * t), (t))

/* store_team_delete(id): the team, its memberships and its projects. */
VBX_HOOK_DECLARE(store_team_delete, PROVIDER, VBX_EUNAVAIL, (const char *id),
                 (id))

/* store_team_list(user_id, page, each, ctx, total): the teams user_id
 * belongs to, or every team when user_id is NULL. */
VBX_HOOK_DECLARE(store_team_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *user_id, const vbx_page *page,
                  vbx_team_each_fn *each, void *ctx, int64_t *total),
                 (user_id, page, each, ctx, total))

/* store_member_set(m, create): add (create != 0; VBX_EEXIST when already a
 * member) or change the role of (VBX_ENOTFOUND when not a member) m. A
 * team always keeps an admin: taking the role from its last admin is
 * VBX_ESTATE, decided in the store's transaction so that two admins
 * demoting each other at once cannot both succeed. */
VBX_HOOK_DECLARE(store_member_set, PROVIDER, VBX_EUNAVAIL,
                 (vbx_member * m, int create), (m, create))

/* store_member_get(team_id, user_id, out): the membership, for authorize. */
VBX_HOOK_DECLARE(store_member_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *team_id, const char *user_id, vbx_member *out),
                 (team_id, user_id, out))

/* store_member_remove(team_id, user_id): VBX_ENOTFOUND when not a member,
 * VBX_ESTATE for the team's last admin (as store_member_set). */
VBX_HOOK_DECLARE(store_member_remove, PROVIDER, VBX_EUNAVAIL,
                 (const char *team_id, const char *user_id), (team_id, user_id))

VBX_HOOK_DECLARE(store_member_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *team_id, const vbx_page *page,
                  vbx_member_each_fn *each, void *ctx, int64_t *total),
                 (team_id, page, each, ctx, total))

/* ---- projects (owned by a user or by a team, never both) ---- */

typedef struct vbx_project {
	char id[VBX_ID_LEN];
	char name[128];
	char slug[64];             /* unique per owner */
	char owner_id[VBX_ID_LEN]; /* the owning user, or "" */
	char team_id[VBX_ID_LEN];  /* the owning team, or "" */
	int64_t created_at;
	int64_t updated_at;
} vbx_project;

typedef int vbx_project_each_fn(void *ctx, const vbx_project *p);

VBX_HOOK_DECLARE(store_project_create, PROVIDER, VBX_EUNAVAIL,
                 (vbx_project * p), (p))
VBX_HOOK_DECLARE(store_project_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_project *out), (id, out))
/* store_project_update(p): write name and slug of the project p (as read,
 * with its changes); the whole row is written back to p, updated_at
 * included. VBX_EEXIST: the owner has a project with that slug. */
VBX_HOOK_DECLARE(store_project_update, PROVIDER, VBX_EUNAVAIL,
                 (vbx_project * p), (p))
VBX_HOOK_DECLARE(store_project_delete, PROVIDER, VBX_EUNAVAIL, (const char *id),
                 (id))

/* store_project_list(user_id, page, each, ctx, total): the projects
 * user_id owns or whose team it belongs to; every project when NULL. */
VBX_HOOK_DECLARE(store_project_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *user_id, const vbx_page *page,
                  vbx_project_each_fn *each, void *ctx, int64_t *total),
                 (user_id, page, each, ctx, total))

/* ---- audit log ---- */

typedef struct vbx_audit {
	char id[VBX_ID_LEN];
	int64_t at;
	char actor_id[VBX_ID_LEN]; /* "" for none (a failed login) */
	char action[64];           /* "user.register", "auth.login.failure" */
	char target_type[32];
	char target_id[VBX_ID_LEN];
	char client[64];
	char detail[256];
} vbx_audit;

typedef int vbx_audit_each_fn(void *ctx, const vbx_audit *a);

/* store_audit_add(a): id and at written back. */
VBX_HOOK_DECLARE(store_audit_add, PROVIDER, VBX_EUNAVAIL, (vbx_audit * a), (a))
/* store_audit_list(page, each, ctx, total): newest first. */
VBX_HOOK_DECLARE(store_audit_list, PROVIDER, VBX_EUNAVAIL,
                 (const vbx_page *page, vbx_audit_each_fn *each, void *ctx,
                  int64_t *total),
                 (page, each, ctx, total))

/* ---- backups ---- */

/* store_dump(fd): write a pg_dump --format=custom of the database to fd.
 * store_restore(fd): read one from fd and restore it. */
VBX_HOOK_DECLARE(store_dump, PROVIDER, VBX_EUNAVAIL, (int fd), (fd))
VBX_HOOK_DECLARE(store_restore, PROVIDER, VBX_EUNAVAIL, (int fd), (fd))

/* ---- refresh tokens, continued ---- */

/*
 * store_refresh_revoke_user(user_id, keep_family): revoke every refresh
 * token family of the user but keep_family (NULL or "": every family), as
 * after a password change. Idempotent: VBX_OK when nothing was live.
 */
VBX_HOOK_DECLARE(store_refresh_revoke_user, PROVIDER, VBX_EUNAVAIL,
                 (const char *user_id, const char *keep_family),
                 (user_id, keep_family))

/* ---- environments, their variables and ports ---- */

/* Environment statuses as bits, for compare-and-set transitions. */
#define VBX_ENV_STOPPED 0x01u
#define VBX_ENV_STARTING 0x02u
#define VBX_ENV_RUNNING 0x04u
#define VBX_ENV_STOPPING 0x08u
#define VBX_ENV_ERROR 0x10u
#define VBX_ENV_ANY 0x1fu

typedef struct vbx_env {
	char id[VBX_ID_LEN];
	char project_id[VBX_ID_LEN];
	char name[128];
	char slug[64]; /* unique per project */
	char image[256];
	double cpu_limit; /* cores, two decimals */
	int memory_limit; /* MiB */
	char status[16];  /* stopped starting running stopping error */
	char status_reason[256];
	/* "" when there is no container. The runtime's id, opaque to the
	 * rest: it also records where the container lives (docker-runtime
	 * with several engines writes "<engine>/<id>", ABI 1.2), so every
	 * replica reading the row reaches the same engine. */
	char container_id[72];
	char created_by[VBX_ID_LEN];
	char team_id[VBX_ID_LEN];  /* of its project, "" for a personal one */
	char owner_id[VBX_ID_LEN]; /* of its project, "" for a team's */
	int64_t created_at;        /* Unix ms; 0 for NULL below */
	int64_t updated_at;
	int64_t status_at; /* when status last changed */
	int64_t started_at;
	int64_t stopped_at;
	int64_t active_at; /* last terminal or API activity */
} vbx_env;

typedef int vbx_env_each_fn(void *ctx, const vbx_env *e);

/* The bit of a status name, 0 for an unknown name. */
static inline unsigned vbx_env_status_bit(const char *status)
{
	static const char *const names[] = {"stopped", "starting", "running",
	                                    "stopping", "error"};
	for (unsigned i = 0; i < 5; i++) {
		const char *a = names[i], *b = status;
		while (*a && *a == *b)
			a++, b++;
		if (*a == *b)
			return 1u << i;
	}
	return 0;
}

/*
 * store_env_create(e): insert e (project_id, name, slug, image, cpu_limit,
 * memory_limit, created_by are read; status starts "stopped"); every other
 * field written back. VBX_EEXIST: the slug is taken in the project.
 */
VBX_HOOK_DECLARE(store_env_create, PROVIDER, VBX_EUNAVAIL, (vbx_env * e), (e))

/* store_env_get(id, out): the environment with its project's owner. */
VBX_HOOK_DECLARE(store_env_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_env *out), (id, out))

/* store_env_update(e): write name, slug, image, cpu_limit, memory_limit of
 * the environment e (as read, with its changes); the whole row is written
 * back to e (updated_at, status and its project's owners included).
 * VBX_EEXIST: the slug is taken. */
VBX_HOOK_DECLARE(store_env_update, PROVIDER, VBX_EUNAVAIL, (vbx_env * e), (e))

/* store_env_delete(id): the environment, its variables and ports. */
VBX_HOOK_DECLARE(store_env_delete, PROVIDER, VBX_EUNAVAIL, (const char *id),
                 (id))

/*
 * store_env_list(project_id, user_id, status_mask, page, each, ctx,
 * total): the environments of a project (every project when project_id is
 * NULL), only of the projects user_id owns or whose team it belongs to
 * when user_id is not NULL, whose status is in status_mask (VBX_ENV_ANY
 * for all), oldest first. page NULL: every row (the reconcile pass).
 * total may be NULL.
 */
VBX_HOOK_DECLARE(store_env_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *project_id, const char *user_id,
                  unsigned status_mask, const vbx_page *page,
                  vbx_env_each_fn *each, void *ctx, int64_t *total),
                 (project_id, user_id, status_mask, page, each, ctx, total))

/*
 * store_env_transition(id, from_mask, to, reason, container_id, out):
 * compare-and-set of the status in one statement: when the status is in
 * from_mask, set it to `to` (a status name) with `reason` ("" for none),
 * status_at = now, started_at when `to` is running, stopped_at when it is
 * stopped or error, and container_id unless it is NULL ("" clears it).
 * out (may be NULL) gets the row after the change. VBX_ESTATE: the status
 * was not in from_mask (out gets the current row); VBX_ENOTFOUND.
 */
VBX_HOOK_DECLARE(store_env_transition, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, unsigned from_mask, const char *to,
                  const char *reason, const char *container_id, vbx_env *out),
                 (id, from_mask, to, reason, container_id, out))

/* store_env_touch(id): record terminal or API activity now (active_at). */
VBX_HOOK_DECLARE(store_env_touch, PROVIDER, VBX_EUNAVAIL, (const char *id),
                 (id))

/*
 * store_env_count(created_by, team_id, count): how many environments exist
 * that created_by made (when not NULL) or that live in the projects of
 * team_id (when not NULL), for quotas.
 */
VBX_HOOK_DECLARE(store_env_count, PROVIDER, VBX_EUNAVAIL,
                 (const char *created_by, const char *team_id, int64_t *count),
                 (created_by, team_id, count))

typedef struct vbx_env_var {
	char key[129]; /* [A-Za-z_][A-Za-z0-9_]* */
	char value[4096];
	bool secret; /* value encrypted at rest, never returned by the API */
	int64_t updated_at;
} vbx_env_var;

typedef int vbx_env_var_each_fn(void *ctx, const vbx_env_var *v);

/* store_env_var_set(env_id, v): insert or replace; a secret value is
 * sealed with AES-256-GCM under the current key. updated_at written back. */
VBX_HOOK_DECLARE(store_env_var_set, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, vbx_env_var *v), (env_id, v))

/*
 * store_env_var_get(env_id, key, reveal, out) and store_env_var_list(
 * env_id, reveal, each, ctx): with reveal 0 a secret's value is "" (what
 * the API shows); with reveal 1 it is decrypted (only for the runtime, at
 * container create). VBX_ERR when a secret cannot be decrypted (its key
 * is gone from secrets_key_file).
 */
VBX_HOOK_DECLARE(store_env_var_get, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, const char *key, int reveal,
                  vbx_env_var *out),
                 (env_id, key, reveal, out))
VBX_HOOK_DECLARE(store_env_var_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, int reveal, vbx_env_var_each_fn *each,
                  void *ctx),
                 (env_id, reveal, each, ctx))
VBX_HOOK_DECLARE(store_env_var_delete, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, const char *key), (env_id, key))

typedef struct vbx_env_port {
	int port;         /* in the container, 1..65535 */
	char protocol[4]; /* "tcp" or "udp" */
	int host_port;    /* where it is published; 0 until started */
	int64_t created_at;
} vbx_env_port;

typedef int vbx_env_port_each_fn(void *ctx, const vbx_env_port *p);

/* store_env_port_add(env_id, p): VBX_EEXIST when port/protocol is there. */
VBX_HOOK_DECLARE(store_env_port_add, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, vbx_env_port *p), (env_id, p))
/* store_env_port_remove(env_id, port, protocol): VBX_ENOTFOUND. */
VBX_HOOK_DECLARE(store_env_port_remove, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, int port, const char *protocol),
                 (env_id, port, protocol))
VBX_HOOK_DECLARE(store_env_port_list, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, vbx_env_port_each_fn *each, void *ctx),
                 (env_id, each, ctx))
/* store_env_port_set_host(env_id, port, protocol, host_port): record where
 * a port was published (0 when the container stopped). */
VBX_HOOK_DECLARE(store_env_port_set_host, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, int port, const char *protocol,
                  int host_port),
                 (env_id, port, protocol, host_port))

/* ---- the installation ---- */

/*
 * store_instance_id(out): the id of this installation (VBX_ID_LEN bytes),
 * made once with the database and the same for every replica sharing it.
 * The runtime labels what it creates with it.
 */
VBX_HOOK_DECLARE(store_instance_id, PROVIDER, VBX_EUNAVAIL, (char *out), (out))

#ifdef __cplusplus
}
#endif
#endif
