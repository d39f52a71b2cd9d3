/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - request bodies, field validation and the error envelope. See
 * json.h.
 */
#include "vbx_build.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h> /* vbx_utf8_len */

#include "json.h"
#include "jsonout.h"

/* ---- UTF-8 ---- */

size_t vbx__utf8_count(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	for (size_t i = 0; i < len; n++) {
		size_t k = vbx_utf8_len(p + i, len - i);
		if (!k)
			return (size_t)-1;
		i += k;
	}
	return n;
}

/* A malloc'd copy of s with each byte that is not part of valid UTF-8
 * replaced by U+FFFD. Such bytes are all >= 0x80, so JSON syntax is kept. */
static char *utf8_repair(const char *s, size_t len, size_t *outlen)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		size_t k = vbx_utf8_len(p + i, len - i);
		if (k) {
			memcpy(out + o, s + i, k);
			o += k, i += k;
		} else {
			memcpy(out + o, fffd, 3);
			o += 3, i++;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* ---- field errors ---- */

int vbx__fields_vadd(vbx__fields *f, const char *field, const char *fmt,
                     va_list ap)
{
	if (!f)
		return VBX_EINVAL;
	f->count++;
	if (!field)
		field = "";
	if (cJSON_GetObjectItemCaseSensitive(f->obj, field))
		return VBX_EINVAL; /* the first error per field wins */

	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return VBX_EINVAL;
	if (!f->obj)
		f->obj = cJSON_CreateObject();
	if (f->obj)
		cJSON_AddStringToObject(f->obj, field, msg);
	free(msg);
	return VBX_EINVAL;
}

int vbx__fields_add(vbx__fields *f, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vbx__fields_vadd(f, field, fmt, ap);
	va_end(ap);
	return rc;
}

int vbx__fields_failed(const vbx__fields *f)
{
	return f && f->count > 0;
}

void vbx__fields_free(vbx__fields *f)
{
	if (!f)
		return;
	cJSON_Delete(f->obj);
	f->obj = NULL;
	f->count = 0;
}

/* ---- typed getters ---- */

/* The member, or NULL when it is absent or null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	if (!obj || !key || !cJSON_IsObject(obj))
		return NULL;
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNull(it) ? NULL : it;
}

static int absent(vbx__fields *f, const char *key, int required)
{
	if (required)
		return vbx__fields_add(f, key, "is required");
	return VBX_ENOTFOUND;
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static int string_length_error(vbx__fields *f, const char *key, size_t min,
                               size_t max)
{
	if (min == max)
		return vbx__fields_add(f, key, "must be %zu character%s", min,
		                       plural(min));
	if (max == SIZE_MAX)
		return vbx__fields_add(f, key,
		                       "must be at least %zu character%s", min,
		                       plural(min));
	if (min == 0)
		return vbx__fields_add(f, key,
		                       "must be at most %zu character%s", max,
		                       plural(max));
	return vbx__fields_add(f, key, "must be %zu..%zu characters", min, max);
}

int vbx__json_string(vbx__fields *f, const cJSON *obj, const char *key,
                     int required, size_t min, size_t max, const char **out)
{
	*out = NULL;
	const cJSON *it = member(obj, key);
	if (!it)
		return absent(f, key, required);
	if (!cJSON_IsString(it) || !it->valuestring)
		return vbx__fields_add(f, key, "must be a string");

	const char *s = it->valuestring;
	size_t n = vbx__utf8_count(s, strlen(s));
	if (n == (size_t)-1)
		return vbx__fields_add(f, key, "must be valid UTF-8");
	if (n < min || n > max)
		return string_length_error(f, key, min, max);
	*out = s;
	return VBX_OK;
}

static int int_range_error(vbx__fields *f, const char *key, long long lo,
                           long long hi)
{
	bool no_lo = lo <= -VBX__JSON_MAX_SAFE_INT;
	bool no_hi = hi >= VBX__JSON_MAX_SAFE_INT;
	if (no_lo && no_hi)
		return vbx__fields_add(f, key, "must be an integer");
	if (no_lo)
		return vbx__fields_add(
		        f, key, "must be an integer of at most %lld", hi);
	if (no_hi)
		return vbx__fields_add(
		        f, key, "must be an integer of at least %lld", lo);
	return vbx__fields_add(
	        f, key, "must be an integer between %lld and %lld", lo, hi);
}

int vbx__json_int(vbx__fields *f, const cJSON *obj, const char *key,
                  int required, long long min, long long max, long long *out)
{
	const cJSON *it = member(obj, key);
	if (!it)
		return absent(f, key, required);

	const double safe = (double)VBX__JSON_MAX_SAFE_INT;
	double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
	/* fabs(d) <= safe also rejects NaN; then the cast is defined. */
	if (fabs(d) <= safe && d == trunc(d)) {
		long long v = (long long)d;
		if (v >= min && v <= max) {
			*out = v;
			return VBX_OK;
		}
	}
	return int_range_error(f, key, min, max);
}

