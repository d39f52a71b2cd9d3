/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cron.c - 5-field cron expressions in UTC (cron.h).
 */
#include <stdio.h>
#include <string.h>

#include <vibebox/util.h>

#include "cron.h"

struct field {
	const char *name;
	int lo, hi;
};

static const struct field fields[5] = {
        {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
        {"month", 1, 12},  {"day of week", 0, 7},
};

/* A decimal number of at most 3 digits at *p; -1 if none. */
static int number(const char **p)
{
	int v = 0, n = 0;

	while (**p >= '0' && **p <= '9' && n < 4) {
		v = v * 10 + (**p - '0');
		(*p)++, n++;
	}
	return n == 0 || n > 3 ? -1 : v;
}

/* One list item (s..end) into bits. */
static int item(const char *s, const char *end, const struct field *f,
                uint64_t *bits, char *err, size_t err_len)
{
	const char *p = s;
	int a = f->lo, b = f->hi, step = 1;
	int star = *p == '*';

	if (star) {
		p++;
	} else {
		a = number(&p);
		if (a < 0)
			goto bad;
		b = a;
		if (*p == '-') {
			p++;
			b = number(&p);
			if (b < 0)
				goto bad;
		}
	}
	if (p < end && *p == '/') {
		p++;
		step = number(&p);
		if (step <= 0)
			goto bad;
	}
	if (p != end)
		goto bad;
	/* "N/S": from N to the end of the field */
	if (!star && step > 1 && !memchr(s, '-', (size_t)(end - s)))
		b = f->hi;
	if (a < f->lo || b > f->hi || a > b) {
		snprintf(err, err_len, "%s: \"%.*s\" is out of range %d-%d",
		         f->name, (int)(end - s), s, f->lo, f->hi);
		return -1;
	}
	for (int v = a; v <= b; v += step)
		*bits |= 1ull << v;
	return 0;
bad:
	snprintf(err, err_len,
	         "%s: \"%.*s\" is not N, A-B or \"*\", each with an "
	         "optional /STEP, in decimal (names and @-forms are not "
	         "supported)",
	         f->name, (int)(end - s), s);
	return -1;
}

static int field_parse(const char *s, size_t len, const struct field *f,
                       uint64_t *bits, char *err, size_t err_len)
{
	const char *end = s + len;

	*bits = 0;
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma ? comma : end;
		if (stop == s) {
			snprintf(err, err_len, "%s: an empty list item",
			         f->name);
			return -1;
		}
		if (item(s, stop, f, bits, err, err_len) != 0)
			return -1;
		s = comma ? comma + 1 : end;
		if (comma && s == end) {
			snprintf(err, err_len, "%s: ends with a comma",
			         f->name);
			return -1;
		}
	}
	return 0;
}

int bk_cron_parse(const char *s, bk_cron *c, char *err, size_t err_len)
{
	uint64_t bits[5];
	const char *p = s;
	int n = 0;

	memset(c, 0, sizeof(*c));
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " \t");
		if (n == 5) {
			snprintf(err, err_len,
			         "\"%s\": more than 5 fields (minute hour "
			         "day-of-month month day-of-week, UTC)",
			         s);
			return -1;
		}
		if (field_parse(p, len, &fields[n], &bits[n], err, err_len))
			return -1;
		if (n == 2)
			c->dom_star = *p == '*';
		if (n == 4)
			c->dow_star = *p == '*';
		p += len;
		n++;
	}
	if (n != 5) {
		snprintf(err, err_len,
		         "\"%s\": %d fields, need 5 (minute hour day-of-month "
		         "month day-of-week, UTC), e.g. \"0 3 * * *\"",
		         s, n);
		return -1;
	}
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint16_t)bits[3];
	c->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is 0 */
	return 0;
}

static bool day_matches(const bk_cron *c, int64_t days)
{
	int64_t y;
	int m, d;
	int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01: Thursday */

	vbx_civil_from_days(days, &y, &m, &d);
	if (!(c->month >> m & 1))
		return false;
	bool dom = c->dom >> d & 1, dow = c->dow >> wday & 1;
	if (!c->dom_star && !c->dow_star)
		return dom || dow;
	return dom && dow;
}

#define YEAR_0 (-62167219200LL)   /* 0000-01-01T00:00:00Z */
#define YEAR_10000 253402300800LL /* 10000-01-01T00:00:00Z */

int64_t bk_cron_next(const bk_cron *c, int64_t after)
{
	if (after < YEAR_0 || after >= YEAR_10000)
		return -1;
	int64_t t = (after < 0 ? after - 59 : after) / 60 * 60 + 60;
	int64_t day = (t >= 0 ? t : t - 86399) / 86400;
	int start = (int)((t - day * 86400) / 60); /* minute of that day */

	for (int64_t i = 0; i < 8 * 366; i++, day++, start = 0) {
		if (!day_matches(c, day))
			continue;
		for (int m = start; m < 24 * 60; m++)
			if (c->hour >> (m / 60) & 1 &&
			    c->minute >> (m % 60) & 1)
				return day * 86400 + (int64_t)m * 60;
	}
	return -1;
}
