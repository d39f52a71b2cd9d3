/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_shared.c - what auth shares with other replicas, through the
 * fake daemon: api_limit (its parsing, the X-RateLimit-* headers, 429
 * with Retry-After), the limits counted in a cache provider and in the
 * process when there is none or it is down, the shared user cache and
 * its invalidation, and the parsers of what the cache gives back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/testing.h>

#include "auth.h"
#include "fakecache.h"
#include "fakestore.h"

#define SECRET                                                                 \
	"k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define CONF                                                                   \
	"jwt_secret = \"" SECRET "\"; argon2_memory = \"64KiB\"; "             \
	"argon2_iterations = 1; registration = \"open\"; "                     \
	"register_limit = \"50/1h\"; "

static vbx_test_host *host;

/* Load the fake store and auth with conf; with_cache: the fake provider
 * of the cache hooks too. Returns the load's answer. */
static int start_with(const char *conf, bool with_cache)
{
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	assert_non_null(host);
	if (with_cache)
		assert_int_equal(fake_cache_register(vbx_test_plugin(host)),
		                 VBX_OK);
	assert_int_equal(vbx_test_load(host, &fake_store_desc, NULL), VBX_OK);
	int rc = vbx_test_load(host, vbx_plugin_entry(), conf);
	if (rc == VBX_OK)
		rc = vbx_test_start(host);
	return rc;
}

static void start(const char *conf, bool with_cache)
{
	if (start_with(conf, with_cache) != VBX_OK)
		fail_msg("%s", vbx_test_errors(host));
}

static int teardown(void **state)
{
	(void)state;
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static vbx_test_response *send(const char *method, const char *path,
                               const char *body, const char *bearer)
{
	vbx_test_response *r =
	        vbx_test_request(host, method, path, body, bearer);
	assert_non_null(r);
	return r;
}

static const char *str(const vbx_test_response *r, const char *a, const char *b)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), a);
	o = cJSON_GetObjectItemCaseSensitive(o, b);
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

typedef struct session {
	char access[AUTH_JWT_MAX];
	char id[40];
} session;

static void registered(const char *email, session *s)
{
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"email\":\"%s\",\"password\":\"password1\"}", email);
	vbx_test_response *r =
	        send("POST", "/api/v1/auth/register", body, NULL);
	if (vbx_test_status(r) != 201)
		fail_msg("register: %d %s", vbx_test_status(r),
		         vbx_test_body(r));
	snprintf(s->access, sizeof(s->access), "%s",
	         str(r, "tokens", "accessToken"));
	snprintf(s->id, sizeof(s->id), "%s", str(r, "user", "id"));
	vbx_test_response_free(r);
}

static int status_of(const char *method, const char *path, const char *body,
                     const char *bearer)
{
	vbx_test_response *r = send(method, path, body, bearer);
	int st = vbx_test_status(r);
	vbx_test_response_free(r);
	return st;
}

static long header_num(const vbx_test_response *r, const char *name)
{
	const char *v = vbx_test_header(r, name);
	if (!v)
		fail_msg("no %s header: %d %s", name, vbx_test_status(r),
		         vbx_test_body(r));
	return v ? atol(v) : -1;
}

/* ---- api_limit: parsing ---- */

static void test_api_limit_broken(void **state)
{
	static const char *const bad[] = {
	        "abc",    "5",          "5/",
	        "/1m",    "0/1m",       "-1/1m",
	        " 5/1m",  "+5/1m",      "5/ 1m",
	        "5/1m ",  "5/1x",       "05/1m",
	        "5/01m",  "5/0m",       "5/-1m",
	        "5/1.5m", "1000001/1m", "5/367d",
	        "5//1m",  "5/1m1m",     "5/9999999999999999999s",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char conf[512];
		snprintf(conf, sizeof(conf), CONF "api_limit = \"%s\";",
		         bad[i]);
		if (start_with(conf, false) == VBX_OK)
			fail_msg("api_limit \"%s\" was accepted", bad[i]);
		const char *err = vbx_test_errors(host);
		if (!strstr(err, "plugins.auth.api_limit"))
			fail_msg("api_limit \"%s\": %s", bad[i], err);
		vbx_test_host_free(host);
		host = NULL;
	}
	/* Not a string at all. */
	assert_int_not_equal(start_with(CONF "api_limit = 5;", false), VBX_OK);
	assert_non_null(strstr(vbx_test_errors(host), "api_limit"));
}

