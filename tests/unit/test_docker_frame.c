/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_frame.c - docker-runtime's frame.c: the engine's
 * stdout/stderr multiplexing, chunked bodies and response heads, fed
 * whole and split at every point, and broken in every way the parsers
 * must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"

/* ---- demux ---- */

/* What the demuxer handed out, as "channel:bytes|" runs, consecutive runs
 * of one channel merged so that any split reads the same. */
typedef struct runs {
	char text[4096];
	size_t len;
	int last; /* channel of the last run, -1 before the first */
	size_t calls;
} runs;

static void runs_init(runs *r)
{
	r->len = 0;
	r->text[0] = '\0';
	r->last = -1;
	r->calls = 0;
}

static void collect(void *ctx, int channel, const char *p, size_t len)
{
	runs *r = ctx;

	assert_true(len > 0); /* no empty runs */
	assert_in_range(channel, 0, 2);
	r->calls++;
	if (channel != r->last) {
		r->len += (size_t)snprintf(r->text + r->len,
		                           sizeof(r->text) - r->len,
		                           "|%d:", channel);
		r->last = channel;
	}
	assert_true(r->len + len < sizeof(r->text));
	memcpy(r->text + r->len, p, len);
	r->len += len;
	r->text[r->len] = '\0';
}

/* Append one frame (stream byte, payload) to buf at *n. */
static void frame(unsigned char *buf, size_t *n, int stream, const char *p,
                  size_t len)
{
	unsigned char h[8] = {(unsigned char)stream,
	                      0,
	                      0,
	                      0,
	                      (unsigned char)(len >> 24),
	                      (unsigned char)(len >> 16),
	                      (unsigned char)(len >> 8),
	                      (unsigned char)len};

	memcpy(buf + *n, h, 8);
	memcpy(buf + *n + 8, p, len);
	*n += 8 + len;
}

static size_t sample(unsigned char *buf)
{
	size_t n = 0;

	frame(buf, &n, 1, "hello ", 6);
	frame(buf, &n, 1, "world\n", 6);
	frame(buf, &n, 2, "oops\n", 5);
	frame(buf, &n, 1, "", 0);
	frame(buf, &n, 2, "", 0);
	frame(buf, &n, 0, "in", 2);
	frame(buf, &n, 1, "x", 1);
	frame(buf, &n, 2, "last", 4);
	return n;
}

static const char sample_text[] = "|1:hello world\n|2:oops\n|0:in|1:x|2:last";

static void test_demux_whole(void **state)
{
	unsigned char buf[256];
	size_t n = sample(buf);
	dkr_demux m = {0};
	runs r;

	runs_init(&r);
	assert_int_equal(dkr_demux_feed(&m, buf, n, collect, &r), VBX_OK);
	assert_string_equal(r.text, sample_text);
	assert_int_equal(m.left, 0);
	assert_int_equal(m.hdr_have, 0);
}

/* Every pair of split points: three pieces, any of them empty. */
static void test_demux_every_split(void **state)
{
	unsigned char buf[256];
	size_t n = sample(buf);

	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i; j <= n; j++) {
			dkr_demux m = {0};
			runs r;

			runs_init(&r);
			assert_int_equal(
			        dkr_demux_feed(&m, buf, i, collect, &r),
			        VBX_OK);
			assert_int_equal(
			        dkr_demux_feed(&m, buf + i, j - i, collect, &r),
			        VBX_OK);
			assert_int_equal(
			        dkr_demux_feed(&m, buf + j, n - j, collect, &r),
			        VBX_OK);
			if (strcmp(r.text, sample_text) != 0)
				fail_msg("split at %zu and %zu: %s", i, j,
				         r.text);
		}
	}
}

static void test_demux_byte_by_byte(void **state)
{
	unsigned char buf[256];
	size_t n = sample(buf);
	dkr_demux m = {0};
	runs r;

	runs_init(&r);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(dkr_demux_feed(&m, buf + i, 1, collect, &r),
		                 VBX_OK);
	assert_string_equal(r.text, sample_text);
}

