/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_routes.c - the auth plugin through the fake daemon: register,
 * login, refresh rotation and reuse, logout, the caller's account, API
 * keys, the admin routes, rate limits, a store that is down, and the
 * plugin's configuration errors. The store is an in-memory fake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <vibebox/testing.h>

#include "fakestore.h"

#define SECRET                                                                 \
	"k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define FAST "argon2_memory = \"64KiB\"; argon2_iterations = 1;"
#define CONF "jwt_secret = \"" SECRET "\"; " FAST
#define UID0 "00000000-0000-4000-8000-000000000000"

static vbx_test_host *host;

static int start_with(const char *conf)
{
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load(host, &fake_store_desc, NULL), VBX_OK);
	int rc = vbx_test_load(host, vbx_plugin_entry(), conf);
	if (rc == VBX_OK)
		rc = vbx_test_start(host);
	return rc;
}

static void start(const char *conf)
{
	int rc = start_with(conf);
	if (rc != VBX_OK)
		fail_msg("%s", vbx_test_errors(host));
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static int setup_default(void **state)
{
	start(CONF);
	return 0;
}

/* Most tests change users in the fake store directly, as another replica
 * would, and expect the next request to see it: no user cache. */
#define OPEN                                                                   \
	CONF "registration = \"open\"; login_limit = \"3/15m\"; "              \
	     "register_limit = \"20/1h\"; "

static int setup_open(void **state)
{
	start(OPEN "user_cache = 0;");
	return 0;
}

static int setup_cached(void **state)
{
	start(OPEN "user_cache = \"1m\";");
	return 0;
}

static int setup_cached_briefly(void **state)
{
	start(OPEN "user_cache = \"50ms\";");
	return 0;
}

/* ---- helpers ---- */

static vbx_test_response *send(const char *method, const char *path,
                               const char *body, const char *bearer)
{
	vbx_test_response *r =
	        vbx_test_request(host, method, path, body, bearer);
	assert_non_null(r);
	return r;
}

/* Send, check the status, free. */
static void expect(int status, const char *method, const char *path,
                   const char *body, const char *bearer)
{
	vbx_test_response *r = send(method, path, body, bearer);
	if (vbx_test_status(r) != status)
		fail_msg("%s %s: want %d, got %d: %s", method, path, status,
		         vbx_test_status(r), vbx_test_body(r));
	vbx_test_response_free(r);
}

static const cJSON *get(const cJSON *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strtok(buf, "."); s && o; s = strtok(NULL, "."))
		o = cJSON_GetObjectItemCaseSensitive(o, s);
	return o;
}

static const char *str(const vbx_test_response *r, const char *path)
{
	const cJSON *v = get(vbx_test_json(r), path);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *error_code(const vbx_test_response *r)
{
	return str(r, "error.code");
}

typedef struct session {
	char access[2048];
	char refresh[64];
	char id[40];
} session;

static void keep(const vbx_test_response *r, session *s)
{
	assert_non_null(str(r, "tokens.accessToken"));
	assert_non_null(str(r, "tokens.refreshToken"));
	snprintf(s->access, sizeof(s->access), "%s",
	         str(r, "tokens.accessToken"));
	snprintf(s->refresh, sizeof(s->refresh), "%s",
	         str(r, "tokens.refreshToken"));
	snprintf(s->id, sizeof(s->id), "%s", str(r, "user.id"));
}

static void body_for(char *buf, size_t len, const char *email, const char *pw)
{
	snprintf(buf, len, "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
}

static void registered(const char *email, const char *pw, session *s)
{
	char body[256];
	body_for(body, sizeof(body), email, pw);
	vbx_test_response *r =
	        send("POST", "/api/v1/auth/register", body, NULL);
	if (vbx_test_status(r) != 201)
		fail_msg("register %s: %d %s", email, vbx_test_status(r),
		         vbx_test_body(r));
	if (s)
		keep(r, s);
	vbx_test_response_free(r);
}

static vbx_test_response *login(const char *email, const char *pw)
{
	char body[256];
	body_for(body, sizeof(body), email, pw);
	return send("POST", "/api/v1/auth/login", body, NULL);
}

static void logged_in(const char *email, const char *pw, session *s)
{
	vbx_test_response *r = login(email, pw);
	assert_int_equal(vbx_test_status(r), 200);
	keep(r, s);
	vbx_test_response_free(r);
}

static vbx_test_response *refresh(const char *token)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", token);
	return send("POST", "/api/v1/auth/refresh", body, NULL);
}

/* ---- registration ---- */

static void test_register_first_user(void **state)
{
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"Ann@Example.com\",\"password\":\"correct horse\","
	        "\"name\":\"Ann\"}",
	        NULL);
	assert_int_equal(vbx_test_status(r), 201);
	assert_string_equal(str(r, "user.email"), "ann@example.com");
	assert_string_equal(str(r, "user.name"), "Ann");
	assert_true(cJSON_IsTrue(get(vbx_test_json(r), "user.admin")));
	assert_true(cJSON_IsFalse(get(vbx_test_json(r), "user.disabled")));
	assert_non_null(str(r, "user.createdAt"));
	assert_non_null(strchr(str(r, "user.updatedAt"), 'Z'));
	assert_int_equal(get(vbx_test_json(r), "tokens.expiresIn")->valueint,
	                 900);
	assert_int_equal(strncmp(str(r, "tokens.refreshToken"), "vbr_", 4), 0);
	assert_int_equal(fake_audit_count("user.register"), 1);
	vbx_test_response_free(r);

	/* "first-user": nobody else may register now. */
	r = send("POST", "/api/v1/auth/register",
	         "{\"email\":\"bob@example.com\",\"password\":\"12345678\"}",
	         NULL);
	assert_int_equal(vbx_test_status(r), 403);
	assert_string_equal(error_code(r), "FORBIDDEN");
	vbx_test_response_free(r);
}

