/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_wsframe.c - core/wsframe.c fed a client's byte stream as an attacker
 * sends it: scanned in one piece, byte by byte, and in pieces whose sizes
 * come from the input, the scanner finds the same fault (or none) and
 * hands on the same number of bytes before it, never more than it was
 * given; once at fault it hands on nothing.
 *
 * Input: byte 0 seeds the piece sizes, the rest is the stream.
 * Links core/wsframe.c alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

typedef struct verdict {
	size_t good; /* bytes handed on in all */
	int code;
	const char *why;
} verdict;

/* Scan p[0..n): seed 0 in one piece, 1 byte by byte, else in pieces of
 * 1 to 29 bytes driven by seed. */
static verdict scan(const uint8_t *p, size_t n, unsigned seed)
{
	vbx__wsframe f;
	verdict v = {0};
	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i < n;) {
		size_t k = seed == 0   ? n - i
		           : seed == 1 ? 1
		                       : 1 + (seed * (i + 7) % 29);
		if (k > n - i)
			k = n - i;
		size_t got = vbx__wsframe_scan(&f, p + i, k);
		if (got > k)
			abort();
		if (f.code && vbx__wsframe_scan(&f, p, n) != 0)
			abort(); /* at fault for good */
		v.good += got;
		if (got < k || f.code) {
			v.code = f.code;
			v.why = f.why;
			break;
		}
		i += k;
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	verdict whole = scan(data + 1, size - 1, 0);
	verdict bytes = scan(data + 1, size - 1, 1);
	verdict pieces = scan(data + 1, size - 1, 2 + seed);
	if (whole.code != pieces.code || whole.code != bytes.code ||
	    whole.why != pieces.why || whole.why != bytes.why)
		abort();
	/* a header split across pieces may have bytes handed on before its
	 * fault shows: never fewer than in one piece, never past its end */
	if (pieces.good < whole.good || bytes.good < whole.good ||
	    pieces.good > whole.good + 13 || bytes.good > whole.good + 13)
		abort();
	if (!whole.code && whole.good != size - 1)
		abort();
	return 0;
}
