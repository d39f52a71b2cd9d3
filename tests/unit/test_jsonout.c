/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_jsonout.c - vbx__json_print() against cJSON_PrintUnformatted(),
 * byte for byte: every type, every escaped byte, UTF-8 and invalid UTF-8,
 * keys that need escaping, numbers at every edge cJSON has (integers past
 * 2^53, -0.0, NaN, denormals), trees cJSON refuses to print, a 1 MB string
 * and a wide array that make the buffer grow, and thousands of random trees
 * built from a fixed seed.
 */
#include "vbx_build.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonout.h"

/* ---- helpers ---- */

/* Print tree with both printers and require the same bytes (or the same
 * refusal). Does not free tree. */
static void check_same(const cJSON *tree)
{
	char *want = cJSON_PrintUnformatted(tree);
	size_t len = (size_t)-1;
	char *got = vbx__json_print(tree, &len);

	if (!want) {
		if (got)
			fail_msg("cJSON refused the tree, we printed %s", got);
		assert_int_equal(len, (size_t)-1); /* untouched */
		return;
	}
	if (!got)
		fail_msg("we refused a tree cJSON prints as %.200s", want);
	size_t wlen = strlen(want);
	assert_int_equal(len, strlen(got));
	if (len != wlen || memcmp(got, want, wlen) != 0) {
		size_t at = 0;
		while (at < len && at < wlen && got[at] == want[at])
			at++;
		fail_msg("differ at byte %zu:\n  cJSON: %.80s\n  ours:  %.80s",
		         at, want + at, got + at);
	}
	cJSON_free(want);
	free(got);
}

/* check_same() then free the tree. */
static void check_tree(cJSON *tree)
{
	assert_non_null(tree);
	check_same(tree);
	cJSON_Delete(tree);
}

static void check_text(const char *json)
{
	cJSON *tree = cJSON_Parse(json);
	if (!tree)
		fail_msg("test text does not parse: %s", json);
	check_tree(tree);
}

static void check_number(double d)
{
	cJSON *n = cJSON_CreateNumber(0);
	assert_non_null(n);
	n->valuedouble = d; /* no valueint conversion of NaN and friends */
	check_same(n);

	/* and as a member, between others */
	cJSON *o = cJSON_CreateObject();
	assert_non_null(cJSON_AddNumberToObject(o, "a", 1));
	cJSON_AddItemToObject(o, "n", n);
	assert_non_null(cJSON_AddNumberToObject(o, "z", -1));
	check_tree(o);
}

/* A string item and an object with it as both key and value. */
static void check_string(const char *s)
{
	check_tree(cJSON_CreateString(s));
	cJSON *o = cJSON_CreateObject();
	assert_non_null(cJSON_AddStringToObject(o, s, s));
	check_tree(o);
}

/* ---- the table ---- */

static void test_scalars(void **state)
{
	check_tree(cJSON_CreateNull());
	check_tree(cJSON_CreateTrue());
	check_tree(cJSON_CreateFalse());
	check_tree(cJSON_CreateBool(1));
	check_tree(cJSON_CreateString(""));
	check_tree(cJSON_CreateString("plain"));
	check_tree(cJSON_CreateRaw("{\"already\":[1,2]}"));
	check_tree(cJSON_CreateRaw("")); /* prints nothing at all */
	check_text("[null,true,false,\"s\",1,{}]");
}

static void test_control_bytes(void **state)
{
	char s[4] = "a?z";
	for (int c = 1; c < 0x20; c++) {
		s[1] = (char)c;
		check_string(s);
	}
	/* all of them in a row, then every byte 1..255 */
	char all[256];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	check_string(all);
	all[31] = '\0';
	check_string(all);
	check_string("\x1f\x01");
	check_string("\t\n\r\b\f\v\x7f");
}

/* An escape, or two, at every place of strings of 1 to 24 bytes: the
 * scan takes 8 bytes at a time and the last 1..7 as a word that overlaps
 * what it already read, which must never hide or invent an escape. */
