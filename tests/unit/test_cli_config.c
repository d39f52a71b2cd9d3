/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_config.c - the credentials file of the vibebox CLI
 * (cli/config.c): parsing, broken files, the path, and the file's safety:
 * mode 0600 in a 0700 directory, an atomic replace, and a refusal to use
 * a file other users can read.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static const char good[] = "# a comment\n"
                           "\n"
                           "server = http://127.0.0.1:3000\r\n"
                           "  email=dev@example.com  \n"
                           "access_token =\taaa.bbb.ccc\n"
                           "refresh_token = r1\n"
                           "future_key = whatever it is\n";

static int parse(const char *text, cli_creds *c, char *err, size_t len)
{
	return cli_creds_parse(text, strlen(text), c, err, len);
}

static void test_parse(void **state)
{
	cli_creds c;
	char err[160] = "";
	assert_int_equal(parse(good, &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "http://127.0.0.1:3000");
	assert_string_equal(c.email, "dev@example.com");
	assert_string_equal(c.access, "aaa.bbb.ccc");
	assert_string_equal(c.refresh, "r1");
	/* the last line may lack its newline; refresh is optional */
	assert_int_equal(parse("server=http://h\naccess_token=vbx_1", &c, err,
	                       sizeof(err)),
	                 0);
	assert_string_equal(c.access, "vbx_1");
	assert_string_equal(c.refresh, "");
}

static void expect_broken(const char *text, size_t len, const char *needle)
{
	cli_creds c;
	char err[160] = "";
	if (cli_creds_parse(text, len, &c, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", text);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

#define BROKEN(text, needle) expect_broken(text, sizeof(text) - 1, needle)

static void test_broken(void **state)
{
	BROKEN("", "server is missing");
	BROKEN("server = http://h\n", "access_token is missing");
	BROKEN("access_token = a\n", "server is missing");
	BROKEN("server http://h\naccess_token = a\n", "line 1: expected");
	BROKEN("server = http://h\nserver = http://i\naccess_token = a\n",
	       "line 2: server is set twice");
	BROKEN("server = http://h\naccess_token = a b\n",
	       "line 2: access_token has a space");
	BROKEN("server = http://h\naccess_token = \n", "line 2: access_token");
	BROKEN("server = http://h\naccess_token = a\0b\n",
	       "line 2: control character 0x00");
	BROKEN("server = http://h\naccess_token = a\x1b[2J\n",
	       "line 2: control character 0x1b");
	BROKEN("server = http://h\naccess_token = a\x7f\n",
	       "control character 0x7f");
	BROKEN("server = http://h\naccess_token = \xc3\xa9\n",
	       "line 2: access_token");
}

static void test_too_long(void **state)
{
	size_t n = CLI_TOKEN_MAX + 64;
	char *text = malloc(n + 64);
	assert_non_null(text);
	int k = sprintf(text, "server = http://h\naccess_token = ");
	memset(text + k, 'a', n);
	text[k + n] = '\0';
	expect_broken(text, strlen(text), "too long");
	free(text);
	/* a huge file is refused before it is parsed */
	size_t big = 70000;
	char *huge = calloc(1, big);
	assert_non_null(huge);
	memset(huge, '#', big - 1);
	expect_broken(huge, big - 1, "larger than");
	free(huge);
}

static void test_format_roundtrip(void **state)
{
	cli_creds a = {0}, b;
	char err[160];
	snprintf(a.server, sizeof(a.server), "https://vibebox.example");
	snprintf(a.email, sizeof(a.email), "a@b.c");
	snprintf(a.access, sizeof(a.access), "x.y.z");
	snprintf(a.refresh, sizeof(a.refresh), "refresh-1");
	char *text = cli_creds_format(&a);
	assert_non_null(text);
	assert_int_equal(parse(text, &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

static void test_token_ok(void **state)
{
	assert_true(cli_token_ok("vbx_abc", 16));
	assert_false(cli_token_ok("", 16));
	assert_false(cli_token_ok("a b", 16));
	assert_false(cli_token_ok("a\r\nX-Evil: 1", 64));
	assert_false(cli_token_ok("0123456789abcdef", 16));
}

/* ---- files ---- */

typedef struct dir {
	char root[64];
	char path[256];
} dir;

static int setup_dir(void **state)
{
	dir *d = calloc(1, sizeof(*d));
	snprintf(d->root, sizeof(d->root), "/tmp/vbx-cli-test-XXXXXX");
	if (!d || !mkdtemp(d->root))
		return -1;
	snprintf(d->path, sizeof(d->path), "%s/cfg/vibebox/credentials",
	         d->root);
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	dir *d = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	int rc = system(cmd);
	free(d);
	return rc;
}

static cli_creds sample(void)
{
	cli_creds c = {0};
	snprintf(c.server, sizeof(c.server), "http://127.0.0.1:3000");
	snprintf(c.email, sizeof(c.email), "dev@example.com");
	snprintf(c.access, sizeof(c.access), "acc");
	snprintf(c.refresh, sizeof(c.refresh), "ref");
	return c;
}

static void test_save_load(void **state)
{
	dir *d = *state;
	cli_creds c = sample(), back;
	struct stat st;
	mode_t old = umask(0); /* a careless umask must not matter */
	assert_int_equal(cli_creds_save(d->path, &c), CLI_OK);
	umask(old);
	assert_int_equal(stat(d->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char parent[256];
	snprintf(parent, sizeof(parent), "%s/cfg/vibebox", d->root);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_OK);
	assert_memory_equal(&c, &back, sizeof(c));

	/* replaced, not appended; no temporary file stays behind */
	snprintf(c.access, sizeof(c.access), "acc2");
	assert_int_equal(cli_creds_save(d->path, &c), CLI_OK);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_OK);
	assert_string_equal(back.access, "acc2");
	DIR *dh = opendir(parent);
	assert_non_null(dh);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(dh)))
		files += e->d_name[0] != '.';
	closedir(dh);
	assert_int_equal(files, 1);

	assert_int_equal(cli_creds_remove(d->path), CLI_OK);
	assert_int_equal(cli_creds_load(d->path, &back), 1);
	assert_int_equal(cli_creds_remove(d->path), CLI_OK);
}

static void test_refuse_shared(void **state)
{
	dir *d = *state;
	cli_creds c = sample(), back;
	assert_int_equal(cli_creds_save(d->path, &c), CLI_OK);
	assert_int_equal(chmod(d->path, 0644), 0);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_EAUTH);
	assert_int_equal(chmod(d->path, 0640), 0);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_EAUTH);
	assert_int_equal(chmod(d->path, 0400), 0);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_OK);
	/* saving again makes it private */
	assert_int_equal(chmod(d->path, 0644), 0);
	assert_int_equal(cli_creds_save(d->path, &c), CLI_OK);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_OK);
}

static void test_refuse_broken_files(void **state)
{
	dir *d = *state;
	cli_creds back;
	char sub[300];
	/* a directory where the file should be */
	snprintf(sub, sizeof(sub), "%s/cfg", d->root);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/cfg/vibebox", d->root);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(d->path, 0700), 0);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_EAUTH);
	assert_int_equal(rmdir(d->path), 0);
	/* garbage */
	FILE *f = fopen(d->path, "w");
	assert_non_null(f);
	fputs("this is not a credentials file\n", f);
	fclose(f);
	assert_int_equal(chmod(d->path, 0600), 0);
	assert_int_equal(cli_creds_load(d->path, &back), CLI_EAUTH);
}

static void test_path(void **state)
{
	char p[256];
	setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
	assert_int_equal(cli_creds_path(p, sizeof(p)), 0);
	assert_string_equal(p, "/x/cfg/vibebox/credentials");
	/* a relative XDG_CONFIG_HOME is ignored, as the spec says */
	setenv("XDG_CONFIG_HOME", "rel", 1);
	setenv("HOME", "/home/dev", 1);
	assert_int_equal(cli_creds_path(p, sizeof(p)), 0);
	assert_string_equal(p, "/home/dev/.config/vibebox/credentials");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	assert_int_equal(cli_creds_path(p, sizeof(p)), -1);
	assert_int_equal(cli_creds_path(p, 8), -1);
}

static void test_lock(void **state)
{
	dir *d = *state;
	int fd = cli_creds_lock(d->path);
	assert_true(fd >= 0);
	cli_creds_unlock(fd);
	cli_creds_unlock(-1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_broken),
	        cmocka_unit_test(test_too_long),
	        cmocka_unit_test(test_format_roundtrip),
	        cmocka_unit_test(test_token_ok),
	        cmocka_unit_test_setup_teardown(test_save_load, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_refuse_shared, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_refuse_broken_files,
	                                        setup_dir, teardown_dir),
	        cmocka_unit_test(test_path),
	        cmocka_unit_test_setup_teardown(test_lock, setup_dir,
	                                        teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