static int number_range_error(vbx__fields *f, const char *key, double lo,
                              double hi)
{
	bool no_lo = !(lo > -DBL_MAX);
	bool no_hi = !(hi < DBL_MAX);
	if (no_lo && no_hi)
		return vbx__fields_add(f, key, "must be a number");
	if (no_lo)
		return vbx__fields_add(f, key, "must be a number of at most %g",
		                       hi);
	if (no_hi)
		return vbx__fields_add(f, key,
		                       "must be a number of at least %g", lo);
	return vbx__fields_add(f, key, "must be a number between %g and %g", lo,
	                       hi);
}

int vbx__json_number(vbx__fields *f, const cJSON *obj, const char *key,
                     int required, double min, double max, double *out)
{
	const cJSON *it = member(obj, key);
	if (!it)
		return absent(f, key, required);

	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (isfinite(d) && d >= min && d <= max) {
			*out = d;
			return VBX_OK;
		}
	}
	return number_range_error(f, key, min, max);
}

int vbx__json_bool(vbx__fields *f, const cJSON *obj, const char *key,
                   int required, int *out)
{
	const cJSON *it = member(obj, key);
	if (!it)
		return absent(f, key, required);
	if (!cJSON_IsBool(it))
		return vbx__fields_add(f, key, "must be a boolean");
	*out = cJSON_IsTrue(it) ? 1 : 0;
	return VBX_OK;
}

/* ---- request bodies ---- */

static bool is_json_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int body_error(char *err, size_t errlen, const char *fmt, ...)
        VBX_PRINTF(3, 4);
static int body_error(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return VBX_EINVAL;
}

#define MSG_EMPTY "request body is empty"
#define MSG_NUL "request body contains a NUL byte at byte %zu"
#define MSG_ESCAPED_NUL                                                        \
	"request body contains an escaped NUL (\\u0000) at byte %zu"
#define MSG_INVALID "request body is not valid JSON near byte %zu"
#define MSG_DEEP "request body nests deeper than %d levels"
#define MSG_NOT_OBJECT "request body must be a JSON object"
#define MSG_TRAILING "request body has data after the JSON object at byte %zu"
#define MSG_NOMEM "out of memory reading the request body"

/* What body_scan() has seen so far. */
struct scan {
	bool in_string, escaped, any;
	size_t depth;
};

/* One byte inside a string; false when p[i] starts an escaped NUL. */
static bool scan_string_byte(struct scan *sc, const unsigned char *p,
                             size_t len, size_t i)
{
	if (sc->escaped) {
		sc->escaped = false;
		return !(p[i] == 'u' && len - i > 4 &&
		         memcmp(p + i + 1, "0000", 4) == 0);
	}
	if (p[i] == '\\')
		sc->escaped = true;
	else if (p[i] == '"')
		sc->in_string = false;
	return true;
}

/* One byte between tokens; false when it nests too deep. */
static bool scan_token_byte(struct scan *sc, unsigned char c)
{
	if (is_json_space(c))
		return true;
	sc->any = true;
	if (c == '"')
		sc->in_string = true;
	else if (c == '{' || c == '[')
		return ++sc->depth <= VBX__JSON_MAX_DEPTH;
	else if ((c == '}' || c == ']') && sc->depth > 0)
		sc->depth--;
	return true;
}

