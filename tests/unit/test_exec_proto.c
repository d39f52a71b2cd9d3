/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_exec_proto.c - the frames of vibebox.exec.v1 on both sides: the
 * server's parser of client frames and start messages
 * (plugins/platform/execproto.c), broken input first, the credit window
 * both protocols share (flow.h), and the CLI's decoder of server frames
 * and its start frame (cli/execproto.c).
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec.h"
#include "execproto.h"
#include "flow.h"
#include "term.h"

/* plugin.c's: the plugin term.c logs as (never here). */
vbx_plugin *vbx__platform;

static int parse(const char *bytes, size_t len, vbx__exec_frame *f)
{
	const char *why = NULL;
	int code = vbx__exec_frame_parse(bytes, len, f, &why);
	if (code)
		assert_true(why && *why);
	return code;
}

static void broken_frames(void **state)
{
	vbx__exec_frame f;
	(void)state;
	assert_int_equal(parse("", 0, &f), 1002);
	assert_int_equal(parse("\x09", 1, &f), 1002);
	assert_int_equal(parse("\x80\x00", 2, &f), 1002); /* a server type */
	assert_int_equal(parse("\x01\x00", 2, &f), 1002); /* close + byte */
	assert_int_equal(parse("\x02\x00\x00", 3, &f), 1002);
	assert_int_equal(parse("\x02\0\0\0\0\0\0\0\0\0", 10, &f), 1002);
	char *big = calloc(1, VBX__EXEC_START_MAX + 2);
	assert_non_null(big);
	big[0] = VBX__EXEC_START;
	assert_int_equal(parse(big, VBX__EXEC_START_MAX + 2, &f), 1009);
	free(big);
}

static void good_frames(void **state)
{
	vbx__exec_frame f;
	(void)state;
	assert_int_equal(parse("\x00hi", 3, &f), 0);
	assert_int_equal(f.type, VBX__EXEC_STDIN);
	assert_int_equal(f.len, 2);
	assert_memory_equal(f.data, "hi", 2);
	assert_int_equal(parse("\x00", 1, &f), 0); /* empty stdin is fine */
	assert_int_equal(f.len, 0);
	assert_int_equal(parse("\x01", 1, &f), 0);
	assert_int_equal(f.type, VBX__EXEC_STDIN_CLOSE);
	assert_int_equal(parse("\x02\0\0\0\0\0\x01\0\x05", 9, &f), 0);
	assert_int_equal(f.ack, 65541);
	assert_int_equal(parse("\x03{}", 3, &f), 0);
	assert_int_equal(f.type, VBX__EXEC_START);
	assert_int_equal(f.len, 2);
}

static int start(const char *json, vbx__exec_start *s)
{
	const char *why = NULL;
	int code = vbx__exec_start_parse(json, strlen(json), s, &why);
	if (code) {
		assert_true(why && *why);
		assert_null(s->argv);
		assert_null(s->env);
	}
	return code;
}

static void broken_starts(void **state)
{
	static const char *const bad[] = {
	        "",
	        "not json",
	        "[]",
	        "{}",
	        "{\"argv\":[]}",
	        "{\"argv\":\"sh\"}",
	        "{\"argv\":[\"\"]}",
	        "{\"argv\":[1]}",
	        "{\"argv\":[\"sh\",null]}",
	        "{\"argv\":[\"a\\u0000b\"]}",
	        "{\"argv\":[\"sh\"],\"extra\":1}",
	        "{\"argv\":[\"sh\"],\"env\":[\"A=1\"]}",
	        "{\"argv\":[\"sh\"],\"env\":{\"1A\":\"x\"}}",
	        "{\"argv\":[\"sh\"],\"env\":{\"A-B\":\"x\"}}",
	        "{\"argv\":[\"sh\"],\"env\":{\"\":\"x\"}}",
	        "{\"argv\":[\"sh\"],\"env\":{\"A\":1}}",
	        "{\"argv\":[\"sh\"]} trailing",
	        "{\"argv\":[\"sh\"]",
	};
	vbx__exec_start s;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(start(bad[i], &s), 1007);
	/* a raw NUL inside the text */
	const char nul[] = "{\"argv\":[\"a\0b\"]}";
	const char *why;
	assert_int_equal(vbx__exec_start_parse(nul, sizeof(nul) - 1, &s, &why),
	                 1007);
}

/* One more argument than allowed, and one argument one byte too long. */
static void starts_over_the_bounds(void **state)
{
	vbx__exec_start s;
	(void)state;
	size_t cap = 16 + (VBX__EXEC_ARGC_MAX + 1) * 4;
	char *j = malloc(cap), *p = j;
	p += sprintf(p, "{\"argv\":[");
	for (unsigned i = 0; i <= VBX__EXEC_ARGC_MAX; i++)
		p += sprintf(p, "%s\"a\"", i ? "," : "");
	sprintf(p, "]}");
	assert_int_equal(start(j, &s), 1007);
	free(j);
	j = malloc(VBX__EXEC_STR_MAX + 32);
	p = j + sprintf(j, "{\"argv\":[\"");
	memset(p, 'x', VBX__EXEC_STR_MAX + 1);
	sprintf(p + VBX__EXEC_STR_MAX + 1, "\"]}");
	assert_int_equal(start(j, &s), 1007);
	p[VBX__EXEC_STR_MAX] = '"'; /* exactly the bound is fine */
	sprintf(p + VBX__EXEC_STR_MAX + 1, "]}");
	assert_int_equal(start(j, &s), 0);
	vbx__exec_start_free(&s);
	free(j);
}