static void test_api_limit_parse(void **state)
{
	long n;
	int64_t ms;
	(void)state;
	assert_int_equal(auth_limit_parse("600/1m", &n, &ms), VBX_OK);
	assert_int_equal(n, 600);
	assert_int_equal(ms, 60000);
	assert_int_equal(auth_limit_parse("5/2s", &n, &ms), VBX_OK);
	assert_int_equal(ms, 2000);
	assert_int_equal(auth_limit_parse("5/h", &n, &ms), VBX_OK);
	assert_int_equal(ms, 3600000);
	assert_int_equal(auth_limit_parse("1000000/366d", &n, &ms), VBX_OK);
	assert_int_equal(auth_limit_parse("10/0s", &n, &ms), VBX_EINVAL);
	assert_int_equal(auth_limit_parse("", &n, &ms), VBX_EINVAL);
	assert_int_equal(auth_limit_parse("5/1M", &n, &ms), VBX_EINVAL);
}

/* ---- api_limit: headers and 429 ---- */

/* n requests allowed, with Remaining counting down, then a 429. */
static void expect_budget(const session *s, long n)
{
	for (long i = 0; i < n; i++) {
		vbx_test_response *r =
		        send("GET", "/api/v1/users/me", NULL, s->access);
		assert_int_equal(vbx_test_status(r), 200);
		assert_int_equal(header_num(r, "X-RateLimit-Limit"), n);
		assert_int_equal(header_num(r, "X-RateLimit-Remaining"),
		                 n - 1 - i);
		long reset = header_num(r, "X-RateLimit-Reset");
		assert_true(reset >= 1 && reset <= 60);
		vbx_test_response_free(r);
	}
	vbx_test_response *r = send("GET", "/api/v1/users/me", NULL, s->access);
	assert_int_equal(vbx_test_status(r), 429);
	assert_string_equal(str(r, "error", "code"), "TOO_MANY_REQUESTS");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "error"),
	        "statusCode");
	assert_true(cJSON_IsNumber(sc) && sc->valueint == 429);
	long retry = header_num(r, "Retry-After");
	assert_true(retry >= 1 && retry <= 60);
	assert_int_equal(header_num(r, "X-RateLimit-Remaining"), 0);
	vbx_test_response_free(r);
}

/* No provider: the hooks answer VBX_EUNAVAIL, counted in the process. */
static void test_api_limit_local(void **state)
{
	session s;
	(void)state;
	start(CONF "api_limit = \"3/1m\";", false);
	registered("ann@example.com", &s);
	expect_budget(&s, 3);
	/* Public routes are not counted and carry no header. */
	vbx_test_response *r = send("POST", "/api/v1/auth/login",
	                            "{\"email\":\"ann@example.com\","
	                            "\"password\":\"password1\"}",
	                            NULL);
	assert_int_equal(vbx_test_status(r), 200);
	assert_null(vbx_test_header(r, "X-RateLimit-Limit"));
	vbx_test_response_free(r);
}

/* Each user has a budget of its own; an API key spends its user's. */
static void test_api_limit_per_user(void **state)
{
	session ann, bob;
	(void)state;
	start(CONF "api_limit = \"4/1m\";", false);
	registered("ann@example.com", &ann);
	registered("bob@example.com", &bob);
	vbx_test_response *r =
	        send("POST", "/api/v1/keys", "{\"name\":\"ci\"}", ann.access);
	assert_int_equal(vbx_test_status(r), 201);
	char key[128];
	snprintf(key, sizeof(key), "%s",
	         cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "key")
	                 ->valuestring);
	vbx_test_response_free(r);
	/* ann spent 1 (the key), then the key spends 3 more. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		        status_of("GET", "/api/v1/users/me", NULL, key), 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, ann.access),
	                 429);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
}

/* Off by default: no header, no limit. */
static void test_api_limit_off(void **state)
{
	session s;
	(void)state;
	start(CONF, true);
	registered("ann@example.com", &s);
	for (int i = 0; i < 20; i++) {
		vbx_test_response *r =
		        send("GET", "/api/v1/users/me", NULL, s.access);
		assert_int_equal(vbx_test_status(r), 200);
		assert_null(vbx_test_header(r, "X-RateLimit-Limit"));
		vbx_test_response_free(r);
	}
	assert_int_equal(fake_cache_count("auth:api:"), 0);
}

