/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - the JSON log line: every byte a message may hold comes out
 * as valid JSON text, escapes in the right places and plain runs intact.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

/* Log one line with stderr sent to a file; its text in out. */
static void log_line(const char *msg, char *out, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	vbx__log("core", VBX_LOG_INFO, "%s", msg);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

static const char *msg_of(const char *line)
{
	const char *m = strstr(line, "\"msg\":\"");
	assert_non_null(m);
	return m + 7;
}

static void test_plain_runs_and_escapes(void **state)
{
	char line[1024];

	(void)state;
	vbx__log_configure(VBX_LOG_DEBUG, true);
	log_line("plain text, no escapes", line, sizeof(line));
	assert_string_equal(msg_of(line), "plain text, no escapes\"}\n");
	log_line("a\"b\\c\nd\x01"
	         "e\x1f",
	         line, sizeof(line));
	assert_string_equal(msg_of(line),
	                    "a\\\"b\\\\c\\nd\\u0001e\\u001f\"}\n");
	log_line("\"\"", line, sizeof(line));
	assert_string_equal(msg_of(line), "\\\"\\\"\"}\n");
	log_line("", line, sizeof(line));
	assert_string_equal(msg_of(line), "\"}\n");
	log_line("UTF-8 stays: \xc3\xa9t\xc3\xa9", line, sizeof(line));
	assert_string_equal(msg_of(line),
	                    "UTF-8 stays: \xc3\xa9t\xc3\xa9\"}\n");
}

static void test_request_and_trace_ids(void **state)
{
	char line[1024];

	(void)state;
	vbx__log_configure(VBX_LOG_DEBUG, true);
	vbx__log_set_request("0123abcd");
	vbx__log_set_trace("4bf92f3577b34da6a3ce929d0e0e4736");
	log_line("x", line, sizeof(line));
	vbx__log_set_request(NULL);
	vbx__log_set_trace(NULL);
	assert_non_null(strstr(
	        line, "\"request\":\"0123abcd\","
	              "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_runs_and_escapes),
	        cmocka_unit_test(test_request_and_trace_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
