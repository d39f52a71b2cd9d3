/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_metrics.c - the auth plugin's metrics through the fake daemon:
 * auth_attempts_total{method,result} for passwords, refresh tokens, access
 * tokens and API keys, and rate_limited_total{limit} for the login lock,
 * register_limit and api_limit. A plugin of the test's own provides
 * "metrics" (tests/unit/fakemetrics.h) turns the registry on and reads
 * the values back. The registry lives as long as the process, so every
 * check compares counts before and after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/metrics.h>
#include <vibebox/testing.h>

#include "fakemetrics.h"
#include "fakestore.h"

#define SECRET                                                                 \
	"k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define CONF                                                                   \
	"jwt_secret = \"" SECRET "\"; argon2_memory = \"64KiB\"; "             \
	"argon2_iterations = 1; registration = \"open\"; user_cache = 0; "     \
	"login_limit = \"3/15m\"; register_limit = \"3/1h\"; "                 \
	"api_limit = \"4/1h\";"

static vbx_test_host *host;

static int64_t attempts(const char *method, const char *result)
{
	return (int64_t)fake_metric("vibebox_auth_attempts_total", method,
	                            result, NULL);
}

static int64_t limited(const char *limit)
{
	return (int64_t)fake_metric("vibebox_rate_limited_total", limit, NULL);
}

/* ---- the host ---- */

static int setup(void **state)
{
	(void)state;
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	assert_non_null(host);
	if (vbx_test_load(host, &fake_metrics_desc, NULL) ||
	    vbx_test_load(host, &fake_store_desc, NULL) ||
	    vbx_test_load(host, vbx_plugin_entry(), CONF) ||
	    vbx_test_start(host)) {
		print_error("%s\n", vbx_test_errors(host));
		vbx_test_host_free(host);
		host = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static int status(const char *method, const char *path, const char *body,
                  const char *bearer, char *access, char *refresh)
{
	vbx_test_response *r =
	        vbx_test_request(host, method, path, body, bearer);
	assert_non_null(r);
	int st = vbx_test_status(r);
	const cJSON *t =
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "tokens");
	const cJSON *key =
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "key");
	if (access && cJSON_IsString(key))
		snprintf(access, 2048, "%s", key->valuestring);
	if (access && t)
		snprintf(access, 2048, "%s",
		         cJSON_GetObjectItemCaseSensitive(t, "accessToken")
		                 ->valuestring);
	if (refresh && t)
		snprintf(refresh, 128, "%s",
		         cJSON_GetObjectItemCaseSensitive(t, "refreshToken")
		                 ->valuestring);
	vbx_test_response_free(r);
	return st;
}

static int login(const char *email, const char *pw, char *access, char *refresh)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
	         email, pw);
	return status("POST", "/api/v1/auth/login", body, NULL, access,
	              refresh);
}

static int signup(const char *email)
{
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"email\":\"%s\",\"password\":\"correct horse\"}", email);
	return status("POST", "/api/v1/auth/register", body, NULL, NULL, NULL);
}

/* ---- checks ---- */

static void test_passwords_and_the_lock(void **state)
{
	(void)state;
	assert_int_equal(vbx_metrics_enabled(vbx_test_plugin(host)), 1);
	assert_int_equal(signup("ann@example.com"), 201);
	int64_t ok = attempts("password", "ok"),
	        bad = attempts("password", "invalid"),
	        locked = attempts("password", "locked"),
	        err = attempts("password", "error"), lim = limited("login");

	assert_int_equal(login("ann@example.com", "correct horse", NULL, NULL),
	                 200);
	for (int i = 0; i < 3; i++)
		assert_int_equal(login("ann@example.com", "nope", NULL, NULL),
		                 401);
	assert_int_equal(login("ann@example.com", "nope", NULL, NULL), 429);
	assert_int_equal(attempts("password", "ok") - ok, 1);
	assert_int_equal(attempts("password", "invalid") - bad, 3);
	assert_int_equal(attempts("password", "locked") - locked, 1);
	assert_int_equal(limited("login") - lim, 1);

	/* A store that is down is an error, not a wrong password. */
	fake_set_down(true);
	assert_int_equal(login("bob@example.com", "x", NULL, NULL), 503);
	fake_set_down(false);
	assert_int_equal(attempts("password", "error") - err, 1);
	assert_int_equal(attempts("password", "invalid") - bad, 3);
}

