/* SPDX-License-Identifier: Apache-2.0 */
/*
 * names.c - backup object names (<prefix><UTC stamp>.dump.gz.enc, the
 * stamp in basic ISO 8601: curl 7.88 signs a ':' in a key wrongly) and
 * the retention rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h>

#include "bk.h"

void bk_stamp(int64_t t, char out[BK_STAMP_LEN])
{
	int64_t days = (t >= 0 ? t : t - 86399) / 86400, y;
	int64_t s = t - days * 86400;
	char buf[64]; /* what the compiler cannot prove fits in 17 */
	int m, d;

	vbx_civil_from_days(days, &y, &m, &d);
	snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ",
	         (int)(y % 10000 + 10000) % 10000, m, d, (int)(s / 3600),
	         (int)(s / 60 % 60), (int)(s % 60));
	memcpy(out, buf, BK_STAMP_LEN - 1);
	out[BK_STAMP_LEN - 1] = '\0';
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool bk_name_time(const char *key, const char *prefix, int64_t *t)
{
	size_t pl = strlen(prefix);
	const char *s = key + pl;

	if (strncmp(key, prefix, pl) != 0 ||
	    strlen(s) != BK_STAMP_LEN - 1 + strlen(BK_SUFFIX) ||
	    strcmp(s + BK_STAMP_LEN - 1, BK_SUFFIX) != 0 || s[8] != 'T' ||
	    s[15] != 'Z')
		return false;
	int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
	int h = digits(s + 9, 2), mi = digits(s + 11, 2),
	    se = digits(s + 13, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 ||
	    d > vbx_days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 59)
		return false;
	*t = vbx_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return true;
}

size_t bk_retention_pick(const int64_t *times, size_t n, int64_t now,
                         int64_t retention_s, long long keep_min, bool *del)
{
	size_t marked = 0;

	for (size_t i = 0; i < n; i++) {
		/* how many are newer (ties: the earlier index is newer) */
		long long newer = 0;
		for (size_t j = 0; j < n; j++)
			newer += times[j] > times[i] ||
			         (times[j] == times[i] && j < i);
		del[i] = newer >= keep_min && now - times[i] > retention_s;
		marked += del[i];
	}
	return marked;
}
