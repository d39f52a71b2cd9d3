/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_coremetrics.c - the core's own metrics on the real registry: HTTP
 * requests per route pattern (HEAD apart, unmatched, methods outside the
 * known set, statuses out of range), WebSocket gauges and counters,
 * secret, certificate and key files that stop being readable, readiness
 * gauges, and nothing at all while no plugin provides "metrics".
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "coremetrics.h"
#include <vibebox/metrics.h>

/* What one visit saw of one sample: "name{v1,v2,...}" -> value. */
typedef struct seen {
	char key[512];
	double value;
} seen;

typedef struct seen_all {
	seen s[256];
	size_t n;
} seen_all;

static void record(void *ud, const vbx_metric_info *info,
                   const char *const *values, const vbx_series *s)
{
	seen_all *all = ud;
	if (!s || all->n == 256)
		return;
	seen *x = &all->s[all->n++];
	int off = snprintf(x->key, sizeof(x->key), "%s{", info->name);
	for (size_t i = 0; i < info->nlabels; i++)
		off += snprintf(x->key + off, sizeof(x->key) - (size_t)off,
		                "%s%s", i ? "," : "", values[i]);
	snprintf(x->key + off, sizeof(x->key) - (size_t)off, "}");
	x->value = info->type == VBX_METRIC_GAUGE ? vbx_series_gauge(s)
	                                          : (double)vbx_series_count(s);
}

/* The value of key, or -1 when there is no such sample. */
static double get(const char *key)
{
	static seen_all all;
	all.n = 0;
	assert_int_equal(vbx__metrics_visit(NULL, record, &all), VBX_OK);
	for (size_t i = 0; i < all.n; i++)
		if (!strcmp(all.s[i].key, key))
			return all.s[i].value;
	return -1;
}

static const vbx_ws_ops ws_ops; /* only its address: a WS route */
static vbx__route items, ws;

static int setup(void **state)
{
	(void)state;
	items = (vbx__route){.method = "GET", .pattern = "/api/v1/items/{id}"};
	ws = (vbx__route){
	        .method = "GET", .pattern = "/api/v1/ws", .ws = &ws_ops};
	vbx__metrics_set_enabled(true);
	vbx__core_metrics_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vbx__core_metrics_fini();
	vbx__metrics_fini();
	vbx__metrics_set_enabled(false);
	return 0;
}

static void test_http_by_pattern(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		vbx__http_metrics_observe(&items, "GET", 200, 0.003);
	vbx__http_metrics_observe(&items, "GET", 404, 0.2);
	vbx__http_metrics_observe(&items, "HEAD", 200, 0.001);
	assert_true(get("vibebox_http_requests_total{GET,/api/v1/items/{id},"
	                "200}") == 3);
	assert_true(get("vibebox_http_requests_total{GET,/api/v1/items/{id},"
	                "404}") == 1);
	assert_true(get("vibebox_http_requests_total{HEAD,/api/v1/items/{id},"
	                "200}") == 1);
	assert_true(get("vibebox_http_request_duration_seconds{GET,/api/v1/"
	                "items/{id}}") == 4);
	assert_non_null(items.metrics); /* resolved once, kept on the route */
}

static void test_http_unmatched(void **state)
{
	(void)state;
	vbx__http_metrics_observe(NULL, "GET", 404, 0.001);
	vbx__http_metrics_observe(NULL, "BREW", 405, 0.001);
	vbx__http_metrics_observe(NULL, "DELETE", 405, 0.001);
	vbx__http_metrics_observe(&items, "GET", 999, 0.001);
	assert_true(get("vibebox_http_requests_total{GET,unmatched,404}") == 1);
	assert_true(get("vibebox_http_requests_total{other,unmatched,405}") ==
	            1);
	assert_true(get("vibebox_http_requests_total{DELETE,unmatched,405}") ==
	            1);
	assert_true(get("vibebox_http_requests_total{GET,/api/v1/items/{id},"
	                "999}") == 1);
}

