/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonout.c - a fast printer for cJSON trees, byte for byte the output of
 * cJSON_PrintUnformatted() (cJSON 1.7.15). See jsonout.h.
 *
 * What cJSON 1.7.15 does, and so what this file must do:
 *   - strings (values and keys): '"' and '\\' and the control bytes below
 *     0x20 are escaped: \b \f \n \r \t, the others as \u00xx in lowercase
 *     hex; every other byte (0x7f, UTF-8 or not) is copied as it is; a
 *     NULL string prints as "";
 *   - numbers: NaN and infinities print as null; anything else with
 *     "%1.15g", and again with "%1.17g" when reading the first text back
 *     gives a value further than DBL_EPSILON (relative) from the double
 *     (cJSON also turns a locale's decimal comma into '.': the daemon
 *     never sets a locale, so printf's point is always '.'). There is no
 *     integer shortcut
 *     (-0.0 prints as -0, 2^53 as 9.00719925474099e+15);
 *   - a Raw item's text is copied as it is (it must not be NULL);
 *   - an item whose type (the low 8 bits) is not exactly one of the known
 *     ones makes the whole print fail.
 *
 * Where the time goes instead: strings are scanned 8 bytes at a time and
 * copied in runs; integers below 1e15 and short decimals (m / 10^k, k <= 4,
 * like cpuPercent) are formatted by hand, which gives the digits "%1.15g"
 * would; only other numbers take cJSON's snprintf() + strtod() road.
 */
#include "vbx_build.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"

/* Fits most responses (a page of 20 projects is about 5 KB) in one or two
 * allocations. */
#define INITIAL_SIZE 4096

static bool grow(vbx__json_buf *o, size_t need)
{
	if (need > SIZE_MAX - 1 - o->len)
		return false;
	size_t want = o->len + need + 1, cap = o->cap;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	char *p = realloc(o->buf, cap);
	if (!p)
		return false;
	o->buf = p;
	o->cap = cap;
	return true;
}

/* Make room for need more bytes (plus the final NUL). */
static inline bool reserve(vbx__json_buf *o, size_t need)
{
	return o->cap - o->len > need || grow(o, need);
}

static inline bool put_bytes(vbx__json_buf *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return false;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return true;
}

static inline bool put_char(vbx__json_buf *o, char c)
{
	if (!reserve(o, 1))
		return false;
	o->buf[o->len++] = c;
	return true;
}

/* ---- strings ---- */

/*
 * For each byte, 0 when it is copied as it is, else the letter after the
 * backslash of its escape ('u' for \u00xx).
 */
/* clang-format off */
static const char escape_of[256] = {
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', /* 0x00 */
	'b', 't', 'n', 'u', 'f', 'r', 'u', 'u', /* 0x08 */
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', /* 0x10 */
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', /* 0x18 */
	['"'] = '"',
	['\\'] = '\\',
};
/* clang-format on */

/* Write the escape of c at p (room for 6 bytes); returns its length. */
static size_t write_escape(char *p, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e = escape_of[c];

	p[0] = '\\';
	p[1] = e;
	if (e != 'u')
		return 2;
	p[2] = '0';
	p[3] = '0';
	p[4] = hex[c >> 4];
	p[5] = hex[c & 15];
	return 6;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * Eight bytes at a time: nonzero when one of the bytes of w needs escaping
 * (below 0x20, '"' or '\\'), and then its lowest set bit is the top bit of
 * the first such byte. (The borrows of the subtractions only run upwards,
 * from a byte that is itself flagged.)
 */
static inline uint64_t escapes_in(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	uint64_t below = (w - ones * 0x20) & ~w;
	uint64_t quote = (q - ones) & ~q;
	uint64_t bslash = (b - ones) & ~b;
	return (below | quote | bslash) & (ones * 0x80);
}

/* The first byte in [s, end) that needs escaping, or end. */
static const unsigned char *skip_plain(const unsigned char *s,
                                       const unsigned char *end)
{
	for (; end - s >= 8; s += 8) {
		uint64_t w;
		memcpy(&w, s, sizeof(w));
		uint64_t hit = escapes_in(w);
		if (hit)
			return s + (__builtin_ctzll(hit) >> 3);
	}
	while (s < end && !escape_of[*s])
		s++;
	return s;
}
#else
static const unsigned char *skip_plain(const unsigned char *s,
                                       const unsigned char *end)
{
	while (s < end && !escape_of[*s])
		s++;
	return s;
}
#endif

/* One pass over the text: copy each run of plain bytes whole. */
static bool put_string(vbx__json_buf *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	const unsigned char *end = s + strlen((const char *)s);

	/* Room for the text as it is and the quotes; each escape asks for
	 * its own extra room, so that the rest always fits. */
	if (!reserve(o, (size_t)(end - s) + 2))
		return false;
	o->buf[o->len++] = '"';
	for (;;) {
		const unsigned char *run = s;
		s = skip_plain(s, end);
		memcpy(o->buf + o->len, run, (size_t)(s - run));
		o->len += (size_t)(s - run);
		if (s == end)
			break;
		/* the escape (6 at most), the rest, the closing quote */
		if (!reserve(o, 6 + (size_t)(end - s)))
			return false;
		o->len += write_escape(o->buf + o->len, *s++);
	}
	o->buf[o->len++] = '"';
	return true;
}

/* ---- numbers ---- */

/* Below this, "%1.15g" of an integer is its plain digits, exactly. */
#define PLAIN_INT_LIMIT 1e15

/* Write the decimal digits of v at p (room for 20 bytes); returns their
 * count. */
static size_t write_uint(char *p, uint64_t v)
{
	static const char pairs[] = "00010203040506070809"
	                            "10111213141516171819"
	                            "20212223242526272829"
	                            "30313233343536373839"
	                            "40414243444546474849"
	                            "50515253545556575859"
	                            "60616263646566676869"
	                            "70717273747576777879"
	                            "80818283848586878889"
	                            "90919293949596979899";
	char tmp[20], *t = tmp + sizeof(tmp);

	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;
		v /= 100;
		*--t = pairs[i + 1];
		*--t = pairs[i];
	}
	if (v >= 10) {
		*--t = pairs[v * 2 + 1];
		*--t = pairs[v * 2];
	} else {
		*--t = (char)('0' + v);
	}
	size_t n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return n;
}

/*
 * The daemon's fractions are mostly short decimals (round(x * 100) / 100,
 * us / 1000.0). When d is the double nearest to m / 10^k for some k in
 * 1..MAX_SHORT_DECIMALS and |m| < 1e15, "%1.15g" prints exactly the digits
 * of m with the point k places from the right: a decimal of at most 15
 * significant digits survives the trip to a double and back (DBL_DIG), and
 * the 15 digits %g keeps are those, trailing zeros dropped. Reading that
 * text back gives d again, so cJSON keeps it. The range keeps %g out of
 * its exponent form (below 1e-4 or from 1e15).
 */
#define MAX_SHORT_DECIMALS 4

/* Write d at p (room for 19 bytes) when it is such a short decimal;
 * returns the length, or 0 when it is not. */
static size_t write_short_decimal(char *p, double d)
{
	static const double scale[] = {1, 10, 100, 1000, 10000};
	double a = fabs(d);
	if (!(a >= 1e-3 && a < 1e10))
		return 0;

	for (int k = 1; k <= MAX_SHORT_DECIMALS; k++) {
		double t = a * scale[k];
		uint64_t m = (uint64_t)(t + 0.5);
		if ((double)m / scale[k] != a)
			continue;
		uint64_t unit = (uint64_t)scale[k], frac = m % unit;
		if (!frac) /* an integer: not ours to print */
			return 0;
		size_t n = 0;
		if (d < 0)
			p[n++] = '-';
		n += write_uint(p + n, m / unit);
		p[n++] = '.';
		int digits = k;
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		for (int i = digits - 1; i >= 0; i--) {
			p[n + (size_t)i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		return n + (size_t)digits;
	}
	return 0;
}

/* cJSON's round-trip test: equal within DBL_EPSILON, relative. */
static bool close_enough(double a, double b)
{
	double larger = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= larger * DBL_EPSILON;
}

/* cJSON's way, for everything but plain integers: write d at p (room for
 * 26 bytes); returns the length, 0 on failure. */
static size_t write_double(char *p, double d)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%1.15g", d);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return 0;
	char *end;
	double back = strtod(tmp, &end);
	if (end == tmp || !close_enough(back, d))
		n = snprintf(tmp, sizeof(tmp), "%1.17g", d);
	/* cJSON prints into 26 bytes and fails beyond */
	if (n < 0 || n > 25)
		return 0;
	memcpy(p, tmp, (size_t)n);
	return (size_t)n;
}

static bool put_number(vbx__json_buf *o, double d)
{
	if (isnan(d) || isinf(d))
		return put_bytes(o, "null", 4);
	if (!reserve(o, 26))
		return false;

	char *p = o->buf + o->len;
	size_t n = 0;
	if (d == 0) {
		if (signbit(d))
			p[n++] = '-';
		p[n++] = '0';
	} else if (d > -PLAIN_INT_LIMIT && d < PLAIN_INT_LIMIT &&
	           (double)(int64_t)d == d) {
		if (d < 0)
			p[n++] = '-';
		n += write_uint(p + n, (uint64_t)fabs(d));
	} else {
		n = write_short_decimal(p, d);
		if (!n)
			n = write_double(p, d);
		if (!n)
			return false;
	}
	o->len += n;
	return true;
}

/* ---- values ---- */

static bool put_value(vbx__json_buf *o, const cJSON *item);

static bool put_array(vbx__json_buf *o, const cJSON *array)
{
	if (!put_char(o, '['))
		return false;
	for (const cJSON *c = array->child; c; c = c->next) {
		if (c != array->child && !put_char(o, ','))
			return false;
		if (!put_value(o, c))
			return false;
	}
	return put_char(o, ']');
}

static bool put_object(vbx__json_buf *o, const cJSON *object)
{
	if (!put_char(o, '{'))
		return false;
	for (const cJSON *c = object->child; c; c = c->next) {
		if (c != object->child && !put_char(o, ','))
			return false;
		if (!put_string(o, c->string) || !put_char(o, ':') ||
		    !put_value(o, c))
			return false;
	}
	return put_char(o, '}');
}

static bool put_value(vbx__json_buf *o, const cJSON *item)
{
	switch (item->type & 0xFF) {
	case cJSON_NULL:
		return put_bytes(o, "null", 4);
	case cJSON_False:
		return put_bytes(o, "false", 5);
	case cJSON_True:
		return put_bytes(o, "true", 4);
	case cJSON_Number:
		return put_number(o, item->valuedouble);
	case cJSON_Raw:
		return item->valuestring &&
		       put_bytes(o, item->valuestring,
		                 strlen(item->valuestring));
	case cJSON_String:
		return put_string(o, item->valuestring);
	case cJSON_Array:
		return put_array(o, item);
	case cJSON_Object:
		return put_object(o, item);
	default:
		return false;
	}
}

char *vbx__json_print(const cJSON *item, size_t *len)
{
	if (!item)
		return NULL;
	vbx__json_buf o = {malloc(INITIAL_SIZE), 0, INITIAL_SIZE, false};
	if (!o.buf)
		return NULL;
	if (!put_value(&o, item)) {
		free(o.buf);
		return NULL;
	}
	o.buf[o.len] = '\0';
	if (len)
		*len = o.len;
	return o.buf;
}

/* ---- rows ---- */

#define ROW_SIZE 512 /* a project's fields fit */

void vbx__json_row_begin(vbx__json_buf *row)
{
	row->buf = malloc(ROW_SIZE);
	row->len = 0;
	row->cap = ROW_SIZE;
	row->failed = !row->buf || !put_char(row, '{');
}

void vbx__json_row_str(vbx__json_buf *row, const char *key, const char *s)
{
	if (row->failed)
		return;
	row->failed = (row->len > 1 && !put_char(row, ',')) ||
	              !put_string(row, key) || !put_char(row, ':') ||
	              !(s ? put_string(row, s) : put_bytes(row, "null", 4));
}

cJSON *vbx__json_row_end(vbx__json_buf *row)
{
	cJSON *raw = NULL;
	if (!row->failed && put_char(row, '}')) {
		row->buf[row->len] = '\0';
		raw = cJSON_CreateRaw(row->buf);
	}
	free(row->buf);
	row->buf = NULL;
	return raw;
}

cJSON *vbx__json_row(const char *const *pairs, size_t npairs)
{
	vbx__json_buf row;
	vbx__json_row_begin(&row);
	for (size_t i = 0; i < npairs; i++)
		vbx__json_row_str(&row, pairs[2 * i], pairs[2 * i + 1]);
	return vbx__json_row_end(&row);
}
