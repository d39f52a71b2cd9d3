/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rawhead.c - core/rawhead.c fed a client's byte stream as an
 * attacker sends it: scanned in one piece, byte by byte, and in pieces
 * whose sizes come from the input, the scanner gives the same verdict
 * (pass, the end of what it follows, or the same status and message),
 * and once at fault or done it stays so.
 *
 * Input: byte 0 seeds the piece sizes, the rest is the stream.
 * Links core/rawhead.c alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rawhead.h"

typedef struct verdict {
	int rc;
	char why[sizeof(((vbx__rawhead *)0)->why)];
} verdict;

/* Scan p[0..n): seed 0 in one piece, 1 byte by byte, else in pieces of
 * 1 to 29 bytes driven by seed. */
static void scan(const uint8_t *p, size_t n, unsigned seed, verdict *v)
{
	vbx__rawhead h;
	memset(&h, 0, sizeof(h));
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < n && !v->rc;) {
		size_t k = seed == 0   ? n - i
		           : seed == 1 ? 1
		                       : 1 + (seed * (i + 7) % 29);
		if (k > n - i)
			k = n - i;
		v->rc = vbx__rawhead_scan(&h, p + i, k);
		i += k;
	}
	if (v->rc > 0) {
		if (v->rc != h.status || !memchr(h.why, '\0', sizeof(h.why)))
			abort();
		memcpy(v->why, h.why, sizeof(v->why));
	}
	if (v->rc && vbx__rawhead_scan(&h, p, n) != v->rc)
		abort(); /* at fault, or done, for good */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static verdict whole, bytes, pieces;
	scan(data + 1, size - 1, 0, &whole);
	scan(data + 1, size - 1, 1, &bytes);
	scan(data + 1, size - 1, 2 + data[0], &pieces);
	if (whole.rc != bytes.rc || whole.rc != pieces.rc ||
	    strcmp(whole.why, bytes.why) || strcmp(whole.why, pieces.why))
		abort();
	if (whole.rc != 0 && whole.rc != VBX__RAWHEAD_DONE && whole.rc != 400 &&
	    whole.rc != 414 && whole.rc != 431)
		abort();
	return 0;
}
