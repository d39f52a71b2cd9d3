/* SPDX-License-Identifier: Apache-2.0 */
/*
 * values.c - the values of a result: text, ids, integers, booleans and
 * timestamps, in text or binary format.
 *
 * Timestamps are selected as they are and every connection runs with
 * DateStyle ISO and TimeZone UTC (pool.c), so the server sends
 * "2026-11-27 15:52:15.565123+00". Converting in SQL instead, as
 * (extract(epoch FROM x) * 1000)::int8, goes through numeric arithmetic
 * and cost PostgreSQL a fifth of a 20-row page's time (pgbench: 20.0k
 * against 24.5k pages per second).
 *
 * A statement marked binary (pgs_stmt.binary) gets every column in
 * PostgreSQL's binary form, which spares the server its output functions
 * (uuid_out, timestamptz_out: a tenth of a page's time): the readers here
 * turn uuid, timestamptz, int2/4/8 and bool back into what the text form
 * gives. Mark only statements whose columns are of those types or text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* Type oids of PostgreSQL's catalog (pg_type.dat), fixed since 8.x. */
#define OID_TIMESTAMPTZ 1184
#define OID_UUID 2950

/* Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_US 946684800000000LL

static bool binary(const PGresult *r, int col)
{
	return PQfformat(r, col) == 1;
}

/* A big-endian signed integer of n (2, 4 or 8) bytes. */
static int64_t be_int(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	int shift = 64 - 8 * n;
	return shift ? (int64_t)(v << shift) >> shift : (int64_t)v;
}

size_t pgs_copy(char *dst, size_t len, const PGresult *r, int row, int col)
{
	if (len == 0)
		return 0;
	if (PQgetisnull(r, row, col)) {
		dst[0] = '\0';
		return 0;
	}
	const char *v = PQgetvalue(r, row, col);
	size_t n = (size_t)PQgetlength(r, row, col);
	char id[VBX_UUID_LEN];
	/* the length first: it costs no call into libpq */
	if (n == 16 && binary(r, col) && PQftype(r, col) == OID_UUID) {
		vbx_uuid_from_bytes((const unsigned char *)v, id);
		v = id;
		n = 36;
	}
	size_t cut = n < len ? n : len - 1;

	/* Do not end inside a UTF-8 sequence: back off continuation bytes. */
	if (cut < n)
		while (cut > 0 && ((unsigned char)v[cut] & 0xC0) == 0x80)
			cut--;
	memcpy(dst, v, cut);
	dst[cut] = '\0';
	return n;
}

int64_t pgs_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	const char *v = PQgetvalue(r, row, col);
	int n = PQgetlength(r, row, col);
	if (binary(r, col))
		return n == 2 || n == 4 || n == 8
		               ? be_int((const unsigned char *)v, n)
		               : 0;
	return strtoll(v, NULL, 10);
}

bool pgs_bool(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return false;
	const char *v = PQgetvalue(r, row, col);
	return binary(r, col) ? v[0] != 0 : v[0] == 't';
}

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
	if (mo < 1 || mo > 12 || d < 1 || d > vbx_days_in_month(y, (int)mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return VBX_EINVAL;
	int64_t secs = vbx_days_from_civil(y, (int)mo, (int)d) * 86400 +
	               h * 3600 + mi * 60 + sec - off;
	*ms = us_to_ms(secs * 1000000 + us);
	return VBX_OK;
}

int64_t pgs_ms(const PGresult *r, int row, int col)
{
	int64_t ms = 0;

	if (PQgetisnull(r, row, col))
		return 0;
	if (binary(r, col)) {
		const unsigned char *v =
		        (const unsigned char *)PQgetvalue(r, row, col);
		if (PQftype(r, col) != OID_TIMESTAMPTZ ||
		    PQgetlength(r, row, col) != 8)
			return 0;
		int64_t us = be_int(v, 8);
		/* "infinity" is INT64_MAX, "-infinity" INT64_MIN; none of
		 * ours is near either. */
		if (us > INT64_MAX - PG_EPOCH_US || us < INT64_MIN / 2)
			return 0;
		return us_to_ms(us + PG_EPOCH_US);
	}
	/* Not ours to meet ("infinity", a year past 9999, BC): 0, as NULL. */
	if (pgs_parse_timestamp(PQgetvalue(r, row, col), &ms) != VBX_OK)
		return 0;
	return ms;
}
