/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_passwd.c - docker-runtime's passwd.c: the tar archive the
 * engine's archive endpoint sends (a file, a symlink, pax and GNU records
 * before them) and the passwd file in it, good and broken; a user's home
 * and ids; the one-directory archive workspace.c uploads. Links
 * plugins/docker-runtime/passwd.c alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"

/* ---- building archives ---- */

typedef struct tarbuf {
	char b[8192];
	size_t n;
} tarbuf;

/* A ustar header and its data, padded to whole blocks. */
static void add(tarbuf *t, char type, const char *name, const char *data,
                size_t len, const char *link)
{
	unsigned char *h = (unsigned char *)t->b + t->n;
	unsigned sum = 0;
	assert_true(t->n + 512 + (len + 511) / 512 * 512 <= sizeof(t->b));
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011zo", len);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link) < 100 ? strlen(link) : 100);
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	t->n += 512;
	memset(t->b + t->n, 0, (len + 511) / 512 * 512);
	if (len)
		memcpy(t->b + t->n, data, len);
	t->n += (len + 511) / 512 * 512;
}

static void end(tarbuf *t)
{
	memset(t->b + t->n, 0, 1024);
	t->n += 1024;
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/ash\n"
                             "dev:x:1000:1000:Dev:/home/dev:/bin/bash\n";

/* ---- tar ---- */

static void test_tar_file(void **state)
{
	tarbuf t = {0};
	dkr_tar_member m;
	add(&t, '0', "passwd", passwd, strlen(passwd), NULL);
	end(&t);
	assert_int_equal(dkr_tar_first(t.b, t.n, &m), VBX_OK);
	assert_int_equal(m.type, '0');
	assert_int_equal(m.len, strlen(passwd));
	assert_memory_equal(m.data, passwd, m.len);
	/* without the end-of-archive blocks, as a cut stream might be */
	assert_int_equal(dkr_tar_first(t.b, 512 + 512, &m), VBX_OK);
	/* an old (v7) regular file has type NUL */
	tarbuf v7 = {0};
	add(&v7, '\0', "passwd", passwd, strlen(passwd), NULL);
	assert_int_equal(dkr_tar_first(v7.b, v7.n, &m), VBX_OK);
	assert_int_equal(m.type, '0');
}

static void test_tar_symlink_and_records(void **state)
{
	static const char pax[] = "30 path=etc/a-very-long-name\n";
	tarbuf t = {0};
	dkr_tar_member m;
	add(&t, 'x', "PaxHeaders/passwd", pax, strlen(pax), NULL);
	add(&t, 'L', "././@LongLink", "etc/passwd", 11, NULL);
	add(&t, '5', "etc/", NULL, 0, NULL); /* a directory: skipped */
	add(&t, '2', "passwd", NULL, 0, "../usr/share/base-passwd/passwd");
	end(&t);
	assert_int_equal(dkr_tar_first(t.b, t.n, &m), VBX_OK);
	assert_int_equal(m.type, '2');
	assert_string_equal(m.link, "../usr/share/base-passwd/passwd");
	/* a target of all 100 bytes has no NUL in the header */
	char longlink[101];
	memset(longlink, 'a', 100);
	longlink[0] = '/';
	longlink[100] = '\0';
	tarbuf l = {0};
	add(&l, '2', "passwd", NULL, 0, longlink);
	assert_int_equal(dkr_tar_first(l.b, l.n, &m), VBX_OK);
	assert_int_equal(strlen(m.link), 100);
}

static void test_tar_broken(void **state)
{
	tarbuf t = {0};
	dkr_tar_member m;
	add(&t, '0', "passwd", passwd, strlen(passwd), NULL);
	end(&t);
	char copy[sizeof(t.b)];

	/* empty, zeros only, a short header */
	assert_int_equal(dkr_tar_first("", 0, &m), VBX_ENOTFOUND);
	assert_int_equal(dkr_tar_first(t.b + t.n - 1024, 1024, &m),
	                 VBX_ENOTFOUND);
	assert_int_equal(dkr_tar_first(t.b, 511, &m), VBX_EINVAL);
	/* the data cut short */
	assert_int_equal(dkr_tar_first(t.b, 512 + 10, &m), VBX_EINVAL);
	/* a changed byte breaks the checksum */
	memcpy(copy, t.b, t.n);
	copy[3] ^= 1;
	assert_int_equal(dkr_tar_first(copy, t.n, &m), VBX_EINVAL);
	/* a size that is not octal, or past the end, with a right checksum */
	static const char *const sizes[] = {"0000000009x", "77777777777",
	                                    "           ", "-0000000001"};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		tarbuf b = {0};
		add(&b, '0', "passwd", passwd, strlen(passwd), NULL);
		unsigned char *h = (unsigned char *)b.b;
		unsigned sum = 0;
		memcpy(h + 124, sizes[i], 11);
		memset(h + 148, ' ', 8);
		for (int k = 0; k < 512; k++)
			sum += h[k];
		snprintf((char *)h + 148, 8, "%06o", sum);
		if (dkr_tar_first(b.b, b.n, &m) != VBX_EINVAL)
			fail_msg("size \"%s\" accepted", sizes[i]);
	}
	/* a skipped record whose data runs past the end */
	tarbuf x = {0};
	add(&x, 'x', "PaxHeaders/passwd", "12 a=bcdefg\n", 12, NULL);
	assert_int_equal(dkr_tar_first(x.b, 512 + 100, &m), VBX_EINVAL);
	/* a symlink without a target */
	tarbuf s = {0};
	add(&s, '2', "passwd", NULL, 0, NULL);
	assert_int_equal(dkr_tar_first(s.b, s.n, &m), VBX_EINVAL);
	/* not a tar archive at all */
	char junk[1024];
	memset(junk, 'A', sizeof(junk));
	assert_int_equal(dkr_tar_first(junk, sizeof(junk), &m), VBX_EINVAL);
}

