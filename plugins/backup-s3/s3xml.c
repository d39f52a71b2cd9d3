/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3xml.c - the little of S3's XML the client reads: element text by tag
 * name, and ListObjectsV2 results. Not a general XML parser: S3 answers
 * flat, known documents, and an element we look for never nests in
 * itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

static const char *find(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
			return s + i;
	return NULL;
}

/* Decode one entity at s (after '&', up to ';'); *n is its length. */
static int entity(const char *s, size_t len, char *c, size_t *n)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'},
	             {"lt;", '<'},
	             {"gt;", '>'},
	             {"quot;", '"'},
	             {"apos;", '\''}};
	const char *semi = memchr(s, ';', len < 12 ? len : 12);

	if (!semi)
		return -1;
	*n = (size_t)(semi - s) + 1;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == *n &&
		    memcmp(s, named[i].name, *n) == 0) {
			*c = named[i].c;
			return 0;
		}
	if (s[0] != '#' || *n < 3)
		return -1;
	int hex = s[1] == 'x';
	long v = 0;
	for (const char *p = s + 1 + hex; p < semi; p++) {
		int d = (*p >= '0' && *p <= '9') ? *p - '0'
		        : hex && (*p | 32) >= 'a' && (*p | 32) <= 'f'
		                ? (*p | 32) - 'a' + 10
		                : -1;
		if (d < 0 || v > 127)
			return -1;
		v = v * (hex ? 16 : 10) + d;
	}
	if (v <= 0 || v > 127 || semi == s + 1 + hex)
		return -1;
	*c = (char)v;
	return 0;
}

static int decode(const char *s, size_t len, char *out, size_t out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		size_t n = 1;
		if (c == '&') {
			if (entity(s + i + 1, len - i - 1, &c, &n) != 0)
				return -1;
			i += n;
		} else if (c == '<' || c == '\0') {
			return -1;
		}
		if (o + 1 >= out_len)
			return -1;
		out[o++] = c;
	}
	if (out_len == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int s3_xml_text(const char *xml, size_t len, size_t *pos, const char *tag,
                char *out, size_t out_len)
{
	char open[64], close[64];
	const char *a, *b;

	if (snprintf(open, sizeof(open), "<%s>", tag) >= (int)sizeof(open) ||
	    snprintf(close, sizeof(close), "</%s>", tag) >= (int)sizeof(close))
		return -1;
	if (*pos > len)
		return 1;
	a = find(xml + *pos, len - *pos, open);
	if (!a)
		return 1;
	a += strlen(open);
	b = find(a, len - (size_t)(a - xml), close);
	if (!b)
		return -1;
	*pos = (size_t)(b - xml) + strlen(close);
	return decode(a, (size_t)(b - a), out, out_len);
}

/* One <Contents> element's fields. */
static int list_entry(const char *xml, size_t len, s3_object *o, char *err,
                      size_t err_len)
{
	char size[32], *end;
	size_t pos = 0;

	memset(o, 0, sizeof(*o));
	if (s3_xml_text(xml, len, &pos, "Key", o->key, sizeof(o->key)) != 0 ||
	    !o->key[0]) {
		snprintf(err, err_len,
		         "ListObjectsV2: a <Contents> without a "
		         "valid <Key>");
		return -1;
	}
	pos = 0;
	if (s3_xml_text(xml, len, &pos, "Size", size, sizeof(size)) != 0 ||
	    size[0] < '0' || size[0] > '9' ||
	    (o->size = strtoll(size, &end, 10), *end) || o->size < 0) {
		snprintf(err, err_len, "ListObjectsV2: %s: no valid <Size>",
		         o->key);
		return -1;
	}
	pos = 0;
	if (s3_xml_text(xml, len, &pos, "LastModified", o->last_modified,
	                sizeof(o->last_modified)) < 0) {
		snprintf(err, err_len, "ListObjectsV2: %s: bad <LastModified>",
		         o->key);
		return -1;
	}
	return 0;
}

int s3_xml_list(const char *xml, size_t len,
                int (*cb)(void *arg, const s3_object *o), void *arg,
                int *truncated, char *next_token, size_t token_len, char *err,
                size_t err_len)
{
	char flag[8];
	size_t pos = 0;
	s3_object *o = malloc(sizeof(*o));

	if (!o) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	*truncated = 0;
	next_token[0] = '\0';
	for (;;) {
		const char *a = find(xml + pos, len - pos, "<Contents>");
		const char *b =
		        a ? find(a, len - (size_t)(a - xml), "</Contents>")
		          : NULL;
		if (!a)
			break;
		if (!b) {
			snprintf(err, err_len,
			         "ListObjectsV2: <Contents> not closed");
			free(o);
			return -1;
		}
		int rc = list_entry(a, (size_t)(b - a), o, err, err_len);
		if (rc == 0)
			rc = cb(arg, o);
		if (rc != 0) {
			free(o);
			return rc;
		}
		pos = (size_t)(b - xml) + strlen("</Contents>");
	}
	free(o);
	pos = 0;
	if (s3_xml_text(xml, len, &pos, "IsTruncated", flag, sizeof(flag)) ==
	            0 &&
	    strcmp(flag, "true") == 0) {
		pos = 0;
		if (s3_xml_text(xml, len, &pos, "NextContinuationToken",
		                next_token, token_len) != 0 ||
		    !next_token[0]) {
			snprintf(err, err_len,
			         "ListObjectsV2: truncated but no "
			         "valid <NextContinuationToken>");
			return -1;
		}
		*truncated = 1;
	}
	return 0;
}
