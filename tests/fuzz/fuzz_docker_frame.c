/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_docker_frame.c - docker-runtime's frame.c fed arbitrary bytes, as
 * the engine (or whatever answers on its socket) could send them:
 *
 *   - the input as a multiplexed stream: fed in one piece, byte by byte,
 *     and in pieces whose sizes come from the input, the demuxer hands out
 *     the same bytes on the same channels (0..2, no empty runs) and
 *     accepts or refuses alike; once it refused, it refuses everything;
 *   - the input as a chunked body: decoded in one piece and byte by byte,
 *     the same data, the same verdict, the same end; never more data than
 *     input;
 *   - the input as a response head: a complete head is no longer than the
 *     input nor DKR_HEAD_MAX, and every longer prefix parses to the same
 *     length and fields, every shorter one to "not yet".
 *
 * Links plugins/docker-runtime/frame.c alone.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

/* What came out of a demuxer: payload bytes and each byte's channel. */
typedef struct out {
	char *bytes;
	unsigned char *chan;
	size_t len, cap;
} out;

static void collect(void *ctx, int channel, const char *p, size_t len)
{
	out *o = ctx;

	if (len == 0 || channel < 0 || channel > 2 || o->len + len > o->cap)
		abort();
	memcpy(o->bytes + o->len, p, len);
	memset(o->chan + o->len, channel, len);
	o->len += len;
}

static void out_init(out *o, size_t cap)
{
	o->bytes = malloc(cap + 1);
	o->chan = malloc(cap + 1);
	o->len = 0;
	o->cap = cap;
	if (!o->bytes || !o->chan)
		abort();
}

static void out_free(out *o)
{
	free(o->bytes);
	free(o->chan);
}

static bool out_same(const out *a, const out *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0 &&
	       memcmp(a->chan, b->chan, a->len) == 0;
}

/* Feed data in pieces of the sizes step() gives; the first refusal. */
static int demux_pieces(const uint8_t *data, size_t size, out *o,
                        size_t (*step)(const uint8_t *, size_t, size_t))
{
	dkr_demux m = {0};
	size_t pos = 0;

	while (pos < size) {
		size_t k = step(data, size, pos);

		if (k > size - pos)
			k = size - pos;
		/* an empty feed changes nothing, wherever it comes */
		if (dkr_demux_feed(&m, data + pos, 0, collect, o) != VBX_OK ||
		    dkr_demux_feed(&m, data + pos, k, collect, o) != VBX_OK) {
			/* stuck from here on */
			if (dkr_demux_feed(&m, data, size, collect, o) !=
			            VBX_EINVAL ||
			    dkr_demux_feed(&m, data, 0, collect, o) !=
			            VBX_EINVAL)
				abort();
			return VBX_EINVAL;
		}
		pos += k;
	}
	return VBX_OK;
}

static size_t step_all(const uint8_t *data, size_t size, size_t pos)
{
	return size;
}

static size_t step_one(const uint8_t *data, size_t size, size_t pos)
{
	return 1;
}

/* Piece sizes from the input itself: 1..64. */
static size_t step_input(const uint8_t *data, size_t size, size_t pos)
{
	return (size_t)(data[(pos * 7 + 3) % size] & 63) + 1;
}

static void check_demux(const uint8_t *data, size_t size)
{
	out a, b, c;
	int ra, rb, rc;

	out_init(&a, size);
	out_init(&b, size);
	out_init(&c, size);
	ra = demux_pieces(data, size, &a, step_all);
	rb = demux_pieces(data, size, &b, step_one);
	rc = demux_pieces(data, size, &c, step_input);
	if (ra != rb || ra != rc || !out_same(&a, &b) || !out_same(&a, &c))
		abort();
	out_free(&a);
	out_free(&b);
	out_free(&c);
}

static void check_chunked(const uint8_t *data, size_t size)
{
	char *whole = malloc(size + 1), *bytes = malloc(size + 1);
	dkr_chunked ca = {0}, cb = {0};
	ssize_t ra;
	size_t lb = 0;
	int rb = VBX_OK;

	if (!whole || !bytes)
		abort();
	memcpy(whole, data, size);
	ra = dkr_chunked_decode(&ca, whole, size);
	for (size_t i = 0; i < size; i++) {
		char one = (char)data[i];
		ssize_t r = dkr_chunked_decode(&cb, &one, 1);

		if (r < 0) {
			rb = (int)r;
			break;
		}
		if (r > 1)
			abort();
		if (r == 1)
			bytes[lb++] = one;
	}
	if (ra < 0) {
		if (ra != VBX_EINVAL || rb != VBX_EINVAL ||
		    dkr_chunked_decode(&ca, whole, size) != VBX_EINVAL)
			abort();
	} else {
		if (rb != VBX_OK || (size_t)ra != lb || (size_t)ra > size ||
		    memcmp(whole, bytes, lb) != 0)
			abort();
	}
	if (dkr_chunked_done(&ca) != dkr_chunked_done(&cb))
		abort();
	free(whole);
	free(bytes);
}

static void check_prefix(const char *text, size_t n, ssize_t full,
                         const dkr_head *hf)
{
	dkr_head h;
	ssize_t r = dkr_head_parse(text, n, &h);

	if (full > 0) {
		if ((size_t)full <= n ? (r != full || h.status != hf->status ||
		                         h.chunked != hf->chunked ||
		                         h.content_length != hf->content_length)
		                      : r != 0)
			abort();
	} else if (full == 0) {
		if (r != 0)
			abort();
	} else if (r > 0 || (r < 0 && r != VBX_EINVAL)) {
		/* a refused head: its prefixes are "not yet" or refused */
		abort();
	}
}

static void check_head(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	dkr_head h;
	ssize_t r = dkr_head_parse(text, size, &h);

	if (r > 0 && ((size_t)r > size || r > DKR_HEAD_MAX || h.status < 100 ||
	              h.status > 599))
		abort();
	if (r < 0 && r != VBX_EINVAL)
		abort();
	check_prefix(text, size / 2, r, &h);
	if (size > 0)
		check_prefix(text, size - 1, r, &h);
	if (r > 0) {
		check_prefix(text, (size_t)r, r, &h);
		check_prefix(text, (size_t)r - 1, r, &h);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_demux(data, size);
	check_chunked(data, size);
	check_head(data, size);
	return 0;
}
