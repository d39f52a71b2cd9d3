/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - the HTTP API of the auth plugin: registration, login,
 * refresh-token rotation, logout, the caller's own account, API keys,
 * and, for instance admins, users and the audit log.
 *
 * Every answer uses the platform's envelope; a store that is down answers
 * 503. Handlers check the API-key scope the route needs (read, write,
 * admin); a logged-in user's access token carries all three.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth.h"

#define BAD_LOGIN "invalid email or password"
#define BAD_REFRESH "the refresh token is invalid, expired or revoked"
#define EMAIL_MAX 255
#define NAME_MAX_LEN 127

/* ---- answers ---- */

static int store_error(vbx_request *req, int rc, const char *what)
{
	switch (rc) {
	case VBX_EUNAVAIL:
		return vbx_resp_error(req, 503, "UNAVAILABLE",
		                      "%s: the store is unavailable; try again "
		                      "later",
		                      what);
	case VBX_ENOTFOUND:
		return vbx_resp_error(req, 404, "NOT_FOUND", "%s: not found",
		                      what);
	case VBX_EEXIST:
		return vbx_resp_error(req, 409, "CONFLICT",
		                      "%s: already exists", what);
	case VBX_EINVAL:
		return vbx_resp_error(req, 400, "BAD_REQUEST",
		                      "%s: the store refused a value", what);
	default:
		return vbx_resp_error(req, 500, "INTERNAL_ERROR", "%s failed",
		                      what);
	}
}

static int too_many(vbx_request *req, int64_t seconds)
{
	char v[24];
	snprintf(v, sizeof(v), "%lld", (long long)seconds);
	vbx_resp_header(req, "Retry-After", v);
	return vbx_resp_error(req, 429, "TOO_MANY_REQUESTS",
	                      "too many attempts; retry in %lld seconds",
	                      (long long)seconds);
}

/* The principal, when its scopes include `scope`; else answers 403. */
static const vbx_principal *scoped(vbx_request *req, unsigned scope)
{
	const vbx_principal *who = vbx_req_principal(req);
	static const char *const names[] = {"", "read", "write", "", "admin"};
	if (who && (who->scopes & scope))
		return who;
	vbx_resp_error(req, 403, "FORBIDDEN",
	               "this API key lacks the \"%s\" scope", names[scope]);
	return NULL;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
	char t[VBX_TIME_LEN];
	if (ms == 0 || vbx_time_format(ms, t, sizeof(t)) != VBX_OK)
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddStringToObject(o, key, t);
}

static cJSON *user_json(const vbx_user *u)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", u->id);
	cJSON_AddStringToObject(o, "email", u->email);
	cJSON_AddStringToObject(o, "name", u->name);
	cJSON_AddBoolToObject(o, "admin", u->admin);
	cJSON_AddBoolToObject(o, "disabled", u->disabled);
	add_time(o, "createdAt", u->created_at);
	add_time(o, "updatedAt", u->updated_at);
	return o;
}

static cJSON *key_json(const vbx_api_key *k)
{
	cJSON *o = cJSON_CreateObject(), *s = cJSON_CreateArray();
	if (!o || !s) {
		cJSON_Delete(o);
		cJSON_Delete(s);
		return NULL;
	}
	cJSON_AddStringToObject(o, "id", k->id);
	cJSON_AddStringToObject(o, "name", k->name);
	cJSON_AddStringToObject(o, "prefix", k->prefix);
	if (k->scopes & VBX_SCOPE_READ)
		cJSON_AddItemToArray(s, cJSON_CreateString("read"));
	if (k->scopes & VBX_SCOPE_WRITE)
		cJSON_AddItemToArray(s, cJSON_CreateString("write"));
	if (k->scopes & VBX_SCOPE_ADMIN)
		cJSON_AddItemToArray(s, cJSON_CreateString("admin"));
	cJSON_AddItemToObject(o, "scopes", s);
	add_time(o, "expiresAt", k->expires_at);
	add_time(o, "lastUsedAt", k->last_used_at);
	add_time(o, "createdAt", k->created_at);
	return o;
}

static int answer_json(vbx_request *req, int status, cJSON *o)
{
	if (!o)
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "out of memory");
	return vbx_resp_json(req, status, o);
}

/* {user, tokens:{accessToken, refreshToken, expiresIn}} with a new access
 * token and the next refresh token of `family` ("" for a new one). */
