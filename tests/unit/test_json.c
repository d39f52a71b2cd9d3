/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_json.c - field errors, the typed getters (every type and message,
 * UTF-8 edge cases), request body parsing (depth, NUL bytes, trailing
 * data, empty bodies), statuses and the error envelope.
 */
#include "vbx_build.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

#define REQ VBX_REQUIRED
#define OPT VBX_OPTIONAL

/* Parse a body that must be valid; fails the test otherwise. */
static cJSON *body(const char *text)
{
	cJSON *o = NULL;
	char err[128];
	int rc = vbx__json_parse_body(text, strlen(text), &o, err, sizeof(err));
	if (rc != VBX_OK)
		fail_msg("body %s refused: %s", text, err);
	return o;
}

/* The recorded message for field, or NULL. */
static const char *msg(const vbx__fields *f, const char *field)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->obj, field);
	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static void assert_msg(const vbx__fields *f, const char *field,
                       const char *want)
{
	const char *got = msg(f, field);
	if (!got || strcmp(got, want) != 0)
		fail_msg("field %s: got \"%s\", want \"%s\"", field,
		         got ? got : "(none)", want);
}

/* ---- field errors ---- */

static void test_fields(void **state)
{
	vbx__fields f = {0};
	assert_false(vbx__fields_failed(&f));
	assert_null(f.obj);
	assert_int_equal(vbx__fields_add(&f, "name", "must be %d..%d", 1, 2),
	                 VBX_EINVAL);
	assert_int_equal(vbx__fields_add(&f, "name", "second"), VBX_EINVAL);
	assert_int_equal(vbx__fields_add(&f, "slug", "bad"), VBX_EINVAL);
	assert_true(vbx__fields_failed(&f));
	assert_msg(&f, "name", "must be 1..2");
	assert_msg(&f, "slug", "bad");
	assert_int_equal(cJSON_GetArraySize(f.obj), 2);
	assert_int_equal(f.count, 3);

	char *text = cJSON_PrintUnformatted(f.obj);
	assert_string_equal(text,
	                    "{\"name\":\"must be 1..2\",\"slug\":\"bad\"}");
	cJSON_free(text);

	vbx__fields_free(&f);
	assert_null(f.obj);
	assert_false(vbx__fields_failed(&f));
	vbx__fields_free(&f);
	vbx__fields_free(NULL);
	/* No sink: nothing recorded, still an error. */
	assert_int_equal(vbx__fields_add(NULL, "x", "y"), VBX_EINVAL);
	assert_false(vbx__fields_failed(NULL));
}

/* ---- strings ---- */

static void test_string_ok_absent_null(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"name\":\"Alice\",\"none\":null,\"empty\":\"\"}");
	const char *s = (const char *)1;

	assert_int_equal(vbx__json_string(&f, o, "name", REQ, 1, 64, &s),
	                 VBX_OK);
	assert_string_equal(s, "Alice");
	assert_int_equal(vbx__json_string(&f, o, "empty", REQ, 0, 64, &s),
	                 VBX_OK);
	assert_string_equal(s, "");
	assert_false(vbx__fields_failed(&f));

	s = (const char *)1;
	assert_int_equal(vbx__json_string(&f, o, "missing", OPT, 1, 64, &s),
	                 VBX_ENOTFOUND);
	assert_null(s);
	assert_int_equal(vbx__json_string(&f, o, "none", OPT, 1, 64, &s),
	                 VBX_ENOTFOUND);
	assert_false(vbx__fields_failed(&f));
	/* Keys are case-sensitive. */
	assert_int_equal(vbx__json_string(&f, o, "Name", OPT, 1, 64, &s),
	                 VBX_ENOTFOUND);

	assert_int_equal(vbx__json_string(&f, o, "missing", REQ, 1, 64, &s),
	                 VBX_EINVAL);
	assert_int_equal(vbx__json_string(&f, o, "none", REQ, 1, 64, &s),
	                 VBX_EINVAL);
	assert_null(s);
	assert_msg(&f, "missing", "is required");
	assert_msg(&f, "none", "is required");

	/* A NULL or non-object container has no members. */
	assert_int_equal(vbx__json_string(&f, NULL, "x", OPT, 0, 9, &s),
	                 VBX_ENOTFOUND);
	cJSON *arr = cJSON_CreateArray();
	assert_int_equal(vbx__json_string(&f, arr, "x", REQ, 0, 9, &s),
	                 VBX_EINVAL);
	assert_msg(&f, "x", "is required");
	cJSON_Delete(arr);
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

