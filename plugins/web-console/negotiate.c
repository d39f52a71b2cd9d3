/* SPDX-License-Identifier: Apache-2.0 */
/*
 * negotiate.c - Accept-Encoding (which precompressed file to send) and
 * If-None-Match (may we answer 304). Both read a header a client wrote:
 * they never allocate, never read past its NUL, and treat what does not
 * parse as absent rather than failing the request.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "wc.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p)
{
	while (is_ows(*p))
		p++;
	return p;
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A qvalue ("0", "0.5", "1.000") at p in thousandths, *end after it;
 * -1 when it is not one. */
static int qvalue(const char *p, const char **end)
{
	int q, scale = 100;
	if (*p != '0' && *p != '1')
		return -1;
	q = (*p++ - '0') * 1000;
	if (*p == '.') {
		p++;
		for (int i = 0; i < 3 && *p >= '0' && *p <= '9'; i++, p++) {
			q += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (q > 1000)
		return -1;
	*end = p;
	return q;
}

/* The parameters after a coding: ";q=..." counts, others are skipped.
 * Returns the weight (1000 without a q), or -1 when they do not parse;
 * *pp is left at the element's end (',' or NUL). */
static int weight(const char **pp)
{
	const char *p = skip_ows(*pp);
	int q = 1000;
	while (*p == ';') {
		p = skip_ows(p + 1);
		const char *name = p;
		while (is_tchar(*p))
			p++;
		size_t nlen = (size_t)(p - name);
		if (*p != '=' || nlen == 0)
			return -1;
		p++;
		if (nlen == 1 && (*name == 'q' || *name == 'Q')) {
			q = qvalue(p, &p);
			if (q < 0)
				return -1;
		} else {
			while (is_tchar(*p))
				p++;
		}
		p = skip_ows(p);
	}
	*pp = p;
	return *p == ',' || *p == '\0' ? q : -1;
}

/* Which of ours a coding name is: WC_* or -1 ("*" is WC_NENC). */
static int coding_index(const char *s, size_t len)
{
	if (len == 1 && *s == '*')
		return WC_NENC;
	if (len == 8 && strncasecmp(s, "identity", 8) == 0)
		return WC_IDENTITY;
	if ((len == 4 && strncasecmp(s, "gzip", 4) == 0) ||
	    (len == 6 && strncasecmp(s, "x-gzip", 6) == 0))
		return WC_GZIP;
	if (len == 2 && strncasecmp(s, "br", 2) == 0)
		return WC_BR;
	return -1;
}

/* Skip to the next element after a damaged one. */
static const char *next_element(const char *p)
{
	const char *c = strchr(p, ',');
	return c ? c : p + strlen(p);
}

int wc_pick_encoding(const char *accept, unsigned have)
{
	/* q[WC_NENC] is "*"; -1: not named */
	int q[WC_NENC + 1] = {-1, -1, -1, -1};
	if (!accept)
		return WC_IDENTITY;
	const char *p = accept;
	while (*p) {
		p = skip_ows(p);
		const char *name = p;
		while (is_tchar(*p))
			p++;
		int idx = coding_index(name, (size_t)(p - name));
		int w = p > name ? weight(&p) : -1;
		if (w < 0)
			p = next_element(p);
		else if (idx >= 0 && (q[idx] < 0 || w < q[idx]))
			q[idx] = w; /* named twice: a refusal stands */
		if (*p == ',')
			p++;
	}
	int best = WC_IDENTITY, bestq = -1;
	for (int e = WC_BR; e >= WC_IDENTITY; e--) {
		if (e != WC_IDENTITY && !(have & (1u << e)))
			continue;
		int qe = q[e] >= 0 ? q[e] : q[WC_NENC];
		if (qe < 0) /* not named at all: identity is fine, others not */
			qe = e == WC_IDENTITY ? 1 : 0;
		if (qe > bestq) {
			best = e;
			bestq = qe;
		}
	}
	return bestq > 0 ? best : WC_IDENTITY;
}

/* An entity-tag at p: [W/]"<etagc>*"; *tag and *len its opaque part
 * inside the quotes, *pp after it. False when it is not one. */
static bool entity_tag(const char **pp, const char **tag, size_t *len)
{
	const char *p = *pp;
	if (p[0] == 'W' && p[1] == '/')
		p += 2;
	if (*p != '"')
		return false;
	const char *s = ++p;
	/* etagc: %x21 / %x23-7E / obs-text */
	while (*p && *p != '"' &&
	       ((unsigned char)*p == 0x21 || (unsigned char)*p >= 0x23) &&
	       (unsigned char)*p != 0x7f)
		p++;
	if (*p != '"')
		return false;
	*tag = s;
	*len = (size_t)(p - s);
	*pp = p + 1;
	return true;
}

bool wc_inm_match(const char *header, const char *etag)
{
	if (!header || !etag)
		return false;
	size_t elen = strlen(etag);
	if (elen < 2 || etag[0] != '"' || etag[elen - 1] != '"')
		return false;
	const char *want = etag + 1;
	elen -= 2;

	const char *p = skip_ows(header);
	if (*p == '*')
		return *skip_ows(p + 1) == '\0';
	while (*p) {
		const char *tag;
		size_t len;
		if (!entity_tag(&p, &tag, &len))
			return false;
		if (len == elen && memcmp(tag, want, len) == 0)
			return true;
		p = skip_ows(p);
		if (*p != ',' && *p != '\0')
			return false;
		while (*p == ',' || is_ows(*p))
			p++;
	}
	return false;
}
