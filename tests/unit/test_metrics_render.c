/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics_render.c - the metrics plugin's pure parts: the exposition
 * in both formats (escaping, counters' _total, cumulative buckets, +Inf,
 * empty families, numbers that round-trip, # EOF), a 10,000-series
 * render through the real registry, the Accept header and the listener's
 * request heads, well-formed and broken.
 */
#include "vbx_build.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "mx.h"

/* ---- rendering by hand-made families ---- */

static const char *const two[] = {"path", "code"};

static vbx_metric_info info_of(const char *name, const char *help, int type,
                               size_t nlabels, const char *const *labels)
{
	return (vbx_metric_info){.name = name,
	                         .help = help,
	                         .type = type,
	                         .nlabels = nlabels,
	                         .labels = labels};
}

static char *render(mx_format f, void (*fill)(mx_render *))
{
	static mx_buf b;
	mx_buf_free(&b);
	mx_render r = {.out = &b, .format = f};
	fill(&r);
	mx_render_end(&r);
	assert_false(b.oom);
	return b.data ? b.data : "";
}

static void fill_counter(mx_render *r)
{
	vbx_metric_info i =
	        info_of("vibebox_x_total", "Things \\ done\nok \"q\"",
	                VBX_METRIC_COUNTER, 2, two);
	vbx_series s = {.value = 42, .type = VBX_METRIC_COUNTER};
	const char *v[] = {"a\"b\\c\nd", "200"};
	mx_render_visit(r, &i, NULL, NULL);
	mx_render_visit(r, &i, v, &s);
}

static void test_counter_text(void **state)
{
	(void)state;
	assert_string_equal(
	        render(MX_TEXT, fill_counter),
	        "# HELP vibebox_x_total Things \\\\ done\\nok \"q\"\n"
	        "# TYPE vibebox_x_total counter\n"
	        "vibebox_x_total{path=\"a\\\"b\\\\c\\nd\",code=\"200\"} 42\n");
}

static void test_counter_openmetrics(void **state)
{
	(void)state;
	assert_string_equal(
	        render(MX_OPENMETRICS, fill_counter),
	        "# HELP vibebox_x Things \\\\ done\\nok \\\"q\\\"\n"
	        "# TYPE vibebox_x counter\n"
	        "vibebox_x_total{path=\"a\\\"b\\\\c\\nd\",code=\"200\"} 42\n"
	        "# EOF\n");
}

static const double bounds[] = {0.5, 1, 2.5};

static void fill_histogram(mx_render *r)
{
	static const char *const one[] = {"op"};
	vbx_metric_info i = info_of("vibebox_d_seconds", "D.",
	                            VBX_METRIC_HISTOGRAM, 1, one);
	uint64_t buckets[] = {1, 0, 3, 2};
	double sum = 11.25;
	vbx_series s = {.value = 6,
	                .buckets = buckets,
	                .bounds = bounds,
	                .nbounds = 3,
	                .type = VBX_METRIC_HISTOGRAM};
	memcpy(&s.sum, &sum, sizeof(sum));
	const char *v[] = {"get"};
	mx_render_visit(r, &i, NULL, NULL);
	mx_render_visit(r, &i, v, &s);
}

static void test_histogram_is_cumulative(void **state)
{
	(void)state;
	assert_string_equal(
	        render(MX_TEXT, fill_histogram),
	        "# HELP vibebox_d_seconds D.\n"
	        "# TYPE vibebox_d_seconds histogram\n"
	        "vibebox_d_seconds_bucket{op=\"get\",le=\"0.5\"} 1\n"
	        "vibebox_d_seconds_bucket{op=\"get\",le=\"1\"} 1\n"
	        "vibebox_d_seconds_bucket{op=\"get\",le=\"2.5\"} 4\n"
	        "vibebox_d_seconds_bucket{op=\"get\",le=\"+Inf\"} 6\n"
	        "vibebox_d_seconds_count{op=\"get\"} 6\n"
	        "vibebox_d_seconds_sum{op=\"get\"} 11.25\n");
	assert_non_null(strstr(render(MX_OPENMETRICS, fill_histogram),
	                       "_sum{op=\"get\"} 11.25\n# EOF\n"));
}

static void fill_empty_and_gauges(mx_render *r)
{
	vbx_metric_info e =
	        info_of("vibebox_empty", "", VBX_METRIC_GAUGE, 1, two);
	vbx_metric_info g =
	        info_of("vibebox_g", "G.", VBX_METRIC_GAUGE, 0, NULL);
	vbx_series s = {.type = VBX_METRIC_GAUGE};
	mx_render_visit(r, &e, NULL, NULL);
	mx_render_visit(r, &g, NULL, NULL);
	s.value = vbx__metric_bits(-0.1);
	mx_render_visit(r, &g, NULL, &s);
}

static void test_empty_family_and_gauge(void **state)
{
	(void)state;
	assert_string_equal(render(MX_TEXT, fill_empty_and_gauges),
	                    "# HELP vibebox_empty \n"
	                    "# TYPE vibebox_empty gauge\n"
	                    "# HELP vibebox_g G.\n"
	                    "# TYPE vibebox_g gauge\n"
	                    "vibebox_g -0.1\n");
	char *om = strdup(render(MX_OPENMETRICS, fill_empty_and_gauges));
	const char *tail = "vibebox_g -0.1\n# EOF\n";
	assert_non_null(om);
	assert_true(strlen(om) > strlen(tail));
	assert_string_equal(om + strlen(om) - strlen(tail), tail);
	free(om);
}

static void fill_nothing(mx_render *r)
{
	(void)r;
}

static void test_empty_exposition(void **state)
{
	(void)state;
	assert_string_equal(render(MX_TEXT, fill_nothing), "");
	assert_string_equal(render(MX_OPENMETRICS, fill_nothing), "# EOF\n");
}

static void test_doubles_round_trip(void **state)
{
	const double vs[] = {0.1,    1.0 / 3, 1e-300, 123456789.125,
	                     1e21,   -2.5,    0,      0.00019195499999999997,
	                     DBL_MAX};
	char buf[40];

	(void)state;
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
		assert_true(strtod(mx_fmt_double(vs[i], buf, sizeof(buf)),
		                   NULL) == vs[i]);
	assert_string_equal(mx_fmt_double(0.1, buf, sizeof(buf)), "0.1");
	assert_string_equal(mx_fmt_double(1, buf, sizeof(buf)), "1");
	assert_string_equal(mx_fmt_double(INFINITY, buf, sizeof(buf)), "+Inf");
	assert_string_equal(mx_fmt_double(-INFINITY, buf, sizeof(buf)), "-Inf");
	assert_string_equal(mx_fmt_double(NAN, buf, sizeof(buf)), "NaN");
}

/* ---- 10,000 series through the registry ---- */

static void test_ten_thousand_series(void **state)
{
	static const char *const labels[] = {"id", NULL};
	mx_buf b = {0};
	mx_render r = {.out = &b, .format = MX_TEXT};
	char id[16];

	(void)state;
	vbx__metrics_set_enabled(true);
	vbx_metric *m = vbx__metric_new(NULL, VBX_METRIC_COUNTER, "many_total",
	                                "Many.", labels, NULL, 0);
	assert_non_null(m);
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		const char *v = id;
		vbx_counter_add(vbx__metric_series(m, &v), (uint64_t)i);
	}
	assert_int_equal(vbx__metrics_visit(NULL, mx_render_visit, &r), VBX_OK);
	assert_false(b.oom);
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	assert_int_equal(lines, 10002);
	assert_non_null(strstr(b.data, "\nvibebox_many_total{id=\"9999\"} "
	                               "9999\n"));
	/* one buffer, grown by doubling: at most twice what it holds */
	assert_true(b.cap < 2 * b.len + 4096);
	mx_buf_free(&b);
	vbx__metrics_fini();
	vbx__metrics_set_enabled(false);
}