static void test_register_open(void **state)
{
	session ann, bob;
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);
	vbx_user *u = fake_user(bob.id);
	assert_non_null(u);
	assert_false(u->admin);
	assert_true(fake_user(ann.id)->admin);

	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"BOB@example.com\",\"password\":\"password3\"}",
	        NULL);
	assert_int_equal(vbx_test_status(r), 409);
	assert_string_equal(error_code(r), "CONFLICT");
	vbx_test_response_free(r);
}

static void test_register_validation(void **state)
{
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"not-an-email\",\"password\":\"short\"}", NULL);
	assert_int_equal(vbx_test_status(r), 400);
	assert_string_equal(error_code(r), "VALIDATION_ERROR");
	assert_non_null(str(r, "error.fields.email"));
	assert_non_null(str(r, "error.fields.password"));
	vbx_test_response_free(r);

	char body[512], pw[130];
	memset(pw, 'x', 129);
	pw[129] = '\0';
	snprintf(body, sizeof(body),
	         "{\"email\":\"a@b.c\",\"password\":\"%s\"}", pw);
	r = send("POST", "/api/v1/auth/register", body, NULL);
	assert_int_equal(vbx_test_status(r), 400);
	assert_non_null(str(r, "error.fields.password"));
	vbx_test_response_free(r);

	expect(400, "POST", "/api/v1/auth/register", "[1]", NULL);
	expect(400, "POST", "/api/v1/auth/register", "{", NULL);
	expect(400, "POST", "/api/v1/auth/register",
	       "{\"email\":\"a b@c\",\"password\":\"12345678\"}", NULL);
	expect(400, "POST", "/api/v1/auth/register",
	       "{\"email\":\"a@b@c\",\"password\":\"12345678\"}", NULL);
	expect(400, "POST", "/api/v1/auth/register",
	       "{\"email\":5,\"password\":\"12345678\"}", NULL);
	assert_int_equal(fake_audit_count("user.register"), 0);
}

static void test_register_closed(void **state)
{
	start(CONF "registration = \"closed\";");
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"ann@example.com\",\"password\":\"12345678\"}",
	        NULL);
	assert_int_equal(vbx_test_status(r), 403);
	vbx_test_response_free(r);
}

static void test_register_limit(void **state)
{
	start(CONF "registration = \"open\"; register_limit = \"2/1h\"; "
	           "password_min = 10;");
	registered("a@example.com", "0123456789", NULL);
	expect(400, "POST", "/api/v1/auth/register",
	       "{\"email\":\"b@example.com\",\"password\":\"012345678\"}",
	       NULL);
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"c@example.com\",\"password\":\"0123456789\"}",
	        NULL);
	assert_int_equal(vbx_test_status(r), 429);
	assert_string_equal(error_code(r), "TOO_MANY_REQUESTS");
	const char *ra = vbx_test_header(r, "Retry-After");
	assert_non_null(ra);
	assert_true(atoi(ra) > 3500 && atoi(ra) <= 3600);
	vbx_test_response_free(r);
}

/* ---- login ---- */

static void test_login(void **state)
{
	session s;
	registered("ann@example.com", "password1", NULL);
	registered("bob@example.com", "password2", NULL);
	logged_in("ANN@example.com", "password1", &s);
	assert_int_equal(fake_audit_count("auth.login.success"), 1);

	/* Unknown email, wrong password, disabled user: the same 401. */
	const char *msg = NULL;
	vbx_test_response *r = login("ann@example.com", "password2");
	assert_int_equal(vbx_test_status(r), 401);
	assert_string_equal(str(r, "error.message"),
	                    "invalid email or password");
	vbx_test_response_free(r);
	r = login("nobody@example.com", "password1");
	assert_int_equal(vbx_test_status(r), 401);
	msg = str(r, "error.message");
	assert_string_equal(msg, "invalid email or password");
	vbx_test_response_free(r);
	const vbx_audit *a = fake_audit_last("auth.login.failure");
	assert_non_null(a);
	assert_string_equal(a->actor_id, "");
	assert_string_equal(a->client, "127.0.0.1");

	vbx_user *bob = fake_user(fake_audit_last("user.register")->actor_id);
	bob->disabled = true;
	r = login("bob@example.com", "password2");
	assert_int_equal(vbx_test_status(r), 401);
	assert_string_equal(str(r, "error.message"),
	                    "invalid email or password");
	vbx_test_response_free(r);
	assert_int_equal(fake_audit_count("auth.login.failure"), 3);
	expect(400, "POST", "/api/v1/auth/login", "{\"email\":\"a@b\"}", NULL);
}

