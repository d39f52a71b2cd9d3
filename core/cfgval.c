/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfgval.c - the typed getters behind vibebox/config.h, and the parsers of
 * durations ("30s") and sizes ("10MiB") they share with the core's own
 * sections.
 *
 * Every getter records its key as known, present or not, so that
 * vbx__conf_check_unknown can name each key that nobody asked for: a typo
 * in a plugin's block is an error, never a silently ignored setting.
 *
 * A getter never changes the parsed tree. The known-list and the arrays
 * handed out by vbx__cfg_strings are bookkeeping of the handle, which is why
 * the getters cast away the const of the handle they are given.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "coremetrics.h"

/* Secrets are keys and passwords; a bigger file is a wrong path. */
#define SECRET_MAX_BYTES (1024 * 1024)

/* How much of a bad string value an error message shows. */
#define DESCRIBE_MAX_CHARS 60

#define MS_PER_S INT64_C(1000)
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define MS_PER_D (24 * MS_PER_H)

#define DURATION_EXAMPLES                                                      \
	"such as \"250ms\", \"30s\", \"15m\", \"2h\" or \"7d\""
#define SIZE_EXAMPLES                                                          \
	"such as \"512\", \"64KiB\", \"10MiB\", \"1GiB\" or \"1GB\""

/* ---- messages ---- */

/* Who logs a getter's error when the block collects none: the plugin. */
static const char *block_owner(const vbx_config *c)
{
	static const char prefix[] = "plugins.";
	if (c->path && strncmp(c->path, prefix, sizeof(prefix) - 1) == 0)
		return c->path + sizeof(prefix) - 1;
	return "core";
}

static int vreport(const vbx_config *c, const config_setting_t *s,
                   const char *key, const char *fmt, va_list ap)
        VBX_PRINTF(4, 0);
static int vreport(const vbx_config *c, const config_setting_t *s,
                   const char *key, const char *fmt, va_list ap)
{
	const char *file = s && s->file ? s->file : c->file;
	int line = s ? (int)s->line : c->line;
	const char *path = c->path ? c->path : "";
	const char *dot = path[0] && key ? "." : "";
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		return VBX_EINVAL;
	if (c->errs)
		vbx__errors_add(c->errs, "%s:%d: %s%s%s: %s", file ? file : "?",
		                line, path, dot, key ? key : "", msg);
	else
		vbx__log(block_owner(c), VBX_LOG_ERROR, "%s:%d: %s%s%s: %s",
		         file ? file : "?", line, path, dot, key ? key : "",
		         msg);
	free(msg);
	return VBX_EINVAL;
}

int vbx__cfg_report(const vbx_config *c, const config_setting_t *s,
                    const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vreport(c, s, key, fmt, ap);
	va_end(ap);
	return rc;
}

/* Quote a string for a message: escape what a terminal would act on, and
 * cut it short; the line number tells the user where to look. */
