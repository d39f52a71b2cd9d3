/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c - the config file loader (core/config.c) and the typed
 * getters (core/cfgval.c): values, defaults, and every error message with
 * its file and line.
 */
#include "vbx_build.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

#ifndef VBX_HAVE_HOST
/* The getters are called directly here; the table only has to exist. */
const vbx_host vbx__host;
#endif

/* config.c's fallbacks, unless the build sets them for both. */
#ifndef VBX_PLUGIN_DIR
#define VBX_PLUGIN_DIR "/usr/local/lib/vibebox/plugins"
#endif
#ifndef VBX_STATE_DIR
#define VBX_STATE_DIR "/var/lib/vibebox"
#endif

static char tmpdir[] = "/tmp/vbx-test-config-XXXXXX";
static char conf_path[PATH_MAX];

/* ---- helpers ---- */

/* Write text to dir/name; the path in a static buffer of the caller's. */
static const char *write_file(const char *name, const char *text, size_t len,
                              char *path, size_t size)
{
	snprintf(path, size, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load text as tmpdir/vibeboxd.conf. */
static int load(const char *text, vbx__conf **c, vbx__errors *e)
{
	write_file("vibeboxd.conf", text, strlen(text), conf_path,
	           sizeof(conf_path));
	return vbx__conf_load(conf_path, c, e);
}

/* Copy tmpl to out with its first "%s" replaced by a, the next by b. */
static void subst(char *out, size_t size, const char *tmpl, const char *a,
                  const char *b)
{
	const char *args[] = {a, b};
	size_t n = 0;

	for (int i = 0; *tmpl && n + 1 < size;) {
		if (i < 2 && strncmp(tmpl, "%s", 2) == 0) {
			n += (size_t)snprintf(out + n, size - n, "%s",
			                      args[i++]);
			if (n >= size)
				n = size - 1;
			tmpl += 2;
		} else {
			out[n++] = *tmpl++;
		}
	}
	out[n] = '\0';
}

/*
 * Check that e holds exactly the messages given (NULL-terminated), each a
 * template whose "%s" stands for the config file's path.
 */
static void expect_errors(const vbx__errors *e, ...)
{
	va_list ap;
	size_t n = 0;
	const char *tmpl;

	va_start(ap, e);
	while ((tmpl = va_arg(ap, const char *))) {
		char want[2 * PATH_MAX];
		subst(want, sizeof(want), tmpl, conf_path, NULL);
		if (n >= e->count)
			fail_msg("missing error #%zu: %s", n, want);
		assert_string_equal(e->msgs[n], want);
		n++;
	}
	va_end(ap);
	if (n != e->count)
		fail_msg("unexpected error #%zu: %s", n, e->msgs[n]);
}

/* Load text expecting failure with exactly the messages given. */
#define expect_load_errors(text, ...)                                          \
	do {                                                                   \
		vbx__errors e_ = {0};                                          \
		vbx__conf *c_ = (vbx__conf *)1;                                \
		assert_int_equal(load(text, &c_, &e_), VBX_EINVAL);            \
		assert_null(c_);                                               \
		expect_errors(&e_, __VA_ARGS__, NULL);                         \
		vbx__errors_clear(&e_);                                        \
	} while (0)

/* Load text that must be valid. */
static vbx__conf *load_ok(const char *text)
{
	vbx__errors e = {0};
	vbx__conf *c = NULL;
	int rc = load(text, &c, &e);
	for (size_t i = 0; i < e.count; i++)
		print_error("unexpected: %s\n", e.msgs[i]);
	assert_int_equal(rc, VBX_OK);
	assert_int_equal(e.count, 0);
	assert_non_null(c);
	vbx__errors_clear(&e);
	return c;
}

/* The one plugin of a config, its getters' errors going to e. */
static vbx_config *only_block(vbx__conf *c, vbx__errors *e)
{
	assert_int_equal(c->nplugins, 1);
	c->plugins[0].block->errs = e;
	return c->plugins[0].block;
}

/* A config of one plugin "p" on line 1 whose block is `body`, from
 * line 2 on. */
static vbx__conf *load_block(const char *body)
{
	char text[4096];
	snprintf(text, sizeof(text),
	         "plugins = ( { name = \"p\"; config = {\n%s\n}; } );\n", body);
	return load_ok(text);
}

/* vbx_cfg_error without the host table. */
static int cfg_error(const vbx_config *c, const char *key, const char *fmt, ...)
        VBX_PRINTF(3, 4);
static int cfg_error(const vbx_config *c, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vbx__cfg_error(c, key, fmt, ap);
	va_end(ap);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- whole files ---- */

static const char full_conf[] =
        "# every key of the core\n"
        "server: {\n"
        "  listen = [ \"127.0.0.1:8080\", \"[::1]:8081\" ];\n"
        "  workers = 16;\n"
        "  max_body = \"10MiB\";\n"
        "  shutdown_timeout = \"1m\";\n"
        "  drain_delay = 5;\n"
        "  ws_queue = 65536;\n"
        "};\n"
        "log: { level = \"debug\"; format = \"text\"; access = false; };\n"
        "plugin_dir = \"/opt/vibebox/plugins\";\n"
        "state_dir = \"/srv/vibebox\";\n"
        "events: { queue = 4096; overflow = \"block\"; };"
        " health: { timeout = \"1500ms\"; };\n"
        "plugins = (\n"
        "  { name = \"redis-cache\"; config = { url = \"redis://x\"; }; },\n"
        "  { name = \"metrics\"; config = { }; },\n"
        "  { name = \"auth\"; }\n"
        ");\n";

static void test_full_file(void **state)
{
	vbx__conf *c = load_ok(full_conf);

	assert_string_equal(c->path, conf_path);
	assert_int_equal(c->generation, 1);
	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 8080);
	assert_string_equal(c->listen[1].host, "::1");
	assert_int_equal(c->listen[1].port, 8081);
	assert_int_equal(c->workers, 16);
	assert_int_equal(c->shown.n, 2);
	assert_string_equal(c->shown.lines[0], "server.workers = 16 (set)");
	assert_string_equal(c->shown.lines[1], "health.timeout = 1500ms (set)");
	assert_int_equal(c->health_timeout_ms, 1500);
	assert_int_equal(c->max_body, 10 * 1024 * 1024);
	assert_int_equal(c->shutdown_timeout_ms, 60000);
	assert_int_equal(c->drain_delay_ms, 5000);
	assert_int_equal(c->ws_queue, 65536);
	assert_int_equal(c->log_level, VBX_LOG_DEBUG);
	assert_false(c->log_json);
	assert_false(c->log_access);
	assert_int_equal(c->nplugin_path, 1);
	assert_string_equal(c->plugin_path[0], "/opt/vibebox/plugins");
	assert_null(c->plugin_path[1]);
	assert_string_equal(c->plugin_path_key, "plugin_dir");
	assert_string_equal(c->state_dir, "/srv/vibebox");
	assert_int_equal(c->event_queue, 4096);
	assert_int_equal(c->event_overflow, VBX__OVERFLOW_BLOCK);

	assert_int_equal(c->nplugins, 3);
	const char *names[] = {"redis-cache", "metrics", "auth"};
	const int lines[] = {15, 16, 17};
	for (int i = 0; i < 3; i++) {
		vbx__plugin_conf *p = &c->plugins[i];
		assert_string_equal(p->name, names[i]);
		assert_int_equal(p->line, lines[i]);
		assert_int_equal(p->block->line, lines[i]);
		assert_string_equal(p->block->file, conf_path);
		assert_ptr_equal(p->block->head.host, &vbx__host);
		assert_ptr_equal(VBX__HOST(p->block), &vbx__host);
	}
	assert_string_equal(c->plugins[0].block->path, "plugins.redis-cache");
	assert_non_null(c->plugins[0].block->group);
	assert_null(c->plugins[1].block->group); /* config = { } */
	assert_null(c->plugins[2].block->group); /* no config */

	const char *url;
	assert_int_equal(
	        vbx__cfg_string(c->plugins[0].block, "url", NULL, &url),
	        VBX_OK);
	assert_string_equal(url, "redis://x");

	vbx__errors e = {0};
	assert_int_equal(vbx__conf_check_unknown(c, &e), 0);
	assert_int_equal(e.count, 0);
	vbx__conf_free(c);
}

static void check_defaults(const vbx__conf *c)
{
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].host, "0.0.0.0");
	assert_int_equal(c->listen[0].port, 3000);
	/* derived from this machine's CPUs, and shown as such */
	int workers = vbx__workers_for_cpus(vbx__cpu_count());
	char line[128];
	snprintf(line, sizeof(line),
	         "server.workers = %d (default: 2 per CPU, 4..32)", workers);
	assert_int_equal(c->workers, workers);
	assert_int_equal(c->shown.n, 2);
	assert_string_equal(c->shown.lines[0], line);
	assert_string_equal(c->shown.lines[1], "health.timeout = 3s (default)");
	assert_int_equal(c->health_timeout_ms, 3000);
	assert_int_equal(c->max_body, 1024 * 1024);
	assert_int_equal(c->shutdown_timeout_ms, 30000);
	assert_int_equal(c->drain_delay_ms, 0);
	assert_int_equal(c->ws_queue, 1024 * 1024);
	assert_int_equal(c->log_level, VBX_LOG_INFO);
	assert_true(c->log_json);
	assert_true(c->log_access);
	assert_int_equal(c->nplugin_path, 1);
	assert_string_equal(c->plugin_path[0], VBX_PLUGIN_DIR);
	assert_string_equal(c->state_dir, VBX_STATE_DIR);
	assert_int_equal(c->event_queue, 1024);
	assert_int_equal(c->event_overflow, VBX__OVERFLOW_DROP);
	assert_int_equal(c->nplugins, 0);
	assert_int_equal(c->generation, 1);
}