/*
 * One flat pass over the text before cJSON sees it: it refuses NUL bytes,
 * escaped NULs (cJSON would cut the string there without a word), raw
 * control characters, nesting past the limit (cJSON recurses once per
 * level), and a body with nothing but whitespace. Brackets inside strings
 * do not count; unbalanced ones are left for cJSON to report.
 */
static int body_scan(const unsigned char *p, size_t len, char *err,
                     size_t errlen)
{
	struct scan sc = {0};

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c == '\0')
			return body_error(err, errlen, MSG_NUL, i);
		if (c < 0x20 && (sc.in_string || !is_json_space(c)))
			return body_error(err, errlen, MSG_INVALID, i);
		if (sc.in_string) {
			if (!scan_string_byte(&sc, p, len, i))
				return body_error(err, errlen, MSG_ESCAPED_NUL,
				                  i - 1);
		} else if (!scan_token_byte(&sc, c)) {
			return body_error(err, errlen, MSG_DEEP,
			                  VBX__JSON_MAX_DEPTH);
		}
	}
	if (!sc.any)
		return body_error(err, errlen, MSG_EMPTY);
	return VBX_OK;
}

/*
 * cJSON_ParseWithLengthOpts(), without reading past len. cJSON 1.7.15 to
 * 1.7.17 read one byte past the end of a text that stops right after a
 * comma inside an object (CVE-2023-53154; fixed in 1.7.18, patched in some
 * distributions' 1.7.15, not all). Such a text does not end
 * in '}', and no valid body can: those rare texts are parsed from a
 * NUL-terminated copy, only to say where they go wrong. *end is set as
 * cJSON sets it, relative to p; *oom when the copy cannot be made.
 */
static cJSON *body_parse(const unsigned char *p, size_t len, const char **end,
                         bool *oom)
{
	size_t last = len;
	while (last > 0 && is_json_space(p[last - 1]))
		last--;
	if (last > 0 && p[last - 1] == '}')
		return cJSON_ParseWithLengthOpts((const char *)p, len, end, 0);

	char *copy = malloc(len + 1);
	if (!copy) {
		*oom = true;
		return NULL;
	}
	memcpy(copy, p, len);
	copy[len] = '\0';
	const char *cend = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(copy, len, &cend, 0);
	*end = cend ? (const char *)p + (cend - copy) : NULL;
	free(copy);
	return root;
}

int vbx__json_parse_body(const void *buf, size_t len, cJSON **out, char *err,
                         size_t errlen)
{
	const unsigned char *p = buf;
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!p)
		len = 0;

	int rc = body_scan(p, len, err, errlen);
	if (rc != VBX_OK)
		return rc;

	const char *end = NULL;
	bool oom = false;
	cJSON *root = body_parse(p, len, &end, &oom);
	if (oom) {
		body_error(err, errlen, MSG_NOMEM);
		return VBX_ENOMEM;
	}
	if (!root) {
		size_t at = end ? (size_t)((const unsigned char *)end - p) : 0;
		if (at > len)
			at = len;
		return body_error(err, errlen, MSG_INVALID, at);
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return body_error(err, errlen, MSG_NOT_OBJECT);
	}

	size_t at = (size_t)((const unsigned char *)end - p);
	while (at < len && is_json_space(p[at]))
		at++;
	if (at < len) {
		cJSON_Delete(root);
		return body_error(err, errlen, MSG_TRAILING, at);
	}
	*out = root;
	return VBX_OK;
}

/* ---- duplicate keys ---- */

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key (in sorted order) that obj has twice in *dup; VBX_ENOMEM.
 * Sorted, so that an object of many keys does not cost their square. */
static int object_duplicate(const cJSON *obj, const char **dup)
{
	size_t n = 0;
	*dup = NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		n++;
	if (n < 2)
		return VBX_OK;
	const char **keys = malloc(n * sizeof(*keys));
	if (!keys)
		return VBX_ENOMEM;
	n = 0;
	for (const cJSON *c = obj->child; c; c = c->next)
		keys[n++] = c->string ? c->string : "";
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < n && !*dup; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			*dup = keys[i];
	free(keys);
	return VBX_OK;
}