static void test_demux_zero_length(void **state)
{
	unsigned char buf[64];
	size_t n = 0;
	dkr_demux m = {0};
	runs r;

	frame(buf, &n, 1, "", 0);
	frame(buf, &n, 2, "", 0);
	frame(buf, &n, 1, "", 0);
	runs_init(&r);
	assert_int_equal(dkr_demux_feed(&m, buf, n, collect, &r), VBX_OK);
	assert_int_equal(r.calls, 0);
	assert_int_equal(m.hdr_have, 0);
	assert_int_equal(m.left, 0);
	/* and nothing at all is fine too */
	assert_int_equal(dkr_demux_feed(&m, buf, 0, collect, &r), VBX_OK);
	assert_int_equal(r.calls, 0);
}

/* A 4 GiB frame: bytes pass through as they come, nothing is held. */
static void test_demux_huge_length(void **state)
{
	unsigned char h[8] = {2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	char chunk[1000];
	dkr_demux m = {0};
	runs r;

	memset(chunk, 'z', sizeof(chunk));
	runs_init(&r);
	assert_int_equal(dkr_demux_feed(&m, h, sizeof(h), collect, &r), VBX_OK);
	assert_int_equal(r.calls, 0);
	assert_int_equal(dkr_demux_feed(&m, chunk, sizeof(chunk), collect, &r),
	                 VBX_OK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.len, 3 + sizeof(chunk)); /* "|2:" + payload */
	assert_int_equal(m.left, 0xffffffffu - sizeof(chunk));
	assert_int_equal(m.channel, 2);
}

/* A stream byte other than 0..2 is refused, and stays refused. */
static void test_demux_bad_stream(void **state)
{
	for (int s = 3; s < 256; s += 17) {
		unsigned char buf[64];
		size_t n = 0;
		dkr_demux m = {0};
		runs r;

		frame(buf, &n, 1, "ok", 2);
		frame(buf, &n, s, "no", 2);
		runs_init(&r);
		assert_int_equal(dkr_demux_feed(&m, buf, n, collect, &r),
		                 VBX_EINVAL);
		assert_string_equal(r.text, "|1:ok"); /* nothing after it */
		/* stuck: even a good frame is refused now */
		n = 0;
		frame(buf, &n, 1, "ok", 2);
		assert_int_equal(dkr_demux_feed(&m, buf, n, collect, &r),
		                 VBX_EINVAL);
		assert_int_equal(dkr_demux_feed(&m, buf, 0, collect, &r),
		                 VBX_EINVAL);
		assert_string_equal(r.text, "|1:ok");
	}
}

static void test_demux_bad_padding(void **state)
{
	for (int pos = 1; pos <= 3; pos++) {
		unsigned char h[8] = {1, 0, 0, 0, 0, 0, 0, 1};
		dkr_demux m = {0};
		runs r;

		h[pos] = 0x80;
		runs_init(&r);
		/* split inside the header: refused when it completes */
		assert_int_equal(dkr_demux_feed(&m, h, 5, collect, &r), VBX_OK);
		assert_int_equal(dkr_demux_feed(&m, h + 5, 3, collect, &r),
		                 VBX_EINVAL);
		assert_int_equal(r.calls, 0);
	}
}

/* ---- chunked ---- */

static const char chunked_body[] = "5\r\nhello\r\n"
                                   "1;name=value\r\n \r\n"
                                   "A \r\n0123456789\r\n"
                                   "000C\nabcdefghijkl\n"
                                   "0\r\nX-Trailer: yes\r\nOther: 2\r\n\r\n"
                                   "GARBAGE after the end";
static const char chunked_data[] = "hello 0123456789abcdefghijkl";

/* Decode pieces of text split at i and j; the data into out. */
static ssize_t chunked_split(const char *text, size_t n, size_t i, size_t j,
                             char *out, dkr_chunked *c)
{
	size_t cuts[4] = {0, i, j, n}, len = 0;
	char buf[512];

	memset(c, 0, sizeof(*c));
	for (int k = 0; k < 3; k++) {
		size_t piece = cuts[k + 1] - cuts[k];
		ssize_t r;

		memcpy(buf, text + cuts[k], piece);
		r = dkr_chunked_decode(c, buf, piece);
		if (r < 0)
			return r;
		memcpy(out + len, buf, (size_t)r);
		len += (size_t)r;
	}
	out[len] = '\0';
	return (ssize_t)len;
}

static void test_chunked_every_split(void **state)
{
	size_t n = strlen(chunked_body);

	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i; j <= n; j++) {
			char out[512];
			dkr_chunked c;
			ssize_t r =
			        chunked_split(chunked_body, n, i, j, out, &c);

			if (r < 0 || strcmp(out, chunked_data) != 0)
				fail_msg("split at %zu and %zu: %zd \"%s\"", i,
				         j, r, r >= 0 ? out : "");
			assert_true(dkr_chunked_done(&c));
		}
	}
}