static void test_escape_at_every_place(void **state)
{
	static const char esc[] = {'"', '\\', '\n', 0x01, 0x1f};
	char s[25];
	for (size_t len = 1; len <= 24; len++)
		for (size_t i = 0; i < len; i++)
			for (size_t e = 0; e < sizeof(esc); e++) {
				memset(s, 'a', len);
				s[len] = '\0';
				s[i] = esc[e];
				check_string(s);
				for (size_t j = i + 1; j < len; j++) {
					s[j] = esc[(e + 1) % sizeof(esc)];
					check_string(s);
					s[j] = 'a';
				}
			}
}

static void test_quotes_and_backslashes(void **state)
{
	check_string("\"");
	check_string("\\");
	check_string("\"\"\\\\\"");
	check_string("say \"hi\" to C:\\temp\\");
	check_string("\\u0041 is not unescaped");
	check_string("/slashes/ stay");
}

static void test_utf8(void **state)
{
	check_string("h\xc3\xa9llo w\xc3\xb6rld");     /* é ö */
	check_string("\xe2\x82\xac \xf0\x9f\x98\x80"); /* € 😀 */
	check_string("\xef\xbf\xbd\xed\xa0\x80");      /* U+FFFD, surrogate */
	check_string("\x80\xbf\xc0\xaf\xfe\xff truncated \xe2\x82");
	check_text("{\"\\u00e9\\u4e2d\":\"\\ud83d\\ude00\"}");
}

static void test_containers(void **state)
{
	check_tree(cJSON_CreateObject());
	check_tree(cJSON_CreateArray());
	check_text("[[],{},[[]],[{}],{\"a\":{}},{\"a\":[]}]");
	check_text("{\"a\":{\"b\":{\"c\":[1,[2,[3,{\"d\":null}]]]}},\"e\":1}");
	check_text("{\"dup\":1,\"dup\":2}");

	/* deeper than any response, still what cJSON prints */
	cJSON *root = cJSON_CreateArray(), *at = root;
	for (int i = 0; i < 500; i++) {
		cJSON *next =
		        i % 2 ? cJSON_CreateArray() : cJSON_CreateObject();
		assert_non_null(next);
		if (cJSON_IsObject(at))
			cJSON_AddItemToObject(at, "k", next);
		else
			cJSON_AddItemToArray(at, next);
		at = next;
	}
	check_tree(root);
}

static void test_keys(void **state)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNullToObject(o, "");
	cJSON_AddNullToObject(o, "quote\"key");
	cJSON_AddNullToObject(o, "back\\slash");
	cJSON_AddNullToObject(o, "ctl\x01\x1f\n\t");
	cJSON_AddNullToObject(o, "\xc3\xa9t\xc3\xa9");
	/* a member without a name prints as "" */
	cJSON_AddItemToArray(o, cJSON_CreateNumber(1));
	check_tree(o);
}

static const double numbers[] = {
        0.0,
        1.0,
        -1.0,
        7.0,
        10.0,
        100.0,
        20.0,
        123456.0,
        2147483647.0,
        2147483648.0,
        -2147483648.0,
        -2147483649.0,
        4294967296.0,
        1700000000123.0, /* Unix ms */
        -1700000000123.0,
        99999999999999.0,
        999999999999999.0,
        -999999999999999.0,
        1e15,
        -1e15,
        1000000000000001.0,
        9007199254740991.0, /* 2^53 - 1 */
        9007199254740992.0, /* 2^53 */
        -9007199254740992.0,
        9007199254740994.0,
        18446744073709551616.0, /* 2^64 */
        1e21,
        1e22,
        123456789012345678.0,
        0.5,
        -0.5,
        0.1,
        0.2,
        0.30000000000000004,
        1.0 / 3.0,
        2.0 / 3.0,
        12.345,
        99.99,
        0.25,
        3.14159265358979,
        3.141592653589793,
        1e-7,
        1.5e-10,
        123456.789,
        999999999999999.5,
        1e300,
        -1e300,
        1e-300,
        DBL_MAX,
        -DBL_MAX,
        DBL_MIN,
        5e-324, /* the smallest denormal */
        2.2250738585072009e-308,
        DBL_EPSILON,
        1.0 + DBL_EPSILON,
        0.1 + 0.2,
        100.0 / 7.0,
        4.35,
        0.000001,
        1e-5,
        1e100,
};

