/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_trace.c - the W3C traceparent/tracestate parser with broken input,
 * and the core's spans: parent-based and ratio sampling, nesting on the
 * thread's current span, the traceparent given to outgoing calls, and
 * what the exporter receives.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "core.h"
#include "trace.h"
#include "traceparent.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static bool parse(const char *s, vbx__traceparent *out)
{
	return vbx__traceparent_parse(s, strlen(s), out);
}

static void test_valid(void **state)
{
	(void)state;
	vbx__traceparent tp;
	char hex[33];
	assert_true(parse(TP, &tp));
	assert_true(tp.sampled);
	vbx__hex_lower(hex, tp.trace_id, 16);
	assert_string_equal(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
	vbx__hex_lower(hex, tp.span_id, 8);
	assert_string_equal(hex, "00f067aa0ba902b7");
	assert_true(parse(" \t" TP " ", &tp)); /* optional whitespace */
	assert_true(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
	                  "-00",
	                  &tp));
	assert_false(tp.sampled);
	/* other flag bits are not ours to judge; bit 0 decides */
	assert_true(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
	                  "-03",
	                  &tp));
	assert_true(tp.sampled);
}

static void test_broken(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "00",
	        "00-",
	        /* upper case hex */
	        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
	        /* other versions: level 1 parses 00 only */
	        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	        /* all-zero ids */
	        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
	        /* lengths */
	        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab",
	        /* separators and digits */
	        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
	        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
	        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	        "00 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01",
	};
	vbx__traceparent tp;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (parse(bad[i], &tp))
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_false(vbx__traceparent_parse(NULL, 0, &tp));
	/* the length given counts, not a NUL */
	assert_false(vbx__traceparent_parse(TP, strlen(TP) - 1, &tp));
	char nul[64];
	memcpy(nul, TP, sizeof(TP));
	nul[20] = '\0';
	assert_false(vbx__traceparent_parse(nul, strlen(TP), &tp));
}

static void test_tracestate(void **state)
{
	(void)state;
	size_t start, n;
	const char *ts = "  vendor=abc,other=1 ";
	assert_true(vbx__tracestate_ok(ts, strlen(ts), 512, &start, &n));
	assert_int_equal(start, 2);
	assert_int_equal(n, strlen("vendor=abc,other=1"));
	assert_false(vbx__tracestate_ok("", 0, 512, &start, &n));
	assert_false(vbx__tracestate_ok("   ", 3, 512, &start, &n));
	assert_false(vbx__tracestate_ok("a=b\r\nX: y", 9, 512, &start, &n));
	assert_false(vbx__tracestate_ok("a=\xc3\xa9", 4, 512, &start, &n));
	assert_false(vbx__tracestate_ok("a=bcdef", 7, 6, &start, &n));
	assert_true(vbx__tracestate_ok("a=bcde", 6, 6, &start, &n));
	assert_false(vbx__tracestate_ok(NULL, 0, 6, &start, &n));
}

static void test_format_round_trip(void **state)
{
	(void)state;
	vbx__traceparent tp, again;
	char buf[VBX_TRACEPARENT_LEN + 1];
	assert_true(parse(TP, &tp));
	vbx__traceparent_format(buf, tp.trace_id, tp.span_id, true);
	assert_string_equal(buf, TP);
	assert_true(parse(buf, &again));
	assert_memory_equal(&tp, &again, sizeof(tp));
	vbx__traceparent_format(buf, tp.trace_id, tp.span_id, false);
	assert_string_equal(buf + 53, "00");
}

/* ---- spans ---- */

#define MAX_GOT 8
typedef struct got {
	size_t n;
	vbx_span_data d[MAX_GOT];
	char names[MAX_GOT][64];
	char attr0[MAX_GOT][64];
} got;

static void collect(void *ud, const vbx_span_data *s)
{
	got *g = ud;
	assert_true(g->n < MAX_GOT);
	g->d[g->n] = *s;
	snprintf(g->names[g->n], 64, "%s", s->name);
	snprintf(g->attr0[g->n], 64, "%s",
	         s->nattrs && s->attrs[0].str ? s->attrs[0].str : "");
	g->d[g->n].name = g->names[g->n];
	g->n++;
}

static int teardown(void **state)
{
	(void)state;
	vbx__trace_reset();
	return 0;
}

