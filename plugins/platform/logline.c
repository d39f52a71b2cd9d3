/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logline.c - one log line as the JSON text of a logs/stream frame
 * (term.h): pure, so that the unit tests and fuzz targets drive it alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

/* Append s as the body of a JSON string (no quotes); o has room for
 * 6 bytes per input byte. */
static char *json_escape(char *o, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t l = vbx_utf8_len(s + i, n - i);
		if (l == 0) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			i++;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			i++;
		} else {
			memcpy(o, s + i, l);
			o += l;
			i += l;
		}
	}
	return o;
}

/* Does the line start with the engine's "RFC3339NANO " prefix? Returns
 * the length of the time (without the space), else 0. */
static size_t time_prefix(const char *s, size_t n)
{
	if (n < 21 || s[4] != '-' || s[7] != '-' || s[10] != 'T')
		return 0;
	for (size_t i = 0; i < n && i < 40; i++) {
		if (s[i] == ' ')
			return i >= 20 ? i : 0;
		if (!strchr("0123456789-:.TZ+", s[i]))
			return 0;
	}
	return 0;
}

char *vbx__logline_json(int channel, const char *line, size_t len,
                        const char *now_rfc3339, size_t *out_len)
{
	const char *time = now_rfc3339;
	size_t tlen = strlen(now_rfc3339), t = time_prefix(line, len);
	if (t) {
		time = line;
		tlen = t;
		line += t + 1;
		len -= t + 1;
	}
	if (len && line[len - 1] == '\r')
		len--; /* a TTY's line end */
	size_t cap = 48 + tlen + 6 * len;
	char *buf = malloc(cap), *o = buf;
	if (!buf)
		return NULL;
	o += sprintf(o, "{\"stream\":\"%s\",\"time\":\"",
	             channel == VBX_STREAM_STDERR ? "stderr" : "stdout");
	o = json_escape(o, (const unsigned char *)time, tlen);
	memcpy(o, "\",\"line\":\"", 10);
	o = json_escape(o + 10, (const unsigned char *)line, len);
	memcpy(o, "\"}", 3);
	*out_len = (size_t)(o + 2 - buf);
	return buf;
}
