/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_rawhead.c - the raw request-head scanner of core/rawhead.c. Every
 * stream is scanned whole, byte by byte and split in two at every byte:
 * each way must give the same verdict. Good streams (keep-alive requests,
 * bodies that look like bad heads, dot names that are not segments, the
 * limits themselves) pass; each fault (encoded slash, dot segment, control
 * character, target, header line, head and field counts over their
 * limits, an upgrade to anything but websocket) is found; WebSocket
 * upgrades and unframed bodies end the scan.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rawhead.h"

static char why[sizeof(((vbx__rawhead *)0)->why)];

/* Scan s[0..n) in pieces: cut 0 whole, SIZE_MAX byte by byte, else in
 * two at cut. Returns the last verdict; fills why at a fault. */
static int scan_cut(const char *s, size_t n, size_t cut)
{
	vbx__rawhead h;
	memset(&h, 0, sizeof(h));
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;
	if (cut == SIZE_MAX) {
		for (size_t i = 0; i < n && !rc; i++)
			rc = vbx__rawhead_scan(&h, p + i, 1);
	} else {
		rc = vbx__rawhead_scan(&h, p, cut);
		if (!rc)
			rc = vbx__rawhead_scan(&h, p + cut, n - cut);
	}
	if (rc > 0) {
		assert_int_equal(h.status, rc);
		/* at fault for good */
		assert_int_equal(vbx__rawhead_scan(&h, p, n), rc);
		snprintf(why, sizeof(why), "%s", h.why);
	}
	return rc;
}

/* The verdict on s, the same however it is split. Long streams are split
 * at every 97th byte only, to keep the test fast. */
static int verdict_n(const char *s, size_t n)
{
	int whole = scan_cut(s, n, 0);
	char first[sizeof(why)];
	snprintf(first, sizeof(first), "%s", whole > 0 ? why : "");
	size_t step = n > 2000 ? 97 : 1;
	for (size_t cut = 1; cut < n; cut += step) {
		assert_int_equal(scan_cut(s, n, cut), whole);
		if (whole > 0)
			assert_string_equal(why, first);
	}
	assert_int_equal(scan_cut(s, n, SIZE_MAX), whole);
	snprintf(why, sizeof(why), "%s", first);
	return whole;
}

static int verdict(const char *s)
{
	return verdict_n(s, strlen(s));
}

#define GET(target) "GET " target " HTTP/1.1\r\nHost: t\r\n\r\n"

static void refused(const char *s, int status, const char *words)
{
	assert_int_equal(verdict(s), status);
	if (!strstr(why, words))
		fail_msg("\"%s\" not in \"%s\"", words, why);
}

static void test_good_keep_alive_stream(void **state)
{
	assert_int_equal(
	        verdict("\r\n" GET(
	                "/health/live") "POST /api/v1/x HTTP/1.1\r\n"
	                                "Content-Length: 28\r\nContent-Type: "
	                                "a/b\r\n\r\n"
	                                "GET /..%2f%00 "
	                                "HTTP/1.1\r\n\r\n\r\n" GET("/api/v1/"
	                                                           "a?b=1")
	                                        GET("/a/.../b/.c/..d/"
	                                            "c.?next=%2Fa%2F..%2F&x=%"
	                                            "41z")
	                                                GET("/a%zz/%2/%41%7e")),
	        0);
	/* a body is skipped by its length, then the next head is checked */
	refused("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n%2f%2f" GET(
	                "/a/../b"),
	        400, "'.' or '..' segment");
}

static void test_encoded_slash_and_backslash(void **state)
{
	refused(GET("/api/v1/projects/..%2f..%2fv1%2fusers"), 400,
	        "encoded slash or backslash");
	refused(GET("/a%2Fb"), 400, "encoded slash");
	refused(GET("/a%5cb"), 400, "encoded slash");
	refused(GET("/a%5Cb?x"), 400, "encoded slash");
}

static void test_dot_segments(void **state)
{
	const char *bad[] = {GET("/a/./b"),  GET("/a/../b"), GET("/a/%2e%2E/b"),
	                     GET("/a/.%2e"), GET("/a/..?x"), GET("/a/.."),
	                     GET("/."),      GET("/a/%2e/"), GET("./a"),
	                     GET("/a/%2E?q")};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		refused(bad[i], 400, "'.' or '..' segment");
}

