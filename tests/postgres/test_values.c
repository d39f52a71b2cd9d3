/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_values.c - postgres-store's readers of result values: timestamptz
 * text (the ISO form with and without fractions and with offsets, rounding
 * to ms as the old SQL cast did, a sweep of dates against gmtime_r, broken
 * text), and the binary forms of uuid, timestamptz, integers and bool
 * against their text forms, in results made with libpq's own functions.
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

/* A one-row result of one column of type oid in format fmt. */
static PGresult *one_value(unsigned oid, int fmt, const void *v, int len)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc col = {.name = (char *)"c",
	                    .format = fmt,
	                    .typid = oid,
	                    .typlen = -1,
	                    .atttypmod = -1};
	assert_non_null(r);
	assert_int_equal(PQsetResultAttrs(r, 1, &col), 1);
	assert_int_equal(PQsetvalue(r, 0, 0, (char *)v, len), 1);
	return r;
}

static void test_binary_uuid(void **state)
{
	static const unsigned char raw[16] = {
	        0x92, 0xa8, 0xd0, 0x77, 0x08, 0xb0, 0x47, 0xf9,
	        0x83, 0x39, 0x91, 0x91, 0x04, 0x1f, 0x8e, 0xf9};
	char id[37], cut[10];
	PGresult *r = one_value(2950, 1, raw, 16);
	assert_int_equal(pgs_copy(id, sizeof(id), r, 0, 0), 36);
	assert_string_equal(id, "92a8d077-08b0-47f9-8339-9191041f8ef9");
	PGS_COPY(cut, r, 0, 0);
	assert_string_equal(cut, "92a8d077-");
	PQclear(r);
	/* Text columns are the same bytes in either form. */
	r = one_value(25, 1, "caf\xc3\xa9", 5);
	PGS_COPY(cut, r, 0, 0);
	assert_string_equal(cut, "caf\xc3\xa9");
	PQclear(r);
}

/* Binary timestamptz: microseconds since 2000-01-01, big-endian. */
static void test_binary_timestamp(void **state)
{
	static const struct {
		int64_t us;
		int64_t ms;
	} cases[] = {
	        {0, 946684800000LL},
	        {849109935565123LL, 1795794735565LL}, /* 2026-11-27 15:52:15 */
	        {849109935565500LL, 1795794735566LL},
	        {-946684800000000LL, 0},
	        {-946684800000500LL, -1}, /* 1969-12-31 23:59:59.9995 */
	        {INT64_MAX, 0},           /* infinity */
	        {INT64_MIN, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		unsigned char be[8];
		for (int b = 0; b < 8; b++)
			be[b] = (unsigned char)((uint64_t)cases[i].us >>
			                        (56 - 8 * b));
		PGresult *r = one_value(1184, 1, be, 8);
		if (pgs_ms(r, 0, 0) != cases[i].ms)
			fail_msg("%lld us: %lld ms, not %lld",
			         (long long)cases[i].us,
			         (long long)pgs_ms(r, 0, 0),
			         (long long)cases[i].ms);
		PQclear(r);
	}
	/* Not a timestamptz, or the wrong length: 0 as for NULL. */
	PGresult *r = one_value(20, 1, "\0\0\0\0\0\0\0\1", 8);
	assert_int_equal(pgs_ms(r, 0, 0), 0);
	PQclear(r);
	r = one_value(1184, 1, "\0\0\0\1", 4);
	assert_int_equal(pgs_ms(r, 0, 0), 0);
	PQclear(r);
}

static void test_binary_ints_and_bools(void **state)
{
	PGresult *r = one_value(20, 1, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
	assert_int_equal(pgs_int(r, 0, 0), -2);
	PQclear(r);
	r = one_value(23, 1, "\x00\x01\x00\x00", 4);
	assert_int_equal(pgs_int(r, 0, 0), 65536);
	PQclear(r);
	r = one_value(21, 1, "\x80\x00", 2);
	assert_int_equal(pgs_int(r, 0, 0), -32768);
	PQclear(r);
	r = one_value(20, 0, "-42", 3);
	assert_int_equal(pgs_int(r, 0, 0), -42);
	PQclear(r);
	r = one_value(16, 1, "\1", 1);
	assert_true(pgs_bool(r, 0, 0));
	PQclear(r);
	r = one_value(16, 1, "\0", 1);
	assert_false(pgs_bool(r, 0, 0));
	PQclear(r);
	r = one_value(16, 0, "t", 1);
	assert_true(pgs_bool(r, 0, 0));
	PQclear(r);
	r = one_value(16, 1, NULL, -1); /* NULL */
	assert_false(pgs_bool(r, 0, 0));
	assert_int_equal(pgs_int(r, 0, 0), 0);
	assert_int_equal(pgs_ms(r, 0, 0), 0);
	PQclear(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_forms),
	        cmocka_unit_test(test_rounding),
	        cmocka_unit_test(test_sweep),
	        cmocka_unit_test(test_broken),
	        cmocka_unit_test(test_binary_uuid),
	        cmocka_unit_test(test_binary_timestamp),
	        cmocka_unit_test(test_binary_ints_and_bools),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