static void test_chunked_incomplete(void **state)
{
	const char *text = "5\r\nhello\r\n0\r\n";
	char out[64];
	dkr_chunked c;

	/* the last chunk came, its (empty) trailer section did not */
	assert_int_equal(chunked_split(text, strlen(text), 3, 8, out, &c), 5);
	assert_string_equal(out, "hello");
	assert_false(dkr_chunked_done(&c));
	memset(&c, 0, sizeof(c));
	assert_false(dkr_chunked_done(&c));
}

static void test_chunked_broken(void **state)
{
	static const char *const bad[] = {
	        "g\r\n",                 /* not hex */
	        "\r\n",                  /* no digits */
	        ";ext\r\n",              /* no digits before ext */
	        " 5\r\nhello\r\n",       /* space before the digits */
	        "5\r\nhelloX\r\n",       /* data longer than said */
	        "5\r\nhello\rX",         /* CR without LF */
	        "5\rX",                  /* size line CR without LF */
	        "11111111111111111\r\n", /* 17 digits */
	        "-1\r\n",                /* negative */
	        "0\r\n\rX",              /* end of trailers broken */
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		char buf[64];
		size_t n = strlen(bad[k]);
		dkr_chunked c = {0};

		memcpy(buf, bad[k], n);
		if (dkr_chunked_decode(&c, buf, n) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[k]);
		/* stuck */
		memcpy(buf, "1\r\na\r\n", 6);
		assert_int_equal(dkr_chunked_decode(&c, buf, 6), VBX_EINVAL);
		assert_false(dkr_chunked_done(&c));
	}
}

