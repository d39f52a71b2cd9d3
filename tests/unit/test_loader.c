/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_loader.c - the plugin loader against real shared objects: the good
 * pair, and one deliberately broken plugin (tests/plugins/) per message.
 *
 * VBX_TEST_PLUGIN_DIR names the directory holding the built test plugins.
 * The plugins append their lifecycle calls to the file VBX_TEST_TRACE
 * names, which is how these tests see the order of init, start, stop and
 * fini, and that fini never follows a failed init.
 */
#include "vbx_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

#include "../plugins/test_hooks.h"

#ifndef VBX_HAVE_HOST
/* host.c is not linked in: the registry only needs the table's address. */
const vbx_host vbx__host;

const char *vbx__strerror(int rc)
{
	switch (rc) {
	case VBX_OK:
		return "success";
	case VBX_EINVAL:
		return "bad argument or bad configuration";
	case VBX_EUNAVAIL:
		return "a capability or dependency is missing";
	default:
		return "error";
	}
}
#endif

/* ---- the host table the test plugins call ---- */

static void host_log(const vbx_plugin *p, int level, const char *fmt,
                     va_list ap)
{
	vbx__vlog(p->name, level, fmt, ap);
}

static int host_log_enabled(const vbx_plugin *p, int level)
{
	return vbx__log_enabled(level);
}

static const char *host_plugin_name(const vbx_plugin *p)
{
	return p->name;
}

static const vbx_host test_host = {
        .struct_size = sizeof(vbx_host),
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .log = host_log,
        .log_enabled = host_log_enabled,
        .plugin_name = host_plugin_name,
        .strerror = vbx__strerror,
        .cfg_string = vbx__cfg_string,
        .cfg_int = vbx__cfg_int,
        .cfg_duration = vbx__cfg_duration,
        .cfg_error = vbx__cfg_error,
        .hook_get = vbx__hook_get,
        .hook_register = vbx__hook_register,
        .event_get = vbx__event_get,
        .event_subscribe = vbx__event_subscribe,
};

/* ---- fixture ---- */

#define MAX_CONFS 8

static char plugin_dir[4096];

static struct {
	char tmp[64];        /* a scratch directory for this test */
	char trace[128];     /* $tmp/trace */
	char conf_path[128]; /* $tmp/vibeboxd.conf */
	vbx__conf *confs[MAX_CONFS];
	size_t nconfs;
	vbx__errors errs;
} t;

static int setup(void **state)
{
	memset(&t, 0, sizeof(t));
	strcpy(t.tmp, "/tmp/vbx-test-loader-XXXXXX");
	if (!mkdtemp(t.tmp))
		return -1;
	snprintf(t.trace, sizeof(t.trace), "%s/trace", t.tmp);
	snprintf(t.conf_path, sizeof(t.conf_path), "%s/vibeboxd.conf", t.tmp);
	setenv("VBX_TEST_TRACE", t.trace, 1);
	vbx__loader_set_host(&test_host);
	return 0;
}

static void remove_in_tmp(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", t.tmp, name);
	unlink(path);
}

static int teardown(void **state)
{
	vbx__plugins_fini();
	vbx__plugins_free();
	vbx__registry_fini();
	for (size_t i = 0; i < t.nconfs; i++)
		vbx__conf_free(t.confs[i]);
	vbx__errors_clear(&t.errs);
	remove_in_tmp("trace");
	remove_in_tmp("vibeboxd.conf");
	remove_in_tmp("garbage.so");
	rmdir(t.tmp);
	unsetenv("VBX_TEST_TRACE");
	return 0;
}

/* ---- helpers ---- */

