/*
 * pgtime.c - timestamptz columns as Unix milliseconds.
 *
 * Statements select timestamps as they are and every connection runs with
 * DateStyle ISO and TimeZone UTC (pool.c), so the server sends
 * "2026-11-27 15:52:15.565123+00". Converting in SQL instead, as
 * (extract(epoch FROM x) * 1000)::int8, goes through numeric arithmetic
 * and cost PostgreSQL a fifth of a 20-row page's time (pgbench: 20.0k
 * against 24.5k pages per second).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pg.h"

/* n digits at *s into *v; advances *s. */
static bool digits(const char **s, int n, int64_t *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return false;
		*v = *v * 10 + (**s - '0');
	}
	return true;
}

static bool lit(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian): count from a year
 * that starts in March, so that the leap day is the year's last. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400; /* 0..399 */
	int64_t doy =
	        (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int64_t m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* Microseconds of ".ffffff" (1 to 6 digits); 0 when there is no point. */
static bool fraction(const char **s, int64_t *us)
{
	int64_t scale = 100000;
	int n = 0;

	*us = 0;
	if (!lit(s, '.'))
		return true;
	for (; **s >= '0' && **s <= '9'; (*s)++, n++) {
		if (n == 6)
			return false;
		*us += (**s - '0') * scale;
		scale /= 10;
	}
	return n > 0;
}

/* "+HH", "+HH:MM" or "+HH:MM:SS" (or '-') into seconds east of UTC. */
static bool utc_offset(const char **s, int64_t *secs)
{
	int64_t h, m = 0, sec = 0;
	int sign = **s == '-' ? -1 : 1;

	if (!lit(s, '+') && !lit(s, '-'))
		return false;
	if (!digits(s, 2, &h))
		return false;
	if (lit(s, ':') && !digits(s, 2, &m))
		return false;
	if (lit(s, ':') && !digits(s, 2, &sec))
		return false;
	if (h > 15 || m > 59 || sec > 59)
		return false;
	*secs = sign * (h * 3600 + m * 60 + sec);
	return true;
}

/* Round microseconds to milliseconds, halves away from zero, as the
 * numeric cast of the SQL form did. */
static int64_t us_to_ms(int64_t us)
{
	return us >= 0 ? (us + 500) / 1000 : -((-us + 500) / 1000);
}

int pgs_parse_timestamp(const char *s, int64_t *ms)
{
	int64_t y, mo, d, h, mi, sec, us, off;

	if (!digits(&s, 4, &y) || !lit(&s, '-') || !digits(&s, 2, &mo) ||
	    !lit(&s, '-') || !digits(&s, 2, &d) || !lit(&s, ' ') ||
	    !digits(&s, 2, &h) || !lit(&s, ':') || !digits(&s, 2, &mi) ||
	    !lit(&s, ':') || !digits(&s, 2, &sec) || !fraction(&s, &us) ||
	    !utc_offset(&s, &off) || *s)
		return VBX_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return VBX_EINVAL;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
	               sec - off;
	*ms = us_to_ms(secs * 1000000 + us);
	return VBX_OK;
}

int64_t pgs_ms(const PGresult *r, int row, int col)
{
	int64_t ms = 0;

	if (PQgetisnull(r, row, col))
		return 0;
	/* Not ours to meet ("infinity", a year past 9999, BC): 0, as NULL. */
	if (pgs_parse_timestamp(PQgetvalue(r, row, col), &ms) != VBX_OK)
		return 0;
	return ms;
}