static int answer_tokens(auth *a, vbx_request *req, int status,
                         const vbx_user *u, const char *family)
{
	auth_claims c = {0};
	char access[AUTH_JWT_MAX], refresh[AUTH_TOKEN_LEN + 1];

	/* The access token names its refresh family ("fam"), so that a
	 * socket it opened closes when the family is revoked. */
	int rc = auth_refresh_issue(a, u->id, family, refresh, c.fam);
	if (rc != VBX_OK)
		return store_error(req, rc, "issuing a refresh token");
	snprintf(c.sub, sizeof(c.sub), "%s", u->id);
	snprintf(c.email, sizeof(c.email), "%s", u->email);
	c.adm = u->admin;
	c.iat = auth_now_ms() / 1000;
	c.exp = c.iat + a->access_ttl_ms / 1000;
	if (auth_jwt_sign(auth_keys(a), &c, access) != VBX_OK) {
		OPENSSL_cleanse(refresh, sizeof(refresh));
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "cannot sign the access token");
	}

	cJSON *o = cJSON_CreateObject(), *t = cJSON_CreateObject();
	if (o && t) {
		cJSON_AddItemToObject(o, "user", user_json(u));
		cJSON_AddStringToObject(t, "accessToken", access);
		cJSON_AddStringToObject(t, "refreshToken", refresh);
		cJSON_AddNumberToObject(t, "expiresIn",
		                        (double)(a->access_ttl_ms / 1000));
		cJSON_AddItemToObject(o, "tokens", t);
		t = NULL;
	}
	cJSON_Delete(t);
	OPENSSL_cleanse(refresh, sizeof(refresh));
	return answer_json(req, status, o);
}

/* ---- field checks ---- */

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A copy of the email member in lower case, or NULL (field error
 * recorded, or absent and optional). */
static char *read_email(vbx_request *req, const cJSON *body, int required)
{
	const char *s;
	if (vbx_json_string(req, body, "email", required, 3, EMAIL_MAX, &s) !=
	    VBX_OK)
		return NULL;
	const char *at = strchr(s, '@');
	bool ok = at && at != s && at[1] && !strchr(at + 1, '@');
	for (const char *p = s; ok && *p; p++)
		ok = (unsigned char)*p > ' ' && *p != 0x7f;
	if (!ok) {
		vbx_field_error(req, "email", "must be an email address");
		return NULL;
	}
	char *copy = vbx_req_alloc(req, strlen(s) + 1);
	if (copy) {
		strcpy(copy, s);
		lower(copy);
	}
	return copy;
}

static const char *read_password(auth *a, vbx_request *req, const cJSON *body,
                                 const char *key, int required)
{
	const char *s = NULL;
	vbx_json_string(req, body, key, required, a->password_min,
	                AUTH_PASSWORD_MAX, &s);
	return s;
}

/* ---- registration and login ---- */

static int ignore_user(void *ctx, const vbx_user *u)
{
	return 0;
}

/* In "first-user" mode: does a user exist already? */
static int users_exist(auth *a, bool *exist)
{
	vbx_page pg = {1, 1};
	int64_t total = 0;
	int rc = vbx_hook_store_user_list_run(a->st.user_list, &pg, ignore_user,
	                                      NULL, &total);
	*exist = total > 0;
	return rc;
}

static int registration_closed(vbx_request *req)
{
	return vbx_resp_error(req, 403, "FORBIDDEN",
	                      "registration is closed: ask an instance admin "
	                      "to create your account");
}

/* Another first user won the race in "first-user" mode: disable the
 * account we just made rather than leave a second open door. */
static int lost_first_user_race(auth *a, vbx_request *req, vbx_user *u)
{
	u->disabled = true;
	auth_user_update(a, u, NULL);
	return registration_closed(req);
}

static int create_user(auth *a, vbx_request *req, vbx_user *u,
                       const char *password, int admin_if_first)
{
	char hash[AUTH_HASH_MAX];
	if (auth_password_hash(&a->argon2, password, hash) != VBX_OK)
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "cannot hash the password");
	int rc = vbx_hook_store_user_create_run(a->st.user_create, u, hash,
	                                        admin_if_first);
	if (rc == VBX_EEXIST)
		return vbx_resp_error(req, 409, "CONFLICT",
		                      "an account with this email exists");
	if (rc != VBX_OK)
		return store_error(req, rc, "creating the user");
	return VBX_OK;
}