static void test_numbers(void **state)
{
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		check_number(numbers[i]);
		check_number(-numbers[i]);
		check_number(nextafter(numbers[i], INFINITY));
		check_number(nextafter(numbers[i], -INFINITY));
	}
	check_number(-0.0);
	check_number(NAN);
	check_number(-NAN);
	check_number(INFINITY);
	check_number(-INFINITY);
	/* integers in every decade */
	for (double p = 1; p < 1e20; p *= 10)
		for (int k = -3; k <= 3; k++)
			check_number(p + k);
	/* short decimals, m / 10^k, on both sides of every edge of the
	 * shortcut for them */
	static const double ms[] = {1,
	                            5,
	                            9,
	                            10,
	                            11,
	                            25,
	                            99,
	                            100,
	                            101,
	                            125,
	                            999,
	                            1001,
	                            12345,
	                            99999,
	                            100001,
	                            123456789,
	                            999999999,
	                            1e10,
	                            1e11 + 1,
	                            99999999999999.0,
	                            999999999999999.0,
	                            1e14 + 1,
	                            1e15 + 1,
	                            12345678901234567.0};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		for (int k = 1; k <= 7; k++) {
			double d = ms[i] / pow(10, k);
			check_number(d);
			check_number(-d);
			check_number(nextafter(d, 0));
			check_number(nextafter(d, INFINITY));
			check_number(ms[i] * 1e-3 / pow(10, k));
		}
	}
	check_number(1e-3);
	check_number(nextafter(1e-3, 0));
	check_number(1e-4);
	check_number(9.9999e-4);
	check_number(9999999999.9999);
	check_number(1e10 - 0.5);
	check_number(1e10 + 0.5);
	check_number(round(12.3456 * 100) / 100);
	check_number(1234567.0 / 1000.0);
	/* the numbers cJSON makes of text */
	check_text("[0,-0,1e2,1E+2,-1.5e-3,0.1,1e400,-1e400,1e-400,"
	           "12345678901234567890,0.000000000000000000001]");
}

/* A number printed through cJSON_CreateNumber keeps valueint in step. */
static void test_numbers_created(void **state)
{
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		cJSON *n = cJSON_CreateNumber(numbers[i]);
		check_tree(n);
	}
	cJSON *a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
	cJSON_SetNumberValue(a->child, 2.5);
	check_tree(a);
}

/* Trees cJSON refuses to print; so must we. */
static void test_unprintable(void **state)
{
	check_same(NULL);
	assert_null(vbx__json_print(NULL, NULL));

	cJSON *bad = cJSON_CreateNull();
	bad->type = cJSON_Invalid;
	check_same(bad);
	bad->type = cJSON_Number | cJSON_String; /* not one type */
	check_same(bad);
	bad->type = 0x7f;
	check_same(bad);
	bad->type = cJSON_Raw; /* with no text */
	check_same(bad);
	bad->type = cJSON_NULL;

	/* deep inside, after output was written */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "before", "text");
	cJSON *arr = cJSON_AddArrayToObject(o, "list");
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(arr, bad);
	check_same(o);
	bad->type = cJSON_Invalid;
	check_same(o);
	cJSON_Delete(o);
}

/* Flags above the low 8 bits do not change the output; a string with no
 * text prints as "". */
static void test_odd_but_printable(void **state)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "ref", cJSON_CreateStringReference("r\"ef"));
	cJSON_AddItemToObjectCS(o, "const", cJSON_CreateNumber(5));
	cJSON *inner = cJSON_CreateArray();
	cJSON_AddItemToArray(inner, cJSON_CreateNumber(1));
	cJSON_AddItemReferenceToObject(o, "aref", inner);
	cJSON *nostr = cJSON_CreateNull();
	nostr->type = cJSON_String; /* valuestring NULL */
	cJSON_AddItemToObject(o, "nostr", nostr);
	cJSON_AddItemToObject(o, "raw", cJSON_CreateRaw("[1, 2]"));
	check_tree(o);
	cJSON_Delete(inner);
}