static void quote(const char *s, char *buf, size_t size)
{
	size_t n = 0, shown = 0;

	if (size < 16) {
		snprintf(buf, size, "...");
		return;
	}
	buf[n++] = '"';
	for (; *s; s++, shown++) {
		unsigned char ch = (unsigned char)*s;
		/* An escape takes up to 4 bytes; keep 5 for `..."` and NUL. */
		if (shown == DESCRIBE_MAX_CHARS || n + 9 > size) {
			n += (size_t)snprintf(buf + n, size - n, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
		else
			buf[n++] = (char)ch;
	}
	snprintf(buf + n, size - n, "\"");
}

const char *vbx__cfg_describe(const config_setting_t *s, char *buf, size_t size)
{
	int n;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		snprintf(buf, size, "%d", config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		snprintf(buf, size, "%lld", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		/* Keep the point, so that "8.0" does not read as "8". */
		n = snprintf(buf, size, "%.17g", config_setting_get_float(s));
		if (n > 0 && (size_t)n + 3 < size && !strpbrk(buf, ".eEni"))
			strcat(buf, ".0");
		break;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, size, "%s",
		         config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING:
		quote(config_setting_get_string(s), buf, size);
		break;
	case CONFIG_TYPE_GROUP:
		snprintf(buf, size, "a group");
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, size, "an array");
		break;
	case CONFIG_TYPE_LIST:
		snprintf(buf, size, "a list");
		break;
	default:
		snprintf(buf, size, "nothing");
		break;
	}
	return buf;
}

/* "expected WHAT, got VALUE" about setting s. */
static int report_expected(const vbx_config *c, const config_setting_t *s,
                           const char *key, const char *what)
{
	char got[128];
	return vbx__cfg_report(c, s, key, "expected %s, got %s", what,
	                       vbx__cfg_describe(s, got, sizeof(got)));
}

int vbx__cfg_error(const vbx_config *c, const char *key, const char *fmt,
                   va_list ap)
{
	const config_setting_t *s = NULL;
	if (key && c->group)
		s = vbx__cfg_lookup(c->group, key);
	return vreport(c, s, key, fmt, ap);
}

/* ---- the known-list ---- */

static bool is_known(const vbx_config *c, const char *key)
{
	for (size_t i = 0; i < c->nknown; i++)
		if (strcmp(c->known[i], key) == 0)
			return true;
	return false;
}

static void add_known(vbx_config *c, const char *key)
{
	if (is_known(c, key))
		return;
	if (c->nknown == c->capknown) {
		size_t cap = c->capknown ? c->capknown * 2 : 8;
		char **v = realloc(c->known, cap * sizeof(*v));
		if (!v)
			return; /* at worst the key is later called unknown */
		c->known = v;
		c->capknown = cap;
	}
	char *dup = strdup(key);
	if (dup)
		c->known[c->nknown++] = dup;
}

/*
 * Mark key known; with key NULL, every key the block has (for blocks whose
 * keys the core handles as a whole).
 */
void vbx__config_mark_known(vbx_config *block, const char *key)
{
	if (key) {
		add_known(block, key);
		return;
	}
	if (!block->group)
		return;
	for (int i = 0; i < config_setting_length(block->group); i++) {
		const config_setting_t *s =
		        config_setting_get_elem(block->group, (unsigned)i);
		if (config_setting_name(s))
			add_known(block, config_setting_name(s));
	}
}

/* The element of list whose decimal index starts key ("0.name": element
 * 0), *rest then at the dot after the index; NULL when key has no index
 * followed by a dot, or the list has no such element (since ABI 1.2). */
static const config_setting_t *list_element(const config_setting_t *list,
                                            const char *key, const char **rest)
{
	unsigned long i = 0;
	const char *p = key;
	for (; *p >= '0' && *p <= '9' && p - key < 6; p++)
		i = i * 10 + (unsigned long)(*p - '0');
	if (p == key || *p != '.' || (key[0] == '0' && p - key > 1))
		return NULL;
	*rest = p;
	if (i >= (unsigned long)config_setting_length(list))
		return NULL;
	return config_setting_get_elem(list, (unsigned)i);
}

const config_setting_t *vbx__cfg_lookup(const config_setting_t *group,
                                        const char *key)
{
	if (!strchr(key, '.'))
		return config_setting_get_member(group, key);
	/* "a.b": member b of the group a; "a.0.b": member b of the first
	 * group of the list a (libconfig's own paths take other forms). */
	char buf[512];
	const char *dot = strchr(key, '.');
	size_t n = (size_t)(dot - key);
	if (n == 0 || n >= sizeof(buf))
		return NULL;
	memcpy(buf, key, n);
	buf[n] = '\0';
	const config_setting_t *s = config_setting_get_member(group, buf);
	if (s && config_setting_is_list(s))
		s = list_element(s, dot + 1, &dot);
	if (!s || !config_setting_is_group(s))
		return NULL;
	return vbx__cfg_lookup(s, dot + 1);
}

/* The setting at key (NULL when absent), which becomes known. */
static const config_setting_t *member(const vbx_config *c, const char *key)
{
	if (!key)
		return NULL; /* see absent() */
	vbx__config_mark_known((vbx_config *)c, key);
	return c->group ? vbx__cfg_lookup(c->group, key) : NULL;
}

/* What a getter returns for a key that is not set: fine, unless the
 * plugin passed no key at all, which is its bug, and said as such. */
static int absent(const vbx_config *c, const char *key)
{
	if (key)
		return VBX_OK;
	return vbx__cfg_report(c, NULL, NULL,
	                       "a getter was called without "
	                       "a key (a bug of the plugin)");
}

/* ---- durations and sizes ---- */

/* Leading decimal digits of s as a number; *end after them. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return VBX_EINVAL;
		v = v * 10 + d;
	}
	if (p == s)
		return VBX_EINVAL;
	*out = v;
	*end = p;
	return VBX_OK;
}

/*
 * Parse a duration: decimal digits and one unit, "ms", "s", "m", "h" or "d"
 * ("7d"); digits alone are seconds. Strict on purpose, so that a typo is
 * an error rather than a surprise: no sign, no spaces ("5 s"), no
 * fractions ("1.5h": write "90m"), no compounds ("1h30m"), units in
 * lower case, and the result in milliseconds must fit in int64_t.
 * Returns VBX_OK or VBX_EINVAL (then *out_ms is untouched).
 */
int vbx__parse_duration(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
	        {"", MS_PER_S},  {"ms", 1},       {"s", MS_PER_S},
	        {"m", MS_PER_M}, {"h", MS_PER_H}, {"d", MS_PER_D},
	};
	uint64_t n;
	const char *unit;

	if (!s || parse_digits(s, &n, &unit) != VBX_OK)
		return VBX_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].name) != 0)
			continue;
		if (n > (uint64_t)(INT64_MAX / units[i].ms))
			return VBX_EINVAL;
		*out_ms = (int64_t)n * units[i].ms;
		return VBX_OK;
	}
	return VBX_EINVAL;
}