/* With a provider the count is the cache's, keyed by user id. */
static void test_api_limit_shared(void **state)
{
	session s;
	char key[128];
	(void)state;
	start(CONF "api_limit = \"3/1m\";", true);
	registered("ann@example.com", &s);
	expect_budget(&s, 3);
	snprintf(key, sizeof(key), "auth:api:%s", s.id);
	assert_int_equal(fake_cache_count(key), 1);
}

/* The provider goes down: counted in the process, never a 5xx; back up:
 * the shared count again. */
static void test_api_limit_cache_down(void **state)
{
	session s;
	(void)state;
	start(CONF "api_limit = \"2/1m\";", true);
	registered("ann@example.com", &s);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	fake_cache_set_down(true);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 429);
	fake_cache_set_down(false);
	/* The shared window holds one hit: one more passes. */
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 429);
}

/* ---- the core's request_admit step, with a handler of the test's ---- */

static int admit_answer; /* what the test's handler answers */

static int test_admit(void *ud, const vbx_principal *who, const char *method,
                      const char *route, vbx_admit *out)
{
	(void)ud;
	(void)who;
	assert_string_equal(method, "GET");
	assert_string_equal(route, "/api/v1/users/me");
	if (admit_answer == VBX_DECLINED)
		return VBX_DECLINED;
	out->limit = 10;
	out->remaining = 0;
	out->reset_ms = 1500;
	out->retry_after_ms = 1001;
	return admit_answer;
}

/* The test's handler runs first, before auth's api_limit. */
static void start_admitting(int answer)
{
	admit_answer = answer;
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_hook_request_admit_register(vbx_test_plugin(host),
	                                                 test_admit, NULL,
	                                                 VBX_PRIO_FIRST),
	                 VBX_OK);
	assert_int_equal(vbx_test_load(host, &fake_store_desc, NULL), VBX_OK);
	if (vbx_test_load(host, vbx_plugin_entry(),
	                  CONF "api_limit = \"2/1m\";") != VBX_OK ||
	    vbx_test_start(host) != VBX_OK)
		fail_msg("%s", vbx_test_errors(host));
}

/* VBX_EAGAIN: 429 before the route, the seconds rounded up. */
static void test_admit_refuses(void **state)
{
	session s;
	(void)state;
	start_admitting(VBX_DECLINED);
	registered("ann@example.com", &s);
	admit_answer = VBX_EAGAIN;
	vbx_test_response *r = send("GET", "/api/v1/users/me", NULL, s.access);
	assert_int_equal(vbx_test_status(r), 429);
	assert_int_equal(header_num(r, "Retry-After"), 2);
	assert_int_equal(header_num(r, "X-RateLimit-Limit"), 10);
	assert_int_equal(header_num(r, "X-RateLimit-Remaining"), 0);
	assert_int_equal(header_num(r, "X-RateLimit-Reset"), 2);
	vbx_test_response_free(r);
}

/* A handler that fails does not fail the request; one that declines
 * leaves it to the next (auth's api_limit of 2). */
static void test_admit_failure_admits(void **state)
{
	session s;
	(void)state;
	start_admitting(VBX_ERR);
	registered("ann@example.com", &s);
	for (int i = 0; i < 5; i++) {
		vbx_test_response *r =
		        send("GET", "/api/v1/users/me", NULL, s.access);
		assert_int_equal(vbx_test_status(r), 200);
		vbx_test_response_free(r);
	}
	admit_answer = VBX_DECLINED;
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 200);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, s.access),
	                 429);
}

