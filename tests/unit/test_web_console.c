/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_web_console.c - the web-console plugin's parts without a daemon:
 * Accept-Encoding and If-None-Match (good and broken headers), request
 * paths, hashed names and types, api_origin and the CSP, and the scan of
 * a real directory (variants, hidden files, links in and out of root,
 * contents kept across rescans, cache_max).
 */
#define _GNU_SOURCE /* asprintf, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wc.h"

static const unsigned ALL = (1u << WC_GZIP) | (1u << WC_BR);

static void test_accept_encoding(void **state)
{
	(void)state;
	assert_int_equal(wc_pick_encoding(NULL, ALL), WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("", ALL), WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("gzip, deflate, br", ALL), WC_BR);
	assert_int_equal(wc_pick_encoding("gzip, br", 1u << WC_GZIP), WC_GZIP);
	assert_int_equal(wc_pick_encoding("br", 1u << WC_GZIP), WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("gzip", 0), WC_IDENTITY);
	/* q-values decide; ties go br, gzip, identity */
	assert_int_equal(wc_pick_encoding("br;q=0.5, gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("br;q=0.5, gzip;q=0.500", ALL),
	                 WC_BR);
	assert_int_equal(wc_pick_encoding("gzip;q=0.2,identity", ALL),
	                 WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("GZIP ; Q=1", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("x-gzip", ALL), WC_GZIP);
	/* q=0 refuses, also when named twice */
	assert_int_equal(wc_pick_encoding("br;q=0, gzip;q=0", ALL),
	                 WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("br;q=0.0, gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("gzip, gzip;q=0", ALL), WC_IDENTITY);
	/* "*" speaks for the others */
	assert_int_equal(wc_pick_encoding("*", ALL), WC_BR);
	assert_int_equal(wc_pick_encoding("*;q=0, gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("br;q=0, *", ALL), WC_GZIP);
	/* refusing everything still gets the file */
	assert_int_equal(wc_pick_encoding("identity;q=0, *;q=0", ALL),
	                 WC_IDENTITY);
}

static void test_accept_encoding_broken(void **state)
{
	(void)state;
	/* a damaged element is ignored, its neighbours count */
	const char *bad[] = {
	        "br;q=2",  "br;q=1.5",    "br;q=-1", "br;q=0.5x", "br;q",
	        "br;q=",   "br;=1",       "br;;",    "br q=1",    "br;q=.5",
	        "\"br\"",  "br;q=1.0001", "b\x01r",  ";q=1",      ",,,,",
	        "br;q=1;", "br;q=0.",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int e = wc_pick_encoding(bad[i], ALL);
		if (strcmp(bad[i], "br;q=0.") == 0 ||
		    strcmp(bad[i], "br;q=1;") == 0)
			continue; /* checked below */
		if (e != WC_IDENTITY)
			fail_msg("\"%s\" gave %d, not identity", bad[i], e);
	}
	assert_int_equal(wc_pick_encoding("br;q=0.", ALL), WC_IDENTITY);
	assert_int_equal(wc_pick_encoding("br;q=2, gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("garbage\x7f, gzip", ALL), WC_GZIP);
	assert_int_equal(wc_pick_encoding("br;level=5;q=0.9, gzip;q=0.8", ALL),
	                 WC_BR);
	/* a long header is walked, not copied */
	char *longh = malloc(100001);
	memset(longh, ',', 100000);
	memcpy(longh + 99990, "gzip", 4);
	longh[100000] = '\0';
	assert_int_equal(wc_pick_encoding(longh, ALL), WC_GZIP);
	free(longh);
}

static void test_if_none_match(void **state)
{
	(void)state;
	const char *tag = "\"1f-2a\"";
	assert_true(wc_inm_match("\"1f-2a\"", tag));
	assert_true(wc_inm_match("W/\"1f-2a\"", tag)); /* weak comparison */
	assert_true(wc_inm_match("\"x\", \"1f-2a\"", tag));
	assert_true(wc_inm_match("\"x\",W/\"1f-2a\" , \"y\"", tag));
	assert_true(wc_inm_match(" * ", tag));
	assert_true(wc_inm_match("*", tag));
	assert_false(wc_inm_match("\"1f-2b\"", tag));
	assert_false(wc_inm_match("\"1f-2a-gz\"", tag));
	assert_false(wc_inm_match("", tag));
	assert_false(wc_inm_match(NULL, tag));
}

static void test_if_none_match_broken(void **state)
{
	(void)state;
	const char *tag = "\"1f-2a\"";
	const char *bad[] = {
	        "1f-2a",           "\"1f-2a",
	        "w/\"1f-2a\"",     "W/1f-2a",
	        "*, \"1f-2a\"",    "**",
	        "\"x\" \"1f-2a\"", "\"a\"b\", \"1f-2a\"",
	        "\"x\";\"1f-2a\"", "\"1f\x01-2a\"",
	        "W/ \"1f-2a\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wc_inm_match(bad[i], tag))
			fail_msg("\"%s\" matched", bad[i]);
	/* the tags before the damage still count */
	assert_true(wc_inm_match("\"1f-2a\", garbage", tag));
	assert_false(wc_inm_match("\"1f-2a\"", "unquoted"));
	assert_false(wc_inm_match("\"\"", "\""));
}

static void test_paths(void **state)
{
	(void)state;
	const char *good[] = {"index.html", "assets/index-3f2a9c1b.js",
	                      "a/b/c",      "favicon.ico",
	                      "x..y",       "a/b..c"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!wc_path_ok(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	const char *bad[] = {NULL,    "",          "/etc/passwd", "..",
	                     "a/..",  "../a",      "a/../b",      ".",
	                     "a/./b", "a//b",      "a/",          ".git/config",
	                     ".env",  "a/.hidden", "a\\..\\b",    "a\x01",
	                     "a\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wc_path_ok(bad[i]))
			fail_msg("\"%s\" accepted", bad[i] ? bad[i] : "(null)");
}

static void test_hashed_and_types(void **state)
{
	(void)state;
	assert_true(wc_is_hashed("assets/index-3f2a9c1b.js", "assets"));
	assert_true(wc_is_hashed("assets/vendor-BxT_k9-Q.css", "assets"));
	assert_true(wc_is_hashed("assets/sub/chunk-12345678.js", "assets"));
	assert_false(wc_is_hashed("assets/index-3f2a9c1.js", "assets"));
	assert_false(wc_is_hashed("index-3f2a9c1b.js", "assets"));
	assert_false(wc_is_hashed("assetsx/index-3f2a9c1b.js", "assets"));
	assert_false(wc_is_hashed("assets/logo.svg", "assets"));
	assert_false(wc_is_hashed("assets/index-3f2a9c1b", "assets"));
	assert_true(wc_under("assets/x", "assets"));
	assert_false(wc_under("assets", "assets"));
	assert_false(wc_under("assetsx/y", "assets"));

	assert_string_equal(wc_content_type("index.html"),
	                    "text/html; charset=utf-8");
	assert_string_equal(wc_content_type("assets/a-12345678.JS"),
	                    "text/javascript; charset=utf-8");
	assert_string_equal(wc_content_type("a.css"),
	                    "text/css; charset=utf-8");
	assert_string_equal(wc_content_type("f.woff2"), "font/woff2");
	assert_string_equal(wc_content_type("a.b/noext"),
	                    "application/octet-stream");
	assert_string_equal(wc_content_type("x."), "application/octet-stream");
}

static void test_origin_and_csp(void **state)
{
	(void)state;
	const char *good[] = {"https://api.example.com",
	                      "http://127.0.0.1:3000", "https://[::1]:8443",
	                      "https://a-b.example"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (wc_origin_check(good[i]))
			fail_msg("\"%s\": %s", good[i],
			         wc_origin_check(good[i]));
	const char *bad[] = {"api.example.com",
	                     "ftp://x",
	                     "https://",
	                     "https://x/",
	                     "https://x/api",
	                     "https://x:0",
	                     "https://x:65536",
	                     "https://x:",
	                     "https://x?a",
	                     "https://x; script-src *",
	                     "https://x 'unsafe-inline'",
	                     "https://[zz]",
	                     "https://[]",
	                     "https://x\r\nSet-Cookie: a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!wc_origin_check(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);

	char *csp = wc_csp_build(NULL);
	assert_non_null(strstr(csp, "connect-src 'self';"));
	assert_non_null(strstr(csp, "script-src 'self';"));
	assert_non_null(strstr(csp, "frame-ancestors 'none'"));
	assert_non_null(strstr(csp, "object-src 'none'"));
	assert_null(strstr(csp, "unsafe"));
	free(csp);
	csp = wc_csp_build("https://api.example.com");
	assert_non_null(strstr(csp,
	                       "connect-src 'self' https://api.example.com "
	                       "wss://api.example.com;"));
	free(csp);
	csp = wc_csp_build("http://10.0.0.1:3000");
	assert_non_null(
	        strstr(csp, "http://10.0.0.1:3000 ws://10.0.0.1:3000;"));
	free(csp);
}

/* ---- the scan, on a real directory ---- */

struct tree {
	char dir[64]; /* holds root/ and outside/ */
	char root[96];
	wc_settings set;
};

static void put(const struct tree *t, const char *rel, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Set a file's mtime seconds ago (variants must not be older). */
static void age(const struct tree *t, const char *rel, int seconds)
{
	char path[256];
	struct timeval tv[2];
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= seconds;
	tv[1] = tv[0];
	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	assert_int_equal(utimes(path, tv), 0);
}

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/vbx-wc-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->root, sizeof(t->root), "%s/www", t->dir);
	char p[160];
	mkdir(t->root, 0755);
	snprintf(p, sizeof(p), "%s/assets", t->root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/.git", t->root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/outside", t->dir);
	mkdir(p, 0755);
	t->set.root = strdup(t->root);
	t->set.index = strdup("index.html");
	t->set.assets = strdup("assets");
	t->set.cache_max = 1 << 20;
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char *cmd;
	if (asprintf(&cmd, "rm -rf '%s'", t->dir) > 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", t->dir);
		free(cmd);
	}
	wc_settings_free(&t->set);
	free(t);
	return 0;
}

static void test_scan(void **state)
{
	struct tree *t = *state;
	char link[256], target[256];
	put(t, "index.html", "<!doctype html>");
	put(t, "assets/app-3f2a9c1b.js", "console.log(1)");
	put(t, "assets/app-3f2a9c1b.js.gz", "GZ");
	put(t, "assets/app-3f2a9c1b.js.br", "BR");
	put(t, "assets/old.css", "a{}");
	put(t, "assets/old.css.gz", "stale");
	age(t, "assets/old.css.gz", 100); /* older than its file: not used */
	put(t, "data.tar.gz", "a download, not a variant");
	put(t, ".env", "SECRET=1");
	put(t, ".git/config", "x");
	snprintf(target, sizeof(target), "%s/outside/secret", t->dir);
	FILE *f = fopen(target, "w");
	fputs("secret", f);
	fclose(f);
	snprintf(link, sizeof(link), "%s/leak.txt", t->root);
	assert_int_equal(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/dir-out", t->root);
	snprintf(target, sizeof(target), "%s/outside", t->dir);
	assert_int_equal(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/same.html", t->root);
	assert_int_equal(symlink("index.html", link), 0);

	wc_snap *s = wc_snap_build(&t->set, NULL);
	assert_non_null(s);
	assert_true(s->root_ok);
	const wc_file *fi = wc_snap_find(s, "assets/app-3f2a9c1b.js");
	assert_non_null(fi);
	assert_true(fi->immutable);
	assert_int_equal(fi->have, ALL);
	assert_non_null(fi->rep[WC_BR].buf);
	assert_memory_equal(fi->rep[WC_BR].buf->data, "BR", 2);
	assert_non_null(strstr(fi->rep[WC_GZIP].etag, "-gz\""));
	assert_string_not_equal(fi->rep[WC_IDENTITY].etag,
	                        fi->rep[WC_GZIP].etag);
	assert_null(wc_snap_find(s, "assets/app-3f2a9c1b.js.gz"));
	fi = wc_snap_find(s, "assets/old.css");
	assert_non_null(fi);
	assert_int_equal(fi->have, 0);
	assert_false(fi->immutable);
	assert_non_null(wc_snap_find(s, "data.tar.gz"));
	assert_non_null(wc_snap_find(s, "same.html")); /* a link inside */
	assert_null(wc_snap_find(s, "leak.txt"));      /* a link out */
	assert_null(wc_snap_find(s, "dir-out/secret"));
	assert_null(wc_snap_find(s, ".env"));
	assert_null(wc_snap_find(s, ".git/config"));
	assert_null(wc_snap_find(s, "../outside/secret"));
	fi = wc_snap_find(s, "index.html");
	assert_non_null(fi);
	assert_false(fi->immutable);
	assert_string_equal(fi->type, "text/html; charset=utf-8");

	/* A rescan shares what did not change and reads what did. */
	const wc_buf *kept = fi->rep[WC_IDENTITY].buf;
	put(t, "assets/old.css", "b{}");
	age(t, "assets/old.css", -5);
	wc_snap *s2 = wc_snap_build(&t->set, s);
	assert_ptr_equal(wc_snap_find(s2, "index.html")->rep[0].buf, kept);
	assert_int_equal(atomic_load(&kept->refs), 2);
	fi = wc_snap_find(s2, "assets/old.css");
	assert_memory_equal(fi->rep[0].buf->data, "b{}", 3);
	wc_snap_free(s);
	assert_int_equal(atomic_load(&kept->refs), 1);
	wc_snap_free(s2);
}

static void test_scan_cache_max(void **state)
{
	struct tree *t = *state;
	put(t, "index.html", "0123456789");
	put(t, "z.txt", "0123456789");
	t->set.cache_max = 15; /* the first in name order fits */
	wc_snap *s = wc_snap_build(&t->set, NULL);
	const wc_file *a = wc_snap_find(s, "index.html");
	const wc_file *z = wc_snap_find(s, "z.txt");
	assert_non_null(a->rep[0].buf);
	assert_null(z->rep[0].buf);
	assert_int_equal(s->cached, 10);
	/* the rest comes from disk */
	const char *data;
	size_t len;
	char *owned;
	assert_int_equal(wc_rep_body(&z->rep[0], &data, &len, &owned), VBX_OK);
	assert_non_null(owned);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "0123456789", 10);
	free(owned);
	assert_int_equal(wc_rep_body(&a->rep[0], &data, &len, &owned), VBX_OK);
	assert_null(owned);
	/* gone since the scan */
	char p[256];
	snprintf(p, sizeof(p), "%s/z.txt", t->root);
	unlink(p);
	assert_int_equal(wc_rep_body(&z->rep[0], &data, &len, &owned),
	                 VBX_ENOTFOUND);
	wc_snap_free(s);
}

static void test_scan_missing_root(void **state)
{
	struct tree *t = *state;
	free(t->set.root);
	t->set.root = strdup("/nonexistent/vibebox/www");
	wc_snap *s = wc_snap_build(&t->set, NULL);
	assert_non_null(s);
	assert_false(s->root_ok);
	assert_non_null(strstr(s->problem, "/nonexistent/vibebox/www"));
	assert_int_equal(s->nfiles, 0);
	assert_null(wc_snap_find(s, "index.html"));
	wc_snap_free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accept_encoding),
	        cmocka_unit_test(test_accept_encoding_broken),
	        cmocka_unit_test(test_if_none_match),
	        cmocka_unit_test(test_if_none_match_broken),
	        cmocka_unit_test(test_paths),
	        cmocka_unit_test(test_hashed_and_types),
	        cmocka_unit_test(test_origin_and_csp),
	        T(test_scan),
	        T(test_scan_cache_max),
	        T(test_scan_missing_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