static int h_register(void *ud, vbx_request *req)
{
	auth *a = ud;
	const char *client = vbx_req_client_addr(req);
	cJSON *body;

	if (a->registration == AUTH_REG_CLOSED)
		return registration_closed(req);
	int64_t wait =
	        auth_limiter_take(a->register_client, client, auth_now_ms());
	if (wait) {
		auth_count_limited(AUTH_LIMIT_REGISTER);
		return too_many(req, wait);
	}
	if (vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"email", "password", "name", NULL};
	vbx_json_known_fields(req, body, fields);
	vbx_user u = {0};
	const char *name = NULL;
	char *email = read_email(req, body, VBX_REQUIRED);
	const char *pw = read_password(a, req, body, "password", VBX_REQUIRED);
	vbx_json_string(req, body, "name", VBX_OPTIONAL, 0, NAME_MAX_LEN,
	                &name);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);

	bool exist = false;
	int rc = a->registration == AUTH_REG_FIRST_USER ? users_exist(a, &exist)
	                                                : VBX_OK;
	if (rc != VBX_OK)
		return store_error(req, rc, "registering");
	if (exist)
		return registration_closed(req);
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.name, sizeof(u.name), "%s", name ? name : "");
	if (create_user(a, req, &u, pw, 1) != VBX_OK)
		return VBX_OK;
	if (a->registration == AUTH_REG_FIRST_USER && !u.admin)
		return lost_first_user_race(a, req, &u);
	auth_audit(a, u.id, "user.register", "user", u.id, client,
	           u.admin ? "first user: instance admin" : "");
	return answer_tokens(a, req, 201, &u, "");
}

/* Look the user up and verify the password; the same work and the same
 * answer for an unknown email, a wrong password and a disabled user. */
static int check_login(auth *a, const char *email, const char *pw, vbx_user *u,
                       const char **why)
{
	char hash[AUTH_HASH_MAX] = "";
	int rc = vbx_hook_store_user_by_email_run(a->st.user_by_email, email, u,
	                                          hash, sizeof(hash));
	if (rc != VBX_OK && rc != VBX_ENOTFOUND)
		return rc;
	bool known = rc == VBX_OK && hash[0];
	if (!known)
		memset(u, 0, sizeof(*u));
	rc = auth_password_verify(known ? hash : a->dummy_hash, pw);
	OPENSSL_cleanse(hash, sizeof(hash));
	*why = !known ? "unknown email or no password"
	       : rc   ? "wrong password"
	              : "disabled user";
	if (!known || rc != VBX_OK || u->disabled)
		return VBX_EUNAUTH;
	return VBX_OK;
}

static int login_failed(auth *a, vbx_request *req, const char *email,
                        const vbx_user *u, const char *why)
{
	const char *client = vbx_req_client_addr(req);
	char detail[256];
	int64_t now = auth_now_ms();

	auth_login_guard_failed(a->logins, email, client, now);
	snprintf(detail, sizeof(detail), "%s: %s", why, email);
	auth_audit(a, u->id, "auth.login.failure", "user", u->id, client,
	           detail);
	vbx_resp_header(req, "WWW-Authenticate", "Bearer");
	return vbx_resp_error(req, 401, "UNAUTHORIZED", BAD_LOGIN);
}

static int h_login(void *ud, vbx_request *req)
{
	auth *a = ud;
	const char *client = vbx_req_client_addr(req), *pw, *why = "";
	cJSON *body;
	vbx_user u = {0};

	if (vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"email", "password", NULL};
	vbx_json_known_fields(req, body, fields);
	char *email = read_email(req, body, VBX_REQUIRED);
	vbx_json_string(req, body, "password", VBX_REQUIRED, 1,
	                AUTH_PASSWORD_MAX, &pw);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	int64_t wait =
	        auth_login_guard_check(a->logins, email, client, auth_now_ms());
	if (wait) {
		auth_count_attempt(AUTH_METHOD_PASSWORD, VBX_EAGAIN);
		auth_count_limited(AUTH_LIMIT_LOGIN);
		return too_many(req, wait);
	}

	int rc = auth_count_attempt(AUTH_METHOD_PASSWORD,
	                            check_login(a, email, pw, &u, &why));
	if (rc == VBX_EUNAUTH)
		return login_failed(a, req, email, &u, why);
	if (rc != VBX_OK)
		return store_error(req, rc, "logging in");
	auth_login_guard_passed(a->logins, email, client);
	auth_audit(a, u.id, "auth.login.success", "user", u.id, client, "");
	return answer_tokens(a, req, 200, &u, "");
}

static const char *read_refresh(vbx_request *req)
{
	cJSON *body;
	const char *t = NULL;
	static const char *const fields[] = {"refreshToken", NULL};
	if (vbx_req_json(req, &body) != VBX_OK)
		return NULL;
	vbx_json_known_fields(req, body, fields);
	vbx_json_string(req, body, "refreshToken", VBX_REQUIRED, 1, 512, &t);
	if (vbx_fields_failed(req)) {
		vbx_resp_validation(req);
		return NULL;
	}
	return t;
}