static void test_string_wrong_type(void **state)
{
	vbx__fields f = {0};
	cJSON *o =
	        body("{\"n\":1,\"b\":true,\"o\":{},\"a\":[\"x\"],\"f\":false}");
	const char *keys[] = {"n", "b", "o", "a", "f"};
	for (size_t i = 0; i < 5; i++) {
		const char *s = (const char *)1;
		assert_int_equal(
		        vbx__json_string(&f, o, keys[i], OPT, 0, 9, &s),
		        VBX_EINVAL);
		assert_null(s);
		assert_msg(&f, keys[i], "must be a string");
	}
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

static void test_string_length_messages(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"s\":\"abcdef\",\"e\":\"\"}");
	const char *s;

	vbx__json_string(&f, o, "s", REQ, 1, 5, &s);
	assert_msg(&f, "s", "must be 1..5 characters");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "e", REQ, 1, 64, &s);
	assert_msg(&f, "e", "must be 1..64 characters");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "s", REQ, 3, 3, &s);
	assert_msg(&f, "s", "must be 3 characters");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "e", REQ, 1, 1, &s);
	assert_msg(&f, "e", "must be 1 character");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "s", REQ, 7, SIZE_MAX, &s);
	assert_msg(&f, "s", "must be at least 7 characters");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "e", REQ, 1, SIZE_MAX, &s);
	assert_msg(&f, "e", "must be at least 1 character");
	vbx__fields_free(&f);
	vbx__json_string(&f, o, "s", REQ, 0, 2, &s);
	assert_msg(&f, "s", "must be at most 2 characters");
	vbx__fields_free(&f);
	/* Bounds are inclusive. */
	assert_int_equal(vbx__json_string(&f, o, "s", REQ, 6, 6, &s), VBX_OK);
	assert_int_equal(vbx__json_string(&f, o, "s", REQ, 0, SIZE_MAX, &s),
	                 VBX_OK);
	assert_false(vbx__fields_failed(&f));
	cJSON_Delete(o);
}

/* Characters, not bytes, are counted. */
static void test_string_counts_characters(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body(
	        "{\"e\":\"h\xc3\xa9llo\",\"j\":\"\xe6\x97\xa5\xe6\x9c\xac\","
	        "\"x\":\"\xf0\x9f\x98\x80\",\"u\":\"\\u00e9\\ud83d\\ude00\"}");
	const char *s;
	assert_int_equal(vbx__json_string(&f, o, "e", REQ, 5, 5, &s), VBX_OK);
	assert_int_equal(vbx__json_string(&f, o, "j", REQ, 2, 2, &s), VBX_OK);
	assert_int_equal(vbx__json_string(&f, o, "x", REQ, 1, 1, &s), VBX_OK);
	/* Escapes become UTF-8: é and a surrogate pair, two characters. */
	assert_int_equal(vbx__json_string(&f, o, "u", REQ, 2, 2, &s), VBX_OK);
	assert_string_equal(s, "\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(vbx__json_string(&f, o, "e", REQ, 6, 6, &s),
	                 VBX_EINVAL);
	assert_false(msg(&f, "j"));
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

static void test_string_utf8_edges(void **state)
{
	static const char *const valid[] = {
	        "\xc2\x80",         /* U+0080, smallest two-byte */
	        "\xdf\xbf",         /* U+07FF */
	        "\xe0\xa0\x80",     /* U+0800, smallest three-byte */
	        "\xed\x9f\xbf",     /* U+D7FF, below the surrogates */
	        "\xee\x80\x80",     /* U+E000, above them */
	        "\xef\xbf\xbf",     /* U+FFFF */
	        "\xf0\x90\x80\x80", /* U+10000, smallest four-byte */
	        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
	};
	static const char *const invalid[] = {
	        "\x80",             /* stray continuation */
	        "a\xbf",            /* stray continuation after ASCII */
	        "\xc0\xaf",         /* overlong '/' */
	        "\xc1\xbf",         /* overlong */
	        "\xe0\x80\xaf",     /* overlong '/' in three bytes */
	        "\xe0\x9f\xbf",     /* overlong U+07FF */
	        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
	        "\xed\xa0\x80",     /* U+D800, a surrogate */
	        "\xed\xbf\xbf",     /* U+DFFF */
	        "\xf4\x90\x80\x80", /* U+110000 */
	        "\xf5\x80\x80\x80", /* lead byte past F4 */
	        "\xff",             /* never in UTF-8 */
	        "\xfe",             /* never in UTF-8 */
	        "\xc3",             /* truncated two-byte */
	        "\xe2\x82",         /* truncated three-byte */
	        "\xf0\x9f\x98",     /* truncated four-byte */
	        "\xe2\x28\xa1",     /* bad continuation */
	        "ok\xc3(",          /* bad continuation after text */
	};
	vbx__fields f = {0};
	cJSON *o = cJSON_CreateObject();
	const char *s;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		cJSON_AddStringToObject(o, "v", valid[i]);
		if (vbx__json_string(&f, o, "v", REQ, 1, 1, &s) != VBX_OK)
			fail_msg("valid sequence %zu refused", i);
		cJSON_DeleteItemFromObject(o, "v");
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		cJSON_AddStringToObject(o, "v", invalid[i]);
		s = (const char *)1;
		if (vbx__json_string(&f, o, "v", REQ, 0, 99, &s) != VBX_EINVAL)
			fail_msg("invalid sequence %zu accepted", i);
		assert_null(s);
		assert_msg(&f, "v", "must be valid UTF-8");
		vbx__fields_free(&f);
		cJSON_DeleteItemFromObject(o, "v");
	}
	cJSON_Delete(o);

	/* The same through a parsed body: cJSON passes raw bytes on. */
	o = body("{\"v\":\"\xed\xa0\x80\"}");
	assert_int_equal(vbx__json_string(&f, o, "v", REQ, 0, 9, &s),
	                 VBX_EINVAL);
	assert_msg(&f, "v", "must be valid UTF-8");
	vbx__fields_free(&f);
	cJSON_Delete(o);

	assert_int_equal(vbx__utf8_count("", 0), 0);
	assert_int_equal(vbx__utf8_count("a\xc3\xa9z", 4), 3);
	assert_int_equal(vbx__utf8_count("a\0b", 3), 3);
	assert_int_equal(vbx__utf8_count("\xc3\xa9", 1), (size_t)-1);
}