/* ---- Accept ---- */

static void test_accept_formats(void **state)
{
	(void)state;
	assert_int_equal(mx_accept_format(NULL), MX_TEXT);
	assert_int_equal(mx_accept_format(""), MX_TEXT);
	assert_int_equal(mx_accept_format("*/*"), MX_TEXT);
	assert_int_equal(mx_accept_format("text/plain;version=0.0.4"), MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text"),
	                 MX_OPENMETRICS);
	/* what Prometheus 2.x sends */
	assert_int_equal(
	        mx_accept_format("application/openmetrics-text;version=1.0.0,"
	                         "application/openmetrics-text;version=0.0.1;"
	                         "q=0.75,text/plain;version=0.0.4;q=0.5,*/"
	                         "*;q=0.1"),
	        MX_OPENMETRICS);
	assert_int_equal(mx_accept_format("Application/OpenMetrics-Text ; "
	                                  "q=0.9 , text/plain;q=0.8"),
	                 MX_OPENMETRICS);
	assert_int_equal(mx_accept_format("text/plain, "
	                                  "application/openmetrics-text;q=0.5"),
	                 MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text;q=0"),
	                 MX_TEXT);
}

static void test_accept_broken(void **state)
{
	char *big = malloc(10000);

	(void)state;
	assert_int_equal(mx_accept_format(";;;,,,"), MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text;q="),
	                 MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text;q=2"),
	                 MX_TEXT);
	assert_int_equal(
	        mx_accept_format("application/openmetrics-text;q=0.12345"),
	        MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text;q=x"),
	                 MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-textX"),
	                 MX_TEXT);
	assert_int_equal(mx_accept_format("application/openmetrics-text;"),
	                 MX_OPENMETRICS);
	memset(big, ' ', 9999);
	big[9999] = '\0';
	memcpy(big, "application/openmetrics-text", 28);
	assert_int_equal(mx_accept_format(big), MX_TEXT); /* over the bound */
	free(big);
}

