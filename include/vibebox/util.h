/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/util.h - small pure helpers every plugin (and the vibebox CLI)
 * needs: RFC 3339 times, UUIDs, hex, UTF-8 and percent-encoding.
 *
 * Everything here is a static inline function of its arguments alone: no
 * request, no host table, no allocation, no global state, safe on any
 * thread. They are in a header rather than in the host table or a library
 * on purpose:
 *   - a plugin does not link against the daemon, and the CLI is not a
 *     plugin at all; a header needs no library to link and no host;
 *   - a plugin built against a newer SDK that uses them still runs on a
 *     daemon that predates them (nothing here goes through the daemon);
 *   - they are short, and a compiler drops what a file does not call.
 * The request helpers that do need the daemon (paging, the list envelope,
 * store errors) are in http.h.
 *
 * The parsers here read outside input (API bodies, Docker's answers, key
 * files): they never read past the length they are given, and refuse
 * anything that is not exactly the documented form, leaving their
 * outputs untouched.
 */
#ifndef VIBEBOX_UTIL_H
#define VIBEBOX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vibebox/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the proleptic Gregorian calendar ---- */

/*
 * Days from 1970-01-01 to y-m-d (negative before it). m is 1..12 and d
 * 1..31; neither is checked (see vbx_days_in_month()). Counts from a year
 * that starts in March, so the leap day is the year's last, in 400-year
 * eras of 146097 days.
 */