static int h_refresh(void *ud, vbx_request *req)
{
	auth *a = ud;
	const char *token = read_refresh(req);
	vbx_refresh t;
	vbx_user u = {0};

	if (!token)
		return VBX_OK;
	int rc = auth_refresh_use(a, token, vbx_req_client_addr(req), &t);
	if (rc == VBX_OK)
		rc = vbx_hook_store_user_get_run(a->st.user_get, t.user_id, &u);
	if (rc == VBX_OK && u.disabled)
		rc = VBX_EUNAUTH;
	auth_count_attempt(AUTH_METHOD_REFRESH, rc);
	if (rc == VBX_EUNAUTH || rc == VBX_ENOTFOUND) {
		vbx_resp_header(req, "WWW-Authenticate", "Bearer");
		return vbx_resp_error(req, 401, "UNAUTHORIZED", BAD_REFRESH);
	}
	if (rc != VBX_OK)
		return store_error(req, rc, "refreshing");
	return answer_tokens(a, req, 200, &u, t.family_id);
}

static int h_logout(void *ud, vbx_request *req)
{
	auth *a = ud;
	const char *token = read_refresh(req);
	vbx_refresh t;

	if (!token)
		return VBX_OK;
	int rc = auth_refresh_revoke(a, token, &t);
	if (rc != VBX_OK)
		return store_error(req, rc, "logging out");
	if (t.user_id[0])
		auth_principal_changed(a, t.user_id, VBX_REVOKE_FAMILY_REVOKED,
		                       t.family_id);
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

/* ---- WebSocket tickets ---- */

/* The credential of a plain request: only the Authorization header
 * carries it. NULL when there is none. */
static const char *request_bearer(vbx_request *req)
{
	const char *h = vbx_req_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	for (h += 7; *h == ' '; h++)
		;
	return h;
}

/* Was this request authenticated by a ticket? */
static bool by_ticket(vbx_request *req)
{
	const char *h = request_bearer(req);
	return h && strncmp(h, AUTH_TICKET_PREFIX, 4) == 0;
}

/*
 * The credential a ticket names, so that its sockets close with it: the
 * caller's API key, or its access token's refresh family ("" for a token
 * without one). VBX_OK or the store's failure.
 */
static int ticket_credential(auth *a, vbx_request *req,
                             const vbx_principal *who, char *cred)
{
	const char *h = request_bearer(req);
	auth_claims c;

	cred[0] = '\0';
	if (!h)
		return VBX_OK;
	if (who->flags & VBX_PRINCIPAL_APIKEY)
		return auth_key_id(a, h, cred);
	if (auth_jwt_verify(auth_keys(a), h, AUTH_JWT_ANY_TIME, &c) == VBX_OK)
		snprintf(cred, VBX_ID_LEN, "%s", c.fam);
	return VBX_OK;
}

/*
 * A ticket for the caller: its scopes, whether it is an API key's, and
 * which key or login (ticket_credential), for ws_ticket_ttl. A ticket cannot
 * issue the next one, or a stolen ticket would live forever.
 */
static int h_ws_ticket(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = vbx_req_principal(req);
	size_t len = 0;
	cJSON *body;
	char ticket[AUTH_TICKET_LEN + 1];

	if (!who)
		return vbx_resp_error(req, 401, "UNAUTHORIZED",
		                      "a ticket needs a credential");
	vbx_req_body(req, &len);
	if (len > 0) {
		if (vbx_req_json(req, &body) != VBX_OK)
			return VBX_OK;
		static const char *const fields[] = {NULL};
		vbx_json_known_fields(req, body, fields);
		if (vbx_fields_failed(req))
			return vbx_resp_validation(req);
	}
	if (by_ticket(req))
		return vbx_resp_error(req, 403, "FORBIDDEN",
		                      "a WebSocket ticket cannot issue another "
		                      "one: ask with your access token or API "
		                      "key");
	auth_ticket t = {
	        .exp = auth_now_ms() / 1000 + a->ws_ticket_ttl_ms / 1000,
	        .scopes = who->scopes & AUTH_TICKET_SCOPES,
	        .apikey = (who->flags & VBX_PRINCIPAL_APIKEY) != 0,
	};
	int rc = ticket_credential(a, req, who, t.cred_id);
	if (rc != VBX_OK)
		return store_error(req, rc, "reading your API key");
	snprintf(t.user_id, sizeof(t.user_id), "%.36s", who->user_id);
	if (auth_ticket_encode(auth_keys(a), &t, ticket) != VBX_OK)
		return vbx_resp_error(req, 403, "FORBIDDEN",
		                      "this credential cannot have a WebSocket "
		                      "ticket (no scope, or not a user of this "
		                      "plugin)");
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "ticket", ticket);
		cJSON_AddNumberToObject(o, "expiresIn",
		                        (double)(a->ws_ticket_ttl_ms / 1000));
	}
	OPENSSL_cleanse(ticket, sizeof(ticket));
	return answer_json(req, 201, o);
}

