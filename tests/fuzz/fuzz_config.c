/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c - feed arbitrary text to the config loader and, when it
 * loads, run every getter on every key of every plugin block, then the
 * unknown-key check. Nothing may crash, read out of bounds or leak.
 *
 * Inputs with @include are skipped: they would make the loader read files
 * of this machine, which is neither reproducible nor the parser's input.
 * For the same reason a secret is only asked for when the block has no
 * KEY_file twin, so no secret file is ever opened.
 */
#include "vbx_build.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#ifndef VBX_HAVE_HOST
const vbx_host vbx__host;
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

/*
 * libconfig 1.5 leaks a string token when a syntax error follows it, as in
 * `a "x" = 1;` (fixed upstream in 1.8, commit f2e951c "Fix memory leak when
 * parsing invalid syntax"). Such a token is allocated in strbuf_append, or
 * for "" in the scanner itself; a leak of ours, even of a whole parsed
 * tree, shows other allocation frames (config_init, config_setting_add).
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/* Without this, every input that hits the suppressed leak prints a table. */
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

/* Ask for a secret at key only if that cannot open a file. */
static void try_secret(vbx_config *b, const char *key)
{
	char *fkey = NULL, *secret = NULL;

	if (asprintf(&fkey, "%s_file", key) < 0)
		return;
	bool has_file =
	        b->group && config_setting_get_member(b->group, fkey) != NULL;
	free(fkey);
	if (!has_file && vbx__cfg_secret(b, key, 1, &secret) == VBX_OK)
		free(secret);
}

/* Every getter on key, with ranges that some values pass and some fail. */
static void exercise_key(vbx_config *b, const char *key)
{
	const char *s;
	long long ll;
	int v;
	int64_t ms;
	uint64_t n;
	const char *const *list;
	size_t count;

	vbx__cfg_string(b, key, "dflt", &s);
	vbx__cfg_int(b, key, LLONG_MIN, LLONG_MAX, 0, &ll);
	vbx__cfg_int(b, key, 1, 1024, 8, &ll);
	vbx__cfg_bool(b, key, 1, &v);
	vbx__cfg_duration(b, key, "30s", 0, INT64_MAX, &ms);
	vbx__cfg_duration(b, key, NULL, 1000, 600000, &ms);
	vbx__cfg_size(b, key, "1MiB", 0, UINT64_MAX, &n);
	vbx__cfg_size(b, key, NULL, 1024, UINT64_C(1) << 30, &n);
	if (vbx__cfg_strings(b, key, &list, &count) == VBX_OK)
		for (size_t i = 0; i < count; i++)
			if (!list[i])
				abort(); /* count must match the array */
	try_secret(b, key);
}

static void exercise_block(vbx_config *b)
{
	if (b->group) {
		for (int i = 0; i < config_setting_length(b->group); i++) {
			const config_setting_t *s =
			        config_setting_get_elem(b->group, (unsigned)i);
			/* Odd keys stay unread for the unknown-key check. */
			if (config_setting_name(s) && i % 2 == 0)
				exercise_key(b, config_setting_name(s));
		}
	}
	exercise_key(b, "absent");
}

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vbx__errors errs = {0};
	vbx__conf *conf = NULL;
	char *text;

	if (size > 256 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strstr(text, "@include")) {
		free(text);
		return 0;
	}
	if (vbx__conf_load_buffer(text, "fuzz.conf", &conf, &errs) == VBX_OK) {
		if (!conf || conf->nlisten == 0 || !conf->nplugin_path ||
		    !conf->plugin_path[0] ||
		    conf->plugin_path[conf->nplugin_path] || !conf->state_dir)
			abort(); /* a loaded config is complete */
		for (size_t i = 0; i < conf->nplugins; i++) {
			vbx_config *b = conf->plugins[i].block;
			b->errs = &errs;
			exercise_block(b);
			cfg_error(b, NULL, "block %zu", i);
		}
		vbx__conf_check_unknown(conf, &errs);
		vbx__conf_free(conf);
	} else if (errs.count == 0 || conf) {
		abort(); /* a failure always says why, and returns nothing */
	}
	vbx__errors_clear(&errs);
	free(text);
	return 0;
}
