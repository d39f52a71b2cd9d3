/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_otlp.c - the tracing plugin's OTLP/JSON encoder (otlp.c): the
 * document's shape, ids as lower-case hex, 64-bit numbers as strings,
 * enums as integers, and strings escaped so that any bytes (a client's
 * path) give valid JSON and valid UTF-8; the copy of a span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "tracing.h"

static char *encode_str(const char *s)
{
	tr_buf b = {0};
	tr_json_string(&b, s);
	assert_false(b.failed);
	return b.data;
}

static void test_escaping(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"plain", "\"plain\""},
	        {"", "\"\""},
	        {"a\"b\\c", "\"a\\\"b\\\\c\""},
	        {"l1\nl2\t\x01\x7f", "\"l1\\u000al2\\u0009\\u0001\\u007f\""},
	        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
	        /* invalid UTF-8: a lone continuation, a truncated sequence,
	         * an overlong '/', a surrogate, past U+10FFFF */
	        {"a\x80z", "\"a\\ufffdz\""},
	        {"\xc3", "\"\\ufffd\""},
	        {"\xe2\x82", "\"\\ufffd\\ufffd\""},
	        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
	        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
	        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *got = encode_str(cases[i].in);
		assert_string_equal(got, cases[i].out);
		cJSON *j = cJSON_Parse(got);
		assert_non_null(j);
		cJSON_Delete(j);
		free(got);
	}
	char *got = encode_str(NULL);
	assert_string_equal(got, "\"\"");
	free(got);
}

static vbx_span_data sample_span(vbx_span_attr *attrs)
{
	vbx_span_data d = {.version = 1,
	                   .name = "GET /api/v1/environments/{id}",
	                   .kind = VBX_SPAN_SERVER,
	                   .start_ns = 1700000000123456789LL,
	                   .end_ns = 1700000000223456789LL,
	                   .status = VBX_SPAN_ERROR,
	                   .status_message = "server \"error\"",
	                   .attrs = attrs,
	                   .nattrs = 2,
	                   .dropped_attrs = 1,
	                   .tracestate = "v=1"};
	for (int i = 0; i < 16; i++)
		d.trace_id[i] = (unsigned char)(0xa0 + i);
	for (int i = 0; i < 8; i++)
		d.span_id[i] = (unsigned char)(0x10 + i);
	d.parent_id[7] = 0xff;
	attrs[0] = (vbx_span_attr){
	        .key = "url.path", .type = VBX_ATTR_STRING, .str = "/x\xff"};
	attrs[1] = (vbx_span_attr){.key = "http.response.status_code",
	                           .type = VBX_ATTR_INT,
	                           .num = -500};
	return d;
}

static const cJSON *path(const cJSON *j, const char *const *keys)
{
	for (; j && *keys; keys++) {
		if (cJSON_IsArray(j))
			j = cJSON_GetArrayItem(j, atoi(*keys));
		else
			j = cJSON_GetObjectItemCaseSensitive(j, *keys);
	}
	assert_non_null(j);
	return j;
}

static const char *str_at(const cJSON *j, const char *const *keys)
{
	const cJSON *v = path(j, keys);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

#define AT(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_document(void **state)
{
	(void)state;
	vbx_span_attr attrs[2];
	vbx_span_data d = sample_span(attrs);
	tr_span *s = tr_span_copy(&d);
	assert_non_null(s);
	d.parent_id[7] = 0; /* a root: no parentSpanId */
	tr_span *root = tr_span_copy(&d);
	tr_span *spans[] = {s, root};
	tr_resource res = {.service_name = "vibebox",
	                   .instance_id = "r-1",
	                   .version = "0.1.0"};
	tr_buf b = {0};
	assert_true(tr_otlp_encode(&b, &res, spans, 2));
	cJSON *j = cJSON_Parse(b.data);
	assert_non_null(j);
	const char *const rs[] = {"resourceSpans", "0", NULL};
	const cJSON *r = path(j, rs);
	assert_string_equal(str_at(r, AT("resource", "attributes", "0", "key")),
	                    "service.name");
	assert_string_equal(str_at(r, AT("resource", "attributes", "1", "value",
	                                 "stringValue")),
	                    "r-1");
	assert_string_equal(str_at(r, AT("scopeSpans", "0", "scope", "name")),
	                    "vibeboxd");
	const cJSON *sp = path(r, AT("scopeSpans", "0", "spans", "0"));
	assert_string_equal(str_at(sp, AT("traceId")),
	                    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_string_equal(str_at(sp, AT("spanId")), "1011121314151617");
	assert_string_equal(str_at(sp, AT("parentSpanId")), "00000000000000ff");
	assert_string_equal(str_at(sp, AT("traceState")), "v=1");
	assert_int_equal(path(sp, AT("kind"))->valueint, 2);
	assert_string_equal(str_at(sp, AT("startTimeUnixNano")),
	                    "1700000000123456789");
	assert_string_equal(str_at(sp, AT("endTimeUnixNano")),
	                    "1700000000223456789");
	assert_string_equal(
	        str_at(sp, AT("attributes", "0", "value", "stringValue")),
	        "/x\xef\xbf\xbd");
	assert_string_equal(
	        str_at(sp, AT("attributes", "1", "value", "intValue")), "-500");
	assert_int_equal(path(sp, AT("droppedAttributesCount"))->valueint, 1);
	assert_int_equal(path(sp, AT("status", "code"))->valueint, 2);
	assert_string_equal(str_at(sp, AT("status", "message")),
	                    "server \"error\"");
	const cJSON *sp2 = path(r, AT("scopeSpans", "0", "spans", "1"));
	assert_null(cJSON_GetObjectItemCaseSensitive(sp2, "parentSpanId"));
	cJSON_Delete(j);
	tr_buf_free(&b);
	free(s);
	free(root);
}

static void test_copy_outlives_source(void **state)
{
	(void)state;
	vbx_span_attr attrs[2];
	vbx_span_data d = sample_span(attrs);
	char name[] = "mutable";
	d.name = name;
	d.status_message = NULL;
	d.tracestate = NULL;
	tr_span *s = tr_span_copy(&d);
	memset(name, 'X', sizeof(name) - 1);
	attrs[0].str = "changed";
	assert_string_equal(s->name, "mutable");
	assert_string_equal(s->attrs[0].str, "/x\xff");
	assert_null(s->attrs[1].str);
	assert_int_equal(s->attrs[1].num, -500);
	assert_null(s->status_message);
	assert_null(s->tracestate);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_document),
	        cmocka_unit_test(test_copy_outlives_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
