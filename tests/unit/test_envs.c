/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_envs.c - the pure helpers of the environment endpoints
 * (plugins/platform/envs.h, envparse.c): CPU hundredths, image references,
 * variable names, ?tail=, ?since=, path ports and the splitting of log
 * output into lines, with broken inputs. The RFC 3339 parser under
 * ?since= and the log lines' times is the SDK's vbx_time_parse(), whose
 * cases (and these ones, every one) are in test_util.c.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "envs.h"

static void test_cpu_hundredths(void **state)
{
	assert_true(vbx__env_cpu_hundredths(0.5));
	assert_true(vbx__env_cpu_hundredths(1.25));
	assert_true(vbx__env_cpu_hundredths(2));
	assert_true(vbx__env_cpu_hundredths(0.01));
	assert_true(vbx__env_cpu_hundredths(0.07)); /* 7.000000000000001 */
	assert_true(vbx__env_cpu_hundredths(1.1));
	assert_false(vbx__env_cpu_hundredths(0.125));
	assert_false(vbx__env_cpu_hundredths(0.001));
	assert_false(vbx__env_cpu_hundredths(0));
	assert_false(vbx__env_cpu_hundredths(-1));
	assert_false(vbx__env_cpu_hundredths(1.0 / 0.0));
	assert_false(vbx__env_cpu_hundredths(0.0 / 0.0));
	assert_false(vbx__env_cpu_hundredths(1e300));
}

static void test_image(void **state)
{
	assert_true(vbx__env_image_ok("debian:12"));
	assert_true(vbx__env_image_ok("vibebox/test:latest"));
	assert_true(vbx__env_image_ok("registry.example.com:5000/a/b:1.2"));
	assert_true(vbx__env_image_ok("busybox@sha256:0123abcd"));
	assert_false(vbx__env_image_ok(""));
	assert_false(vbx__env_image_ok("-rm"));
	assert_false(vbx__env_image_ok(":tag"));
	assert_false(vbx__env_image_ok("a b"));
	assert_false(vbx__env_image_ok("a//b"));
	assert_false(vbx__env_image_ok("a/../b"));
	assert_false(vbx__env_image_ok("debian:"));
	assert_false(vbx__env_image_ok("debian/"));
	assert_false(vbx__env_image_ok("deb\nian"));
	assert_false(vbx__env_image_ok("débian"));
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(vbx__env_image_ok(big));
	big[VBX__ENV_IMAGE_MAX] = '\0';
	assert_true(vbx__env_image_ok(big));
}