/* Sixteen hex digits are the most a size takes; the data passes. */
static void test_chunked_big_size(void **state)
{
	char buf[64] = "00000000FFFFFFFF\r\nabc";
	dkr_chunked c = {0};

	assert_int_equal(dkr_chunked_decode(&c, buf, strlen(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_true(c.left == 0xffffffffull - 3);
}

static void test_chunked_long_extension(void **state)
{
	char buf[8192];
	dkr_chunked c = {0};

	memcpy(buf, "1;", 2);
	memset(buf + 2, 'x', sizeof(buf) - 2);
	assert_int_equal(dkr_chunked_decode(&c, buf, sizeof(buf)), VBX_EINVAL);
}

/* ---- response heads ---- */

static void test_head_upgrade(void **state)
{
	static const char text[] = "HTTP/1.1 101 UPGRADED\r\n"
	                           "Content-Type: application/vnd.docker.raw-"
	                           "stream\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Upgrade: tcp\r\n"
	                           "\r\n"
	                           "$ prompt";
	size_t head = strlen(text) - strlen("$ prompt");
	dkr_head h;

	/* every prefix short of the blank line is "not yet" */
	for (size_t n = 0; n < head; n++)
		assert_int_equal(dkr_head_parse(text, n, &h), 0);
	for (size_t n = head; n <= strlen(text); n++) {
		assert_int_equal(dkr_head_parse(text, n, &h), (ssize_t)head);
		assert_int_equal(h.status, 101);
		assert_false(h.chunked);
		assert_int_equal(h.content_length, -1);
	}
}

static void test_head_fields(void **state)
{
	static const char chunked[] = "HTTP/1.1 200 OK\n"
	                              "transfer-encoding:  gzip, Chunked \n"
	                              "X-Empty:\n"
	                              "\n";
	static const char length[] = "HTTP/1.0 404 Not Found\r\n"
	                             "Content-Length: 29\r\n"
	                             "content-length: 29\r\n"
	                             "\r\n{\"message\":\"No such container\"}";
	static const char no_reason[] = "HTTP/1.1 204\r\n\r\n";
	dkr_head h;

	assert_int_equal(dkr_head_parse(chunked, strlen(chunked), &h),
	                 (ssize_t)strlen(chunked));
	assert_int_equal(h.status, 200);
	assert_true(h.chunked);
	assert_true(dkr_head_parse(length, strlen(length), &h) > 0);
	assert_int_equal(h.status, 404);
	assert_false(h.chunked);
	assert_int_equal(h.content_length, 29);
	assert_int_equal(dkr_head_parse(no_reason, strlen(no_reason), &h),
	                 (ssize_t)strlen(no_reason));
	assert_int_equal(h.status, 204);
}

static void test_head_broken(void **state)
{
	static const char *const bad[] = {
	        "\r\n\r\n",
	        "HTTP/2 200 OK\r\n\r\n",
	        "HTTP/1.1 20 OK\r\n\r\n",
	        "HTTP/1.1 2000 OK\r\n\r\n",
	        "HTTP/1.1 099 Low\r\n\r\n",
	        "HTTP/1.1 600 High\r\n\r\n",
	        "HTTP/1.1  200 OK\r\n\r\n",
	        "http/1.1 200 OK\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
	        "HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	        "Content-Length: 2\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: "
	        "9999999999999999999\r\n\r\n",
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		dkr_head h;

		if (dkr_head_parse(bad[k], strlen(bad[k]), &h) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[k]);
	}
}

/* A head that never ends is refused once DKR_HEAD_MAX bytes are in. */
static void test_head_too_long(void **state)
{
	size_t n = DKR_HEAD_MAX + 100;
	char *buf = malloc(n);
	dkr_head h;

	assert_non_null(buf);
	memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(buf + 20, 'a', n - 20);
	assert_int_equal(dkr_head_parse(buf, DKR_HEAD_MAX - 1, &h), 0);
	assert_int_equal(dkr_head_parse(buf, DKR_HEAD_MAX, &h), VBX_EINVAL);
	assert_int_equal(dkr_head_parse(buf, n, &h), VBX_EINVAL);
	/* ending just past the limit is too long as well */
	memcpy(buf + DKR_HEAD_MAX - 2, "\r\n\r\n", 4);
	assert_int_equal(dkr_head_parse(buf, n, &h), VBX_EINVAL);
	/* and just within it is fine */
	memcpy(buf + DKR_HEAD_MAX - 4, "\r\n\r\n", 4);
	assert_int_equal(dkr_head_parse(buf, n, &h), DKR_HEAD_MAX);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_demux_whole),
	        cmocka_unit_test(test_demux_every_split),
	        cmocka_unit_test(test_demux_byte_by_byte),
	        cmocka_unit_test(test_demux_zero_length),
	        cmocka_unit_test(test_demux_huge_length),
	        cmocka_unit_test(test_demux_bad_stream),
	        cmocka_unit_test(test_demux_bad_padding),
	        cmocka_unit_test(test_chunked_every_split),
	        cmocka_unit_test(test_chunked_incomplete),
	        cmocka_unit_test(test_chunked_broken),
	        cmocka_unit_test(test_chunked_big_size),
	        cmocka_unit_test(test_chunked_long_extension),
	        cmocka_unit_test(test_head_upgrade),
	        cmocka_unit_test(test_head_fields),
	        cmocka_unit_test(test_head_broken),
	        cmocka_unit_test(test_head_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