static char *format(const char *fmt, ...) VBX_PRINTF(1, 2);
static char *format(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

/* Write a config whose plugins list is `entries`, with `where` the
 * setting that says where plugins are, and load it. */
static vbx__conf *conf_with(const char *where, const char *entries)
{
	vbx__conf *conf = NULL;
	FILE *f = fopen(t.conf_path, "w");

	assert_non_null(f);
	fprintf(f, "%s\nstate_dir = \"%s\";\n", where, t.tmp);
	fprintf(f, "plugins = (\n%s\n);\n", entries);
	fclose(f);
	assert_int_equal(vbx__conf_load(t.conf_path, &conf, &t.errs), VBX_OK);
	assert_int_equal(t.errs.count, 0);
	/* Blocks carry the daemon's host table; the plugins need ours. */
	for (size_t i = 0; i < conf->nplugins; i++)
		conf->plugins[i].block->head.host = &test_host;
	assert_true(t.nconfs < MAX_CONFS);
	t.confs[t.nconfs++] = conf;
	return conf;
}

/* The same with plugin_dir = dir. */
static vbx__conf *conf_in(const char *dir, const char *entries)
{
	char *where = format("plugin_dir = \"%s\";", dir);
	vbx__conf *conf = conf_with(where, entries);
	free(where);
	return conf;
}

/* A config of the named plugins (NULL-terminated), with empty blocks. */
static vbx__conf *conf_of(const char *first, ...)
{
	char entries[2048] = "";
	size_t len = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *name = first; name; name = va_arg(ap, const char *))
		len += (size_t)snprintf(entries + len, sizeof(entries) - len,
		                        "%s  { name = \"%s\"; config = { }; }",
		                        len ? ",\n" : "", name);
	va_end(ap);
	return conf_in(plugin_dir, entries);
}

/* Ends the name lists below (a bare NULL may be an int in varargs). */
#define END ((const char *)NULL)

#define LOAD(...) vbx__plugins_load(conf_of(__VA_ARGS__, END), &t.errs)

static void assert_error(size_t i, const char *expected)
{
	assert_true(i < t.errs.count);
	assert_string_equal(t.errs.msgs[i], expected);
}

/* The error says `what` about plugin `name` and its file. */
static void assert_plugin_error(size_t i, const char *name, const char *what)
{
	char *expected = format("plugin \"%s\": %s/%s.so: %s", name, plugin_dir,
	                        name, what);
	assert_error(i, expected);
	free(expected);
}

static void assert_trace(const char *expected)
{
	char buf[4096] = "";
	FILE *f = fopen(t.trace, "r");

	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	assert_string_equal(buf, expected);
}

static void assert_order(const char *first, ...)
{
	size_t i = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *name = first; name; name = va_arg(ap, const char *))
		assert_string_equal(vbx__plugins_at(i++)->name, name);
	va_end(ap);
	assert_int_equal(vbx__plugins_count(), i);
	assert_null(vbx__plugins_at(i));
}

static void assert_states(int state)
{
	for (size_t i = 0; i < vbx__plugins_count(); i++)
		assert_int_equal(vbx__plugins_at(i)->state, state);
}

/* ---- the good pair ---- */

/* needhello is listed first but requires what hello provides. */
static void test_good_pair_lifecycle(void **state)
{
	assert_int_equal(LOAD("needhello", "hello"), VBX_OK);
	assert_int_equal(t.errs.count, 0);
	assert_order("hello", "needhello", END);
	assert_states(VBX__PLUGIN_INITED);
	assert_trace("hello:init\nneedhello:init\n");

	assert_int_equal(vbx__plugins_start(&t.errs), VBX_OK);
	assert_states(VBX__PLUGIN_STARTED);
	assert_trace("hello:init\nneedhello:init\nhello:start\n"
	             "needhello:start\n");

	vbx__plugins_stop();
	assert_states(VBX__PLUGIN_STOPPED);
	vbx__plugins_fini();
	assert_states(VBX__PLUGIN_LOADED);
	assert_trace("hello:init\nneedhello:init\nhello:start\n"
	             "needhello:start\nneedhello:stop\nhello:stop\n"
	             "needhello:fini\nhello:fini\n");
	assert_int_equal(t.errs.count, 0);
}

static void test_good_pair_handles(void **state)
{
	vbx__conf *conf = conf_of("needhello", "hello", END);

	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_OK);
	vbx_plugin *hello = vbx__plugins_at(0), *need = vbx__plugins_at(1);
	assert_int_equal(hello->order, 1);
	assert_int_equal(need->order, 0);
	assert_ptr_equal(hello->cfg, conf->plugins[1].block);
	assert_ptr_equal(need->cfg, conf->plugins[0].block);
	assert_ptr_equal(hello->head.host, &test_host);
	assert_non_null(hello->dl);
	assert_string_equal(hello->desc->version, "1.0.0");
	char *file = format("%s/hello.so", plugin_dir);
	assert_string_equal(hello->file, file);
	free(file);
}