static void good_start(void **state)
{
	vbx__exec_start s;
	(void)state;
	assert_int_equal(
	        start("{\"argv\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\"],"
	              "\"env\":{\"GREETING\":\"a=b\",\"_x1\":\"\"}} \n",
	              &s),
	        0);
	assert_int_equal(s.argc, 3);
	assert_string_equal(s.argv[0], "sh");
	assert_string_equal(s.argv[2], "echo \"hi\"");
	assert_null(s.argv[3]);
	assert_int_equal(s.envc, 2);
	assert_string_equal(s.env[0], "GREETING=a=b");
	assert_string_equal(s.env[1], "_x1=");
	assert_null(s.env[2]);
	vbx__exec_start_free(&s);
	assert_null(s.argv);
	assert_int_equal(start("{\"argv\":[\"true\"]}", &s), 0);
	assert_int_equal(s.envc, 0);
	assert_null(s.env);
	vbx__exec_start_free(&s);
}

static void credit_window(void **state)
{
	uint64_t acked = 100;
	const char *why = NULL;
	(void)state;
	assert_int_equal(vbx__flow_room(100, 100, 50), 50);
	assert_int_equal(vbx__flow_room(150, 100, 50), 0);
	assert_int_equal(vbx__flow_room(170, 100, 50), 0);
	assert_int_equal(vbx__flow_ack(&acked, 150, 99, &why), 1007);
	assert_int_equal(acked, 100);
	assert_int_equal(vbx__flow_ack(&acked, 150, 151, &why), 1007);
	assert_int_equal(vbx__flow_ack(&acked, 150, 150, &why), 0);
	assert_int_equal(acked, 150);
}

/* ---- the CLI's side ---- */

static void cli_decodes_server_frames(void **state)
{
	exec_frame f;
	(void)state;
	static const uint8_t out[] = {0x83, 0, 0, 0, 0, 0, 0, 0x10, 0, 'e'};
	assert_int_equal(exec_decode(out, sizeof(out), &f), 0);
	assert_int_equal(f.type, EXEC_STDERR);
	assert_int_equal(f.offset, 4096);
	assert_int_equal(f.len, 1);
	static const uint8_t ack[] = {0x85, 0, 0, 0, 0, 0, 0, 0, 9};
	assert_int_equal(exec_decode(ack, sizeof(ack), &f), 0);
	assert_int_equal(f.offset, 9);
	const char hello[] = "\x82{\"window\":262144}";
	assert_int_equal(exec_decode((const uint8_t *)hello, strlen(hello), &f),
	                 0);
	assert_int_equal(f.window, 262144);
	const char ex[] = "\x81{\"code\":7,\"reason\":\"the process exited\"}";
	assert_int_equal(exec_decode((const uint8_t *)ex, strlen(ex), &f), 0);
	assert_int_equal(f.code, 7);
	assert_string_equal(f.text, "the process exited");
	const char er[] = "\x84{\"message\":\"no\"}";
	assert_int_equal(exec_decode((const uint8_t *)er, strlen(er), &f), 0);
	assert_string_equal(f.text, "no");
}

static void cli_refuses_broken_server_frames(void **state)
{
	static const char *const bad[] = {
	        "",
	        "\x80short",
	        "\x85\0\0\0",
	        "\x86",
	        "\x82{}",
	        "\x82{\"window\":0}",
	        "\x82{\"window\":1.5}",
	        "\x81{\"code\":-2}",
	        "\x81{\"code\":\"7\"}",
	        "\x81{\"code\":0,\"reason\":5}",
	        "\x84{}",
	        "\x84not json",
	};
	exec_frame f;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		if (i == 2)
			len = 4;
		assert_int_equal(exec_decode((const uint8_t *)bad[i], len, &f),
		                 -1);
	}
	char longer[EXEC_TEXT_MAX + 32] = "\x84{\"message\":\"";
	size_t n = strlen(longer);
	memset(longer + n, 'x', EXEC_TEXT_MAX);
	memcpy(longer + n + EXEC_TEXT_MAX, "\"}", 3);
	assert_int_equal(
	        exec_decode((const uint8_t *)longer, strlen(longer), &f), -1);
}

static void cli_start_frame_round_trips(void **state)
{
	char *argv[] = {"sh", "-c", "echo \"$1\"", "x y"};
	size_t len = 0;
	vbx__exec_start s;
	const char *why;
	(void)state;
	uint8_t *m = exec_encode_start(argv, 4, &len);
	assert_non_null(m);
	assert_int_equal(m[0], EXEC_START);
	assert_int_equal(vbx__exec_start_parse(m + 1, len - 1, &s, &why), 0);
	assert_int_equal(s.argc, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(s.argv[i], argv[i]);
	vbx__exec_start_free(&s);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(broken_frames),
	        cmocka_unit_test(good_frames),
	        cmocka_unit_test(broken_starts),
	        cmocka_unit_test(starts_over_the_bounds),
	        cmocka_unit_test(good_start),
	        cmocka_unit_test(credit_window),
	        cmocka_unit_test(cli_decodes_server_frames),
	        cmocka_unit_test(cli_refuses_broken_server_frames),
	        cmocka_unit_test(cli_start_frame_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