/* ---- integers ---- */

static void test_int(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"n\":42,\"z\":0,\"neg\":-7,\"f\":3.0,\"half\":3.5,"
	                "\"s\":\"42\",\"b\":true,\"big\":1e300,\"nz\":-0,"
	                "\"x\":null,\"e\":4.2e1}");
	long long v = -1;

	assert_int_equal(vbx__json_int(&f, o, "n", REQ, 1, 100, &v), VBX_OK);
	assert_int_equal(v, 42);
	assert_int_equal(vbx__json_int(&f, o, "f", REQ, 1, 100, &v), VBX_OK);
	assert_int_equal(v, 3);
	assert_int_equal(vbx__json_int(&f, o, "e", REQ, 1, 100, &v), VBX_OK);
	assert_int_equal(v, 42);
	assert_int_equal(vbx__json_int(&f, o, "nz", REQ, 0, 0, &v), VBX_OK);
	assert_int_equal(v, 0);
	assert_int_equal(vbx__json_int(&f, o, "neg", REQ, -10, -7, &v), VBX_OK);
	assert_int_equal(v, -7);
	assert_false(vbx__fields_failed(&f));

	v = 99;
	assert_int_equal(vbx__json_int(&f, o, "x", OPT, 1, 100, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx__json_int(&f, o, "missing", OPT, 1, 100, &v),
	                 VBX_ENOTFOUND);
	assert_int_equal(v, 99); /* untouched */
	assert_false(vbx__fields_failed(&f));

	const char *bad[] = {"z", "neg", "half", "s", "b", "big"};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(vbx__json_int(&f, o, bad[i], REQ, 1, 100, &v),
		                 VBX_EINVAL);
		assert_msg(&f, bad[i], "must be an integer between 1 and 100");
	}
	assert_int_equal(v, 99);
	assert_int_equal(vbx__json_int(&f, o, "missing", REQ, 1, 100, &v),
	                 VBX_EINVAL);
	assert_msg(&f, "missing", "is required");
	vbx__fields_free(&f);

	/* Open bounds say so. */
	vbx__json_int(&f, o, "half", REQ, LLONG_MIN, LLONG_MAX, &v);
	assert_msg(&f, "half", "must be an integer");
	vbx__json_int(&f, o, "n", REQ, LLONG_MIN, 10, &v);
	assert_msg(&f, "n", "must be an integer of at most 10");
	vbx__json_int(&f, o, "neg", REQ, 0, LLONG_MAX, &v);
	assert_msg(&f, "neg", "must be an integer of at least 0");
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

