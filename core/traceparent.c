/* SPDX-License-Identifier: Apache-2.0 */
/*
 * traceparent.c - the W3C trace-context level 1 headers. An invalid
 * traceparent is ignored by the caller (the request starts a new trace),
 * never answered with an error: a client's broken tracing must not break
 * its requests.
 */
#include "traceparent.h"

#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is invalid in version 00 */
}

/* n bytes from 2n lower-case hex digits; false on any other character. */
static bool unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

bool vbx__traceparent_parse(const char *s, size_t len, vbx__traceparent *out)
{
	unsigned char flags;
	if (!s)
		return false;
	trim(&s, &len);
	/* 2 + 1 + 32 + 1 + 16 + 1 + 2 */
	if (len != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' ||
	    s[35] != '-' || s[52] != '-')
		return false;
	if (!unhex(s + 3, out->trace_id, 16) ||
	    !unhex(s + 36, out->span_id, 8) || !unhex(s + 53, &flags, 1))
		return false;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return false;
	out->sampled = (flags & 1) != 0;
	return true;
}

bool vbx__tracestate_ok(const char *s, size_t len, size_t max, size_t *start,
                        size_t *n)
{
	const char *b = s;
	if (!s)
		return false;
	trim(&b, &len);
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (b[i] < 0x20 || b[i] > 0x7e)
			return false;
	*start = (size_t)(b - s);
	*n = len;
	return true;
}

void vbx__hex_lower(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void vbx__traceparent_format(char *buf, const unsigned char trace_id[16],
                             const unsigned char span_id[8], bool sampled)
{
	memcpy(buf, "00-", 3);
	vbx__hex_lower(buf + 3, trace_id, 16);
	buf[35] = '-';
	vbx__hex_lower(buf + 36, span_id, 8);
	buf[52] = '-';
	buf[53] = '0';
	buf[54] = sampled ? '1' : '0';
	buf[55] = '\0';
}