/* ---- the caller's own account ---- */

static int h_me_get(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_READ);
	vbx_user u;

	if (!who)
		return VBX_OK;
	int rc = vbx_hook_store_user_get_run(a->st.user_get, who->user_id, &u);
	if (rc != VBX_OK)
		return store_error(req, rc, "reading your account");
	return answer_json(req, 200, user_json(&u));
}

/* currentPassword must match; failures count as failed logins of the
 * account from this address, so a stolen access token cannot guess it
 * quickly. */
static int check_current(auth *a, vbx_request *req, const vbx_user *u,
                         const char *current)
{
	char hash[AUTH_HASH_MAX] = "";
	vbx_user tmp;
	const char *client = vbx_req_client_addr(req);
	int64_t now = auth_now_ms();
	int64_t wait = auth_login_guard_check(a->logins, u->email, client, now);
	if (wait) {
		auth_count_limited(AUTH_LIMIT_LOGIN);
		return too_many(req, wait), VBX_EAGAIN;
	}
	int rc = vbx_hook_store_user_by_email_run(a->st.user_by_email, u->email,
	                                          &tmp, hash, sizeof(hash));
	if (rc != VBX_OK)
		return store_error(req, rc, "checking your password"), rc;
	rc = auth_password_verify(hash, current);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (rc == VBX_OK) {
		auth_login_guard_passed(a->logins, u->email, client);
		return VBX_OK;
	}
	auth_login_guard_failed(a->logins, u->email, client, now);
	vbx_field_error(req, "currentPassword", "is not your current password");
	vbx_resp_validation(req);
	return VBX_EUNAUTH;
}

/* After a password change no refresh token issued before it works: a
 * stolen one must not outlive the password. An access token does not name
 * its login's refresh family, so the caller's own family goes too (keep
 * none) and the caller logs in again when its access token expires. */
static int revoke_other_sessions(auth *a, const vbx_user *u)
{
	return vbx_hook_store_refresh_revoke_user_run(a->st.refresh_revoke_user,
	                                              u->id, NULL);
}

static int h_me_patch(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_WRITE);
	const char *name = NULL, *current = NULL;
	char hash[AUTH_HASH_MAX];
	cJSON *body;
	vbx_user u;

	if (!who || vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"email", "password", "name",
	                                     "currentPassword", NULL};
	vbx_json_known_fields(req, body, fields);
	char *email = read_email(req, body, VBX_OPTIONAL);
	const char *pw = read_password(a, req, body, "password", VBX_OPTIONAL);
	vbx_json_string(req, body, "name", VBX_OPTIONAL, 0, NAME_MAX_LEN,
	                &name);
	vbx_json_string(req, body, "currentPassword", VBX_OPTIONAL, 1,
	                AUTH_PASSWORD_MAX, &current);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	int rc = vbx_hook_store_user_get_run(a->st.user_get, who->user_id, &u);
	if (rc != VBX_OK)
		return store_error(req, rc, "reading your account");
	/* The email is where a password reset would go and what logs in: a
	 * stolen access token must not move the account to another one. The
	 * same email again (a client sending the whole profile) is no
	 * change. */
	if (email && strcmp(email, u.email) == 0)
		email = NULL;
	if ((pw || email) && !current) {
		vbx_field_error(req, "currentPassword",
		                pw ? "is required to change the password"
		                   : "is required to change the email");
		return vbx_resp_validation(req);
	}
	if ((pw || email) && check_current(a, req, &u, current) != VBX_OK)
		return VBX_OK;
	if (pw && auth_password_hash(&a->argon2, pw, hash) != VBX_OK)
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "cannot hash the password");
	if (email)
		snprintf(u.email, sizeof(u.email), "%s", email);
	if (name)
		snprintf(u.name, sizeof(u.name), "%s", name);
	rc = auth_user_update(a, &u, pw ? hash : NULL);
	if (rc == VBX_EEXIST)
		return vbx_resp_error(req, 409, "CONFLICT",
		                      "an account with this email exists");
	if (rc != VBX_OK)
		return store_error(req, rc, "updating your account");
	if (pw && (rc = revoke_other_sessions(a, &u)) != VBX_OK)
		return store_error(req, rc,
		                   "your password was changed, but signing out "
		                   "your other sessions");
	if (pw)
		auth_principal_changed(a, u.id, VBX_REVOKE_PASSWORD_CHANGED,
		                       NULL);
	if (email || pw)
		auth_audit(a, u.id, "user.update", "user", u.id,
		           vbx_req_client_addr(req),
		           email && pw ? "email and password changed"
		           : email     ? "email changed"
		                       : "password changed");
	return answer_json(req, 200, user_json(&u));
}