/* Beyond 2^53 doubles lose integers: only the safe range passes. */
static void test_int_precision_limits(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"max\":9007199254740991,\"min\":-9007199254740991,"
	                "\"p53\":9007199254740992,\"m53\":-9007199254740992,"
	                "\"p53b\":9007199254740993,\"huge\":1e19,"
	                "\"inf\":1e999}");
	long long v = 0;
	assert_int_equal(
	        vbx__json_int(&f, o, "max", REQ, LLONG_MIN, LLONG_MAX, &v),
	        VBX_OK);
	assert_int_equal(v, 9007199254740991LL);
	assert_int_equal(
	        vbx__json_int(&f, o, "min", REQ, LLONG_MIN, LLONG_MAX, &v),
	        VBX_OK);
	assert_int_equal(v, -9007199254740991LL);
	const char *bad[] = {"p53", "m53", "p53b", "huge", "inf"};
	for (size_t i = 0; i < 5; i++) {
		if (vbx__json_int(&f, o, bad[i], REQ, LLONG_MIN, LLONG_MAX,
		                  &v) != VBX_EINVAL)
			fail_msg("%s accepted as %lld", bad[i], v);
		assert_msg(&f, bad[i], "must be an integer");
	}
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

/* ---- numbers and booleans ---- */

static void test_number(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"cpu\":0.5,\"i\":2,\"lo\":0.1,\"s\":\"1\","
	                "\"inf\":1e999,\"ninf\":-1e999,\"b\":false}");
	double d = -1;
	assert_int_equal(vbx__json_number(&f, o, "cpu", REQ, 0.5, 64, &d),
	                 VBX_OK);
	assert_true(d == 0.5);
	assert_int_equal(vbx__json_number(&f, o, "i", REQ, 0.5, 64, &d),
	                 VBX_OK);
	assert_true(d == 2.0);
	assert_int_equal(vbx__json_number(&f, o, "x", OPT, 0.5, 64, &d),
	                 VBX_ENOTFOUND);
	assert_true(d == 2.0);
	assert_false(vbx__fields_failed(&f));

	const char *bad[] = {"lo", "s", "inf", "ninf", "b"};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(
		        vbx__json_number(&f, o, bad[i], REQ, 0.5, 64, &d),
		        VBX_EINVAL);
		assert_msg(&f, bad[i], "must be a number between 0.5 and 64");
	}
	assert_true(d == 2.0);
	vbx__fields_free(&f);

	/* Infinity is not a number we accept, even with open bounds. */
	vbx__json_number(&f, o, "inf", REQ, -INFINITY, INFINITY, &d);
	assert_msg(&f, "inf", "must be a number");
	vbx__json_number(&f, o, "ninf", REQ, -DBL_MAX, DBL_MAX, &d);
	assert_msg(&f, "ninf", "must be a number");
	vbx__json_number(&f, o, "cpu", REQ, 1, INFINITY, &d);
	assert_msg(&f, "cpu", "must be a number of at least 1");
	vbx__json_number(&f, o, "i", REQ, -INFINITY, 1.5, &d);
	assert_msg(&f, "i", "must be a number of at most 1.5");
	vbx__json_number(&f, o, "missing", REQ, 0, 1, &d);
	assert_msg(&f, "missing", "is required");
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

static void test_bool(void **state)
{
	vbx__fields f = {0};
	cJSON *o = body("{\"t\":true,\"f\":false,\"one\":1,\"s\":\"true\","
	                "\"n\":null}");
	int b = 7;
	assert_int_equal(vbx__json_bool(&f, o, "t", REQ, &b), VBX_OK);
	assert_int_equal(b, 1);
	assert_int_equal(vbx__json_bool(&f, o, "f", REQ, &b), VBX_OK);
	assert_int_equal(b, 0);
	b = 7;
	assert_int_equal(vbx__json_bool(&f, o, "n", OPT, &b), VBX_ENOTFOUND);
	assert_int_equal(b, 7);
	assert_int_equal(vbx__json_bool(&f, o, "one", REQ, &b), VBX_EINVAL);
	assert_msg(&f, "one", "must be a boolean");
	assert_int_equal(vbx__json_bool(&f, o, "s", OPT, &b), VBX_EINVAL);
	assert_msg(&f, "s", "must be a boolean");
	assert_int_equal(vbx__json_bool(&f, o, "n", REQ, &b), VBX_EINVAL);
	assert_msg(&f, "n", "is required");
	assert_int_equal(b, 7);
	vbx__fields_free(&f);
	cJSON_Delete(o);
}

