/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cidr.c - addresses, CIDR blocks and the X-Forwarded-For choice of
 * server.trusted_proxies (cidr.h).
 *
 * inet_pton() does the address syntax: glibc's refuses leading zeros in
 * IPv4 parts, fewer than four parts, zones and anything around the
 * address, which is the strictness a list of trusted networks wants.
 */
#include "vbx_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Turn an IPv4-mapped IPv6 address into the IPv4 one. */
static void unmap(vbx__ipaddr *a)
{
	if (a->family == AF_INET6 && memcmp(a->a, v4mapped, 12) == 0) {
		memmove(a->a, a->a + 12, 4);
		memset(a->a + 4, 0, 12);
		a->family = AF_INET;
	}
}

bool vbx__ip_parse(const char *s, size_t n, vbx__ipaddr *out)
{
	char buf[INET6_ADDRSTRLEN];
	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->a) == 1) {
		out->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, out->a) == 1) {
		out->family = AF_INET6;
		unmap(out);
		return true;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

bool vbx__ip_from_sockaddr(const struct sockaddr *sa, vbx__ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(out->a, &in->sin_addr, 4);
		out->family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		        (const struct sockaddr_in6 *)sa;
		memcpy(out->a, &in6->sin6_addr, 16);
		out->family = AF_INET6;
		unmap(out);
		return true;
	}
	return false;
}

/* Dotted decimal at out (room for INET_ADDRSTRLEN), as inet_ntop writes
 * it: glibc's goes through sprintf, which cost 2% of the instructions of
 * a request (each formats its client and peer). */
static void ipv4_format(const uint8_t b[4], char *out)
{
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
}

void vbx__ip_format(const vbx__ipaddr *a, char *out, size_t len)
{
	if (!len)
		return;
	out[0] = '\0';
	if (a->family == AF_INET && len >= INET_ADDRSTRLEN) {
		ipv4_format(a->a, out);
		return;
	}
	if ((a->family == AF_INET || a->family == AF_INET6) &&
	    !inet_ntop(a->family, a->a, out, (socklen_t)len))
		out[0] = '\0';
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Does a agree with base on the first prefix bits? */
static bool same_prefix(const vbx__ipaddr *a, const vbx__ipaddr *base,
                        unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a->a, base->a, whole) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->a[whole] & mask) == (base->a[whole] & mask);
}

/* A prefix length: plain decimal, no sign, no leading zero, <= max. */
static bool parse_prefix(const char *p, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n = strlen(p);
	if (n == 0 || n > 3 || (p[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool vbx__cidr_parse(const char *s, vbx__cidr *out, char *why, size_t len)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	memset(out, 0, sizeof(*out));
	if (!vbx__ip_parse(s, alen, &out->base)) {
		snprintf(why, len,
		         "expected an IPv4 or IPv6 address or CIDR "
		         "block such as \"10.0.0.0/8\" or "
		         "\"::1/128\"");
		return false;
	}
	if (out->base.family == AF_INET && memchr(s, ':', alen)) {
		/* a prefix counted over 128 bits would mean something else
		 * once the address is read as IPv4 */
		snprintf(why, len,
		         "an IPv4-mapped IPv6 address; write it as "
		         "IPv4 (\"a.b.c.d/n\")");
		return false;
	}
	unsigned max = family_bits(out->base.family);
	out->prefix = max;
	if (slash && !parse_prefix(slash + 1, max, &out->prefix)) {
		snprintf(why, len,
		         "the prefix length after '/' must be a "
		         "number 0..%u",
		         max);
		return false;
	}
	vbx__ipaddr masked = {.family = out->base.family};
	unsigned whole = out->prefix / 8, rest = out->prefix % 8;
	memcpy(masked.a, out->base.a, whole);
	if (rest)
		masked.a[whole] =
		        (uint8_t)(out->base.a[whole] & (0xff << (8 - rest)));
	if (memcmp(masked.a, out->base.a, sizeof(masked.a)) != 0) {
		char text[VBX__ADDR_TEXT];
		vbx__ip_format(&masked, text, sizeof(text));
		snprintf(why, len,
		         "bits are set past the /%u prefix; did you mean "
		         "\"%s/%u\"?",
		         out->prefix, text, out->prefix);
		return false;
	}
	return true;
}

bool vbx__cidr_match(const vbx__cidr *list, size_t n, const vbx__ipaddr *a)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].base.family == a->family &&
		    same_prefix(a, &list[i].base, list[i].prefix))
			return true;
	return false;
}

/* One element of an X-Forwarded-For list, s[0..n) untrimmed. */
static bool xff_element(const char *s, size_t n, vbx__ipaddr *out)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		vbx__ipaddr a;
		if (!vbx__ip_parse(s + 1, n - 2, &a) ||
		    memchr(s + 1, ':', n - 2) == NULL)
			return false; /* brackets are for IPv6 only */
		*out = a;
		return true;
	}
	return vbx__ip_parse(s, n, out);
}

bool vbx__xff_client(const char *value, const vbx__cidr *trusted,
                     size_t ntrusted, vbx__ipaddr *out)
{
	size_t end = value ? strlen(value) : 0;
	bool any = false;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && value[start - 1] != ',')
			start--;
		vbx__ipaddr a;
		if (!xff_element(value + start, end - start, &a))
			return false;
		*out = a;
		any = true;
		if (!vbx__cidr_match(trusted, ntrusted, &a))
			return true;
		if (start == 0)
			break;
		end = start - 1; /* before the comma */
		if (end == 0)
			return false; /* an empty first element */
	}
	return any;
}
