/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api_common.c - the helpers of the platform endpoints
 * (plugins/platform/common.c, compiled in): paging, RFC 3339 times, slugs,
 * UUIDs, field checks, the answers for store results and the authorize
 * wrapper's 403/404 choice. Requests are the core's own, without a server; the
 * authorize hook is a hand-made hook head with one fake handler.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common.h"
#include "server.h"

/* plugin.c's: the plugin the helpers log as and ask the host through. */
vbx_plugin *vbx__platform;

/* ---- requests without a server ---- */

static vbx_request *req_new(void)
{
	vbx_request *r = vbx__request_new(NULL);
	assert_non_null(r);
	r->method = "GET";
	r->path = "/api/v1/test";
	return r;
}

static void req_query(vbx_request *r, const char *name, const char *value)
{
	vbx__header *q =
	        vbx__arena_alloc(r->arena, (r->nquery + 1) * sizeof(*q));
	assert_non_null(q);
	if (r->nquery)
		memcpy(q, r->query, r->nquery * sizeof(*q));
	q[r->nquery].name = name;
	q[r->nquery].value = value;
	r->query = q;
	r->nquery++;
}

static void req_param(vbx_request *r, const char *name, const char *value)
{
	r->match.params[r->match.nparams].name = name;
	r->match.params[r->match.nparams].value = value;
	r->match.nparams++;
}

static void req_principal(vbx_request *r, const char *user, unsigned flags)
{
	snprintf(r->principal.user_id, sizeof(r->principal.user_id), "%s",
	         user);
	r->principal.flags = flags;
	r->principal.scopes = VBX_SCOPE_READ | VBX_SCOPE_WRITE;
	r->has_principal = true;
}

/* The answer as JSON (the caller deletes it); fails without one. */
static cJSON *answer(const vbx_request *r)
{
	assert_non_null(r->resp);
	cJSON *o = cJSON_ParseWithLength(r->resp, r->resp_len);
	if (!o)
		fail_msg("answer is not JSON: %.*s", (int)r->resp_len, r->resp);
	return o;
}

/* Check an error answer: status, code, and a piece of the message. */
static void assert_error(const vbx_request *r, int status, const char *code,
                         const char *in_message)
{
	assert_int_equal(r->status, status);
	cJSON *o = answer(r);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	const char *c = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(e, "code"));
	const char *m = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(e, "message"));
	assert_non_null(c);
	assert_non_null(m);
	assert_string_equal(c, code);
	if (in_message && !strstr(m, in_message))
		fail_msg("message \"%s\" lacks \"%s\"", m, in_message);
	cJSON_Delete(o);
}

/* The message a VALIDATION_ERROR answer gives field, or fails. */
static char *field_msg(const vbx_request *r, const char *field)
{
	static char buf[256];
	assert_int_equal(r->status, 400);
	cJSON *o = answer(r);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fields");
	const char *m = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(f, field));
	if (!m)
		fail_msg("no field error for %s in %.*s", field,
		         (int)r->resp_len, r->resp);
	snprintf(buf, sizeof(buf), "%s", m);
	cJSON_Delete(o);
	return buf;
}

/* The message recorded (not yet answered) for field, or NULL. */
static const char *recorded(const vbx_request *r, const char *field)
{
	return cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(r->fields.obj, field));
}

/* ---- paging ---- */

static void page_parse_defaults_and_bounds(void **state)
{
	vbx_request *r = req_new();
	vbx_page p = {0, 0};
	assert_int_equal(vbx__api_page_parse(r, NULL, NULL, &p), VBX_OK);
	assert_int_equal(p.page, 1);
	assert_int_equal(p.limit, 20);
	assert_int_equal(vbx__api_page_parse(r, "1000000", "100", &p), VBX_OK);
	assert_int_equal(p.page, 1000000);
	assert_int_equal(p.limit, 100);
	assert_int_equal(vbx__api_page_parse(r, "007", "1", &p), VBX_OK);
	assert_int_equal(p.page, 7);
	assert_int_equal(p.limit, 1);
	assert_false(vbx__fields_failed(&r->fields));
	vbx__request_free(r);
}