/* ---- request bodies ---- */

/* Parse len bytes that must be refused with a message containing want. */
static void refused(const char *text, size_t len, const char *want)
{
	cJSON *o = (cJSON *)1;
	char err[160] = "unset";
	int rc = vbx__json_parse_body(text, len, &o, err, sizeof(err));
	if (rc != VBX_EINVAL)
		fail_msg("body \"%.*s\" accepted", (int)len, text);
	assert_null(o);
	if (strcmp(err, want) != 0)
		fail_msg("body \"%.*s\": got \"%s\", want \"%s\"", (int)len,
		         text, err, want);
}

#define REFUSED(lit, want) refused(lit, sizeof(lit) - 1, want)

static void test_body_ok(void **state)
{
	cJSON *o = body(" \r\n\t{\"a\":[1,{\"b\":null}],\"c\":\"]}[{\"}\t\n ");
	assert_true(cJSON_IsObject(o));
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(o, "a")));
	cJSON_Delete(o);
	o = body("{}");
	assert_int_equal(cJSON_GetArraySize(o), 0);
	cJSON_Delete(o);

	/* buf need not be NUL-terminated: only len bytes are read. */
	char buf[] = {'{', '}', 'x', 'y'};
	assert_int_equal(vbx__json_parse_body(buf, 2, &o, NULL, 0), VBX_OK);
	cJSON_Delete(o);
	/* A UTF-8 byte order mark is skipped (RFC 8259 allows it). */
	o = body("\xef\xbb\xbf{\"a\":1}");
	cJSON_Delete(o);
}