static void test_login_limit(void **state)
{
	registered("ann@example.com", "password1", NULL);
	registered("bob@example.com", "password2", NULL);
	for (int i = 0; i < 3; i++) {
		vbx_test_response *r = login("ann@example.com", "nope-nope");
		assert_int_equal(vbx_test_status(r), 401);
		vbx_test_response_free(r);
	}
	/* Over the limit, even the right password waits, from this address:
	 * login_backoff's minute. */
	vbx_test_response *r = login("ann@example.com", "password1");
	assert_int_equal(vbx_test_status(r), 429);
	assert_non_null(vbx_test_header(r, "Retry-After"));
	assert_int_equal(atoi(vbx_test_header(r, "Retry-After")), 60);
	vbx_test_response_free(r);
	/* Another account on the same address is not locked: the address's
	 * own limit (login_client_limit) is separate and far from reached. */
	r = login("bob@example.com", "password2");
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);
}

/* One address guessing across accounts meets login_client_limit. */
static void test_login_client_limit(void **state)
{
	start(OPEN "login_client_limit = \"4/15m\";");
	registered("ann@example.com", "password1", NULL);
	registered("bob@example.com", "password2", NULL);
	registered("cat@example.com", "password3", NULL);
	const char *emails[] = {"ann@example.com", "bob@example.com"};
	for (int i = 0; i < 4; i++) {
		vbx_test_response *r = login(emails[i % 2], "nope-nope");
		assert_int_equal(vbx_test_status(r), 401);
		vbx_test_response_free(r);
	}
	vbx_test_response *r = login("cat@example.com", "password3");
	assert_int_equal(vbx_test_status(r), 429);
	assert_true(atoi(vbx_test_header(r, "Retry-After")) > 800);
	vbx_test_response_free(r);
}

/* ---- refresh, reuse, logout ---- */

