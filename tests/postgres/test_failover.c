/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_failover.c - postgres-store's reading of a conninfo's host list
 * (key=value, URI, bare database name; lists libpq would refuse; broken
 * text), its split of a host list into one server per attempt, and its sorting
 * of SQLSTATEs into "the server went away", "the server is read-only" and the
 * rest (failover.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pg.h"

/* Parse ci, expecting VBX_OK; the result. */
static pgs_hosts parsed_ok(const char *ci)
{
	pgs_hosts h;
	char err[256] = "untouched";

	if (pgs_hosts_parse(ci, &h, err, sizeof(err)) != VBX_OK)
		fail_msg("\"%s\" was refused: %s", ci ? ci : "(null)", err);
	assert_string_equal(err, "");
	return h;
}

/* Parse ci, expecting VBX_EINVAL with a message containing want. */
static void refused(const char *ci, const char *want)
{
	pgs_hosts h;
	char err[256] = "";

	assert_int_equal(pgs_hosts_parse(ci, &h, err, sizeof(err)), VBX_EINVAL);
	if (!strstr(err, want))
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", ci, err, want);
	assert_null(strchr(err, '\n'));
}

static void test_one_host(void **state)
{
	(void)state;
	assert_int_equal(parsed_ok(NULL).count, 1);
	assert_int_equal(parsed_ok("vibebox").count,
	                 1); /* a bare database name */
	assert_int_equal(parsed_ok("dbname=vibebox").count, 1);
	assert_int_equal(parsed_ok("host=/run/postgresql dbname=vibebox").count,
	                 1);
	assert_int_equal(parsed_ok("postgresql:///vibebox").count, 1);
	assert_int_equal(parsed_ok("postgres://db.example:5433/vibebox").count,
	                 1);
	assert_false(parsed_ok("host=a").read_write);
	assert_string_equal(parsed_ok("host=a").attrs, "");
}

static void test_several_hosts(void **state)
{
	(void)state;
	pgs_hosts h =
	        parsed_ok("host=127.0.0.1,127.0.0.1 port=5432,5433 "
	                  "dbname=vibebox target_session_attrs=read-write");
	assert_int_equal(h.count, 2);
	assert_true(h.read_write);
	assert_string_equal(h.attrs, "read-write");

	h = parsed_ok("postgresql://h1:5432,h2:5433,h3/vibebox"
	              "?target_session_attrs=primary");
	assert_int_equal(h.count, 3);
	assert_true(h.read_write);

	h = parsed_ok("host=a,b target_session_attrs=any");
	assert_int_equal(h.count, 2);
	assert_false(h.read_write);
	assert_string_equal(h.attrs, "any");

	h = parsed_ok("host=a,b target_session_attrs=prefer-standby");
	assert_false(h.read_write);
	assert_int_equal(parsed_ok("host=a,b").count, 2);
	assert_false(parsed_ok("host=a,b").read_write);
	/* an empty element is libpq's default host */
	assert_int_equal(parsed_ok("host=a,,b").count, 3);
	assert_int_equal(parsed_ok("hostaddr=127.0.0.1,127.0.0.2").count, 2);
	assert_int_equal(parsed_ok("host=a,b hostaddr=10.0.0.1,10.0.0.2").count,
	                 2);
	/* one port for all the hosts */
	assert_int_equal(parsed_ok("host=a,b,c port=5432").count, 3);
	/* the URI form's ports come with their hosts */
	assert_int_equal(parsed_ok("postgresql://a:1,b/db").count, 2);
}

static void test_lists_libpq_refuses(void **state)
{
	(void)state;
	refused("host=a,b,c port=1,2", "2 ports for 3 hosts");
	refused("host=a port=1,2", "2 ports for 1 hosts");
	refused("host=a,b hostaddr=10.0.0.1", "2 host names but 1 hostaddr");
	refused("host=a hostaddr=10.0.0.1,10.0.0.2",
	        "1 host names but 2 hostaddr");
}

static void test_broken_text(void **state)
{
	(void)state;
	refused("host='unterminated", "unterminated quoted string");
	refused("no_such_option=1", "invalid connection option");
	refused("host=a dbname", "missing \"=\"");
	refused("postgresql://[::1/db", "IPv6");
	refused("postgresql://a/db?no_such=1", "invalid URI query parameter");
	refused("postgresql://a:1,b/db?target_session_attrs=read-write&x",
	        "missing key/value separator");
}

static void test_short_error_buffer(void **state)
{
	(void)state;
	pgs_hosts h;
	char err[9];

	memset(err, 'X', sizeof(err));
	assert_int_equal(pgs_hosts_parse("host=a,b port=1,2,3", &h, err, 8),
	                 VBX_EINVAL);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'X');
	/* no room at all: still refused, nothing written */
	assert_int_equal(pgs_hosts_parse("no_such_option=1", &h, err, 0),
	                 VBX_EINVAL);
	assert_int_equal(err[8], 'X');
}

