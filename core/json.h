/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/json.h - request bodies, field validation and the error envelope.
 * Not installed.
 *
 * These are the pure halves of vbx_req_json(), vbx_json_*() and
 * vbx_resp_error(): the host table wraps them with a request. None of them
 * keeps state; all are safe to call from any thread (but see
 * vbx__json_parse_body() about cJSON's error pointer).
 */
#ifndef VBX_JSON_H
#define VBX_JSON_H

#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include <vibebox/http.h> /* VBX_REQUIRED, VBX_OPTIONAL */

/* Deepest nesting of arrays and objects a request body may have; the
 * body object itself is level 1. */
#define VBX__JSON_MAX_DEPTH 64

/* Integers a JSON number carries exactly: |n| <= 2^53 - 1. cJSON keeps
 * numbers as doubles, so beyond this two different integers in the text
 * could read as the same value. */
#define VBX__JSON_MAX_SAFE_INT 9007199254740991LL

/*
 * Field errors of one request: obj is NULL until the first error, then an
 * object {"field": "message", ...} owned by this struct. Zero-initialise.
 */
typedef struct vbx__fields {
	cJSON *obj;
	unsigned count; /* errors reported, including any lost to OOM */
} vbx__fields;

/*
 * Record that `field` is wrong, with a printf-style message ("must be a
 * string"). The first error per field wins; later ones are dropped. f may
 * be NULL (nothing is recorded). Returns VBX_EINVAL, always, so that a
 * checker can `return vbx__fields_add(...)`.
 */
int vbx__fields_vadd(vbx__fields *f, const char *field, const char *fmt,
                     va_list ap) VBX_PRINTF(3, 0);
int vbx__fields_add(vbx__fields *f, const char *field, const char *fmt, ...)
        VBX_PRINTF(3, 4);

/* Nonzero when an error has been reported (even one that could not be
 * stored for lack of memory). */
int vbx__fields_failed(const vbx__fields *f);

/* Free the recorded errors; f is empty and reusable afterwards. */
void vbx__fields_free(vbx__fields *f);

/*
 * The typed getters. Each reads member `key` of obj (case-sensitive; with
 * duplicate keys, cJSON's first), checks it and, when it is wrong, records
 * a field error under `key` in f. A JSON null counts as absent, and so
 * does any member of a NULL obj. Returns:
 *   VBX_OK        *out is set;
 *   VBX_ENOTFOUND absent and optional; *out untouched (strings: NULL);
 *   VBX_EINVAL    the error is recorded: "is required", "must be a
 *                 string", "must be 1..64 characters", "must be valid
 *                 UTF-8", "must be an integer between 1 and 100",
 *                 "must be a number between 0.5 and 64", "must be a
 *                 boolean"; *out untouched (strings: NULL).
 * required: VBX_REQUIRED or VBX_OPTIONAL.
 */

/* A string of min..max characters (Unicode code points, counted in valid
 * UTF-8). *out points into obj. Rejects invalid UTF-8: overlong forms,
 * surrogates, code points past U+10FFFF, truncated sequences. (An escaped
 * NUL never gets here: vbx__json_parse_body() refuses it.) */
int vbx__json_string(vbx__fields *f, const cJSON *obj, const char *key,
                     int required, size_t min, size_t max, const char **out);

/* An integral number in [min, max], also within +-VBX__JSON_MAX_SAFE_INT.
 * 3.0 is 3; 3.5, 1e300 and "3" are errors. */
int vbx__json_int(vbx__fields *f, const cJSON *obj, const char *key,
                  int required, long long min, long long max, long long *out);

/* A finite number in [min, max]. */
int vbx__json_number(vbx__fields *f, const cJSON *obj, const char *key,
                     int required, double min, double max, double *out);

/* true or false; *out is 1 or 0. */
int vbx__json_bool(vbx__fields *f, const cJSON *obj, const char *key,
                   int required, int *out);

/*
 * Parse a request body that must be exactly one JSON object, optionally
 * surrounded by JSON whitespace. buf need not be NUL-terminated.
 * Returns VBX_OK with *out a new tree the caller frees with cJSON_Delete(),
 * or VBX_EINVAL with *out NULL and a message for the client in err
 * (truncated to errlen; err may be NULL):
 *   "request body is empty"
 *   "request body is not valid JSON near byte 17" (a 0-based offset)
 *   "request body contains a NUL byte at byte 3"
 *   "request body contains an escaped NUL (\u0000) at byte 9"
 *   "request body nests deeper than 64 levels"
 *   "request body must be a JSON object"
 *   "request body has data after the JSON object at byte 40"
 * or VBX_ENOMEM. Control characters other than tab, CR and LF outside
 * strings, and any below U+0020 raw inside strings, are not valid JSON.
 * The nesting limit is checked by a flat scan before cJSON sees the text.
 *
 * cJSON also writes a process-wide "last error" pointer on failure; we
 * never read it, and take the position from the parse instead.
 */
int vbx__json_parse_body(const void *buf, size_t len, cJSON **out, char *err,
                         size_t errlen);

/*
 * Whether some object in the tree has a key twice. cJSON keeps both and
 * its lookups find the first, while a proxy or another client library may
 * read the last: a body must not mean two things, so such a body is
 * refused. Returns VBX_OK when no key repeats; VBX_EEXIST with the field
 * in path ("name", "spec.ports[2].host"; truncated to size) for the first
 * repeated key found; VBX_ENOMEM; VBX_EINVAL when path or size is unusable.
 * Depth is bounded by the parse (VBX__JSON_MAX_DEPTH).
 */
int vbx__json_duplicate_key(const cJSON *root, char *path, size_t size);

/*
 * The error envelope's code for an HTTP status: 400 BAD_REQUEST, 401
 * UNAUTHORIZED, 403 FORBIDDEN, 404 NOT_FOUND, 409 CONFLICT, 413
 * PAYLOAD_TOO_LARGE, 429 TOO_MANY_REQUESTS, 502/503/504 UNAVAILABLE (an
 * upstream is down or slow: retryable), other 4xx BAD_REQUEST (405
 * included: the platform's fixed list of codes has no METHOD_NOT_ALLOWED,
 * and the Allow header says the rest), other statuses INTERNAL_ERROR.
 * VALIDATION_ERROR is never returned: a caller with field errors names it.
 * Returns a static string.
 */
const char *vbx__http_code_name(int status);

/*
 * The HTTP status for a VBX_* result: OK 200, EINVAL 400, EUNAUTH 401,
 * EDENIED 403, ENOTFOUND 404, EEXIST 409, ESTATE 409 (wrong state for the
 * operation: a conflict with the resource's current state), EUNAVAIL 503,
 * EAGAIN 503 (queue full: retry later), ETIMEDOUT 504; anything else
 * (ERR, ENOMEM, DECLINED reaching the HTTP layer, ESIGNATURE, unknown)
 * 500.
 */
int vbx__http_status_for(int rc);

/*
 * Render {"error":{"code":..,"message":..,"statusCode":..[,"fields":..]}}
 * without whitespace. code NULL: vbx__http_code_name(status); message
 * NULL: ""; invalid UTF-8 in message is replaced by U+FFFD so the output
 * stays valid JSON text. fields (may be NULL) is copied. Returns a
 * NUL-terminated string the caller frees with free(), its length in *len
 * (len may be NULL), or NULL when out of memory.
 */
char *vbx__error_json(int status, const char *code, const char *message,
                      const cJSON *fields, size_t *len);

/*
 * Check that s[0..len) is valid UTF-8 (no overlongs, surrogates, code
 * points past U+10FFFF or truncated sequences). Returns the number of code
 * points, or (size_t)-1 when invalid.
 */
size_t vbx__utf8_count(const char *s, size_t len);

#endif
