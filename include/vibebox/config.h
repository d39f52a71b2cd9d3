/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/config.h - typed, validating getters for a plugin's config block.
 *
 * A plugin's block is the `config = { ... }` group of its entry in the
 * `plugins` list. The handle is read-only and owned by the daemon; it stays
 * valid until the daemon exits. Strings returned by these getters live as
 * long as the handle.
 *
 * A key may name a member of a group inside the block with dots:
 * "environments.max_per_user" reads `environments = { max_per_user = 10;
 * };` (since ABI 1.1; a 1.0 daemon calls the group an unknown key).
 * Errors then name the whole path,
 * `plugins.platform.environments.max_per_user`.
 *
 * A part that is a decimal index reads an element of a list of groups
 * (since ABI 1.2): "engines.0.name" reads `engines = ( { name = "a"; },
 * ... );`. An index past the end reads as absent, so a plugin walks a list
 * by reading a key every element must have until it is absent; the
 * elements' members it did not ask for, and elements it never reached,
 * are errors naming their index (`plugins.docker-runtime.engines.1.typo`).
 *
 * Every getter records the key as known. After the plugin's validate (see
 * plugin.h) and after init, a key that no getter asked for is an error
 * that names it, so a typo never passes silently, at start or on reload.
 * On a bad value a getter records an error that names the file, the line
 * and the path (e.g. `vibeboxd.conf:12: plugins.redis-cache.pool: expected
 * 1..256, got 999`) and returns VBX_EINVAL; init should then return
 * VBX_EINVAL too, and `vibeboxd -t` prints every such error.
 */
#ifndef VIBEBOX_CONFIG_H
#define VIBEBOX_CONFIG_H

#include <vibebox/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A string. *out is dflt when the key is absent (dflt may be NULL).
 * Returns VBX_OK or VBX_EINVAL (not a string).
 */
static inline int vbx_cfg_string(const vbx_config *c, const char *key,
                                 const char *dflt, const char **out)
{
	return VBX__HOST(c)->cfg_string(c, key, dflt, out);
}

/*
 * An integer in [min, max]; dflt when absent.
 * Returns VBX_OK or VBX_EINVAL (not an integer, or out of range).
 */
static inline int vbx_cfg_int(const vbx_config *c, const char *key,
                              long long min, long long max, long long dflt,
                              long long *out)
{
	return VBX__HOST(c)->cfg_int(c, key, min, max, dflt, out);
}

/*
 * A number, written as an integer or a float ("sample = 0.01;"), in
 * [min, max]; dflt when absent. Returns VBX_OK or VBX_EINVAL (not a
 * number, or out of range). Since ABI 1.3.
 */
static inline int vbx_cfg_number(const vbx_config *c, const char *key,
                                 double min, double max, double dflt,
                                 double *out)
{
	return VBX__HOST(c)->cfg_number(c, key, min, max, dflt, out);
}

/*
 * An integer in [min, max] whose default, dflt, the plugin derived from
 * the machine (vbx_cpu_count, vbx_worker_count); why says how, in a few
 * words ("1 per CPU"). Like vbx_cfg_int, and besides the value in
 * effect is printed by `vibeboxd -t` and logged at start, as
 * "plugins.NAME.key = 4 (default: why)" or "= 8 (set)", so that an admin
 * sees what will run on this machine. A dflt outside [min, max] is
 * clamped. Returns VBX_OK or VBX_EINVAL. Since ABI 1.1.
 */
static inline int vbx_cfg_int_derived(const vbx_config *c, const char *key,
                                      long long min, long long max,
                                      long long dflt, const char *why,
                                      long long *out)
{
	return VBX__HOST(c)->cfg_int_derived(c, key, min, max, dflt, why, out);
}

/* A boolean (true/false); dflt when absent. Returns VBX_OK or VBX_EINVAL. */
static inline int vbx_cfg_bool(const vbx_config *c, const char *key, int dflt,
                               int *out)
{
	return VBX__HOST(c)->cfg_bool(c, key, dflt, out);
}

/*
 * A duration such as "250ms", "30s", "15m", "7d" (units ms s m h d; a bare
 * integer is seconds), stored in *out_ms. dflt is parsed the same way when
 * the key is absent. Returns VBX_OK or VBX_EINVAL (bad syntax, out of
 * [min_ms, max_ms]).
 */
static inline int vbx_cfg_duration(const vbx_config *c, const char *key,
                                   const char *dflt, int64_t min_ms,
                                   int64_t max_ms, int64_t *out_ms)
{
	return VBX__HOST(c)->cfg_duration(c, key, dflt, min_ms, max_ms, out_ms);
}

/*
 * A duration read as vbx_cfg_duration, whose value in effect is besides
 * printed by `vibeboxd -t` and logged at start, as
 * "plugins.NAME.key = 5s (default)" or "= 2500ms (set)": for settings an
 * admin should see before the daemon runs, such as the deadlines of calls
 * to a dependency. Returns VBX_OK or VBX_EINVAL; nothing to free. Since
 * ABI 1.1 (the host table's first 1.1 reserved slot).
 */
static inline int vbx_cfg_duration_shown(const vbx_config *c, const char *key,
                                         const char *dflt, int64_t min_ms,
                                         int64_t max_ms, int64_t *out_ms)
{
	return VBX__HOST(c)->cfg_duration_shown(c, key, dflt, min_ms, max_ms,
	                                        out_ms);
}

/*
 * A size such as "512", "64KiB", "10MiB", "1GiB" (also kB MB GB, powers of
 * ten) in bytes. Returns VBX_OK or VBX_EINVAL.
 */
static inline int vbx_cfg_size(const vbx_config *c, const char *key,
                               const char *dflt, uint64_t min, uint64_t max,
                               uint64_t *out)
{
	return VBX__HOST(c)->cfg_size(c, key, dflt, min, max, out);
}

/*
 * A secret, given either inline as `key` or as a file path in `key_file`
 * (a Kubernetes secret mount); one trailing newline of the file is
 * dropped. Both set is an error. *out is a malloc'd copy the caller frees
 * (after wiping it), or NULL when absent and not required.
 * Returns VBX_OK, or VBX_EINVAL (both set; required but absent; the file
 * cannot be read, with the reason).
 */
static inline int vbx_cfg_secret(const vbx_config *c, const char *key,
                                 int required, char **out)
{
	return VBX__HOST(c)->cfg_secret(c, key, required, out);
}

/*
 * A list or array of strings. *out is a NULL-terminated array owned by the
 * handle, *count its length (0 and an empty array when absent).
 * Returns VBX_OK or VBX_EINVAL (not a list of strings).
 */
static inline int vbx_cfg_strings(const vbx_config *c, const char *key,
                                  const char *const **out, size_t *count)
{
	return VBX__HOST(c)->cfg_strings(c, key, out, count);
}

/*
 * Record a validation error of the plugin's own about `key` (NULL for the
 * block itself), with the file, line and path prepended. Returns VBX_EINVAL
 * so that `return vbx_cfg_error(...)` reads naturally.
 */
static inline int vbx_cfg_error(const vbx_config *c, const char *key,
                                const char *fmt, ...) VBX_PRINTF(3, 4);
static inline int vbx_cfg_error(const vbx_config *c, const char *key,
                                const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = VBX__HOST(c)->cfg_error(c, key, fmt, ap);
	va_end(ap);
	return rc;
}

#ifdef __cplusplus
}
#endif
#endif
