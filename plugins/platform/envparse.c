/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envparse.c - the pure parsers of the environment endpoints (see
 * envs.h): limits, names, query parameters (times with the SDK's
 * vbx_time_parse()), and the splitting of a container's log output into
 * lines. No request, no hook: the unit test and the fuzz target drive
 * them alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "envs.h"

/* ---- pure helpers ---- */

bool vbx__env_cpu_hundredths(double v)
{
	if (!isfinite(v) || v <= 0 || v > 1e6)
		return false;
	double h = v * 100;
	return fabs(h - round(h)) < 1e-6;
}

static bool image_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
	       c == ':' || c == '@' || c == '-';
}

bool vbx__env_image_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > VBX__ENV_IMAGE_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!image_char(s[i]))
			return false;
	if (strstr(s, "//") || strstr(s, ".."))
		return false;
	return !strchr(":/@", s[n - 1]);
}

bool vbx__env_var_key_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Decimal digits only, at most max; -1 when not. */
static long long digits(const char *s, size_t len, long long max)
{
	long long v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return -1;
	}
	return v;
}

int vbx__env_tail_parse(const char *s, int *out)
{
	if (!s) {
		*out = VBX__ENV_TAIL_DEFAULT;
		return VBX_OK;
	}
	long long v = digits(s, strlen(s), VBX__ENV_TAIL_MAX);
	if (v < 0)
		return VBX_EINVAL;
	*out = (int)v;
	return VBX_OK;
}

int vbx__env_since_parse(const char *s, int64_t *out)
{
	int64_t ms;
	if (!s) {
		*out = 0;
		return VBX_OK;
	}
	long long v = digits(s, strlen(s), INT64_C(253402300799));
	if (v >= 0) {
		*out = v;
		return VBX_OK;
	}
	if (vbx_time_parse(s, strlen(s), &ms) != VBX_OK || ms < 0)
		return VBX_EINVAL;
	*out = ms / 1000;
	return VBX_OK;
}

int vbx__env_port_parse(const char *s)
{
	long long v = s ? digits(s, strlen(s), 65535) : -1;
	return v > 0 ? (int)v : 0;
}

/* ---- log lines ---- */

/* A copy of s with each invalid UTF-8 sequence replaced by U+FFFD, so a
 * JSON answer stays valid whatever the container wrote. */
static char *utf8_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(len * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = vbx_utf8_len(p + i, len - i);
		if (n) {
			memcpy(o, s + i, n);
			o += n, i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3, i++;
		}
	}
	*o = '\0';
	return out;
}

/* One line "TIME TEXT" (or just TEXT) of a channel to l->each. */
static int emit_line(vbx__env_lines *l, int channel, const char *s, size_t len)
{
	int64_t ms = 0;
	if (!s) /* an empty line before any byte of its channel */
		s = "";
	if (len && s[len - 1] == '\r')
		len--;
	const char *sp = memchr(s, ' ', len);
	if (sp && vbx_time_parse(s, (size_t)(sp - s), &ms) == VBX_OK) {
		len -= (size_t)(sp + 1 - s);
		s = sp + 1;
	} else {
		ms = 0;
	}
	char *text = utf8_clean(s, len);
	if (!text)
		return VBX_ENOMEM;
	int rc = l->each(l->ctx, channel, ms, text);
	free(text);
	return rc;
}

int vbx__env_lines_feed(vbx__env_lines *l, int channel, const char *buf,
                        size_t n)
{
	int c = channel == VBX_STREAM_STDERR ? 1 : 0, rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (buf[i] == '\n' || l->part[c].len == VBX__ENV_LINE_MAX) {
			rc = emit_line(l, channel, l->part[c].buf,
			               l->part[c].len);
			l->part[c].len = 0;
			if (buf[i] == '\n')
				continue;
		}
		if (!l->part[c].buf &&
		    !(l->part[c].buf = malloc(VBX__ENV_LINE_MAX)))
			return VBX_ENOMEM;
		l->part[c].buf[l->part[c].len++] = buf[i];
	}
	return rc;
}

int vbx__env_lines_finish(vbx__env_lines *l)
{
	int rc = 0;
	for (int c = 0; c < 2; c++) {
		if (l->part[c].len && rc == 0)
			rc = emit_line(
			        l, c ? VBX_STREAM_STDERR : VBX_STREAM_STDOUT,
			        l->part[c].buf, l->part[c].len);
		free(l->part[c].buf);
		l->part[c].buf = NULL;
		l->part[c].len = 0;
	}
	return rc;
}