/* ---- API keys ---- */

static int add_key(void *ctx, const vbx_api_key *k)
{
	cJSON *item = key_json(k);
	if (!item)
		return VBX_ENOMEM;
	cJSON_AddItemToArray(ctx, item);
	return 0;
}

static int h_keys_list(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_READ);
	if (!who)
		return VBX_OK;
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return answer_json(req, 200, NULL);
	int rc = vbx_hook_store_key_list_run(a->st.key_list, who->user_id,
	                                     add_key, data);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return store_error(req, rc, "listing your API keys");
	}
	cJSON *o = cJSON_CreateObject();
	if (o)
		cJSON_AddItemToObject(o, "data", data);
	else
		cJSON_Delete(data);
	return answer_json(req, 200, o);
}

/* scopes: ["read", "write", "admin"]; absent means ["read"]. */
static unsigned read_scopes(vbx_request *req, const cJSON *body)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "scopes");
	unsigned scopes = 0;
	const cJSON *it;

	if (!arr || cJSON_IsNull(arr))
		return VBX_SCOPE_READ;
	if (!cJSON_IsArray(arr)) {
		vbx_field_error(req, "scopes", "must be an array of scopes");
		return 0;
	}
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cJSON_IsString(it) ? it->valuestring : "";
		if (strcmp(s, "read") == 0)
			scopes |= VBX_SCOPE_READ;
		else if (strcmp(s, "write") == 0)
			scopes |= VBX_SCOPE_WRITE;
		else if (strcmp(s, "admin") == 0)
			scopes |= VBX_SCOPE_ADMIN;
		else
			return vbx_field_error(
			               req, "scopes",
			               "each must be \"read\", \"write\" "
			               "or \"admin\""),
			       0;
	}
	if (!scopes)
		vbx_field_error(req, "scopes", "must name at least one scope");
	return scopes;
}

static int64_t read_expiry(vbx_request *req, const cJSON *body)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "expiresAt");
	int64_t ms = 0;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) ||
	    vbx_time_parse(v->valuestring, strlen(v->valuestring), &ms) ||
	    ms <= auth_now_ms())
		vbx_field_error(req, "expiresAt",
		                "must be a future RFC 3339 time or null");
	return ms;
}

static int h_keys_create(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_WRITE);
	const char *name = NULL;
	char key[AUTH_TOKEN_LEN + 1];
	vbx_api_key k = {0};
	cJSON *body;

	if (!who || vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"name", "scopes", "expiresAt",
	                                     NULL};
	vbx_json_known_fields(req, body, fields);
	vbx_json_string(req, body, "name", VBX_REQUIRED, 1, NAME_MAX_LEN,
	                &name);
	k.scopes = read_scopes(req, body);
	k.expires_at = read_expiry(req, body);
	if (k.scopes & ~who->scopes)
		return vbx_resp_error(req, 403, "FORBIDDEN",
		                      "an API key cannot make a key with "
		                      "scopes it does not have");
	if ((k.scopes & VBX_SCOPE_ADMIN) && !(who->flags & VBX_PRINCIPAL_ADMIN))
		vbx_field_error(req, "scopes",
		                "\"admin\" is for instance admins only");
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	snprintf(k.user_id, sizeof(k.user_id), "%.36s", who->user_id);
	snprintf(k.name, sizeof(k.name), "%s", name);
	int rc = auth_key_create(a, &k, key);
	if (rc != VBX_OK)
		return store_error(req, rc, "creating the API key");
	auth_audit(a, who->user_id, "key.create", "api_key", k.id,
	           vbx_req_client_addr(req), k.name);
	cJSON *o = key_json(&k);
	if (o)
		cJSON_AddStringToObject(o, "key", key);
	OPENSSL_cleanse(key, sizeof(key));
	return answer_json(req, 201, o);
}