/*
 * Parse a size in bytes: decimal digits and an optional unit, "B", the
 * binary "KiB" "MiB" "GiB" "TiB" or the decimal "kB" "MB" "GB" "TB". Units
 * are case-sensitive ("KB" and "mb" are errors: which one was meant?);
 * no sign, spaces or fractions. Overflow of uint64_t is an error.
 * Returns VBX_OK or VBX_EINVAL (then *out is untouched).
 */
int vbx__parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		uint64_t bytes;
	} units[] = {
	        {"", 1},
	        {"B", 1},
	        {"KiB", UINT64_C(1) << 10},
	        {"MiB", UINT64_C(1) << 20},
	        {"GiB", UINT64_C(1) << 30},
	        {"TiB", UINT64_C(1) << 40},
	        {"kB", UINT64_C(1000)},
	        {"MB", UINT64_C(1000000)},
	        {"GB", UINT64_C(1000000000)},
	        {"TB", UINT64_C(1000000000000)},
	};
	uint64_t n;
	const char *unit;

	if (!s || parse_digits(s, &n, &unit) != VBX_OK)
		return VBX_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].name) != 0)
			continue;
		if (n > UINT64_MAX / units[i].bytes)
			return VBX_EINVAL;
		*out = n * units[i].bytes;
		return VBX_OK;
	}
	return VBX_EINVAL;
}

/* ms in the largest unit that divides it, for messages: "10m", "1500ms". */
static const char *format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms != 0 && ms % MS_PER_D == 0)
		snprintf(buf, size, "%" PRId64 "d", ms / MS_PER_D);
	else if (ms != 0 && ms % MS_PER_H == 0)
		snprintf(buf, size, "%" PRId64 "h", ms / MS_PER_H);
	else if (ms != 0 && ms % MS_PER_M == 0)
		snprintf(buf, size, "%" PRId64 "m", ms / MS_PER_M);
	else if (ms % MS_PER_S == 0)
		snprintf(buf, size, "%" PRId64 "s", ms / MS_PER_S);
	else
		snprintf(buf, size, "%" PRId64 "ms", ms);
	return buf;
}

