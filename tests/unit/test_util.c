/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_util.c - the pure helpers of <vibebox/util.h>: RFC 3339 format and
 * parse, the calendar under them, hex, UTF-8, percent-encoding and UUIDs.
 * Built with the SDK's include directory only, as a plugin or the CLI
 * would use the header.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <vibebox/util.h>

/* ---- the calendar ---- */

static void calendar_round_trips(void **state)
{
	/* Every day of years 0..9999 and back; each follows the last. */
	int64_t first = vbx_days_from_civil(0, 1, 1);
	int64_t last = vbx_days_from_civil(9999, 12, 31);
	int64_t py = -1;
	int pm = 12, pd = 31;
	assert_int_equal(vbx_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(first, -719528);
	for (int64_t day = first; day <= last; day++) {
		int64_t y;
		int m, d;
		vbx_civil_from_days(day, &y, &m, &d);
		assert_int_equal(vbx_days_from_civil(y, m, d), day);
		bool next_day = y == py && m == pm && d == pd + 1;
		bool next_month = y == py && m == pm + 1 && d == 1 &&
		                  pd == vbx_days_in_month(py, pm);
		bool next_year =
		        y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
		if (!next_day && !next_month && !next_year)
			fail_msg("%lld-%d-%d after %lld-%d-%d", (long long)y, m,
			         d, (long long)py, pm, pd);
		py = y, pm = m, pd = d;
	}
}

static void days_in_month_leap_years(void **state)
{
	assert_int_equal(vbx_days_in_month(2024, 2), 29);
	assert_int_equal(vbx_days_in_month(2023, 2), 28);
	assert_int_equal(vbx_days_in_month(2000, 2), 29);
	assert_int_equal(vbx_days_in_month(1900, 2), 28);
	assert_int_equal(vbx_days_in_month(0, 2), 29);
	assert_int_equal(vbx_days_in_month(2023, 4), 30);
	assert_int_equal(vbx_days_in_month(2023, 12), 31);
}

/* ---- formatting ---- */

static void time_formats(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
	        {0, "1970-01-01T00:00:00.000Z"},
	        {1, "1970-01-01T00:00:00.001Z"},
	        {1764240000123LL, "2025-11-27T10:40:00.123Z"},
	        {951782400000LL, "2000-02-29T00:00:00.000Z"},
	        {-1, "1969-12-31T23:59:59.999Z"},
	        {-1000, "1969-12-31T23:59:59.000Z"},
	        {-1001, "1969-12-31T23:59:58.999Z"},
	        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
	        {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char buf[VBX_TIME_LEN];
		assert_int_equal(vbx_time_format(cases[i].ms, buf, sizeof(buf)),
		                 VBX_OK);
		assert_string_equal(buf, cases[i].text);
		assert_int_equal(strlen(buf), VBX_TIME_LEN - 1);
	}
}

/* Every third day of years 0..9999, at a time of day that moves, against
 * the C library's gmtime_r. */
static void time_agrees_with_gmtime(void **state)
{
	const int64_t first = -62167219200LL, last = 253402300799LL;
	char buf[VBX_TIME_LEN], want[64];
	int64_t n = 0;
	for (int64_t s = first; s <= last; s += 3 * 86400 + 3611, n++) {
		time_t t = (time_t)s;
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		int64_t ms = s * 1000 + n % 1000;
		snprintf(want, sizeof(want),
		         "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(n % 1000));
		assert_int_equal(vbx_time_format(ms, buf, sizeof(buf)), VBX_OK);
		if (strcmp(buf, want) != 0)
			fail_msg("%lld ms: %s, not %s", (long long)ms, buf,
			         want);
	}
	assert_true(n > 1200000);
}

static void time_format_refuses_what_it_cannot_write(void **state)
{
	static const int64_t bad[] = {253402300800000LL, -62167219200001LL,
	                              INT64_MAX, INT64_MIN};
	char buf[VBX_TIME_LEN + 8];
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(vbx_time_format(bad[i], buf, sizeof(buf)),
		                 VBX_EINVAL);
		assert_string_equal(buf, "");
	}
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(vbx_time_format(0, buf, VBX_TIME_LEN - 1), VBX_EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(vbx_time_format(0, NULL, 0), VBX_EINVAL);
}

/* ---- parsing ---- */

static int64_t parse_ms(const char *s)
{
	int64_t ms = -1;
	if (vbx_time_parse(s, strlen(s), &ms) != VBX_OK)
		fail_msg("refused \"%s\"", s);
	return ms;
}

static void time_parses(void **state)
{
	assert_int_equal(parse_ms("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_ms("2026-11-27T12:04:51Z"), 1795781091000LL);
	assert_int_equal(parse_ms("2026-11-27T12:04:51.123Z"), 1795781091123LL);
	assert_int_equal(parse_ms("2026-11-27T12:04:51.123456789Z"),
	                 1795781091123LL);
	assert_int_equal(parse_ms("2026-11-27t12:04:51.5z"), 1795781091500LL);
	assert_int_equal(parse_ms("2026-11-27T14:04:51+02:00"),
	                 1795781091000LL);
	assert_int_equal(parse_ms("2026-11-27T10:04:51-02:00"),
	                 1795781091000LL);
	assert_int_equal(parse_ms("2024-05-01T09:30:00-00:30"),
	                 1714557600000LL);
	assert_int_equal(parse_ms("2023-11-15T00:13:20.123+02:00"),
	                 1700000000123LL);
	assert_int_equal(parse_ms("2024-02-29T00:00:00Z"), 1709164800000LL);
	assert_int_equal(parse_ms("1969-12-31T23:59:59Z"), -1000);
	assert_int_equal(parse_ms("0000-01-01T00:00:00Z"), -62167219200000LL);
	assert_int_equal(parse_ms("9999-12-31T23:59:59.999Z"),
	                 253402300799999LL);
	/* A leap second is the next minute's first. */
	assert_int_equal(parse_ms("2016-12-31T23:59:60Z"), 1483228800000LL);
}

static void time_parse_refuses_broken_input(void **state)
{
	static const char *const bad[] = {
	        "",
	        "2026",
	        "2026-11-27",
	        "2026-11-27T12:04:51",  /* no zone */
	        "2026-11-27 12:04:51Z", /* PostgreSQL's, not RFC 3339's */
	        "2026-13-27T12:04:51Z",
	        "2026-00-27T12:04:51Z",
	        "2026-11-00T12:04:51Z",
	        "2026-02-29T00:00:00Z", /* not a leap year */
	        "2026-11-31T00:00:00Z",
	        "2026-11-27T24:00:00Z",
	        "2026-11-27T12:60:00Z",
	        "2026-11-27T12:04:61Z",
	        "2026-11-27T12:04:51.Z",           /* empty fraction */
	        "2026-11-27T12:04:51.1234567890Z", /* past nanoseconds */
	        "2026-11-27T12:04:51,5Z",
	        "2026-11-27T12:04:51+2:00",
	        "2026-11-27T12:04:51+24:00",
	        "2026-11-27T12:04:51+02:60",
	        "2026-11-27T12:04:51+0200",
	        "2026-11-27T12:04:51+02",
	        "2026-11-27T12:04:51+02:00:00",
	        "2026-11-27T12:04:51Zx",
	        "2026-11-27T12:04:51Z ",
	        " 2026-11-27T12:04:51Z",
	        "2026-11-27T12:04:51+02:00x",
	        "2026-1-27T12:04:51Z",
	        "x026-11-27T12:04:51Z",
	        "-001-01-01T00:00:00Z",
	        "+2026-11-27T12:04:51Z",
	        "2026-11-0aT12:04:51Z",
	        "\xef\xbc\x92"
	        "026-11-27T12:04:51Z", /* a full-width 2 */
	        "2026-11-27T12:04:51.+02:00",
	        "2026-11-27T12:04:51.5.5Z",
	        "2026/11/27T12:04:51Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t ms = 42;
		if (vbx_time_parse(bad[i], strlen(bad[i]), &ms) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ms, 42);
	}
	int64_t ms = 42;
	assert_int_equal(vbx_time_parse(NULL, 0, &ms), VBX_EINVAL);
	/* A NUL inside the length is a byte like any other. */
	assert_int_equal(vbx_time_parse("2026-11-27T12:04:51Z\0", 21, &ms),
	                 VBX_EINVAL);
	assert_int_equal(ms, 42);
}

/* len is what counts: text after it is not read, and a cut is refused. */
static void time_parse_respects_len(void **state)
{
	const char *line = "2026-11-27T12:04:51.000000001Z hello";
	int64_t ms = 0;
	assert_int_equal(vbx_time_parse(line, 30, &ms), VBX_OK);
	assert_int_equal(ms, 1795781091000LL);
	for (size_t len = 0; len < 30; len++) {
		ms = 42;
		if (vbx_time_parse(line, len, &ms) != VBX_EINVAL)
			fail_msg("accepted the first %zu bytes", len);
		assert_int_equal(ms, 42);
	}
	/* On the heap with nothing after it: ASan sees any overread. */
	char *exact = malloc(20);
	assert_non_null(exact);
	memcpy(exact, "2026-11-27T12:04:51Z", 20);
	assert_int_equal(vbx_time_parse(exact, 20, &ms), VBX_OK);
	assert_int_equal(ms, 1795781091000LL);
	free(exact);
}

/* What the formatter writes, the parser reads back. */
static void time_round_trips(void **state)
{
	char buf[VBX_TIME_LEN];
	for (int64_t ms = -62167219200000LL; ms < 253402300800000LL;
	     ms += 7777777777LL) {
		int64_t back = 0;
		assert_int_equal(vbx_time_format(ms, buf, sizeof(buf)), VBX_OK);
		assert_int_equal(vbx_time_parse(buf, strlen(buf), &back),
		                 VBX_OK);
		assert_int_equal(back, ms);
	}
}

/* ---- hex ---- */

static void hex_value_of_each_byte(void **state)
{
	for (int c = -1; c < 256; c++) {
		int want = c >= '0' && c <= '9'   ? c - '0'
		           : c >= 'a' && c <= 'f' ? c - 'a' + 10
		           : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                  : -1;
		assert_int_equal(vbx_hex_value(c), want);
	}
}

static void hex_encodes(void **state)
{
	const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[13];
	assert_int_equal(vbx_hex_encode(in, sizeof(in), out, sizeof(out)), 12);
	assert_string_equal(out, "00017f80abff");
	assert_int_equal(vbx_hex_encode(in, 0, out, 1), 0);
	assert_string_equal(out, "");

	/* One byte short of room: nothing but "". */
	memset(out, 'x', sizeof(out));
	assert_int_equal(vbx_hex_encode(in, sizeof(in), out, 12), 0);
	assert_string_equal(out, "");
	assert_int_equal(vbx_hex_encode(in, sizeof(in), NULL, 0), 0);
	assert_int_equal(vbx_hex_encode(in, SIZE_MAX / 2 + 1, out, sizeof(out)),
	                 0);
}

static void hex_decodes(void **state)
{
	unsigned char out[8];
	size_t n = 99;
	assert_int_equal(
	        vbx_hex_decode("00017F80abFF", 12, out, sizeof(out), &n),
	        VBX_OK);
	assert_int_equal(n, 6);
	const unsigned char want[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	assert_memory_equal(out, want, 6);
	assert_int_equal(vbx_hex_decode("", 0, out, 0, &n), VBX_OK);
	assert_int_equal(n, 0);
	/* Only len bytes are read. */
	assert_int_equal(vbx_hex_decode("abzz", 2, out, 1, &n), VBX_OK);
	assert_int_equal(out[0], 0xab);
}

static void hex_decode_refuses_broken_input(void **state)
{
	static const char *const bad[] = {
	        "0",    "abc", "0g", "g0",  " 00",        "00 ",
	        "0x00", "-1",  "+1", "1\n", "ab\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		unsigned char out[8];
		size_t n = 99;
		memset(out, 0x5a, sizeof(out));
		if (vbx_hex_decode(bad[i], strlen(bad[i]), out, sizeof(out),
		                   &n) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(n, 99);
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0x5a); /* nothing written */
	}
	/* A NUL is not a digit. */
	unsigned char out[4];
	size_t n = 99;
	assert_int_equal(vbx_hex_decode("a\0", 2, out, sizeof(out), &n),
	                 VBX_EINVAL);
	/* No room: refused before anything is written. */
	assert_int_equal(vbx_hex_decode("0011223344", 10, out, 4, &n),
	                 VBX_EINVAL);
	assert_int_equal(n, 99);
	assert_int_equal(vbx_hex_decode("00112233", 8, out, 4, &n), VBX_OK);
	assert_int_equal(n, 4);
}

static void hex_round_trips(void **state)
{
	unsigned char in[256], back[256];
	char text[513];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	assert_int_equal(vbx_hex_encode(in, sizeof(in), text, sizeof(text)),
	                 512);
	size_t n = 0;
	assert_int_equal(vbx_hex_decode(text, 512, back, sizeof(back), &n),
	                 VBX_OK);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(in, back, sizeof(in));
}

/* ---- UTF-8 ---- */

static size_t utf8_len(const char *s, size_t n)
{
	return vbx_utf8_len((const unsigned char *)s, n);
}

static void utf8_len_of_sequences(void **state)
{
	static const struct {
		const char *s;
		size_t n, want;
	} cases[] = {
	        {"a", 1, 1},
	        {"\x7f", 1, 1},
	        {"\0", 1, 1},
	        {"\xc2\x80", 2, 2},
	        {"\xc3\xa9z", 3, 2},
	        {"\xe2\x82\xac", 3, 3},
	        {"\xef\xbf\xbd", 3, 3},
	        {"\xf0\x9f\x98\x80", 4, 4},
	        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
	        /* broken */
	        {"a", 0, 0},
	        {"\x80", 1, 0},
	        {"\xbf", 1, 0},
	        {"\xc0\xaf", 2, 0}, /* overlong '/' */
	        {"\xc1\xbf", 2, 0},
	        {"\xe0\x80\xaf", 3, 0},
	        {"\xf0\x80\x80\xaf", 4, 0},
	        {"\xed\xa0\x80", 3, 0}, /* a surrogate */
	        {"\xed\xbf\xbf", 3, 0},
	        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
	        {"\xf5\x80\x80\x80", 4, 0},
	        {"\xff", 1, 0},
	        {"\xc3\x28", 2, 0},
	        {"\xe2\x28\xa1", 3, 0},
	        {"\xc3\xa9", 1, 0}, /* cut short by n */
	        {"\xe2\x82\xac", 2, 0},
	        {"\xf0\x9f\x98\x80", 3, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (utf8_len(cases[i].s, cases[i].n) != cases[i].want)
			fail_msg("case %zu: %zu, not %zu", i,
			         utf8_len(cases[i].s, cases[i].n),
			         cases[i].want);
}

/* ---- percent-encoding ---- */

static void percent_encodes(void **state)
{
	char out[64];
	const char *s = "a b&c=d/\xc3\xa9";
	assert_int_equal(vbx_percent_encode(s, strlen(s), out, sizeof(out)),
	                 strlen(s));
	assert_string_equal(out, "a%20b%26c%3Dd%2F%C3%A9");
	assert_int_equal(vbx_percent_encode("Safe-._~", 8, out, sizeof(out)),
	                 8);
	assert_string_equal(out, "Safe-._~");
	assert_int_equal(
	        vbx_percent_encode("%+?#:@!*'()[]", 13, out, sizeof(out)), 13);
	assert_string_equal(out, "%25%2B%3F%23%3A%40%21%2A%27%28%29%5B%5D");
	/* n counts, and a NUL ends the input first. */
	assert_int_equal(vbx_percent_encode("ab/cd", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "ab%2F");
	assert_int_equal(vbx_percent_encode("a\0b", 3, out, sizeof(out)), 1);
	assert_string_equal(out, "a");
	assert_int_equal(vbx_percent_encode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* Bytes of every value: only unreserved ones pass as they are. */
	for (int c = 1; c < 256; c++) {
		char in[2] = {(char)c, '\0'};
		vbx_percent_encode(in, 1, out, sizeof(out));
		bool plain = c < 128 && (isalnum(c) || strchr("-._~", c));
		if (plain ? strlen(out) != 1
		          : strlen(out) != 3 || out[0] != '%')
			fail_msg("byte %d gave \"%s\"", c, out);
	}
}

/* Too short an output: cut before the first byte that does not fit
 * whole, never half an escape; 3n + 1 bytes hold anything. */
static void percent_encode_cuts_whole_bytes(void **state)
{
	char out[64];
	memset(out, 'x', sizeof(out));
	assert_int_equal(vbx_percent_encode("&&&&&&&&", 8, out, 8), 2);
	assert_string_equal(out, "%26%26");
	assert_int_equal(vbx_percent_encode("&&&&&&&&", 8, out, 6), 1);
	assert_string_equal(out, "%26");
	assert_int_equal(vbx_percent_encode("&&&", 3, out, 3), 0);
	assert_string_equal(out, "");
	assert_int_equal(vbx_percent_encode("abc", 3, out, 3), 2);
	assert_string_equal(out, "ab");
	/* Every byte escaped, in exactly 3n + 1 bytes: all of it. */
	assert_int_equal(vbx_percent_encode("&&&", 3, out, 10), 3);
	assert_string_equal(out, "%26%26%26");
	/* No room at all: nothing written. */
	out[0] = 'x';
	assert_int_equal(vbx_percent_encode("a", 1, out, 0), 0);
	assert_int_equal(out[0], 'x');
}

/* ---- UUIDs ---- */

static void uuid_ok_checks_the_form(void **state)
{
	assert_true(vbx_uuid_ok("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"));
	assert_true(vbx_uuid_ok("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"));
	static const char *const bad[] = {
	        "",
	        "web",
	        "0a1b2c3d",
	        "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f",
	        "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f90",
	        "0a1b2c3d04e5f-6071-8293-a4b5c6d7e8f9",
	        "0a1b2c3g-4e5f-6071-8293-a4b5c6d7e8f9",
	        "0a1b2c3-d4e5f-6071-8293-a4b5c6d7e8f9",
	        "{0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9}",
	        "0a1b2c3d4e5f607182930a4b5c6d7e8f9",
	        "../../etc/passwd-aaaa-bbbb-ccccccccc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (vbx_uuid_ok(bad[i]))
			fail_msg("\"%s\" passed as a UUID", bad[i]);
	assert_false(vbx_uuid_ok(NULL));
}

static void uuid_bytes_round_trip(void **state)
{
	unsigned char b[16], again[16];
	char text[VBX_UUID_LEN];
	assert_int_equal(
	        vbx_uuid_to_bytes("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9", b),
	        VBX_OK);
	const unsigned char want[16] = {0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f,
	                                0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5,
	                                0xc6, 0xd7, 0xe8, 0xf9};
	assert_memory_equal(b, want, 16);
	vbx_uuid_from_bytes(b, text);
	assert_string_equal(text, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
	assert_int_equal(vbx_uuid_to_bytes(text, again), VBX_OK);
	assert_memory_equal(b, again, 16);

	memset(again, 0x5a, sizeof(again));
	assert_int_equal(vbx_uuid_to_bytes("0a1b2c3d", again), VBX_EINVAL);
	assert_int_equal(vbx_uuid_to_bytes(NULL, again), VBX_EINVAL);
	for (size_t i = 0; i < sizeof(again); i++)
		assert_int_equal(again[i], 0x5a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(calendar_round_trips),
	        cmocka_unit_test(days_in_month_leap_years),
	        cmocka_unit_test(time_formats),
	        cmocka_unit_test(time_agrees_with_gmtime),
	        cmocka_unit_test(time_format_refuses_what_it_cannot_write),
	        cmocka_unit_test(time_parses),
	        cmocka_unit_test(time_parse_refuses_broken_input),
	        cmocka_unit_test(time_parse_respects_len),
	        cmocka_unit_test(time_round_trips),
	        cmocka_unit_test(hex_value_of_each_byte),
	        cmocka_unit_test(hex_encodes),
	        cmocka_unit_test(hex_decodes),
	        cmocka_unit_test(hex_decode_refuses_broken_input),
	        cmocka_unit_test(hex_round_trips),
	        cmocka_unit_test(utf8_len_of_sequences),
	        cmocka_unit_test(percent_encodes),
	        cmocka_unit_test(percent_encode_cuts_whole_bytes),
	        cmocka_unit_test(uuid_ok_checks_the_form),
	        cmocka_unit_test(uuid_bytes_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
