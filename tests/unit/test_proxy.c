/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_proxy.c - what server.trusted_proxies rests on: CIDR parsing and
 * matching (core/cidr.c), the X-Forwarded-For choice of a client, and the
 * PROXY protocol header parser (core/proxyproto.c), with broken input for
 * each: every header is also parsed grown byte by byte, as reads would
 * bring it, and must give the same verdict.
 */
#include "vbx_build.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cidr.h"
#include "proxyproto.h"

/* ---- CIDR ---- */

static void cidr_ok(const char *s, const char *base, unsigned prefix)
{
	vbx__cidr c;
	char why[160], text[VBX__ADDR_TEXT];
	if (!vbx__cidr_parse(s, &c, why, sizeof(why)))
		fail_msg("\"%s\" refused: %s", s, why);
	vbx__ip_format(&c.base, text, sizeof(text));
	assert_string_equal(text, base);
	assert_int_equal(c.prefix, prefix);
}

static void cidr_bad(const char *s, const char *words)
{
	vbx__cidr c;
	char why[160] = "";
	if (vbx__cidr_parse(s, &c, why, sizeof(why)))
		fail_msg("\"%s\" accepted", s);
	if (!strstr(why, words))
		fail_msg("\"%s\": \"%s\" not in \"%s\"", s, words, why);
}

static void test_cidr_parse(void **state)
{
	(void)state;
	cidr_ok("10.0.0.0/8", "10.0.0.0", 8);
	cidr_ok("127.0.0.1/32", "127.0.0.1", 32);
	cidr_ok("127.0.0.1", "127.0.0.1", 32);
	cidr_ok("0.0.0.0/0", "0.0.0.0", 0);
	cidr_ok("::1/128", "::1", 128);
	cidr_ok("::1", "::1", 128);
	cidr_ok("fd00::/8", "fd00::", 8);
	cidr_ok("2001:DB8::/32", "2001:db8::", 32);
	cidr_ok("::/0", "::", 0);

	cidr_bad("", "expected an IPv4 or IPv6");
	cidr_bad("/8", "expected an IPv4 or IPv6");
	cidr_bad("10.0.0/8", "expected an IPv4 or IPv6");
	cidr_bad("010.0.0.0/8", "expected an IPv4 or IPv6");
	cidr_bad("256.0.0.0/8", "expected an IPv4 or IPv6");
	cidr_bad("10.0.0.0 /8", "expected an IPv4 or IPv6");
	cidr_bad("[::1]/128", "expected an IPv4 or IPv6");
	cidr_bad("fe80::1%eth0/128", "expected an IPv4 or IPv6");
	cidr_bad("example.com/32", "expected an IPv4 or IPv6");
	cidr_bad("10.0.0.0/", "prefix length after '/' must be a number 0..32");
	cidr_bad("10.0.0.0/33", "0..32");
	cidr_bad("10.0.0.0/08", "0..32");
	cidr_bad("10.0.0.0/+8", "0..32");
	cidr_bad("10.0.0.0/8/8", "0..32");
	cidr_bad("10.0.0.0/8 ", "0..32");
	cidr_bad("::/129", "0..128");
	cidr_bad("::/1000", "0..128");
	cidr_bad("10.0.0.1/8", "did you mean \"10.0.0.0/8\"?");
	cidr_bad("192.168.1.255/23", "did you mean \"192.168.0.0/23\"?");
	cidr_bad("fd00::1/64", "did you mean \"fd00::/64\"?");
	cidr_bad("::ffff:10.0.0.0/104", "IPv4-mapped");
}

static vbx__ipaddr ip(const char *s)
{
	vbx__ipaddr a;
	if (!vbx__ip_parse(s, strlen(s), &a))
		fail_msg("\"%s\" is not an address", s);
	return a;
}

static bool matches(const vbx__cidr *list, size_t n, const char *s)
{
	vbx__ipaddr a = ip(s);
	return vbx__cidr_match(list, n, &a);
}