/* bytes in the largest unit that divides it: "1MiB", "1GB", "1500". */
static const char *format_size(uint64_t n, char *buf, size_t size)
{
	static const char *const binary[] = {"TiB", "GiB", "MiB", "KiB"};
	static const char *const decimal[] = {"TB", "GB", "MB", "kB"};

	for (int i = 0; i < 4 && n; i++) {
		uint64_t b = UINT64_C(1) << (10 * (4 - i));
		uint64_t d = 1;
		for (int k = 0; k < 4 - i; k++)
			d *= 1000;
		if (n % b == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", n / b, binary[i]);
			return buf;
		}
		if (n % d == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", n / d, decimal[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%" PRIu64, n);
	return buf;
}

/* ---- getters ---- */

/* A certificate, key or CA file option (tls_cert_file, client_key_file,
 * engines.0.tls_ca_file): file_readable{plugin,key} watches it, as it
 * does the secrets' _file options, so that a file that becomes
 * unreadable shows before the next start or reload fails on it. */
static bool names_a_cert_or_key(const char *key)
{
	static const char *const ends[] = {"_cert_file", "_key_file",
	                                   "_ca_file"};
	size_t n = strlen(key);

	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t e = strlen(ends[i]);
		if (n >= e && !strcmp(key + n - e, ends[i]))
			return true;
	}
	return false;
}

int vbx__cfg_string(const vbx_config *c, const char *key, const char *dflt,
                    const char **out)
{
	const config_setting_t *s = member(c, key);

	*out = dflt;
	if (!s)
		return absent(c, key);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return report_expected(c, s, key, "a string");
	*out = config_setting_get_string(s);
	if (**out && names_a_cert_or_key(key))
		vbx__secret_file_note(c->path, key, *out);
	return VBX_OK;
}

/* "an integer 1..1024", "an integer >= 0", "an integer". */
static void int_range(long long min, long long max, char *buf, size_t size)
{
	if (min == LLONG_MIN && max == LLONG_MAX)
		snprintf(buf, size, "an integer");
	else if (max == LLONG_MAX)
		snprintf(buf, size, "an integer >= %lld", min);
	else if (min == LLONG_MIN)
		snprintf(buf, size, "an integer <= %lld", max);
	else
		snprintf(buf, size, "an integer %lld..%lld", min, max);
}

int vbx__cfg_int(const vbx_config *c, const char *key, long long min,
                 long long max, long long dflt, long long *out)
{
	const config_setting_t *s = member(c, key);
	char what[96];
	long long v;

	*out = dflt;
	if (!s)
		return absent(c, key);
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		goto bad;
	if (v < min || v > max)
		goto bad;
	*out = v;
	return VBX_OK;
bad:
	int_range(min, max, what, sizeof(what));
	return report_expected(c, s, key, what);
}

int vbx__cfg_number(const vbx_config *c, const char *key, double min,
                    double max, double dflt, double *out)
{
	const config_setting_t *s = member(c, key);
	char what[96];
	double v;

	*out = dflt;
	if (!s)
		return absent(c, key);
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		goto bad;
	}
	if (!(v >= min && v <= max)) /* NaN too */
		goto bad;
	*out = v;
	return VBX_OK;
bad:
	snprintf(what, sizeof(what), "a number %g..%g", min, max);
	return report_expected(c, s, key, what);
}

int vbx__cfg_bool(const vbx_config *c, const char *key, int dflt, int *out)
{
	const config_setting_t *s = member(c, key);

	*out = dflt;
	if (!s)
		return absent(c, key);
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return report_expected(c, s, key, "true or false");
	*out = config_setting_get_bool(s);
	return VBX_OK;
}

/* A libconfig integer as a count of units, when it fits in [0, limit]. */
static int whole_units(const config_setting_t *s, uint64_t limit, uint64_t *out)
{
	long long v;

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return VBX_EINVAL;
	if (v < 0 || (uint64_t)v > limit)
		return VBX_EINVAL;
	*out = (uint64_t)v;
	return VBX_OK;
}

/* The value of a duration setting (a string, or an integer of seconds). */
static int setting_duration(const config_setting_t *s, int64_t *out_ms)
{
	uint64_t secs;

	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return vbx__parse_duration(config_setting_get_string(s),
		                           out_ms);
	if (whole_units(s, (uint64_t)(INT64_MAX / MS_PER_S), &secs) != VBX_OK)
		return VBX_EINVAL;
	*out_ms = (int64_t)secs * MS_PER_S;
	return VBX_OK;
}

/*
 * dflt NULL and the key absent: *out_ms is 0 and the result VBX_OK. A
 * default that does not parse is the caller's bug, reported as an error.
 */
