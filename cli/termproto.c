/* SPDX-License-Identifier: Apache-2.0 */
/*
 * termproto.c - encode the client's terminal frames and decode the
 * server's (termproto.h). Every length is checked before it is read: the
 * server's messages are outside input.
 */
#include "vbx_build.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "termproto.h"

/* Offsets travel as JSON numbers (doubles): exact up to 2^53. */
#define JSON_INT_MAX 9007199254740992.0

uint64_t term_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void term_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

size_t term_encode_resize(uint8_t out[5], unsigned cols, unsigned rows)
{
	cols = cols > 0xffff ? 0xffff : cols;
	rows = rows > 0xffff ? 0xffff : rows;
	out[0] = TERM_RESIZE;
	out[1] = (uint8_t)(cols >> 8);
	out[2] = (uint8_t)cols;
	out[3] = (uint8_t)(rows >> 8);
	out[4] = (uint8_t)rows;
	return 5;
}

size_t term_encode_ack(uint8_t out[9], uint64_t consumed)
{
	out[0] = TERM_ACK;
	term_put_u64(out + 1, consumed);
	return 9;
}

size_t term_encode_input(uint8_t *out, const void *data, size_t len)
{
	out[0] = TERM_INPUT;
	if (len)
		memcpy(out + 1, data, len);
	return 1 + len;
}

size_t term_output_skip(uint64_t seen, uint64_t off, size_t len, uint64_t *gap)
{
	*gap = 0;
	if (off > seen) {
		*gap = off - seen;
		return 0;
	}
	uint64_t old = seen - off;
	return old >= len ? len : (size_t)old;
}

/* A non-negative integral JSON number up to 2^53 into *out. */
static int json_u64(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return -1;
	double d = v->valuedouble;
	if (!(d >= 0 && d <= JSON_INT_MAX) || floor(d) != d)
		return -1;
	*out = (uint64_t)d;
	return 0;
}

static int json_str(const cJSON *o, const char *key, char *out, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v) || !v->valuestring)
		return -1;
	size_t n = strlen(v->valuestring);
	if (n >= len)
		return -1;
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* "gap" is a byte count, or true when the server does not say how many. */
static int hello_gap(const cJSON *o, term_frame *f)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gap");
	if (!g || cJSON_IsNull(g) || cJSON_IsFalse(g))
		return 0;
	f->has_gap = true;
	if (cJSON_IsTrue(g))
		return 0;
	return json_u64(o, "gap", &f->gap);
}

static int decode_hello(const cJSON *o, term_frame *f)
{
	if (json_str(o, "session", f->session, sizeof(f->session)) < 0 ||
	    !f->session[0] || json_u64(o, "offset", &f->offset) < 0)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(o, "window") &&
	    json_u64(o, "window", &f->window) < 0)
		return -1;
	return hello_gap(o, f);
}

/* An exit code the shell can return: 0..255, or -1 for unknown. */
static int decode_exit(const cJSON *o, term_frame *f)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
	if (!code && !reason)
		return -1;
	f->code = -1;
	if (cJSON_IsNumber(code)) {
		double d = code->valuedouble;
		if (d >= 0 && d <= 255 && floor(d) == d)
			f->code = (int)d;
	} else if (code && !cJSON_IsNull(code)) {
		return -1;
	}
	if (reason && !cJSON_IsNull(reason) &&
	    json_str(o, "reason", f->reason, sizeof(f->reason)) < 0)
		return -1;
	return 0;
}

static int decode_json(const uint8_t *msg, size_t len, term_frame *f)
{
	cJSON *o = cJSON_ParseWithLength((const char *)msg, len);
	int rc = -1;
	if (cJSON_IsObject(o))
		rc = f->type == TERM_HELLO ? decode_hello(o, f)
		                           : decode_exit(o, f);
	cJSON_Delete(o);
	return rc;
}

int term_decode(const uint8_t *msg, size_t len, term_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (len < 1)
		return -1;
	f->type = msg[0];
	switch (msg[0]) {
	case TERM_OUTPUT:
		if (len < 9)
			return -1;
		f->offset = term_get_u64(msg + 1);
		f->data = msg + 9;
		f->len = len - 9;
		/* the stream cannot end past 2^64 bytes */
		return f->offset > UINT64_MAX - f->len ? -1 : 0;
	case TERM_HELLO:
	case TERM_EXIT:
		return decode_json(msg + 1, len - 1, f);
	default:
		return -1;
	}
}
