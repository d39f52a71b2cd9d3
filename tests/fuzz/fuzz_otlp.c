/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_otlp.c - the tracing plugin's OTLP/JSON encoder given what clients
 * control (a path, a tracestate, an attribute): whatever the bytes, the
 * document is JSON that cJSON parses, and each string reads back as the
 * input's valid UTF-8 with every invalid byte replaced by U+FFFD.
 *
 * Input: the bytes, cut at the first NUL, used as the span's name, an
 * attribute value and the tracestate. Links plugins/tracing/otlp.c alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tracing.h"

/* The decoded string holds no byte that is not valid UTF-8 (cJSON turns
 * \\ufffd into its three bytes). */
static void check_utf8(const unsigned char *s)
{
	while (*s) {
		size_t n = *s < 0x80             ? 1
		           : (*s & 0xe0) == 0xc0 ? 2
		           : (*s & 0xf0) == 0xe0 ? 3
		           : (*s & 0xf8) == 0xf0 ? 4
		                                 : 0;
		if (n == 0)
			abort();
		for (size_t i = 1; i < n; i++)
			if ((s[i] & 0xc0) != 0x80)
				abort();
		s += n;
	}
}

/* The first element of o's array member key, or NULL. */
static cJSON *first(cJSON *o, const char *key)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(o, key), 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	vbx_span_attr attr = {
	        .key = "url.path", .type = VBX_ATTR_STRING, .str = text};
	vbx_span_data d = {.version = 1,
	                   .name = text,
	                   .kind = VBX_SPAN_SERVER,
	                   .attrs = &attr,
	                   .nattrs = 1,
	                   .tracestate = text};
	d.trace_id[15] = 1;
	d.span_id[7] = 1;
	tr_span *s = tr_span_copy(&d);
	tr_resource res = {.service_name = text, .instance_id = "r"};
	tr_buf b = {0};
	if (s && tr_otlp_encode(&b, &res, &s, 1)) {
		cJSON *j = cJSON_Parse(b.data);
		if (!j)
			abort();
		cJSON *sp =
		        first(first(first(j, "resourceSpans"), "scopeSpans"),
		              "spans");
		cJSON *name = cJSON_GetObjectItem(sp, "name");
		if (!cJSON_IsString(name))
			abort();
		check_utf8((const unsigned char *)name->valuestring);
		cJSON_Delete(j);
	}
	tr_buf_free(&b);
	free(s);
	free(text);
	return 0;
}
