/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_traceparent.c - what any client controls: the traceparent and
 * tracestate headers. core/traceparent.c must never read past the bytes
 * it is given; an accepted traceparent has non-zero ids and formats back
 * to the same text (trimmed); an accepted tracestate is printable ASCII
 * inside the input and within the bound.
 *
 * Input: the bytes, used as both headers. Links core/traceparent.c alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traceparent.h"

static void check_traceparent(const char *p, size_t n)
{
	vbx__traceparent tp;
	char again[56];
	if (!vbx__traceparent_parse(p, n, &tp))
		return;
	unsigned char any = 0;
	for (int i = 0; i < 16; i++)
		any |= tp.trace_id[i];
	if (!any)
		abort();
	any = 0;
	for (int i = 0; i < 8; i++)
		any |= tp.span_id[i];
	if (!any)
		abort();
	vbx__traceparent_format(again, tp.trace_id, tp.span_id, tp.sampled);
	/* the trimmed input, but for flag bits other than sampled */
	const char *s = p;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n < 55 || memcmp(s, again, 53) != 0)
		abort();
}

static void check_tracestate(const char *p, size_t n)
{
	size_t start = 0, len = 0;
	const size_t max = 64;
	if (!vbx__tracestate_ok(p, n, max, &start, &len))
		return;
	if (len == 0 || len > max || start + len > n)
		abort();
	for (size_t i = 0; i < len; i++)
		if (p[start + i] < 0x20 || p[start + i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past them */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	check_traceparent(p, size);
	check_tracestate(p, size);
	free(p);
	return 0;
}
