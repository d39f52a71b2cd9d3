/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_httputil.c - the request helpers of the host table (ABI 1.1):
 * vbx_req_page(), vbx_page_body() and vbx_resp_store_error(), called by a
 * plugin's routes inside the fake host (libvibebox-test), as a third
 * party's unit test would, and the inline vbx_json_known_fields(). The
 * answers are exactly those the platform's endpoints gave with their own
 * copies of these helpers, which the platform now uses instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/testing.h>

/* ---- the plugin under test ---- */

/* Hook heads as the registry publishes them: one with a handler, one
 * without (no store loaded). */
static const struct vbx_hook one_handler = {.count = 1};
static const struct vbx_hook no_handler = {.count = 0};

/* GET /api/v1/x/lister/items: `limit` rows numbered from the page's first,
 * of 21; with ?nodata, no rows array at all (as when it could not be
 * made). */
static int h_items(void *ud, vbx_request *req)
{
	vbx_page pg;
	if (vbx_req_page(req, &pg) != VBX_OK)
		return VBX_OK;
	cJSON *data = vbx_req_query(req, "nodata") ? NULL : cJSON_CreateArray();
	for (int i = 0; data && i < pg.limit && i < 3; i++)
		cJSON_AddItemToArray(
		        data, cJSON_CreateNumber((pg.page - 1) * pg.limit + i));
	cJSON *body = vbx_page_body(req, data, &pg, 21);
	if (!body)
		return vbx_resp_error(req, 500, "INTERNAL_ERROR", "no memory");
	return vbx_resp_json(req, 200, body);
}

/* What the last vbx_resp_store_error() returned (requests are sent from
 * the test's thread, one at a time). */
static int last_rc;

/* GET /api/v1/x/lister/fail/{rc}?what=&field=&store=none: answer store result
 * rc and keep what vbx_resp_store_error() returned in last_rc. */
static int h_fail(void *ud, vbx_request *req)
{
	int rc = atoi(vbx_req_param(req, "rc"));
	const char *what = vbx_req_query(req, "what");
	const char *store = vbx_req_query(req, "store");
	const vbx_hook *h = !store                       ? &one_handler
	                    : strcmp(store, "none") == 0 ? &no_handler
	                                                 : NULL;
	last_rc = vbx_resp_store_error(req, h, rc, what ? what : "team 42",
	                               vbx_req_query(req, "field"));
	return VBX_OK;
}

/* POST /api/v1/x/lister/things: a body of "name" and "slug" only. */
static int h_things(void *ud, vbx_request *req)
{
	static const char *const known[] = {"name", "slug", NULL};
	cJSON *body;
	if (vbx_req_json(req, &body) != VBX_OK)
		return VBX_OK;
	vbx_json_known_fields(req, body, known);
	if (vbx_fields_failed(req))
		return vbx_resp_validation(req);
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

static int lister_init(vbx_plugin *self, const vbx_config *cfg)
{
	if (vbx_route_add(self, "GET", "/api/v1/x/lister/items",
	                  VBX_ROUTE_PUBLIC, h_items, NULL) ||
	    vbx_route_add(self, "GET", "/api/v1/x/lister/fail/{rc}",
	                  VBX_ROUTE_PUBLIC, h_fail, NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/lister/things",
	                  VBX_ROUTE_PUBLIC, h_things, NULL))
		return VBX_ERR;
	return VBX_OK;
}

static void lister_fini(vbx_plugin *self)
{
}

static const vbx_plugin_desc lister = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "lister",
        .init = lister_init,
        .fini = lister_fini,
};

/* ---- fixture ---- */

static vbx_test_host *host;

static int setup(void **state)
{
	host = vbx_test_host_new();
	assert_non_null(host);
	if (vbx_test_load(host, &lister, NULL) || vbx_test_start(host))
		fail_msg("%s", vbx_test_errors(host));
	return 0;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static vbx_test_response *get(const char *path)
{
	vbx_test_response *r = vbx_test_request(host, "GET", path, NULL, NULL);
	assert_non_null(r);
	return r;
}

/* The error envelope's member key ("code", "message", "fields"). */
static const cJSON *error_member(const vbx_test_response *r, const char *key)
{
	const cJSON *e =
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "error");
	return cJSON_GetObjectItemCaseSensitive(e, key);
}

/* The string member key of o, or NULL. */
static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Does a field error read want (NULL: is there none)? */
static bool field_is(const cJSON *fields, const char *field, const char *want)
{
	const char *got = str_of(fields, field);
	return want ? got && strcmp(got, want) == 0 : got == NULL;
}

