/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_routes.c - where a plugin's routes may live (core/routes.c),
 * through libvibebox-test, which registers routes as the daemon does:
 * the built test plugins of tests/plugins/ (route-ok in its namespace,
 * route-out outside it, the metrics and tracing pair that clash), and
 * plugins made here for the other cases.
 *
 * VBX_TEST_PLUGIN_DIR names the directory of the built test plugins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/testing.h>

static const char *plugin_dir;
static vbx_test_host *host;

static int setup(void **state)
{
	host = vbx_test_host_new();
	return host ? 0 : -1;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static int load_built(const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, name);
	return vbx_test_load_file(host, path, NULL);
}

static void assert_errors_have(const char *part)
{
	const char *errs = vbx_test_errors(host);
	if (!strstr(errs, part))
		fail_msg("the errors \"%s\" lack \"%s\"", errs, part);
}

/* ---- the built test plugins ---- */

static void test_in_namespace_works(void **state)
{
	assert_int_equal(load_built("route-ok"), VBX_OK);
	assert_int_equal(vbx_test_start(host), VBX_OK);
	vbx_test_response *res = vbx_test_request(
	        host, "GET", "/api/v1/x/route-ok/ping", NULL, NULL);
	assert_int_equal(vbx_test_status(res), 200);
	assert_non_null(strstr(vbx_test_body(res), "\"pong\":\"route-ok\""));
	vbx_test_response_free(res);
	assert_string_equal(vbx_test_errors(host), "");
}

/* route-out ignores the refusal; the load fails all the same. */
static void test_outside_namespace_refused(void **state)
{
	assert_int_equal(load_built("route-out"), VBX_EINVAL);
	assert_errors_have("plugin \"route-out\": route GET /api/v1/ping: the "
	                   "routes of a third-party plugin must live under "
	                   "/api/v1/x/route-out/; register it there");
	assert_int_not_equal(vbx_test_start(host), VBX_OK);
}

static void test_clash_names_both(void **state)
{
	assert_int_equal(load_built("metrics"), VBX_OK);
	/* tracing returns what vbx_route_add() said. */
	assert_int_equal(load_built("tracing"), VBX_EEXIST);
	assert_errors_have("plugins \"metrics\" and \"tracing\" clash: route "
	                   "GET /api/v1/reports/{name} of plugin \"tracing\" "
	                   "and route GET /api/v1/reports/{id} of plugin "
	                   "\"metrics\" match the same requests; enable only "
	                   "one of them");
}

/* ---- plugins made here: each registers the routes listed in `adds`
 * and returns what the last registration returned ---- */

static const char *const *adds; /* method, pattern, method, ... NULL */
static int last_rc;