/* plugin_path: directories searched in order; plugin_dir stays one. */
static void test_plugin_path(void **state)
{
	vbx__conf *c = load_ok("plugin_path = [ \"/usr/local/lib/vibebox/"
	                       "plugins\", \"/usr/lib/vibebox/plugins\" ];\n");
	assert_int_equal(c->nplugin_path, 2);
	assert_string_equal(c->plugin_path[0],
	                    "/usr/local/lib/vibebox/plugins");
	assert_string_equal(c->plugin_path[1], "/usr/lib/vibebox/plugins");
	assert_null(c->plugin_path[2]);
	assert_string_equal(c->plugin_path_key, "plugin_path");
	vbx__conf_free(c);

	/* A list ( ... ) is as good as an array [ ... ]. */
	c = load_ok("plugin_path = ( \"/a\" );\n");
	assert_int_equal(c->nplugin_path, 1);
	assert_string_equal(c->plugin_path[0], "/a");
	vbx__conf_free(c);
}

static void test_plugin_path_errors(void **state)
{
	expect_load_errors("plugin_dir = \"/a\";\nplugin_path = [ \"/b\" ];\n",
	                   "%s:2: plugin_path: plugin_path and plugin_dir "
	                   "(line 1) are both set; keep one: plugin_path "
	                   "lists directories searched in order, plugin_dir "
	                   "names one");
	expect_load_errors("plugin_path = \"/a\";",
	                   "%s:1: plugin_path: expected a list of directories "
	                   "[ \"/a\", \"/b\" ], got \"/a\"");
	expect_load_errors("plugin_path = [ ];",
	                   "%s:1: plugin_path: expected at least one "
	                   "directory, got an array");
	expect_load_errors("plugin_path = [ \"/a\", \"\" ];",
	                   "%s:1: plugin_path: element 1 is empty; expected "
	                   "the path of a directory");
	expect_load_errors("plugin_path = ( \"/a\", 7 );",
	                   "%s:1: plugin_path[1]: expected a string, got 7");
	expect_load_errors("plugin_path = { a = \"/a\"; };",
	                   "%s:1: plugin_path: expected a list of directories "
	                   "[ \"/a\", \"/b\" ], got a group");
}

static void test_defaults(void **state)
{
	static const char *const texts[] = {
	        "",
	        "# nothing but a comment\n",
	        "server: { }; log: { }; events: { }; plugins = ( );\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		vbx__conf *c = load_ok(texts[i]);
		check_defaults(c);
		vbx__conf_free(c);
	}
}

static void test_load_buffer(void **state)
{
	vbx__errors e = {0};
	vbx__conf *c = NULL;

	assert_int_equal(vbx__conf_load_buffer("server: { workers = 2; };",
	                                       "mem.conf", &c, &e),
	                 VBX_OK);
	assert_int_equal(c->workers, 2);
	assert_string_equal(c->path, "mem.conf");
	vbx__conf_free(c);

	assert_int_equal(vbx__conf_load_buffer("server: {\nworkers = 0; };",
	                                       "mem.conf", &c, &e),
	                 VBX_EINVAL);
	assert_null(c);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], "mem.conf:2: server.workers: "
	                               "expected an integer 1..1024, got 0");
	vbx__errors_clear(&e);

	/* Without a list the errors go to the log; the result is the same. */
	assert_int_equal(vbx__conf_load_buffer("x = 1;", "mem.conf", &c, NULL),
	                 VBX_EINVAL);
	assert_null(c);
	vbx__conf_free(NULL);
}

/* ---- file errors ---- */

static void test_unreadable_file(void **state)
{
	vbx__errors e = {0};
	vbx__conf *c = (vbx__conf *)1;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	assert_int_equal(vbx__conf_load(path, &c, &e), VBX_ENOTFOUND);
	assert_null(c);
	assert_int_equal(e.count, 1);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want),
	         "%s: cannot read: No such file or directory", path);
	assert_string_equal(e.msgs[0], want);
	vbx__errors_clear(&e);

	assert_int_equal(vbx__conf_load(tmpdir, &c, &e), VBX_ENOTFOUND);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], want);
	vbx__errors_clear(&e);

	if (geteuid() != 0) { /* root reads anything */
		write_file("secret.conf", "", 0, path, sizeof(path));
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(vbx__conf_load(path, &c, &e), VBX_ENOTFOUND);
		snprintf(want, sizeof(want), "%s: cannot read: %s", path,
		         strerror(EACCES));
		assert_string_equal(e.msgs[0], want);
		vbx__errors_clear(&e);
	}
}

static void test_syntax_error(void **state)
{
	expect_load_errors("server: {\n  workers = ;\n};\n",
	                   "%s:2: syntax error");
	expect_load_errors("a = 1;\nb = 2;\na = 3;\n",
	                   "%s:3: duplicate setting name");
	expect_load_errors("server: {\n  workers = 8\n", "%s:3: syntax error");
}

static void test_nul_byte(void **state)
{
	vbx__errors e = {0};
	vbx__conf *c = NULL;
	static const char text[] = "a = 1;\nb = 2;\0 c = 3;\n";

	write_file("nul.conf", text, sizeof(text) - 1, conf_path,
	           sizeof(conf_path));
	assert_int_equal(vbx__conf_load(conf_path, &c, &e), VBX_EINVAL);
	assert_null(c);
	expect_errors(&e, "%s:2: a NUL byte; is this a text file?", NULL);
	vbx__errors_clear(&e);
}

static void test_include_names_its_file(void **state)
{
	char inc[PATH_MAX], text[PATH_MAX + 64], want[PATH_MAX + 64];
	vbx__errors e = {0};
	vbx__conf *c = NULL;

	static const char inc_text[] = "server: {\n  workers = 0;\n};\n";

	write_file("server.inc", inc_text, strlen(inc_text), inc, sizeof(inc));
	snprintf(text, sizeof(text), "# main\n@include \"%s\"\n", inc);
	assert_int_equal(load(text, &c, &e), VBX_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:2: server.workers: expected an integer 1..1024, got 0",
	         inc);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], want);
	vbx__errors_clear(&e);
}

static void test_include_duplicate_plugin(void **state)
{
	char inc[PATH_MAX], text[PATH_MAX + 128], want[3 * PATH_MAX];
	vbx__errors e = {0};
	vbx__conf *c = NULL;
	static const char inc_text[] = "{ name = \"a\"; }\n";

	write_file("plugins.inc", inc_text, strlen(inc_text), inc, sizeof(inc));
	snprintf(text, sizeof(text),
	         "plugins = (\n{ name = \"a\"; },\n@include \"%s\"\n);\n", inc);
	assert_int_equal(load(text, &c, &e), VBX_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:1: plugins[1].name: plugin \"a\" is listed twice, first "
	         "at %s:2",
	         inc, conf_path);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], want);
	vbx__errors_clear(&e);
}

static void test_big_file(void **state)
{
	/* Bigger than any read buffer: a long comment, then a value. */
	size_t n = 100000;
	char *text = malloc(n + 64);
	assert_non_null(text);
	memset(text, '#', n);
	snprintf(text + n, 64, "\nserver: { workers = 3; };\n");
	vbx__conf *c = load_ok(text);
	assert_int_equal(c->workers, 3);
	vbx__conf_free(c);
	free(text);
}

static void test_load_without_error_list(void **state)
{
	vbx__conf *c = (vbx__conf *)1;
	write_file("vibeboxd.conf", "x = 1;", 6, conf_path, sizeof(conf_path));
	/* The messages go to the log; the result is the same. */
	assert_int_equal(vbx__conf_load(conf_path, &c, NULL), VBX_EINVAL);
	assert_null(c);
}

/* ---- the core's keys ---- */

static void test_unknown_keys(void **state)
{
	expect_load_errors("# a typo\n"
	                   "server: {\n"
	                   "  workers = 4;\n"
	                   "  wrokers = 4;\n"
	                   "};\n"
	                   "log: { levle = \"info\"; };\n"
	                   "events: { size = 1; };\n"
	                   "plugin_dirs = \"/x\";\n",
	                   "%s:4: server.wrokers: unknown key",
	                   "%s:6: log.levle: unknown key",
	                   "%s:7: events.size: unknown key",
	                   "%s:8: plugin_dirs: unknown key");
}

/* The platform's settings moved to its plugin: the old section says
 * where they went, and loads no more. */