static void test_cidr_match(void **state)
{
	(void)state;
	const char *blocks[] = {"10.0.0.0/8", "192.168.1.128/25", "::1/128",
	                        "fd00::/8", "172.16.0.0/12"};
	vbx__cidr list[5];
	char why[160];
	for (size_t i = 0; i < 5; i++)
		assert_true(
		        vbx__cidr_parse(blocks[i], &list[i], why, sizeof(why)));
	assert_true(matches(list, 5, "10.255.0.1"));
	assert_false(matches(list, 5, "11.0.0.1"));
	assert_true(matches(list, 5, "192.168.1.128"));
	assert_true(matches(list, 5, "192.168.1.255"));
	assert_false(matches(list, 5, "192.168.1.127"));
	assert_true(matches(list, 5, "172.31.255.255"));
	assert_false(matches(list, 5, "172.32.0.0"));
	assert_true(matches(list, 5, "::1"));
	assert_false(matches(list, 5, "::2"));
	assert_true(matches(list, 5, "fdff::1"));
	assert_false(matches(list, 5, "fe00::1"));
	/* an IPv4-mapped address is the IPv4 one */
	assert_true(matches(list, 5, "::ffff:10.1.2.3"));
	assert_false(matches(list, 5, "::ffff:11.1.2.3"));
	/* the families never mix, not even under /0 */
	vbx__cidr all4;
	assert_true(vbx__cidr_parse("0.0.0.0/0", &all4, why, sizeof(why)));
	assert_true(matches(&all4, 1, "1.2.3.4"));
	assert_false(matches(&all4, 1, "::1"));
	assert_false(matches(NULL, 0, "1.2.3.4"));
	char text[VBX__ADDR_TEXT];
	vbx__ipaddr a = ip("::ffff:1.2.3.4");
	vbx__ip_format(&a, text, sizeof(text));
	assert_string_equal(text, "1.2.3.4");
}

/* IPv4 is formatted by hand: as inet_ntop() writes it, for octets of
 * one, two and three digits in every place; a buffer too short for any
 * address gives "" as inet_ntop's failure did. */
static void test_ip_format(void **state)
{
	(void)state;
	static const uint8_t octets[] = {0, 1, 9, 10, 42, 99, 100, 199, 255};
	const size_t n = sizeof(octets);
	char text[VBX__ADDR_TEXT], want[INET_ADDRSTRLEN];
	vbx__ipaddr a = {.family = AF_INET};
	for (size_t i = 0; i < n * n * n * n; i++) {
		a.a[0] = octets[i % n];
		a.a[1] = octets[i / n % n];
		a.a[2] = octets[i / n / n % n];
		a.a[3] = octets[i / n / n / n];
		assert_non_null(inet_ntop(AF_INET, a.a, want, sizeof(want)));
		vbx__ip_format(&a, text, sizeof(text));
		assert_string_equal(text, want);
	}
	vbx__ip_format(&a, text, 8);
	assert_string_equal(text, "");
	a = ip("2001:db8::1");
	vbx__ip_format(&a, text, sizeof(text));
	assert_string_equal(text, "2001:db8::1");
	a.family = 0;
	vbx__ip_format(&a, text, sizeof(text));
	assert_string_equal(text, "");
}

/* ---- X-Forwarded-For ---- */

static vbx__cidr trusted[2];

static int xff_setup(void **state)
{
	(void)state;
	char why[160];
	assert_true(
	        vbx__cidr_parse("127.0.0.1/32", &trusted[0], why, sizeof(why)));
	assert_true(
	        vbx__cidr_parse("10.9.9.0/24", &trusted[1], why, sizeof(why)));
	return 0;
}

/* The client chosen from value, "" when the header is to be ignored. */
static const char *xff(const char *value)
{
	static char text[VBX__ADDR_TEXT];
	vbx__ipaddr a;
	text[0] = '\0';
	if (vbx__xff_client(value, trusted, 2, &a))
		vbx__ip_format(&a, text, sizeof(text));
	return text;
}

static void test_xff_choice(void **state)
{
	(void)state;
	assert_string_equal(xff("1.2.3.4"), "1.2.3.4");
	assert_string_equal(xff("1.2.3.4, 10.9.9.9, 127.0.0.1"), "1.2.3.4");
	/* the rightmost untrusted, not the leftmost (which a client sets) */
	assert_string_equal(xff("6.6.6.6, 1.2.3.4, 10.9.9.9"), "1.2.3.4");
	assert_string_equal(xff("6.6.6.6,1.2.3.4"), "1.2.3.4");
	/* every one trusted: the leftmost */
	assert_string_equal(xff("10.9.9.1, 10.9.9.2, 127.0.0.1"), "10.9.9.1");
	assert_string_equal(xff("127.0.0.1"), "127.0.0.1");
	/* IPv6, with or without brackets; spaces and tabs around */
	assert_string_equal(xff(" 2001:db8::1 ,\t10.9.9.9 "), "2001:db8::1");
	assert_string_equal(xff("[2001:db8::2]"), "2001:db8::2");
	assert_string_equal(xff("::ffff:1.2.3.4"), "1.2.3.4");
	/* garbage left of the choice is never read */
	assert_string_equal(xff("garbage, 1.2.3.4"), "1.2.3.4");
	assert_string_equal(xff(", , 1.2.3.4"), "1.2.3.4");
}