/* ---- passwd ---- */

static void expect_shell(const char *text, const char *user, const char *want)
{
	char out[DKR_SHELL_MAX] = "x";
	int rc = dkr_passwd_shell(text, strlen(text), user, out, sizeof(out));
	if (want && (rc != VBX_OK || strcmp(out, want) != 0))
		fail_msg("%s in \"%s\": rc %d \"%s\", wanted %s", user, text,
		         rc, out, want);
	if (!want && (rc != VBX_ENOTFOUND || out[0]))
		fail_msg("%s in \"%s\": rc %d \"%s\", wanted none", user, text,
		         rc, out);
}

static void test_passwd_good(void **state)
{
	expect_shell(passwd, "root", "/bin/ash");
	expect_shell(passwd, "0", "/bin/ash");
	expect_shell(passwd, "dev", "/bin/bash");
	expect_shell(passwd, "1000", "/bin/bash");
	expect_shell(passwd, "1000:1000", "/bin/bash");
	expect_shell(passwd, "dev:staff", "/bin/bash");
	/* comments, blank lines, CRLF, no final newline, more fields */
	expect_shell("# users\n\nroot:x:0:0::/root:/bin/zsh\r\n", "root",
	             "/bin/zsh");
	expect_shell("a:x:1:1::/:/bin/sh\nroot:x:0:0::/root:/bin/dash", "root",
	             "/bin/dash");
	expect_shell("root:x:0:0::/root:/bin/sh:extra\n", "root", "/bin/sh");
	/* the first entry decides, by name before a later uid match */
	expect_shell("root:x:0:0::/:/bin/a\nroot:x:0:0::/:/bin/b\n", "root",
	             "/bin/a");
	expect_shell("toor:x:0:0::/:/bin/t\nroot:x:0:0::/:/bin/r\n", "0",
	             "/bin/t");
}

static void test_passwd_none(void **state)
{
	static const struct {
		const char *text, *user;
	} none[] = {
	        {passwd, "nobody"},
	        {passwd, "1001"},
	        {passwd, ""},
	        {passwd, ":1000"},
	        {passwd, "roo"},
	        {passwd, "root2"},
	        {"", "root"},
	        /* no-login shells, none, relative, with spaces or control
	         * bytes */
	        {"root:x:0:0::/root:/usr/sbin/nologin\n", "root"},
	        {"root:x:0:0::/root:/bin/false\n", "root"},
	        {"root:x:0:0::/root:\n", "root"},
	        {"root:x:0:0::/root\n", "root"},
	        {"root:x:0:0::/root:bin/sh\n", "root"},
	        {"root:x:0:0::/root:/bin/my sh\n", "root"},
	        {"root:x:0:0::/root:/bin/\x1b[2Jsh\n", "root"},
	        {"root:x:0:0::/root:/\n", "root"},
	        /* a name is not matched against uids, nor anything against a
	         * commented-out entry */
	        {"x:x:dev:0::/:/bin/sh\n", "dev"},
	        {"#root:x:0:0::/root:/bin/sh\n", "root"},
	        {"# root:x:0:0::/root:/bin/sh\n", "0"},
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(*none); i++)
		expect_shell(none[i].text, none[i].user, NULL);
}