static void test_control_characters(void **state)
{
	const char *bad[] = {GET("/a%00"),    GET("/a%0a"), GET("/a%0D%0A"),
	                     GET("/a%7F"),    GET("/a%1f"), GET("/a?q=%00"),
	                     GET("/a\x01"),   GET("/a\tb"), GET("/a\x7f"),
	                     GET("/a?q=\x1b")};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		refused(bad[i], 400, "control character");
}

static char big[80000];

/* "GET /" + path of n 'a's + " HTTP/1.1\r\nHost: t\r\n\r\n" */
static int target_of(size_t n)
{
	size_t k = (size_t)sprintf(big, "GET /");
	memset(big + k, 'a', n - 1);
	k += n - 1;
	k += (size_t)sprintf(big + k, " HTTP/1.1\r\nHost: t\r\n\r\n");
	return verdict_n(big, k);
}

static void test_target_length(void **state)
{
	assert_int_equal(target_of(8190), 0);
	assert_int_equal(target_of(8191), 414);
	assert_string_equal(why, "request target (path and query) is longer "
	                         "than 8190 bytes");
}

/* A GET with params query parameters and headers header lines. */
static int fields(int params, int headers)
{
	size_t k = (size_t)sprintf(big, "GET /a?");
	for (int i = 0; i < params; i++)
		k += (size_t)sprintf(big + k, "%sp%d=1", i ? "&" : "", i);
	k += (size_t)sprintf(big + k, " HTTP/1.1\r\n");
	for (int i = 0; i < headers; i++)
		k += (size_t)sprintf(big + k, "X-%d: v\r\n", i);
	k += (size_t)sprintf(big + k, "\r\n");
	return verdict_n(big, k);
}

static void test_field_counts(void **state)
{
	assert_int_equal(fields(90, 0), 0);
	assert_int_equal(fields(91, 0), 414);
	assert_string_equal(why, "more than 90 query parameters and header "
	                         "lines together");
	assert_int_equal(fields(89, 1), 0);
	assert_int_equal(fields(90, 1), 431);
	assert_int_equal(fields(1, 64), 0);
	assert_int_equal(fields(1, 65), 431);
	assert_string_equal(why, "more than 64 header lines");
	assert_int_equal(fields(0, 1000), 431);
}

/* A GET with one header: a name of nlen bytes, a value of vlen. */
static int header_of(size_t nlen, size_t vlen)
{
	size_t k = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	memset(big + k, 'N', nlen);
	k += nlen;
	big[k++] = ':';
	memset(big + k, 'v', vlen);
	k += vlen;
	k += (size_t)sprintf(big + k, "\r\n\r\n");
	return verdict_n(big, k);
}

static void test_header_line_and_head_size(void **state)
{
	assert_int_equal(header_of(5, 8190), 0);
	assert_int_equal(header_of(5, 8191), 431);
	assert_string_equal(why, "request header nnnnn is longer than 8190 "
	                         "bytes");
	assert_int_equal(header_of(8191, 1), 431);
	assert_int_equal(header_of(5, 65536), 431);
	/* four headers of 8000 bytes fit 31 KiB; a fifth does not */
	size_t k = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 4; i++) {
		k += (size_t)sprintf(big + k, "X-%d: ", i);
		memset(big + k, 'v', 7800);
		k += 7800;
		k += (size_t)sprintf(big + k, "\r\n");
	}
	assert_int_equal(verdict_n(big, k + 2), 0);
	memcpy(big + k, "X-4: ", 5);
	memset(big + k + 5, 'v', 1000);
	memcpy(big + k + 1005, "\r\n\r\n", 4);
	assert_int_equal(verdict_n(big, k + 1009), 431);
	assert_string_equal(why, "request head is larger than 31744 bytes");
}