static void test_moved_section(void **state)
{
	expect_load_errors("server: { workers = 4; };\n"
	                   "environments: { max_cpu = 2; };\n"
	                   "terminal: { window = \"1MiB\"; };\n",
	                   "%s:2: environments: moved to the platform plugin's "
	                   "config: plugins = ( { name = \"platform\"; config "
	                   "= { environments = { ... }; }; } )",
	                   "%s:3: terminal: moved to the platform plugin's "
	                   "config: plugins = ( { name = \"platform\"; config "
	                   "= { terminal = { ... }; }; } )");
}

static void test_type_and_range_errors(void **state)
{
	expect_load_errors("server: { workers = \"8\"; };",
	                   "%s:1: server.workers: expected an integer "
	                   "1..1024, got \"8\"");
	expect_load_errors("server: { workers = 2000; };",
	                   "%s:1: server.workers: expected an integer "
	                   "1..1024, got 2000");
	expect_load_errors("server: { workers = 8.0; };",
	                   "%s:1: server.workers: expected an integer "
	                   "1..1024, got 8.0");
	expect_load_errors("server: { max_body = \"2GiB\"; };",
	                   "%s:1: server.max_body: expected a size "
	                   "1KiB..1GiB, got \"2GiB\"");
	expect_load_errors("server: { max_body = 512; };",
	                   "%s:1: server.max_body: expected a size "
	                   "1KiB..1GiB, got 512");
	expect_load_errors("server: { shutdown_timeout = \"30 s\"; };",
	                   "%s:1: server.shutdown_timeout: expected a duration "
	                   "such as \"250ms\", \"30s\", \"15m\", \"2h\" or "
	                   "\"7d\", got \"30 s\"");
	expect_load_errors("server: { drain_delay = \"11m\"; };",
	                   "%s:1: server.drain_delay: expected a duration "
	                   "0s..10m, got \"11m\"");
	expect_load_errors("server: { ws_queue = true; };",
	                   "%s:1: server.ws_queue: expected a size such as "
	                   "\"512\", \"64KiB\", \"10MiB\", \"1GiB\" or "
	                   "\"1GB\", got true");
	expect_load_errors("server = 1;",
	                   "%s:1: server: expected a group { ... }, got 1");
	expect_load_errors("log: { level = \"trace\"; };",
	                   "%s:1: log.level: expected one of \"error\", "
	                   "\"warn\", \"info\", \"debug\", got \"trace\"");
	expect_load_errors("log: { format = 1; };",
	                   "%s:1: log.format: expected a string, got 1");
	expect_load_errors("log: { access = 1; };",
	                   "%s:1: log.access: expected true or false, got 1");
	expect_load_errors("state_dir = \"\";",
	                   "%s:1: state_dir: expected the path of a directory, "
	                   "got \"\"");
	expect_load_errors("plugin_dir = [ \"a\" ];",
	                   "%s:1: plugin_dir: expected a string, got an array");
	expect_load_errors("events: { queue = 8; };",
	                   "%s:1: events.queue: expected an integer "
	                   "16..1048576, got 8");
	/* What a terminal would act on is escaped, quotes too. */
	expect_load_errors("log: { level = \"a\\\"b\\\\c\\n\\x1b[2J\"; };",
	                   "%s:1: log.level: expected one of \"error\", "
	                   "\"warn\", \"info\", \"debug\", got "
	                   "\"a\\\"b\\\\c\\x0a\\x1b[2J\"");
	expect_load_errors("events: { overflow = \"wait\"; };",
	                   "%s:1: events.overflow: expected \"drop\" or "
	                   "\"block\", got \"wait\"");
}

static void test_boundaries_accepted(void **state)
{
	vbx__conf *c = load_ok("server: { workers = 1024; max_body = \"1GiB\";"
	                       " drain_delay = \"10m\"; ws_queue = \"1KiB\";"
	                       " shutdown_timeout = 0; };"
	                       "events: { queue = 1048576; };");
	assert_int_equal(c->workers, 1024);
	assert_int_equal(c->max_body, UINT64_C(1) << 30);
	assert_int_equal(c->drain_delay_ms, 600000);
	assert_int_equal(c->ws_queue, 1024);
	assert_int_equal(c->shutdown_timeout_ms, 0);
	assert_int_equal(c->event_queue, 1048576);
	vbx__conf_free(c);
}

static void test_several_errors(void **state)
{
	expect_load_errors(
	        "server: {\n"
	        "  workers = 0;\n"
	        "  listen = \"noport\";\n"
	        "  bogus = 1;\n"
	        "};\n"
	        "log: { level = \"loud\"; };\n"
	        "plugins = (\n"
	        "  { name = \"a\"; config = { x = 1; }; },\n"
	        "  { name = \"a\"; },\n"
	        "  { nam = \"b\"; }\n"
	        ");\n"
	        "other = 1;\n",
	        "%s:3: server.listen: expected \"host:port\" (IPv6 in "
	        "brackets: \"[::1]:3000\"), got \"noport\"",
	        "%s:2: server.workers: expected an integer 1..1024, got 0",
	        "%s:4: server.bogus: unknown key",
	        "%s:6: log.level: expected one of \"error\", \"warn\", "
	        "\"info\", \"debug\", got \"loud\"",
	        "%s:9: plugins[1].name: plugin \"a\" is listed twice, first "
	        "at line 8",
	        "%s:10: plugins[2].name: required: the plugin's name, as in "
	        "name = \"redis-cache\"",
	        "%s:10: plugins[2].nam: unknown key",
	        "%s:12: other: unknown key");
}

/* ---- server.listen ---- */

static void test_listen_forms(void **state)
{
	vbx__conf *c = load_ok("server: { listen = \"[::]:80\"; };");
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].host, "::");
	assert_int_equal(c->listen[0].port, 80);
	vbx__conf_free(c);

	c = load_ok("server: { listen = ( \"localhost:65535\", "
	            "\"[fe80::1%eth0]:1\", \"10.0.0.1:3000\" ); };");
	assert_int_equal(c->nlisten, 3);
	assert_string_equal(c->listen[0].host, "localhost");
	assert_int_equal(c->listen[0].port, 65535);
	assert_string_equal(c->listen[1].host, "fe80::1%eth0");
	assert_int_equal(c->listen[1].port, 1);
	assert_string_equal(c->listen[2].host, "10.0.0.1");
	vbx__conf_free(c);
}

static void test_listen_errors(void **state)
{
#define FORM "expected \"host:port\" (IPv6 in brackets: \"[::1]:3000\")"
	expect_load_errors("server: { listen = \"x:0\"; };",
	                   "%s:1: server.listen: expected a port 1..65535, "
	                   "got \"x:0\"");
	expect_load_errors("server: { listen = \"x:70000\"; };",
	                   "%s:1: server.listen: expected a port 1..65535, "
	                   "got \"x:70000\"");
	expect_load_errors("server: { listen = \"x:99999999999999999999\"; };",
	                   "%s:1: server.listen: expected a port 1..65535, "
	                   "got \"x:99999999999999999999\"");
	expect_load_errors("server: { listen = \"noport\"; };",
	                   "%s:1: server.listen: " FORM ", got \"noport\"");
	expect_load_errors("server: { listen = \"::1:3000\"; };",
	                   "%s:1: server.listen: " FORM ", got \"::1:3000\"");
	expect_load_errors("server: { listen = \"[::1]3000\"; };",
	                   "%s:1: server.listen: " FORM ", got \"[::1]3000\"");
	expect_load_errors("server: { listen = \"[::1:3000\"; };",
	                   "%s:1: server.listen: " FORM ", got \"[::1:3000\"");
	expect_load_errors("server: { listen = \":3000\"; };",
	                   "%s:1: server.listen: " FORM ", got \":3000\"");
	expect_load_errors("server: { listen = \"x:\"; };",
	                   "%s:1: server.listen: " FORM ", got \"x:\"");
	expect_load_errors("server: { listen = \"x:+80\"; };",
	                   "%s:1: server.listen: " FORM ", got \"x:+80\"");
	expect_load_errors("server: { listen = \"a b:80\"; };",
	                   "%s:1: server.listen: expected \"host:port\" or "
	                   "\"host:port proxy_protocol\", got \"a b:80\"");
	expect_load_errors("server: { listen = 3000; };",
	                   "%s:1: server.listen: " FORM
	                   " or a list of such strings, got 3000");
	expect_load_errors("server: { listen = [ ]; };",
	                   "%s:1: server.listen: expected at least one "
	                   "\"host:port\" (IPv6 in brackets: \"[::1]:3000\"), "
	                   "got an array");
	expect_load_errors("server: { listen = (\n \"a:1\",\n 2,\n \"a:1\",\n"
	                   " \"b\" ); };",
	                   "%s:3: server.listen[1]: " FORM ", got 2",
	                   "%s:4: server.listen[2]: \"a:1\" is listed twice",
	                   "%s:5: server.listen[3]: " FORM ", got \"b\"");

	/* A host of 256 bytes; the message shows the first 60. */
	char text[512], host[300], want[512];
	memset(host, 'a', 256);
	host[256] = '\0';
	snprintf(text, sizeof(text), "server: { listen = \"%s:1\"; };", host);
	host[60] = '\0';
	snprintf(want, sizeof(want),
	         "%%s:1: server.listen: " FORM ", got \"%.60s...\"", host);
	expect_load_errors(text, want);
#undef FORM
}