static int h_keys_delete(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_WRITE);
	const char *id = vbx_req_param(req, "id");

	if (!who)
		return VBX_OK;
	int rc = vbx_uuid_ok(id) ? vbx_hook_store_key_revoke_run(
	                                   a->st.key_revoke, who->user_id, id)
	                         : VBX_ENOTFOUND;
	if (rc != VBX_OK)
		return store_error(req, rc, "API key");
	auth_principal_changed(a, who->user_id, VBX_REVOKE_KEY_REVOKED, id);
	auth_audit(a, who->user_id, "key.revoke", "api_key", id,
	           vbx_req_client_addr(req), "");
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

/* ---- instance admins: users and the audit log ---- */

static int add_user(void *ctx, const vbx_user *u)
{
	cJSON *item = user_json(u);
	if (!item)
		return VBX_ENOMEM;
	cJSON_AddItemToArray(ctx, item);
	return 0;
}

/* Run one of the admin lists' store hook, adding its rows to data. */
typedef int admin_list_fn(auth *a, const vbx_page *pg, cJSON *data,
                          int64_t *total);

/* A GET of an instance admin's list: the admin scope, ?page and ?limit,
 * then the page and the total, answered as every list of the API is;
 * h is the list's store hook and what names the list in a store error. */
static int answer_admin_list(auth *a, vbx_request *req, admin_list_fn *list,
                             const vbx_hook *h, const char *what)
{
	vbx_page pg;
	int64_t total = 0;

	if (!scoped(req, VBX_SCOPE_ADMIN) || vbx_req_page(req, &pg) != VBX_OK)
		return VBX_OK;
	cJSON *data = cJSON_CreateArray();
	int rc = data ? list(a, &pg, data, &total) : VBX_ENOMEM;
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return vbx_resp_store_error(req, h, rc, what, NULL);
	}
	return answer_json(req, 200, vbx_page_body(req, data, &pg, total));
}

static int list_users(auth *a, const vbx_page *pg, cJSON *data, int64_t *total)
{
	return vbx_hook_store_user_list_run(a->st.user_list, pg, add_user, data,
	                                    total);
}

static int h_users_list(void *ud, vbx_request *req)
{
	auth *a = ud;
	return answer_admin_list(a, req, list_users, a->st.user_list,
	                         "the list of users");
}

static int h_users_create(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_ADMIN);
	const char *name = NULL;
	int admin = 0;
	vbx_user u = {0};
	cJSON *body;

	if (!who || vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"email", "password", "name",
	                                     "admin", NULL};
	vbx_json_known_fields(req, body, fields);
	char *email = read_email(req, body, VBX_REQUIRED);
	const char *pw = read_password(a, req, body, "password", VBX_REQUIRED);
	vbx_json_string(req, body, "name", VBX_OPTIONAL, 0, NAME_MAX_LEN,
	                &name);
	vbx_json_bool(req, body, "admin", VBX_OPTIONAL, &admin);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.name, sizeof(u.name), "%s", name ? name : "");
	u.admin = admin;
	if (create_user(a, req, &u, pw, 0) != VBX_OK)
		return VBX_OK;
	auth_audit(a, who->user_id, "user.create", "user", u.id,
	           vbx_req_client_addr(req), u.admin ? "admin" : "");
	return answer_json(req, 201, user_json(&u));
}

/* Apply name, admin and disabled from body to u; detail says what
 * changed of the roles, for the audit log. */
static int patch_user(vbx_request *req, const vbx_principal *who,
                      const cJSON *body, vbx_user *u, char *detail, size_t len)
{
	const char *name = NULL;
	int admin = u->admin, disabled = u->disabled;
	bool self = strcmp(who->user_id, u->id) == 0;

	vbx_json_string(req, body, "name", VBX_OPTIONAL, 0, NAME_MAX_LEN,
	                &name);
	vbx_json_bool(req, body, "admin", VBX_OPTIONAL, &admin);
	vbx_json_bool(req, body, "disabled", VBX_OPTIONAL, &disabled);
	if (self && !admin)
		vbx_field_error(req, "admin",
		                "you cannot take away your own admin flag");
	if (self && disabled)
		vbx_field_error(req, "disabled", "you cannot disable yourself");
	if (vbx_fields_failed(req))
		return VBX_EINVAL;
	snprintf(detail, len, "%s%s%s%s",
	         admin != u->admin ? (admin ? "admin granted" : "admin revoked")
	                           : "",
	         admin != u->admin && disabled != u->disabled ? "; " : "",
	         disabled != u->disabled ? (disabled ? "disabled" : "enabled")
	                                 : "",
	         name ? (admin != u->admin || disabled != u->disabled ? "; name"
	                                                              : "name")
	              : "");
	if (name)
		snprintf(u->name, sizeof(u->name), "%s", name);
	u->admin = admin;
	u->disabled = disabled;
	return VBX_OK;
}