/* ---- login limits in the cache ---- */

static int login_status(const char *email, const char *pw)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
	         email, pw);
	return status_of("POST", "/api/v1/auth/login", body, NULL);
}

static void test_login_limit_shared(void **state)
{
	session s;
	char v[64];
	(void)state;
	start(CONF "login_limit = \"3/15m\";", true);
	registered("ann@example.com", &s);
	for (int i = 0; i < 3; i++)
		assert_int_equal(login_status("ann@example.com", "nope-nope"),
		                 401);
	assert_int_equal(login_status("ann@example.com", "password1"), 429);
	/* The counts are the cache's, and no email is in a key. */
	assert_int_equal(fake_cache_count("auth:login:"), 2);
	assert_int_equal(fake_cache_count("auth:login-client:127.0.0.1"), 1);
	assert_int_equal(fake_cache_count("auth:login-account:"), 1);
	assert_false(fake_cache_key_contains("@"));
	assert_false(fake_cache_key_contains("ann"));
	/* The lock is the cache's: its end in Unix ms. */
	char hex[AUTH_SHA256_HEX], key[128];
	auth_sha256_hex("ann@example.com", hex);
	snprintf(key, sizeof(key), "auth:login:%.32s:127.0.0.1:lock", hex);
	assert_true(fake_cache_value(key, v, sizeof(v)));
	int64_t until;
	assert_int_equal(auth_cache_decode_ms(v, strlen(v), &until), VBX_OK);
	assert_true(until > auth_now_ms() + 55000);
}

/* Another replica's lock (written to the cache) holds here too. */
static void test_login_lock_from_cache(void **state)
{
	session s;
	char hex[AUTH_SHA256_HEX], key[128], v[32];
	(void)state;
	start(CONF, true);
	registered("ann@example.com", &s);
	auth_sha256_hex("ann@example.com", hex);
	snprintf(key, sizeof(key), "auth:login:%.32s:127.0.0.1:lock", hex);
	snprintf(v, sizeof(v), "%lld", (long long)(auth_now_ms() + 120000));
	fake_cache_put(key, v, 120000);
	vbx_test_response *r = send("POST", "/api/v1/auth/login",
	                            "{\"email\":\"ann@example.com\","
	                            "\"password\":\"password1\"}",
	                            NULL);
	assert_int_equal(vbx_test_status(r), 429);
	long retry = header_num(r, "Retry-After");
	assert_true(retry >= 119 && retry <= 120);
	vbx_test_response_free(r);
	/* A value auth did not write is not trusted: counted here. */
	fake_cache_put(key, "soon", 120000);
	assert_int_equal(login_status("ann@example.com", "password1"), 200);
}

/* Cache down: logins counted in the process; still 401 then 429. */
static void test_login_limit_cache_down(void **state)
{
	session s;
	(void)state;
	start(CONF "login_limit = \"2/15m\";", true);
	registered("ann@example.com", &s);
	fake_cache_set_down(true);
	for (int i = 0; i < 2; i++)
		assert_int_equal(login_status("ann@example.com", "nope-nope"),
		                 401);
	assert_int_equal(login_status("ann@example.com", "password1"), 429);
	assert_int_equal(fake_cache_count("auth:login"), 0);
}

static void test_register_limit_shared(void **state)
{
	session s;
	(void)state;
	start("jwt_secret = \"" SECRET "\"; argon2_memory = \"64KiB\"; "
	      "argon2_iterations = 1; registration = \"open\"; "
	      "register_limit = \"2/1h\";",
	      true);
	registered("a1@example.com", &s);
	registered("a2@example.com", &s);
	vbx_test_response *r = send(
	        "POST", "/api/v1/auth/register",
	        "{\"email\":\"a3@example.com\",\"password\":\"password1\"}",
	        NULL);
	assert_int_equal(vbx_test_status(r), 429);
	assert_true(header_num(r, "Retry-After") > 3500);
	vbx_test_response_free(r);
	assert_int_equal(fake_cache_count("auth:register:127.0.0.1"), 1);
}

