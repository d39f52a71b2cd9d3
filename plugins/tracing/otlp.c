/* SPDX-License-Identifier: Apache-2.0 */
/*
 * otlp.c - spans as an OTLP/JSON ExportTraceServiceRequest
 * (opentelemetry/proto/collector/trace/v1). OTLP/JSON departs from the
 * protobuf JSON mapping in two ways that matter here: trace and span ids
 * are hex strings, not base64, and enums are integers. 64-bit integers are
 * strings, as the mapping says.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracing.h"

void tr_buf_put(tr_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void tr_buf_free(tr_buf *b)
{
	free(b->data);
	*b = (tr_buf){0};
}

static void put(tr_buf *b, const char *s)
{
	tr_buf_put(b, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* a NUL ends it here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return n;
}

void tr_json_string(tr_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	put(b, "\"");
	while (*p) {
		char esc[8];
		size_t n = utf8_len(p);
		if (n == 0) {
			put(b, "\\ufffd");
			p++;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p++;
			tr_buf_put(b, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p++);
			put(b, esc);
		} else {
			tr_buf_put(b, (const char *)p, n);
			p += n;
		}
	}
	put(b, "\"");
}

static void put_hex(tr_buf *b, const unsigned char *id, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char hex[40];
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	tr_buf_put(b, "\"", 1);
	tr_buf_put(b, hex, 2 * n);
	tr_buf_put(b, "\"", 1);
}

static bool zero(const unsigned char *id, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (id[i])
			return false;
	return true;
}

/* prefix, v in decimal, suffix. */
static void put_num(tr_buf *b, const char *prefix, long long v,
                    const char *suffix)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", v);
	put(b, prefix);
	put(b, tmp);
	put(b, suffix);
}

static void put_kv_string(tr_buf *b, const char *key, const char *value)
{
	put(b, "{\"key\":");
	tr_json_string(b, key);
	put(b, ",\"value\":{\"stringValue\":");
	tr_json_string(b, value);
	put(b, "}}");
}

static void put_attrs(tr_buf *b, const tr_span *s)
{
	put(b, ",\"attributes\":[");
	for (size_t i = 0; i < s->nattrs; i++) {
		const tr_attr *a = &s->attrs[i];
		if (i)
			put(b, ",");
		if (a->type == VBX_ATTR_INT) {
			put(b, "{\"key\":");
			tr_json_string(b, a->key);
			put_num(b, ",\"value\":{\"intValue\":\"", a->num,
			        "\"}}");
		} else {
			put_kv_string(b, a->key, a->str);
		}
	}
	put(b, "]");
	if (s->dropped_attrs)
		put_num(b, ",\"droppedAttributesCount\":",
		        (long long)s->dropped_attrs, "");
}

static void put_span(tr_buf *b, const tr_span *s)
{
	put(b, "{\"traceId\":");
	put_hex(b, s->trace_id, 16);
	put(b, ",\"spanId\":");
	put_hex(b, s->span_id, 8);
	if (!zero(s->parent_id, 8)) {
		put(b, ",\"parentSpanId\":");
		put_hex(b, s->parent_id, 8);
	}
	if (s->tracestate) {
		put(b, ",\"traceState\":");
		tr_json_string(b, s->tracestate);
	}
	put(b, ",\"name\":");
	tr_json_string(b, s->name);
	put_num(b, ",\"kind\":", s->kind, "");
	put_num(b, ",\"startTimeUnixNano\":\"", (long long)s->start_ns, "\"");
	put_num(b, ",\"endTimeUnixNano\":\"", (long long)s->end_ns, "\"");
	put_attrs(b, s);
	if (s->status != VBX_SPAN_UNSET) {
		put_num(b, ",\"status\":{\"code\":", s->status, "");
		if (s->status_message) {
			put(b, ",\"message\":");
			tr_json_string(b, s->status_message);
		}
		put(b, "}");
	}
	put(b, "}");
}

bool tr_otlp_encode(tr_buf *b, const tr_resource *res, tr_span *const *spans,
                    size_t n)
{
	put(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	put_kv_string(b, "service.name", res->service_name);
	if (res->instance_id) {
		put(b, ",");
		put_kv_string(b, "service.instance.id", res->instance_id);
	}
	put(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"vibeboxd\"");
	if (res->version) {
		put(b, ",\"version\":");
		tr_json_string(b, res->version);
	}
	put(b, "},\"spans\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(b, ",");
		put_span(b, spans[i]);
	}
	put(b, "]}]}]}");
	return !b->failed;
}

/* Room for s and its NUL in the blob, or 0 for NULL. */
static size_t need(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *copy_into(char **at, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	memcpy(*at, s, n);
	const char *r = *at;
	*at += n;
	return r;
}

tr_span *tr_span_copy(const vbx_span_data *d)
{
	size_t nattrs =
	        d->nattrs > VBX_SPAN_ATTRS_MAX ? VBX_SPAN_ATTRS_MAX : d->nattrs;
	size_t text =
	        need(d->name) + need(d->status_message) + need(d->tracestate);
	for (size_t i = 0; i < nattrs; i++)
		text += need(d->attrs[i].key) + need(d->attrs[i].str);
	tr_span *s = malloc(sizeof(*s) + text);
	if (!s)
		return NULL;
	char *at = (char *)(s + 1);
	memcpy(s->trace_id, d->trace_id, 16);
	memcpy(s->span_id, d->span_id, 8);
	memcpy(s->parent_id, d->parent_id, 8);
	s->kind = d->kind;
	s->status = d->status;
	s->start_ns = d->start_ns;
	s->end_ns = d->end_ns;
	s->name = copy_into(&at, d->name);
	s->status_message = copy_into(&at, d->status_message);
	s->tracestate = copy_into(&at, d->tracestate);
	s->nattrs = nattrs;
	s->dropped_attrs = d->dropped_attrs + (unsigned)(d->nattrs - nattrs);
	for (size_t i = 0; i < nattrs; i++) {
		s->attrs[i].key = copy_into(&at, d->attrs[i].key);
		s->attrs[i].type = d->attrs[i].type;
		s->attrs[i].str = copy_into(&at, d->attrs[i].str);
		s->attrs[i].num = d->attrs[i].num;
	}
	return s;
}
