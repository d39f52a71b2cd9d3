/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_metrics.c - docker-runtime's runtime_operations_total and
 * runtime_operation_duration_seconds (plugins/docker-runtime/metrics.c):
 * every operation and result resolved at init, each hook's return code
 * counted as its result, the call timed; with metrics off, nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include <vibebox/metrics.h>
#include <vibebox/testing.h>

#include "docker.h"
#include "fakemetrics.h"

#define OPS "vibebox_runtime_operations_total"
#define SECONDS "vibebox_runtime_operation_duration_seconds"

static vbx_test_host *host;

static int setup(void **state)
{
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load(host, &fake_metrics_desc, NULL), VBX_OK);
	assert_int_equal(dkr_metrics_init(vbx_test_plugin(host)), VBX_OK);
	return 0;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

/* First: the registry is off until a "metrics" provider is loaded. */
static void test_off_without_a_provider(void **state)
{
	vbx_test_host *h = vbx_test_host_new();
	assert_non_null(h);
	assert_int_equal(vbx_metrics_enabled(vbx_test_plugin(h)), 0);
	assert_int_equal(dkr_metrics_init(vbx_test_plugin(h)), VBX_OK);
	assert_true(dkr_op_begin() == 0); /* no clock read */
	assert_int_equal(dkr_op_end(DKR_OP_START, 0, VBX_ENOTFOUND),
	                 VBX_ENOTFOUND);
	vbx_test_host_free(h);
}

static void test_every_series_at_init(void **state)
{
	static const char *const ops[] = {
	        "create",    "start",     "stop",           "restart",
	        "remove",    "inspect",   "ports",          "stats",
	        "list",      "ping",      "logs",           "exec",
	        "leftovers", "env_purge", "workspace_keep", "image_check"};
	static const char *const results[] = {"ok", "notfound", "unavailable",
	                                      "timeout", "error"};
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		for (size_t r = 0; r < 5; r++)
			fake_metric(OPS, ops[o], results[r], NULL);
		fake_metric(SECONDS, ops[o], NULL);
	}
}

static void test_results_of_return_codes(void **state)
{
	static const struct {
		int rc;
		const char *result;
	} cases[] = {
	        {VBX_OK, "ok"},
	        {1, "ok"}, /* a list whose callback stopped */
	        {VBX_ENOTFOUND, "notfound"},
	        {VBX_EUNAVAIL, "unavailable"},
	        {VBX_ETIMEDOUT, "timeout"},
	        {VBX_EDENIED, "error"},
	        {VBX_ERR, "error"},
	        {VBX_EINVAL, "error"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double before = fake_metric(OPS, "stop", cases[i].result, NULL);
		double timed = fake_metric(SECONDS, "stop", NULL);
		assert_int_equal(
		        dkr_op_end(DKR_OP_STOP, dkr_op_begin(), cases[i].rc),
		        cases[i].rc);
		assert_true(fake_metric(OPS, "stop", cases[i].result, NULL) ==
		            before + 1);
		assert_true(fake_metric(SECONDS, "stop", NULL) == timed + 1);
	}
}

static void test_the_call_is_timed(void **state)
{
	double sum = fake_metric_sum(SECONDS, "exec", NULL);
	uint64_t t0 = dkr_op_begin();
	struct timespec ms20 = {0, 20 * 1000 * 1000};
	nanosleep(&ms20, NULL); /* the call being timed */
	dkr_op_end(DKR_OP_EXEC, t0, VBX_OK);
	double took = fake_metric_sum(SECONDS, "exec", NULL) - sum;
	assert_true(took >= 0.020 && took < 5.0);
	assert_true(fake_metric(OPS, "exec", "ok", NULL) >= 1);
	assert_true(fake_metric(OPS, "start", "ok", NULL) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_off_without_a_provider),
	        cmocka_unit_test_setup_teardown(test_every_series_at_init,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_results_of_return_codes,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_the_call_is_timed, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