static void page_parse_refuses_bad_values(void **state)
{
	static const char *const bad_page[] = {
	        "0",
	        "-1",
	        "+1",
	        " 1",
	        "1 ",
	        "1a",
	        "",
	        "1.5",
	        "0x10",
	        "1000001",
	        "99999999999999999999999999",
	        "/",
	};
	static const char *const bad_limit[] = {"0", "101", "-5",
	                                        "",  "abc", "1e2"};
	for (size_t i = 0; i < sizeof(bad_page) / sizeof(*bad_page); i++) {
		vbx_request *r = req_new();
		vbx_page p = {-7, -7};
		assert_int_equal(vbx__api_page_parse(r, bad_page[i], NULL, &p),
		                 VBX_EINVAL);
		assert_int_equal(p.page, -7); /* untouched */
		const char *m =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		                r->fields.obj, "page"));
		assert_non_null(m);
		assert_string_equal(m,
		                    "must be an integer between 1 and 1000000");
		assert_null(cJSON_GetObjectItemCaseSensitive(r->fields.obj,
		                                             "limit"));
		vbx__request_free(r);
	}
	for (size_t i = 0; i < sizeof(bad_limit) / sizeof(*bad_limit); i++) {
		vbx_request *r = req_new();
		vbx_page p;
		assert_int_equal(vbx__api_page_parse(r, "2", bad_limit[i], &p),
		                 VBX_EINVAL);
		const char *m =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		                r->fields.obj, "limit"));
		assert_non_null(m);
		assert_string_equal(m, "must be an integer between 1 and 100");
		vbx__request_free(r);
	}
}

static void page_answers_validation_error(void **state)
{
	vbx_request *r = req_new();
	req_query(r, "page", "0");
	req_query(r, "limit", "500");
	vbx_page p;
	assert_int_equal(vbx__api_page(r, &p), VBX_EINVAL);
	assert_error(r, 400, "VALIDATION_ERROR", NULL);
	assert_string_equal(field_msg(r, "page"),
	                    "must be an integer between 1 and 1000000");
	assert_string_equal(field_msg(r, "limit"),
	                    "must be an integer between 1 and 100");
	vbx__request_free(r);

	r = req_new();
	req_query(r, "limit", "5");
	assert_int_equal(vbx__api_page(r, &p), VBX_OK);
	assert_int_equal(r->status, 0); /* nothing answered */
	assert_int_equal(p.page, 1);
	assert_int_equal(p.limit, 5);
	vbx__request_free(r);
}

static void list_body_shape(void **state)
{
	vbx_page p = {3, 10};
	cJSON *data = cJSON_CreateArray();
	cJSON_AddItemToArray(data, cJSON_CreateNumber(1));
	cJSON *b = vbx__api_list_body(data, &p, 21);
	assert_non_null(b);
	char *text = cJSON_PrintUnformatted(b);
	assert_string_equal(text, "{\"data\":[1],\"pagination\":{\"page\":3,"
	                          "\"limit\":10,\"total\":21}}");
	free(text);
	cJSON_Delete(b);
	assert_null(vbx__api_list_body(NULL, &p, 0));
}

/* ---- times ---- */

static void time_formats(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
	        {0, "1970-01-01T00:00:00.000Z"},
	        {1, "1970-01-01T00:00:00.001Z"},
	        {1764240000123LL, "2025-11-27T10:40:00.123Z"},
	        {951782400000LL, "2000-02-29T00:00:00.000Z"},
	        {-1, "1969-12-31T23:59:59.999Z"},
	        {-1000, "1969-12-31T23:59:59.000Z"},
	        {-1001, "1969-12-31T23:59:58.999Z"},
	        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
	        {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char buf[VBX__API_TIME_LEN];
		assert_int_equal(vbx__api_time(cases[i].ms, buf, sizeof(buf)),
		                 VBX_OK);
		assert_string_equal(buf, cases[i].text);
	}
}

/* Every third day of years 0..9999, at a time of day that moves, against
 * the C library's gmtime_r (every day takes long under valgrind). */