/* ---- request heads ---- */

static long parse(const char *text, mx_req *req)
{
	static char buf[MX_REQ_MAX + 64];
	size_t n = strlen(text);
	memcpy(buf, text, n + 1);
	return mx_req_parse(buf, n, req);
}

static void test_request_heads(void **state)
{
	mx_req q;
	const char *get = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n"
	                  "Accept: text/plain\r\nAuthorization:  Bearer t \r\n"
	                  "\r\nGET /next";

	(void)state;
	assert_int_equal(parse(get, &q), strstr(get, "GET /next") - get);
	assert_string_equal(q.method, "GET");
	assert_string_equal(q.path, "/metrics");
	assert_string_equal(q.accept, "text/plain");
	assert_string_equal(q.authorization, "Bearer t");
	assert_true(q.keep_alive);
	assert_false(q.has_body);
	assert_true(parse("HEAD / HTTP/1.0\n\n", &q) > 0);
	assert_false(q.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &q) >
	            0);
	assert_false(q.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &q) >
	            0);
	assert_true(q.has_body);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &q), 0);
}

static void test_request_heads_broken(void **state)
{
	static const char *const bad[] = {
	        "\r\n\r\n",
	        "GET\r\n\r\n",
	        "GET /\r\n\r\n",
	        "GET / HTTP/2\r\n\r\n",
	        "get / HTTP/1.1\r\n\r\n",
	        "GET x HTTP/1.1\r\n\r\n",
	        "GET / HTTP/1.1 x\r\n\r\n",
	        "GET /a\x01 HTTP/1.1\r\n\r\n",
	        "GET / HTTP/1.1\r\nno colon\r\n\r\n",
	        "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
	        "GET / HTTP/1.1\r\nA B: c\r\n\r\n",
	        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
	};
	char *big = malloc(MX_REQ_MAX + 1);
	mx_req q;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &q), -1);
	char nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
	assert_int_equal(mx_req_parse(nul, sizeof(nul) - 1, &q), -1);
	memset(big, 'a', MX_REQ_MAX);
	big[MX_REQ_MAX] = '\0';
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(mx_req_parse(big, MX_REQ_MAX, &q), -1);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_counter_text),
	        cmocka_unit_test(test_counter_openmetrics),
	        cmocka_unit_test(test_histogram_is_cumulative),
	        cmocka_unit_test(test_empty_family_and_gauge),
	        cmocka_unit_test(test_empty_exposition),
	        cmocka_unit_test(test_doubles_round_trip),
	        cmocka_unit_test(test_ten_thousand_series),
	        cmocka_unit_test(test_accept_formats),
	        cmocka_unit_test(test_accept_broken),
	        cmocka_unit_test(test_request_heads),
	        cmocka_unit_test(test_request_heads_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
