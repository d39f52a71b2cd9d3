/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_backup_names.c - backup-s3's object names and retention rule
 * (names.c): stamps in basic ISO 8601, names parsed back (others under
 * the prefix ignored), and exactly the backups past retention beyond the
 * keep_min newest marked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define BK_PURE_ONLY
#include "bk.h"

#define DAY 86400

static void test_stamp(void **state)
{
	char s[BK_STAMP_LEN];
	int64_t t;
	(void)state;

	bk_stamp(1796612400, s); /* 2026-12-07T03:00:00Z */
	assert_string_equal(s, "20261207T030000Z");
	bk_stamp(0, s);
	assert_string_equal(s, "19700101T000000Z");
	bk_stamp(951868799, s);
	assert_string_equal(s, "20000229T235959Z");
	assert_true(bk_name_time("db/20261207T030000Z.dump.gz.enc", "db/", &t));
	assert_int_equal(t, 1796612400);
	assert_true(bk_name_time("20000229T235959Z.dump.gz.enc", "", &t));
	assert_int_equal(t, 951868799);
}

static void test_not_ours(void **state)
{
	static const char *const bad[] = {
	        "db/notes.txt",
	        "other/20261207T030000Z.dump.gz.enc",
	        "db/20261207T030000Z.dump.gz",
	        "db/20261207T030000Z.dump.gz.enc.partial",
	        "db/2026-12-07T03:00:00Z.dump.gz.enc",
	        "db/20261207X030000Z.dump.gz.enc",
	        "db/20261307T030000Z.dump.gz.enc",
	        "db/20260230T030000Z.dump.gz.enc",
	        "db/20261207T240000Z.dump.gz.enc",
	        "db/20261207T036000Z.dump.gz.enc",
	        "db/2026120aT030000Z.dump.gz.enc",
	        "db/x/20261207T030000Z.dump.gz.enc",
	        "db/",
	        "",
	};
	int64_t t;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bk_name_time(bad[i], "db/", &t))
			fail_msg("\"%s\" taken for a backup", bad[i]);
}

static void test_retention(void **state)
{
	int64_t now = 1796612400;
	/* 40, 35, 31, 29, 1 and 0 days old, in no order */
	int64_t t[] = {now - 31 * DAY, now,      now - 40 * DAY, now - 29 * DAY,
	               now - 35 * DAY, now - DAY};
	bool del[6];
	(void)state;

	/* 30 days, keep 3: the three older than 30 days go */
	assert_int_equal(bk_retention_pick(t, 6, now, 30 * DAY, 3, del), 3);
	assert_true(del[0] && del[2] && del[4]);
	assert_false(del[1] || del[3] || del[5]);
	/* keep 5: only the oldest goes, though three are past */
	assert_int_equal(bk_retention_pick(t, 6, now, 30 * DAY, 5, del), 1);
	assert_true(del[2]);
	/* a day's retention, keep 1: the four older than a day go; the one
	 * exactly a day old is not past it */
	assert_int_equal(bk_retention_pick(t, 6, now, DAY, 1, del), 4);
	assert_false(del[1] || del[5]);
	/* all old: keep_min still keeps the newest */
	int64_t old[] = {now - 100 * DAY, now - 90 * DAY, now - 95 * DAY};
	assert_int_equal(bk_retention_pick(old, 3, now, 30 * DAY, 1, del), 2);
	assert_false(del[1]);
	/* the same time twice: one of them counts as newer */
	int64_t same[] = {now - 50 * DAY, now - 50 * DAY};
	assert_int_equal(bk_retention_pick(same, 2, now, 30 * DAY, 1, del), 1);
	assert_true(del[0] != del[1]);
	assert_int_equal(bk_retention_pick(NULL, 0, now, DAY, 3, del), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_stamp),
	        cmocka_unit_test(test_not_ours),
	        cmocka_unit_test(test_retention),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