/* GET path answers 400 VALIDATION_ERROR with exactly these field
 * errors (NULL: that field has none). */
static void expect_fields(const char *path, const char *page, const char *limit)
{
	vbx_test_response *r = get(path);
	const cJSON *f = error_member(r, "fields");
	const char *code = cJSON_GetStringValue(error_member(r, "code"));
	if (vbx_test_status(r) != 400 || !code ||
	    strcmp(code, "VALIDATION_ERROR") != 0 ||
	    !field_is(f, "page", page) || !field_is(f, "limit", limit))
		fail_msg("GET %s: %d %s", path, vbx_test_status(r),
		         vbx_test_body(r));
	vbx_test_response_free(r);
}

#define PAGE_MSG "must be an integer between 1 and 1000000"
#define LIMIT_MSG "must be an integer between 1 and 100"

/* ---- paging ---- */

/* GET path answers 200 with exactly body. */
static void expect_body(const char *path, const char *body)
{
	vbx_test_response *r = get(path);
	assert_int_equal(vbx_test_status(r), 200);
	assert_string_equal(vbx_test_body(r), body);
	vbx_test_response_free(r);
}

static void page_defaults_and_envelope(void **state)
{
	expect_body("/api/v1/x/lister/items",
	            "{\"data\":[0,1,2],\"pagination\":{"
	            "\"page\":1,\"limit\":20,\"total\":21}}");
	expect_body("/api/v1/x/lister/items?page=3&limit=10",
	            "{\"data\":[20,21,22],\"pagination\":{\"page\":3,"
	            "\"limit\":10,\"total\":21}}");
	expect_body("/api/v1/x/lister/items?page=007&limit=1",
	            "{\"data\":[6],\"pagination\":{\"page\":7,\"limit\":1,"
	            "\"total\":21}}");
	expect_body("/api/v1/x/lister/items?page=1000000&limit=100",
	            "{\"data\":[99999900,99999901,99999902],\"pagination\":{"
	            "\"page\":1000000,\"limit\":100,\"total\":21}}");
	/* No rows array: NULL, and the handler answers 500 itself. */
	vbx_test_response *r = get("/api/v1/x/lister/items?nodata=1");
	assert_int_equal(vbx_test_status(r), 500);
	vbx_test_response_free(r);
}

static void page_refuses_bad_values(void **state)
{
	/* The query as a client sends it: " 1" percent-encoded. */
	static const char *const bad_page[] = {
	        "0",   "-1",  "%2B1", "%201",    "1%20",
	        "1a",  "1.5", "0x10", "1000001", "99999999999999999999999999",
	        "%2F",
	};
	static const char *const bad_limit[] = {"0", "101", "-5", "abc", "1e2"};
	char path[128];
	for (size_t i = 0; i < sizeof(bad_page) / sizeof(*bad_page); i++) {
		snprintf(path, sizeof(path), "/api/v1/x/lister/items?page=%s",
		         bad_page[i]);
		expect_fields(path, PAGE_MSG, NULL);
	}
	for (size_t i = 0; i < sizeof(bad_limit) / sizeof(*bad_limit); i++) {
		snprintf(path, sizeof(path),
		         "/api/v1/x/lister/items?page=2&limit=%s",
		         bad_limit[i]);
		expect_fields(path, NULL, LIMIT_MSG);
	}
	expect_fields("/api/v1/x/lister/items?page=0&limit=500", PAGE_MSG,
	              LIMIT_MSG);
	/* Empty values are no numbers. */
	expect_fields("/api/v1/x/lister/items?page=&limit=5", PAGE_MSG, NULL);
	expect_fields("/api/v1/x/lister/items?limit=&page=2", NULL, LIMIT_MSG);
}

/* ---- store results ---- */

/* GET path: the status, code, exact message and returned rc. */
static void expect_store(const char *path, int status, const char *code,
                         const char *message, int rc)
{
	vbx_test_response *r = get(path);
	assert_int_equal(vbx_test_status(r), status);
	assert_string_equal(cJSON_GetStringValue(error_member(r, "code")),
	                    code);
	assert_string_equal(cJSON_GetStringValue(error_member(r, "message")),
	                    message);
	assert_int_equal(cJSON_GetNumberValue(error_member(r, "statusCode")),
	                 status);
	assert_int_equal(last_rc, rc);
	vbx_test_response_free(r);
}

