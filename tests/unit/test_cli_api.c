/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_api.c - the pure parts of the vibebox CLI around the API:
 * exit codes of HTTP statuses, messages from the error envelope (and from
 * answers that are not one), URL encoding, UUIDs, finding an environment
 * by id, slug or name, the table printer and the WebSocket target.
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

#include <vibebox/util.h>

#include "cli.h"
#include "ws.h"

static void test_exit_codes(void **state)
{
	assert_int_equal(cli_exit_for_status(200), CLI_OK);
	assert_int_equal(cli_exit_for_status(201), CLI_OK);
	assert_int_equal(cli_exit_for_status(204), CLI_OK);
	assert_int_equal(cli_exit_for_status(401), CLI_EAUTH);
	assert_int_equal(cli_exit_for_status(403), CLI_ENOTFOUND);
	assert_int_equal(cli_exit_for_status(404), CLI_ENOTFOUND);
	assert_int_equal(cli_exit_for_status(400), CLI_ECONFLICT);
	assert_int_equal(cli_exit_for_status(409), CLI_ECONFLICT);
	assert_int_equal(cli_exit_for_status(422), CLI_ECONFLICT);
	assert_int_equal(cli_exit_for_status(429), CLI_ECONFLICT);
	assert_int_equal(cli_exit_for_status(500), CLI_ESERVER);
	assert_int_equal(cli_exit_for_status(503), CLI_ESERVER);
	assert_int_equal(cli_exit_for_status(0), CLI_ESERVER);
	assert_int_equal(cli_exit_for_status(302), CLI_ESERVER);
}

static void error_text(const char *body, long status, char *out, size_t n)
{
	cli_error_text(body, body ? strlen(body) : 0, status, out, n);
}

static void test_error_envelope(void **state)
{
	char m[256];
	error_text(
	        "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"environment"
	        " x not found\",\"statusCode\":404}}",
	        404, m, sizeof(m));
	assert_string_equal(m, "environment x not found (NOT_FOUND)");
	error_text("{\"error\":{\"code\":\"VALIDATION_ERROR\",\"message\":"
	           "\"invalid\",\"statusCode\":422,\"fields\":{\"name\":"
	           "\"required\",\"cpuLimit\":\"too big\"}}}",
	           422, m, sizeof(m));
	assert_string_equal(m, "invalid (VALIDATION_ERROR); name: required; "
	                       "cpuLimit: too big");
	/* message without a code */
	error_text("{\"error\":{\"message\":\"no\"}}", 400, m, sizeof(m));
	assert_string_equal(m, "no");
}

static void test_error_not_envelope(void **state)
{
	char m[256];
	error_text(NULL, 502, m, sizeof(m));
	assert_string_equal(m, "HTTP 502");
	error_text("", 500, m, sizeof(m));
	assert_string_equal(m, "HTTP 500");
	error_text("<html>Bad\r\nGateway</html>", 502, m, sizeof(m));
	assert_string_equal(m, "HTTP 502: <html>Bad  Gateway</html>");
	error_text("{\"error\":\"flat\"}", 400, m, sizeof(m));
	assert_string_equal(m, "HTTP 400: {\"error\":\"flat\"}");
	error_text("{\"error\":{\"message\":7}}", 400, m, sizeof(m));
	assert_string_equal(m, "HTTP 400: {\"error\":{\"message\":7}}");
	error_text("{\"error\":{\"message\":\"\"}}", 400, m, sizeof(m));
	assert_string_equal(m, "HTTP 400: {\"error\":{\"message\":\"\"}}");
	error_text("{\"error\":", 400, m, sizeof(m));
	assert_string_equal(m, "HTTP 400: {\"error\":");
	/* a terminal escape in a body is not passed through */
	error_text("\x1b]0;pwned\x07", 500, m, sizeof(m));
	assert_null(strchr(m, '\x1b'));
	/* long bodies are cut, small buffers are respected */
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	error_text(big, 500, m, sizeof(m));
	assert_true(strlen(m) < 220);
	char tiny[6];
	error_text(big, 500, tiny, sizeof(tiny));
	assert_string_equal(tiny, "HTTP ");
	/* fields that are not strings are skipped */
	error_text("{\"error\":{\"message\":\"bad\",\"fields\":{\"a\":1,"
	           "\"b\":\"x\"}}}",
	           422, m, sizeof(m));
	assert_string_equal(m, "bad; b: x");
	error_text("{\"error\":{\"message\":\"bad\",\"fields\":[1,2]}}", 422, m,
	           sizeof(m));
	assert_string_equal(m, "bad");
}

static void test_uuid(void **state)
{
	assert_true(vbx_uuid_ok("0b7e3a52-1c1d-4c2e-9f4a-3d2b1a0c9e8f"));
	assert_true(vbx_uuid_ok("0B7E3A52-1C1D-4C2E-9F4A-3D2B1A0C9E8F"));
	assert_false(vbx_uuid_ok("0b7e3a52-1c1d-4c2e-9f4a-3d2b1a0c9e8"));
	assert_false(vbx_uuid_ok("0b7e3a52-1c1d-4c2e-9f4a-3d2b1a0c9e8ff"));
	assert_false(vbx_uuid_ok("0b7e3a52x1c1d-4c2e-9f4a-3d2b1a0c9e8f"));
	assert_false(vbx_uuid_ok("gb7e3a52-1c1d-4c2e-9f4a-3d2b1a0c9e8f"));
	assert_false(vbx_uuid_ok("web"));
	assert_false(vbx_uuid_ok(""));
}

