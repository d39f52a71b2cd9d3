/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_json.c - request bodies: parse the input as a body, run every
 * typed getter on every member, render the error envelope, and check what
 * each promises:
 *   - a refused body has a message and no tree; an accepted one is an
 *     object that prints and parses again (as a body) to an equal tree;
 *   - a getter returns VBX_OK, VBX_ENOTFOUND or VBX_EINVAL, records a
 *     field error exactly when it returns VBX_EINVAL, and what it hands out
 *     is within the bounds asked for;
 *   - the envelope is valid UTF-8 JSON with the fields in it;
 *   - a key repeated in the top object is always reported.
 */
#include "vbx_build.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_rc(int rc, vbx__fields *f, unsigned before)
{
	CHECK(rc == VBX_OK || rc == VBX_ENOTFOUND || rc == VBX_EINVAL);
	CHECK((rc == VBX_EINVAL) == (f->count == before + 1));
	CHECK(rc == VBX_EINVAL || f->count == before);
}

static void get_strings(vbx__fields *f, const cJSON *o, const char *key)
{
	static const size_t bounds[][2] = {{0, SIZE_MAX}, {1, 64}, {3, 3}};
	for (size_t b = 0; b < 3; b++) {
		for (int req = 0; req < 2; req++) {
			const char *s = (const char *)1;
			unsigned before = f->count;
			int rc = vbx__json_string(f, o, key, req, bounds[b][0],
			                          bounds[b][1], &s);
			check_rc(rc, f, before);
			if (rc != VBX_OK) {
				CHECK(s == NULL);
				continue;
			}
			size_t n = vbx__utf8_count(s, strlen(s));
			CHECK(n != (size_t)-1);
			CHECK(n >= bounds[b][0] && n <= bounds[b][1]);
		}
	}
}

static void get_numbers(vbx__fields *f, const cJSON *o, const char *key)
{
	static const long long ib[][2] = {{LLONG_MIN, LLONG_MAX}, {1, 100}};
	static const double db[][2] = {{-INFINITY, INFINITY}, {0.5, 64}};
	for (size_t b = 0; b < 2; b++) {
		for (int req = 0; req < 2; req++) {
			long long v = 12345;
			unsigned before = f->count;
			int rc = vbx__json_int(f, o, key, req, ib[b][0],
			                       ib[b][1], &v);
			check_rc(rc, f, before);
			if (rc == VBX_OK)
				CHECK(v >= ib[b][0] && v <= ib[b][1] &&
				      llabs(v) <= VBX__JSON_MAX_SAFE_INT);
			else
				CHECK(v == 12345);

			double d = 0.25;
			before = f->count;
			rc = vbx__json_number(f, o, key, req, db[b][0],
			                      db[b][1], &d);
			check_rc(rc, f, before);
			if (rc == VBX_OK)
				CHECK(isfinite(d) && d >= db[b][0] &&
				      d <= db[b][1]);
			else
				CHECK(d == 0.25);
		}
	}
}

static void get_bools(vbx__fields *f, const cJSON *o, const char *key)
{
	for (int req = 0; req < 2; req++) {
		int v = 7;
		unsigned before = f->count;
		int rc = vbx__json_bool(f, o, key, req, &v);
		check_rc(rc, f, before);
		CHECK(rc == VBX_OK ? (v == 0 || v == 1) : v == 7);
	}
}

static void check_envelope(const vbx__fields *f)
{
	size_t len = 0;
	char *s = vbx__error_json(400, "VALIDATION_ERROR", "invalid fields",
	                          f->obj, &len);
	if (!s)
		return; /* out of memory */
	CHECK(strlen(s) == len);
	CHECK(vbx__utf8_count(s, len) != (size_t)-1);
	cJSON *back = NULL;
	CHECK(vbx__json_parse_body(s, len, &back, NULL, 0) == VBX_OK);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(back, "error");
	CHECK(cJSON_IsObject(e));
	CHECK(cJSON_GetObjectItemCaseSensitive(e, "statusCode")->valueint ==
	      400);
	CHECK(!f->obj ||
	      cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "fields")));
	cJSON_Delete(back);
	free(s);
}

/* What we accept must print and parse back to the same tree. */
static void check_round_trip(const cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	if (!text)
		return;
	cJSON *again = NULL;
	CHECK(vbx__json_parse_body(text, strlen(text), &again, NULL, 0) ==
	      VBX_OK);
	/* cJSON prints non-finite numbers as null, which then differs. */
	char *text2 = cJSON_PrintUnformatted(again);
	CHECK(text2 && strcmp(text, text2) == 0);
	cJSON_free(text2);
	cJSON_Delete(again);
	cJSON_free(text);
}

/* A repeated key is reported with a path that ends in that key, and the
 * object it names really has it twice; none reported means none is
 * repeated at the top. */
static void check_duplicates(const cJSON *o)
{
	char path[64];
	int rc = vbx__json_duplicate_key(o, path, sizeof(path));
	CHECK(rc == VBX_OK || rc == VBX_EEXIST || rc == VBX_ENOMEM);
	CHECK(rc == VBX_EEXIST || path[0] == '\0');
	const cJSON *a, *b;
	cJSON_ArrayForEach(a, o) for (b = a->next; b; b = b->next)
	        CHECK(rc != VBX_OK || strcmp(a->string, b->string) != 0);
	if (rc == VBX_EEXIST)
		CHECK(path[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *o = (cJSON *)1;
	char err[128] = "";
	int rc = vbx__json_parse_body(data, size, &o, err, sizeof(err));
	if (rc != VBX_OK) {
		CHECK(rc == VBX_EINVAL || rc == VBX_ENOMEM);
		CHECK(o == NULL);
		CHECK(rc == VBX_ENOMEM ||
		      strncmp(err, "request body ", 13) == 0);
		return 0;
	}
	CHECK(cJSON_IsObject(o));
	check_round_trip(o);
	check_duplicates(o);

	vbx__fields f = {0};
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		get_strings(&f, o, it->string);
		get_numbers(&f, o, it->string);
		get_bools(&f, o, it->string);
		/* Members of nested objects too, one level down. */
		if (cJSON_IsObject(it)) {
			const cJSON *in;
			cJSON_ArrayForEach(in, it)
			{
				get_strings(&f, it, in->string);
				get_numbers(&f, it, in->string);
			}
		}
	}
	get_strings(&f, o, "absent");
	check_envelope(&f);
	vbx__fields_free(&f);
	cJSON_Delete(o);
	return 0;
}
