/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_usercache.c - the user cache of the auth plugin: hits and
 * misses, a drop, a row read before a drop that must not come back,
 * slot collisions, expiry, and the cache turned off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth.h"

static vbx_user user(int n, bool admin)
{
	vbx_user u = {0};
	snprintf(u.id, sizeof(u.id), "00000000-0000-4000-8000-%012d", n);
	snprintf(u.email, sizeof(u.email), "u%d@example.com", n);
	snprintf(u.name, sizeof(u.name), "not cached");
	u.admin = admin;
	return u;
}

static void test_hit_and_miss(void **state)
{
	auth_user_cache *c = auth_user_cache_new(60000);
	vbx_user u = user(1, true), got;
	uint64_t gen;

	assert_false(auth_user_cache_get(c, u.id, &got, &gen));
	auth_user_cache_put(c, &u, gen);
	assert_true(auth_user_cache_get(c, u.id, &got, &gen));
	assert_string_equal(got.id, u.id);
	assert_string_equal(got.email, u.email);
	assert_true(got.admin);
	assert_false(got.disabled);
	assert_string_equal(got.name, ""); /* only what authentication needs */
	vbx_user other = user(2, false);
	assert_false(auth_user_cache_get(c, other.id, &got, &gen));
	auth_user_cache_free(c);
}

static void test_drop(void **state)
{
	auth_user_cache *c = auth_user_cache_new(60000);
	vbx_user u = user(1, false), got;
	uint64_t gen;

	auth_user_cache_get(c, u.id, &got, &gen);
	auth_user_cache_put(c, &u, gen);
	auth_user_cache_drop(c, u.id);
	assert_false(auth_user_cache_get(c, u.id, &got, &gen));
	auth_user_cache_free(c);
}

/* A reader missed, read the old row, and a change came before its put. */
static void test_put_after_drop_is_refused(void **state)
{
	auth_user_cache *c = auth_user_cache_new(60000);
	vbx_user u = user(1, true), got;
	uint64_t gen, gen2;

	assert_false(auth_user_cache_get(c, u.id, &got, &gen));
	auth_user_cache_drop(c, u.id);
	auth_user_cache_put(c, &u, gen);
	assert_false(auth_user_cache_get(c, u.id, &got, &gen2));
	auth_user_cache_put(c, &u, gen2);
	assert_true(auth_user_cache_get(c, u.id, &got, &gen2));
	auth_user_cache_free(c);
}

/* More users than slots: every answer is still the right user's. */
static void test_collisions(void **state)
{
	auth_user_cache *c = auth_user_cache_new(60000);
	vbx_user got;
	uint64_t gen;
	int hits = 0;

	for (int i = 0; i < 5000; i++) {
		vbx_user u = user(i, i % 2);
		auth_user_cache_get(c, u.id, &got, &gen);
		auth_user_cache_put(c, &u, gen);
	}
	for (int i = 0; i < 5000; i++) {
		vbx_user u = user(i, i % 2);
		if (!auth_user_cache_get(c, u.id, &got, &gen))
			continue;
		hits++;
		assert_string_equal(got.email, u.email);
		assert_int_equal(got.admin, i % 2);
	}
	assert_true(hits > 0 && hits <= 1024);
	auth_user_cache_free(c);
}

static void test_expiry(void **state)
{
	auth_user_cache *c = auth_user_cache_new(20);
	vbx_user u = user(1, false), got;
	uint64_t gen;
	struct timespec ts = {.tv_nsec = 100 * 1000000L};

	auth_user_cache_get(c, u.id, &got, &gen);
	auth_user_cache_put(c, &u, gen);
	nanosleep(&ts, NULL);
	assert_false(auth_user_cache_get(c, u.id, &got, &gen));
	auth_user_cache_free(c);
}

static void test_off(void **state)
{
	vbx_user u = user(1, false), got;
	uint64_t gen;

	assert_null(auth_user_cache_new(0));
	assert_false(auth_user_cache_get(NULL, u.id, &got, &gen));
	auth_user_cache_put(NULL, &u, gen);
	auth_user_cache_drop(NULL, u.id);
	auth_user_cache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hit_and_miss),
	        cmocka_unit_test(test_drop),
	        cmocka_unit_test(test_put_after_drop_is_refused),
	        cmocka_unit_test(test_collisions),
	        cmocka_unit_test(test_expiry),
	        cmocka_unit_test(test_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