static void test_body_empty(void **state)
{
	REFUSED("", "request body is empty");
	REFUSED(" \r\n\t ", "request body is empty");
	cJSON *o = (cJSON *)1;
	char err[64];
	assert_int_equal(vbx__json_parse_body(NULL, 10, &o, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_null(o);
	assert_string_equal(err, "request body is empty");
}

static void test_body_invalid(void **state)
{
	REFUSED("{\"a\":}", "request body is not valid JSON near byte 5");
	REFUSED("{\"a\" 1}", "request body is not valid JSON near byte 5");
	/* At the end of the text cJSON names the last byte. */
	REFUSED("{", "request body is not valid JSON near byte 0");
	REFUSED("{\"a\":1", "request body is not valid JSON near byte 5");
	REFUSED("{\"a\":1,}", "request body is not valid JSON near byte 7");
	REFUSED("nope", "request body is not valid JSON near byte 0");
	REFUSED("{'a':1}", "request body is not valid JSON near byte 2");
	REFUSED("{\"a\":\"x", "request body is not valid JSON near byte 6");
	/* Lone surrogate escapes are refused by cJSON. */
	REFUSED("{\"a\":\"\\ud800\"}",
	        "request body is not valid JSON near byte 6");
	REFUSED("{\"a\":\"\\udc00x\"}",
	        "request body is not valid JSON near byte 6");
	/* Raw control characters: inside strings and between tokens. */
	REFUSED("{\"a\":\"x\ty\"}",
	        "request body is not valid JSON near byte 7");
	REFUSED("{\"a\":\"x\ny\"}",
	        "request body is not valid JSON near byte 7");
	REFUSED("{\x01}", "request body is not valid JSON near byte 1");
	REFUSED("\x0c{}", "request body is not valid JSON near byte 0");
}

static void test_body_not_object(void **state)
{
	const char *const bad[] = {"[]",   "[{}]", "1",      "\"s\"",
	                           "null", "true", " false "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], strlen(bad[i]),
		        "request body must be a JSON object");
}

static void test_body_trailing(void **state)
{
	REFUSED("{} x",
	        "request body has data after the JSON object at byte 3");
	REFUSED("{}{}",
	        "request body has data after the JSON object at byte 2");
	REFUSED("{\"a\":1}\n,",
	        "request body has data after the JSON object at byte 8");
	REFUSED("{}]", "request body has data after the JSON object at byte 2");
}

/* The field a body repeats, or "" when none; the body must parse. */
static const char *dup_of(const char *text, char *path, size_t size)
{
	cJSON *o = body(text);
	int rc = vbx__json_duplicate_key(o, path, size);
	cJSON_Delete(o);
	assert_true(rc == VBX_OK || rc == VBX_EEXIST);
	assert_true(rc == VBX_EEXIST || path[0] == '\0');
	return path;
}

static void test_body_duplicate_keys(void **state)
{
	char p[64];
	(void)state;
	assert_string_equal(dup_of("{\"a\":1,\"b\":2}", p, sizeof(p)), "");
	assert_string_equal(dup_of("{\"a\":1,\"a\":2}", p, sizeof(p)), "a");
	assert_string_equal(
	        dup_of("{\"name\":\"x\",\"x\":1,\"name\":\"admin\"}", p,
	               sizeof(p)),
	        "name");
	/* keys compare after unescaping, and case matters */
	assert_string_equal(dup_of("{\"a\":1,\"\\u0061\":2}", p, sizeof(p)),
	                    "a");
	assert_string_equal(dup_of("{\"a\":1,\"A\":2}", p, sizeof(p)), "");
	assert_string_equal(dup_of("{\"\":1,\"\":2}", p, sizeof(p)), "\"\"");
	/* nested objects and objects in arrays, named by their path */
	assert_string_equal(
	        dup_of("{\"spec\":{\"x\":1,\"x\":1}}", p, sizeof(p)), "spec.x");
	assert_string_equal(
	        dup_of("{\"ports\":[{},{\"h\":1,\"h\":2}]}", p, sizeof(p)),
	        "ports[1].h");
	/* the same key in sibling objects is no repeat */
	assert_string_equal(
	        dup_of("{\"a\":{\"k\":1},\"b\":{\"k\":1}}", p, sizeof(p)), "");
	/* a long path is cut, not overrun */
	char tiny[4];
	assert_string_equal(
	        dup_of("{\"spec\":{\"x\":1,\"x\":1}}", tiny, sizeof(tiny)),
	        "spe");
	assert_int_equal(vbx__json_duplicate_key(NULL, p, sizeof(p)), VBX_OK);
	assert_int_equal(vbx__json_duplicate_key(NULL, p, 1), VBX_EINVAL);
}

/* Many keys: sorted, not compared pairwise (this would take minutes). */
static void test_body_duplicate_keys_many(void **state)
{
	enum { N = 200000 };
	(void)state;
	char *text = malloc((size_t)N * 16 + 16);
	assert_non_null(text);
	size_t o = 0;
	text[o++] = '{';
	for (int i = 0; i < N; i++)
		o += (size_t)sprintf(text + o, "%s\"k%d\":0", i ? "," : "",
		                     i == N - 1 ? 7 : i);
	text[o++] = '}';
	text[o] = '\0';
	char p[32];
	assert_string_equal(dup_of(text, p, sizeof(p)), "k7");
	free(text);
}

static void test_body_nul(void **state)
{
	REFUSED("{\"a\":1\0}", "request body contains a NUL byte at byte 6");
	REFUSED("{}\0", "request body contains a NUL byte at byte 2");
	REFUSED("\0{}", "request body contains a NUL byte at byte 0");
	REFUSED("{\"a\":\"x\0y\"}",
	        "request body contains a NUL byte at byte 7");
	REFUSED("{\"a\":\"x\\u0000y\"}",
	        "request body contains an escaped NUL (\\u0000) at byte 7");
	REFUSED("{\"\\u0000\":1}",
	        "request body contains an escaped NUL (\\u0000) at byte 2");
	/* Escaped backslash then "u0000" is text, not an escape. */
	cJSON *o = body("{\"a\":\"\\\\u0000\"}");
	assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring,
	                    "\\u0000");
	cJSON_Delete(o);
	/* Other \u escapes are fine. */
	o = body("{\"a\":\"\\u0001\\u0041\"}");
	assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring, "\x01"
	                                                              "A");
	cJSON_Delete(o);
}