static void test_scan_ends_where_framing_is_not_followed(void **state)
{
	/* after an upgrade, WebSocket frames are not heads */
	assert_int_equal(verdict("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
	                         "\r\n\x81\x85GET /%00"),
	                 VBX__RAWHEAD_DONE);
	/* libwebsockets refuses these and closes (framing.c) */
	assert_int_equal(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: "
	                         "chunked\r\n\r\n0\r\n\r\n" GET("/%00")),
	                 VBX__RAWHEAD_DONE);
	assert_int_equal(verdict("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
	                         "Content-Length: 1\r\n\r\nx"),
	                 VBX__RAWHEAD_DONE);
	assert_int_equal(verdict("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n"
	                         "\r\nxxxxx"),
	                 VBX__RAWHEAD_DONE);
	assert_int_equal(verdict("GET /ws HTTP/1.1\r\nupgrade:\tWebSocket \r\n"
	                         "\r\n\x81"),
	                 VBX__RAWHEAD_DONE);
	/* HTTP/2 over cleartext would carry heads the scanner cannot read */
	refused("GET / HTTP/1.1\r\nUpgrade: h2c\r\nHTTP2-Settings: A\r\n\r\n",
	        400, "Upgrade is accepted to websocket only");
	refused("GET / HTTP/1.1\r\nUpgrade: websocket, h2c\r\n\r\n", 400,
	        "Upgrade is accepted to websocket only");
	refused("GET / HTTP/1.1\r\nUpgrade: websocketxxxxxxxxxxxxx\r\n\r\n",
	        400, "Upgrade is accepted to websocket only");
	/* a fault in the head itself is still found */
	refused("GET /%2f HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400,
	        "encoded slash");
	/* a Content-Length with spaces around is one length */
	assert_int_equal(verdict("POST / HTTP/1.1\r\nContent-length:  3 \r\n"
	                         "\r\nabc" GET("/")),
	                 0);
}

/* One read from the socket: the scan's verdict, then the per-read one. */
static int one_read(vbx__rawhead *h, const char *s)
{
	vbx__rawhead_mark m;
	vbx__rawhead_mark_take(h, &m);
	int rc = vbx__rawhead_scan(h, (const unsigned char *)s, strlen(s));
	return rc ? rc : vbx__rawhead_after_read(h, &m);
}

#define POST2 "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"

/* One X-Forwarded-For list per request: two lines are refused, in any
 * case of the name, also on an upgrade; one line per request of a
 * keep-alive stream is fine. */
static void test_one_forwarded_for_line(void **state)
{
	(void)state;
	assert_int_equal(
	        verdict("GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4, "
	                "10.0.0.1\r\n\r\nGET / HTTP/1.1\r\n"
	                "x-forwarded-for: 1.2.3.4\r\nX-Forwarded-Host: a\r\n"
	                "\r\n"),
	        0);
	refused("GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\nHost: t\r\n"
	        "x-forwarded-FOR: 5.6.7.8\r\n\r\n",
	        400, "more than one X-Forwarded-For");
	refused("GET /ws HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n"
	        "X-Forwarded-For:\r\nUpgrade: websocket\r\n\r\n",
	        400, "more than one X-Forwarded-For");
}

static void test_a_body_shares_no_read(void **state)
{
	(void)state;
	vbx__rawhead h;
	memset(&h, 0, sizeof(h));
	assert_int_equal(one_read(&h, POST2), 0);
	assert_int_equal(one_read(&h, GET("/a") GET("/b")), 0);
	assert_int_equal(one_read(&h, POST2), 0);
	assert_int_equal(one_read(&h, POST2 GET("/a")), 400);
	assert_non_null(strstr(h.why, "together with another request"));

	memset(&h, 0, sizeof(h));
	assert_int_equal(one_read(&h, GET("/a") POST2), 400);

	/* a body that ends in the next read, and a request behind it there */
	memset(&h, 0, sizeof(h));
	assert_int_equal(one_read(&h, "POST /x HTTP/1.1\r\nContent-Length: "
	                              "2\r\n\r\n{"),
	                 0);
	assert_int_equal(one_read(&h, "}" GET("/a")), 400);

	/* a head cut across reads is one request in each */
	memset(&h, 0, sizeof(h));
	assert_int_equal(one_read(&h, GET("/a") "POST /x HTTP/1.1\r\n"), 0);
	assert_int_equal(one_read(&h, "Content-Length: 2\r\n\r\n{}"), 0);
	assert_int_equal(one_read(&h, GET("/b")), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_keep_alive_stream),
	        cmocka_unit_test(test_encoded_slash_and_backslash),
	        cmocka_unit_test(test_dot_segments),
	        cmocka_unit_test(test_control_characters),
	        cmocka_unit_test(test_target_length),
	        cmocka_unit_test(test_field_counts),
	        cmocka_unit_test(test_header_line_and_head_size),
	        cmocka_unit_test(test_scan_ends_where_framing_is_not_followed),
	        cmocka_unit_test(test_a_body_shares_no_read),
	        cmocka_unit_test(test_one_forwarded_for_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