/* ---- the shared user cache ---- */

static void test_user_shared(void **state)
{
	session admin, bob;
	char key[128], v[512];
	(void)state;
	start(CONF "user_cache = 0; principal_cache = \"30s\";", true);
	registered("admin@example.com", &admin);
	registered("bob@example.com", &bob);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	snprintf(key, sizeof(key), "auth:user:%s", bob.id);
	assert_true(fake_cache_value(key, v, sizeof(v)));
	assert_string_equal(v, "1|0|0|bob@example.com");

	/* Another replica's entry is believed (the store is not read). */
	fake_cache_put(key, "1|0|1|bob@example.com", 30000);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 401);
	/* A broken one is not: the store says bob is enabled. */
	fake_cache_put(key, "1|0|x|bob@example.com", 30000);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);

	/* A change deletes the entry and moves the generation on. */
	char path[128];
	snprintf(path, sizeof(path), "/api/v1/users/%s", bob.id);
	assert_int_equal(
	        status_of("PATCH", path, "{\"disabled\":true}", admin.access),
	        200);
	assert_false(fake_cache_value(key, v, sizeof(v)));
	snprintf(key, sizeof(key), "auth:gen:%s", bob.id);
	assert_true(fake_cache_value(key, v, sizeof(v)));
	assert_int_equal(strlen(v), 16);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 401);
}

/*
 * The race guard: a change whose generation lands between this replica's
 * read of the generation (before the store read) and its second read
 * (before the write) keeps the row it read out of the shared cache.
 */
static void test_user_fill_race(void **state)
{
	session bob;
	char user[128], gen[128], v[512];
	(void)state;
	start(CONF "user_cache = 0; principal_cache = \"30s\";", true);
	registered("bob@example.com", &bob);
	snprintf(user, sizeof(user), "auth:user:%s", bob.id);
	snprintf(gen, sizeof(gen), "auth:gen:%s", bob.id);

	/* Another replica moves the generation right after our first read:
	 * the row we read is not written. */
	fake_cache_change_after_get(gen, "00000000000000aa", 60000);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	assert_false(fake_cache_value(user, v, sizeof(v)));
	/* With the generation still, the next read fills the cache. */
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	assert_true(fake_cache_value(user, v, sizeof(v)));
}

/* A principal_changed from another replica drops this process's entry. */
static void test_user_event_drops_local(void **state)
{
	session admin, bob;
	char key[128];
	(void)state;
	start(CONF "user_cache = \"1m\"; principal_cache = \"30s\";", true);
	registered("admin@example.com", &admin);
	registered("bob@example.com", &bob);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	/* Another replica disables bob: the store, its cache delete. */
	assert_non_null(fake_user(bob.id));
	fake_user(bob.id)->disabled = true;
	snprintf(key, sizeof(key), "auth:user:%s", bob.id);
	fake_cache_put(key, "1|0|1|bob@example.com", 1);
	/* Still cached here for a minute... */
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	/* ...until its event arrives. */
	vbx_principal_changed_event ev = {.version = 1};
	snprintf(ev.user_id, sizeof(ev.user_id), "%s", bob.id);
	snprintf(ev.reason, sizeof(ev.reason), VBX_REVOKE_USER_DISABLED);
	vbx_plugin *t = vbx_test_plugin(host);
	assert_int_equal(vbx_event_principal_changed_publish(
	                         vbx_event_principal_changed_get(t), &ev),
	                 VBX_OK);
	assert_int_equal(vbx_test_flush_events(host), VBX_OK);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 401);
}

/* Without a provider the user is read from the store as before. */
static void test_user_no_provider(void **state)
{
	session bob;
	(void)state;
	start(CONF "user_cache = 0;", false);
	registered("bob@example.com", &bob);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	assert_non_null(fake_user(bob.id));
	fake_user(bob.id)->disabled = true;
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 401);
}