static void time_agrees_with_gmtime(void **state)
{
	const int64_t first = -62167219200LL, last = 253402300799LL;
	char buf[VBX__API_TIME_LEN], want[64];
	int64_t n = 0;
	for (int64_t s = first; s <= last; s += 3 * 86400 + 3611, n++) {
		time_t t = (time_t)s;
		struct tm tm;
		assert_non_null(gmtime_r(&t, &tm));
		int64_t ms = s * 1000 + n % 1000;
		snprintf(want, sizeof(want),
		         "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(n % 1000));
		assert_int_equal(vbx__api_time(ms, buf, sizeof(buf)), VBX_OK);
		if (strcmp(buf, want) != 0)
			fail_msg("%lld ms: %s, not %s", (long long)ms, buf,
			         want);
	}
	assert_true(n > 1200000);
}

static void time_refuses_what_it_cannot_write(void **state)
{
	static const int64_t bad[] = {253402300800000LL, -62167219200001LL,
	                              INT64_MAX, INT64_MIN};
	char buf[VBX__API_TIME_LEN];
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(vbx__api_time(bad[i], buf, sizeof(buf)),
		                 VBX_EINVAL);
		assert_string_equal(buf, "");
	}
	assert_int_equal(vbx__api_time(0, buf, VBX__API_TIME_LEN - 1),
	                 VBX_EINVAL);
	assert_int_equal(vbx__api_time(0, NULL, 0), VBX_EINVAL);

	cJSON *o = cJSON_CreateObject();
	vbx__api_add_time(o, "at", INT64_MAX);
	vbx__api_add_time(o, "zero", 0);
	vbx__api_add_id(o, "none", "");
	vbx__api_add_id(o, "some", "x");
	char *text = cJSON_PrintUnformatted(o);
	assert_string_equal(text, "{\"at\":null,\"zero\":"
	                          "\"1970-01-01T00:00:00.000Z\",\"none\":null,"
	                          "\"some\":\"x\"}");
	free(text);
	cJSON_Delete(o);
}

/* ---- slugs and ids ---- */

static void slug_from_names(void **state)
{
	static const struct {
		const char *name, *slug;
	} cases[] = {
	        {"My Team", "my-team"},
	        {"  --Hello,  World!!  ", "hello-world"},
	        {"UPPER123", "upper123"},
	        {"Caf\xc3\xa9 Bar", "caf-bar"},
	        {"a_b.c", "a-b-c"},
	        {"x", "x"},
	        {"9 lives", "9-lives"},
	        {"\xc3\x84\xc3\x96\xc3\x9c", ""},
	        {"!!!", ""},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char out[VBX__API_SLUG_MAX + 1];
		size_t n = vbx__api_slug_from(cases[i].name, out, sizeof(out));
		assert_string_equal(out, cases[i].slug);
		assert_int_equal(n, strlen(cases[i].slug));
	}
}

static void slug_from_cuts_without_a_trailing_dash(void **state)
{
	char name[200], out[VBX__API_SLUG_MAX + 1];
	memset(name, 'a', 100);
	name[100] = '\0';
	assert_int_equal(vbx__api_slug_from(name, out, sizeof(out)), 63);
	assert_int_equal(strspn(out, "a"), 63);

	/* 62 letters, then " b": "-b" does not fit, and no '-' is left. */
	memset(name, 'a', 62);
	strcpy(name + 62, " b");
	assert_int_equal(vbx__api_slug_from(name, out, sizeof(out)), 62);
	assert_true(vbx__api_slug_ok(out));

	/* 61 letters, then " b": fits exactly. */
	memset(name, 'a', 61);
	strcpy(name + 61, " b");
	assert_int_equal(vbx__api_slug_from(name, out, sizeof(out)), 63);
	assert_string_equal(out + 61, "-b");

	char small[4];
	assert_int_equal(vbx__api_slug_from("ab cd", small, sizeof(small)), 2);
	assert_string_equal(small, "ab");
	assert_int_equal(vbx__api_slug_from("ab", small, 0), 0);
}

/* Whatever the name, a non-empty result is a valid slug. */
static void slug_from_always_gives_valid_slugs(void **state)
{
	unsigned seed = 12345;
	for (int round = 0; round < 20000; round++) {
		char name[160], out[VBX__API_SLUG_MAX + 1];
		size_t len = (size_t)(seed % 150);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* mostly slug characters, separators and high bytes */
			static const char pool[] = "ab-Z09 _.\x80\xff/";
			name[i] = pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		name[len] = '\0';
		seed = seed * 1103515245u + 12345u;
		size_t n = vbx__api_slug_from(name, out, sizeof(out));
		assert_int_equal(n, strlen(out));
		if (n && !vbx__api_slug_ok(out))
			fail_msg("\"%s\" gave invalid slug \"%s\"", name, out);
	}
}