static void test_var_key(void **state)
{
	assert_true(vbx__env_var_key_ok("PATH"));
	assert_true(vbx__env_var_key_ok("_x1"));
	assert_true(vbx__env_var_key_ok("a"));
	assert_false(vbx__env_var_key_ok(""));
	assert_false(vbx__env_var_key_ok("1A"));
	assert_false(vbx__env_var_key_ok("A-B"));
	assert_false(vbx__env_var_key_ok("A=B"));
	assert_false(vbx__env_var_key_ok("A B"));
	char big[140];
	memset(big, 'K', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(vbx__env_var_key_ok(big));
	big[128] = '\0';
	assert_true(vbx__env_var_key_ok(big));
}

static void test_tail(void **state)
{
	int t = -1;
	assert_int_equal(vbx__env_tail_parse(NULL, &t), VBX_OK);
	assert_int_equal(t, VBX__ENV_TAIL_DEFAULT);
	assert_int_equal(vbx__env_tail_parse("0", &t), VBX_OK);
	assert_int_equal(t, 0);
	assert_int_equal(vbx__env_tail_parse("10000", &t), VBX_OK);
	assert_int_equal(t, 10000);
	t = 7;
	const char *bad[] = {
	        "",    "10001", "-1", "1.5", "abc",
	        "1e3", " 5",    "5 ", "+5",  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vbx__env_tail_parse(bad[i], &t), VBX_EINVAL);
	assert_int_equal(t, 7);
}

static void test_since(void **state)
{
	int64_t s = -1;
	assert_int_equal(vbx__env_since_parse(NULL, &s), VBX_OK);
	assert_int_equal(s, 0);
	assert_int_equal(vbx__env_since_parse("1795781091", &s), VBX_OK);
	assert_int_equal(s, 1795781091);
	assert_int_equal(vbx__env_since_parse("2026-11-27T12:04:51.999Z", &s),
	                 VBX_OK);
	assert_int_equal(s, 1795781091);
	s = 5;
	const char *bad[] = {"", "-5", "1.5", "yesterday", "1e9", "2026-11-27",
	                     "999999999999999999999", "1969-12-31T23:59:59Z",
	                     /* the logs stream took these (strptime) until
	                      * it read ?since= here too */
	                     "2026-1-27T12:04:51Z", " 2026-11-27T12:04:51Z",
	                     "2026-11-27T12:04:51+xx:yy",
	                     "2026-11-27T12:04:51.1234567890Z",
	                     "2026-02-30T00:00:00Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vbx__env_since_parse(bad[i], &s) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(s, 5);
}

static void test_port(void **state)
{
	assert_int_equal(vbx__env_port_parse("1"), 1);
	assert_int_equal(vbx__env_port_parse("8080"), 8080);
	assert_int_equal(vbx__env_port_parse("65535"), 65535);
	assert_int_equal(vbx__env_port_parse("0"), 0);
	assert_int_equal(vbx__env_port_parse("65536"), 0);
	assert_int_equal(vbx__env_port_parse("-1"), 0);
	assert_int_equal(vbx__env_port_parse("80a"), 0);
	assert_int_equal(vbx__env_port_parse(""), 0);
	assert_int_equal(vbx__env_port_parse(NULL), 0);
	assert_int_equal(vbx__env_port_parse("99999999999999999999"), 0);
}

/* ---- log lines ---- */

typedef struct got_lines {
	int n;
	int channel[8];
	int64_t ms[8];
	char text[8][80];
	int stop_after; /* 0: never */
} got_lines;

static int collect(void *ctx, int channel, int64_t ms, const char *text)
{
	got_lines *g = ctx;
	if (g->n < 8) {
		g->channel[g->n] = channel;
		g->ms[g->n] = ms;
		snprintf(g->text[g->n], sizeof(g->text[0]), "%s", text);
	}
	g->n++;
	return g->n == g->stop_after ? 42 : 0;
}

static void feed(vbx__env_lines *l, int channel, const char *s)
{
	assert_int_equal(vbx__env_lines_feed(l, channel, s, strlen(s)), 0);
}

static void test_lines(void **state)
{
	got_lines g = {0};
	vbx__env_lines l = {.each = collect, .ctx = &g};
	feed(&l, VBX_STREAM_STDOUT, "2026-11-27T12:04:51.000000001Z hel");
	feed(&l, VBX_STREAM_STDERR, "2026-11-27T12:04:52Z oops\r\n");
	assert_int_equal(g.n, 1); /* stdout's line is not finished */
	feed(&l, VBX_STREAM_STDOUT, "lo\nno time here\n");
	feed(&l, VBX_STREAM_STDOUT, "bad \xff\xc3 utf8");
	assert_int_equal(g.n, 3);
	assert_int_equal(vbx__env_lines_finish(&l), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.channel[0], VBX_STREAM_STDERR);
	assert_string_equal(g.text[0], "oops");
	assert_int_equal(g.ms[0], 1795781092000LL);
	assert_int_equal(g.channel[1], VBX_STREAM_STDOUT);
	assert_string_equal(g.text[1], "hello");
	assert_int_equal(g.ms[1], 1795781091000LL);
	assert_string_equal(g.text[2], "no time here");
	assert_int_equal(g.ms[2], 0);
	assert_string_equal(g.text[3], "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
	assert_null(l.part[0].buf);
	assert_null(l.part[1].buf);
}

static void test_lines_long_and_stopped(void **state)
{
	got_lines g = {0};
	vbx__env_lines l = {.each = collect, .ctx = &g};
	static char big[VBX__ENV_LINE_MAX + 10];
	memset(big, 'x', sizeof(big));
	assert_int_equal(
	        vbx__env_lines_feed(&l, VBX_STREAM_STDOUT, big, sizeof(big)),
	        0);
	assert_int_equal(g.n, 1); /* cut at VBX__ENV_LINE_MAX */
	assert_int_equal(vbx__env_lines_finish(&l), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(vbx__env_lines_finish(&l), 0); /* twice is fine */

	got_lines h = {.stop_after = 2};
	vbx__env_lines m = {.each = collect, .ctx = &h};
	assert_int_equal(
	        vbx__env_lines_feed(&m, VBX_STREAM_STDOUT, "a\nb\nc\nd\n", 8),
	        42);
	assert_int_equal(h.n, 2);
	/* An empty line is a line; a "time" that is not one is text. */
	feed(&m, VBX_STREAM_STDERR, "\n2026-99-99T00:00:00Z x\n");
	assert_int_equal(vbx__env_lines_finish(&m), 0);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.text[2], "");
	assert_int_equal(h.channel[2], VBX_STREAM_STDERR);
	assert_string_equal(h.text[3], "2026-99-99T00:00:00Z x");
	assert_int_equal(h.ms[3], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cpu_hundredths),
	        cmocka_unit_test(test_image),
	        cmocka_unit_test(test_var_key),
	        cmocka_unit_test(test_tail),
	        cmocka_unit_test(test_since),
	        cmocka_unit_test(test_port),
	        cmocka_unit_test(test_lines),
	        cmocka_unit_test(test_lines_long_and_stopped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