static void test_xff_garbage(void **state)
{
	(void)state;
	assert_string_equal(xff(NULL), "");
	assert_string_equal(xff(""), "");
	assert_string_equal(xff("   "), "");
	assert_string_equal(xff("unknown"), "");
	assert_string_equal(xff("1.2.3.4, garbage"), "");
	assert_string_equal(xff("1.2.3.4,"), "");
	assert_string_equal(xff(",10.9.9.9"), "");
	assert_string_equal(xff("1.2.3.4:80"), "");
	assert_string_equal(xff("[1.2.3.4]"), "");
	assert_string_equal(xff("[2001:db8::1]:443"), "");
	assert_string_equal(xff("1.2.3.4 5.6.7.8"), "");
	assert_string_equal(xff("fe80::1%eth0"), "");
	assert_string_equal(xff("001.2.3.4"), "");
	/* garbage met while walking the trusted hops */
	assert_string_equal(xff("x, 10.9.9.9, 127.0.0.1"), "");
	assert_string_equal(xff("10.9.9.9,,127.0.0.1"), "");
}

/* ---- PROXY protocol ---- */

/* Parse p[0..n) whole, then grown byte by byte as reads would bring it:
 * before the whole header each prefix asks for more or is refused for
 * good, with the verdict of the whole. */
static int pp(const void *p, size_t n, vbx__proxyhdr *h)
{
	int whole = vbx__proxyproto_parse(p, n, h);
	vbx__proxyhdr g;
	for (size_t k = 1; k < n; k++) {
		int rc = vbx__proxyproto_parse(p, k, &g);
		if (rc < 0) {
			assert_int_equal(whole, -1);
			assert_string_equal(g.why, h->why);
			return whole;
		}
		if (rc > 0) {
			assert_int_equal(rc, whole);
			return whole;
		}
	}
	return whole;
}

static int pps(const char *s, vbx__proxyhdr *h)
{
	return pp(s, strlen(s), h);
}

static const char *client_of(const vbx__proxyhdr *h)
{
	static char text[VBX__ADDR_TEXT];
	vbx__ip_format(&h->client, text, sizeof(text));
	return text;
}

static void v1_bad(const char *s, const char *words)
{
	vbx__proxyhdr h;
	assert_int_equal(pps(s, &h), -1);
	if (!strstr(h.why, words))
		fail_msg("\"%s\" not in \"%s\"", words, h.why);
}

static void test_v1_good(void **state)
{
	(void)state;
	vbx__proxyhdr h;
	const char *l = "PROXY TCP4 1.2.3.4 10.0.0.1 56324 443\r\n";
	char buf[256];
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n\r\n", l);
	assert_int_equal(pps(buf, &h), (int)strlen(l));
	assert_int_equal(h.version, 1);
	assert_string_equal(client_of(&h), "1.2.3.4");
	assert_int_equal(h.port, 56324);

	assert_int_equal(pps("PROXY TCP6 2001:db8::1 ::1 0 65535\r\n", &h), 36);
	assert_string_equal(client_of(&h), "2001:db8::1");
	assert_int_equal(h.port, 0);
	assert_int_equal(pps("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", &h), 35);
	assert_string_equal(client_of(&h), "1.2.3.4");

	/* UNKNOWN: the peer is the client; what follows is ignored */
	assert_int_equal(pps("PROXY UNKNOWN\r\n", &h), 15);
	assert_int_equal(h.client.family, 0);
	assert_int_equal(pps("PROXY UNKNOWN ffff::1 whatever 1 2\r\n", &h), 36);
	assert_int_equal(h.client.family, 0);

	/* the longest line allowed: 107 bytes with CRLF */
	const char *max = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
	                  "65535\r\n";
	assert_int_equal(strlen(max), 104);
	assert_int_equal(pps(max, &h), 104);
	char unk[120];
	memset(unk, 'x', sizeof(unk));
	memcpy(unk, "PROXY UNKNOWN ", 14);
	memcpy(unk + 105, "\r\n", 2);
	assert_int_equal(pp(unk, 107, &h), 107);
	/* not whole yet */
	assert_int_equal(
	        vbx__proxyproto_parse((const unsigned char *)"PRO", 3, &h), 0);
	assert_int_equal(
	        vbx__proxyproto_parse((const unsigned char *)"", 0, &h), 0);
}