/* The value of key in server i's arrays; NULL when absent. */
static const char *target_val(const pgs_targets *t, int i, const char *key)
{
	const char *v = NULL;

	for (int k = 0; t->keys[k]; k++)
		if (strcmp(t->keys[k], key) == 0 && t->vals[i][k])
			v = t->vals[i][k]; /* the last one wins, as in libpq */
	return v;
}

static void test_targets(void **state)
{
	(void)state;
	pgs_targets t;

	assert_int_equal(pgs_targets_make("host=a dbname=x", &t), VBX_OK);
	assert_int_equal(t.count, 0); /* one server: the conninfo as is */
	pgs_targets_free(&t);
	assert_int_equal(pgs_targets_make("broken='", &t), VBX_OK);
	assert_int_equal(t.count, 0);

	assert_int_equal(pgs_targets_make("host=a,b,c port=1,2,3 dbname=x "
	                                  "user=u connect_timeout=1 "
	                                  "target_session_attrs=read-write",
	                                  &t),
	                 VBX_OK);
	assert_int_equal(t.count, 3);
	assert_int_equal(t.per_host_ms, 2000); /* libpq's floor */
	const char *hosts[] = {"a", "b", "c"}, *ports[] = {"1", "2", "3"};
	for (int i = 0; i < 3; i++) {
		assert_string_equal(target_val(&t, i, "host"), hosts[i]);
		assert_string_equal(target_val(&t, i, "port"), ports[i]);
		assert_null(target_val(&t, i, "hostaddr"));
		assert_string_equal(target_val(&t, i, "dbname"), "x");
		assert_string_equal(target_val(&t, i, "user"), "u");
		assert_string_equal(target_val(&t, i, "target_session_attrs"),
		                    "read-write");
		assert_string_equal(target_val(&t, i, "application_name"),
		                    "vibeboxd");
	}
	pgs_targets_free(&t);

	assert_int_equal(pgs_targets_make("postgresql://a,b:7/db"
	                                  "?application_name=mine",
	                                  &t),
	                 VBX_OK);
	assert_int_equal(t.count, 2);
	assert_int_equal(t.per_host_ms, 0);
	assert_string_equal(target_val(&t, 0, "host"), "a");
	assert_string_equal(target_val(&t, 1, "host"), "b");
	assert_string_equal(target_val(&t, 0, "port"), "");
	assert_string_equal(target_val(&t, 1, "port"), "7");
	assert_string_equal(target_val(&t, 1, "application_name"), "mine");
	pgs_targets_free(&t);

	/* one port for all; hostaddr with the names */
	assert_int_equal(pgs_targets_make("host=a,b hostaddr=10.0.0.1,10.0.0.2 "
	                                  "port=5432",
	                                  &t),
	                 VBX_OK);
	assert_string_equal(target_val(&t, 1, "hostaddr"), "10.0.0.2");
	assert_string_equal(target_val(&t, 1, "port"), "5432");
	pgs_targets_free(&t);
}

static void test_states(void **state)
{
	(void)state;
	const char *gone[] = {"08000", "08003", "08006", "08P01",
	                      "57P01", "57P02", "57P03"};
	const char *other[] = {"23505", "40001", "57014", "57P04",
	                       "25001", "0A000", "",      "0"};

	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_int_equal(pgs_state_kind_of(gone[i]), PGS_STATE_GONE);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (pgs_state_kind_of(other[i]) != PGS_STATE_OTHER)
			fail_msg("\"%s\" is not OTHER", other[i]);
	assert_int_equal(pgs_state_kind_of("25006"), PGS_STATE_READ_ONLY);
	assert_int_equal(pgs_state_kind_of(NULL), PGS_STATE_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_host),
	        cmocka_unit_test(test_several_hosts),
	        cmocka_unit_test(test_lists_libpq_refuses),
	        cmocka_unit_test(test_broken_text),
	        cmocka_unit_test(test_short_error_buffer),
	        cmocka_unit_test(test_targets),
	        cmocka_unit_test(test_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