static int route_204(void *ud, vbx_request *req)
{
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

static int ws_open(void *ud, vbx_ws *ws)
{
	return VBX_OK;
}

static void ws_close(void *ud, vbx_ws *ws, int code)
{
}

static const vbx_ws_ops ws_ops = {
        .struct_size = sizeof(vbx_ws_ops), .open = ws_open, .close = ws_close};

static int adder_init(vbx_plugin *self, const vbx_config *cfg)
{
	for (const char *const *a = adds; a && a[0]; a += 2)
		last_rc = strcmp(a[0], "WS") == 0
		                  ? vbx_ws_route_add(self, a[1], "vibebox.t.v1",
		                                     0, &ws_ops, NULL)
		                  : vbx_route_add(self, a[0], a[1], 0,
		                                  route_204, NULL);
	return VBX_OK;
}

static void adder_fini(vbx_plugin *self)
{
}

#define ADDER(NAME)                                                            \
	{                                                                      \
		.magic = VBX_PLUGIN_MAGIC, .abi_major = VBX_ABI_MAJOR,         \
		.abi_minor = VBX_ABI_MINOR,                                    \
		.struct_size = sizeof(vbx_plugin_desc), .name = NAME,          \
		.init = adder_init, .fini = adder_fini                         \
	}

static const vbx_plugin_desc acme = ADDER("acme");
static const vbx_plugin_desc auth = ADDER("auth");
static const vbx_plugin_desc platform = ADDER("platform");

/* Load desc with these routes; the load's result. */
static int load_with(const vbx_plugin_desc *desc, const char *const *list)
{
	adds = list;
	last_rc = VBX_OK;
	return vbx_test_load(host, desc, NULL);
}

static void test_namespace_is_the_name(void **state)
{
	static const char *const ok[] = {
	        "GET", "/api/v1/x/acme",           "POST", "/api/v1/x/acme/a",
	        "WS",  "/api/v1/x/acme/{id}/feed", NULL,
	};
	assert_int_equal(load_with(&acme, ok), VBX_OK);
	assert_int_equal(vbx_test_start(host), VBX_OK);
	vbx_test_response *res =
	        vbx_test_request(host, "POST", "/api/v1/x/acme/a", NULL, "t");
	assert_int_not_equal(vbx_test_status(res), 404);
	vbx_test_response_free(res);
}

static void test_other_namespaces_refused(void **state)
{
	static const char *const cases[][3] = {
	        {"GET", "/api/v1/x/other/a", "route GET /api/v1/x/other/a"},
	        {"GET", "/api/v1/x/acmeco/a", "route GET /api/v1/x/acmeco/a"},
	        {"GET", "/api/v1/x/{who}/a", "route GET /api/v1/x/{who}/a"},
	        {"GET", "/api/v1/x", "route GET /api/v1/x"},
	        {"WS", "/api/v1/x/other/ws",
	         "WebSocket route /api/v1/x/other/ws"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		teardown(state);
		setup(state);
		const char *const list[] = {cases[i][0], cases[i][1], NULL};
		assert_int_equal(load_with(&acme, list), VBX_EINVAL);
		assert_int_equal(last_rc, VBX_EINVAL);
		char msg[512];
		snprintf(msg, sizeof(msg),
		         "plugin \"acme\": %s: /api/v1/x/ holds each "
		         "third-party plugin's routes under its own name; "
		         "plugin "
		         "\"acme\" may use /api/v1/x/acme/ only",
		         cases[i][2]);
		assert_errors_have(msg);
	}
}

static void test_third_party_outside_refused(void **state)
{
	static const char *const list[] = {"WS", "/api/v1/acme/ws", NULL};
	assert_int_equal(load_with(&acme, list), VBX_EINVAL);
	assert_int_equal(last_rc, VBX_EINVAL);
	assert_errors_have("plugin \"acme\": WebSocket route /api/v1/acme/ws: "
	                   "the routes of a third-party plugin must live "
	                   "under /api/v1/x/acme/");
}

/* The project's own plugins use the API's paths, but not /api/v1/x/. */
static void test_project_plugins(void **state)
{
	static const char *const good[] = {"GET", "/api/v1/things", NULL};
	static const char *const bad[] = {"GET", "/api/v1/x/acme/a", NULL};
	assert_int_equal(load_with(&auth, good), VBX_OK);
	assert_int_equal(load_with(&platform, bad), VBX_EINVAL);
	assert_errors_have("plugin \"platform\": route GET /api/v1/x/acme/a: "
	                   "/api/v1/x/ holds each third-party plugin's routes "
	                   "under its own name");
}

static void test_clash_same_pattern(void **state)
{
	static const char *const mine[] = {"DELETE", "/api/v1/things/{id}",
	                                   NULL};
	assert_int_equal(load_with(&auth, mine), VBX_OK);
	assert_int_equal(load_with(&platform, mine), VBX_EINVAL);
	assert_int_equal(last_rc, VBX_EEXIST);
	assert_errors_have("plugins \"auth\" and \"platform\" clash: route "
	                   "DELETE /api/v1/things/{id} of plugin \"platform\" "
	                   "and route DELETE /api/v1/things/{id} of plugin "
	                   "\"auth\" match the same requests");
}

/* A literal beats a parameter: the router tells these apart. */
static void test_literal_and_parameter_do_not_clash(void **state)
{
	static const char *const a[] = {"GET", "/api/v1/things/{id}", NULL};
	static const char *const b[] = {"GET", "/api/v1/things/mine", "GET",
	                                "/api/v1/things/{id}/x", NULL};
	assert_int_equal(load_with(&auth, a), VBX_OK);
	assert_int_equal(load_with(&platform, b), VBX_OK);
}

static void test_clash_with_itself(void **state)
{
	static const char *const twice[] = {"GET", "/api/v1/x/acme/{a}", "GET",
	                                    "/api/v1/x/acme/{b}", NULL};
	assert_int_equal(load_with(&acme, twice), VBX_EINVAL);
	assert_errors_have("plugin \"acme\": route GET /api/v1/x/acme/{b} "
	                   "clashes with its own route GET /api/v1/x/acme/{a}; "
	                   "register each route once");
}

int main(void)
{
	plugin_dir = getenv("VBX_TEST_PLUGIN_DIR");
	if (!plugin_dir || !*plugin_dir) {
		fprintf(stderr, "test_routes: set VBX_TEST_PLUGIN_DIR to the "
		                "directory of the built tests/plugins/*.so\n");
		return 1;
	}
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_in_namespace_works),
	        T(test_outside_namespace_refused),
	        T(test_clash_names_both),
	        T(test_namespace_is_the_name),
	        T(test_other_namespaces_refused),
	        T(test_third_party_outside_refused),
	        T(test_project_plugins),
	        T(test_clash_same_pattern),
	        T(test_literal_and_parameter_do_not_clash),
	        T(test_clash_with_itself),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