static void test_v1_broken(void **state)
{
	(void)state;
	v1_bad("GET / HTTP/1.1\r\n\r\n", "did not start with a PROXY");
	v1_bad("PROXY\r\n", "did not start with a PROXY");
	v1_bad("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n", "did not start");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", "line feed without");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\rX", "carriage return without");
	v1_bad("PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n", "not TCP4, TCP6 or UNK");
	v1_bad("PROXY UNKNOWNX\r\n", "not TCP4, TCP6 or UNKNOWN");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n", "expected PROXY TCPn");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", "empty fields");
	v1_bad("PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", "empty fields");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n", "empty fields");
	v1_bad("PROXY \r\n", "empty fields");
	v1_bad("PROXY TCP4 1.2.3 1.2.3.5 1 2\r\n", "not one of the protocol");
	v1_bad("PROXY TCP4 ::1 ::1 1 2\r\n", "not one of the protocol");
	v1_bad("PROXY TCP6 1.2.3.4 1.2.3.5 1 2\r\n", "not one of the protocol");
	v1_bad("PROXY TCP4 1.2.3.4 x 1 2\r\n", "not one of the protocol");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n", "a port");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", "a port");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n", "a port");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 x\r\n", "a port");
	v1_bad("PROXY TCP4 1.2.3.4 1.2.3.5 1 \r\n", "empty fields");
	/* NUL inside the line */
	vbx__proxyhdr h;
	const char nul[] = "PROXY TCP4 1.2.3.4\0 1.2.3.5 1 2\r\n";
	assert_int_equal(pp(nul, sizeof(nul) - 1, &h), -1);
	assert_non_null(strstr(h.why, "NUL"));
	/* too long: no CRLF within 107 bytes */
	char lng[200];
	memset(lng, 'x', sizeof(lng));
	memcpy(lng, "PROXY UNKNOWN ", 14);
	memcpy(lng + 106, "\r\n", 2);
	assert_int_equal(pp(lng, 108, &h), -1);
	assert_non_null(strstr(h.why, "107 bytes"));
	assert_int_equal(pp(lng, sizeof(lng), &h), -1);
	/* 105 bytes without CR: its CRLF may still end at byte 107 */
	assert_int_equal(vbx__proxyproto_parse((unsigned char *)lng, 105, &h),
	                 0);
	assert_int_equal(vbx__proxyproto_parse((unsigned char *)lng, 106, &h),
	                 -1);
}

/* A version 2 header: cmd (0 LOCAL, 1 PROXY), fam byte, then body. */
static size_t v2(unsigned char *out, int ver_cmd, int fam,
                 const unsigned char *body, size_t len)
{
	static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a,
	                                      0x00, 0x0d, 0x0a, 0x51,
	                                      0x55, 0x49, 0x54, 0x0a};
	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(len >> 8);
	out[15] = (unsigned char)len;
	if (len && body)
		memcpy(out + 16, body, len);
	return 16 + len;
}