static void test_len_may_be_null(void **state)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "a", "b");
	char *s = vbx__json_print(o, NULL);
	assert_string_equal(s, "{\"a\":\"b\"}");
	free(s);
	cJSON_Delete(o);
}

/* ---- growth ---- */

static void test_big_string(void **state)
{
	size_t n = 1 << 20;
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	check_string(s);

	/* escapes all along, so escaped output is several times the input */
	for (size_t i = 0; i < n; i++)
		s[i] = "a\"\\\n\x01\x7f\xc3\xa9"[i % 8];
	s[n] = '\0';
	check_string(s);

	/* only \u escapes: the worst case, 6 bytes each */
	memset(s, '\x02', n);
	check_string(s);
	free(s);
}

static void test_wide_array(void **state)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < 100000; i++)
		cJSON_AddItemToArray(a, i % 3 ? cJSON_CreateNumber(i * 1.5)
		                              : cJSON_CreateString("item"));
	check_tree(a);
}

/* What GET /api/v1/projects answers: 20 objects of 7 short strings. */
static void test_project_page(void **state)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(root, "items");
	for (int i = 0; i < 20; i++) {
		char id[40], name[40];
		snprintf(id, sizeof(id), "3f1c2a9e-0b7d-4c11-9a2e-%012d", i);
		snprintf(name, sizeof(name), "project %d \"demo\"", i);
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "id", id);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddStringToObject(p, "description", "A sample project");
		cJSON_AddStringToObject(p, "teamId", id);
		cJSON_AddStringToObject(p, "ownerId", id);
		cJSON_AddStringToObject(p, "createdAt",
		                        "2024-05-01T12:00:00.000Z");
		cJSON_AddStringToObject(p, "updatedAt",
		                        "2024-05-02T08:30:00.000Z");
		cJSON_AddItemToArray(items, p);
	}
	cJSON_AddNumberToObject(root, "page", 1);
	cJSON_AddNumberToObject(root, "limit", 20);
	cJSON_AddNumberToObject(root, "total", 137);
	check_tree(root);
}

/* ---- random trees ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Random bytes leaning on the ones that matter: escapes, quotes,
 * backslashes, UTF-8, 0x7f. */
static void rnd_text(char *buf, size_t cap)
{
	static const char special[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xff";
	size_t n = rnd_below(4) ? rnd_below(12) : rnd_below((unsigned)cap);
	for (size_t i = 0; i < n; i++) {
		switch (rnd_below(4)) {
		case 0:
			buf[i] = special[rnd_below(sizeof(special) - 1)];
			break;
		case 1:
			buf[i] = (char)(1 + rnd_below(255));
			break;
		default:
			buf[i] = (char)('a' + rnd_below(26));
		}
	}
	buf[n] = '\0';
}

static double rnd_double(void)
{
	uint64_t bits;
	double d;
	switch (rnd_below(10)) {
	case 8: /* short decimals: m / 10^k */
		return (double)((int64_t)(rnd() >> rnd_below(64)) *
		                (rnd_below(2) ? 1 : -1)) /
		       pow(10, 1 + rnd_below(6));
	case 9: /* rounded like the daemon's cpuPercent */
		return round((double)rnd_below(1000000) / 7.0 * 100) / 100;
	case 0: /* any bit pattern: NaNs, infinities, denormals */
		bits = rnd();
		memcpy(&d, &bits, sizeof(d));
		return d;
	case 1: /* small integers */
		return (double)((int64_t)rnd_below(2001) - 1000);
	case 2: /* integers of any size up to 2^63 */
		return (double)(int64_t)(rnd() >> rnd_below(64));
	case 3: /* around the 1e15 and 2^53 edges */
		return (rnd_below(2) ? 1e15 : 9007199254740992.0) +
		       (double)((int)rnd_below(21) - 10);
	case 4: /* percentages */
		return (double)rnd_below(100000) / 100.0;
	case 5: /* a fraction times a power of ten */
		return ((double)rnd() / 18446744073709551616.0) *
		       pow(10, (int)rnd_below(80) - 40);
	case 6:
		return rnd_below(2) ? -0.0 : 0.0;
	default: /* Unix ms */
		return 1.6e12 + (double)(rnd() % 100000000000ULL);
	}
}

static cJSON *rnd_tree(int depth);

static cJSON *rnd_container(int depth, bool object)
{
	cJSON *c = object ? cJSON_CreateObject() : cJSON_CreateArray();
	unsigned n = rnd_below(6);
	char key[64];
	for (unsigned i = 0; i < n; i++) {
		cJSON *child = rnd_tree(depth + 1);
		if (object) {
			rnd_text(key, sizeof(key));
			cJSON_AddItemToObject(c, key, child);
		} else {
			cJSON_AddItemToArray(c, child);
		}
	}
	return c;
}

static cJSON *rnd_tree(int depth)
{
	char text[256];
	unsigned kind = rnd_below(depth >= 6 ? 6 : 9);
	switch (kind) {
	case 0:
		return cJSON_CreateNull();
	case 1:
		return cJSON_CreateBool(rnd_below(2));
	case 2:
	case 3: {
		cJSON *n = cJSON_CreateNumber(0);
		n->valuedouble = rnd_double();
		return n;
	}
	case 4:
	case 5:
		rnd_text(text, sizeof(text));
		return cJSON_CreateString(text);
	case 6:
		return rnd_container(depth, false);
	default:
		return rnd_container(depth, true);
	}
}

static void test_random_trees(void **state)
{
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 5000; i++)
		check_tree(rnd_tree(0));
}

