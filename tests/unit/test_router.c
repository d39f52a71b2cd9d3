/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_router.c - route validation, conflicts, matching, parameters and
 * their decoding, 404 versus 405, and hostile paths.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

static int handler(void *ud, vbx_request *req)
{
	return VBX_OK;
}

static const vbx_ws_ops ws_ops = {.struct_size = sizeof(vbx_ws_ops)};

/* Two distinct owners; the router only stores the pointers. */
static int owner_a, owner_b;
#define OWNER_A ((vbx_plugin *)&owner_a)
#define OWNER_B ((vbx_plugin *)&owner_b)

struct fixture {
	vbx__router *r;
	vbx__arena *a;
	vbx__match m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->r = vbx__router_new();
	f->a = vbx__arena_new(0);
	*state = f;
	return f->r && f->a ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vbx__router_free(f->r);
	vbx__arena_free(f->a);
	free(f);
	return 0;
}

static int add_owned(vbx__router *r, const char *method, const char *pattern,
                     vbx_plugin *owner, const vbx__route **existing)
{
	vbx__route t = {
	        .method = method,
	        .pattern = pattern,
	        .fn = handler,
	        .owner = owner,
	        .ud = (void *)pattern,
	};
	return vbx__router_add(r, &t, existing);
}

static int add(vbx__router *r, const char *method, const char *pattern)
{
	return add_owned(r, method, pattern, OWNER_A, NULL);
}

static int match(struct fixture *f, const char *method, const char *path)
{
	return vbx__router_match(f->r, method, path, f->a, &f->m);
}