static void test_websockets(void **state)
{
	(void)state;
	vbx__ws_metrics_conn(&ws, +1);
	vbx__ws_metrics_conn(&ws, +1);
	vbx__ws_metrics_message(&ws, true);
	vbx__ws_metrics_message(&ws, false);
	vbx__ws_metrics_message(&ws, false);
	assert_true(get("vibebox_websocket_connections{/api/v1/ws}") == 2);
	vbx__ws_metrics_conn(&ws, -1);
	assert_true(get("vibebox_websocket_connections{/api/v1/ws}") == 1);
	assert_true(get("vibebox_websocket_messages_total{/api/v1/ws,in}") ==
	            1);
	assert_true(get("vibebox_websocket_messages_total{/api/v1/ws,out}") ==
	            2);
	vbx__ws_metrics_conn(NULL, +1); /* no route: nothing, no crash */
}

static void test_secret_files(void **state)
{
	char path[] = "/tmp/vbx-coremetrics-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	vbx__secret_file_note("plugins.auth", "jwt_secret_file", path);
	assert_true(get("vibebox_file_readable{auth,jwt_secret_file}") == 1);
	unlink(path);
	assert_true(get("vibebox_file_readable{auth,jwt_secret_file}") == 0);
	/* the same key again (a reload): the new path counts */
	vbx__secret_file_note("plugins.auth", "jwt_secret_file", "/");
	assert_true(get("vibebox_file_readable{auth,jwt_secret_file}") == 1);
}

/* Certificate and key options read as strings are watched too. */
static void test_cert_and_key_files(void **state)
{
	vbx__conf *c = NULL;
	const char *v;

	(void)state;
	assert_int_equal(
	        vbx__conf_load_buffer("plugins = ( { name = \"p\"; config = {"
	                              " tls_cert_file = \"/\";"
	                              " tls_key_file = \"/nonexistent/k\";"
	                              " fail_file = \"/\"; }; } );",
	                              "mem.conf", &c, NULL),
	        VBX_OK);
	vbx_config *b = c->plugins[0].block;
	assert_int_equal(vbx__cfg_string(b, "tls_cert_file", NULL, &v), VBX_OK);
	assert_int_equal(vbx__cfg_string(b, "tls_key_file", NULL, &v), VBX_OK);
	assert_int_equal(vbx__cfg_string(b, "fail_file", NULL, &v), VBX_OK);
	assert_true(get("vibebox_file_readable{p,tls_cert_file}") == 1);
	assert_true(get("vibebox_file_readable{p,tls_key_file}") == 0);
	assert_true(get("vibebox_file_readable{p,fail_file}") == -1);
	vbx__conf_free(c);
}

static void test_readiness(void **state)
{
	(void)state;
	vbx__health_metrics_ready(false);
	vbx__health_metrics_check("postgres", false);
	vbx__health_metrics_check("events", true);
	vbx__health_metrics_check(NULL, true); /* ignored */
	/* the scrape computes readiness only when none is recent */
	assert_true(get("vibebox_health_ready{}") == 0);
	assert_true(get("vibebox_health_check_up{postgres}") == 0);
	assert_true(get("vibebox_health_check_up{events}") == 1);
}

static void test_off_without_a_provider(void **state)
{
	vbx__route r = {.method = "GET", .pattern = "/off"};

	(void)state;
	vbx__metrics_set_enabled(false);
	vbx__core_metrics_init();
	vbx__http_metrics_observe(&r, "GET", 200, 0.1);
	vbx__ws_metrics_conn(&r, +1);
	assert_null(r.metrics); /* one branch, nothing resolved */
	assert_int_equal(vbx__metrics_visit(NULL, record, &(seen_all){0}),
	                 VBX_EUNAVAIL);
	vbx__core_metrics_fini();
	vbx__metrics_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_http_by_pattern, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_http_unmatched, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_websockets, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_secret_files, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_cert_and_key_files, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_readiness, setup,
	                                        teardown),
	        cmocka_unit_test(test_off_without_a_provider),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