static void test_passwd_broken(void **state)
{
	char out[16], big[DKR_SHELL_MAX + 64];
	/* a shell longer than out */
	const char *t = "root:x:0:0::/root:/usr/local/bin/a-long-shell\n";
	assert_int_equal(
	        dkr_passwd_shell(t, strlen(t), "root", out, sizeof(out)),
	        VBX_ENOTFOUND);
	assert_string_equal(out, "");
	assert_int_equal(dkr_passwd_shell(t, strlen(t), "root", out, 0),
	                 VBX_ENOTFOUND);
	/* NUL bytes inside the text: the length counts, not the NUL */
	static const char nul[] = "a\0b:x:1:1::/:/bin/a\nroot:x:0:0::/:/bin/r";
	assert_int_equal(dkr_passwd_shell(nul, sizeof(nul) - 1, "root", out,
	                                  sizeof(out)),
	                 VBX_OK);
	assert_string_equal(out, "/bin/r");
	static const char nul2[] = "root:x:0:0::/:/bin/r\0oops\n";
	assert_int_equal(dkr_passwd_shell(nul2, sizeof(nul2) - 1, "root", out,
	                                  sizeof(out)),
	                 VBX_ENOTFOUND);
	/* the text ends inside an entry: nothing read past n */
	assert_int_equal(dkr_passwd_shell(passwd, 20, "root", out, sizeof(out)),
	                 VBX_ENOTFOUND);
	/* one line without any newline, longer than any buffer */
	memset(big, 'r', sizeof(big));
	assert_int_equal(
	        dkr_passwd_shell(big, sizeof(big), "root", out, sizeof(out)),
	        VBX_ENOTFOUND);
}

/* ---- the home and ids of a user (workspace.c's mount path) ---- */

static void expect_home(const char *text, const char *user, const char *home,
                        long uid, long gid)
{
	dkr_passwd_entry e;
	int rc = dkr_passwd_home(text, strlen(text), user, &e);
	if (!home) {
		assert_int_equal(rc, VBX_ENOTFOUND);
		assert_string_equal(e.home, "");
		assert_int_equal(e.uid, -1);
		return;
	}
	assert_int_equal(rc, VBX_OK);
	assert_string_equal(e.home, home);
	assert_int_equal(e.uid, uid);
	assert_int_equal(e.gid, gid);
}

static void test_home_good(void **state)
{
	(void)state;
	const char *pw = "root:x:0:0:root:/root:/bin/bash\n"
	                 "# a comment:x:5:5::/nope:/bin/sh\n"
	                 "node:x:1000:1000::/home/node:/bin/sh\r\n"
	                 "node:x:1001:1001::/second:/bin/sh\n"
	                 "app:x:2000:100:App:/srv/app:/usr/sbin/nologin";
	expect_home(pw, "root", "/root", 0, 0);
	expect_home(pw, "0", "/root", 0, 0);
	expect_home(pw, "node", "/home/node", 1000, 1000); /* first, no CR */
	expect_home(pw, "node:node", "/home/node", 1000, 1000);
	expect_home(pw, "1000:1000", "/home/node", 1000, 1000);
	/* a no-login shell still has a home */
	expect_home(pw, "app", "/srv/app", 2000, 100);
}