static void test_refresh_rotation_and_reuse(void **state)
{
	session s, s2, s3;
	registered("ann@example.com", "password1", &s);

	vbx_test_response *r = refresh(s.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	keep(r, &s2);
	vbx_test_response_free(r);
	assert_string_not_equal(s.refresh, s2.refresh);
	expect(200, "GET", "/api/v1/users/me", NULL, s2.access);

	r = refresh(s2.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	keep(r, &s3);
	vbx_test_response_free(r);

	/* s2's token again: a replay. The family dies, s3's token too. */
	r = refresh(s2.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	assert_string_equal(error_code(r), "UNAUTHORIZED");
	vbx_test_response_free(r);
	assert_int_equal(fake_audit_count("auth.refresh.reuse"), 1);
	assert_string_equal(fake_audit_last("auth.refresh.reuse")->actor_id,
	                    s.id);
	expect(401, "POST", "/api/v1/auth/refresh", "{\"refreshToken\":\"x\"}",
	       NULL);
	r = refresh(s3.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);

	/* Another login is another family, unaffected. */
	session other;
	logged_in("ann@example.com", "password1", &other);
	r = refresh(other.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);
	expect(400, "POST", "/api/v1/auth/refresh", "{}", NULL);
}

static void test_refresh_disabled_user(void **state)
{
	session s;
	registered("ann@example.com", "password1", &s);
	fake_user(s.id)->disabled = true;
	vbx_test_response *r = refresh(s.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
}

static void test_logout(void **state)
{
	session s, s2;
	registered("ann@example.com", "password1", &s);
	vbx_test_response *r = refresh(s.refresh);
	keep(r, &s2);
	vbx_test_response_free(r);

	char body[128];
	snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", s2.refresh);
	r = send("POST", "/api/v1/auth/logout", body, NULL);
	assert_int_equal(vbx_test_status(r), 204);
	assert_int_equal(vbx_test_body_len(r), 0);
	vbx_test_response_free(r);
	r = refresh(s2.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
	/* Logging out twice, or with a token that is not ours, is fine. */
	expect(204, "POST", "/api/v1/auth/logout", body, NULL);
	expect(204, "POST", "/api/v1/auth/logout",
	       "{\"refreshToken\":\"junk\"}", NULL);
	expect(400, "POST", "/api/v1/auth/logout", "{}", NULL);
}

/* ---- bearer tokens ---- */

static void test_access_tokens(void **state)
{
	session s;
	registered("ann@example.com", "password1", &s);

	vbx_test_response *r = send("GET", "/api/v1/users/me", NULL, s.access);
	assert_int_equal(vbx_test_status(r), 200);
	assert_string_equal(str(r, "email"), "ann@example.com");
	assert_string_equal(str(r, "id"), s.id);
	vbx_test_response_free(r);

	char bad[2048];
	snprintf(bad, sizeof(bad), "%s", s.access);
	char *sig = strrchr(bad, '.') + 1;
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	expect(401, "GET", "/api/v1/users/me", NULL, bad);
	expect(401, "GET", "/api/v1/users/me", NULL, s.refresh);
	expect(401, "GET", "/api/v1/users/me", NULL, "vbx_nonsense");
	expect(401, "GET", "/api/v1/users/me", NULL, "not-a-token");
	expect(401, "GET", "/api/v1/users/me", NULL, NULL);

	/* Disabling takes effect before the token expires. */
	fake_user(s.id)->disabled = true;
	expect(401, "GET", "/api/v1/users/me", NULL, s.access);
	fake_user(s.id)->disabled = false;
	/* Taking admin away too: the flag is read from the store. */
	expect(200, "GET", "/api/v1/users", NULL, s.access);
	fake_user(s.id)->admin = false;
	expect(403, "GET", "/api/v1/users", NULL, s.access);
}

static void test_store_down(void **state)
{
	session s;
	registered("ann@example.com", "password1", &s);
	fake_set_down(true);
	vbx_test_response *r = login("ann@example.com", "password1");
	assert_int_equal(vbx_test_status(r), 503);
	assert_string_equal(error_code(r), "UNAVAILABLE");
	vbx_test_response_free(r);
	expect(503, "GET", "/api/v1/users/me", NULL, s.access);
	expect(503, "POST", "/api/v1/auth/register",
	       "{\"email\":\"bob@example.com\",\"password\":\"password1\"}",
	       NULL);
	r = refresh(s.refresh);
	assert_int_equal(vbx_test_status(r), 503);
	vbx_test_response_free(r);
	fake_set_down(false);
	expect(200, "GET", "/api/v1/users/me", NULL, s.access);
}

/* ---- the caller's account ---- */

static void test_me_patch(void **state)
{
	session s;
	registered("ann@example.com", "password1", &s);
	registered("bob@example.com", "password2", NULL);

	vbx_test_response *r = send("PATCH", "/api/v1/users/me",
	                            "{\"name\":\"Ann A.\"}", s.access);
	assert_int_equal(vbx_test_status(r), 200);
	assert_string_equal(str(r, "name"), "Ann A.");
	vbx_test_response_free(r);

	r = send("PATCH", "/api/v1/users/me", "{\"password\":\"newpassword\"}",
	         s.access);
	assert_int_equal(vbx_test_status(r), 400);
	assert_non_null(str(r, "error.fields.currentPassword"));
	vbx_test_response_free(r);
	expect(400, "PATCH", "/api/v1/users/me",
	       "{\"password\":\"newpassword\",\"currentPassword\":\"wrong\"}",
	       s.access);
	expect(200, "PATCH", "/api/v1/users/me",
	       "{\"password\":\"newpassword\",\"currentPassword\":"
	       "\"password1\"}",
	       s.access);
	r = login("ann@example.com", "password1");
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
	r = login("ann@example.com", "newpassword");
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);

	expect(409, "PATCH", "/api/v1/users/me",
	       "{\"email\":\"BOB@example.com\",\"currentPassword\":"
	       "\"newpassword\"}",
	       s.access);
	r = send("PATCH", "/api/v1/users/me",
	         "{\"email\":\"Ann2@Example.com\"}", s.access);
	assert_int_equal(vbx_test_status(r), 400);
	assert_non_null(str(r, "error.fields.currentPassword"));
	vbx_test_response_free(r);
	expect(400, "PATCH", "/api/v1/users/me",
	       "{\"email\":\"Ann2@Example.com\",\"currentPassword\":"
	       "\"password1\"}",
	       s.access);
	r = send("PATCH", "/api/v1/users/me",
	         "{\"email\":\"Ann2@Example.com\",\"currentPassword\":"
	         "\"newpassword\"}",
	         s.access);
	assert_int_equal(vbx_test_status(r), 200);
	assert_string_equal(str(r, "email"), "ann2@example.com");
	vbx_test_response_free(r);
	assert_int_equal(fake_audit_count("user.update"), 2);
}

/* A password change ends every session's refresh token of that user (the
 * changing one's too: an access token does not name its family), and no
 * other user's. */
static void test_password_change_revokes_sessions(void **state)
{
	session one, two, bob;
	registered("ann@example.com", "password1", &one);
	logged_in("ann@example.com", "password1", &two);
	registered("bob@example.com", "password2", &bob);

	expect(200, "PATCH", "/api/v1/users/me", "{\"name\":\"Ann\"}",
	       one.access);
	vbx_test_response *r = refresh(two.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	keep(r, &two);
	vbx_test_response_free(r);

	expect(200, "PATCH", "/api/v1/users/me",
	       "{\"password\":\"newpassword\",\"currentPassword\":"
	       "\"password1\"}",
	       one.access);
	r = refresh(two.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
	r = refresh(one.refresh);
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
	r = refresh(bob.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);

	logged_in("ann@example.com", "newpassword", &two);
	r = refresh(two.refresh);
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);
}

/* The store is down after the password was stored: the answer says so. */
static void test_password_change_revoke_fails(void **state)
{
	session one;
	registered("ann@example.com", "password1", &one);
	fake_fail_revoke_user(true);
	vbx_test_response *r = send("PATCH", "/api/v1/users/me",
	                            "{\"password\":\"newpassword\","
	                            "\"currentPassword\":\"password1\"}",
	                            one.access);
	assert_int_equal(vbx_test_status(r), 503);
	assert_non_null(
	        strstr(str(r, "error.message"), "your password was changed"));
	vbx_test_response_free(r);
	fake_fail_revoke_user(false);
}

/* ---- API keys ---- */

static void new_key(const char *access, const char *body, char *key, char *id)
{
	vbx_test_response *r = send("POST", "/api/v1/keys", body, access);
	if (vbx_test_status(r) != 201)
		fail_msg("POST /keys: %d %s", vbx_test_status(r),
		         vbx_test_body(r));
	snprintf(key, 64, "%s", str(r, "key"));
	snprintf(id, 40, "%s", str(r, "id"));
	vbx_test_response_free(r);
}

static void test_keys(void **state)
{
	session s;
	char key[64], id[40], ro[64], roid[40];
	registered("ann@example.com", "password1", &s);

	vbx_test_response *r =
	        send("POST", "/api/v1/keys",
	             "{\"name\":\"ci\",\"scopes\":[\"read\",\"write\"],"
	             "\"expiresAt\":\"2999-01-01T00:00:00Z\"}",
	             s.access);
	assert_int_equal(vbx_test_status(r), 201);
	snprintf(key, sizeof(key), "%s", str(r, "key"));
	snprintf(id, sizeof(id), "%s", str(r, "id"));
	assert_int_equal(strlen(key), 47);
	assert_int_equal(strncmp(key, "vbx_", 4), 0);
	assert_int_equal(strncmp(str(r, "prefix"), key, 12), 0);
	assert_int_equal(strlen(str(r, "prefix")), 12);
	assert_string_equal(str(r, "expiresAt"), "2999-01-01T00:00:00.000Z");
	assert_true(cJSON_IsNull(get(vbx_test_json(r), "lastUsedAt")));
	assert_int_equal(cJSON_GetArraySize(get(vbx_test_json(r), "scopes")),
	                 2);
	vbx_test_response_free(r);
	assert_int_equal(fake_audit_count("key.create"), 1);

	/* The key authenticates; the list never shows the secret. */
	r = send("GET", "/api/v1/keys", NULL, key);
	assert_int_equal(vbx_test_status(r), 200);
	const cJSON *data = get(vbx_test_json(r), "data");
	assert_int_equal(cJSON_GetArraySize(data), 1);
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "key"));
	assert_non_null(strstr(vbx_test_body(r), "\"lastUsedAt\":\"2"));
	assert_null(strstr(vbx_test_body(r), key));
	vbx_test_response_free(r);

	/* A read-only key reads but cannot write, nor mint a wider key. */
	new_key(s.access, "{\"name\":\"ro\"}", ro, roid);
	expect(200, "GET", "/api/v1/users/me", NULL, ro);
	expect(403, "PATCH", "/api/v1/users/me", "{\"name\":\"x\"}", ro);
	expect(403, "POST", "/api/v1/keys", "{\"name\":\"x\"}", ro);
	expect(403, "DELETE",
	       "/api/v1/keys/00000000-0000-4000-8000-000000000000", NULL, ro);
	expect(403, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"scopes\":[\"read\",\"admin\"]}", key);
	/* An admin's key without the admin scope is not an admin. */
	expect(403, "GET", "/api/v1/users", NULL, key);

	expect(400, "POST", "/api/v1/keys", "{\"name\":\"\"}", s.access);
	expect(400, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"scopes\":[\"root\"]}", s.access);
	expect(400, "POST", "/api/v1/keys", "{\"name\":\"x\",\"scopes\":[]}",
	       s.access);
	expect(400, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}",
	       s.access);
	expect(400, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"expiresAt\":\"tomorrow\"}", s.access);
	expect(400, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"expiresAt\":\"1969-12-31T23:59:59Z\"}",
	       s.access);
	expect(400, "POST", "/api/v1/keys",
	       "{\"name\":\"x\",\"expiresAt\":\"2999-01-01T00:00:00\"}",
	       s.access);

	char path[96];
	snprintf(path, sizeof(path), "/api/v1/keys/%s", id);
	expect(204, "DELETE", path, NULL, s.access);
	expect(404, "DELETE", path, NULL, s.access);
	expect(404, "DELETE", "/api/v1/keys/not-a-uuid", NULL, s.access);
	expect(401, "GET", "/api/v1/keys", NULL, key);
	assert_int_equal(fake_audit_count("key.revoke"), 1);

	/* A disabled user's keys stop working. */
	fake_user(s.id)->disabled = true;
	expect(401, "GET", "/api/v1/users/me", NULL, ro);
}

static void test_key_admin_scope(void **state)
{
	session ann, bob;
	char key[64], id[40];
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);
	new_key(ann.access,
	        "{\"name\":\"adm\",\"scopes\":[\"read\",\"admin\"]}", key, id);
	expect(200, "GET", "/api/v1/users", NULL, key);
	/* Not an instance admin: no admin scope. */
	vbx_test_response *r =
	        send("POST", "/api/v1/keys",
	             "{\"name\":\"x\",\"scopes\":[\"admin\"]}", bob.access);
	assert_int_equal(vbx_test_status(r), 400);
	assert_non_null(str(r, "error.fields.scopes"));
	vbx_test_response_free(r);
}

/* ---- admin routes ---- */

static void test_admin_users(void **state)
{
	session ann, bob;
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);

	expect(403, "GET", "/api/v1/users", NULL, bob.access);
	expect(403, "POST", "/api/v1/users",
	       "{\"email\":\"c@example.com\",\"password\":\"password3\"}",
	       bob.access);

	vbx_test_response *r =
	        send("GET", "/api/v1/users?page=1&limit=1", NULL, ann.access);
	assert_int_equal(vbx_test_status(r), 200);
	assert_int_equal(get(vbx_test_json(r), "pagination.total")->valueint,
	                 2);
	assert_int_equal(get(vbx_test_json(r), "pagination.limit")->valueint,
	                 1);
	assert_int_equal(cJSON_GetArraySize(get(vbx_test_json(r), "data")), 1);
	vbx_test_response_free(r);
	expect(400, "GET", "/api/v1/users?limit=101", NULL, ann.access);
	expect(400, "GET", "/api/v1/users?page=0", NULL, ann.access);
	expect(400, "GET", "/api/v1/users?page=x", NULL, ann.access);

	r = send("POST", "/api/v1/users",
	         "{\"email\":\"Cy@example.com\",\"password\":\"password3\","
	         "\"name\":\"Cy\"}",
	         ann.access);
	assert_int_equal(vbx_test_status(r), 201);
	assert_string_equal(str(r, "email"), "cy@example.com");
	vbx_test_response_free(r);
	r = login("cy@example.com", "password3");
	assert_int_equal(vbx_test_status(r), 200);
	vbx_test_response_free(r);
	expect(409, "POST", "/api/v1/users",
	       "{\"email\":\"cy@example.com\",\"password\":\"password3\"}",
	       ann.access);

	char path[96];
	snprintf(path, sizeof(path), "/api/v1/users/%s", bob.id);
	r = send("PATCH", path, "{\"admin\":true,\"name\":\"Bobby\"}",
	         ann.access);
	assert_int_equal(vbx_test_status(r), 200);
	assert_true(cJSON_IsTrue(get(vbx_test_json(r), "admin")));
	vbx_test_response_free(r);
	const vbx_audit *a = fake_audit_last("user.update");
	assert_non_null(a);
	assert_string_equal(a->target_id, bob.id);
	assert_string_equal(a->actor_id, ann.id);
	assert_non_null(strstr(a->detail, "admin granted"));
	expect(200, "GET", "/api/v1/users", NULL, bob.access);

	expect(200, "PATCH", path, "{\"disabled\":true}", ann.access);
	expect(401, "GET", "/api/v1/users/me", NULL, bob.access);

	snprintf(path, sizeof(path), "/api/v1/users/%s", ann.id);
	expect(400, "PATCH", path, "{\"admin\":false}", ann.access);
	expect(400, "PATCH", path, "{\"disabled\":true}", ann.access);
	expect(400, "PATCH", path, "{\"admin\":\"yes\"}", ann.access);
	expect(404, "PATCH", "/api/v1/users/" UID0, "{}", ann.access);
	expect(404, "PATCH", "/api/v1/users/nope", "{}", ann.access);
}