static void test_v2_good(void **state)
{
	(void)state;
	unsigned char buf[5000], body[300];
	vbx__proxyhdr h;
	/* TCP over IPv4: src 1.2.3.4:4660, dst 10.0.0.1:443 */
	const unsigned char in4[12] = {1, 2, 3,    4,    10,   0,
	                               0, 1, 0x12, 0x34, 0x01, 0xbb};
	size_t n = v2(buf, 0x21, 0x11, in4, 12);
	memcpy(buf + n, "GET /", 5);
	assert_int_equal(pp(buf, n + 5, &h), 28);
	assert_int_equal(h.version, 2);
	assert_string_equal(client_of(&h), "1.2.3.4");
	assert_int_equal(h.port, 0x1234);
	/* with TLVs after the addresses (skipped) */
	memset(body, 0xee, sizeof(body));
	memcpy(body, in4, 12);
	n = v2(buf, 0x21, 0x11, body, 40);
	assert_int_equal(pp(buf, n, &h), 56);
	assert_string_equal(client_of(&h), "1.2.3.4");
	/* TCP over IPv6 */
	memset(body, 0, 36);
	body[0] = 0x20;
	body[1] = 0x01;
	body[2] = 0x0d;
	body[3] = 0xb8;
	body[15] = 7;
	body[31] = 1;
	body[32] = 0x30;
	body[33] = 0x39;
	n = v2(buf, 0x21, 0x21, body, 36);
	assert_int_equal(pp(buf, n, &h), 52);
	assert_string_equal(client_of(&h), "2001:db8::7");
	assert_int_equal(h.port, 12345);
	/* LOCAL (a health check), UNSPEC and UNIX: the peer is the client */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	assert_int_equal(pp(buf, n, &h), 16);
	assert_int_equal(h.client.family, 0);
	n = v2(buf, 0x20, 0x11, in4, 12);
	assert_int_equal(pp(buf, n, &h), 28);
	assert_int_equal(h.client.family, 0);
	n = v2(buf, 0x21, 0x00, NULL, 0);
	assert_int_equal(pp(buf, n, &h), 16);
	assert_int_equal(h.client.family, 0);
	memset(body, 'u', 216);
	n = v2(buf, 0x21, 0x31, body, 216);
	assert_int_equal(pp(buf, n, &h), 232);
	assert_int_equal(h.client.family, 0);
	/* the longest accepted */
	memset(buf, 0, sizeof(buf));
	n = v2(buf, 0x21, 0x11, NULL, VBX__PROXYPROTO_MAX - 16);
	memcpy(buf + 16, in4, 12);
	assert_int_equal(pp(buf, n, &h), VBX__PROXYPROTO_MAX);
	assert_string_equal(client_of(&h), "1.2.3.4");
}

static void v2_bad(const unsigned char *p, size_t n, const char *words)
{
	vbx__proxyhdr h;
	assert_int_equal(pp(p, n, &h), -1);
	if (!strstr(h.why, words))
		fail_msg("\"%s\" not in \"%s\"", words, h.why);
}

static void test_v2_broken(void **state)
{
	(void)state;
	unsigned char buf[70000], body[300] = {0};
	size_t n;
	/* a signature that goes wrong at its 8th byte */
	n = v2(buf, 0x21, 0x11, body, 12);
	buf[7] = 'q';
	v2_bad(buf, n, "did not start with a PROXY");
	n = v2(buf, 0x11, 0x11, body, 12);
	v2_bad(buf, n, "version nibble");
	n = v2(buf, 0x31, 0x11, body, 12);
	v2_bad(buf, n, "version nibble");
	n = v2(buf, 0x22, 0x11, body, 12);
	v2_bad(buf, n, "command other than");
	n = v2(buf, 0x21, 0x41, body, 12);
	v2_bad(buf, n, "unknown address family");
	n = v2(buf, 0x21, 0x12, body, 12);
	v2_bad(buf, n, "transport other than a stream");
	n = v2(buf, 0x21, 0x13, body, 12);
	v2_bad(buf, n, "transport other than a stream");
	/* address blocks shorter than their family */
	n = v2(buf, 0x21, 0x11, body, 11);
	v2_bad(buf, n, "shorter than its family");
	n = v2(buf, 0x21, 0x21, body, 35);
	v2_bad(buf, n, "shorter than its family");
	n = v2(buf, 0x21, 0x31, body, 215);
	v2_bad(buf, n, "shorter than its family");
	/* a length past the limit, up to the largest the field holds */
	n = v2(buf, 0x21, 0x11, NULL, VBX__PROXYPROTO_MAX - 15);
	v2_bad(buf, 16, "longer than 4096");
	n = v2(buf, 0x21, 0x11, NULL, 65535);
	memset(buf + 16, 0, 65535);
	v2_bad(buf, n, "longer than 4096");
	/* a header cut short is never whole */
	vbx__proxyhdr h;
	n = v2(buf, 0x21, 0x11, body, 12);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(vbx__proxyproto_parse(buf, k, &h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cidr_parse),
	        cmocka_unit_test(test_cidr_match),
	        cmocka_unit_test(test_ip_format),
	        cmocka_unit_test_setup(test_xff_choice, xff_setup),
	        cmocka_unit_test_setup(test_xff_garbage, xff_setup),
	        cmocka_unit_test(test_v1_good),
	        cmocka_unit_test(test_v1_broken),
	        cmocka_unit_test(test_v2_good),
	        cmocka_unit_test(test_v2_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
