/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_termproto.c - the terminal frames of the vibebox CLI
 * (cli/termproto.c): what the client sends, byte for byte, and what it
 * makes of the server's frames, broken ones included, plus the offset
 * arithmetic that keeps a resumed stream from repeating or losing bytes.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "termproto.h"

/* A server frame: type byte + text. */
static int decode_json(int type, const char *json, term_frame *f)
{
	uint8_t buf[1024];
	size_t n = strlen(json);
	assert_true(n + 1 <= sizeof(buf));
	buf[0] = (uint8_t)type;
	memcpy(buf + 1, json, n);
	return term_decode(buf, n + 1, f);
}

static void test_encode(void **state)
{
	uint8_t b[16];
	assert_int_equal(term_encode_resize(b, 132, 43), 5);
	assert_memory_equal(b, "\x01\x00\x84\x00\x2b", 5);
	/* sizes past a u16 are clamped, not wrapped */
	term_encode_resize(b, 70000, 1);
	assert_memory_equal(b, "\x01\xff\xff\x00\x01", 5);
	assert_int_equal(term_encode_ack(b, 0x0102030405060708ull), 9);
	assert_memory_equal(b, "\x02\x01\x02\x03\x04\x05\x06\x07\x08", 9);
	assert_int_equal(term_encode_input(b, "ls\n", 3), 4);
	assert_memory_equal(b, "\x00ls\n", 4);
	assert_int_equal(term_encode_input(b, NULL, 0), 1);
	assert_int_equal(b[0], TERM_INPUT);
}

static void test_u64(void **state)
{
	uint8_t b[8];
	term_put_u64(b, UINT64_MAX);
	assert_int_equal(term_get_u64(b), UINT64_MAX);
	term_put_u64(b, 1);
	assert_memory_equal(b, "\0\0\0\0\0\0\0\1", 8);
}

static void test_output(void **state)
{
	static const uint8_t msg[] = {0x80, 0, 0, 0, 0, 0, 0, 1, 0, 'h', 'i'};
	term_frame f;
	assert_int_equal(term_decode(msg, sizeof(msg), &f), 0);
	assert_int_equal(f.type, TERM_OUTPUT);
	assert_int_equal(f.offset, 256);
	assert_int_equal(f.len, 2);
	assert_memory_equal(f.data, "hi", 2);
	/* a header alone is an empty output frame */
	assert_int_equal(term_decode(msg, 9, &f), 0);
	assert_int_equal(f.len, 0);
}

static void test_broken_frames(void **state)
{
	static const uint8_t short_output[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t unknown[] = {0x42, '{', '}'};
	static const uint8_t client_type[] = {0x00, 'x'};
	/* an offset whose bytes would run past 2^64 */
	static const uint8_t wraps[] = {0x80, 0xff, 0xff, 0xff, 0xff,
	                                0xff, 0xff, 0xff, 0xff, 'x'};
	term_frame f;
	assert_int_equal(term_decode(short_output, 0, &f), -1);
	assert_int_equal(term_decode(short_output, sizeof(short_output), &f),
	                 -1);
	assert_int_equal(term_decode(unknown, sizeof(unknown), &f), -1);
	assert_int_equal(term_decode(client_type, sizeof(client_type), &f), -1);
	assert_int_equal(term_decode(wraps, sizeof(wraps), &f), -1);
}

static void test_hello(void **state)
{
	term_frame f;
	assert_int_equal(decode_json(TERM_HELLO,
	                             "{\"session\":\"7b0c\",\"offset\":12,"
	                             "\"window\":262144}",
	                             &f),
	                 0);
	assert_int_equal(f.type, TERM_HELLO);
	assert_string_equal(f.session, "7b0c");
	assert_int_equal(f.offset, 12);
	assert_int_equal(f.window, 262144);
	assert_false(f.has_gap);

	assert_int_equal(decode_json(TERM_HELLO,
	                             "{\"session\":\"s\",\"offset\":0,"
	                             "\"gap\":4096}",
	                             &f),
	                 0);
	assert_true(f.has_gap);
	assert_int_equal(f.gap, 4096);
	assert_int_equal(decode_json(TERM_HELLO,
	                             "{\"session\":\"s\",\"offset\":0,"
	                             "\"gap\":true}",
	                             &f),
	                 0);
	assert_true(f.has_gap);
	assert_int_equal(f.gap, 0);
	assert_int_equal(decode_json(TERM_HELLO,
	                             "{\"session\":\"s\",\"offset\":0,"
	                             "\"gap\":false}",
	                             &f),
	                 0);
	assert_false(f.has_gap);
}

static void test_broken_hello(void **state)
{
	static const char *const bad[] = {
	        "",
	        "{",
	        "[]",
	        "\"session\"",
	        "{\"offset\":0}",
	        "{\"session\":\"\",\"offset\":0}",
	        "{\"session\":7,\"offset\":0}",
	        "{\"session\":\"s\"}",
	        "{\"session\":\"s\",\"offset\":-1}",
	        "{\"session\":\"s\",\"offset\":1.5}",
	        "{\"session\":\"s\",\"offset\":\"12\"}",
	        "{\"session\":\"s\",\"offset\":1e300}",
	        "{\"session\":\"s\",\"offset\":0,\"window\":-4}",
	        "{\"session\":\"s\",\"offset\":0,\"gap\":\"lots\"}",
	        "{\"session\":\"s\",\"offset\":0,\"gap\":-1}",
	};
	term_frame f;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode_json(TERM_HELLO, bad[i], &f) != -1)
			fail_msg("hello %s was accepted", bad[i]);
	}
	/* a session id longer than the struct holds */
	char json[400];
	char id[TERM_SESSION_MAX + 1];
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"session\":\"%s\",\"offset\":0}", id);
	assert_int_equal(decode_json(TERM_HELLO, json, &f), -1);
}