/* The cache answers for a user changed behind this process's back, but
 * forgets one changed through it at once. */
static void test_user_cache(void **state)
{
	session ann, bob;
	char path[96];
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);
	snprintf(path, sizeof(path), "/api/v1/users/%s", bob.id);

	expect(200, "GET", "/api/v1/users/me", NULL, bob.access);
	fake_user(bob.id)->disabled = true; /* another replica, say */
	expect(200, "GET", "/api/v1/users/me", NULL, bob.access);
	fake_user(bob.id)->disabled = false;

	expect(200, "PATCH", path, "{\"disabled\":true}", ann.access);
	expect(401, "GET", "/api/v1/users/me", NULL, bob.access);
	expect(200, "PATCH", path, "{\"disabled\":false}", ann.access);
	expect(200, "GET", "/api/v1/users/me", NULL, bob.access);

	/* Admin taken away through the API: no admin route any more. */
	snprintf(path, sizeof(path), "/api/v1/users/%s", bob.id);
	expect(200, "PATCH", path, "{\"admin\":true}", ann.access);
	expect(200, "GET", "/api/v1/users", NULL, bob.access);
	expect(200, "PATCH", path, "{\"admin\":false}", ann.access);
	expect(403, "GET", "/api/v1/users", NULL, bob.access);

	/* A change to one's own account is seen at once too. */
	expect(200, "PATCH", "/api/v1/users/me", "{\"name\":\"Robert\"}",
	       bob.access);
	vbx_test_response *r =
	        send("GET", "/api/v1/users/me", NULL, bob.access);
	assert_string_equal(str(r, "name"), "Robert");
	vbx_test_response_free(r);
}