static void test_home_none(void **state)
{
	(void)state;
	expect_home("root:x:0:0::/root:/bin/sh\n", "dev", NULL, 0, 0);
	expect_home("root:x:0:0::/root:/bin/sh\n", "", NULL, 0, 0);
	expect_home("root:x:0:0::/root:/bin/sh\n", ":root", NULL, 0, 0);
	expect_home("", "root", NULL, 0, 0);
	/* a home that is not a place to mount on */
	expect_home("u:x:1:1::/:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:1:1::relative:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:1:1::/with space:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:1:1:::/bin/sh", "u", NULL, 0, 0);
	/* ids that are not numbers below 2^31 */
	expect_home("u:x:-1:1::/h:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:1:x::/h:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:99999999999:1::/h:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x:4294967296:1::/h:/bin/sh", "u", NULL, 0, 0);
	expect_home("u:x::1::/h:/bin/sh", "u", NULL, 0, 0);
	/* too few fields */
	expect_home("u:x:1:1", "u", NULL, 0, 0);
	expect_home("u", "u", NULL, 0, 0);
}

static void test_home_too_long(void **state)
{
	(void)state;
	char pw[600], home[DKR_WS_PATH_MAX + 2];
	memset(home, 'a', sizeof(home) - 1);
	home[0] = '/';
	home[sizeof(home) - 1] = '\0';
	snprintf(pw, sizeof(pw), "u:x:1:1::%s:/bin/sh\n", home);
	expect_home(pw, "u", NULL, 0, 0);
	home[DKR_WS_PATH_MAX - 1] = '\0'; /* fits with its NUL */
	snprintf(pw, sizeof(pw), "u:x:1:1::%s:/bin/sh\n", home);
	expect_home(pw, "u", home, 1, 1);
}

/* ---- the one-directory archive of the ownership upload ---- */

static void test_tar_dir(void **state)
{
	(void)state;
	char tar[DKR_TAR_DIR_LEN];
	dkr_tar_member m;
	assert_int_equal(dkr_tar_dir("data/ws", 1000, 100, 0755, tar), VBX_OK);
	assert_string_equal(tar, "data/ws/");
	assert_int_equal(tar[156], '5');
	assert_string_equal(tar + 100, "0000755");
	assert_string_equal(tar + 108, "0001750"); /* 1000 */
	assert_string_equal(tar + 116, "0000144"); /* 100 */
	assert_memory_equal(tar + 257,
	                    "ustar\0"
	                    "00",
	                    8);
	/* a valid header (the checksum holds) of a directory, then the end:
	 * the reader skips it and meets the end-of-archive marker */
	assert_int_equal(dkr_tar_first(tar, sizeof(tar), &m), VBX_ENOTFOUND);
	tar[0] ^= 1; /* a changed byte breaks the checksum */
	assert_int_equal(dkr_tar_first(tar, sizeof(tar), &m), VBX_EINVAL);
	for (size_t i = 512; i < sizeof(tar); i++)
		assert_int_equal(tar[i], 0);
}

static void test_tar_dir_refused(void **state)
{
	(void)state;
	char tar[DKR_TAR_DIR_LEN], name[120];
	assert_int_equal(dkr_tar_dir("", 1, 1, 0755, tar), VBX_EINVAL);
	assert_int_equal(dkr_tar_dir("/abs", 1, 1, 0755, tar), VBX_EINVAL);
	assert_int_equal(dkr_tar_dir("slash/", 1, 1, 0755, tar), VBX_EINVAL);
	assert_int_equal(dkr_tar_dir("a", -1, 1, 0755, tar), VBX_EINVAL);
	assert_int_equal(dkr_tar_dir("a", 1, 010000000, 0755, tar), VBX_EINVAL);
	memset(name, 'n', 99);
	name[99] = '\0';
	assert_int_equal(dkr_tar_dir(name, 1, 1, 0755, tar), VBX_EINVAL);
	name[98] = '\0';
	assert_int_equal(dkr_tar_dir(name, 1, 1, 0755, tar), VBX_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tar_file),
	        cmocka_unit_test(test_tar_symlink_and_records),
	        cmocka_unit_test(test_tar_broken),
	        cmocka_unit_test(test_passwd_good),
	        cmocka_unit_test(test_passwd_none),
	        cmocka_unit_test(test_passwd_broken),
	        cmocka_unit_test(test_home_good),
	        cmocka_unit_test(test_home_none),
	        cmocka_unit_test(test_home_too_long),
	        cmocka_unit_test(test_tar_dir),
	        cmocka_unit_test(test_tar_dir_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