static void test_match(void **state)
{
	cJSON *items = cJSON_Parse(
	        "[{\"id\":\"i1\",\"slug\":\"web\",\"name\":\"Web\"},"
	        " {\"id\":\"i2\",\"slug\":\"web-2\",\"name\":\"web\"},"
	        " {\"id\":\"i3\",\"slug\":\"db\",\"name\":\"Box\"},"
	        " {\"id\":\"i4\",\"slug\":\"db-2\",\"name\":\"Box\"},"
	        " 7, {\"slug\":null}]");
	assert_non_null(items);
	const cJSON *found;
	/* a slug beats a name */
	assert_int_equal(cli_match(items, "web", &found), 1);
	assert_string_equal(cJSON_GetObjectItem(found, "id")->valuestring,
	                    "i1");
	assert_int_equal(cli_match(items, "i2", &found), 1);
	assert_string_equal(cJSON_GetObjectItem(found, "id")->valuestring,
	                    "i2");
	assert_int_equal(cli_match(items, "Web", &found), 1);
	/* two names: ambiguous */
	assert_int_equal(cli_match(items, "Box", &found), 2);
	assert_int_equal(cli_match(items, "nothing", &found), 0);
	assert_null(found);
	/* case matters */
	assert_int_equal(cli_match(items, "box", &found), 0);
	cJSON_Delete(items);
	/* not an array */
	cJSON *obj = cJSON_Parse("{\"id\":\"x\"}");
	assert_int_equal(cli_match(obj, "x", &found), 0);
	assert_int_equal(cli_match(NULL, "x", &found), 0);
	cJSON_Delete(obj);
}

static char *print_table(const cli_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	cli_table_print(t, f);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	static const char *const head[] = {"ID", "NAME", "STATUS", NULL};
	cli_table t;
	assert_int_equal(cli_table_init(&t, head), 0);
	const char *r1[] = {"1", "web", "running"};
	const char *r2[] = {"22", NULL, "st\x1b[31mopped"};
	const char *r3[] = {"3", "caf\xc3\xa9", "x"};
	assert_int_equal(cli_table_add(&t, r1), 0);
	assert_int_equal(cli_table_add(&t, r2), 0);
	assert_int_equal(cli_table_add(&t, r3), 0);
	char *out = print_table(&t);
	assert_string_equal(out, "ID  NAME  STATUS\n"
	                         "1   web   running\n"
	                         "22  -     st\n"
	                         "3   café  x\n");
	free(out);
	/* many rows make the table grow */
	for (int i = 0; i < 100; i++)
		assert_int_equal(cli_table_add(&t, r1), 0);
	assert_int_equal(t.nrows, 104);
	cli_table_free(&t);
	static const char *const none[] = {NULL};
	assert_int_equal(cli_table_init(&t, none), -1);
	cli_table_free(&t);
}

static void test_ws_target(void **state)
{
	char host[64], path[128];
	int port;
	bool tls;
	assert_int_equal(cli_ws_target("http://127.0.0.1:3000", "/api/v1/x",
	                               host, sizeof(host), &port, path,
	                               sizeof(path), &tls),
	                 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 3000);
	assert_string_equal(path, "/api/v1/x");
	assert_false(tls);
	assert_int_equal(cli_ws_target("https://vb.example/prefix/", "/a", host,
	                               sizeof(host), &port, path, sizeof(path),
	                               &tls),
	                 0);
	assert_string_equal(host, "vb.example");
	assert_int_equal(port, 443);
	assert_string_equal(path, "/prefix/a");
	assert_true(tls);
	assert_int_equal(cli_ws_target("http://[::1]:8080", "/a", host,
	                               sizeof(host), &port, path, sizeof(path),
	                               &tls),
	                 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8080);
	assert_int_equal(cli_ws_target("http://[::1]", "/a", host, sizeof(host),
	                               &port, path, sizeof(path), &tls),
	                 0);
	assert_int_equal(port, 80);

	static const char *const bad[] = {
	        "ftp://h",     "h:3000",         "http://",      "http://:80",
	        "http://h:0",  "http://h:65536", "http://h:80x", "http://u@h",
	        "http://[::1", "http://[::1]x",  "http://h:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cli_ws_target(bad[i], "/a", host, sizeof(host), &port, path,
		                  sizeof(path), &tls) != -1)
			fail_msg("accepted %s", bad[i]);
	/* a path that does not fit */
	assert_int_equal(cli_ws_target("http://h", "/a/very/long/path", host,
	                               sizeof(host), &port, path, 8, &tls),
	                 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exit_codes),
	        cmocka_unit_test(test_error_envelope),
	        cmocka_unit_test(test_error_not_envelope),
	        cmocka_unit_test(test_uuid),
	        cmocka_unit_test(test_match),
	        cmocka_unit_test(test_table),
	        cmocka_unit_test(test_ws_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