/* ---- server.trusted_proxies and proxy_protocol listeners ---- */

static void test_trusted_proxies(void **state)
{
	vbx__conf *c = load_ok("server: { listen = [ \"127.0.0.1:1\", "
	                       "\"[::1]:2  proxy_protocol\" ];\n"
	                       "trusted_proxies = [ \"10.0.0.0/8\", "
	                       "\"127.0.0.1/32\", \"::1/128\", "
	                       "\"192.0.2.7\" ]; };");
	assert_int_equal(c->nlisten, 2);
	assert_false(c->listen[0].proxy_protocol);
	assert_true(c->listen[1].proxy_protocol);
	assert_string_equal(c->listen[1].host, "::1");
	assert_int_equal(c->ntrusted, 4);
	assert_int_equal(c->trusted[0].prefix, 8);
	assert_int_equal(c->trusted[2].prefix, 128);
	assert_int_equal(c->trusted[3].prefix, 32);
	vbx__conf_free(c);
	/* empty by default, and an empty list is fine */
	c = load_ok("server: { trusted_proxies = [ ]; };");
	assert_int_equal(c->ntrusted, 0);
	vbx__conf_free(c);
	c = load_ok("");
	assert_int_equal(c->ntrusted, 0);
	assert_false(c->listen[0].proxy_protocol);
	vbx__conf_free(c);
}

static void test_trusted_proxies_errors(void **state)
{
	expect_load_errors(
	        "server: {\n trusted_proxies = [ \"10.0.0.0/8\",\n"
	        " \"::1/128\",\n \"10.0.0.1/8\",\n \"x\",\n \"::/129\" ];\n};",
	        "%s:4: server.trusted_proxies[2]: bits are set past the /8 "
	        "prefix; did you mean \"10.0.0.0/8\"?, got \"10.0.0.1/8\"",
	        "%s:5: server.trusted_proxies[3]: expected an IPv4 or IPv6 "
	        "address or CIDR block such as \"10.0.0.0/8\" or \"::1/128\", "
	        "got \"x\"",
	        "%s:6: server.trusted_proxies[4]: the prefix length after '/' "
	        "must be a number 0..128, got \"::/129\"");
	expect_load_errors("server: { trusted_proxies = \"10.0.0.0/8\"; };",
	                   "%s:1: server.trusted_proxies: expected a list of "
	                   "CIDR blocks such as [\"10.0.0.0/8\", \"::1/128\"], "
	                   "got \"10.0.0.0/8\"");
	expect_load_errors("server: { trusted_proxies = ( 10 ); };",
	                   "%s:1: server.trusted_proxies[0]: expected a CIDR "
	                   "block such as \"10.0.0.0/8\", got 10");
	/* a PROXY protocol listener with no one to trust */
	expect_load_errors("server: { listen = [ \"127.0.0.1:1\",\n"
	                   "\"127.0.0.1:2 proxy_protocol\" ]; };",
	                   "%s:1: server.listen: 127.0.0.1:2 is a "
	                   "proxy_protocol listener, which only takes "
	                   "connections from server.trusted_proxies; list the "
	                   "load balancer's address there");
	expect_load_errors("server: { listen = \"127.0.0.1:2 proxy\"; };",
	                   "%s:1: server.listen: expected \"host:port\" or "
	                   "\"host:port proxy_protocol\", got \"127.0.0.1:2 "
	                   "proxy\"");
}

/* ---- plugins ---- */

static void test_plugin_entries(void **state)
{
	expect_load_errors("plugins = { a = 1; };",
	                   "%s:1: plugins: expected a list ( { name = \"...\"; "
	                   "}, ... ), got a group");
	expect_load_errors("plugins = ( \"redis\" );",
	                   "%s:1: plugins[0]: expected a group { name = "
	                   "\"...\"; config = { ... }; }, got \"redis\"");
	expect_load_errors("plugins = ( { name = \"\"; } );",
	                   "%s:1: plugins[0].name: expected a plugin name of "
	                   "a-z, 0-9 and '-', got \"\"");
	expect_load_errors("plugins = ( { name = \"Redis_Cache\"; } );",
	                   "%s:1: plugins[0].name: expected a plugin name of "
	                   "a-z, 0-9 and '-', got \"Redis_Cache\"");
	expect_load_errors("plugins = ( { name = \"../x\"; } );",
	                   "%s:1: plugins[0].name: expected a plugin name of "
	                   "a-z, 0-9 and '-', got \"../x\"");
	expect_load_errors("plugins = ( { name = 5; } );",
	                   "%s:1: plugins[0].name: expected a string, got 5");
	expect_load_errors("plugins = ( { config = { }; } );",
	                   "%s:1: plugins[0].name: required: the plugin's "
	                   "name, as in name = \"redis-cache\"");
	expect_load_errors("plugins = ( { name = \"x\"; config = 5; } );",
	                   "%s:1: plugins[0].config: expected a group { ... }, "
	                   "got 5");
	expect_load_errors("plugins = ( { name = \"x\"; enabled = true; } );",
	                   "%s:1: plugins[0].enabled: unknown key");
	expect_load_errors("plugins = (\n"
	                   "  { name = \"x\"; },\n"
	                   "  { name = \"y\"; },\n"
	                   "  { name = \"x\"; }\n"
	                   ");\n",
	                   "%s:4: plugins[2].name: plugin \"x\" is listed "
	                   "twice, first at line 2");
}

static void test_plugin_names_ok(void **state)
{
	vbx__conf *c = load_ok("plugins = ( { name = \"backup-s3\"; },"
	                       " { name = \"0\"; } );");
	assert_int_equal(c->nplugins, 2);
	assert_string_equal(c->plugins[0].name, "backup-s3");
	assert_string_equal(c->plugins[0].block->path, "plugins.backup-s3");
	assert_string_equal(c->plugins[1].name, "0");
	vbx__conf_free(c);
}

/* ---- durations and sizes ---- */

