/* SPDX-License-Identifier: Apache-2.0 */
/*
 * accept.c - which exposition format a scraper's Accept header asks for.
 *
 * The header is outside input: it is read in place, at most
 * ACCEPT_MAX bytes and ACCEPT_ITEMS media ranges of it, and anything that
 * does not parse counts as not asking for OpenMetrics. Prometheus sends
 * application/openmetrics-text first (q=1) and text/plain at q=0.5, and
 * gets OpenMetrics; a client that names only text/plain, a wildcard or
 * nothing gets the text format.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mx.h"

#define ACCEPT_MAX 4096
#define ACCEPT_ITEMS 64

/* A qvalue (RFC 9110: "0", "1", "0.x" with up to 3 decimals,
 * "1.000") in thousandths; -1 when malformed. */
static int parse_q(const char *s, size_t n)
{
	int q;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	int scale = 100;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* The q of one media range item[0..n) (1000 without a q parameter; -1
 * when a parameter is malformed), and which type it names in *kind:
 * 2 OpenMetrics, 1 text/plain, 0 a wildcard that covers text/plain,
 * -1 anything else. */
static int item_q(const char *item, size_t n, int *kind)
{
	size_t tl = strcspn(item, ";");
	const char *p = item + (tl < n ? tl : n);
	const char *t = item;
	size_t tn = (size_t)(p - item);
	int q = 1000;

	trim(&t, &tn);
	*kind = is(t, tn, "application/openmetrics-text") ? 2
	        : is(t, tn, "text/plain")                 ? 1
	        : is(t, tn, "*/*") || is(t, tn, "text/*") ? 0
	                                                  : -1;
	while (p < item + n) {
		const char *prm = p + 1;
		size_t pn = strcspn(prm, ";");
		if (prm + pn > item + n)
			pn = (size_t)(item + n - prm);
		p = prm + pn;
		trim(&prm, &pn);
		if (pn >= 2 && (prm[0] == 'q' || prm[0] == 'Q') &&
		    prm[1] == '=') {
			const char *v = prm + 2;
			size_t vn = pn - 2;
			trim(&v, &vn);
			q = parse_q(v, vn);
		}
	}
	return q;
}

mx_format mx_accept_format(const char *accept)
{
	int q_om = -1, q_text = -1, q_wild = -1;
	size_t len, items = 0;

	if (!accept)
		return MX_TEXT;
	len = strnlen(accept, ACCEPT_MAX + 1);
	if (len > ACCEPT_MAX)
		return MX_TEXT;
	for (const char *s = accept; s < accept + len && items < ACCEPT_ITEMS;
	     items++) {
		size_t n = strcspn(s, ",");
		int kind, q = item_q(s, n, &kind);
		int *slot = kind == 2   ? &q_om
		            : kind == 1 ? &q_text
		            : kind == 0 ? &q_wild
		                        : NULL;
		if (slot && q > *slot)
			*slot = q;
		s += n + (s[n] == ',');
	}
	if (q_text < 0)
		q_text = q_wild;
	return q_om > 0 && q_om >= q_text ? MX_OPENMETRICS : MX_TEXT;
}