/* A body of `levels` nested arrays inside the top object. */
static char *nested(size_t levels, size_t *len)
{
	char *s = malloc(2 * levels + 16);
	size_t n = 0;
	n += (size_t)sprintf(s, "{\"a\":");
	for (size_t i = 0; i < levels; i++)
		s[n++] = '[';
	for (size_t i = 0; i < levels; i++)
		s[n++] = ']';
	s[n++] = '}';
	s[n] = '\0';
	*len = n;
	return s;
}

static void test_body_depth(void **state)
{
	size_t len;
	cJSON *o;
	char err[128];

	char *s = nested(VBX__JSON_MAX_DEPTH - 1, &len); /* 64 levels */
	assert_int_equal(vbx__json_parse_body(s, len, &o, err, sizeof(err)),
	                 VBX_OK);
	cJSON_Delete(o);
	free(s);

	s = nested(VBX__JSON_MAX_DEPTH, &len); /* 65 levels */
	assert_int_equal(vbx__json_parse_body(s, len, &o, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_string_equal(err, "request body nests deeper than 64 levels");
	free(s);

	/* Far past cJSON's own limit: refused by the flat scan, fast. */
	s = nested(1000000, &len);
	assert_int_equal(vbx__json_parse_body(s, len, &o, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_null(o);
	assert_string_equal(err, "request body nests deeper than 64 levels");
	free(s);

	/* Brackets inside strings do not nest. */
	s = malloc(300);
	strcpy(s, "{\"a\":\"");
	memset(s + 6, '[', 200);
	strcpy(s + 206, "\"}");
	o = body(s);
	free(s);
	cJSON_Delete(o);

	/* Closing brackets do not undo depth in advance. */
	REFUSED("{\"a\":]]]]]]]]]]}",
	        "request body is not valid JSON near byte 5");
}

/*
 * Unpatched cJSON 1.7.15 reads one byte past a text that ends right after
 * a comma in an object (CVE-2023-53154). The buffers here are exactly as
 * long as the text, so valgrind (which sees into libcjson) flags any such
 * read; fuzz_json, built with an instrumented upstream 1.7.15, does too.
 */
static void test_body_no_overread(void **state)
{
	const char *const texts[] = {"{\"a\":1,",  "{\"a\":1, \n",
	                             "[{\"a\":1,", "{\"a\":{\"b\":2,",
	                             "{\"a\":[1,", "{\"a\":\"",
	                             "{\"a\":",    "{\"a\"",
	                             "{",          "[",
	                             "{\"a\":1,}"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		char *buf = malloc(len);
		memcpy(buf, texts[i], len);
		cJSON *o = (cJSON *)1;
		char err[128];
		assert_int_equal(
		        vbx__json_parse_body(buf, len, &o, err, sizeof(err)),
		        VBX_EINVAL);
		assert_null(o);
		free(buf);
	}
	REFUSED("{\"a\":1,", "request body is not valid JSON near byte 6");
	REFUSED("[{\"a\":1,", "request body is not valid JSON near byte 7");
}

static void test_body_err_buffer(void **state)
{
	cJSON *o;
	char err[8];
	memset(err, 'x', sizeof(err));
	assert_int_equal(vbx__json_parse_body("", 0, &o, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_string_equal(err, "request"); /* truncated, terminated */
	assert_int_equal(vbx__json_parse_body("[", 1, &o, NULL, 0), VBX_EINVAL);
	assert_int_equal(vbx__json_parse_body("[", 1, &o, err, 0), VBX_EINVAL);
}

/* ---- statuses and the envelope ---- */

static void test_code_names(void **state)
{
	static const struct {
		int status;
		const char *code;
	} t[] = {
	        {400, "BAD_REQUEST"},       {401, "UNAUTHORIZED"},
	        {403, "FORBIDDEN"},         {404, "NOT_FOUND"},
	        {405, "BAD_REQUEST"},       {409, "CONFLICT"},
	        {413, "PAYLOAD_TOO_LARGE"}, {429, "TOO_MANY_REQUESTS"},
	        {422, "BAD_REQUEST"},       {418, "BAD_REQUEST"},
	        {500, "INTERNAL_ERROR"},    {501, "INTERNAL_ERROR"},
	        {502, "UNAVAILABLE"},       {503, "UNAVAILABLE"},
	        {504, "UNAVAILABLE"},       {507, "INTERNAL_ERROR"},
	        {200, "INTERNAL_ERROR"},    {0, "INTERNAL_ERROR"},
	        {-1, "INTERNAL_ERROR"},     {600, "INTERNAL_ERROR"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(vbx__http_code_name(t[i].status),
		                    t[i].code);
}

static void test_status_for(void **state)
{
	static const struct {
		int rc, status;
	} t[] = {
	        {VBX_OK, 200},        {VBX_EINVAL, 400},
	        {VBX_EUNAUTH, 401},   {VBX_EDENIED, 403},
	        {VBX_ENOTFOUND, 404}, {VBX_EEXIST, 409},
	        {VBX_ESTATE, 409},    {VBX_EUNAVAIL, 503},
	        {VBX_EAGAIN, 503},    {VBX_ETIMEDOUT, 504},
	        {VBX_ERR, 500},       {VBX_ENOMEM, 500},
	        {VBX_DECLINED, 500},  {VBX_ESIGNATURE, 500},
	        {-999, 500},          {42, 500},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(vbx__http_status_for(t[i].rc), t[i].status);
}

static void test_error_json(void **state)
{
	size_t len = 0;
	char *s = vbx__error_json(404, "NOT_FOUND", "no such team", NULL, &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":"
	                       "\"no such team\",\"statusCode\":404}}");
	assert_int_equal(len, strlen(s));
	free(s);

	/* Defaults, escaping. */
	s = vbx__error_json(503, NULL, NULL, NULL, NULL);
	assert_string_equal(s,
	                    "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":"
	                    "\"\",\"statusCode\":503}}");
	free(s);
	s = vbx__error_json(400, NULL, "say \"hi\"\n\\", NULL, &len);
	assert_string_equal(s,
	                    "{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":"
	                    "\"say \\\"hi\\\"\\n\\\\\",\"statusCode\":400}}");
	free(s);

	/* Field errors. */
	vbx__fields f = {0};
	vbx__fields_add(&f, "name", "is required");
	vbx__fields_add(&f, "cpuLimit", "must be a number between 0.5 and 64");
	s = vbx__error_json(400, "VALIDATION_ERROR", "invalid fields", f.obj,
	                    &len);
	assert_string_equal(s,
	                    "{\"error\":{\"code\":\"VALIDATION_ERROR\","
	                    "\"message\":\"invalid fields\",\"statusCode\":400,"
	                    "\"fields\":{\"name\":\"is required\",\"cpuLimit\":"
	                    "\"must be a number between 0.5 and 64\"}}}");
	free(s);
	vbx__fields_free(&f);
}

/* Bad bytes in a message must not make the envelope invalid UTF-8. */
static void test_error_json_repairs_utf8(void **state)
{
	size_t len;
	char *s = vbx__error_json(404, NULL, "team \xff\xc3(\xc3\xa9 x", NULL,
	                          &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":"
	                       "\"team \xef\xbf\xbd\xef\xbf\xbd(\xc3\xa9 x\","
	                       "\"statusCode\":404}}");
	assert_int_equal(len, strlen(s));
	assert_int_not_equal(vbx__utf8_count(s, len), (size_t)-1);
	cJSON *back = cJSON_Parse(s);
	assert_non_null(back);
	cJSON_Delete(back);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fields),
	        cmocka_unit_test(test_string_ok_absent_null),
	        cmocka_unit_test(test_string_wrong_type),
	        cmocka_unit_test(test_string_length_messages),
	        cmocka_unit_test(test_string_counts_characters),
	        cmocka_unit_test(test_string_utf8_edges),
	        cmocka_unit_test(test_int),
	        cmocka_unit_test(test_int_precision_limits),
	        cmocka_unit_test(test_number),
	        cmocka_unit_test(test_bool),
	        cmocka_unit_test(test_body_ok),
	        cmocka_unit_test(test_body_empty),
	        cmocka_unit_test(test_body_invalid),
	        cmocka_unit_test(test_body_not_object),
	        cmocka_unit_test(test_body_trailing),
	        cmocka_unit_test(test_body_duplicate_keys),
	        cmocka_unit_test(test_body_duplicate_keys_many),
	        cmocka_unit_test(test_body_nul),
	        cmocka_unit_test(test_body_depth),
	        cmocka_unit_test(test_body_no_overread),
	        cmocka_unit_test(test_body_err_buffer),
	        cmocka_unit_test(test_code_names),
	        cmocka_unit_test(test_status_for),
	        cmocka_unit_test(test_error_json),
	        cmocka_unit_test(test_error_json_repairs_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