static void test_user_cache_expires(void **state)
{
	session ann;
	registered("ann@example.com", "password1", &ann);
	expect(200, "GET", "/api/v1/users/me", NULL, ann.access);
	fake_user(ann.id)->disabled = true;
	struct timespec ts = {.tv_nsec = 200 * 1000000L}; /* 4 x user_cache */
	nanosleep(&ts, NULL);
	expect(401, "GET", "/api/v1/users/me", NULL, ann.access);
}

static void test_audit_list(void **state)
{
	session ann, bob;
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);
	vbx_test_response *r = login("bob@example.com", "wrong-password");
	vbx_test_response_free(r);

	expect(403, "GET", "/api/v1/audit", NULL, bob.access);
	r = send("GET", "/api/v1/audit?limit=2&page=1", NULL, ann.access);
	assert_int_equal(vbx_test_status(r), 200);
	const cJSON *j = vbx_test_json(r);
	assert_int_equal(get(j, "pagination.total")->valueint, 3);
	assert_int_equal(get(j, "pagination.page")->valueint, 1);
	const cJSON *first = cJSON_GetArrayItem(get(j, "data"), 0);
	assert_string_equal(cJSON_GetObjectItem(first, "action")->valuestring,
	                    "auth.login.failure");
	assert_string_equal(cJSON_GetObjectItem(first, "client")->valuestring,
	                    "127.0.0.1");
	assert_int_equal(cJSON_GetArraySize(get(j, "data")), 2);
	vbx_test_response_free(r);
	expect(400, "GET", "/api/v1/audit?limit=0", NULL, ann.access);
}