int vbx__cfg_duration(const vbx_config *c, const char *key, const char *dflt,
                      int64_t min_ms, int64_t max_ms, int64_t *out_ms)
{
	const config_setting_t *s = member(c, key);
	char lo[32], hi[32], what[160];
	int64_t v = 0;

	if (dflt && vbx__parse_duration(dflt, &v) != VBX_OK)
		return vbx__cfg_report(c, NULL, key,
		                       "the default \"%s\" is not a duration",
		                       dflt);
	*out_ms = v;
	if (!s)
		return absent(c, key);
	if (setting_duration(s, &v) != VBX_OK)
		return report_expected(c, s, key,
		                       "a duration " DURATION_EXAMPLES);
	if (v < min_ms || v > max_ms) {
		if (max_ms == INT64_MAX)
			snprintf(what, sizeof(what),
			         "a duration of at least %s",
			         format_duration(min_ms, lo, sizeof(lo)));
		else
			snprintf(what, sizeof(what), "a duration %s..%s",
			         format_duration(min_ms < 0 ? 0 : min_ms, lo,
			                         sizeof(lo)),
			         format_duration(max_ms, hi, sizeof(hi)));
		return report_expected(c, s, key, what);
	}
	*out_ms = v;
	return VBX_OK;
}

/* The value of a size setting (a string, or an integer of bytes). */
static int setting_size(const config_setting_t *s, uint64_t *out)
{
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return vbx__parse_size(config_setting_get_string(s), out);
	return whole_units(s, UINT64_MAX, out);
}

/* Same conventions as vbx__cfg_duration. */
int vbx__cfg_size(const vbx_config *c, const char *key, const char *dflt,
                  uint64_t min, uint64_t max, uint64_t *out)
{
	const config_setting_t *s = member(c, key);
	char lo[32], hi[32], what[160];
	uint64_t v = 0;

	if (dflt && vbx__parse_size(dflt, &v) != VBX_OK)
		return vbx__cfg_report(
		        c, NULL, key, "the default \"%s\" is not a size", dflt);
	*out = v;
	if (!s)
		return absent(c, key);
	if (setting_size(s, &v) != VBX_OK)
		return report_expected(c, s, key, "a size " SIZE_EXAMPLES);
	if (v < min || v > max) {
		if (max == UINT64_MAX)
			snprintf(what, sizeof(what), "a size of at least %s",
			         format_size(min, lo, sizeof(lo)));
		else
			snprintf(what, sizeof(what), "a size %s..%s",
			         format_size(min, lo, sizeof(lo)),
			         format_size(max, hi, sizeof(hi)));
		return report_expected(c, s, key, what);
	}
	*out = v;
	return VBX_OK;
}

/* ---- secrets ---- */

/* Free a buffer that held a secret, wiping it first. */
static void free_secret(char *buf, size_t size)
{
	if (!buf)
		return;
	explicit_bzero(buf, size);
	free(buf);
}

/* Read all of fd, at most SECRET_MAX_BYTES; every copy is wiped. Returns
 * VBX_OK, VBX_EINVAL (too big) or VBX_ERR (errno set). */
static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 256, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return VBX_ERR;
	for (;;) {
		if (n > SECRET_MAX_BYTES) {
			free_secret(buf, cap);
			return VBX_EINVAL;
		}
		if (n + 1 == cap) {
			char *bigger = malloc(cap * 2);
			if (!bigger) {
				free_secret(buf, cap);
				return VBX_ERR;
			}
			memcpy(bigger, buf, n);
			free_secret(buf, cap);
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			free_secret(buf, cap);
			errno = saved;
			return VBX_ERR;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return VBX_OK;
}

/* The secret in file path, without one trailing "\n" or "\r\n". */
static int read_secret_file(const vbx_config *c, const config_setting_t *s,
                            const char *fkey, const char *path, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return vbx__cfg_report(c, s, fkey, "cannot read \"%s\": %s",
		                       path, strerror(errno));
	rc = read_all(fd, &buf, &len);
	int saved = errno;
	close(fd);
	if (rc == VBX_EINVAL)
		return vbx__cfg_report(c, s, fkey,
		                       "\"%s\" is larger than %d bytes; is "
		                       "this the right file?",
		                       path, SECRET_MAX_BYTES);
	if (rc != VBX_OK)
		return vbx__cfg_report(c, s, fkey, "cannot read \"%s\": %s",
		                       path, strerror(saved));
	size_t size = len + 1;
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0)
		rc = vbx__cfg_report(c, s, fkey, "\"%s\" is empty", path);
	else if (strlen(buf) != len)
		rc = vbx__cfg_report(c, s, fkey, "\"%s\" contains a NUL byte",
		                     path);
	if (rc != VBX_OK) {
		free_secret(buf, size);
		return rc;
	}
	*out = buf;
	return VBX_OK;
}