static inline int64_t vbx_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400; /* 0..399 */
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse: the date of a day counted from 1970-01-01. */
static inline void vbx_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468; /* days from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097; /* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153; /* 0 is March */

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* How many days month m (1..12, not checked) of year y has. */
static inline int vbx_days_in_month(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* ---- RFC 3339 times ---- */

/* Bytes vbx_time_format() needs: "2026-11-27T12:04:51.123Z" and a NUL. */
#define VBX_TIME_LEN 25

static inline char *vbx__put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/*
 * Unix milliseconds as RFC 3339 in UTC with milliseconds,
 * "2026-11-27T12:04:51.123Z", into buf (len bytes, at least
 * VBX_TIME_LEN), NUL-terminated. The caller owns buf. Returns VBX_OK, or
 * VBX_EINVAL with buf "" (when len > 0) when the time has no such form (a
 * year outside 0000..9999) or buf is too short.
 *
 * Written by hand rather than with gmtime_r and strftime: a list of rows
 * formats two times a row, and those calls cost a tenth of a request.
 */
static inline int vbx_time_format(int64_t ms, char *buf, size_t len)
{
	/* Floor division: -1 ms is 23:59:59.999 of the day before 1970. */
	int64_t days = ms / 86400000, rest = ms % 86400000, y;
	int m, d;
	if (rest < 0) {
		rest += 86400000;
		days--;
	}
	if (len > 0)
		buf[0] = '\0';
	if (len < VBX_TIME_LEN)
		return VBX_EINVAL;
	vbx_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return VBX_EINVAL;
	char *p = vbx__put_digits(buf, y, 4);
	*p++ = '-';
	p = vbx__put_digits(p, m, 2);
	*p++ = '-';
	p = vbx__put_digits(p, d, 2);
	*p++ = 'T';
	p = vbx__put_digits(p, rest / 3600000, 2);
	*p++ = ':';
	p = vbx__put_digits(p, rest / 60000 % 60, 2);
	*p++ = ':';
	p = vbx__put_digits(p, rest / 1000 % 60, 2);
	*p++ = '.';
	p = vbx__put_digits(p, rest % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
	return VBX_OK;
}

/* The n decimal digits at s as a number, or -1 when one is not a digit. */
static inline int64_t vbx__digits(const char *s, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DDTHH:MM:SS" at the start of s (len bytes) into seconds since
 * 1970, the date and time checked; VBX_EINVAL when it is not one. */
static inline int vbx__civil_parse(const char *s, size_t len, int64_t *secs)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	if (len < sizeof(shape) - 1)
		return VBX_EINVAL;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		bool ok = shape[i] == 'd'   ? s[i] >= '0' && s[i] <= '9'
		          : shape[i] == 'T' ? s[i] == 'T' || s[i] == 't'
		                            : s[i] == shape[i];
		if (!ok)
			return VBX_EINVAL;
	}
	int64_t y = vbx__digits(s, 4), mo = vbx__digits(s + 5, 2);
	int64_t d = vbx__digits(s + 8, 2), h = vbx__digits(s + 11, 2);
	int64_t mi = vbx__digits(s + 14, 2), se = vbx__digits(s + 17, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > vbx_days_in_month(y, (int)mo) ||
	    h > 23 || mi > 59 || se > 60) /* 60: a leap second */
		return VBX_EINVAL;
	*secs = vbx_days_from_civil(y, (int)mo, (int)d) * 86400 + h * 3600 +
	        mi * 60 + se;
	return VBX_OK;
}

/*
 * Parse an RFC 3339 date-time of exactly len bytes of s (no NUL needed)
 * into Unix milliseconds: "2026-11-27T12:04:51Z", with an optional
 * fraction of 1 to 9 digits (".5", ".123456789"; digits past the
 * milliseconds are dropped) and "Z" or an offset "+hh:mm"/"-hh:mm"
 * (hh 00..23, mm 00..59); "T" and "Z" may be lower case. Years
 * 0000..9999; second 60 (a leap second) counts as the next minute's 00.
 * Refused: anything else, including a missing zone, a date that does not
 * exist (2023-02-29), spaces, and trailing bytes.
 * Returns VBX_OK, or VBX_EINVAL with *ms untouched.
 */
static inline int vbx_time_parse(const char *s, size_t len, int64_t *ms)
{
	int64_t secs, frac = 0, scale = 100;
	size_t i = 19;
	if (!s || vbx__civil_parse(s, len, &secs) != VBX_OK)
		return VBX_EINVAL;
	if (i < len && s[i] == '.') {
		size_t start = ++i;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			frac += (s[i] - '0') * scale;
		if (i == start || i - start > 9)
			return VBX_EINVAL;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		*ms = secs * 1000 + frac;
		return VBX_OK;
	}
	if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return VBX_EINVAL;
	int64_t oh = vbx__digits(s + i + 1, 2), om = vbx__digits(s + i + 4, 2);
	if (oh < 0 || oh > 23 || om < 0 || om > 59)
		return VBX_EINVAL;
	int64_t off = (oh * 60 + om) * 60;
	*ms = (secs + (s[i] == '+' ? -off : off)) * 1000 + frac;
	return VBX_OK;
}

/* ---- hex ---- */

/* The value of hex digit c (either case), 0..15, or -1 when c is not
 * one. */
static inline int vbx_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The n bytes at in as 2n lower-case hex digits and a NUL, into out (len
 * bytes, at least 2n + 1; the caller owns it). Returns the number of
 * digits written, 2n, or 0 (out "" when len > 0) when out is too short.
 */
static inline size_t vbx_hex_encode(const void *in, size_t n, char *out,
                                    size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = (const unsigned char *)in;
	if (len > 0)
		out[0] = '\0';
	if (n > (SIZE_MAX - 1) / 2 || len < 2 * n + 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
	return 2 * n;
}

/*
 * Decode len hex digits (either case, no prefix, no spaces; s need not be
 * NUL-terminated) into len / 2 bytes at out, which has room for cap
 * bytes (the caller owns it), and set *n to len / 2. Returns VBX_OK, or
 * VBX_EINVAL when len is odd, a byte is not a hex digit, or len / 2 >
 * cap; then nothing is written to out or *n. Find which byte is wrong
 * with vbx_hex_value().
 */
static inline int vbx_hex_decode(const char *s, size_t len, void *out,
                                 size_t cap, size_t *n)
{
	unsigned char *o = (unsigned char *)out;
	if (len % 2 || len / 2 > cap)
		return VBX_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (vbx_hex_value((unsigned char)s[i]) < 0)
			return VBX_EINVAL;
	for (size_t i = 0; i < len; i += 2)
		o[i / 2] =
		        (unsigned char)(vbx_hex_value((unsigned char)s[i])
		                                << 4 |
		                        vbx_hex_value((unsigned char)s[i + 1]));
	*n = len / 2;
	return VBX_OK;
}

/* ---- UTF-8 ---- */

/*
 * The length (1 to 4) of the valid UTF-8 sequence at p, of which n bytes
 * may be read, or 0 when the bytes there are not one: a stray
 * continuation byte, C0, C1 and F5..FF, an overlong form, a surrogate, a
 * code point past U+10FFFF, a sequence cut short by n, or n 0. Reads no
 * more than the sequence and never past n. A caller that must not pass
 * invalid text on (JSON, a terminal) replaces the byte at p with U+FFFD
 * when this gives 0, and goes on at p + 1.
 */
static inline size_t vbx_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = n ? p[0] : 0x80; /* nothing to read: not a sequence */
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	cp = c & (0xffu >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* ---- percent-encoding ---- */

/* Is c one of RFC 3986's unreserved characters, A-Z a-z 0-9 - . _ ~,
 * which a URL carries as they are? ASCII only, whatever the locale. */
static inline bool vbx_url_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/*
 * Percent-encode the first n bytes of s (fewer when a NUL comes first) as
 * one query value or path segment of a URL: an unreserved character
 * (vbx_url_unreserved()) as it is, every other byte as "%XX" with
 * upper-case hex digits, so '/', '&', '=', '%' and UTF-8 never reach the
 * URL as themselves. Into out (len bytes, the caller's), NUL-terminated
 * when len > 0; 3 * n + 1 bytes always suffice. In fewer, the output
 * stops before the first byte whose encoding does not fit whole: never
 * half an escape. Returns how many bytes of s were encoded, fewer than
 * asked when out was too short.
 */
static inline size_t vbx_percent_encode(const char *s, size_t n, char *out,
                                        size_t len)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i = 0, o = 0;
	if (len == 0)
		return 0;
	for (; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = vbx_url_unreserved(c);
		if (len - o < (plain ? 2u : 4u)) /* the byte and the NUL */
			break;
		if (plain) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = digits[c >> 4];
		out[o++] = digits[c & 15];
	}
	out[o] = '\0';
	return i;
}

/* ---- UUIDs ---- */

/* Bytes of a UUID in text form, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
 * and its NUL (store.h's VBX_ID_LEN is the same). */
#define VBX_UUID_LEN 37

/* Is s (NUL-terminated; NULL is not) a UUID in text form: 8-4-4-4-12 hex
 * digits of either case and nothing after? Any version. */
static inline bool vbx_uuid_ok(const char *s)
{
	size_t i = 0;
	if (!s)
		return false;
	/* Stops at a short string's NUL, and reads no further. */
	for (; i < VBX_UUID_LEN - 1 && s[i]; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : vbx_hex_value((unsigned char)s[i]) < 0)
			return false;
	}
	return s[i] == '\0' && i == VBX_UUID_LEN - 1;
}

/* A UUID in text form (as vbx_uuid_ok() takes) into its 16 bytes at out.
 * Returns VBX_OK, or VBX_EINVAL with out untouched. */
static inline int vbx_uuid_to_bytes(const char *s, unsigned char out[16])
{
	if (!vbx_uuid_ok(s))
		return VBX_EINVAL;
	for (size_t i = 0, o = 0; o < 16; o++, i += 2) {
		if (s[i] == '-')
			i++;
		out[o] =
		        (unsigned char)(vbx_hex_value((unsigned char)s[i])
		                                << 4 |
		                        vbx_hex_value((unsigned char)s[i + 1]));
	}
	return VBX_OK;
}

/* 16 bytes as a UUID in lower-case text form and a NUL into out
 * (VBX_UUID_LEN bytes, the caller's). */
static inline void vbx_uuid_from_bytes(const unsigned char in[16],
                                       char out[VBX_UUID_LEN])
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = digits[in[i] >> 4];
		out[o++] = digits[in[i] & 15];
	}
	out[o] = '\0';
}

#ifdef __cplusplus
}
#endif
#endif