static void test_core_plugin(void **state)
{
	vbx_plugin *core = vbx__core_plugin();

	assert_string_equal(core->name, "core");
	assert_null(core->file);
	assert_int_equal(core->order, -1);
	assert_int_equal(core->state, VBX__PLUGIN_STARTED);
	assert_ptr_equal(core->head.host, &test_host);
	assert_string_equal(core->desc->name, "core");
}

static void test_print_table(void **state)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(LOAD("needhello", "hello"), VBX_OK);
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	vbx__plugins_print_table(f);
	fclose(f);
	assert_string_equal(text, "NAME       VERSION  PROVIDES  REQUIRES\n"
	                          "hello      1.0.0    greeting  -\n"
	                          "needhello  0.2      -         greeting\n");
	free(text);
}

/* Each step picks the lowest-order plugin whose requirements are met. */
static void test_ties_in_config_order(void **state)
{
	assert_int_equal(LOAD("needhello", "provider-a", "hello"), VBX_OK);
	assert_order("provider-a", "hello", "needhello", END);
	assert_trace("provider-a:init\nhello:init\nneedhello:init\n");
}

static void test_reconfigure(void **state)
{
	assert_int_equal(LOAD("needhello", "hello"), VBX_OK);

	vbx__conf *same = conf_of("needhello", "hello", END);
	assert_false(vbx__plugins_set_changed(same));
	vbx__plugins_reconfigure(same);
	assert_ptr_equal(vbx__plugins_at(0)->cfg, same->plugins[1].block);
	assert_ptr_equal(vbx__plugins_at(1)->cfg, same->plugins[0].block);

	assert_true(
	        vbx__plugins_set_changed(conf_of("hello", "needhello", END)));
	assert_true(vbx__plugins_set_changed(conf_of("needhello", END)));
}

static void test_load_twice(void **state)
{
	assert_int_equal(LOAD("hello"), VBX_OK);
	assert_int_equal(LOAD("hello"), VBX_ESTATE);
	assert_error(0, "plugins are loaded already");
}

/* ---- files that cannot be used ---- */

static void test_missing_file(void **state)
{
	char *what = format("plugin \"nosuch\": nosuch.so not found in "
	                    "plugin_dir (searched %s); is the plugin installed "
	                    "in one of these directories?",
	                    plugin_dir);
	assert_int_equal(LOAD("nosuch"), VBX_ENOTFOUND);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, what);
	free(what);
}

/* plugin_path is searched in order: the first directory with NAME.so
 * wins, and "not found" names every directory searched. */
static void test_plugin_path_order(void **state)
{
	char *where =
	        format("plugin_path = [ \"%s\", \"%s/\" ];", t.tmp, plugin_dir);
	vbx__conf *conf = conf_with(where, "{ name = \"hello\"; }");
	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_OK);
	char *file = format("%s/hello.so", plugin_dir);
	assert_string_equal(vbx__plugins_at(0)->file, file);
	free(file);
	vbx__plugins_fini();
	vbx__plugins_free();

	/* A hello.so in the first directory hides the second's. */
	char *shadow = format("%s/hello.so", t.tmp);
	FILE *f = fopen(shadow, "w");
	assert_non_null(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	char *head = format("plugin \"hello\": %s: cannot open: ", shadow);
	assert_int_equal(strncmp(t.errs.msgs[0], head, strlen(head)), 0);
	free(head);
	unlink(shadow);
	free(shadow);
	vbx__plugins_free();
	vbx__errors_clear(&t.errs);

	conf = conf_with(where, "{ name = \"nosuch\"; }");
	char *what = format("plugin \"nosuch\": nosuch.so not found in "
	                    "plugin_path (searched %s, %s/); is the plugin "
	                    "installed in one of these directories?",
	                    t.tmp, plugin_dir);
	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_ENOTFOUND);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, what);
	free(what);
	free(where);
}

