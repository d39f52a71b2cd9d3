/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxyproto.c - parse the PROXY protocol header, versions 1 and 2
 * (proxyproto.h), following haproxy's doc/proxy-protocol.txt.
 *
 * The parser is given every byte received so far, each time, so that a
 * header split across reads is parsed whole; a refusal never depends on
 * where the reads were cut (a prefix that is refused is refused however
 * it goes on).
 */
#include "vbx_build.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

static const unsigned char v1_sig[6] = "PROXY ";
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int refuse(vbx__proxyhdr *out, const char *why)
{
	snprintf(out->why, sizeof(out->why), "%s", why);
	return -1;
}

/* ---- version 1 ---- */

/* A port: decimal, 0..65535, no sign, no leading zero. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;
	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* An address of the family the line names: TCP6 addresses have colons
 * (an IPv4-mapped one reads as IPv4 but is still written as IPv6). */
static bool v1_addr(const char *s, size_t n, bool v6, vbx__ipaddr *out)
{
	if (!vbx__ip_parse(s, n, out))
		return false;
	bool colon = memchr(s, ':', n) != NULL;
	return v6 ? colon : (!colon && out->family == AF_INET);
}

/* Split line[0..n) at single spaces into at most max fields; the number
 * of fields, or -1 for an empty field (two spaces, or one at an end). */
static int v1_fields(const char *line, size_t n, const char **f, size_t *len,
                     int max)
{
	int k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != ' ')
			continue;
		if (i == start || k == max)
			return -1;
		f[k] = line + start;
		len[k++] = i - start;
		start = i + 1;
	}
	return k;
}

static int v1_line(const char *line, size_t n, vbx__proxyhdr *out)
{
	const char *f[6];
	size_t len[6];
	out->version = 1;
	if (n >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (n == 13 || line[13] == ' '))
		return 0; /* the rest is to be ignored */
	int k = v1_fields(line, n, f, len, 6);
	if (k < 2)
		return refuse(out, "version 1: a line with empty fields");
	bool v4 = len[1] == 4 && memcmp(f[1], "TCP4", 4) == 0;
	bool v6 = len[1] == 4 && memcmp(f[1], "TCP6", 4) == 0;
	if (!v4 && !v6)
		return refuse(out, "version 1: the protocol is not TCP4, TCP6 "
		                   "or UNKNOWN");
	if (k != 6)
		return refuse(out, "version 1: expected PROXY TCPn source "
		                   "destination sport dport");
	vbx__ipaddr dst;
	uint16_t dport;
	if (!v1_addr(f[2], len[2], v6, &out->client) ||
	    !v1_addr(f[3], len[3], v6, &dst))
		return refuse(out, "version 1: an address that is not one of "
		                   "the protocol's family");
	if (!v1_port(f[4], len[4], &out->port) ||
	    !v1_port(f[5], len[5], &dport))
		return refuse(out, "version 1: a port that is not a number "
		                   "0..65535");
	return 0;
}

static int parse_v1(const unsigned char *p, size_t n, vbx__proxyhdr *out)
{
	/* the CR of a line of the longest length is at index 105 */
	size_t last = VBX__PROXYPROTO_V1_MAX - 2;
	size_t scan = n > last ? last + 1 : n;
	for (size_t i = 0; i < scan; i++) {
		if (p[i] == '\n')
			return refuse(out, "version 1: a line feed without a "
			                   "carriage return before it");
		if (p[i] != '\r')
			continue;
		if (i + 1 == n)
			return 0;
		if (p[i + 1] != '\n')
			return refuse(out, "version 1: a carriage return "
			                   "without a line feed after it");
		if (memchr(p, '\0', i))
			return refuse(out, "version 1: a NUL byte in the line");
		int rc = v1_line((const char *)p, i, out);
		return rc < 0 ? rc : (int)(i + 2);
	}
	if (n > last)
		return refuse(out, "version 1: no CRLF within 107 bytes");
	return 0;
}

/* ---- version 2 ---- */

enum { CMD_LOCAL = 0, CMD_PROXY = 1 };
enum { FAM_UNSPEC = 0, FAM_INET = 1, FAM_INET6 = 2, FAM_UNIX = 3 };
enum { PROTO_UNSPEC = 0, PROTO_STREAM = 1 };

/* The client of a PROXY command's address block a[0..len). */
static int v2_addresses(int fam, const unsigned char *a, size_t len,
                        vbx__proxyhdr *out)
{
	static const size_t need[] = {0, 12, 36, 216};
	if (len < need[fam])
		return refuse(out, "version 2: the address block is shorter "
		                   "than its family needs");
	if (fam == FAM_INET) {
		out->client.family = AF_INET;
		memcpy(out->client.a, a, 4);
		out->port = (uint16_t)(a[8] << 8 | a[9]);
	} else if (fam == FAM_INET6) {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
		memcpy(&sa.sin6_addr, a, 16);
		vbx__ip_from_sockaddr((const struct sockaddr *)&sa,
		                      &out->client);
		out->port = (uint16_t)(a[32] << 8 | a[33]);
	}
	return 0; /* UNSPEC and UNIX name no IP client */
}

static int parse_v2(const unsigned char *p, size_t n, vbx__proxyhdr *out)
{
	out->version = 2;
	if (n < 16)
		return 0;
	if (p[12] >> 4 != 2)
		return refuse(out, "version 2: the version nibble is not 2");
	int cmd = p[12] & 0xf, fam = p[13] >> 4, proto = p[13] & 0xf;
	size_t len = (size_t)p[14] << 8 | p[15];
	if (cmd != CMD_LOCAL && cmd != CMD_PROXY)
		return refuse(out, "version 2: a command other than LOCAL or "
		                   "PROXY");
	if (16 + len > VBX__PROXYPROTO_MAX)
		return refuse(out, "version 2: a header longer than 4096 "
		                   "bytes");
	if (cmd == CMD_PROXY && fam > FAM_UNIX)
		return refuse(out, "version 2: an unknown address family");
	if (cmd == CMD_PROXY && proto != PROTO_UNSPEC && proto != PROTO_STREAM)
		return refuse(out, "version 2: a transport other than a "
		                   "stream on a TCP listener");
	if (n < 16 + len)
		return 0;
	if (cmd == CMD_PROXY && v2_addresses(fam, p + 16, len, out) < 0)
		return -1;
	return (int)(16 + len); /* LOCAL: the balancer's own connection */
}

int vbx__proxyproto_parse(const unsigned char *p, size_t n, vbx__proxyhdr *out)
{
	memset(out, 0, sizeof(*out));
	size_t k1 = n < sizeof(v1_sig) ? n : sizeof(v1_sig);
	size_t k2 = n < sizeof(v2_sig) ? n : sizeof(v2_sig);
	if (n == 0)
		return 0;
	if (memcmp(p, v1_sig, k1) == 0) {
		out->version = 1;
		return n < sizeof(v1_sig) ? 0 : parse_v1(p, n, out);
	}
	if (memcmp(p, v2_sig, k2) == 0)
		return n < sizeof(v2_sig) ? 0 : parse_v2(p, n, out);
	return refuse(out, "the connection did not start with a PROXY "
	                   "protocol header");
}
