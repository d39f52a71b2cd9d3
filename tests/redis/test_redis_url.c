/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_redis_url.c - the redis-cache url and sentinel-address parser
 * (plugins/redis-cache/url.c): what it accepts, and broken input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rc.h"

static void ok(const char *s, rc_url *u)
{
	char err[RC_ERR_MAX] = "";

	if (rc_url_parse(s, u, err, sizeof(err)) != VBX_OK)
		fail_msg("%s: refused: %s", s, err);
}

static void bad(const char *s, const char *words)
{
	char err[RC_ERR_MAX] = "";
	rc_url u;

	if (rc_url_parse(s, &u, err, sizeof(err)) != VBX_EINVAL)
		fail_msg("%s: accepted", s ? s : "(null)");
	if (!strstr(err, words))
		fail_msg("%s: expected \"%s\" in \"%s\"", s ? s : "(null)",
		         words, err);
}

static void test_tcp(void **state)
{
	rc_url u;

	ok("redis://127.0.0.1:6379/0", &u);
	assert_string_equal(u.addr.host, "127.0.0.1");
	assert_int_equal(u.addr.port, 6379);
	assert_int_equal(u.db, 0);
	assert_false(u.tls);
	assert_string_equal(u.user, "");
	ok("redis://cache.example.com", &u);
	assert_string_equal(u.addr.host, "cache.example.com");
	assert_int_equal(u.addr.port, 6379);
	ok("redis://app@10.0.0.5:7000/3", &u);
	assert_string_equal(u.user, "app");
	assert_int_equal(u.addr.port, 7000);
	assert_int_equal(u.db, 3);
	ok("rediss://[::1]:6380/", &u);
	assert_true(u.tls);
	assert_string_equal(u.addr.host, "::1");
	assert_int_equal(u.addr.port, 6380);
	ok("rediss://[::1]", &u);
	assert_int_equal(u.addr.port, 6379);
}

static void test_unix(void **state)
{
	rc_url u;

	ok("unix:///run/redis/redis.sock", &u);
	assert_string_equal(u.addr.path, "/run/redis/redis.sock");
	assert_string_equal(u.addr.host, "");
	assert_int_equal(u.db, 0);
	ok("unix:///run/redis.sock?db=5", &u);
	assert_string_equal(u.addr.path, "/run/redis.sock");
	assert_int_equal(u.db, 5);
}

static void test_broken(void **state)
{
	char longpath[200] = "unix:///";
	char longhost[300] = "redis://";

	memset(longpath + 8, 'p', 150);
	memset(longhost + 8, 'h', 280);
	bad(NULL, "no url");
	bad("", "expected redis://");
	bad("http://x", "expected redis://");
	bad("redis://", "no host");
	bad("redis://:6379", "no host");
	bad("redis://u:pw@h:1/0", "password");
	bad("redis://:pw@h", "password");
	bad("redis://@h", "empty user");
	bad("redis://h:0", "bad port");
	bad("redis://h:65536", "bad port");
	bad("redis://h:12a", "bad port");
	bad("redis://h:", "bad port");
	bad("redis://h:99999999999999", "bad port");
	bad("redis://h/x", "bad database");
	bad("redis://h/-1", "bad database");
	bad("redis://h/1/2", "bad database");
	bad("redis://h/0?x=1", "query");
	bad("redis://h#f", "query");
	bad("redis://h o", "bad character");
	bad("redis://h\x01", "bad character");
	bad("redis://[::1", "unclosed");
	bad("redis://[::1]x", "expected ':'");
	bad("redis://[zz]:1", "IPv6");
	bad("redis://[]:1", "no host");
	bad(longhost, "longer than");
	bad("unix://relative.sock", "absolute");
	bad("unix://", "absolute");
	bad(longpath, "longer than");
	bad("unix:///s?db=", "bad ?db=");
	bad("unix:///s?db=x", "bad ?db=");
	bad("unix:///s?db=99999999", "bad ?db=");
	bad("unix:///s?foo=1", "unknown query");
	bad("unix:///s\x7f", "control");
}

static void test_hostport(void **state)
{
	rc_addr a;
	char err[RC_ERR_MAX];

	assert_int_equal(
	        rc_hostport_parse("127.0.0.1:26379", &a, err, sizeof(err)),
	        VBX_OK);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 26379);
	assert_int_equal(rc_hostport_parse("[::1]:26379", &a, err, sizeof(err)),
	                 VBX_OK);
	assert_string_equal(a.host, "::1");
	assert_int_equal(rc_hostport_parse("127.0.0.1", &a, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_non_null(strstr(err, "no port"));
	assert_int_equal(rc_hostport_parse("", &a, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_int_equal(rc_hostport_parse(NULL, &a, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_int_equal(rc_hostport_parse("h:1:2", &a, err, sizeof(err)),
	                 VBX_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcp),
	        cmocka_unit_test(test_unix),
	        cmocka_unit_test(test_broken),
	        cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
