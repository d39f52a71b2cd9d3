/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_term_frame.c - the client frames of vibebox.terminal.v1
 * (vbx__term_frame_parse in plugins/platform/term.c): any bytes give either a
 * frame whose fields agree with the input, or a close code of 1002 or 1007 with
 * a reason. The big-endian helpers round-trip.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* term.c's session code logs as the platform plugin (plugin.c's); the
 * frame parser never does, so no host is needed. */
vbx_plugin *vbx__platform;

static void check_frame(const uint8_t *data, size_t size,
                        const vbx__term_frame *f)
{
	switch (f->type) {
	case VBX__TERM_INPUT:
		if (f->data != data + 1 || f->len != size - 1)
			abort();
		break;
	case VBX__TERM_RESIZE:
		if (size != 5 || f->cols < 1 || f->cols > 1000 || f->rows < 1 ||
		    f->rows > 1000)
			abort();
		break;
	case VBX__TERM_ACK: {
		unsigned char b[8];
		vbx__term_put_u64(b, f->ack);
		if (size != 9 || memcmp(b, data + 1, 8) != 0)
			abort();
		break;
	}
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vbx__term_frame f;
	const char *why = NULL;
	/* a copy of exactly size bytes, so ASan sees any overread */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	int code = vbx__term_frame_parse(copy, size, &f, &why);
	if (code == 0)
		check_frame(copy, size, &f);
	else if ((code != 1002 && code != 1007) || !why || !*why)
		abort();
	free(copy);
	return 0;
}