/* The path or the inline secret, which must be a non-empty string. */
static int secret_string(const vbx_config *c, const config_setting_t *s,
                         const char *key, const char *what, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return report_expected(c, s, key, what);
	*out = config_setting_get_string(s);
	if (!**out)
		return report_expected(c, s, key, what);
	return VBX_OK;
}

int vbx__cfg_secret(const vbx_config *c, const char *key, int required,
                    char **out)
{
	char *fkey = NULL;
	const char *text = NULL;
	int rc = VBX_OK;

	*out = NULL;
	if (!key)
		return absent(c, key);
	if (asprintf(&fkey, "%s_file", key) < 0)
		return VBX_ENOMEM;
	const config_setting_t *inline_s = member(c, key);
	const config_setting_t *file_s = member(c, fkey);

	if (inline_s && file_s) {
		rc = vbx__cfg_report(c, file_s, fkey,
		                     "set either %s or %s, not both", key,
		                     fkey);
	} else if (inline_s) {
		rc = secret_string(c, inline_s, key, "a non-empty string",
		                   &text);
		if (rc == VBX_OK && !(*out = strdup(text)))
			rc = VBX_ENOMEM;
	} else if (file_s) {
		rc = secret_string(c, file_s, fkey, "the path of a file",
		                   &text);
		if (rc == VBX_OK)
			rc = read_secret_file(c, file_s, fkey, text, out);
		if (rc == VBX_OK)
			vbx__secret_file_note(c->path, fkey, text);
	} else if (required) {
		rc = vbx__cfg_report(c, NULL, key,
		                     "required; set %s, or %s to a file that "
		                     "holds it",
		                     key, fkey);
	}
	free(fkey);
	return rc;
}

/* ---- lists of strings ---- */

/* Keep arr with the handle, to be freed with it. The cache holds each
 * array as a char * (see struct vbx_config). */
static int cache_strings(vbx_config *c, const char **arr)
{
	char **v = realloc(c->strings_cache,
	                   (c->nstrings + 1) * sizeof(*c->strings_cache));
	if (!v)
		return VBX_ENOMEM;
	c->strings_cache = v;
	c->strings_cache[c->nstrings++] = (char *)arr;
	return VBX_OK;
}

/* Check that every element of the list or array s is a string. */
static int check_string_elems(const vbx_config *c, const config_setting_t *s,
                              const char *key)
{
	int rc = VBX_OK;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e =
		        config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			continue;
		char ekey[256];
		snprintf(ekey, sizeof(ekey), "%s[%d]", key, i);
		rc = report_expected(c, e, ekey, "a string");
	}
	return rc;
}

int vbx__cfg_strings(const vbx_config *c, const char *key,
                     const char *const **out, size_t *count)
{
	static const char *const empty[] = {NULL};
	const config_setting_t *s = member(c, key);
	size_t n = 1;

	*out = empty;
	*count = 0;
	if (!s)
		return absent(c, key);
	if (config_setting_is_list(s) || config_setting_is_array(s)) {
		if (check_string_elems(c, s, key) != VBX_OK)
			return VBX_EINVAL;
		n = (size_t)config_setting_length(s);
	} else if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		return report_expected(c, s, key,
		                       "a string or a list of strings");
	}

	const char **arr = calloc(n + 1, sizeof(*arr));
	if (!arr)
		return VBX_ENOMEM;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		arr[0] = config_setting_get_string(s);
	else
		for (size_t i = 0; i < n; i++)
			arr[i] = config_setting_get_string_elem(s, (int)i);
	if (cache_strings((vbx_config *)c, arr) != VBX_OK) {
		free(arr);
		return VBX_ENOMEM;
	}
	*out = arr;
	*count = n;
	return VBX_OK;
}
