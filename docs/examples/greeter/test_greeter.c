/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_greeter.c - unit tests of the greeter plugin against
 * libvibebox-test, the fake host: no daemon, no sockets.
 *
 * Build and run (see the Makefile):
 *   cc $(pkg-config --cflags vibebox-test) -o test_greeter test_greeter.c \
 *      greeter.c $(pkg-config --libs vibebox-test)
 *   ./test_greeter
 *
 * Prints one "ok"/"not ok" line per check; exits 1 when any failed.
 */
#include <stdio.h>
#include <string.h>

#include <vibebox/testing.h>

#include "greeter.h"

static int failures;

static void check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	failures += !ok;
}

/* The string at key of the response's JSON body, or "". */
static const char *field(const vbx_test_response *res, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(vbx_test_json(res), key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* A started host with the greeter and its config block, or NULL. */
static vbx_test_host *start(const char *block)
{
	vbx_test_host *h = vbx_test_host_new();
	if (h && vbx_test_load(h, vbx_plugin_entry(), block) == VBX_OK &&
	    vbx_test_start(h) == VBX_OK)
		return h;
	if (h)
		fprintf(stderr, "%s\n", vbx_test_errors(h));
	vbx_test_host_free(h);
	return NULL;
}

static void test_greet(void)
{
	vbx_test_host *h = start("greeting = \"Hi\";");
	vbx_test_response *res = vbx_test_request(
	        h, "GET", "/api/v1/x/greeter/greet/ann", NULL, NULL);
	check(vbx_test_status(res) == 200,
	      "GET /api/v1/x/greeter/greet/ann is 200");
	check(!strcmp(field(res, "message"), "Hi, ann!"), "it says Hi, ann!");
	vbx_test_response_free(res);

	res = vbx_test_request(h, "GET", "/api/v1/x/greeter/greet/caf%C3%A9",
	                       NULL, NULL);
	check(!strcmp(field(res, "message"), "Hi, caf\xc3\xa9!"),
	      "the name is percent-decoded");
	vbx_test_response_free(res);

	char path[128];
	snprintf(path, sizeof(path), "/api/v1/x/greeter/greet/%033d", 0);
	res = vbx_test_request(h, "GET", path, NULL, NULL);
	check(vbx_test_status(res) == 400, "a 33-character name is 400");
	check(strstr(vbx_test_body(res), "VALIDATION_ERROR") != NULL,
	      "with VALIDATION_ERROR");
	vbx_test_response_free(res);
	vbx_test_host_free(h);
}

static void test_post_and_count(void)
{
	vbx_test_host *h = start(NULL);
	const char *ann = "{\"name\":\"ann\"}";
	vbx_test_response *res = vbx_test_request(
	        h, "POST", "/api/v1/x/greeter/greetings", ann, "token");
	/* no plugin authenticates: the daemon answers 503, so do we */
	check(vbx_test_status(res) == 503, "POST needs authentication");
	vbx_test_response_free(res);

	vbx_principal who = {.user_id = "u-1", .email = "ann@example.test"};
	vbx_test_set_principal(h, &who);
	res = vbx_test_request(h, "POST", "/api/v1/x/greeter/greetings", ann,
	                       NULL);
	check(vbx_test_status(res) == 201,
	      "POST /api/v1/x/greeter/greetings is 201");
	check(!strcmp(field(res, "message"), "Hello, ann!"),
	      "it says Hello, ann!");
	vbx_test_response_free(res);

	res = vbx_test_request(h, "POST", "/api/v1/x/greeter/greetings",
	                       "{\"name\":7}", NULL);
	check(vbx_test_status(res) == 400, "a name that is no string is 400");
	vbx_test_response_free(res);

	vbx_test_flush_events(h); /* the count is kept by a subscriber */
	res = vbx_test_request(h, "GET", "/api/v1/x/greeter/greetings/count",
	                       NULL, NULL);
	const cJSON *count = cJSON_GetObjectItem(vbx_test_json(res), "count");
	check(cJSON_IsNumber(count) && count->valueint == 1, "count is 1");
	vbx_test_response_free(res);
	vbx_test_host_free(h);
}

/* Another plugin's greet_format, registered by the test itself. */
static int shout(void *ud, const char *name, char *out, size_t len)
{
	snprintf(out, len, "HELLO %s", name);
	return VBX_OK;
}

static void test_format_hook(void)
{
	vbx_test_host *h = vbx_test_host_new();
	vbx_test_load(h, vbx_plugin_entry(), NULL);
	vbx_hook_greet_format_register(vbx_test_plugin(h), shout, NULL,
	                               VBX_PRIO_MIDDLE);
	vbx_test_start(h);
	vbx_test_response *res = vbx_test_request(
	        h, "GET", "/api/v1/x/greeter/greet/bo", NULL, NULL);
	check(!strcmp(field(res, "message"), "HELLO bo"),
	      "a greet_format handler decides the text");
	vbx_test_response_free(res);
	vbx_test_host_free(h);
}

static void test_bad_config(void)
{
	vbx_test_host *h = vbx_test_host_new();
	int rc = vbx_test_load(h, vbx_plugin_entry(), "max_name = 0;");
	check(rc == VBX_EINVAL, "max_name = 0 is refused");
	check(strstr(vbx_test_errors(h), "plugins.greeter.max_name") != NULL,
	      "the error names plugins.greeter.max_name");
	vbx_test_host_free(h);

	h = vbx_test_host_new();
	rc = vbx_test_load(h, vbx_plugin_entry(), "greting = \"Hi\";");
	check(rc == VBX_EINVAL, "a misspelt key is refused");
	check(strstr(vbx_test_errors(h), "greting: unknown key") != NULL,
	      "the error names the key");
	vbx_test_host_free(h);
}

int main(void)
{
	test_greet();
	test_post_and_count();
	test_format_hook();
	test_bad_config();
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