/* Append ".key" (or "key" at the top) or "[i]" to path at len. The
 * empty key is written "" so that the path never is. */
static size_t path_push(char *path, size_t size, size_t len, const char *key,
                        size_t index)
{
	if (key && !key[0])
		key = "\"\"";
	int n = key ? snprintf(path + len, size - len, "%s%s", len ? "." : "",
	                       key)
	            : snprintf(path + len, size - len, "[%zu]", index);
	if (n < 0 || (size_t)n >= size - len)
		return size - 1; /* truncated: the name is still a good hint */
	return len + (size_t)n;
}

static int find_duplicate(const cJSON *item, char *path, size_t size,
                          size_t len)
{
	if (cJSON_IsObject(item)) {
		const char *dup;
		int rc = object_duplicate(item, &dup);
		if (rc != VBX_OK)
			return rc;
		if (dup) {
			path_push(path, size, len, dup, 0);
			return VBX_EEXIST;
		}
	}
	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return VBX_OK;
	size_t i = 0;
	for (const cJSON *c = item->child; c; c = c->next, i++) {
		size_t at =
		        path_push(path, size, len,
		                  cJSON_IsObject(item) ? c->string : NULL, i);
		int rc = find_duplicate(c, path, size, at);
		if (rc != VBX_OK)
			return rc;
		path[len] = '\0';
	}
	return VBX_OK;
}

int vbx__json_duplicate_key(const cJSON *root, char *path, size_t size)
{
	if (!path || size < 2)
		return VBX_EINVAL;
	path[0] = '\0';
	return root ? find_duplicate(root, path, size, 0) : VBX_OK;
}

/* ---- statuses and the error envelope ---- */

const char *vbx__http_code_name(int status)
{
	switch (status) {
	case 400:
		return "BAD_REQUEST";
	case 401:
		return "UNAUTHORIZED";
	case 403:
		return "FORBIDDEN";
	case 404:
		return "NOT_FOUND";
	case 409:
		return "CONFLICT";
	case 413:
		return "PAYLOAD_TOO_LARGE";
	case 429:
		return "TOO_MANY_REQUESTS";
	case 502:
	case 503:
	case 504:
		return "UNAVAILABLE";
	}
	if (status >= 400 && status < 500)
		return "BAD_REQUEST";
	return "INTERNAL_ERROR";
}

int vbx__http_status_for(int rc)
{
	switch (rc) {
	case VBX_OK:
		return 200;
	case VBX_EINVAL:
		return 400;
	case VBX_EUNAUTH:
		return 401;
	case VBX_EDENIED:
		return 403;
	case VBX_ENOTFOUND:
		return 404;
	case VBX_EEXIST:
	case VBX_ESTATE:
		return 409;
	case VBX_EUNAVAIL:
	case VBX_EAGAIN:
		return 503;
	case VBX_ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

static cJSON *error_tree(int status, const char *code, const char *message,
                         const cJSON *fields)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	if (!e || !cJSON_AddStringToObject(e, "code", code) ||
	    !cJSON_AddStringToObject(e, "message", message) ||
	    !cJSON_AddNumberToObject(e, "statusCode", status))
		goto fail;
	if (fields) {
		cJSON *copy = cJSON_Duplicate(fields, 1);
		if (!copy || !cJSON_AddItemToObject(e, "fields", copy)) {
			cJSON_Delete(copy);
			goto fail;
		}
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

char *vbx__error_json(int status, const char *code, const char *message,
                      const cJSON *fields, size_t *len)
{
	cJSON *root =
	        error_tree(status, code ? code : vbx__http_code_name(status),
	                   message ? message : "", fields);
	if (!root)
		return NULL;
	size_t n = 0;
	char *text = vbx__json_print(root, &n);
	cJSON_Delete(root);
	if (!text)
		return NULL;

	/* The printer allocates with malloc(), as the caller's free() wants
	 * (whatever allocator a plugin gave cJSON with cJSON_InitHooks()). */
	size_t outlen = n;
	char *out = text;
	if (vbx__utf8_count(text, n) == (size_t)-1) {
		out = utf8_repair(text, n, &outlen);
		free(text);
	}
	if (out && len)
		*len = outlen;
	return out;
}
