/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_wsframe.c - the frame-header scanner of core/wsframe.c: good
 * streams of every length encoding pass whole, byte by byte and cut
 * anywhere; each fault (unmasked, control frame over 125 bytes, a 64-bit
 * length with its top bit) is found at its header, with the bytes before
 * it handed on, also when the header is split across reads.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wsframe.h"

/* Append one frame with payload length n (payload bytes 'x') to b. */
static size_t put_frame(unsigned char *b, int opcode, uint64_t n, int masked,
                        int top_bit)
{
	size_t i = 0;
	b[i++] = (unsigned char)(0x80 | opcode);
	unsigned char m = masked ? 0x80 : 0;
	if (n < 126 && !top_bit) {
		b[i++] = (unsigned char)(m | n);
	} else if (n < 65536 && !top_bit) {
		b[i++] = m | 126;
		b[i++] = (unsigned char)(n >> 8);
		b[i++] = (unsigned char)n;
	} else {
		b[i++] = m | 127;
		for (int s = 56; s >= 0; s -= 8)
			b[i++] = (unsigned char)(n >> s);
		if (top_bit)
			b[2] |= 0x80;
	}
	if (masked) {
		memcpy(b + i, "\x11\x22\x33\x44", 4);
		i += 4;
	}
	if (!top_bit) {
		memset(b + i, 'x', (size_t)n);
		i += (size_t)n;
	}
	return i;
}

/* A stream of good frames: text, ping, binary of 126 and 70000 bytes
 * (16- and 64-bit lengths), continuation, close. */
static size_t good_stream(unsigned char *b)
{
	size_t n = 0;
	n += put_frame(b + n, 1, 5, 1, 0);
	n += put_frame(b + n, 9, 125, 1, 0);
	n += put_frame(b + n, 2, 126, 1, 0);
	n += put_frame(b + n, 2, 70000, 1, 0);
	n += put_frame(b + n, 0, 0, 1, 0);
	n += put_frame(b + n, 8, 2, 1, 0);
	return n;
}

static unsigned char buf[160000];

static void test_good_stream_whole_and_in_pieces(void **state)
{
	size_t n = good_stream(buf);
	for (size_t piece = 1; piece <= 16; piece++) {
		vbx__wsframe f = {0};
		for (size_t i = 0; i < n; i += piece) {
			size_t k = n - i < piece ? n - i : piece;
			assert_int_equal(vbx__wsframe_scan(&f, buf + i, k), k);
		}
		assert_int_equal(f.code, 0);
		assert_int_equal(f.hlen, 0);
		assert_int_equal(f.left, 0);
	}
	vbx__wsframe f = {0};
	assert_int_equal(vbx__wsframe_scan(&f, buf, n), n);
	assert_int_equal(vbx__wsframe_scan(&f, buf, 0), 0);
}

/* good frames, then the bad one: found at its header, cut anywhere */
static void expect_fault_at(size_t bad_len, const char *why)
{
	size_t good = good_stream(buf);
	size_t n = good + bad_len;
	for (size_t cut = 0; cut <= n; cut++) {
		vbx__wsframe f = {0};
		size_t a = vbx__wsframe_scan(&f, buf, cut);
		size_t b = vbx__wsframe_scan(&f, buf + cut, n - cut);
		assert_int_equal(f.code, 1002);
		assert_string_equal(f.why, why);
		if (cut <= good) {
			/* the bad header lies wholly in the second piece */
			assert_int_equal(a, cut);
			assert_int_equal(b, good - cut);
		} else if (cut < good + 2) {
			/* split after its first byte: that byte went on */
			assert_int_equal(a, cut);
			assert_int_equal(b, 0);
		} else {
			assert_int_equal(a, good);
			assert_int_equal(b, 0);
		}
		/* at fault for good */
		assert_int_equal(vbx__wsframe_scan(&f, buf, good), 0);
	}
}

static void test_unmasked_frame(void **state)
{
	size_t good = good_stream(buf);
	size_t bad = put_frame(buf + good, 1, 3, 0, 0);
	expect_fault_at(bad, "unmasked client frame");
}

static void test_unmasked_long_frame(void **state)
{
	size_t good = good_stream(buf);
	size_t bad = put_frame(buf + good, 2, 300, 0, 0);
	expect_fault_at(bad, "unmasked client frame");
}

static void test_control_frame_over_125(void **state)
{
	size_t good = good_stream(buf);
	size_t bad = put_frame(buf + good, 9, 126, 1, 0);
	expect_fault_at(bad, "control frame over 125 bytes");
	bad = put_frame(buf + good, 8, 70000, 1, 0);
	expect_fault_at(bad, "control frame over 125 bytes");
}

static void test_length_top_bit(void **state)
{
	size_t good = good_stream(buf);
	size_t bad = put_frame(buf + good, 2, 1, 1, 1);
	size_t n = good + bad;
	vbx__wsframe f = {0};
	assert_int_equal(vbx__wsframe_scan(&f, buf, n), good);
	assert_int_equal(f.code, 1002);
	assert_string_equal(f.why, "frame length over 2^63");
}

static void test_payload_is_not_read_as_headers(void **state)
{
	/* a masked frame whose payload looks like unmasked headers */
	unsigned char b[64];
	size_t n = put_frame(b, 1, 20, 1, 0);
	memset(b + 6, 0x81, 20); /* FIN+text, unmasked, length 1: not headers */
	vbx__wsframe f = {0};
	assert_int_equal(vbx__wsframe_scan(&f, b, n), n);
	assert_int_equal(f.code, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_stream_whole_and_in_pieces),
	        cmocka_unit_test(test_unmasked_frame),
	        cmocka_unit_test(test_unmasked_long_frame),
	        cmocka_unit_test(test_control_frame_over_125),
	        cmocka_unit_test(test_length_top_bit),
	        cmocka_unit_test(test_payload_is_not_read_as_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
