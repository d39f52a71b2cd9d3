/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frame.c - the framings of what the engine sends on stream.c's raw
 * connections: the HTTP/1.1 response head, a chunked body, and the
 * stdout/stderr multiplexing of a container without a TTY.
 *
 * All of it is outside input read in pieces as they arrive, so every
 * parser here is incremental (any split of the input gives the same
 * result), bounded (nothing is buffered beyond a header of 8 bytes), and
 * strict: what does not parse is refused, and stays refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "docker.h"

/* ---- multiplexed frames ---- */

#define DEMUX_STUCK (-1) /* channel of a demuxer that refused a header */

/* The 8 header bytes are in: check them and start the frame. */
static int demux_header(dkr_demux *m)
{
	const unsigned char *h = m->hdr;

	if (h[0] > 2 || h[1] || h[2] || h[3]) {
		m->channel = DEMUX_STUCK;
		return VBX_EINVAL;
	}
	m->channel = h[0];
	m->left = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
	          (uint32_t)h[6] << 8 | (uint32_t)h[7];
	m->hdr_have = 0;
	return VBX_OK;
}

int dkr_demux_feed(dkr_demux *m, const void *in, size_t n,
                   void (*out)(void *ctx, int channel, const char *p,
                               size_t len),
                   void *ctx)
{
	const char *p = in;

	if (m->channel == DEMUX_STUCK)
		return VBX_EINVAL;
	while (n > 0) {
		size_t k;

		if (m->left > 0) {
			k = n < m->left ? n : m->left;
			out(ctx, m->channel, p, k);
			m->left -= (uint32_t)k;
		} else {
			k = sizeof(m->hdr) - m->hdr_have;
			if (k > n)
				k = n;
			memcpy(m->hdr + m->hdr_have, p, k);
			m->hdr_have += k;
			if (m->hdr_have == sizeof(m->hdr) &&
			    demux_header(m) != VBX_OK)
				return VBX_EINVAL;
		}
		p += k;
		n -= k;
	}
	return VBX_OK;
}

/* ---- the response head ---- */

/* The length of the head up to and including its blank line, 0 when that
 * line has not arrived. Lines end in LF, optionally after a CR. */
static size_t head_end(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* "HTTP/1.x NNN reason": the status, or VBX_EINVAL. */
static int parse_status_line(const char *s, size_t n)
{
	int status = 0;

	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ')
		return VBX_EINVAL;
	for (size_t i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return VBX_EINVAL;
		status = status * 10 + (s[i] - '0');
	}
	if (status < 100 || status > 599 || (n > 12 && s[12] != ' '))
		return VBX_EINVAL;
	return status;
}

/* A token character of a header name (RFC 9110, tchar). */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Does the comma-separated list v (n bytes, trimmed) end in "chunked"? */
static bool ends_in_chunked(const char *v, size_t n)
{
	size_t start = n;

	while (start > 0 && v[start - 1] != ',')
		start--;
	while (start < n && is_ows(v[start]))
		start++;
	return n - start == 7 && strncasecmp(v + start, "chunked", 7) == 0;
}

/* Digits only, below 2^62. */
static int parse_length(const char *v, size_t n, int64_t *out)
{
	int64_t len = 0;

	if (n == 0 || n > 18)
		return VBX_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return VBX_EINVAL;
		len = len * 10 + (v[i] - '0');
	}
	*out = len;
	return VBX_OK;
}