/* ---- strict bodies and paging, as in the core's API ---- */

/* method path with body answers 400 with "field: is not a known field". */
static void unknown_field(const char *method, const char *path,
                          const char *body, const char *bearer,
                          const char *field)
{
	char key[96];
	vbx_test_response *r = send(method, path, body, bearer);
	snprintf(key, sizeof(key), "error.fields.%s", field);
	if (vbx_test_status(r) != 400 || !str(r, key))
		fail_msg("%s %s %s: want 400 on %s, got %d: %s", method, path,
		         body, field, vbx_test_status(r), vbx_test_body(r));
	assert_string_equal(error_code(r), "VALIDATION_ERROR");
	assert_string_equal(str(r, key), "is not a known field");
	vbx_test_response_free(r);
}

static void test_unknown_fields(void **state)
{
	session ann, bob;
	char path[96];
	registered("ann@example.com", "password1", &ann);
	registered("bob@example.com", "password2", &bob);
	snprintf(path, sizeof(path), "/api/v1/users/%s", bob.id);

	unknown_field("POST", "/api/v1/auth/register",
	              "{\"email\":\"cy@example.com\",\"password\":"
	              "\"password3\",\"admin\":true}",
	              NULL, "admin");
	unknown_field("POST", "/api/v1/auth/login",
	              "{\"email\":\"ann@example.com\",\"password\":"
	              "\"password1\",\"remember\":true}",
	              NULL, "remember");
	unknown_field("POST", "/api/v1/auth/refresh",
	              "{\"refreshToken\":\"x\",\"family\":\"y\"}", NULL,
	              "family");
	unknown_field("POST", "/api/v1/auth/logout",
	              "{\"refreshToken\":\"x\",\"all\":true}", NULL, "all");
	unknown_field("PATCH", "/api/v1/users/me",
	              "{\"name\":\"Ann\",\"admin\":true}", ann.access, "admin");
	unknown_field("POST", "/api/v1/keys",
	              "{\"name\":\"ci\",\"scope\":\"read\"}", ann.access,
	              "scope");
	unknown_field("POST", "/api/v1/users",
	              "{\"email\":\"cy@example.com\",\"password\":"
	              "\"password3\",\"disabled\":true}",
	              ann.access, "disabled");
	unknown_field("PATCH", path, "{\"email\":\"b2@example.com\"}",
	              ann.access, "email");

	/* Nothing was done: no user, no key, no change of a name. */
	assert_int_equal(fake_audit_count("user.create"), 0);
	assert_int_equal(fake_audit_count("key.create"), 0);
	assert_int_equal(fake_audit_count("user.update"), 0);
	vbx_test_response *r = login("cy@example.com", "password3");
	assert_int_equal(vbx_test_status(r), 401);
	vbx_test_response_free(r);
	r = send("GET", "/api/v1/users/me", NULL, ann.access);
	assert_string_equal(str(r, "name"), "");
	vbx_test_response_free(r);
	/* The known fields alone still pass. */
	expect(200, "PATCH", "/api/v1/users/me", "{\"name\":\"Ann\"}",
	       ann.access);
}

/* GET path answers 400 with field's message the core's. */
static void bad_page(const char *path, const char *bearer, const char *field,
                     const char *message)
{
	char key[64];
	vbx_test_response *r = send("GET", path, NULL, bearer);
	snprintf(key, sizeof(key), "error.fields.%s", field);
	if (vbx_test_status(r) != 400 || !str(r, key))
		fail_msg("GET %s: want 400 on %s, got %d: %s", path, field,
		         vbx_test_status(r), vbx_test_body(r));
	assert_string_equal(str(r, key), message);
	vbx_test_response_free(r);
}