static void test_exit(void **state)
{
	term_frame f;
	assert_int_equal(decode_json(TERM_EXIT,
	                             "{\"code\":3,\"reason\":\"exited\"}", &f),
	                 0);
	assert_int_equal(f.type, TERM_EXIT);
	assert_int_equal(f.code, 3);
	assert_string_equal(f.reason, "exited");
	assert_int_equal(decode_json(TERM_EXIT,
	                             "{\"code\":null,\"reason\":\"lost\"}", &f),
	                 0);
	assert_int_equal(f.code, -1);
	/* codes a process cannot return are "unknown", not wrapped */
	assert_int_equal(decode_json(TERM_EXIT, "{\"code\":-1}", &f), 0);
	assert_int_equal(f.code, -1);
	assert_int_equal(decode_json(TERM_EXIT, "{\"code\":300}", &f), 0);
	assert_int_equal(f.code, -1);
	assert_int_equal(decode_json(TERM_EXIT, "{\"code\":2.5}", &f), 0);
	assert_int_equal(f.code, -1);
	assert_int_equal(decode_json(TERM_EXIT, "{\"code\":255}", &f), 0);
	assert_int_equal(f.code, 255);
}

static void test_broken_exit(void **state)
{
	static const char *const bad[] = {
	        "",
	        "nope",
	        "{}",
	        "[3]",
	        "{\"code\":\"3\"}",
	        "{\"code\":0,\"reason\":5}",
	        "{\"code\":true}",
	};
	term_frame f;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode_json(TERM_EXIT, bad[i], &f) != -1)
			fail_msg("exit %s was accepted", bad[i]);
	}
	char json[600], reason[TERM_REASON_MAX + 1];
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"code\":0,\"reason\":\"%s\"}", reason);
	assert_int_equal(decode_json(TERM_EXIT, json, &f), -1);
}

static void test_output_skip(void **state)
{
	uint64_t gap;
	/* exactly where we are: all new */
	assert_int_equal(term_output_skip(100, 100, 10, &gap), 0);
	assert_int_equal(gap, 0);
	/* a resend that overlaps: skip what was written */
	assert_int_equal(term_output_skip(105, 100, 10, &gap), 5);
	assert_int_equal(gap, 0);
	/* all old */
	assert_int_equal(term_output_skip(200, 100, 10, &gap), 10);
	assert_int_equal(term_output_skip(110, 100, 10, &gap), 10);
	/* ahead of us: the bytes between were lost */
	assert_int_equal(term_output_skip(100, 150, 10, &gap), 0);
	assert_int_equal(gap, 50);
	/* an empty frame */
	assert_int_equal(term_output_skip(5, 5, 0, &gap), 0);
	/* huge distances do not overflow size_t */
	assert_int_equal(term_output_skip(UINT64_MAX, 0, 3, &gap), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_encode),
	        cmocka_unit_test(test_u64),
	        cmocka_unit_test(test_output),
	        cmocka_unit_test(test_broken_frames),
	        cmocka_unit_test(test_hello),
	        cmocka_unit_test(test_broken_hello),
	        cmocka_unit_test(test_exit),
	        cmocka_unit_test(test_broken_exit),
	        cmocka_unit_test(test_output_skip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
