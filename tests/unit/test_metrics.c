/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c - the metric registry: declaring and its refusals,
 * resolving label sets once, lock-free updates from many threads, the
 * off switch, collectors and the exporter's visit.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include <vibebox/metrics.h>

static int setup(void **state)
{
	(void)state;
	vbx__metrics_set_enabled(true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vbx__metrics_fini();
	vbx__metrics_set_enabled(false);
	return 0;
}

static vbx_metric *counter(const char *name, const char *const *labels)
{
	return vbx__metric_new(NULL, VBX_METRIC_COUNTER, name, "help", labels,
	                       NULL, 0);
}

static void test_declare_refusals(void **state)
{
	static const char *const le[] = {"le", NULL};
	static const char *const dunder[] = {"__x", NULL};
	static const char *const nine[] = {"a", "b", "c", "d", "e",
	                                   "f", "g", "h", "i", NULL};
	static const double down[] = {1.0, 0.5};

	(void)state;
	assert_null(counter("requests", NULL)); /* no _total */
	assert_null(counter("9lives_total", NULL));
	assert_null(counter("bad-name_total", NULL));
	assert_null(counter(NULL, NULL));
	assert_null(counter("x_total", dunder));
	assert_null(counter("x_total", nine));
	assert_null(vbx__metric_new(NULL, VBX_METRIC_HISTOGRAM, "h", "", le,
	                            NULL, 0));
	assert_null(vbx__metric_new(NULL, VBX_METRIC_HISTOGRAM, "h", "", NULL,
	                            down, 2));
	assert_null(vbx__metric_new(NULL, 7, "g", "", NULL, NULL, 0));
	assert_non_null(counter("x_total", le)); /* le is fine on a counter */
}

static void test_declare_twice_shares(void **state)
{
	static const char *const a[] = {"method", NULL};
	static const char *const b[] = {"route", NULL};
	vbx_metric *m = counter("shared_total", a);

	(void)state;
	assert_non_null(m);
	assert_ptr_equal(counter("shared_total", a), m);
	assert_null(counter("shared_total", b));
	assert_null(vbx__metric_new(NULL, VBX_METRIC_GAUGE, "shared_total", "",
	                            a, NULL, 0));
}

static void test_series_resolved_once(void **state)
{
	static const char *const labels[] = {"method", "status", NULL};
	vbx_metric *m = counter("req_total", labels);
	vbx_series *s1, *s2, *s3;

	(void)state;
	s1 = vbx__metric_series(m, (const char *[]){"GET", "200"});
	s2 = vbx__metric_series(m, (const char *[]){"GET", "200"});
	s3 = vbx__metric_series(m, (const char *[]){"GET", "404"});
	assert_non_null(s1);
	assert_ptr_equal(s1, s2);
	assert_ptr_not_equal(s1, s3);
	assert_null(vbx__metric_series(m, (const char *[]){"GET", NULL}));
	assert_null(vbx__metric_series(m, NULL));
	assert_null(vbx__metric_series(NULL, NULL));
	vbx_counter_add(s1, 5);
	vbx_counter_inc(s3);
	vbx_counter_inc(NULL); /* a branch, no crash */
	assert_int_equal(vbx_series_count(s1), 5);
	assert_int_equal(vbx_series_count(s3), 1);
}

static void test_off_means_null(void **state)
{
	vbx_metric *m = counter("off_total", NULL);

	(void)state;
	vbx__metrics_set_enabled(false);
	assert_non_null(m); /* declaring still works */
	assert_null(vbx__metric_series(m, NULL));
	assert_int_equal(vbx__metrics_visit(NULL, NULL, NULL), VBX_EUNAVAIL);
}

static void test_many_series_grow(void **state)
{
	static const char *const labels[] = {"n", NULL};
	vbx_metric *m = counter("many_total", labels);
	vbx_series *first = NULL;
	char v[16];

	(void)state;
	for (int i = 0; i < VBX_METRIC_SERIES_MAX; i++) {
		snprintf(v, sizeof(v), "%d", i);
		vbx_series *s = vbx__metric_series(m, (const char *[]){v});
		assert_non_null(s);
		vbx_counter_add(s, (uint64_t)i);
		if (!first)
			first = s;
	}
	/* Cells never move when the table grows. */
	assert_ptr_equal(vbx__metric_series(m, (const char *[]){"0"}), first);
	snprintf(v, sizeof(v), "%d", 777);
	assert_int_equal(
	        vbx_series_count(vbx__metric_series(m, (const char *[]){v})),
	        777);
	assert_null(vbx__metric_series(m, (const char *[]){"one too many"}));
}

static void test_gauge_and_histogram(void **state)
{
	static const double bounds[] = {0.1, 1.0};
	vbx_metric *g = vbx__metric_new(NULL, VBX_METRIC_GAUGE, "open", "",
	                                NULL, NULL, 0);
	vbx_metric *h = vbx__metric_new(NULL, VBX_METRIC_HISTOGRAM, "took", "",
	                                NULL, bounds, 2);
	vbx_series *gs = vbx__metric_series(g, NULL);
	vbx_series *hs = vbx__metric_series(h, NULL);

	(void)state;
	vbx_gauge_set(gs, 3.5);
	vbx_gauge_inc(gs);
	vbx_gauge_dec(gs);
	vbx_gauge_dec(gs);
	assert_true(vbx_series_gauge(gs) == 2.5);
	vbx_histogram_observe(hs, 0.05);
	vbx_histogram_observe(hs, 0.1); /* a bound is its own bucket's */
	vbx_histogram_observe(hs, 0.5);
	vbx_histogram_observe(hs, 30);
	assert_int_equal(vbx_series_bucket(hs, 0), 2);
	assert_int_equal(vbx_series_bucket(hs, 1), 1);
	assert_int_equal(vbx_series_bucket(hs, 2), 1);
	assert_int_equal(vbx_series_count(hs), 4);
	assert_true(vbx_series_sum(hs) > 30.64 && vbx_series_sum(hs) < 30.66);
}

typedef struct {
	vbx_series *c, *g, *h;
} cells;

static void *hammer(void *arg)
{
	cells *c = arg;
	for (int i = 0; i < 100000; i++) {
		vbx_counter_inc(c->c);
		vbx_gauge_add(c->g, 0.5);
		vbx_histogram_observe(c->h, 0.002);
	}
	return NULL;
}

static void test_threads_lose_nothing(void **state)
{
	pthread_t t[4];
	cells c = {
	        .c = vbx__metric_series(counter("hammer_total", NULL), NULL),
	        .g = vbx__metric_series(vbx__metric_new(NULL, VBX_METRIC_GAUGE,
	                                                "hammer_gauge", "",
	                                                NULL, NULL, 0),
	                                NULL),
	        .h = vbx__metric_series(
	                vbx__metric_new(NULL, VBX_METRIC_HISTOGRAM,
	                                "hammer_seconds", "", NULL, NULL, 0),
	                NULL),
	};

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &c), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(vbx_series_count(c.c), 400000);
	assert_true(vbx_series_gauge(c.g) == 200000.0);
	assert_int_equal(vbx_series_count(c.h), 400000);
	assert_int_equal(vbx_series_bucket(c.h, 2), 400000); /* le 0.0025 */
}