static int h_users_patch(void *ud, vbx_request *req)
{
	auth *a = ud;
	const vbx_principal *who = scoped(req, VBX_SCOPE_ADMIN);
	const char *id = vbx_req_param(req, "id");
	char detail[128];
	cJSON *body;
	vbx_user u;

	if (!who || vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	static const char *const fields[] = {"name", "admin", "disabled", NULL};
	vbx_json_known_fields(req, body, fields);
	int rc = vbx_uuid_ok(id)
	                 ? vbx_hook_store_user_get_run(a->st.user_get, id, &u)
	                 : VBX_ENOTFOUND;
	if (rc != VBX_OK)
		return store_error(req, rc, "user");
	bool was_admin = u.admin, was_disabled = u.disabled;
	if (patch_user(req, who, body, &u, detail, sizeof(detail)) != VBX_OK)
		return vbx_resp_validation(req);
	rc = auth_user_update(a, &u, NULL);
	if (rc != VBX_OK)
		return store_error(req, rc, "updating the user");
	if (u.disabled && !was_disabled)
		auth_principal_changed(a, u.id, VBX_REVOKE_USER_DISABLED, NULL);
	else if (was_admin && !u.admin)
		auth_principal_changed(a, u.id, VBX_REVOKE_ADMIN_REVOKED, NULL);
	if (detail[0])
		auth_audit(a, who->user_id, "user.update", "user", u.id,
		           vbx_req_client_addr(req), detail);
	return answer_json(req, 200, user_json(&u));
}

static int add_audit(void *ctx, const vbx_audit *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return VBX_ENOMEM;
	cJSON_AddStringToObject(o, "id", r->id);
	add_time(o, "at", r->at);
	if (r->actor_id[0])
		cJSON_AddStringToObject(o, "actorId", r->actor_id);
	else
		cJSON_AddNullToObject(o, "actorId");
	cJSON_AddStringToObject(o, "action", r->action);
	cJSON_AddStringToObject(o, "targetType", r->target_type);
	cJSON_AddStringToObject(o, "targetId", r->target_id);
	cJSON_AddStringToObject(o, "client", r->client);
	cJSON_AddStringToObject(o, "detail", r->detail);
	cJSON_AddItemToArray(ctx, o);
	return 0;
}

static int list_audit(auth *a, const vbx_page *pg, cJSON *data, int64_t *total)
{
	return vbx_hook_store_audit_list_run(a->st.audit_list, pg, add_audit,
	                                     data, total);
}

static int h_audit_list(void *ud, vbx_request *req)
{
	auth *a = ud;
	return answer_admin_list(a, req, list_audit, a->st.audit_list,
	                         "the audit log");
}

int auth_routes_add(auth *a)
{
	static const struct {
		const char *method, *pattern;
		unsigned flags;
		vbx_route_fn *fn;
	} routes[] = {
	        {"POST", "/api/v1/auth/register", VBX_ROUTE_PUBLIC, h_register},
	        {"POST", "/api/v1/auth/login", VBX_ROUTE_PUBLIC, h_login},
	        {"POST", "/api/v1/auth/refresh", VBX_ROUTE_PUBLIC, h_refresh},
	        {"POST", "/api/v1/auth/logout", VBX_ROUTE_PUBLIC, h_logout},
	        {"POST", "/api/v1/auth/ws-ticket", 0, h_ws_ticket},
	        {"GET", "/api/v1/users/me", 0, h_me_get},
	        {"PATCH", "/api/v1/users/me", 0, h_me_patch},
	        {"GET", "/api/v1/keys", 0, h_keys_list},
	        {"POST", "/api/v1/keys", 0, h_keys_create},
	        {"DELETE", "/api/v1/keys/{id}", 0, h_keys_delete},
	        {"GET", "/api/v1/users", VBX_ROUTE_ADMIN, h_users_list},
	        {"POST", "/api/v1/users", VBX_ROUTE_ADMIN, h_users_create},
	        {"PATCH", "/api/v1/users/{id}", VBX_ROUTE_ADMIN, h_users_patch},
	        {"GET", "/api/v1/audit", VBX_ROUTE_ADMIN, h_audit_list},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		int rc = vbx_route_add(a->self, routes[i].method,
		                       routes[i].pattern, routes[i].flags,
		                       routes[i].fn, a);
		if (rc != VBX_OK) {
			vbx_log_error(a->self, "cannot add route %s %s: %s",
			              routes[i].method, routes[i].pattern,
			              vbx_strerror(a->self, rc));
			return rc;
		}
	}
	return VBX_OK;
}
