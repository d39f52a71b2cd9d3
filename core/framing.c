/* SPDX-License-Identifier: Apache-2.0 */
/*
 * framing.c - how a request's body is framed. See framing.h.
 */
#include "vbx_build.h"

#include <string.h>
#include <strings.h>

#include "framing.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool vbx__content_length_parse(const char *s, uint64_t *out)
{
	if (!s)
		return false;
	while (is_ows(*s))
		s++;
	uint64_t v = 0;
	size_t n = 0;
	for (; *s >= '0' && *s <= '9'; s++, n++) {
		if (n == 19)
			return false; /* 19 digits cannot overflow 64 bits */
		v = v * 10 + (uint64_t)(*s - '0');
	}
	while (is_ows(*s))
		s++;
	if (n == 0 || *s)
		return false;
	*out = v;
	return true;
}

bool vbx__te_ends_chunked(const char *te)
{
	if (!te)
		return false;
	const char *last = strrchr(te, ',');
	last = last ? last + 1 : te;
	while (is_ows(*last))
		last++;
	size_t n = strlen(last);
	while (n && is_ows(last[n - 1]))
		n--;
	return n == 7 && strncasecmp(last, "chunked", 7) == 0;
}

static bool method_has_body(const char *m)
{
	return m &&
	       (!strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH"));
}

static int refuse(vbx__framing *out, int status, const char *message)
{
	out->status = status;
	out->message = message;
	out->close_after = true;
	return status;
}

int vbx__framing_check(const vbx__head *h, vbx__framing *out)
{
	memset(out, 0, sizeof(*out));
	if (h->duplicate)
		return refuse(out, 400,
		              "a header that must be single was sent twice; "
		              "send it once");
	if (h->space_before_colon)
		return refuse(out, 400,
		              "a header name has whitespace before its colon");
	if (h->transfer_encoding && h->content_length)
		return refuse(out, 400,
		              "request has both Content-Length and "
		              "Transfer-Encoding; send Content-Length only");
	if (h->transfer_encoding)
		return vbx__te_ends_chunked(h->transfer_encoding)
		               ? refuse(out, 411,
		                        "chunked request bodies are not "
		                        "accepted; send Content-Length")
		               : refuse(out, 400,
		                        "Transfer-Encoding must end in "
		                        "chunked; send Content-Length instead");
	if (h->content_length) {
		if (!vbx__content_length_parse(h->content_length, &out->length))
			return refuse(out, 400,
			              "Content-Length must be one decimal "
			              "number of bytes");
		out->has_length = true;
		return 0;
	}
	/* no body; what follows cannot be told from a body lws would read */
	out->close_after = method_has_body(h->method);
	return 0;
}