static void test_parse_duration(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} good[] = {
	        {"0", 0},
	        {"0s", 0},
	        {"250ms", 250},
	        {"30s", 30000},
	        {"30", 30000},
	        {"15m", 900000},
	        {"2h", 7200000},
	        {"7d", 604800000},
	        {"007s", 7000},
	        {"9223372036854775807ms", INT64_MAX},
	        {"9223372036854775s", INT64_C(9223372036854775000)},
	        {"106751991167d", INT64_C(106751991167) * 86400000},
	};
	static const char *const bad[] = {
	        "",
	        "s",
	        "ms",
	        "-5s",
	        "+5s",
	        " 5s",
	        "5s ",
	        "5 s",
	        "1.5h",
	        "1h30m",
	        "5S",
	        "5sec",
	        "5w",
	        "5ns",
	        "0x10",
	        "9223372036854775808ms",
	        "9223372036854776s",
	        "106751991168d",
	        "99999999999999999999999999",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = -1;
		if (vbx__parse_duration(good[i].in, &ms) != VBX_OK)
			fail_msg("rejected \"%s\"", good[i].in);
		assert_true(ms == good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;
		if (vbx__parse_duration(bad[i], &ms) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ms, 42); /* untouched */
	}
	int64_t ms;
	assert_int_equal(vbx__parse_duration(NULL, &ms), VBX_EINVAL);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *in;
		uint64_t n;
	} good[] = {
	        {"0", 0},
	        {"512", 512},
	        {"512B", 512},
	        {"64KiB", 65536},
	        {"10MiB", 10485760},
	        {"1GiB", 1073741824},
	        {"2TiB", UINT64_C(2) << 40},
	        {"1kB", 1000},
	        {"3MB", 3000000},
	        {"1GB", 1000000000},
	        {"1TB", UINT64_C(1000000000000)},
	        {"18446744073709551615", UINT64_MAX},
	        {"18446744073709551615B", UINT64_MAX},
	        {"16777215TiB", UINT64_C(16777215) << 40},
	};
	static const char *const bad[] = {
	        "",
	        "B",
	        "MiB",
	        "-1",
	        "+1",
	        " 1",
	        "1 MiB",
	        "1.5MiB",
	        "1KB",
	        "1mb",
	        "1kib",
	        "1K",
	        "1M",
	        "1 ",
	        "0x10",
	        "18446744073709551616",
	        "16777216TiB",
	        "18446744073709552kB",
	        "99999999999999999999999999",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t n = 7;
		if (vbx__parse_size(good[i].in, &n) != VBX_OK)
			fail_msg("rejected \"%s\"", good[i].in);
		assert_true(n == good[i].n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t n = 42;
		if (vbx__parse_size(bad[i], &n) != VBX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(n, 42);
	}
	uint64_t n;
	assert_int_equal(vbx__parse_size(NULL, &n), VBX_EINVAL);
}

/* ---- getters ---- */

static void test_get_string_bool(void **state)
{
	vbx__conf *c = load_block("s = \"v\";\nb = true;\nn = 1;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	const char *s;
	int v;

	assert_int_equal(vbx__cfg_string(b, "s", "d", &s), VBX_OK);
	assert_string_equal(s, "v");
	assert_int_equal(vbx__cfg_string(b, "absent", "d", &s), VBX_OK);
	assert_string_equal(s, "d");
	assert_int_equal(vbx__cfg_string(b, "absent", NULL, &s), VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_string(b, "n", "d", &s), VBX_EINVAL);
	assert_string_equal(s, "d");

	assert_int_equal(vbx__cfg_bool(b, "b", 0, &v), VBX_OK);
	assert_int_equal(v, 1);
	assert_int_equal(vbx__cfg_bool(b, "absent", 1, &v), VBX_OK);
	assert_int_equal(v, 1);
	assert_int_equal(vbx__cfg_bool(b, "s", 0, &v), VBX_EINVAL);
	assert_int_equal(v, 0);

	expect_errors(&e, "%s:4: plugins.p.n: expected a string, got 1",
	              "%s:2: plugins.p.s: expected true or false, got \"v\"",
	              NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_get_number(void **state)
{
	vbx__conf *c = load_block("f = 0.25;\ni = 1;\nbig = 3000000000L;\n"
	                          "s = \"0.5\";\nhigh = 1.5;\nneg = -0.001;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	double x;

	assert_int_equal(vbx__cfg_number(b, "f", 0, 1, 0.5, &x), VBX_OK);
	assert_true(x == 0.25);
	assert_int_equal(vbx__cfg_number(b, "i", 0, 1, 0.5, &x), VBX_OK);
	assert_true(x == 1.0);
	assert_int_equal(vbx__cfg_number(b, "big", 0, 1e10, 0, &x), VBX_OK);
	assert_true(x == 3e9);
	assert_int_equal(vbx__cfg_number(b, "absent", 0, 1, 0.01, &x), VBX_OK);
	assert_true(x == 0.01);
	assert_int_equal(vbx__cfg_number(b, "s", 0, 1, 0.01, &x), VBX_EINVAL);
	assert_true(x == 0.01);
	assert_int_equal(vbx__cfg_number(b, "high", 0, 1, 0.01, &x),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_number(b, "neg", 0, 1, 0.01, &x), VBX_EINVAL);
	expect_errors(&e,
	              "%s:5: plugins.p.s: expected a number 0..1, got \"0.5\"",
	              "%s:6: plugins.p.high: expected a number 0..1, got 1.5",
	              "%s:7: plugins.p.neg: expected a number 0..1, got -0.001",
	              NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

/* ---- defaults that fit the machine (cpus.c, effective.c) ---- */

static void test_workers_for_cpus(void **state)
{
	/* 2 per CPU, at least 4 (a small machine still overlaps waits on
	 * the database), at most 32 (PostgreSQL's connections) */
	assert_int_equal(vbx__workers_for_cpus(1), 4);
	assert_int_equal(vbx__workers_for_cpus(2), 4);
	assert_int_equal(vbx__workers_for_cpus(3), 6);
	assert_int_equal(vbx__workers_for_cpus(8), 16);
	assert_int_equal(vbx__workers_for_cpus(16), 32);
	assert_int_equal(vbx__workers_for_cpus(96), 32);
}

static void test_cpu_count(void **state)
{
	int n = vbx__cpu_count();
	assert_true(n >= 1);
	assert_true(n <= sysconf(_SC_NPROCESSORS_CONF));
}

static void test_cpu_quota_parse(void **state)
{
	assert_int_equal(vbx__cpu_quota_parse("max 100000\n"), 0);
	assert_int_equal(vbx__cpu_quota_parse("max"), 0);
	assert_int_equal(vbx__cpu_quota_parse("200000 100000\n"), 2);
	assert_int_equal(vbx__cpu_quota_parse("150000 100000\n"), 2);
	assert_int_equal(vbx__cpu_quota_parse("50000 100000"), 1);
	assert_int_equal(vbx__cpu_quota_parse("1 100000\n"), 1);
	/* broken: the caller then keeps the affinity count */
	assert_int_equal(vbx__cpu_quota_parse(""), -1);
	assert_int_equal(vbx__cpu_quota_parse("\n"), -1);
	assert_int_equal(vbx__cpu_quota_parse("maxi 100000"), -1);
	assert_int_equal(vbx__cpu_quota_parse("100000"), -1);
	assert_int_equal(vbx__cpu_quota_parse("100000\n"), -1);
	assert_int_equal(vbx__cpu_quota_parse("-5 100000"), -1);
	assert_int_equal(vbx__cpu_quota_parse("0 100000"), -1);
	assert_int_equal(vbx__cpu_quota_parse("100 0"), -1);
	assert_int_equal(vbx__cpu_quota_parse("100 x"), -1);
	assert_int_equal(vbx__cpu_quota_parse("100 100 7"), -1);
	assert_int_equal(vbx__cpu_quota_parse("9223372036854775807 100000"),
	                 -1);
}

/* A duration whose value in effect is shown: set, default, bad. */
static void test_get_duration_shown(void **state)
{
	vbx__conf *c = load_block("timeout = \"2500ms\";\nbad = \"1x\";");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	int64_t ms;

	assert_int_equal(
	        vbx__cfg_duration_shown(b, "timeout", "5s", 100, 60000, &ms),
	        VBX_OK);
	assert_int_equal(ms, 2500);
	assert_int_equal(
	        vbx__cfg_duration_shown(b, "connect", "5s", 100, 60000, &ms),
	        VBX_OK);
	assert_int_equal(ms, 5000);
	assert_int_equal(
	        vbx__cfg_duration_shown(b, "bad", "5s", 100, 60000, &ms),
	        VBX_EINVAL);
	vbx__errors_clear(&e);
	assert_int_equal(b->shown.n, 2);
	assert_string_equal(b->shown.lines[0],
	                    "plugins.p.timeout = 2500ms (set)");
	assert_string_equal(b->shown.lines[1],
	                    "plugins.p.connect = 5s (default)");
	vbx__conf_free(c);
}

static void test_get_int_derived(void **state)
{
	vbx__conf *c = load_block("pool = 8;\nbad = 0;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	long long v;

	assert_int_equal(vbx__cfg_int_derived(b, "pool", 1, 256, 4,
	                                      "server.workers", &v),
	                 VBX_OK);
	assert_int_equal(v, 8);
	assert_int_equal(
	        vbx__cfg_int_derived(b, "conns", 1, 256, 3, "1 per CPU", &v),
	        VBX_OK);
	assert_int_equal(v, 3);
	/* a default beyond the range is clamped, not an error */
	assert_int_equal(vbx__cfg_int_derived(b, "big", 1, 10, 99, "x", &v),
	                 VBX_OK);
	assert_int_equal(v, 10);
	/* read again (validated, then applied): the line is replaced */
	assert_int_equal(
	        vbx__cfg_int_derived(b, "conns", 1, 256, 5, "1 per CPU", &v),
	        VBX_OK);
	assert_int_equal(vbx__cfg_int_derived(b, "bad", 1, 4, 2, "x", &v),
	                 VBX_EINVAL);
	expect_errors(&e,
	              "%s:3: plugins.p.bad: expected an integer 1..4, got 0",
	              NULL);
	vbx__errors_clear(&e);

	assert_int_equal(b->shown.n, 3);
	assert_string_equal(b->shown.lines[0], "plugins.p.pool = 8 (set)");
	assert_string_equal(b->shown.lines[1],
	                    "plugins.p.conns = 5 (default: 1 per CPU)");
	assert_string_equal(b->shown.lines[2],
	                    "plugins.p.big = 10 (default: x)");

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	vbx__effective_print(c, f);
	fclose(f);
	assert_non_null(strstr(text, "server.workers = "));
	assert_non_null(strstr(text, "\n  plugins.p.pool = 8 (set)\n"));
	free(text);
	vbx__conf_free(c);
}

/* A dotted key is "set" only when that member of that group is. */
static void test_get_int_derived_dotted(void **state)
{
	vbx__conf *c = load_block("t = { x = 3; };");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	long long v;

	assert_int_equal(vbx__cfg_int_derived(b, "t.x", 1, 9, 4, "four", &v),
	                 VBX_OK);
	assert_int_equal(v, 3);
	assert_int_equal(vbx__cfg_int_derived(b, "t.y", 1, 9, 4, "four", &v),
	                 VBX_OK);
	assert_int_equal(v, 4);
	assert_int_equal(b->shown.n, 2);
	assert_string_equal(b->shown.lines[0], "plugins.p.t.x = 3 (set)");
	assert_string_equal(b->shown.lines[1],
	                    "plugins.p.t.y = 4 (default: four)");
	vbx__conf_free(c);
}

static void test_get_int(void **state)
{
	vbx__conf *c = load_block("pool = 8;\nbig = 3000000000L;\n"
	                          "f = 1.5;\ns = \"8\";\nneg = -3;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	long long v;

	assert_int_equal(vbx__cfg_int(b, "pool", 1, 256, 4, &v), VBX_OK);
	assert_int_equal(v, 8);
	assert_int_equal(vbx__cfg_int(b, "absent", 1, 256, 4, &v), VBX_OK);
	assert_int_equal(v, 4);
	assert_int_equal(vbx__cfg_int(b, "big", 0, LLONG_MAX, 0, &v), VBX_OK);
	assert_true(v == 3000000000LL);
	assert_int_equal(vbx__cfg_int(b, "neg", -5, 5, 0, &v), VBX_OK);
	assert_true(v == -3);
	assert_int_equal(vbx__cfg_int(b, "pool", 9, 256, 4, &v), VBX_EINVAL);
	assert_int_equal(v, 4);
	assert_int_equal(vbx__cfg_int(b, "big", 0, INT_MAX, 0, &v), VBX_EINVAL);
	assert_int_equal(vbx__cfg_int(b, "f", 0, 10, 0, &v), VBX_EINVAL);
	assert_int_equal(vbx__cfg_int(b, "s", 0, 10, 0, &v), VBX_EINVAL);
	assert_int_equal(vbx__cfg_int(b, "neg", 0, LLONG_MAX, 0, &v),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_int(b, "neg", LLONG_MIN, -4, 0, &v),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_int(b, "s", LLONG_MIN, LLONG_MAX, 0, &v),
	                 VBX_EINVAL);

	expect_errors(
	        &e, "%s:2: plugins.p.pool: expected an integer 9..256, got 8",
	        "%s:3: plugins.p.big: expected an integer 0..2147483647, "
	        "got 3000000000",
	        "%s:4: plugins.p.f: expected an integer 0..10, got 1.5",
	        "%s:5: plugins.p.s: expected an integer 0..10, got \"8\"",
	        "%s:6: plugins.p.neg: expected an integer >= 0, got -3",
	        "%s:6: plugins.p.neg: expected an integer <= -4, got -3",
	        "%s:5: plugins.p.s: expected an integer, got \"8\"", NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_get_duration(void **state)
{
	vbx__conf *c = load_block("ttl = \"15m\";\nsecs = 90;\nneg = -1;\n"
	                          "f = 1.5;\nbad = \"15 m\";\n"
	                          "huge = 9223372036854775807L;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	int64_t ms;

	assert_int_equal(vbx__cfg_duration(b, "ttl", "1h", 0, INT64_MAX, &ms),
	                 VBX_OK);
	assert_int_equal(ms, 900000);
	assert_int_equal(vbx__cfg_duration(b, "secs", "1h", 0, INT64_MAX, &ms),
	                 VBX_OK);
	assert_int_equal(ms, 90000);
	assert_int_equal(
	        vbx__cfg_duration(b, "absent", "1h", 0, INT64_MAX, &ms),
	        VBX_OK);
	assert_int_equal(ms, 3600000);
	assert_int_equal(vbx__cfg_duration(b, "absent", NULL, 5, 10, &ms),
	                 VBX_OK);
	assert_int_equal(ms, 0);

	assert_int_equal(vbx__cfg_duration(b, "ttl", "1h", 1000, 60000, &ms),
	                 VBX_EINVAL);
	assert_int_equal(ms, 3600000); /* the default */
	assert_int_equal(
	        vbx__cfg_duration(b, "ttl", "1h", 3600000, INT64_MAX, &ms),
	        VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "neg", "1h", 0, INT64_MAX, &ms),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "f", "1h", 0, INT64_MAX, &ms),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "bad", "1h", 0, INT64_MAX, &ms),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "huge", "1h", 0, INT64_MAX, &ms),
	                 VBX_EINVAL);
	assert_int_equal(
	        vbx__cfg_duration(b, "absent", "soon", 0, INT64_MAX, &ms),
	        VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "ttl", "1h", 1500, 2500, &ms),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, "secs", "1h", 2 * 86400000LL,
	                                   7 * 86400000LL, &ms),
	                 VBX_EINVAL);

#define DUR                                                                    \
	"expected a duration such as \"250ms\", \"30s\", \"15m\", \"2h\" "     \
	"or \"7d\", got "
	expect_errors(
	        &e,
	        "%s:2: plugins.p.ttl: expected a duration 1s..1m, got "
	        "\"15m\"",
	        "%s:2: plugins.p.ttl: expected a duration of at least 1h, "
	        "got \"15m\"",
	        "%s:4: plugins.p.neg: " DUR "-1",
	        "%s:5: plugins.p.f: " DUR "1.5",
	        "%s:6: plugins.p.bad: " DUR "\"15 m\"",
	        "%s:7: plugins.p.huge: " DUR "9223372036854775807",
	        "%s:1: plugins.p.absent: the default \"soon\" is not a "
	        "duration",
	        "%s:2: plugins.p.ttl: expected a duration 1500ms..2500ms, "
	        "got \"15m\"",
	        "%s:3: plugins.p.secs: expected a duration 2d..7d, got 90",
	        NULL);
#undef DUR
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_get_size(void **state)
{
	vbx__conf *c = load_block("buf = \"64KiB\";\nn = 100;\nneg = -1;\n"
	                          "bad = \"64 KiB\";\nlist = [ 1 ];");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	uint64_t n;

	assert_int_equal(vbx__cfg_size(b, "buf", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_OK);
	assert_int_equal(n, 65536);
	assert_int_equal(vbx__cfg_size(b, "n", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_OK);
	assert_int_equal(n, 100);
	assert_int_equal(vbx__cfg_size(b, "absent", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_OK);
	assert_int_equal(n, 1048576);
	assert_int_equal(vbx__cfg_size(b, "absent", NULL, 1, 2, &n), VBX_OK);
	assert_int_equal(n, 0);

	assert_int_equal(vbx__cfg_size(b, "buf", "1MiB", 0, 1000, &n),
	                 VBX_EINVAL);
	assert_int_equal(n, 1048576);
	assert_int_equal(vbx__cfg_size(b, "n", "1MiB", 1000000, UINT64_MAX, &n),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_size(b, "neg", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_size(b, "bad", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_size(b, "list", "1MiB", 0, UINT64_MAX, &n),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_size(b, "absent", "1 MB", 0, UINT64_MAX, &n),
	                 VBX_EINVAL);

#define SIZE                                                                   \
	"expected a size such as \"512\", \"64KiB\", \"10MiB\", "              \
	"\"1GiB\" or \"1GB\", got "
	expect_errors(&e,
	              "%s:2: plugins.p.buf: expected a size 0..1kB, got "
	              "\"64KiB\"",
	              "%s:3: plugins.p.n: expected a size of at least 1MB, got "
	              "100",
	              "%s:4: plugins.p.neg: " SIZE "-1",
	              "%s:5: plugins.p.bad: " SIZE "\"64 KiB\"",
	              "%s:6: plugins.p.list: " SIZE "an array",
	              "%s:1: plugins.p.absent: the default \"1 MB\" is not a "
	              "size",
	              NULL);
#undef SIZE
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_get_strings(void **state)
{
	vbx__conf *c = load_block("one = \"a\";\nlist = ( \"b\", \"c\" );\n"
	                          "arr = [ \"d\", \"e\", \"f\" ];\n"
	                          "mixed = ( \"g\",\n 5,\n ( \"h\" ) );\n"
	                          "n = 1;\nempty = [ ];");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	const char *const *v;
	size_t n;

	assert_int_equal(vbx__cfg_strings(b, "one", &v, &n), VBX_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "a");
	assert_null(v[1]);
	assert_int_equal(vbx__cfg_strings(b, "list", &v, &n), VBX_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "b");
	assert_string_equal(v[1], "c");
	assert_null(v[2]);
	assert_int_equal(vbx__cfg_strings(b, "arr", &v, &n), VBX_OK);
	assert_int_equal(n, 3);
	assert_string_equal(v[2], "f");
	assert_null(v[3]);
	assert_int_equal(vbx__cfg_strings(b, "empty", &v, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	assert_int_equal(vbx__cfg_strings(b, "absent", &v, &n), VBX_OK);
	assert_int_equal(n, 0);
	assert_non_null(v);
	assert_null(v[0]);

	assert_int_equal(vbx__cfg_strings(b, "mixed", &v, &n), VBX_EINVAL);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	assert_int_equal(vbx__cfg_strings(b, "n", &v, &n), VBX_EINVAL);
	expect_errors(&e, "%s:6: plugins.p.mixed[1]: expected a string, got 5",
	              "%s:7: plugins.p.mixed[2]: expected a string, got a list",
	              "%s:8: plugins.p.n: expected a string or a list of "
	              "strings, got 1",
	              NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_get_error_and_log(void **state)
{
	vbx__conf *c = load_block("url = \"x\";");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	char want[2 * PATH_MAX];

	assert_int_equal(cfg_error(b, "url", "cannot parse %s", "x"),
	                 VBX_EINVAL);
	assert_int_equal(cfg_error(b, "absent", "missing"), VBX_EINVAL);
	assert_int_equal(cfg_error(b, NULL, "needs %d", 2), VBX_EINVAL);
	expect_errors(&e, "%s:2: plugins.p.url: cannot parse x",
	              "%s:1: plugins.p.absent: missing",
	              "%s:1: plugins.p: needs 2", NULL);
	vbx__errors_clear(&e);

	/* A getter without a key is the plugin's bug, and says so. */
	const char *str;
	long long ll;
	int flag;
	int64_t ms;
	uint64_t size;
	char *secret;
	const char *const *list;
	size_t count;
	assert_int_equal(vbx__cfg_string(b, NULL, "d", &str), VBX_EINVAL);
	assert_string_equal(str, "d");
	assert_int_equal(vbx__cfg_int(b, NULL, 0, 9, 3, &ll), VBX_EINVAL);
	assert_int_equal(ll, 3);
	assert_int_equal(vbx__cfg_bool(b, NULL, 1, &flag), VBX_EINVAL);
	assert_int_equal(vbx__cfg_duration(b, NULL, "1s", 0, 9, &ms),
	                 VBX_EINVAL);
	assert_int_equal(vbx__cfg_size(b, NULL, "1", 0, 9, &size), VBX_EINVAL);
	assert_int_equal(vbx__cfg_secret(b, NULL, 0, &secret), VBX_EINVAL);
	assert_null(secret);
	assert_int_equal(vbx__cfg_strings(b, NULL, &list, &count), VBX_EINVAL);
	assert_int_equal(count, 0);
	assert_int_equal(e.count, 7);
	subst(want, sizeof(want),
	      "%s:1: plugins.p: a getter was called without a key (a bug of "
	      "the plugin)",
	      conf_path, NULL);
	for (size_t i = 0; i < e.count; i++)
		assert_string_equal(e.msgs[i], want);
	vbx__errors_clear(&e);
	assert_int_equal(b->nknown, 0); /* nothing was marked */

	/* Without a list, errors go to the log and the result stays. */
	b->errs = NULL;
	long long v;
	assert_int_equal(vbx__cfg_int(b, "url", 0, 1, 0, &v), VBX_EINVAL);
	vbx__conf_free(c);
}

/* ---- secrets ---- */

static void test_secret_inline(void **state)
{
	vbx__conf *c = load_block("pw = \"hunter2\";\nempty = \"\";\nn = 5;");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	char *s = (char *)1;

	assert_int_equal(vbx__cfg_secret(b, "pw", 1, &s), VBX_OK);
	assert_string_equal(s, "hunter2");
	free(s);
	assert_int_equal(vbx__cfg_secret(b, "absent", 0, &s), VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_secret(b, "absent", 1, &s), VBX_EINVAL);
	assert_null(s);
	assert_int_equal(vbx__cfg_secret(b, "empty", 0, &s), VBX_EINVAL);
	assert_null(s);
	assert_int_equal(vbx__cfg_secret(b, "n", 0, &s), VBX_EINVAL);
	assert_null(s);
	expect_errors(&e,
	              "%s:1: plugins.p.absent: required; set absent, or "
	              "absent_file to a file that holds it",
	              "%s:3: plugins.p.empty: expected a non-empty string, got "
	              "\"\"",
	              "%s:4: plugins.p.n: expected a non-empty string, got 5",
	              NULL);
	vbx__errors_clear(&e);

	/* Both key and key_file are known now, present or not. */
	assert_int_equal(vbx__conf_check_unknown(c, &e), 0);
	vbx__conf_free(c);
}

static void test_secret_file(void **state)
{
	static const struct {
		const char *content;
		size_t len;
		const char *want;
	} files[] = {
	        {"s3cret\n", 7, "s3cret"}, {"s3cret\r\n", 8, "s3cret"},
	        {"s3cret", 6, "s3cret"},   {"s3cret\n\n", 8, "s3cret\n"},
	        {"a\nb\n", 4, "a\nb"},     {" x \n", 4, " x "},
	};
	char path[PATH_MAX], body[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		write_file("secret", files[i].content, files[i].len, path,
		           sizeof(path));
		snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
		vbx__conf *c = load_block(body);
		vbx__errors e = {0};
		vbx_config *b = only_block(c, &e);
		char *s = NULL;
		assert_int_equal(vbx__cfg_secret(b, "pw", 1, &s), VBX_OK);
		assert_string_equal(s, files[i].want);
		free(s);
		assert_int_equal(e.count, 0);
		assert_int_equal(vbx__conf_check_unknown(c, &e), 0);
		vbx__conf_free(c);
	}
}

/* Expect cfg_secret("pw") on a block of body to fail with message `want`
 * (a format taking the config path, then `arg`). */
static void expect_secret_error(const char *body, const char *want,
                                const char *arg)
{
	vbx__conf *c = load_block(body);
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	char *s = (char *)1;
	char msg[2 * PATH_MAX];

	assert_int_equal(vbx__cfg_secret(b, "pw", 0, &s), VBX_EINVAL);
	assert_null(s);
	subst(msg, sizeof(msg), want, conf_path, arg);
	assert_int_equal(e.count, 1);
	assert_string_equal(e.msgs[0], msg);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_secret_errors(void **state)
{
	char path[PATH_MAX], body[PATH_MAX + 64];

	expect_secret_error(
	        "pw = \"a\";\npw_file = \"/x\";",
	        "%s:3: plugins.p.pw_file: set either pw or pw_file, "
	        "not both",
	        NULL);

	snprintf(path, sizeof(path), "%s/no-such-secret", tmpdir);
	snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
	expect_secret_error(body,
	                    "%s:2: plugins.p.pw_file: cannot read \"%s\": No "
	                    "such file or directory",
	                    path);

	snprintf(body, sizeof(body), "pw_file = \"%s\";", tmpdir);
	expect_secret_error(body,
	                    "%s:2: plugins.p.pw_file: cannot read \"%s\": Is a "
	                    "directory",
	                    tmpdir);

	write_file("empty-secret", "", 0, path, sizeof(path));
	snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
	expect_secret_error(body, "%s:2: plugins.p.pw_file: \"%s\" is empty",
	                    path);

	write_file("newline-secret", "\n", 1, path, sizeof(path));
	snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
	expect_secret_error(body, "%s:2: plugins.p.pw_file: \"%s\" is empty",
	                    path);

	write_file("nul-secret", "ab\0cd\n", 6, path, sizeof(path));
	snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
	expect_secret_error(body,
	                    "%s:2: plugins.p.pw_file: \"%s\" contains a NUL "
	                    "byte",
	                    path);

	size_t big = 1024 * 1024 + 1;
	char *junk = malloc(big);
	assert_non_null(junk);
	memset(junk, 'x', big);
	write_file("big-secret", junk, big, path, sizeof(path));
	free(junk);
	snprintf(body, sizeof(body), "pw_file = \"%s\";", path);
	expect_secret_error(body,
	                    "%s:2: plugins.p.pw_file: \"%s\" is larger than "
	                    "1048576 bytes; is this the right file?",
	                    path);

	expect_secret_error("pw_file = \"\";",
	                    "%s:2: plugins.p.pw_file: expected the path of a "
	                    "file, got \"\"",
	                    NULL);
	expect_secret_error("pw_file = 1;",
	                    "%s:2: plugins.p.pw_file: expected the path of a "
	                    "file, got 1",
	                    NULL);
}

/* ---- unknown plugin keys ---- */

/* "group.key" reads a member of a group inside a plugin's block; its
 * errors and the group's unknown members carry the whole path. */
static void test_dotted_keys(void **state)
{
	vbx__conf *c = load_block("env = {\n"
	                          "  max = 3;\n"
	                          "  typo = 1;\n"
	                          "};\n"
	                          "flat = 5;\n"
	                          "list = ( { max = 1; } );");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	long long v;

	assert_int_equal(vbx__cfg_int(b, "env.max", 1, 10, 7, &v), VBX_OK);
	assert_int_equal(v, 3);
	assert_int_equal(vbx__cfg_int(b, "env.absent", 1, 10, 7, &v), VBX_OK);
	assert_int_equal(v, 7);
	/* not a group, a list, an empty part: absent, never a crash */
	assert_int_equal(vbx__cfg_int(b, "flat.max", 1, 10, 7, &v), VBX_OK);
	assert_int_equal(v, 7);
	assert_int_equal(vbx__cfg_int(b, "list.max", 1, 10, 7, &v), VBX_OK);
	assert_int_equal(v, 7);
	assert_int_equal(vbx__cfg_int(b, ".max", 1, 10, 7, &v), VBX_OK);
	assert_int_equal(vbx__cfg_int(b, "env.max", 5, 10, 7, &v), VBX_EINVAL);
	expect_errors(&e,
	              "%s:3: plugins.p.env.max: expected an integer 5..10, "
	              "got 3",
	              NULL);
	vbx__errors_clear(&e);

	assert_int_equal(vbx__conf_check_unknown(c, &e), 3);
	expect_errors(&e, "%s:4: plugins.p.env.typo: unknown key",
	              "%s:6: plugins.p.flat: expected a group { ... }",
	              "%s:7: plugins.p.list: expected a group { ... }", NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

/* "list.0.key" reads a member of the first group of a list (ABI 1.2);
 * the list's unread members and entries are errors with their index. */
static void test_list_keys(void **state)
{
	vbx__conf *c = load_block("engines = (\n"
	                          "  { name = \"a\"; cpus = 2; },\n"
	                          "  { name = \"b\"; typo = 1; },\n"
	                          "  5,\n"
	                          "  { other = 1; }\n"
	                          ");");
	vbx__errors e = {0};
	vbx_config *b = only_block(c, &e);
	const char *s;
	long long v;

	assert_int_equal(vbx__cfg_string(b, "engines.0.name", NULL, &s),
	                 VBX_OK);
	assert_string_equal(s, "a");
	assert_int_equal(vbx__cfg_int(b, "engines.0.cpus", 1, 9, 7, &v),
	                 VBX_OK);
	assert_int_equal(v, 2);
	assert_int_equal(vbx__cfg_string(b, "engines.1.name", NULL, &s),
	                 VBX_OK);
	assert_string_equal(s, "b");
	/* past the end, not a group, no index, a bad index: absent */
	assert_int_equal(vbx__cfg_string(b, "engines.9.name", NULL, &s),
	                 VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_string(b, "engines.2.name", NULL, &s),
	                 VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_string(b, "engines.01.name", NULL, &s),
	                 VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_string(b, "engines.0", NULL, &s), VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_string(b, "engines.x.name", NULL, &s),
	                 VBX_OK);
	assert_null(s);
	assert_int_equal(
	        vbx__cfg_string(b, "engines.99999999999.name", NULL, &s),
	        VBX_OK);
	assert_null(s);
	assert_int_equal(vbx__cfg_int(b, "engines.0.cpus", 5, 9, 7, &v),
	                 VBX_EINVAL);
	expect_errors(&e,
	              "%s:3: plugins.p.engines.0.cpus: expected an integer "
	              "5..9, got 2",
	              NULL);
	vbx__errors_clear(&e);

	assert_int_equal(vbx__conf_check_unknown(c, &e), 3);
	expect_errors(&e, "%s:4: plugins.p.engines.1.typo: unknown key",
	              "%s:5: plugins.p.engines.2: expected a group { ... }",
	              "%s:6: plugins.p.engines.3: unexpected entry", NULL);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

static void test_check_unknown(void **state)
{
	vbx__conf *c = load_ok("plugins = (\n"
	                       "  { name = \"redis-cache\"; config = {\n"
	                       "      url = \"redis://x\";\n"
	                       "      urll = \"redis://y\";\n"
	                       "      pool = 4;\n"
	                       "      pw_file = \"/run/secret\";\n"
	                       "  }; },\n"
	                       "  { name = \"auth\"; config = { ttl = \"1h\"; "
	                       "extra = 1; }; },\n"
	                       "  { name = \"metrics\"; }\n"
	                       ");\n");
	vbx__errors e = {0};
	const char *url;
	long long pool;

	/* Before any getter, every key is unknown. */
	assert_int_equal(vbx__conf_check_unknown(c, &e), 6);
	vbx__errors_clear(&e);

	vbx_config *redis = c->plugins[0].block;
	vbx_config *auth = c->plugins[1].block;
	assert_int_equal(vbx__cfg_string(redis, "url", NULL, &url), VBX_OK);
	assert_int_equal(vbx__cfg_int(redis, "pool", 1, 2, 1, &pool),
	                 VBX_EINVAL); /* a bad value still counts as read */
	vbx__config_mark_known(redis, "pw_file");
	vbx__config_mark_known(redis, "pw_file"); /* twice is fine */
	assert_int_equal(vbx__conf_check_unknown(c, &e), 3);
	expect_errors(&e, "%s:4: plugins.redis-cache.urll: unknown key",
	              "%s:8: plugins.auth.ttl: unknown key",
	              "%s:8: plugins.auth.extra: unknown key", NULL);
	vbx__errors_clear(&e);

	vbx__config_mark_known(auth, NULL);                /* all of them */
	vbx__config_mark_known(c->plugins[2].block, NULL); /* has none */
	assert_int_equal(vbx__conf_check_unknown(c, &e), 1);
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

/* ---- comparing blocks (a reload of a plugin without validate) ---- */

/* Is the block of `a` the same as the block of `b`? Both are the text of
 * one plugin's `config = { ... };` group. */
static bool same(const char *a, const char *b)
{
	char text[2][1024];
	vbx__conf *c[2];
	const char *blocks[2] = {a, b};

	for (int i = 0; i < 2; i++) {
		snprintf(text[i], sizeof(text[i]),
		         "plugins = ( { name = \"p\"; %s } );", blocks[i]);
		c[i] = load_ok(text[i]);
	}
	bool r = vbx__config_same(c[0]->plugins[0].block,
	                          c[1]->plugins[0].block);
	assert_true(vbx__config_same(c[1]->plugins[0].block,
	                             c[0]->plugins[0].block) == r);
	vbx__conf_free(c[0]);
	vbx__conf_free(c[1]);
	return r;
}

static void test_config_same(void **state)
{
	/* Where and how a value is written does not count. */
	assert_true(same("config = { a = 1; b = \"x\"; };",
	                 "config = {\n\n b = \"x\" ;\n a = 0x1; };"));
	assert_true(
	        same("config = { n = { x = [1, 2]; y = (\"s\", 2L); }; };",
	             "config = { n = { y = (\"s\", 2L); x = [1, 2]; }; };"));
	assert_true(same("config = { f = 1.5; t = true; };",
	                 "config = { t = true; f = 1.50; };"));
	/* No block, an empty one: no keys either way. */
	assert_true(same("", "config = { };"));
	assert_true(same("config = { };", ""));

	/* A value, a type, a key more or less, an element's order. */
	assert_false(same("config = { a = 1; };", "config = { a = 2; };"));
	assert_false(same("config = { a = 1; };", "config = { a = \"1\"; };"));
	assert_false(same("config = { a = 1; };", "config = { a = 1L; };"));
	assert_false(same("config = { a = 1; };", "config = { a = 1.0; };"));
	assert_false(same("config = { a = 1; };", "config = { A = 1; };"));
	assert_false(
	        same("config = { a = 1; };", "config = { a = 1; b = 1; };"));
	assert_false(same("config = { a = 1; };", ""));
	assert_false(
	        same("config = { s = \"x\"; };", "config = { s = \"x \"; };"));
	assert_false(
	        same("config = { l = [1, 2]; };", "config = { l = [2, 1]; };"));
	assert_false(
	        same("config = { l = (1, 2); };", "config = { l = [1, 2]; };"));
	assert_false(same("config = { g = { x = true; }; };",
	                  "config = { g = { x = false; }; };"));
	assert_false(same("config = { g = { x = 1; }; };",
	                  "config = { g = { x = 1; y = 1; }; };"));
	assert_true(vbx__config_same(NULL, NULL));
}

static void test_check_unknown_one_block(void **state)
{
	vbx__conf *c = load_ok("plugins = (\n"
	                       "  { name = \"a\"; config = { x = 1; y = 2; }; "
	                       "},\n"
	                       "  { name = \"b\"; config = { z = 3; }; }\n"
	                       ");\n");
	vbx__errors e = {0};
	long long v;

	assert_int_equal(vbx__cfg_int(c->plugins[0].block, "x", 0, 9, 0, &v),
	                 VBX_OK);
	assert_int_equal(vbx__config_check_unknown(c->plugins[0].block, &e), 1);
	expect_errors(&e, "%s:2: plugins.a.y: unknown key", NULL);
	assert_null(c->plugins[0].block->errs); /* errs was only a view's */
	vbx__errors_clear(&e);
	vbx__conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_full_file),
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_plugin_path),
	        cmocka_unit_test(test_plugin_path_errors),
	        cmocka_unit_test(test_load_buffer),
	        cmocka_unit_test(test_unreadable_file),
	        cmocka_unit_test(test_syntax_error),
	        cmocka_unit_test(test_nul_byte),
	        cmocka_unit_test(test_include_names_its_file),
	        cmocka_unit_test(test_include_duplicate_plugin),
	        cmocka_unit_test(test_big_file),
	        cmocka_unit_test(test_load_without_error_list),
	        cmocka_unit_test(test_unknown_keys),
	        cmocka_unit_test(test_moved_section),
	        cmocka_unit_test(test_type_and_range_errors),
	        cmocka_unit_test(test_boundaries_accepted),
	        cmocka_unit_test(test_several_errors),
	        cmocka_unit_test(test_listen_forms),
	        cmocka_unit_test(test_listen_errors),
	        cmocka_unit_test(test_trusted_proxies),
	        cmocka_unit_test(test_trusted_proxies_errors),
	        cmocka_unit_test(test_plugin_entries),
	        cmocka_unit_test(test_plugin_names_ok),
	        cmocka_unit_test(test_parse_duration),
	        cmocka_unit_test(test_parse_size),
	        cmocka_unit_test(test_get_string_bool),
	        cmocka_unit_test(test_get_number),
	        cmocka_unit_test(test_get_int),
	        cmocka_unit_test(test_workers_for_cpus),
	        cmocka_unit_test(test_cpu_count),
	        cmocka_unit_test(test_cpu_quota_parse),
	        cmocka_unit_test(test_get_int_derived),
	        cmocka_unit_test(test_get_int_derived_dotted),
	        cmocka_unit_test(test_get_duration_shown),
	        cmocka_unit_test(test_get_duration),
	        cmocka_unit_test(test_get_size),
	        cmocka_unit_test(test_get_strings),
	        cmocka_unit_test(test_get_error_and_log),
	        cmocka_unit_test(test_dotted_keys),
	        cmocka_unit_test(test_list_keys),
	        cmocka_unit_test(test_secret_inline),
	        cmocka_unit_test(test_secret_file),
	        cmocka_unit_test(test_secret_errors),
	        cmocka_unit_test(test_check_unknown),
	        cmocka_unit_test(test_config_same),
	        cmocka_unit_test(test_check_unknown_one_block),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