static void store_error_maps_each_result(void **state)
{
	char path[160];
#define FAIL(rc, rest)                                                         \
	(snprintf(path, sizeof(path), "/api/v1/x/lister/fail/%d%s", (rc),      \
	          (rest)),                                                     \
	 path)
	expect_store(FAIL(VBX_ENOTFOUND, ""), 404, "NOT_FOUND",
	             "team 42 not found", VBX_ENOTFOUND);
	expect_store(FAIL(VBX_EEXIST, "?what=a+team&field=slug"), 409,
	             "CONFLICT",
	             "a team with this slug exists already; choose another "
	             "slug",
	             VBX_EEXIST);
	expect_store(FAIL(VBX_EEXIST, "?what=the+thing"), 409, "CONFLICT",
	             "the thing exists already", VBX_EEXIST);
	expect_store(FAIL(VBX_EINVAL, ""), 400, "BAD_REQUEST",
	             "the store refused a value of team 42", VBX_EINVAL);
	expect_store(FAIL(VBX_ERR, ""), 500, "INTERNAL_ERROR",
	             "the store failed on team 42; see the daemon's log",
	             VBX_ERR);
	expect_store(FAIL(VBX_ENOMEM, ""), 500, "INTERNAL_ERROR",
	             "the store failed on team 42; see the daemon's log",
	             VBX_ENOMEM);
	/* VBX_OK is no failure: still an answer, and an error result. */
	expect_store(FAIL(VBX_OK, ""), 500, "INTERNAL_ERROR",
	             "the store failed on team 42; see the daemon's log",
	             VBX_ERR);
	expect_store(FAIL(VBX_EUNAVAIL, "?store=none"), 503, "UNAVAILABLE",
	             "no plugin provides the \"store\" capability; load one "
	             "(postgres-store) in the daemon's config",
	             VBX_EUNAVAIL);
	expect_store(FAIL(VBX_EUNAVAIL, ""), 503, "UNAVAILABLE",
	             "the store is unavailable (its database may be down or "
	             "failing over); try again later (after a write, re-read "
	             "first: it may have been applied)",
	             VBX_EUNAVAIL);
	/* No hook handle: taken as one with a provider. */
	expect_store(FAIL(VBX_EUNAVAIL, "?store=null"), 503, "UNAVAILABLE",
	             "the store is unavailable (its database may be down or "
	             "failing over); try again later (after a write, re-read "
	             "first: it may have been applied)",
	             VBX_EUNAVAIL);
#undef FAIL
}

/* ---- unknown fields ---- */

static void known_fields_flags_the_rest(void **state)
{
	vbx_test_response *r = vbx_test_request(
	        host, "POST", "/api/v1/x/lister/things",
	        "{\"name\":1,\"slug\":2,\"nmae\":3,\"id\":4}", NULL);
	assert_non_null(r);
	const cJSON *f = error_member(r, "fields");
	assert_int_equal(vbx_test_status(r), 400);
	assert_true(field_is(f, "nmae", "is not a known field"));
	assert_true(field_is(f, "id", "is not a known field"));
	assert_true(field_is(f, "name", NULL));
	assert_true(field_is(f, "slug", NULL));
	vbx_test_response_free(r);

	r = vbx_test_request(host, "POST", "/api/v1/x/lister/things",
	                     "{\"name\":\"x\",\"slug\":\"y\"}", NULL);
	assert_non_null(r);
	assert_int_equal(vbx_test_status(r), 204);
	vbx_test_response_free(r);
}

/* 1.1's members follow 1.0's, and 16 slots follow them: reserved ones,
 * less those later 1.1 additions took (the size never changes). */
static void host_table_has_the_members(void **state)
{
	const vbx_host *t = VBX__HOST(vbx_test_plugin(host));
	assert_non_null(t->req_page);
	assert_non_null(t->page_body);
	assert_non_null(t->resp_store_error);
	assert_int_equal(t->struct_size, sizeof(vbx_host));
	assert_true(offsetof(vbx_host, req_page) >
	            offsetof(vbx_host, health_add));
	assert_non_null(t->ws_client_addr);
	assert_int_equal(sizeof(vbx_host),
	                 offsetof(vbx_host, authorize_context) +
	                         17 * sizeof(void *));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(page_defaults_and_envelope),
	        cmocka_unit_test(page_refuses_bad_values),
	        cmocka_unit_test(store_error_maps_each_result),
	        cmocka_unit_test(known_fields_flags_the_rest),
	        cmocka_unit_test(host_table_has_the_members),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
