/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_backup_cron.c - backup-s3's schedule (cron.c): the next run of
 * common expressions, Vixie's day-of-month-or-day-of-week rule, and
 * broken expressions refused with the field named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/util.h>

#include "cron.h"

/* Unix seconds of a UTC "YYYY-MM-DDTHH:MM:SSZ". */
static int64_t at(const char *s)
{
	int64_t ms;

	assert_int_equal(vbx_time_parse(s, strlen(s), &ms), VBX_OK);
	return ms / 1000;
}

static void expect_next(const char *expr, const char *after, const char *want)
{
	char err[256];
	bk_cron c;

	if (bk_cron_parse(expr, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", expr, err);
	int64_t got = bk_cron_next(&c, at(after));
	int64_t w = want ? at(want) : -1;
	if (got != w) {
		char g[VBX_TIME_LEN] = "never";
		if (got >= 0)
			vbx_time_format(got * 1000, g, sizeof(g));
		fail_msg("%s after %s: got %s, want %s", expr, after, g,
		         want ? want : "never");
	}
}

static void test_next(void **state)
{
	(void)state;
	/* the default: daily at 03:00 UTC; strictly after */
	expect_next("0 3 * * *", "2026-12-07T02:59:59Z",
	            "2026-12-07T03:00:00Z");
	expect_next("0 3 * * *", "2026-12-07T03:00:00Z",
	            "2026-12-08T03:00:00Z");
	expect_next("0 3 * * *", "2026-12-31T12:00:00Z",
	            "2027-01-01T03:00:00Z");
	expect_next("* * * * *", "2026-12-07T10:00:30Z",
	            "2026-12-07T10:01:00Z");
	expect_next("*/15 * * * *", "2026-12-07T10:16:00Z",
	            "2026-12-07T10:30:00Z");
	expect_next("5/20 * * * *", "2026-12-07T10:26:00Z",
	            "2026-12-07T10:45:00Z");
	expect_next("0 9-17/4 * * *", "2026-12-07T13:00:00Z",
	            "2026-12-07T17:00:00Z");
	expect_next("30 2 1,15 * *", "2026-12-02T00:00:00Z",
	            "2026-12-15T02:30:00Z");
	/* Feb 29th: the next leap year */
	expect_next("0 0 29 2 *", "2026-03-01T00:00:00Z",
	            "2028-02-29T00:00:00Z");
	/* day of week: 2026-12-07 is a Monday; 7 and 0 are Sunday */
	expect_next("0 3 * * 0", "2026-12-07T00:00:00Z",
	            "2026-12-13T03:00:00Z");
	expect_next("0 3 * * 7", "2026-12-07T00:00:00Z",
	            "2026-12-13T03:00:00Z");
	expect_next("0 3 * * 1-5", "2026-12-11T04:00:00Z",
	            "2026-12-14T03:00:00Z");
	/* both restricted: the 1st OR a Friday */
	expect_next("0 0 1 * 5", "2026-12-07T00:00:00Z",
	            "2026-12-11T00:00:00Z");
	/* day of month restricted, day of week "*": the 1st only */
	expect_next("0 0 1 * *", "2026-12-07T00:00:00Z",
	            "2027-01-01T00:00:00Z");
	/* never */
	expect_next("0 0 30 2 *", "2026-12-07T00:00:00Z", NULL);
	expect_next("0 0 31 4,6,9,11 *", "2026-12-07T00:00:00Z", NULL);
	/* before 1970 works as well */
	expect_next("0 12 * * *", "1969-12-31T13:00:00Z",
	            "1970-01-01T12:00:00Z");
}

static void expect_bad(const char *expr, const char *why)
{
	char err[256] = "";
	bk_cron c;

	assert_int_equal(bk_cron_parse(expr, &c, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("\"%s\": got \"%s\", want \"%s\"", expr, err, why);
}

static void test_broken(void **state)
{
	(void)state;
	expect_bad("", "0 fields, need 5");
	expect_bad("0 3 * *", "4 fields, need 5");
	expect_bad("0 3 * * * *", "more than 5 fields");
	expect_bad("60 3 * * *", "minute: \"60\" is out of range 0-59");
	expect_bad("0 24 * * *", "hour: \"24\" is out of range 0-23");
	expect_bad("0 3 0 * *", "day of month: \"0\" is out of range 1-31");
	expect_bad("0 3 * 13 *", "month: \"13\" is out of range 1-12");
	expect_bad("0 3 * * 8", "day of week: \"8\" is out of range 0-7");
	expect_bad("0 5-3 * * *", "hour: \"5-3\" is out of range");
	expect_bad("0 3 * jan *", "month: \"jan\" is not N");
	expect_bad("@daily", "minute: \"@daily\" is not N");
	expect_bad("*/0 * * * *", "minute: \"*/0\"");
	expect_bad("*/ * * * *", "minute: \"*/\"");
	expect_bad("1,,2 * * * *", "minute: an empty list item");
	expect_bad("1, * * * *", "minute: ends with a comma");
	expect_bad(",1 * * * *", "minute: an empty list item");
	expect_bad("1-2-3 * * * *", "minute: \"1-2-3\"");
	expect_bad("0001 * * * *", "minute: \"0001\"");
	expect_bad("-1 * * * *", "minute: \"-1\"");
	expect_bad("** * * * *", "minute: \"**\"");
}

static void test_spaces_and_defaults(void **state)
{
	char err[256];
	bk_cron c;
	(void)state;

	assert_int_equal(bk_cron_parse("  0\t3  * * *  ", &c, err, sizeof(err)),
	                 0);
	assert_true(c.dom_star && c.dow_star);
	assert_int_equal(c.minute, 1);
	assert_int_equal(c.hour, 1u << 3);
	assert_int_equal(bk_cron_next(&c, INT64_MAX), -1);
	assert_int_equal(bk_cron_next(&c, INT64_MIN), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_next),
	        cmocka_unit_test(test_broken),
	        cmocka_unit_test(test_spaces_and_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