static const char *param(const vbx__match *m, const char *name)
{
	for (size_t i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return m->params[i].value;
	return NULL;
}

/* ---- adding ---- */

static void test_add_valid(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(add(f->r, "GET", "/"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/health/live"), VBX_OK);
	assert_int_equal(add(f->r, "POST", "/api/v1/teams"), VBX_OK);
	assert_int_equal(
	        add(f->r, "PATCH", "/api/v1/teams/{id}/members/{userId}"),
	        VBX_OK);
	assert_int_equal(add(f->r, "PUT", "/x/{_a1}/{B}"), VBX_OK);
	assert_int_equal(
	        add(f->r, "DELETE", "/a-b.c~d_e:f@g!h$i&j'k(l)*m+n,o;p=q"),
	        VBX_OK);
	assert_int_equal(
	        add(f->r, "GET", "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}"),
	        VBX_OK);
	assert_int_equal(vbx__router_count(f->r), 7);
}

static void test_add_bad_method(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {NULL,      "",     "get",     "HEAD",
	                     "OPTIONS", "GET ", "CONNECT", "POSTX"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(add(f->r, bad[i], "/a"), VBX_EINVAL);
	assert_int_equal(vbx__router_count(f->r), 0);
}

static void test_add_bad_pattern(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
	        NULL,
	        "",
	        "a",
	        "a/b",
	        "//",
	        "/a/",
	        "/a//b",
	        "/a?b",
	        "/a#b",
	        "/a%20b",
	        "/a b",
	        "/a\tb",
	        "/caf\xc3\xa9",
	        "/a\x7f",
	        "/{}",
	        "/{1a}",
	        "/{a-b}",
	        "/{a b}",
	        "/x{a}",
	        "/{a}x",
	        "/{a",
	        "/a}",
	        "/{{a}}",
	        "/{a}/{a}",
	        "/{id}/x/{id}",
	        "/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}",
	        /* catch-alls: last segment only, a valid name, once */
	        "/{a...}/b",
	        "/{...}",
	        "/{a..}",
	        "/{a....}",
	        "/{1a...}",
	        "/x/{a...}x",
	        "/{a...}/{b...}",
	        "/{a}/{a...}",
	        "/{a...}/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (add(f->r, "GET", bad[i]) != VBX_EINVAL)
			fail_msg("pattern \"%s\" was accepted",
			         bad[i] ? bad[i] : "(null)");
	}
	assert_int_equal(vbx__router_count(f->r), 0);

	/* A pattern longer than any path we would match. */
	char *longp = malloc(VBX__MAX_PATH + 2);
	memset(longp, 'a', VBX__MAX_PATH + 1);
	longp[0] = '/';
	longp[VBX__MAX_PATH + 1] = '\0';
	assert_int_equal(add(f->r, "GET", longp), VBX_EINVAL);
	longp[VBX__MAX_PATH] = '\0';
	assert_int_equal(add(f->r, "GET", longp), VBX_OK);
	free(longp);
}

static void test_add_needs_handler(void **state)
{
	struct fixture *f = *state;
	vbx__route t = {.method = "GET", .pattern = "/a"};
	assert_int_equal(vbx__router_add(f->r, &t, NULL), VBX_EINVAL);
	assert_int_equal(vbx__router_add(f->r, NULL, NULL), VBX_EINVAL);
	assert_int_equal(vbx__router_add(NULL, &t, NULL), VBX_EINVAL);
}

static void test_conflicts(void **state)
{
	struct fixture *f = *state;
	const vbx__route *ex = (const vbx__route *)1;

	assert_int_equal(add_owned(f->r, "GET", "/a/{x}", OWNER_A, &ex),
	                 VBX_OK);
	assert_null(ex);
	/* Same shape, another parameter name: a clash named by its owner. */
	assert_int_equal(add_owned(f->r, "GET", "/a/{y}", OWNER_B, &ex),
	                 VBX_EEXIST);
	assert_non_null(ex);
	assert_ptr_equal(ex->owner, OWNER_A);
	assert_string_equal(ex->pattern, "/a/{x}");
	assert_string_equal(ex->method, "GET");
	/* existing may be NULL. */
	assert_int_equal(add(f->r, "GET", "/a/{x}"), VBX_EEXIST);
	/* Another method on the same shape is fine, with its own names. */
	assert_int_equal(add_owned(f->r, "POST", "/a/{y}", OWNER_B, &ex),
	                 VBX_OK);
	/* A literal at the same position is another shape. */
	assert_int_equal(add(f->r, "GET", "/a/b"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/a/b"), VBX_EEXIST);
	/* Prefixes and extensions are other shapes. */
	assert_int_equal(add(f->r, "GET", "/a"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/a/{x}/c"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/a/{z}/c"), VBX_EEXIST);
	assert_int_equal(add(f->r, "GET", "/"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/"), VBX_EEXIST);
	assert_int_equal(vbx__router_count(f->r), 6);

	/* Each method uses its own name for the same position. */
	assert_int_equal(match(f, "GET", "/a/v"), 200);
	assert_string_equal(param(&f->m, "x"), "v");
	assert_int_equal(match(f, "POST", "/a/v"), 200);
	assert_string_equal(param(&f->m, "y"), "v");
	assert_null(param(&f->m, "x"));
}

static void test_strings_are_copied(void **state)
{
	struct fixture *f = *state;
	char method[] = "GET", pattern[] = "/copy/{id}", proto[] = "p.v1";
	vbx__route t = {
	        .method = method,
	        .pattern = pattern,
	        .ws = &ws_ops,
	        .subprotocol = proto,
	        .flags = VBX_ROUTE_PUBLIC,
	        .owner = OWNER_B,
	};
	assert_int_equal(vbx__router_add(f->r, &t, NULL), VBX_OK);
	memset(method, 'X', 3);
	memset(pattern, 'X', sizeof(pattern) - 1);
	memset(proto, 'X', sizeof(proto) - 1);

	assert_int_equal(match(f, "GET", "/copy/7"), 200);
	const vbx__route *rt = f->m.route;
	assert_string_equal(rt->method, "GET");
	assert_string_equal(rt->pattern, "/copy/{id}");
	assert_string_equal(rt->subprotocol, "p.v1");
	assert_ptr_equal(rt->ws, &ws_ops);
	assert_null(rt->fn);
	assert_int_equal(rt->flags, VBX_ROUTE_PUBLIC);
	assert_ptr_equal(rt->owner, OWNER_B);
	assert_string_equal(param(&f->m, "id"), "7");
}

static void collect(void *ud, const vbx__route *rt)
{
	char *buf = ud;
	strcat(buf, rt->method);
	strcat(buf, " ");
	strcat(buf, rt->pattern);
	strcat(buf, ";");
}

static void test_foreach_order(void **state)
{
	struct fixture *f = *state;
	char buf[256] = "";
	add(f->r, "POST", "/z");
	add(f->r, "GET", "/a/{id}");
	add(f->r, "GET", "/");
	add(f->r, "DELETE", "/m");
	add(f->r, "GET", "/a/{other}"); /* refused, not listed */
	vbx__router_foreach(f->r, collect, buf);
	assert_string_equal(buf, "POST /z;GET /a/{id};GET /;DELETE /m;");
	vbx__router_foreach(NULL, collect, buf);
}

/* ---- matching ---- */

static void test_match_params(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/api/v1/teams/{id}/members/{userId}");
	assert_int_equal(match(f, "GET", "/api/v1/teams/t1/members/u-2"), 200);
	assert_non_null(f->m.route);
	assert_string_equal(f->m.route->pattern,
	                    "/api/v1/teams/{id}/members/{userId}");
	assert_ptr_equal(f->m.route->fn, handler);
	assert_int_equal(f->m.nparams, 2);
	assert_string_equal(f->m.params[0].name, "id");
	assert_string_equal(f->m.params[0].value, "t1");
	assert_string_equal(f->m.params[1].name, "userId");
	assert_string_equal(f->m.params[1].value, "u-2");
	assert_null(f->m.error);
	assert_string_equal(f->m.allow, "");
}

static void test_match_root_and_slashes(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(match(f, "GET", "/"), 404);
	add(f->r, "GET", "/teams");
	add(f->r, "GET", "/teams/{id}");
	add(f->r, "GET", "/{any}");
	assert_int_equal(match(f, "GET", "/"), 404);
	add(f->r, "GET", "/");

	assert_int_equal(match(f, "GET", "/"), 200);
	assert_string_equal(f->m.route->pattern, "/");
	assert_int_equal(f->m.nparams, 0);
	assert_int_equal(match(f, "GET", "/teams"), 200);
	assert_int_equal(match(f, "GET", "/teams/"), 404);
	assert_int_equal(match(f, "GET", "/teams//"), 404);
	assert_int_equal(match(f, "GET", "//teams"), 404);
	assert_int_equal(match(f, "GET", "//"), 404);
	assert_int_equal(match(f, "GET", "///"), 404);
	assert_int_equal(match(f, "GET", "/teams/x/"), 404);
	assert_int_equal(match(f, "GET", "/teams/x/y"), 404);
	assert_non_null(f->m.error);
	assert_int_equal(match(f, "GET", "/Teams"), 200); /* case matters */
	assert_string_equal(f->m.route->pattern, "/{any}");
}

static void test_literal_beats_param(void **state)
{
	struct fixture *f = *state;
	/* Registered param first, to show order of adding does not count. */
	add(f->r, "GET", "/teams/{id}");
	add(f->r, "GET", "/teams/mine");
	add(f->r, "DELETE", "/teams/{id}");

	assert_int_equal(match(f, "GET", "/teams/mine"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/mine");
	assert_int_equal(f->m.nparams, 0);
	assert_int_equal(match(f, "GET", "/teams/other"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/{id}");
	assert_string_equal(param(&f->m, "id"), "other");
	/* The choice is per method. */
	assert_int_equal(match(f, "DELETE", "/teams/mine"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/{id}");
	assert_string_equal(param(&f->m, "id"), "mine");
	/* Literals compare undecoded: this is a parameter. */
	assert_int_equal(match(f, "GET", "/teams/min%65"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/{id}");
	assert_string_equal(param(&f->m, "id"), "mine");
	/* Prefix or extension of a literal is not the literal. */
	assert_int_equal(match(f, "GET", "/teams/min"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/{id}");
	assert_int_equal(match(f, "GET", "/teams/mines"), 200);
	assert_string_equal(f->m.route->pattern, "/teams/{id}");
}

static void test_backtracking(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/a/b");
	add(f->r, "GET", "/a/{x}/c");
	add(f->r, "GET", "/{y}/b/d");

	/* The literal "b" leads nowhere for ".../c": fall back to {x}. */
	assert_int_equal(match(f, "GET", "/a/b/c"), 200);
	assert_string_equal(f->m.route->pattern, "/a/{x}/c");
	assert_string_equal(param(&f->m, "x"), "b");
	/* Back up two levels, to the first segment. */
	assert_int_equal(match(f, "GET", "/a/b/d"), 200);
	assert_string_equal(f->m.route->pattern, "/{y}/b/d");
	assert_string_equal(param(&f->m, "y"), "a");
	assert_int_equal(f->m.nparams, 1);
	assert_int_equal(match(f, "GET", "/a/b/e"), 404);
}

static void test_404_vs_405(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/health/live");
	add(f->r, "DELETE", "/teams/{id}");
	add(f->r, "GET", "/teams/{id}");
	add(f->r, "PATCH", "/teams/{id}");
	add(f->r, "POST", "/teams/mine");

	assert_int_equal(match(f, "POST", "/health/live"), 405);
	assert_null(f->m.route);
	assert_string_equal(f->m.allow, "GET");
	assert_non_null(f->m.error);

	/* Allow lists what would work for this path, in a fixed order. */
	assert_int_equal(match(f, "PUT", "/teams/42"), 405);
	assert_string_equal(f->m.allow, "GET, PATCH, DELETE");
	/* Both the literal and the parameter shape count. */
	assert_int_equal(match(f, "PUT", "/teams/mine"), 405);
	assert_string_equal(f->m.allow, "GET, POST, PATCH, DELETE");
	/* Methods we do not route at all. */
	assert_int_equal(match(f, "HEAD", "/health/live"), 405);
	assert_string_equal(f->m.allow, "GET");
	assert_int_equal(match(f, "get", "/health/live"), 405);
	assert_int_equal(match(f, NULL, "/health/live"), 405);

	assert_int_equal(match(f, "GET", "/health/ready"), 404);
	assert_string_equal(f->m.allow, "");
	assert_int_equal(match(f, "HEAD", "/nothing"), 404);
	assert_int_equal(match(f, "GET", "/health"), 404);
	assert_int_equal(match(f, "GET", "/teams"), 404);
}

static void test_decoding(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/v/{key}");

	assert_int_equal(match(f, "GET", "/v/a%20b"), 200);
	assert_string_equal(param(&f->m, "key"), "a b");
	assert_int_equal(match(f, "GET", "/v/%41%62%63"), 200);
	assert_string_equal(param(&f->m, "key"), "Abc");
	assert_int_equal(match(f, "GET", "/v/a+b"), 200);
	assert_string_equal(param(&f->m, "key"), "a+b");
	assert_int_equal(match(f, "GET", "/v/%25"), 200);
	assert_string_equal(param(&f->m, "key"), "%");
	assert_int_equal(match(f, "GET", "/v/%c3%A9"), 200);
	assert_string_equal(param(&f->m, "key"), "\xc3\xa9");
	assert_int_equal(match(f, "GET", "/v/...x"), 200);
	assert_string_equal(param(&f->m, "key"), "...x");

	const char *bad[] = {
	        "/v/a%2Fb", "/v/a%2fb",  "/v/%00", "/v/a%00b", "/v/.",
	        "/v/..",    "/v/%2E%2E", "/v/%2e", "/v/%zz",   "/v/%4",
	        "/v/%",     "/v/a%g0",   "/v/%0g",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (match(f, "GET", bad[i]) != 400)
			fail_msg("%s was not refused", bad[i]);
		assert_null(f->m.route);
		assert_int_equal(f->m.nparams, 0);
		assert_non_null(f->m.error);
	}
	/* The message names the parameter. */
	assert_int_equal(match(f, "GET", "/v/a%2Fb"), 400);
	assert_non_null(strstr(f->m.error, "\"key\""));
	/* Bad encoding is refused wherever it is, even with no route. */
	assert_int_equal(match(f, "GET", "/nothing/%zz"), 400);
	/* An encoded slash in a literal position merely does not match. */
	assert_int_equal(match(f, "GET", "/v%2Fx"), 404);
}

static void test_hostile_paths(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/{a}");
	add(f->r, "GET", "/x/{a}");

	assert_int_equal(match(f, "GET", NULL), 400);
	assert_int_equal(match(f, "GET", ""), 400);
	assert_int_equal(match(f, "GET", "x"), 400);
	assert_int_equal(match(f, "GET", "*"), 400);
	assert_int_equal(match(f, "GET", "http://host/x"), 400);
	assert_int_equal(match(f, "GET", "/a\nb"), 400);
	assert_int_equal(match(f, "GET", "/a\rb"), 400);
	assert_int_equal(match(f, "GET", "/a\x7f"), 400);
	assert_int_equal(match(f, "GET", "/a\x01"), 400);

	/* Up to the limit is looked at; one byte more is refused. */
	char *p = malloc(VBX__MAX_PATH + 2);
	memset(p, 'a', VBX__MAX_PATH + 1);
	p[0] = '/';
	p[VBX__MAX_PATH] = '\0';
	assert_int_equal(match(f, "GET", p), 200);
	assert_int_equal(strlen(param(&f->m, "a")), VBX__MAX_PATH - 1);
	p[VBX__MAX_PATH] = 'a';
	p[VBX__MAX_PATH + 1] = '\0';
	assert_int_equal(match(f, "GET", p), 400);
	assert_non_null(strstr(f->m.error, "longer"));

	/* Thousands of segments: no deeper than the tree. */
	for (size_t i = 0; i < VBX__MAX_PATH; i += 2)
		p[i] = '/';
	p[VBX__MAX_PATH] = '\0';
	assert_int_equal(match(f, "GET", p), 404);
	free(p);
}

static void test_arena_needed_for_params(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/p/{id}");
	add(f->r, "GET", "/plain");
	assert_int_equal(vbx__router_match(f->r, "GET", "/p/1", NULL, &f->m),
	                 500);
	assert_null(f->m.route);
	assert_int_equal(vbx__router_match(f->r, "GET", "/plain", NULL, &f->m),
	                 200);
	assert_int_equal(vbx__router_match(NULL, "GET", "/plain", NULL, &f->m),
	                 404);
}

static void test_many_literals(void **state)
{
	struct fixture *f = *state;
	char pat[64];
	/* Added in a scrambled order so the sorted children are exercised. */
	for (unsigned i = 0; i < 200; i++) {
		unsigned k = (i * 97) % 200;
		snprintf(pat, sizeof(pat), "/r/n%u/{id}", k);
		assert_int_equal(add(f->r, "GET", pat), VBX_OK);
		snprintf(pat, sizeof(pat), "/r/n%u", k);
		assert_int_equal(add(f->r, "POST", pat), VBX_OK);
	}
	for (unsigned k = 0; k < 200; k++) {
		char path[64], want[64];
		snprintf(path, sizeof(path), "/r/n%u/v%u", k, k);
		snprintf(want, sizeof(want), "/r/n%u/{id}", k);
		assert_int_equal(match(f, "GET", path), 200);
		assert_string_equal(f->m.route->pattern, want);
		snprintf(want, sizeof(want), "v%u", k);
		assert_string_equal(param(&f->m, "id"), want);
		snprintf(path, sizeof(path), "/r/n%u", k);
		assert_int_equal(match(f, "POST", path), 200);
	}
	assert_int_equal(match(f, "GET", "/r/n200/x"), 404);
	assert_int_equal(match(f, "GET", "/r/n1"), 405);
	assert_string_equal(f->m.allow, "POST");
}

static void test_eight_params(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}");
	assert_int_equal(match(f, "GET", "/1/2/3/4/5/6/7/8"), 200);
	assert_int_equal(f->m.nparams, 8);
	assert_string_equal(param(&f->m, "a"), "1");
	assert_string_equal(param(&f->m, "h"), "8");
	assert_int_equal(match(f, "GET", "/1/2/3/4/5/6/7/8/9"), 404);
	assert_int_equal(match(f, "GET", "/1/2/3/4/5/6/7"), 404);
}

/* ---- catch-alls ---- */

static void test_catch_all(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(add(f->r, "GET", "/{path...}"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/api/v1/teams/{id}"), VBX_OK);
	assert_int_equal(add(f->r, "POST", "/api/v1/auth/login"), VBX_OK);
	assert_int_equal(add(f->r, "GET", "/api/v1/x/acme/{rest...}"), VBX_OK);

	/* One or more segments, joined; "/" is its own route. */
	assert_int_equal(match(f, "GET", "/"), 200);
	assert_string_equal(f->m.route->pattern, "/");
	assert_int_equal(match(f, "GET", "/projects"), 200);
	assert_string_equal(f->m.route->pattern, "/{path...}");
	assert_int_equal(f->m.nparams, 1);
	assert_string_equal(f->m.params[0].name, "path");
	assert_string_equal(param(&f->m, "path"), "projects");
	assert_int_equal(match(f, "GET", "/assets/index-3f2a9c1b.js"), 200);
	assert_string_equal(param(&f->m, "path"), "assets/index-3f2a9c1b.js");
	/* Each segment decoded on its own. */
	assert_int_equal(match(f, "GET", "/a%20b/c%2Ed"), 200);
	assert_string_equal(param(&f->m, "path"), "a b/c.d");

	/* Exact routes win; a deeper catch-all wins over a shallower one. */
	assert_int_equal(match(f, "GET", "/api/v1/teams/t1"), 200);
	assert_string_equal(f->m.route->pattern, "/api/v1/teams/{id}");
	assert_int_equal(match(f, "GET", "/api/v1/x/acme/a/b"), 200);
	assert_string_equal(f->m.route->pattern, "/api/v1/x/acme/{rest...}");
	assert_string_equal(param(&f->m, "rest"), "a/b");
	/* ... but not the literal node alone: zero segments are not one. */
	assert_int_equal(match(f, "GET", "/api/v1/x/acme"), 200);
	assert_string_equal(f->m.route->pattern, "/{path...}");
	/* A path no route has falls to the catch-all. */
	assert_int_equal(match(f, "GET", "/api/v1/teams/t1/nothing"), 200);
	assert_string_equal(f->m.route->pattern, "/{path...}");

	/* A 405 stays a 405: the catch-all does not take it. */
	assert_int_equal(match(f, "GET", "/api/v1/auth/login"), 405);
	assert_string_equal(f->m.allow, "POST");
	/* Another method on a catch-all path: 405 with its methods. */
	assert_int_equal(match(f, "POST", "/projects"), 405);
	assert_string_equal(f->m.allow, "GET");
}

static void test_catch_all_refusals(void **state)
{
	struct fixture *f = *state;
	add(f->r, "GET", "/{path...}");

	/* Empty segments never match. */
	assert_int_equal(match(f, "GET", "/a/"), 404);
	assert_int_equal(match(f, "GET", "/a//b"), 404);
	assert_int_equal(match(f, "GET", "//a"), 404);
	assert_int_equal(match(f, "GET", "/"), 404);
	/* Traversal and smuggling: each segment is a parameter's value. */
	const char *bad[] = {
	        "/..",    "/a/../b",    "/a/%2e%2e/b",   "/%2E%2e",
	        "/a/./b", "/a/%2e",     "/a%2fb",        "/a/%2F../b",
	        "/a%00b", "/a/b%00.js", "/a/%5c../b%2f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = match(f, "GET", bad[i]);
		if (st != 400)
			fail_msg("%s: %d, not 400", bad[i], st);
		assert_null(f->m.route);
		assert_int_equal(f->m.nparams, 0);
		assert_non_null(f->m.error);
	}
	/* A backslash is a byte like another on this side. */
	assert_int_equal(match(f, "GET", "/a/%5c.."), 200);
	assert_string_equal(param(&f->m, "path"), "a/\\..");
}

static void test_catch_all_clash(void **state)
{
	struct fixture *f = *state;
	const vbx__route *old = NULL;
	assert_int_equal(add_owned(f->r, "GET", "/{path...}", OWNER_A, NULL),
	                 VBX_OK);
	assert_int_equal(add_owned(f->r, "GET", "/{other...}", OWNER_B, &old),
	                 VBX_EEXIST);
	assert_non_null(old);
	assert_ptr_equal(old->owner, OWNER_A);
	/* A parameter at the same place is another shape. */
	assert_int_equal(add(f->r, "GET", "/{id}"), VBX_OK);
	assert_int_equal(add(f->r, "DELETE", "/{path...}"), VBX_OK);
	assert_int_equal(match(f, "GET", "/x"), 200);
	assert_string_equal(f->m.route->pattern, "/{id}");
	assert_int_equal(match(f, "GET", "/x/y"), 200);
	assert_string_equal(f->m.route->pattern, "/{path...}");
	/* "/x" has a GET: a DELETE there is the parameter's 405, not the
	 * catch-all's DELETE. */
	assert_int_equal(match(f, "DELETE", "/x"), 405);
	assert_int_equal(match(f, "DELETE", "/x/y"), 200);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_add_valid),
	        T(test_add_bad_method),
	        T(test_add_bad_pattern),
	        T(test_add_needs_handler),
	        T(test_conflicts),
	        T(test_strings_are_copied),
	        T(test_foreach_order),
	        T(test_match_params),
	        T(test_match_root_and_slashes),
	        T(test_literal_beats_param),
	        T(test_backtracking),
	        T(test_404_vs_405),
	        T(test_decoding),
	        T(test_hostile_paths),
	        T(test_arena_needed_for_params),
	        T(test_many_literals),
	        T(test_eight_params),
	        T(test_catch_all),
	        T(test_catch_all_refusals),
	        T(test_catch_all_clash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
