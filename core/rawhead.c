/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rawhead.c - checks on raw HTTP/1 request heads, byte by byte, so that a
 * read split anywhere gives the same verdict. See rawhead.h.
 */
#include "vbx_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vibebox/util.h>

#include "rawhead.h"

enum {
	S_START,   /* before a request line: empty lines are skipped */
	S_METHOD,  /* in the method */
	S_TARGET,  /* in the request target */
	S_VERSION, /* after the target, to the end of the request line */
	S_LINE,    /* at the start of a header line */
	S_CR,      /* after a CR at the start of a header line */
	S_NAME,    /* in a header name */
	S_VALUE,   /* in a header value */
	S_BODY,    /* skipping a body */
	S_FAULT,
	S_DONE,
};

static int fault(vbx__rawhead *h, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fault(vbx__rawhead *h, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	h->status = status;
	h->state = S_FAULT;
	return status;
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* A new request: forget everything about the previous one but the
 * counts of heads. */
static void next_request(vbx__rawhead *h)
{
	uint64_t heads = h->heads, bodied = h->bodied;
	memset(h, 0, sizeof(*h));
	h->state = S_START;
	h->heads = heads;
	h->bodied = bodied;
}

/* ---- the request target ---- */

static int end_segment(vbx__rawhead *h)
{
	bool dots = !h->seg_other && (h->seg_dots == 1 || h->seg_dots == 2);
	h->seg_dots = 0;
	h->seg_other = false;
	if (dots)
		return fault(h, 400,
		             "a '.' or '..' segment in the path (raw or "
		             "encoded as %%2e); send the path without them");
	return 0;
}

static int count_field(vbx__rawhead *h, int status)
{
	if (h->nparams + h->nheaders > VBX__RAWHEAD_FIELDS_MAX)
		return fault(h, status,
		             "more than %d query parameters and header lines "
		             "together",
		             VBX__RAWHEAD_FIELDS_MAX);
	return 0;
}

/* One character of the target as the server will read it: c itself, or
 * what a %xx decodes to (encoded true). */
static int target_char(vbx__rawhead *h, unsigned char c, bool encoded)
{
	if (is_control(c))
		return fault(h, 400,
		             "a control character (raw, or %%00 to %%1f, %%7f) "
		             "in the request target");
	if (h->in_query) {
		if (c == '&' && !encoded) {
			h->nparams++;
			return count_field(h, 414);
		}
		return 0;
	}
	if (encoded && (c == '/' || c == '\\'))
		return fault(
		        h, 400,
		        "an encoded slash or backslash (%%2f, %%5c) in the "
		        "path; no route has one inside a path segment");
	if (c == '.') {
		h->seg_dots++;
		return 0;
	}
	if (!encoded && (c == '/' || c == '?')) {
		int rc = end_segment(h);
		if (!rc && c == '?') {
			h->in_query = true;
			h->nparams = 1;
			rc = count_field(h, 414);
		}
		return rc;
	}
	h->seg_other = true;
	return 0;
}

/* A raw byte of the target: %xx is decoded here; a '%' not followed by
 * two hex digits is taken as it is. */
static int target_byte(vbx__rawhead *h, unsigned char c)
{
	if (h->target_len < sizeof(h->target) - 1)
		h->target[h->target_len] = (char)c;
	if (++h->target_len > VBX__RAWHEAD_TARGET_MAX)
		return fault(h, 414,
		             "request target (path and query) is longer than "
		             "%d bytes",
		             VBX__RAWHEAD_TARGET_MAX);
	int v = vbx_hex_value(c);
	if (h->pct == 1 && v >= 0) {
		h->pct_hi = (unsigned char)v;
		h->pct = 2;
		return 0;
	}
	if (h->pct == 2 && v >= 0) {
		h->pct = 0;
		return target_char(h, (unsigned char)(h->pct_hi * 16 + v),
		                   true);
	}
	if (h->pct) { /* a lone '%' */
		h->pct = 0;
		h->seg_other = true;
	}
	if (c == '%') {
		h->pct = 1;
		return 0;
	}
	return target_char(h, c, false);
}

static int end_target(vbx__rawhead *h, int next_state)
{
	h->state = next_state;
	if (h->pct)
		h->seg_other = true;
	return h->in_query ? 0 : end_segment(h);
}

/* ---- header lines ---- */

static void content_length_byte(vbx__rawhead *h, unsigned char c)
{
	bool ows = c == ' ' || c == '\t';
	if (c >= '0' && c <= '9' && h->cl_state <= 1) {
		h->cl_state = 1;
		if (++h->cl_digits > 19)
			h->cl_state = 3;
		h->cl_value = h->cl_value * 10 + (uint64_t)(c - '0');
	} else if (ows && h->cl_state == 1) {
		h->cl_state = 2;
	} else if (!ows) {
		h->cl_state = 3;
	}
}

static bool name_is(const vbx__rawhead *h, const char *name)
{
	return h->name_len == strlen(name) && !strcmp(h->name, name);
}

static void upgrade_byte(vbx__rawhead *h, unsigned char c)
{
	if (!h->up_len && (c == ' ' || c == '\t'))
		return;
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (h->up_len < sizeof(h->up) - 1)
		h->up[h->up_len] = (char)c;
	h->up_len++;
}

/* Upgrade: websocket, blanks around it allowed; nothing else. */
static bool upgrade_is_websocket(vbx__rawhead *h)
{
	if (h->up_len >= sizeof(h->up))
		return false;
	size_t n = h->up_len;
	while (n && (h->up[n - 1] == ' ' || h->up[n - 1] == '\t'))
		n--;
	return n == 9 && !memcmp(h->up, "websocket", 9);
}

/* The headers checked here; their values' bytes are looked at once the
 * name has ended, so the name is compared once a line, not a byte. */
enum { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_XFF, H_UPGRADE };

static int header_kind(const vbx__rawhead *h)
{
	if (name_is(h, "content-length"))
		return H_CONTENT_LENGTH;
	if (name_is(h, "transfer-encoding"))
		return H_TRANSFER_ENCODING;
	if (name_is(h, "x-forwarded-for"))
		return H_XFF;
	if (name_is(h, "upgrade"))
		return H_UPGRADE;
	return H_OTHER;
}

static int end_header(vbx__rawhead *h)
{
	switch (h->kind) {
	case H_CONTENT_LENGTH:
		if (h->has_cl || h->cl_state == 0 || h->cl_state == 3)
			h->cl_bad = true;
		h->has_cl = true;
		h->content_length = h->cl_value;
		break;
	case H_TRANSFER_ENCODING:
		h->te = true;
		break;
	case H_XFF:
		/* libwebsockets keeps the first line of a header it does not
		 * know; a proxy in front could read another */
		if (h->xff)
			return fault(h, 400,
			             "more than one X-Forwarded-For header; "
			             "send one comma-separated list");
		h->xff = true;
		break;
	case H_UPGRADE:
		if (!upgrade_is_websocket(h))
			return fault(h, 400,
			             "Upgrade is accepted to websocket only "
			             "(not h2c); send HTTP/1.1 requests");
		h->upgrade = true;
		break;
	default:
		break;
	}
	h->state = S_LINE;
	return 0;
}

static int too_long(vbx__rawhead *h)
{
	return fault(h, 431, "request header %s is longer than %d bytes",
	             h->name, VBX__RAWHEAD_LINE_MAX);
}

static int name_byte(vbx__rawhead *h, unsigned char c);

static int new_header(vbx__rawhead *h, unsigned char c)
{
	if (++h->nheaders > VBX__RAWHEAD_HEADERS_MAX)
		return fault(h, 431, "more than %d header lines",
		             VBX__RAWHEAD_HEADERS_MAX);
	if (count_field(h, 431))
		return h->status;
	h->name_len = h->value_len = 0;
	h->name[0] = '\0';
	h->kind = H_OTHER;
	h->up_len = 0;
	h->cl_state = 0;
	h->cl_digits = 0;
	h->cl_value = 0;
	h->state = S_NAME;
	return c == '\r' ? 0 : name_byte(h, c);
}

static int name_byte(vbx__rawhead *h, unsigned char c)
{
	if (c == ':' || c == '\n')
		h->kind = header_kind(h);
	if (c == ':') {
		h->state = S_VALUE;
		return 0;
	}
	if (c == '\n')
		return end_header(h);
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (h->name_len < sizeof(h->name) - 1) {
		h->name[h->name_len] = (char)c;
		h->name[h->name_len + 1] = '\0';
	}
	return ++h->name_len > VBX__RAWHEAD_LINE_MAX ? too_long(h) : 0;
}

static int value_byte(vbx__rawhead *h, unsigned char c)
{
	if (c == '\n')
		return end_header(h);
	if (c == '\r')
		return 0;
	if (h->kind == H_CONTENT_LENGTH)
		content_length_byte(h, c);
	else if (h->kind == H_UPGRADE)
		upgrade_byte(h, c);
	return ++h->value_len > VBX__RAWHEAD_LINE_MAX ? too_long(h) : 0;
}

/* The empty line: what follows is a body, the next request, or bytes
 * this scanner does not follow. */
static int end_head(vbx__rawhead *h)
{
	if (h->upgrade || h->te || h->cl_bad) {
		h->state = S_DONE;
		return VBX__RAWHEAD_DONE;
	}
	uint64_t body = h->has_cl ? h->content_length : 0;
	h->heads++;
	h->bodied += body != 0;
	next_request(h);
	if (body) {
		h->body_left = body;
		h->state = S_BODY;
	}
	return 0;
}

/* ---- the request line and the dispatch ---- */

static int head_byte(vbx__rawhead *h, unsigned char c)
{
	switch (h->state) {
	case S_START:
		if (c == '\r' || c == '\n')
			return 0;
		h->state = S_METHOD;
		return 0;
	case S_METHOD:
		if (c == '\n')
			h->state = S_LINE;
		else if (c == ' ')
			h->state = S_TARGET;
		return 0;
	case S_TARGET:
		if (c == ' ' || c == '\r')
			return end_target(h, S_VERSION);
		if (c == '\n')
			return end_target(h, S_LINE);
		return target_byte(h, c);
	case S_VERSION:
		if (c == '\n')
			h->state = S_LINE;
		return 0;
	case S_LINE:
		if (c == '\n')
			return end_head(h);
		if (c == '\r') {
			h->state = S_CR;
			return 0;
		}
		return new_header(h, c);
	case S_CR:
		return c == '\n' ? end_head(h) : new_header(h, c);
	case S_NAME:
		return name_byte(h, c);
	default:
		return value_byte(h, c);
	}
}

/*
 * The bytes at p of a value no check reads (a token, a cookie), counted
 * in one tight loop: it stops before a CR or LF, and before the byte
 * that would pass a limit, so that head_byte() meets those as before.
 * Returns how many it took.
 */
static size_t skip_value(vbx__rawhead *h, const unsigned char *p, size_t n)
{
	/* head_len and value_len are within their limits until a fault */
	size_t head_room = VBX__RAWHEAD_HEAD_MAX - h->head_len;
	size_t line_room = VBX__RAWHEAD_LINE_MAX - h->value_len;
	size_t max = n < head_room ? n : head_room;
	if (max > line_room)
		max = line_room;
	size_t i = 0;
	while (i < max && p[i] != '\n' && p[i] != '\r')
		i++;
	h->head_len += i;
	h->value_len += i;
	return i;
}

int vbx__rawhead_scan(vbx__rawhead *h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h->state == S_FAULT)
			return h->status;
		if (h->state == S_DONE)
			return VBX__RAWHEAD_DONE;
		if (h->state == S_BODY) {
			size_t k = n - i;
			if (k > h->body_left)
				k = (size_t)h->body_left;
			h->body_left -= k;
			i += k - 1;
			if (!h->body_left)
				h->state = S_START;
			continue;
		}
		if (h->state == S_VALUE && h->kind == H_OTHER) {
			size_t k = skip_value(h, p + i, n - i);
			if (k) {
				i += k - 1;
				continue;
			}
		}
		if (h->state != S_START &&
		    ++h->head_len > VBX__RAWHEAD_HEAD_MAX)
			return fault(h, 431,
			             "request head is larger than %d bytes",
			             VBX__RAWHEAD_HEAD_MAX);
		int rc = head_byte(h, p[i]);
		if (rc)
			return rc;
	}
	return h->state == S_FAULT  ? h->status
	       : h->state == S_DONE ? VBX__RAWHEAD_DONE
	                            : 0;
}

void vbx__rawhead_mark_take(const vbx__rawhead *h, vbx__rawhead_mark *m)
{
	m->heads = h->heads;
	m->bodied = h->bodied;
	m->in_body = h->state == S_BODY;
}

int vbx__rawhead_after_read(vbx__rawhead *h, const vbx__rawhead_mark *m)
{
	if (h->state == S_FAULT || h->state == S_DONE)
		return 0;
	bool in_head = h->state != S_START && h->state != S_BODY;
	uint64_t requests = h->heads - m->heads + in_head + m->in_body;
	uint64_t bodies = h->bodied - m->bodied + m->in_body;
	if (requests < 2 || bodies == 0)
		return 0;
	return fault(h, 400,
	             "a request with a body was sent together with another "
	             "request; send the next request after the answer");
}