static void test_random_numbers(void **state)
{
	rng_state = 42;
	for (int i = 0; i < 200000; i++) {
		cJSON *n = cJSON_CreateNumber(0);
		n->valuedouble = rnd_double();
		check_tree(n);
	}
}

/* A row written as text prints as the same fields in a tree would, alone
 * and inside an array, growing past its first buffer. */
static void test_rows(void **state)
{
	static const char *const values[] = {"plain",
	                                     "quote \" back \\ slash",
	                                     "tab\tnew\nline\x01",
	                                     "caf\xc3\xa9",
	                                     NULL,
	                                     ""};
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	cJSON *tree = cJSON_CreateObject(), *rows = cJSON_CreateArray();
	vbx__json_buf row;
	vbx__json_row_begin(&row);
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%zu", i);
		vbx__json_row_str(&row, key, values[i]);
		if (values[i])
			cJSON_AddStringToObject(tree, key, values[i]);
		else
			cJSON_AddNullToObject(tree, key);
	}
	vbx__json_row_str(&row, "big", big);
	cJSON_AddStringToObject(tree, "big", big);
	cJSON *raw = vbx__json_row_end(&row);
	assert_non_null(raw);
	assert_null(row.buf);

	char *want = cJSON_PrintUnformatted(tree);
	char *got = vbx__json_print(raw, NULL);
	assert_string_equal(got, want);
	free(got);
	cJSON_AddItemToArray(rows, raw);
	got = vbx__json_print(rows, NULL);
	char *in_array = malloc(strlen(want) + 3);
	sprintf(in_array, "[%s]", want);
	assert_string_equal(got, in_array);
	free(in_array);
	free(got);
	cJSON_free(want);
	cJSON_Delete(rows);
	cJSON_Delete(tree);

	/* An empty row is an empty object. */
	vbx__json_row_begin(&row);
	raw = vbx__json_row_end(&row);
	got = vbx__json_print(raw, NULL);
	assert_string_equal(got, "{}");
	free(got);
	cJSON_Delete(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scalars),
	        cmocka_unit_test(test_rows),
	        cmocka_unit_test(test_control_bytes),
	        cmocka_unit_test(test_escape_at_every_place),
	        cmocka_unit_test(test_quotes_and_backslashes),
	        cmocka_unit_test(test_utf8),
	        cmocka_unit_test(test_containers),
	        cmocka_unit_test(test_keys),
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_numbers_created),
	        cmocka_unit_test(test_unprintable),
	        cmocka_unit_test(test_odd_but_printable),
	        cmocka_unit_test(test_len_may_be_null),
	        cmocka_unit_test(test_big_string),
	        cmocka_unit_test(test_wide_array),
	        cmocka_unit_test(test_project_page),
	        cmocka_unit_test(test_random_trees),
	        cmocka_unit_test(test_random_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
