/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cli_frames.c - the terminal frames a vibeboxd server sends to the
 * vibebox CLI (cli/termproto.c): any bytes must decode or be refused
 * without a crash, and what decodes must obey the frame's invariants.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "termproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const term_frame *f, const uint8_t *data, size_t size)
{
	if (f->data != data + 9 || f->len != size - 9)
		abort();
	/* where a client may stand: before, inside and after the frame */
	uint64_t seens[] = {0, f->offset, f->offset + f->len / 2,
	                    f->offset + f->len, UINT64_MAX};
	for (size_t i = 0; i < sizeof(seens) / sizeof(seens[0]); i++) {
		uint64_t gap;
		size_t skip =
		        term_output_skip(seens[i], f->offset, f->len, &gap);
		if (skip > f->len || (gap && skip) ||
		    (gap && seens[i] + gap != f->offset))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	term_frame f;
	if (term_decode(data, size, &f) != 0)
		return 0;
	switch (f.type) {
	case TERM_OUTPUT:
		check_output(&f, data, size);
		break;
	case TERM_HELLO:
		if (!f.session[0] || strlen(f.session) >= sizeof(f.session))
			abort();
		break;
	case TERM_EXIT:
		if (f.code < -1 || f.code > 255 ||
		    strlen(f.reason) >= sizeof(f.reason))
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
