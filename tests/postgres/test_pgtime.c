/*
 * test_pgtime.c - postgres-store's reading of timestamptz text: the ISO
 * form with and without fractions and with offsets, rounding to ms as the
 * old SQL cast did, a sweep of dates against timegm, and broken text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pg.h"

static int64_t parsed(const char *s)
{
	int64_t ms = -42;
	if (pgs_parse_timestamp(s, &ms) != VBX_OK)
		fail_msg("\"%s\" was refused", s);
	return ms;
}

static void test_forms(void **state)
{
	assert_int_equal(parsed("1970-01-01 00:00:00+00"), 0);
	assert_int_equal(parsed("2026-11-27 15:52:15.565+00"), 1795794735565LL);
	assert_int_equal(parsed("2026-11-27 15:52:15.565123+00"),
	                 1795794735565LL);
	assert_int_equal(parsed("2026-11-27 15:52:15.5+00"), 1795794735500LL);
	assert_int_equal(parsed("2026-11-27 16:52:15.565+01"), 1795794735565LL);
	assert_int_equal(parsed("2026-11-27 10:22:15.565-05:30"),
	                 1795794735565LL);
	assert_int_equal(parsed("2026-11-27 15:52:25.565+00:00:10"),
	                 1795794735565LL);
	assert_int_equal(parsed("2000-02-29 00:00:00+00"), 951782400000LL);
	assert_int_equal(parsed("1969-12-31 23:59:59.999+00"), -1);
	assert_int_equal(parsed("0000-01-01 00:00:00+00"), -62167219200000LL);
	assert_int_equal(parsed("9999-12-31 23:59:59.999999+00"),
	                 253402300800000LL);
}

/* Halves away from zero, as (extract(epoch FROM x) * 1000)::int8. */
static void test_rounding(void **state)
{
	assert_int_equal(parsed("1970-01-01 00:00:00.0005+00"), 1);
	assert_int_equal(parsed("1970-01-01 00:00:00.000499+00"), 0);
	assert_int_equal(parsed("1970-01-01 00:00:00.0015+00"), 2);
	assert_int_equal(parsed("1969-12-31 23:59:59.9995+00"), -1);
	assert_int_equal(parsed("1969-12-31 23:59:59.999501+00"), 0);
	assert_int_equal(parsed("1969-12-31 23:59:59.9985+00"), -2);
}

/* Every 3rd day and a moving time of day, years 0..9999, against timegm. */
static void test_sweep(void **state)
{
	char text[64];
	int64_t n = 0;
	for (int64_t s = -62167219200LL; s <= 253402300799LL;
	     s += 3 * 86400 + 3611, n++) {
		time_t t = (time_t)s;
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		snprintf(text, sizeof(text),
		         "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec,
		         (int)(n % 1000) * 1000);
		if (parsed(text) != s * 1000 + n % 1000)
			fail_msg("%s: %lld", text, (long long)parsed(text));
	}
}

static void test_broken(void **state)
{
	static const char *bad[] = {
	        "",
	        "infinity",
	        "-infinity",
	        "2026-11-27",
	        "2026-11-27 15:52:15",     /* no offset */
	        "2026-11-27T15:52:15+00",  /* not the ISO output form */
	        "2026-11-27 15:52:15.+00", /* a point and no digit */
	        "2026-11-27 15:52:15.1234567+00",
	        "2026-13-01 00:00:00+00",
	        "2026-00-01 00:00:00+00",
	        "2026-02-29 00:00:00+00", /* not a leap year */
	        "1900-02-29 00:00:00+00",
	        "2026-04-31 00:00:00+00",
	        "2026-11-27 24:00:00+00",
	        "2026-11-27 15:60:00+00",
	        "2026-11-27 15:52:60+00",
	        "2026-11-27 15:52:15+16",
	        "2026-11-27 15:52:15+0",
	        "2026-11-27 15:52:15+00:6",
	        "2026-11-27 15:52:15+00 BC",
	        "12026-11-27 15:52:15+00",
	        "2026-11-27 15:52:15+00x",
	        "2026/11/27 15:52:15+00",
	        "２026-11-27 15:52:15+00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t ms = 7;
		if (pgs_parse_timestamp(bad[i], &ms) != VBX_EINVAL)
			fail_msg("\"%s\" was accepted as %lld", bad[i],
			         (long long)ms);
		assert_int_equal(ms, 7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_forms),
	        cmocka_unit_test(test_rounding),
	        cmocka_unit_test(test_sweep),
	        cmocka_unit_test(test_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