static void slug_ok_checks_the_pattern(void **state)
{
	static const char *const good[] = {"a",    "0",       "a-b",
	                                   "a--b", "team-42", "9"};
	static const char *const bad[] = {"",    "-a", "a-",       "A",  "a_b",
	                                  "a b", "-",  "\xc3\xa9", "a.b"};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(vbx__api_slug_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (vbx__api_slug_ok(bad[i]))
			fail_msg("\"%s\" passed as a slug", bad[i]);
	char s[70];
	memset(s, 'a', 63);
	s[63] = '\0';
	assert_true(vbx__api_slug_ok(s));
	s[63] = 'a';
	s[64] = '\0';
	assert_false(vbx__api_slug_ok(s));
}

static void uuid_ok_checks_the_form(void **state)
{
	assert_true(vbx__api_uuid_ok("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"));
	assert_true(vbx__api_uuid_ok("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"));
	static const char *const bad[] = {
	        "",
	        "0a1b2c3d",
	        "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f",
	        "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f90",
	        "0a1b2c3d04e5f-6071-8293-a4b5c6d7e8f9",
	        "0a1b2c3g-4e5f-6071-8293-a4b5c6d7e8f9",
	        "0a1b2c3-d4e5f-6071-8293-a4b5c6d7e8f9",
	        "../../etc/passwd-aaaa-bbbb-ccccccccc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (vbx__api_uuid_ok(bad[i]))
			fail_msg("\"%s\" passed as a UUID", bad[i]);
}

static void path_id_answers_404_for_non_uuids(void **state)
{
	vbx_request *r = req_new();
	req_param(r, "id", "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
	assert_string_equal(vbx__api_path_id(r, "id", "team"),
	                    "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
	assert_int_equal(r->status, 0);
	vbx__request_free(r);

	char long_id[300];
	memset(long_id, 'z', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	r = req_new();
	req_param(r, "id", long_id);
	assert_null(vbx__api_path_id(r, "id", "project"));
	assert_error(r, 404, "NOT_FOUND", "project zzzz");
	assert_true(r->resp_len < 200); /* the id is cut short */
	vbx__request_free(r);
}

/* ---- fields ---- */

static cJSON *parse(const char *text)
{
	cJSON *o = cJSON_Parse(text);
	assert_non_null(o);
	return o;
}

static void name_field_rules(void **state)
{
	static const struct {
		const char *body, *msg; /* msg NULL: accepted */
	} cases[] = {
	        {"{\"name\":\"Acme\"}", NULL},
	        {"{}", "is required"},
	        {"{\"name\":null}", "is required"},
	        {"{\"name\":5}", "must be a string"},
	        {"{\"name\":\"\"}", "must be 1..127 characters"},
	        {"{\"name\":\"   \"}", "must not be blank"},
	        {"{\"name\":\"a\\nb\"}", "must not contain control characters"},
	        {"{\"name\":\"a\\u007fb\"}",
	         "must not contain control characters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vbx_request *r = req_new();
		cJSON *b = parse(cases[i].body);
		const char *name = "unset";
		int rc = vbx__api_name_field(r, b, VBX_REQUIRED, &name);
		if (!cases[i].msg) {
			assert_int_equal(rc, VBX_OK);
			assert_string_equal(name, "Acme");
		} else {
			assert_int_equal(rc, VBX_EINVAL);
			assert_null(name);
			assert_non_null(recorded(r, "name"));
			assert_string_equal(recorded(r, "name"), cases[i].msg);
		}
		cJSON_Delete(b);
		vbx__request_free(r);
	}
}

static void name_field_length_in_bytes_and_characters(void **state)
{
	char text[1024], name[600];
	/* 127 ASCII characters: fine; 128: too many characters. */
	memset(name, 'n', 127);
	name[127] = '\0';
	snprintf(text, sizeof(text), "{\"name\":\"%s\"}", name);
	vbx_request *r = req_new();
	cJSON *b = parse(text);
	const char *out;
	assert_int_equal(vbx__api_name_field(r, b, VBX_REQUIRED, &out), VBX_OK);
	cJSON_Delete(b);
	vbx__request_free(r);

	/* 100 two-byte characters: few enough characters, too many bytes
	 * for the store's record. */
	for (int i = 0; i < 100; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[200] = '\0';
	snprintf(text, sizeof(text), "{\"name\":\"%s\"}", name);
	r = req_new();
	b = parse(text);
	assert_int_equal(vbx__api_name_field(r, b, VBX_REQUIRED, &out),
	                 VBX_EINVAL);
	assert_string_equal(recorded(r, "name"),
	                    "must be at most 127 bytes of UTF-8");
	cJSON_Delete(b);
	vbx__request_free(r);

	r = req_new();
	b = parse("{}");
	assert_int_equal(vbx__api_name_field(r, b, VBX_OPTIONAL, &out),
	                 VBX_ENOTFOUND);
	assert_null(out);
	assert_false(vbx_fields_failed(r));
	cJSON_Delete(b);
	vbx__request_free(r);
}

static void slug_field_given_generated_or_refused(void **state)
{
	char slug[VBX__API_SLUG_MAX + 1];
	vbx_request *r = req_new();
	cJSON *b = parse("{\"slug\":\"given-1\"}");
	assert_int_equal(vbx__api_slug_field(r, b, "Other Name", slug), VBX_OK);
	assert_string_equal(slug, "given-1");
	cJSON_Delete(b);

	b = parse("{}");
	assert_int_equal(vbx__api_slug_field(r, b, "Big Project!", slug),
	                 VBX_OK);
	assert_string_equal(slug, "big-project");
	assert_int_equal(vbx__api_slug_field(r, b, NULL, slug), VBX_ENOTFOUND);
	assert_string_equal(slug, "");
	assert_false(vbx_fields_failed(r));
	cJSON_Delete(b);
	vbx__request_free(r);

	static const struct {
		const char *body, *name, *msg;
	} bad[] = {
	        {"{\"slug\":\"Bad Slug\"}", "x",
	         "must be lower-case letters, digits and '-', starting and "
	         "ending with a letter or digit"},
	        {"{\"slug\":\"-a\"}", "x", NULL},
	        {"{\"slug\":\"\"}", "x", "must be 1..63 characters"},
	        {"{\"slug\":7}", "x", "must be a string"},
	        {"{}", "\xe6\x97\xa5\xe6\x9c\xac",
	         "cannot be made from the name (it has no ASCII letter or "
	         "digit); give a slug"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		r = req_new();
		b = parse(bad[i].body);
		assert_int_equal(vbx__api_slug_field(r, b, bad[i].name, slug),
		                 VBX_EINVAL);
		assert_string_equal(slug, "");
		assert_non_null(recorded(r, "slug"));
		if (bad[i].msg)
			assert_string_equal(recorded(r, "slug"), bad[i].msg);
		cJSON_Delete(b);
		vbx__request_free(r);
	}

	/* 64 characters: too long. */
	char text[128];
	snprintf(text, sizeof(text), "{\"slug\":\"%064d\"}", 0);
	r = req_new();
	b = parse(text);
	assert_int_equal(vbx__api_slug_field(r, b, "x", slug), VBX_EINVAL);
	assert_string_equal(recorded(r, "slug"), "must be 1..63 characters");
	cJSON_Delete(b);
	vbx__request_free(r);
}

static void known_fields_flags_the_rest(void **state)
{
	static const char *const known[] = {"name", "slug", NULL};
	vbx_request *r = req_new();
	cJSON *b = parse("{\"name\":1,\"slug\":2,\"nmae\":3,\"id\":4}");
	vbx__api_known_fields(r, b, known);
	assert_string_equal(recorded(r, "nmae"), "is not a known field");
	assert_string_equal(recorded(r, "id"), "is not a known field");
	assert_null(recorded(r, "name"));
	assert_null(recorded(r, "slug"));
	cJSON_Delete(b);
	vbx__request_free(r);
}

/* ---- store results ---- */

static void store_fail_maps_each_result(void **state)
{
	struct vbx_hook none = {.count = 0}, one = {.count = 1};
	static const struct {
		int rc, status;
		const char *code, *what, *field, *msg;
	} cases[] = {
	        {VBX_ENOTFOUND, 404, "NOT_FOUND", "team 42", NULL,
	         "team 42 not found"},
	        {VBX_EEXIST, 409, "CONFLICT", "a team", "slug",
	         "a team with this slug exists already; choose another slug"},
	        {VBX_EEXIST, 409, "CONFLICT", "the thing", NULL,
	         "the thing exists already"},
	        {VBX_EINVAL, 400, "BAD_REQUEST", "team 42", NULL,
	         "the store refused a value of team 42"},
	        {VBX_ERR, 500, "INTERNAL_ERROR", "team 42", NULL,
	         "see the daemon's log"},
	        {VBX_ENOMEM, 500, "INTERNAL_ERROR", "team 42", NULL,
	         "the store failed on team 42"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vbx_request *r = req_new();
		int rc = vbx__api_store_fail(r, &one, cases[i].rc,
		                             cases[i].what, cases[i].field);
		assert_int_equal(rc, cases[i].rc);
		assert_error(r, cases[i].status, cases[i].code, cases[i].msg);
		vbx__request_free(r);
	}

	vbx_request *r = req_new();
	assert_int_equal(vbx__api_store_fail(r, &none, VBX_EUNAVAIL, "x", NULL),
	                 VBX_EUNAVAIL);
	assert_error(r, 503, "UNAVAILABLE",
	             "no plugin provides the \"store\" capability");
	vbx__request_free(r);

	r = req_new();
	assert_int_equal(vbx__api_store_fail(r, &one, VBX_EUNAVAIL, "x", NULL),
	                 VBX_EUNAVAIL);
	assert_error(r, 503, "UNAVAILABLE", "the store is unavailable");
	vbx__request_free(r);
}

/* ---- the authorize wrapper ---- */

/* The fake decides by action: each a result, default deny. */
static struct {
	int read, update, other;
	int calls;
	char last_type[32];
	bool last_id_null;
} authz;

static int fake_authorize(void *ud, const vbx_principal *who,
                          const char *action, const vbx_resource *res)
{
	authz.calls++;
	assert_non_null(who);
	snprintf(authz.last_type, sizeof(authz.last_type), "%s", res->type);
	authz.last_id_null = res->id == NULL;
	if (strcmp(action, "read") == 0)
		return authz.read;
	if (strcmp(action, "update") == 0)
		return authz.update;
	return authz.other;
}

static struct vbx_hook_entry authz_entry = {(vbx_fn)fake_authorize, NULL};
static struct vbx_hook authz_hook = {NULL, &authz_entry, 1};
static struct vbx_hook authz_none = {NULL, NULL, 0};

static int authz_setup(void **state)
{
	memset(&authz, 0, sizeof(authz));
	authz.read = authz.update = authz.other = VBX_EDENIED;
	vbx__cat.authorize = vbx__api.authorize = &authz_hook;
	return 0;
}

static int authz_teardown(void **state)
{
	vbx__cat.authorize = vbx__api.authorize = NULL;
	return 0;
}

#define TEAM "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"

/* Run the wrapper for a member on TEAM. */
static vbx_request *authorize(const char *action, const char *id, int *rc)
{
	vbx_request *r = req_new();
	req_principal(r, "u1", 0);
	*rc = vbx__api_authorize(r, action, "team", id);
	return r;
}

static void authorize_allows(void **state)
{
	authz.update = VBX_OK;
	int rc;
	vbx_request *r = authorize("update", TEAM, &rc);
	assert_int_equal(rc, VBX_OK);
	assert_int_equal(r->status, 0);
	assert_int_equal(authz.calls, 1);
	vbx__request_free(r);
}

static void authorize_denied_but_visible_is_403(void **state)
{
	authz.read = VBX_OK;
	int rc;
	vbx_request *r = authorize("update", TEAM, &rc);
	assert_int_equal(rc, VBX_EDENIED);
	assert_error(r, 403, "FORBIDDEN", "you may not update team " TEAM);
	assert_int_equal(authz.calls, 2);
	vbx__request_free(r);
}

static void authorize_denied_and_invisible_is_404(void **state)
{
	int rc;
	vbx_request *r = authorize("delete", TEAM, &rc);
	assert_int_equal(rc, VBX_ENOTFOUND);
	assert_error(r, 404, "NOT_FOUND", "team " TEAM " not found");
	vbx__request_free(r);

	/* A declining handler chain denies too. */
	authz.read = VBX_DECLINED;
	r = authorize("read", TEAM, &rc);
	assert_int_equal(rc, VBX_ENOTFOUND);
	assert_error(r, 404, "NOT_FOUND", NULL);
	assert_int_equal(authz.calls, 3); /* no second probe for "read" */
	vbx__request_free(r);
}

static void authorize_collection_denied_is_403(void **state)
{
	vbx_request *r = req_new();
	req_principal(r, "u1", 0);
	int rc = vbx__api_authorize(r, "team.create", "instance", NULL);
	assert_int_equal(rc, VBX_EDENIED);
	assert_error(r, 403, "FORBIDDEN", "you may not team.create");
	assert_int_equal(authz.calls, 1);
	assert_string_equal(authz.last_type, "instance");
	assert_true(authz.last_id_null);
	vbx__request_free(r);
}

static void authorize_failures(void **state)
{
	int rc;
	authz.update = VBX_EUNAVAIL;
	vbx_request *r = authorize("update", TEAM, &rc);
	assert_int_equal(rc, VBX_EUNAVAIL);
	assert_error(r, 503, "UNAVAILABLE", "authorization is unavailable");
	vbx__request_free(r);

	authz.update = VBX_ERR;
	r = authorize("update", TEAM, &rc);
	assert_int_equal(rc, VBX_ERR);
	assert_error(r, 500, "INTERNAL_ERROR", NULL);
	vbx__request_free(r);

	/* The "read" probe after a deny can fail too. */
	authz.update = VBX_EDENIED;
	authz.read = VBX_EUNAVAIL;
	r = authorize("update", TEAM, &rc);
	assert_int_equal(rc, VBX_EUNAVAIL);
	assert_error(r, 503, "UNAVAILABLE", NULL);
	vbx__request_free(r);

	vbx__cat.authorize = vbx__api.authorize = &authz_none;
	r = authorize("read", TEAM, &rc);
	assert_int_equal(rc, VBX_EUNAVAIL);
	assert_error(r, 503, "UNAVAILABLE",
	             "no plugin provides the \"authz\" capability");
	vbx__request_free(r);
}

static void principal_helpers(void **state)
{
	vbx_request *r = req_new();
	assert_string_equal(vbx__api_user_id(r), "");
	assert_false(vbx__api_is_admin(r));
	req_principal(r, "u9", VBX_PRINCIPAL_ADMIN);
	assert_string_equal(vbx__api_user_id(r), "u9");
	assert_true(vbx__api_is_admin(r));
	vbx__request_free(r);
}

static void respond_helpers(void **state)
{
	vbx_request *r = req_new();
	assert_int_equal(vbx__api_respond(r, 201, NULL), VBX_ENOMEM);
	assert_int_equal(r->status, 0);
	assert_int_equal(vbx__api_no_content(r), VBX_OK);
	assert_int_equal(r->status, 204);
	assert_int_equal(r->resp_len, 0);
	vbx__request_free(r);
}

int main(void)
{
	vbx__platform = vbx__core_plugin(); /* logs and asks as the core */
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(page_parse_defaults_and_bounds),
	        cmocka_unit_test(page_parse_refuses_bad_values),
	        cmocka_unit_test(page_answers_validation_error),
	        cmocka_unit_test(list_body_shape),
	        cmocka_unit_test(time_formats),
	        cmocka_unit_test(time_agrees_with_gmtime),
	        cmocka_unit_test(time_refuses_what_it_cannot_write),
	        cmocka_unit_test(slug_from_names),
	        cmocka_unit_test(slug_from_cuts_without_a_trailing_dash),
	        cmocka_unit_test(slug_from_always_gives_valid_slugs),
	        cmocka_unit_test(slug_ok_checks_the_pattern),
	        cmocka_unit_test(uuid_ok_checks_the_form),
	        cmocka_unit_test(path_id_answers_404_for_non_uuids),
	        cmocka_unit_test(name_field_rules),
	        cmocka_unit_test(name_field_length_in_bytes_and_characters),
	        cmocka_unit_test(slug_field_given_generated_or_refused),
	        cmocka_unit_test(known_fields_flags_the_rest),
	        cmocka_unit_test(store_fail_maps_each_result),
	        cmocka_unit_test_setup_teardown(authorize_allows, authz_setup,
	                                        authz_teardown),
	        cmocka_unit_test_setup_teardown(
	                authorize_denied_but_visible_is_403, authz_setup,
	                authz_teardown),
	        cmocka_unit_test_setup_teardown(
	                authorize_denied_and_invisible_is_404, authz_setup,
	                authz_teardown),
	        cmocka_unit_test_setup_teardown(
	                authorize_collection_denied_is_403, authz_setup,
	                authz_teardown),
	        cmocka_unit_test_setup_teardown(authorize_failures, authz_setup,
	                                        authz_teardown),
	        cmocka_unit_test(principal_helpers),
	        cmocka_unit_test(respond_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
