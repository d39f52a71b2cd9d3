/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_metrics.c - postgres-store's metrics against a real
 * PostgreSQL (test_store.sh starts it): store_query_duration_seconds
 * counts each store hook under its own name, whichever way its handler
 * reaches the pool (pgs_acquire, pgs_run, pgs_run_page), and
 * store_pool_connections{state} adds up to `pool`.
 *
 * Environment: VBX_TEST_PG (required; exit 77 without it) and
 * VBX_TEST_PG_PLUGIN, as test_store.c. Rows it makes have names of their
 * own, next to the other store tests' on the same database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vibebox/store.h>
#include <vibebox/testing.h>

#include "fakemetrics.h"

#define SECONDS "vibebox_store_query_duration_seconds"
#define POOL "vibebox_store_pool_connections"

static const char *conninfo;
static const char *plugin_path;
static vbx_test_host *host;

#define RUN(name, ...)                                                         \
	vbx_hook_##name##_run(vbx_hook_##name##_get(vbx_test_plugin(host)),    \
	                      __VA_ARGS__)

static int setup(void **state)
{
	char cfg[1024];

	snprintf(cfg, sizeof(cfg), "conninfo = \"%s\"; pool = 3;", conninfo);
	host = vbx_test_host_new();
	assert_non_null(host);
	if (vbx_test_load(host, &fake_metrics_desc, NULL) ||
	    vbx_test_load_file(host, plugin_path, cfg) ||
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
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static int no_team(void *ctx, const vbx_team *t)
{
	return VBX_OK;
}

static int no_user(void *ctx, const vbx_user *u)
{
	return VBX_OK;
}

static double timed(const char *hook)
{
	return fake_metric(SECONDS, hook, NULL);
}

static void test_each_hook_under_its_name(void **state)
{
	const char *hooks[] = {"store_user_create", "store_user_get",
	                       "store_team_create", "store_team_list",
	                       "store_user_list"};
	double before[5];
	for (int i = 0; i < 5; i++)
		before[i] = timed(hooks[i]);
	vbx_user u = {0}, got;
	vbx_team t = {0};
	snprintf(u.email, sizeof(u.email), "metrics-%d@example.test",
	         (int)getpid());
	snprintf(u.name, sizeof(u.name), "M");
	snprintf(t.name, sizeof(t.name), "Metrics");
	snprintf(t.slug, sizeof(t.slug), "metrics-%d", (int)getpid());
	vbx_page page = {.page = 1, .limit = 5};
	int64_t total;

	assert_int_equal(RUN(store_user_create, &u, "", 0), VBX_OK);
	assert_int_equal(RUN(store_user_get, u.id, &got), VBX_OK);
	assert_int_equal(RUN(store_user_get, u.id, &got), VBX_OK);
	assert_int_equal(RUN(store_team_create, &t, u.id), VBX_OK);
	assert_int_equal(
	        RUN(store_team_list, u.id, &page, no_team, NULL, &total),
	        VBX_OK);
	assert_int_equal(RUN(store_user_list, &page, no_user, NULL, &total),
	                 VBX_OK);
	const int want[] = {1, 2, 1, 1, 1};
	for (int i = 0; i < 5; i++) {
		double n = timed(hooks[i]) - before[i];
		if (n != want[i])
			fail_msg("%s: +%g, want +%d", hooks[i], n, want[i]);
	}
	assert_true(fake_metric_sum(SECONDS, "store_user_get", NULL) > 0);
}

static void test_pool_slots(void **state)
{
	vbx_user got;
	/* one call at least, so that a connection is open */
	assert_int_equal(RUN(store_user_get,
	                     "00000000-0000-4000-8000-000000000000", &got),
	                 VBX_ENOTFOUND);
	double idle = fake_metric(POOL, "idle", NULL),
	       busy = fake_metric(POOL, "busy", NULL),
	       connecting = fake_metric(POOL, "connecting", NULL),
	       closed = fake_metric(POOL, "closed", NULL);
	assert_true(idle >= 1 && busy == 0 && connecting == 0);
	assert_true(idle + busy + connecting + closed == 3);
}

int main(void)
{
	conninfo = getenv("VBX_TEST_PG");
	plugin_path = getenv("VBX_TEST_PG_PLUGIN");
	if (!plugin_path)
		plugin_path = "./postgres-store.so";
	if (!conninfo || !conninfo[0]) {
		fprintf(stderr, "test_store_metrics: set VBX_TEST_PG to the "
		                "conninfo of a throwaway database; skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_each_hook_under_its_name,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pool_slots, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