/* One header line (without its line end) into h. */
static int parse_header(const char *s, size_t n, dkr_head *h)
{
	size_t name = 0, v, vend = n;
	int64_t len;

	while (name < n && is_tchar(s[name]))
		name++;
	if (name == 0 || name == n || s[name] != ':')
		return VBX_EINVAL;
	for (size_t i = name + 1; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return VBX_EINVAL;
	v = name + 1;
	while (v < vend && is_ows(s[v]))
		v++;
	while (vend > v && is_ows(s[vend - 1]))
		vend--;
	if (name == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
		h->chunked = ends_in_chunked(s + v, vend - v);
	} else if (name == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
		if (parse_length(s + v, vend - v, &len) != VBX_OK ||
		    (h->content_length >= 0 && h->content_length != len))
			return VBX_EINVAL;
		h->content_length = len;
	}
	return VBX_OK;
}

ssize_t dkr_head_parse(const char *buf, size_t n, dkr_head *h)
{
	size_t end = head_end(buf, n < DKR_HEAD_MAX ? n : DKR_HEAD_MAX);
	size_t pos = 0;

	if (end == 0)
		return n >= DKR_HEAD_MAX ? VBX_EINVAL : 0;
	h->status = 0;
	h->chunked = false;
	h->content_length = -1;
	while (pos < end) {
		const char *nl = memchr(buf + pos, '\n', end - pos);
		size_t len = (size_t)(nl - (buf + pos));

		if (len > 0 && buf[pos + len - 1] == '\r')
			len--;
		if (len == 0) /* the blank line */
			break;
		if (pos == 0) {
			int status = parse_status_line(buf, len);
			if (status < 0)
				return VBX_EINVAL;
			h->status = status;
		} else if (parse_header(buf + pos, len, h) != VBX_OK) {
			return VBX_EINVAL;
		}
		pos = (size_t)(nl - buf) + 1;
	}
	return h->status ? (ssize_t)end : VBX_EINVAL;
}

/* ---- chunked bodies ---- */

enum {
	CH_SIZE,         /* the hex digits of a size line */
	CH_EXT,          /* after the digits: extensions, up to the LF */
	CH_SIZE_LF,      /* after a CR that ends the size line */
	CH_DATA,         /* data bytes of a chunk */
	CH_DATA_END,     /* the CRLF after the data */
	CH_DATA_LF,      /* the LF of that CRLF */
	CH_TRAILER,      /* the start of a trailer line, or the blank line */
	CH_TRAILER_LINE, /* inside a trailer line */
	CH_TRAILER_LF,   /* after the CR of the blank line */
	CH_DONE,
	CH_STUCK,
};

#define CH_LINE_MAX 4096 /* size line or trailer line */

/* The size line is complete. */
static void chunk_start(dkr_chunked *c)
{
	c->state = c->left ? CH_DATA : CH_TRAILER;
	c->line = 0;
}

/* One framing byte (not data) in state c->state. */
static int chunk_byte(dkr_chunked *c, char b)
{
	int x;

	switch (c->state) {
	case CH_SIZE:
		x = vbx_hex_value((unsigned char)b);
		if (x >= 0 && c->line < 16) {
			c->left = c->left << 4 | (uint64_t)x;
			c->line++;
		} else if (c->line == 0 || x >= 0) {
			return VBX_EINVAL; /* no digits, or too many */
		} else if (b == '\r') {
			c->state = CH_SIZE_LF;
		} else if (b == '\n') {
			chunk_start(c);
		} else if (b == ';' || is_ows(b)) {
			c->state = CH_EXT;
		} else {
			return VBX_EINVAL;
		}
		return VBX_OK;
	case CH_EXT:
		if (b == '\n')
			chunk_start(c);
		else if (++c->line > CH_LINE_MAX)
			return VBX_EINVAL;
		return VBX_OK;
	case CH_SIZE_LF:
		if (b != '\n')
			return VBX_EINVAL;
		chunk_start(c);
		return VBX_OK;
	case CH_DATA_END:
		if (b == '\r')
			c->state = CH_DATA_LF;
		else if (b == '\n')
			c->state = CH_SIZE;
		else
			return VBX_EINVAL;
		return VBX_OK;
	case CH_DATA_LF:
		if (b != '\n')
			return VBX_EINVAL;
		c->state = CH_SIZE;
		return VBX_OK;
	case CH_TRAILER:
		c->state = b == '\r'   ? CH_TRAILER_LF
		           : b == '\n' ? CH_DONE
		                       : CH_TRAILER_LINE;
		c->line = 1;
		return VBX_OK;
	case CH_TRAILER_LINE:
		if (b == '\n')
			c->state = CH_TRAILER;
		else if (++c->line > CH_LINE_MAX)
			return VBX_EINVAL;
		return VBX_OK;
	case CH_TRAILER_LF:
		if (b != '\n')
			return VBX_EINVAL;
		c->state = CH_DONE;
		return VBX_OK;
	}
	return VBX_EINVAL;
}

ssize_t dkr_chunked_decode(dkr_chunked *c, char *buf, size_t n)
{
	size_t in = 0, out = 0;

	while (in < n && c->state != CH_DONE) {
		if (c->state == CH_STUCK)
			return VBX_EINVAL;
		if (c->state == CH_DATA) {
			size_t k = n - in;
			if (k > c->left)
				k = (size_t)c->left;
			memmove(buf + out, buf + in, k);
			in += k;
			out += k;
			c->left -= k;
			if (c->left == 0)
				c->state = CH_DATA_END;
			continue;
		}
		if (chunk_byte(c, buf[in++]) != VBX_OK) {
			c->state = CH_STUCK;
			return VBX_EINVAL;
		}
	}
	if (c->state == CH_STUCK)
		return VBX_EINVAL;
	return (ssize_t)out;
}

bool dkr_chunked_done(const dkr_chunked *c)
{
	return c->state == CH_DONE;
}