static void test_not_a_shared_object(void **state)
{
	char *path = format("%s/garbage.so", t.tmp);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (int i = 0; i < 20; i++)
		fputs("this is not an ELF file\n", f);
	fclose(f);
	vbx__conf *conf = conf_in(t.tmp, "{ name = \"garbage\"; }");
	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);

	/* The reason is dlerror()'s, without the path it repeats. */
	char *head = format("plugin \"garbage\": %s: cannot open: ", path);
	const char *tail = "; is it a vibeboxd plugin built for this system, "
	                   "with the libraries it needs installed?";
	const char *msg = t.errs.msgs[0];
	assert_int_equal(strncmp(msg, head, strlen(head)), 0);
	assert_true(strlen(msg) > strlen(head) + strlen(tail));
	assert_string_equal(msg + strlen(msg) - strlen(tail), tail);
	assert_int_not_equal(msg[strlen(head)], '/');
	free(head);
	free(path);
}

static void test_undefined_symbol(void **state)
{
	assert_int_equal(LOAD("undefsym"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_non_null(strstr(t.errs.msgs[0], "cannot open: undefined symbol: "
	                                       "vbx_test_no_such_function"));
}

static void test_no_entry(void **state)
{
	assert_int_equal(LOAD("noentry"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "noentry",
	                    "no entry symbol \"vbx_plugin_entry\"; is it a "
	                    "vibeboxd plugin?");
}

static void test_null_descriptor(void **state)
{
	assert_int_equal(LOAD("nulldesc"), VBX_EINVAL);
	assert_plugin_error(0, "nulldesc",
	                    "vbx_plugin_entry() returned no descriptor; the "
	                    "plugin is broken, contact its author");
}

/* ---- descriptors that cannot be used ---- */

static void test_bad_magic(void **state)
{
	assert_int_equal(LOAD("badmagic"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "badmagic",
	                    "bad magic 0x12345678 (expected 0x56425850); not "
	                    "a vibeboxd plugin or corrupt");
	assert_trace("");
}

static void test_abi_major(void **state)
{
	char *what = format("built for plugin ABI %d.0, this vibeboxd has ABI "
	                    "%d.%d; rebuild the plugin against this SDK",
	                    VBX_ABI_MAJOR + 1, VBX_ABI_MAJOR, VBX_ABI_MINOR);

	assert_int_equal(LOAD("abimajor"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "abimajor", what);
	free(what);
}

static void test_abi_minor(void **state)
{
	char *what = format("built for plugin ABI %d.%d, newer than this "
	                    "vibeboxd's %d.%d; upgrade vibeboxd or use an "
	                    "older plugin",
	                    VBX_ABI_MAJOR, VBX_ABI_MINOR + 1, VBX_ABI_MAJOR,
	                    VBX_ABI_MINOR);

	assert_int_equal(LOAD("abiminor"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "abiminor", what);
	free(what);
}

/* A plugin built for ABI 1.0 loads, inits, starts and serves its hook on
 * this daemon of a later 1.x. */
static void test_abi_1_0_plugin_runs(void **state)
{
	assert_true(VBX_ABI_MAJOR == 1 && VBX_ABI_MINOR > 0);
	assert_int_equal(LOAD("abi10"), VBX_OK);
	assert_int_equal(t.errs.count, 0);
	assert_int_equal(vbx__plugins_at(0)->desc->abi_minor, 0);
	vbx__registry_freeze();
	assert_int_equal(vbx__plugins_start(&t.errs), VBX_OK);

	int out = 0;
	vbx_hook *h = vbx_hook_test_provide_get(vbx__core_plugin());
	assert_non_null(h);
	assert_int_equal(vbx_hook_test_provide_run(h, &out), VBX_OK);
	assert_int_equal(out, 10);
	vbx__plugins_fini();
	assert_trace("abi10:init\nabi10:start\nabi10:stop\nabi10:fini\n");
}

static void test_short_descriptor(void **state)
{
	char *what = format("descriptor is 16 bytes, ABI %d.%d needs at least "
	                    "%zu; the plugin is corrupt, rebuild it against "
	                    "this SDK",
	                    VBX_ABI_MAJOR, VBX_ABI_MINOR,
	                    offsetof(vbx_plugin_desc, fini) + sizeof(void *));

	assert_int_equal(LOAD("shortdesc"), VBX_EINVAL);
	assert_plugin_error(0, "shortdesc", what);
	free(what);
}

static void test_wrong_name(void **state)
{
	assert_int_equal(LOAD("badname"), VBX_EINVAL);
	assert_plugin_error(0, "badname",
	                    "descriptor names the plugin \"othername\"; "
	                    "configure it as \"othername\" and install it as "
	                    "othername.so");
}

static void test_null_function(void **state)
{
	assert_int_equal(LOAD("nullfn"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "nullfn", "mandatory function fini is NULL");
	assert_trace("");
}

/* Every bad file is reported, and no plugin is inited. */
static void test_all_errors_in_one_pass(void **state)
{
	assert_int_equal(
	        LOAD("noentry", "hello", "badmagic", "nullfn", "needcap"),
	        VBX_EINVAL);
	assert_int_equal(t.errs.count, 3);
	assert_plugin_error(0, "noentry",
	                    "no entry symbol \"vbx_plugin_entry\"; is it a "
	                    "vibeboxd plugin?");
	assert_plugin_error(1, "badmagic",
	                    "bad magic 0x12345678 (expected 0x56425850); not "
	                    "a vibeboxd plugin or corrupt");
	assert_plugin_error(2, "nullfn", "mandatory function fini is NULL");
	assert_trace("");
}

/* ---- the configured list itself ---- */

/* A config built by hand, for what config.c may refuse on its own. */
static int load_names(const char *const *names, const int *lines, size_t n)
{
	vbx__plugin_conf pcs[4];
	char *path[] = {plugin_dir, NULL};
	vbx__conf conf = {
	        .path = "test.conf",
	        .plugin_path = path,
	        .nplugin_path = 1,
	        .plugins = pcs,
	        .nplugins = n,
	};

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++)
		pcs[i] = (vbx__plugin_conf){(char *)names[i], NULL, lines[i]};
	return vbx__plugins_load(&conf, &t.errs);
}

static void test_listed_twice(void **state)
{
	const char *names[] = {"hello", "needhello", "hello"};
	const int lines[] = {3, 4, 5};

	assert_int_equal(load_names(names, lines, 3), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, "test.conf:5: plugins: plugin \"hello\" is listed "
	                "twice (first on line 3); remove one entry");
	assert_trace("");
}

static void test_name_not_a_file_name(void **state)
{
	const char *names[] = {"../hello", ""};
	const int lines[] = {7, 8};

	assert_int_equal(load_names(names, lines, 2), VBX_EINVAL);
	assert_int_equal(t.errs.count, 2);
	assert_error(0, "test.conf:7: plugins: plugin name \"../hello\" is not "
	                "valid; use a-z, 0-9 and '-'");
	assert_error(1, "test.conf:8: plugins: plugin name \"\" is not "
	                "valid; use a-z, 0-9 and '-'");
}

/* ---- requires and provides ---- */

static void test_missing_capability(void **state)
{
	assert_int_equal(LOAD("needcap", "hello"), VBX_EUNAVAIL);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, "plugin \"needcap\" requires capability \"teleport\", "
	                "which no enabled plugin provides; enable a plugin "
	                "that provides it");
	assert_trace("");
}

static void test_missing_capabilities_all_named(void **state)
{
	assert_int_equal(LOAD("needcap", "needhello"), VBX_EUNAVAIL);
	assert_int_equal(t.errs.count, 3);
	assert_non_null(strstr(t.errs.msgs[0], "\"needcap\" requires "
	                                       "capability \"greeting\""));
	assert_non_null(strstr(t.errs.msgs[1], "\"needcap\" requires "
	                                       "capability \"teleport\""));
	assert_non_null(strstr(t.errs.msgs[2], "\"needhello\" requires "
	                                       "capability \"greeting\""));
}

static void test_cycle(void **state)
{
	assert_int_equal(LOAD("hello", "cycle-b", "cycle-a"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, "dependency cycle among plugins: cycle-b -> cycle-a "
	                "-> cycle-b; disable one of these plugins");
	assert_trace("");
}

/* The walk starts at needcycle, which waits on the cycle but is not in it. */
static void test_cycle_named_without_bystanders(void **state)
{
	assert_int_equal(LOAD("needcycle", "cycle-a", "hello", "cycle-b"),
	                 VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_error(0, "dependency cycle among plugins: cycle-a -> cycle-b "
	                "-> cycle-a; disable one of these plugins");
	assert_trace("");
}

/* ---- init and start failures ---- */

static void test_init_failure(void **state)
{
	char *what = format("init failed: %s", vbx__strerror(VBX_EINVAL));

	assert_int_equal(LOAD("hello", "initfail", "needhello"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "initfail", what);
	/* hello is finalised; initfail's fini is never called. */
	assert_trace("hello:init\ninitfail:init\nhello:fini\n");
	assert_int_equal(vbx__plugins_at(0)->state, VBX__PLUGIN_LOADED);
	vbx__plugins_fini();
	assert_trace("hello:init\ninitfail:init\nhello:fini\n");
	free(what);
}

/* A config error recorded by a getter during init is in errs too. */
static void test_init_config_error(void **state)
{
	vbx__conf *conf = conf_in(plugin_dir, "{ name = \"hello\"; "
	                                      "config = { greeting = 5; }; }");
	char *what = format("init failed: %s", vbx__strerror(VBX_EINVAL));

	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 2);
	assert_non_null(strstr(t.errs.msgs[0], "plugins.hello.greeting"));
	assert_plugin_error(1, "hello", what);
	assert_null(conf->plugins[0].block->errs);
	free(what);
}

/*
 * provider-b's registration as a second PROVIDER is refused; it returns
 * VBX_OK anyway, and the load still fails. It believes it succeeded, so
 * it is finalised along with provider-a.
 */
static void test_second_provider(void **state)
{
	assert_int_equal(LOAD("provider-a", "provider-b"), VBX_EINVAL);
	assert_int_equal(t.errs.count, 2);
	assert_non_null(strstr(t.errs.msgs[0], "provider-a"));
	assert_non_null(strstr(t.errs.msgs[0], "provider-b"));
	assert_plugin_error(1, "provider-b",
	                    "init failed: it reported success, but the errors "
	                    "above were recorded during it");
	assert_trace("provider-a:init\nprovider-b:init\nprovider-b:refused\n"
	             "provider-b:fini\nprovider-a:fini\n");
}

static void test_start_failure(void **state)
{
	char *what = format("start failed: %s", vbx__strerror(VBX_EUNAVAIL));

	assert_int_equal(LOAD("hello", "startfail"), VBX_OK);
	assert_int_equal(vbx__plugins_start(&t.errs), VBX_EUNAVAIL);
	assert_int_equal(t.errs.count, 1);
	assert_plugin_error(0, "startfail", what);
	/* hello is stopped; startfail, never started, is not. */
	assert_int_equal(vbx__plugins_at(0)->state, VBX__PLUGIN_STOPPED);
	assert_int_equal(vbx__plugins_at(1)->state, VBX__PLUGIN_INITED);
	vbx__plugins_fini();
	assert_trace("hello:init\nstartfail:init\nhello:start\n"
	             "startfail:start\nhello:stop\nstartfail:fini\n"
	             "hello:fini\n");
	free(what);
}

/* ---- validate: at init, and on a reload ---- */

#define RELOADKIT "{ name = \"reloadkit\"; config = { greeting = \"hi\"; }; }"

/* A new config of reloadkit with block, then hello, as after a SIGHUP. */
static vbx__conf *reload_conf(const char *block)
{
	char *entries = format("{ name = \"reloadkit\"; config = { %s }; },\n"
	                       "{ name = \"hello\"; config = { }; }",
	                       block);
	vbx__conf *conf = conf_in(plugin_dir, entries);
	free(entries);
	return conf;
}

/* The line of `needle` in the config file last written. */
static int line_in_conf(const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(t.conf_path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, needle)) {
			fclose(f);
			return n;
		}
	}
	fclose(f);
	fail_msg("%s not in the config", needle);
	return 0;
}

static void assert_conf_error(size_t i, const char *what, const char *line)
{
	char *want = format("%s:%d: %s", t.conf_path, line_in_conf(line), what);
	assert_error(i, want);
	free(want);
}

/* Validate steps that break their contract are refused all the same. */
static int validate_silent(vbx_plugin *self, const vbx_config *cfg)
{
	return VBX_EINVAL;
}

static int validate_liar(vbx_plugin *self, const vbx_config *cfg)
{
	long long v;
	vbx_cfg_int(cfg, "n", 1, 2, 1, &v);
	return VBX_OK;
}

static void test_validate_is_read_from_abi_1_1_only(void **state)
{
	assert_int_equal(LOAD("hello"), VBX_OK);
	vbx_plugin *p = vbx__plugins_at(0);
	vbx_plugin_desc d = *p->desc;
	const vbx_plugin_desc *real = p->desc;

	d.validate = validate_silent;
	p->desc = &d;
	assert_true(vbx__plugin_has_validate(p));
	d.abi_minor = 0; /* a 1.0 plugin: the slot was reserved[0] */
	assert_false(vbx__plugin_has_validate(p));
	d.abi_minor = 1;
	d.struct_size = (uint32_t)offsetof(vbx_plugin_desc, validate);
	assert_false(vbx__plugin_has_validate(p));
	p->desc = real;
	assert_false(vbx__plugin_has_validate(p)); /* hello has none */
}

/* A block validate refuses is not given to init, which never runs. */
static void test_validate_before_init(void **state)
{
	vbx__conf *conf = conf_in(plugin_dir, "{ name = \"reloadkit\"; "
	                                      "config = { limit = 0; }; }");

	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 3);
	assert_conf_error(0,
	                  "plugins.reloadkit.greeting: required: a non-empty "
	                  "string, such as greeting = \"hi\"",
	                  "reloadkit");
	assert_conf_error(1,
	                  "plugins.reloadkit.limit: expected an integer "
	                  "1..100, got 0",
	                  "reloadkit");
	assert_plugin_error(2, "reloadkit",
	                    "not initialised: its config block has the errors "
	                    "above");
	assert_trace("");
	assert_int_equal(vbx__plugins_at(0)->state, VBX__PLUGIN_LOADED);
}

static void test_validate_unknown_key_at_init(void **state)
{
	vbx__conf *conf =
	        conf_in(plugin_dir, "{ name = \"reloadkit\"; config = { "
	                            "greeting = \"hi\"; limt = 3; }; }");

	assert_int_equal(vbx__plugins_load(conf, &t.errs), VBX_EINVAL);
	assert_conf_error(0, "plugins.reloadkit.limt: unknown key", "limt");
	assert_trace("");
}

static void test_reload_validates_every_block(void **state)
{
	assert_int_equal(
	        vbx__plugins_load(reload_conf("greeting = \"hi\";"), &t.errs),
	        VBX_OK);
	vbx_plugin *kit = vbx__plugins_at(0);
	vbx_config *running = kit->cfg;

	/* good: nothing recorded, nothing applied either */
	vbx__conf *good = reload_conf("greeting = \"yo\"; ttl = \"2h\";");
	assert_int_equal(vbx__plugins_validate(good, &t.errs), VBX_OK);
	assert_int_equal(t.errs.count, 0);
	assert_ptr_equal(kit->cfg, running);

	/* a value out of range */
	vbx__conf *bad = reload_conf("greeting = \"hi\"; ttl = \"2d\";");
	assert_int_equal(vbx__plugins_validate(bad, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_conf_error(0,
	                  "plugins.reloadkit.ttl: expected a duration 1m..1d, "
	                  "got \"2d\"",
	                  "reloadkit");
	assert_null(bad->plugins[0].block->errs);
	assert_ptr_equal(kit->cfg, running);
	vbx__errors_clear(&t.errs);

	bad = reload_conf("greeting = \"hi\"; colour = 1;");
	assert_int_equal(vbx__plugins_validate(bad, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 1);
	assert_conf_error(0, "plugins.reloadkit.colour: unknown key",
	                  "reloadkit");
	assert_ptr_equal(kit->cfg, running);

	/* only vbx__plugins_reconfigure() hands the blocks over */
	vbx__plugins_reconfigure(good);
	assert_ptr_equal(kit->cfg, good->plugins[0].block);
}

/* hello has no validate step: only its running block passes. */
static void test_reload_without_validate(void **state)
{
	assert_int_equal(
	        vbx__plugins_load(conf_in(plugin_dir,
	                                  "{ name = \"hello\"; config = { "
	                                  "greeting = \"hi\"; }; }"),
	                          &t.errs),
	        VBX_OK);
	vbx__conf *same = conf_in(plugin_dir, "{ name = \"hello\";\n"
	                                      "config = { greeting = \"hi\"; "
	                                      "}; }");
	assert_int_equal(vbx__plugins_validate(same, &t.errs), VBX_OK);
	assert_int_equal(t.errs.count, 0);

	vbx__conf *changed =
	        conf_in(plugin_dir, "{ name = \"hello\"; config = { "
	                            "greeting = \"bye\"; }; }");
	assert_int_equal(vbx__plugins_validate(changed, &t.errs), VBX_EINVAL);
	char *what = format("plugins.hello: changed, but plugin \"hello\" has "
	                    "no validate step to check it (built for plugin "
	                    "ABI %d.%d, or without one): restart vibeboxd to "
	                    "apply this block, or put the running one back",
	                    VBX_ABI_MAJOR, VBX_ABI_MINOR);
	assert_conf_error(0, what, "hello");
	free(what);
}

static void test_reload_broken_validate(void **state)
{
	assert_int_equal(LOAD("hello"), VBX_OK);
	vbx_plugin *p = vbx__plugins_at(0);
	vbx_plugin_desc d = *p->desc;
	const vbx_plugin_desc *real = p->desc;
	vbx__conf *conf = conf_in(plugin_dir, "{ name = \"hello\"; "
	                                      "config = { n = 5; }; }");
	vbx_config *block = conf->plugins[0].block;

	p->desc = &d;
	d.validate = validate_silent;
	assert_int_equal(vbx__plugin_validate(p, block, &t.errs), VBX_EINVAL);
	char *why = format("validate refused its block without saying why "
	                   "(%s); contact the plugin's author",
	                   vbx__strerror(VBX_EINVAL));
	assert_plugin_error(0, "hello", why);
	free(why);
	vbx__errors_clear(&t.errs);

	d.validate = validate_liar;
	assert_int_equal(vbx__plugin_validate(p, block, &t.errs), VBX_EINVAL);
	assert_int_equal(t.errs.count, 2);
	assert_conf_error(0, "plugins.hello.n: expected an integer 1..2, got 5",
	                  "hello");
	assert_plugin_error(1, "hello",
	                    "validate reported success, but the errors above "
	                    "were recorded during it");
	p->desc = real;
}

int main(void)
{
	const char *dir = getenv("VBX_TEST_PLUGIN_DIR");
	size_t n;

	if (!dir || !*dir || strlen(dir) >= sizeof(plugin_dir)) {
		fprintf(stderr, "test_loader: set VBX_TEST_PLUGIN_DIR to the "
		                "directory of the built tests/plugins/*.so\n");
		return 1;
	}
	strcpy(plugin_dir, dir);
	n = strlen(plugin_dir);
	while (n > 1 && plugin_dir[n - 1] == '/')
		plugin_dir[--n] = '\0';
	vbx__log_configure(VBX_LOG_WARN, false);

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_good_pair_lifecycle),
	        T(test_good_pair_handles),
	        T(test_core_plugin),
	        T(test_print_table),
	        T(test_ties_in_config_order),
	        T(test_reconfigure),
	        T(test_load_twice),
	        T(test_missing_file),
	        T(test_plugin_path_order),
	        T(test_not_a_shared_object),
	        T(test_undefined_symbol),
	        T(test_no_entry),
	        T(test_null_descriptor),
	        T(test_bad_magic),
	        T(test_abi_major),
	        T(test_abi_minor),
	        T(test_abi_1_0_plugin_runs),
	        T(test_short_descriptor),
	        T(test_wrong_name),
	        T(test_null_function),
	        T(test_all_errors_in_one_pass),
	        T(test_listed_twice),
	        T(test_name_not_a_file_name),
	        T(test_missing_capability),
	        T(test_missing_capabilities_all_named),
	        T(test_cycle),
	        T(test_cycle_named_without_bystanders),
	        T(test_init_failure),
	        T(test_init_config_error),
	        T(test_second_provider),
	        T(test_start_failure),
	        T(test_validate_is_read_from_abi_1_1_only),
	        T(test_validate_before_init),
	        T(test_validate_unknown_key_at_init),
	        T(test_reload_validates_every_block),
	        T(test_reload_without_validate),
	        T(test_reload_broken_validate),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