static void test_nothing_without_exporter(void **state)
{
	(void)state;
	vbx__arena *a = vbx__arena_new(1024);
	vbx__trace t;
	vbx__trace_begin(&t, TP, NULL, "GET", VBX_SPAN_SERVER, a);
	assert_false(t.active);
	assert_null(t.span);
	assert_null(vbx__span_start(NULL, "x", VBX_SPAN_INTERNAL));
	char buf[VBX_TRACEPARENT_LEN + 1] = "junk";
	assert_int_equal(vbx__traceparent_current(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	vbx__arena_free(a);
}

static void test_parent_based(void **state)
{
	(void)state;
	got g = {0};
	vbx__arena *a = vbx__arena_new(1024);
	vbx__trace t;
	assert_int_equal(vbx__trace_exporter_set(NULL, 0.0, collect, &g),
	                 VBX_OK);
	assert_int_equal(vbx__trace_exporter_set(NULL, 0.0, collect, &g),
	                 VBX_EEXIST);
	/* sampled parent at ratio 0: recorded, trace kept */
	vbx__trace_begin(&t, TP, "v=1", "GET /x", VBX_SPAN_SERVER, a);
	assert_true(t.active && t.sampled);
	assert_string_equal(t.hex, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(t.tracestate, "v=1");
	assert_non_null(t.span);

	vbx_span *was = vbx__trace_enter(t.span);
	vbx_span *c = vbx__span_start(NULL, "child", VBX_SPAN_CLIENT);
	assert_non_null(c);
	vbx__span_attr(c, VBX_ATTR_STRING, "k", "v", 0);
	char buf[VBX_TRACEPARENT_LEN + 1];
	assert_int_equal(vbx__traceparent_current(NULL, buf, sizeof(buf)),
	                 VBX_TRACEPARENT_LEN);
	vbx__span_op(c, VBX__SPAN_END, NULL, NULL, 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "child");
	assert_string_equal(g.attr0[0], "v");
	assert_int_equal(g.d[0].kind, VBX_SPAN_CLIENT);
	char hex[17];
	vbx__hex_lower(hex, g.d[0].span_id, 8);
	assert_memory_equal(buf + 36, hex, 16); /* outgoing parent = child */
	assert_true(g.d[0].start_ns <= g.d[0].end_ns);
	vbx__trace_leave(was);

	vbx__span_attr(t.span, VBX__SPAN_ERROR, NULL, "boom", 0);
	vbx__span_end(t.span);
	assert_int_equal(g.n, 2);
	vbx__hex_lower(hex, g.d[1].parent_id, 8);
	assert_string_equal(hex, "00f067aa0ba902b7");
	assert_memory_equal(g.d[0].parent_id, g.d[1].span_id, 8);
	assert_int_equal(g.d[1].status, VBX_SPAN_ERROR);

	/* unsampled parent, and a new root at ratio 0: nothing */
	vbx__trace_begin(&t,
	                 "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
	                 "-00",
	                 NULL, "GET", VBX_SPAN_SERVER, a);
	assert_true(t.active);
	assert_false(t.sampled);
	assert_null(t.span);
	vbx__trace_begin(&t, "garbage", "v=1", "GET", VBX_SPAN_SERVER, a);
	assert_true(t.active);
	assert_false(t.sampled);
	assert_null(t.tracestate); /* goes with an invalid traceparent */
	assert_string_not_equal(t.hex, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_int_equal(g.n, 2);
	vbx__arena_free(a);
}

static void test_ratio(void **state)
{
	(void)state;
	got g = {0};
	unsigned char id[16] = {0};
	assert_int_equal(vbx__trace_exporter_set(NULL, 1.5, collect, &g),
	                 VBX_EINVAL);
	assert_int_equal(vbx__trace_exporter_set(NULL, 0.25, collect, &g),
	                 VBX_OK);
	/* the low 56 bits of the id against a quarter of their range */
	id[9] = 0x3f;
	id[15] = 0xff;
	assert_true(vbx__trace_sampled_id(id));
	id[9] = 0x40;
	id[15] = 0x00;
	assert_false(vbx__trace_sampled_id(id));
	/* roughly a quarter of random roots */
	vbx__arena *a = vbx__arena_new(1024);
	int sampled = 0;
	for (int i = 0; i < 4000; i++) {
		vbx__trace t;
		vbx__trace_begin(&t, NULL, NULL, "GET", VBX_SPAN_SERVER, a);
		sampled += t.sampled;
		vbx__span_discard(t.span);
	}
	assert_in_range(sampled, 800, 1200);
	vbx__arena_free(a);
}

static void test_hooks_traced(void **state)
{
	(void)state;
	got g = {0};
	assert_false(vbx__trace_hook_wanted("store_env_get"));
	assert_int_equal(vbx__trace_exporter_set(NULL, 1.0, collect, &g),
	                 VBX_OK);
	assert_true(vbx__trace_hook_wanted("store_env_get"));
	assert_true(vbx__trace_hook_wanted("runtime_start"));
	assert_true(vbx__trace_hook_wanted("cache_get"));
	assert_false(vbx__trace_hook_wanted("authenticate"));
	assert_false(vbx__trace_hook_wanted("request_admit"));
	assert_false(vbx__trace_hook_wanted("store"));
	/* outside any request, a traced hook's run records nothing */
	assert_null(vbx__span_start(NULL, "x", VBX_SPAN_INTERNAL));
}

static void test_attrs_bounded(void **state)
{
	(void)state;
	got g = {0};
	unsigned char id[16] = {1}, parent[8] = {2};
	char big[2048];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vbx__trace_exporter_set(NULL, 1.0, collect, &g),
	                 VBX_OK);
	vbx_span *s = vbx__span_new(id, parent, "n", VBX_SPAN_INTERNAL, NULL);
	for (int i = 0; i < VBX_SPAN_ATTRS_MAX + 3; i++)
		vbx__span_attr(s, VBX_ATTR_STRING, "k", big, 0);
	vbx__span_end(s);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.d[0].nattrs, VBX_SPAN_ATTRS_MAX);
	assert_int_equal(g.d[0].dropped_attrs, 3);
	vbx__span_end(NULL);
	vbx__span_discard(NULL);
	vbx__span_attr(NULL, VBX_ATTR_INT, "k", NULL, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid),
	        cmocka_unit_test(test_broken),
	        cmocka_unit_test(test_tracestate),
	        cmocka_unit_test(test_format_round_trip),
	        cmocka_unit_test_teardown(test_nothing_without_exporter,
	                                  teardown),
	        cmocka_unit_test_teardown(test_parent_based, teardown),
	        cmocka_unit_test_teardown(test_ratio, teardown),
	        cmocka_unit_test_teardown(test_hooks_traced, teardown),
	        cmocka_unit_test_teardown(test_attrs_bounded, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
