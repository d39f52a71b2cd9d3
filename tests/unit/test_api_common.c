/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api_common.c - the helpers of the platform endpoints
 * (plugins/platform/common.c, compiled in): slugs, names, path ids, null
 * times and ids, the store answer about one resource and the authorize
 * wrapper's 403/404 choice. Paging, the list envelope, the store answers
 * themselves, times and UUIDs are the SDK's, tested in test_httputil.c and
 * test_util.c. Requests are the core's own, without a server; the
 * authorize hook is a hand-made hook head with one fake handler.
 */
#include "vbx_build.h"

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

/* The message recorded (not yet answered) for field, or NULL. */
static const char *recorded(const vbx_request *r, const char *field)
{
	return cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(r->fields.obj, field));
}

/* ---- times ---- */

/* The times themselves are the SDK's vbx_time_format() (test_util.c); a
 * time it cannot write is null here, as is an absent id. */
static void add_time_and_add_id(void **state)
{
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

/* ---- store results ---- */

/* The mapping itself is the host's vbx_resp_store_error()
 * (test_httputil.c); the wrapper names the resource "<type> <id>". */
static void store_fail_id_names_the_resource(void **state)
{
	struct vbx_hook one = {.count = 1};
	vbx_request *r = req_new();
	assert_int_equal(vbx__api_store_fail_id(r, &one, VBX_ENOTFOUND, "team",
	                                        "42", NULL),
	                 VBX_ENOTFOUND);
	assert_error(r, 404, "NOT_FOUND", "team 42 not found");
	vbx__request_free(r);

	r = req_new();
	assert_int_equal(vbx__api_store_fail_id(r, &one, VBX_EEXIST, "team",
	                                        "42", "slug"),
	                 VBX_EEXIST);
	assert_error(r, 409, "CONFLICT",
	             "team 42 with this slug exists already; choose another "
	             "slug");
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
	        cmocka_unit_test(add_time_and_add_id),
	        cmocka_unit_test(slug_from_names),
	        cmocka_unit_test(slug_from_cuts_without_a_trailing_dash),
	        cmocka_unit_test(slug_from_always_gives_valid_slugs),
	        cmocka_unit_test(slug_ok_checks_the_pattern),
	        cmocka_unit_test(path_id_answers_404_for_non_uuids),
	        cmocka_unit_test(name_field_rules),
	        cmocka_unit_test(name_field_length_in_bytes_and_characters),
	        cmocka_unit_test(slug_field_given_generated_or_refused),
	        cmocka_unit_test(store_fail_id_names_the_resource),
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
