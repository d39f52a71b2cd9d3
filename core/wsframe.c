/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsframe.c - follow a client's WebSocket frames and find the first header
 * RFC 6455 forbids that libwebsockets 4.1 lets through or drops silently.
 * libwebsockets still parses everything; this only looks at the headers.
 */
#include "vbx_build.h"

#include "wsframe.h"

/* The header's size once its second byte is known: 2, the extended
 * length (2 or 8 bytes), then the masking key (4 bytes, when masked). */
static size_t header_size(const unsigned char *h)
{
	size_t n = 2, len7 = h[1] & 0x7f;
	if (len7 == 126)
		n += 2;
	else if (len7 == 127)
		n += 8;
	return n + ((h[1] & 0x80) ? 4 : 0);
}

/* What is wrong with the first two bytes of a header, or NULL. */
static const char *fault_of(const unsigned char *h)
{
	if (!(h[1] & 0x80))
		return "unmasked client frame";
	if ((h[0] & 0x08) && (h[1] & 0x7f) > 125)
		return "control frame over 125 bytes";
	return NULL;
}

static uint64_t payload_length(const unsigned char *h)
{
	uint64_t len = h[1] & 0x7f;
	if (len == 126)
		return (uint64_t)h[2] << 8 | h[3];
	if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
	}
	return len;
}

static size_t at_fault(vbx__wsframe *f, const char *why, size_t good)
{
	f->code = 1002;
	f->why = why;
	return good;
}

size_t vbx__wsframe_scan(vbx__wsframe *f, const unsigned char *p, size_t n)
{
	size_t i = 0, start = 0; /* start: where the current header began */
	if (f->code)
		return 0;
	while (i < n) {
		if (f->left) {
			uint64_t k = n - i < f->left ? n - i : f->left;
			i += (size_t)k;
			f->left -= k;
			continue;
		}
		if (f->hlen == 0)
			start = i;
		f->hdr[f->hlen++] = p[i++];
		if (f->hlen < 2)
			continue;
		const char *why = f->hlen == 2 ? fault_of(f->hdr) : NULL;
		if (why)
			return at_fault(f, why, start);
		if (f->hlen < header_size(f->hdr))
			continue;
		if ((f->hdr[1] & 0x7f) == 127 && (f->hdr[2] & 0x80))
			return at_fault(f, "frame length over 2^63", start);
		f->left = payload_length(f->hdr);
		f->hlen = 0;
	}
	return n;
}