typedef struct {
	char out[4096];
	size_t len;
	int families, series;
} visit_log;

static void visit(void *ud, const vbx_metric_info *info,
                  const char *const *values, const vbx_series *s)
{
	visit_log *l = ud;
	if (!s) {
		l->families++;
		l->len += (size_t)snprintf(l->out + l->len,
		                           sizeof(l->out) - l->len, "%s;",
		                           info->name);
		return;
	}
	l->series++;
	l->len += (size_t)snprintf(l->out + l->len, sizeof(l->out) - l->len,
	                           "%s=%s:%llu;",
	                           info->nlabels ? info->labels[0] : "-",
	                           info->nlabels ? values[0] : "-",
	                           (unsigned long long)vbx_series_count(s));
}

static void collect_status(vbx_metric *m, void *ud)
{
	int *calls = ud;
	(*calls)++;
	/* A collector resolves its own series: no deadlock. */
	vbx_gauge_set(vbx__metric_series(m, (const char *[]){"running"}), 3);
}

static void test_visit_in_name_order(void **state)
{
	static const char *const st[] = {"status", NULL};
	vbx_metric *envs = vbx__metric_new(NULL, VBX_METRIC_GAUGE,
	                                   "environments", "", st, NULL, 0);
	vbx_metric *b = counter("b_total", NULL);
	visit_log l = {0};
	int calls = 0;

	(void)state;
	counter("a_total", NULL);
	vbx_counter_add(vbx__metric_series(b, NULL), 2);
	assert_int_equal(vbx__metric_on_collect(envs, collect_status, &calls),
	                 VBX_OK);
	assert_int_equal(vbx__metric_on_collect(NULL, collect_status, NULL),
	                 VBX_EINVAL);
	assert_int_equal(vbx__metrics_visit(NULL, visit, &l), VBX_OK);
	assert_int_equal(calls, 1);
	assert_int_equal(l.families, 3);
	/* A family without labels shows its one series from the start. */
	assert_string_equal(l.out, "vibebox_a_total;-=-:0;"
	                           "vibebox_b_total;-=-:2;"
	                           "vibebox_environments;status=running:"
	                           "4613937818241073152;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_declare_refusals, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_declare_twice_shares,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_series_resolved_once,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_off_means_null, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_many_series_grow, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_gauge_and_histogram, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_threads_lose_nothing,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_visit_in_name_order, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