static void test_tokens_keys_and_refresh(void **state)
{
	(void)state;
	char access[2048], refresh[128], key[2048], old[128];
	assert_int_equal(signup("cat@example.com"), 201);
	assert_int_equal(
	        login("cat@example.com", "correct horse", access, refresh),
	        200);
	int64_t tok = attempts("token", "ok"),
	        tbad = attempts("token", "invalid"),
	        kok = attempts("api_key", "ok"),
	        kbad = attempts("api_key", "invalid"),
	        rok = attempts("refresh", "ok"),
	        rbad = attempts("refresh", "invalid");

	assert_int_equal(
	        status("GET", "/api/v1/users/me", NULL, access, NULL, NULL),
	        200);
	assert_int_equal(status("GET", "/api/v1/users/me", NULL, "e30.e30.x",
	                        NULL, NULL),
	                 401);
	assert_int_equal(status("POST", "/api/v1/keys", "{\"name\":\"ci\"}",
	                        access, key, NULL),
	                 201);
	assert_int_equal(
	        status("GET", "/api/v1/users/me", NULL, key, NULL, NULL), 200);
	key[strlen(key) - 1] ^= 1; /* another key of the same shape */
	assert_int_equal(
	        status("GET", "/api/v1/users/me", NULL, key, NULL, NULL), 401);
	snprintf(old, sizeof(old), "%s", refresh);
	assert_int_equal(
	        status("POST", "/api/v1/auth/refresh", NULL, NULL, NULL, NULL),
	        400); /* no body: not an attempt */
	char body[256];
	snprintf(body, sizeof(body), "{\"refreshToken\":\"%s\"}", old);
	assert_int_equal(status("POST", "/api/v1/auth/refresh", body, NULL,
	                        NULL, refresh),
	                 200);
	assert_int_equal(
	        status("POST", "/api/v1/auth/refresh", body, NULL, NULL, NULL),
	        401); /* reused */

	assert_int_equal(attempts("token", "ok") - tok, 2); /* me, keys */
	assert_int_equal(attempts("token", "invalid") - tbad, 1);
	assert_int_equal(attempts("api_key", "ok") - kok, 1);
	assert_int_equal(attempts("api_key", "invalid") - kbad, 1);
	assert_int_equal(attempts("refresh", "ok") - rok, 1);
	assert_int_equal(attempts("refresh", "invalid") - rbad, 1);
}

static void test_register_and_api_limits(void **state)
{
	(void)state;
	char access[2048];
	int64_t reg = limited("register"), api = limited("api");

	for (int i = 0; i < 3; i++) {
		char email[64];
		snprintf(email, sizeof(email), "u%d@example.com", i);
		assert_int_equal(signup(email), 201);
	}
	assert_int_equal(signup("late@example.com"), 429);
	assert_int_equal(limited("register") - reg, 1);

	assert_int_equal(login("u0@example.com", "correct horse", access, NULL),
	                 200);
	for (int i = 0; i < 4; i++)
		assert_int_equal(status("GET", "/api/v1/users/me", NULL, access,
		                        NULL, NULL),
		                 200);
	assert_int_equal(
	        status("GET", "/api/v1/users/me", NULL, access, NULL, NULL),
	        429);
	assert_int_equal(limited("api") - api, 1);
	assert_int_equal(limited("register") - reg, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_passwords_and_the_lock,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tokens_keys_and_refresh,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_register_and_api_limits,
	                                        setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