/* principal_cache = 0: nothing of the user goes to the cache. */
static void test_user_cache_off(void **state)
{
	session bob;
	(void)state;
	start(CONF "principal_cache = 0;", true);
	registered("bob@example.com", &bob);
	assert_int_equal(status_of("GET", "/api/v1/users/me", NULL, bob.access),
	                 200);
	assert_int_equal(fake_cache_count("auth:user:"), 0);
	assert_int_equal(fake_cache_count("auth:gen:"), 0);
}

/* ---- parsers of what the cache gives back ---- */

static void test_entry_codec(void **state)
{
	vbx_user u = {0}, back = {0};
	char buf[300];
	(void)state;
	snprintf(u.email, sizeof(u.email), "a|b@example.com");
	u.admin = true;
	size_t n = auth_user_entry_encode(&u, buf, sizeof(buf));
	assert_int_equal(n, strlen("1|1|0|a|b@example.com"));
	assert_int_equal(auth_user_entry_decode(buf, n, &back), VBX_OK);
	assert_string_equal(back.email, "a|b@example.com");
	assert_true(back.admin);
	assert_false(back.disabled);
	assert_int_equal(auth_user_entry_encode(&u, buf, 10), 0);

	static const char *const bad[] = {
	        "",          "1",          "1|0|0|",      "2|0|0|a@b",
	        "1|2|0|a@b", "1|0|2|a@b",  "1,0,0,a@b",   "1|00|0|a@b",
	        "x|0|0|a@b", "1|0|0|a\tb", "1|0|0|a\x7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (auth_user_entry_decode(bad[i], strlen(bad[i]), &back) !=
		    VBX_EINVAL)
			fail_msg("entry \"%s\" was accepted", bad[i]);
	/* A NUL inside, and an email too long for the row. */
	assert_int_equal(auth_user_entry_decode("1|0|0|a\0b", 9, &back),
	                 VBX_EINVAL);
	char longer[300];
	memset(longer, 'a', sizeof(longer));
	memcpy(longer, "1|0|0|", 6);
	assert_int_equal(auth_user_entry_decode(longer, 6 + 256, &back),
	                 VBX_EINVAL);
	assert_int_equal(auth_user_entry_decode(longer, 6 + 255, &back),
	                 VBX_OK);
}

static void test_decode_ms(void **state)
{
	int64_t v;
	(void)state;
	assert_int_equal(auth_cache_decode_ms("1700000000000", 13, &v), VBX_OK);
	assert_true(v == 1700000000000LL);
	static const char *const bad[] = {
	        "",   "-1",  "+1",   " 1",
	        "1 ", "1e3", "0x10", "1234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		        auth_cache_decode_ms(bad[i], strlen(bad[i]), &v),
		        VBX_EINVAL);
}

static void test_cache_token(void **state)
{
	char t[AUTH_CACHE_TOKEN];
	(void)state;
	auth_cache_token("127.0.0.1", t);
	assert_string_equal(t, "127.0.0.1");
	auth_cache_token("::1", t);
	assert_string_equal(t, "::1");
	auth_cache_token("ann@example.com", t);
	assert_int_equal(strlen(t), 32);
	assert_null(strchr(t, '@'));
	auth_cache_token("a b", t);
	assert_int_equal(strlen(t), 32);
	auth_cache_token("", t);
	assert_int_equal(strlen(t), 32);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_api_limit_broken),
	        cmocka_unit_test(test_api_limit_parse),
	        T(test_api_limit_local),
	        T(test_api_limit_per_user),
	        T(test_api_limit_off),
	        T(test_api_limit_shared),
	        T(test_api_limit_cache_down),
	        T(test_admit_refuses),
	        T(test_admit_failure_admits),
	        T(test_login_limit_shared),
	        T(test_login_lock_from_cache),
	        T(test_login_limit_cache_down),
	        T(test_register_limit_shared),
	        T(test_user_shared),
	        T(test_user_fill_race),
	        T(test_user_event_drops_local),
	        T(test_user_no_provider),
	        T(test_user_cache_off),
	        cmocka_unit_test(test_entry_codec),
	        cmocka_unit_test(test_decode_ms),
	        cmocka_unit_test(test_cache_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