static void test_paging_strict(void **state)
{
	static const char *const lists[] = {"/api/v1/users", "/api/v1/audit"};
	/* " 5" goes percent-encoded: a raw space is refused earlier. */
	static const char *const bad[] = {"%2B5", "+5", "%205", "5%20", "0",
	                                  "abc",  "-1", "5x",   "",     "0x10"};
	session ann;
	char path[128];
	registered("ann@example.com", "password1", &ann);
	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(path, sizeof(path), "%s?page=%s", lists[l],
			         bad[i]);
			bad_page(path, ann.access, "page",
			         "must be an integer between 1 and 1000000");
			snprintf(path, sizeof(path), "%s?limit=%s", lists[l],
			         bad[i]);
			bad_page(path, ann.access, "limit",
			         "must be an integer between 1 and 100");
		}
		snprintf(path, sizeof(path), "%s?limit=101", lists[l]);
		bad_page(path, ann.access, "limit",
		         "must be an integer between 1 and 100");
		snprintf(path, sizeof(path), "%s?page=1000001", lists[l]);
		bad_page(path, ann.access, "page",
		         "must be an integer between 1 and 1000000");
		snprintf(path, sizeof(path), "%s?page=99999999999999999999",
		         lists[l]);
		bad_page(path, ann.access, "page",
		         "must be an integer between 1 and 1000000");
		snprintf(path, sizeof(path), "%s?page=1000000&limit=100",
		         lists[l]);
		expect(200, "GET", path, NULL, ann.access);
		snprintf(path, sizeof(path), "%s?page=007&limit=1", lists[l]);
		vbx_test_response *r = send("GET", path, NULL, ann.access);
		assert_int_equal(vbx_test_status(r), 200);
		assert_int_equal(
		        get(vbx_test_json(r), "pagination.page")->valueint, 7);
		vbx_test_response_free(r);
	}
}

/* ---- configuration ---- */

static void refused(const char *conf, const char *needle)
{
	int rc = start_with(conf);
	assert_int_not_equal(rc, VBX_OK);
	const char *errs = vbx_test_errors(host);
	if (!strstr(errs, needle))
		fail_msg("want \"%s\" in: %s", needle, errs);
	vbx_test_host_free(host);
	host = NULL;
}

static void test_config_errors(void **state)
{
	refused(FAST, "jwt_secret");
	refused("jwt_secret = \"k1:0011\";" FAST, "jwt_secret");
	refused(CONF "registration = \"maybe\";", "registration");
	refused(CONF "login_limit = \"lots\";", "login_limit");
	refused(CONF "register_limit = \"5/1w\";", "register_limit");
	refused(CONF "password_min = 4;", "password_min");
	refused(CONF "password_min = 129;", "password_min");
	refused(CONF "access_ttl = \"forever\";", "access_ttl");
	refused("jwt_secret = \"" SECRET "\"; argon2_memory = \"1KiB\";",
	        "argon2_memory");
	refused("jwt_secret = \"" SECRET "\"; argon2_iterations = 0;",
	        "argon2_iterations");
	refused(CONF "jwt_secrets = \"typo\";", "jwt_secrets");
	/* Both the secret and its file. */
	refused(CONF "jwt_secret_file = \"/nonexistent\";", "jwt_secret");
	start(CONF "access_ttl = \"5m\"; refresh_ttl = \"1d\"; "
	           "argon2_parallelism = 2;");
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"ann@example.com\",\"password\":\"password1\"}",
	        NULL);
	assert_int_equal(get(vbx_test_json(r), "tokens.expiresIn")->valueint,
	                 300);
	vbx_test_response_free(r);
}

static void test_secret_file(void **state)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/jwt.key",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("new:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	      "old:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
	      "1d1e1f\n",
	      f);
	fclose(f);
	char conf[512];
	snprintf(conf, sizeof(conf), "jwt_secret_file = \"%s\"; " FAST, path);
	start(conf);
	session s;
	registered("ann@example.com", "password1", &s);
	expect(200, "GET", "/api/v1/users/me", NULL, s.access);
	remove(path);
}

int main(void)
{
#define T(f, setup) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_teardown(f, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_register_first_user, setup_default),
	        T(test_register_open, setup_open),
	        T(test_register_validation, setup_open),
	        TS(test_register_closed),
	        TS(test_register_limit),
	        T(test_login, setup_open),
	        T(test_login_limit, setup_open),
	        TS(test_login_client_limit),
	        T(test_refresh_rotation_and_reuse, setup_open),
	        T(test_refresh_disabled_user, setup_open),
	        T(test_logout, setup_open),
	        T(test_access_tokens, setup_open),
	        T(test_store_down, setup_open),
	        T(test_me_patch, setup_open),
	        T(test_password_change_revokes_sessions, setup_open),
	        T(test_password_change_revoke_fails, setup_open),
	        T(test_keys, setup_open),
	        T(test_key_admin_scope, setup_open),
	        T(test_admin_users, setup_open),
	        T(test_user_cache, setup_cached),
	        T(test_user_cache_expires, setup_cached_briefly),
	        T(test_audit_list, setup_open),
	        T(test_unknown_fields, setup_open),
	        T(test_paging_strict, setup_open),
	        TS(test_config_errors),
	        TS(test_secret_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
