/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cli_exec_frames.c - the exec frames a vibeboxd server sends to
 * `vibebox exec` (cli/execproto.c): any bytes decode or are refused
 * without a crash, and what decodes obeys the frame's invariants.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "execproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	exec_frame f;
	/* a copy of exactly size bytes, so ASan sees any overread */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (exec_decode(copy, size, &f) == 0) {
		switch (f.type) {
		case EXEC_STDOUT:
		case EXEC_STDERR:
			if (f.data != copy + 9 || f.len != size - 9)
				abort();
			break;
		case EXEC_STDIN_ACK:
			if (size != 9)
				abort();
			break;
		case EXEC_HELLO:
			if (f.window < 1)
				abort();
			break;
		case EXEC_EXIT:
			if (f.code < -1 || strlen(f.text) >= sizeof(f.text))
				abort();
			break;
		case EXEC_ERROR:
			if (strlen(f.text) >= sizeof(f.text))
				abort();
			break;
		default:
			abort();
		}
	}
	free(copy);
	return 0;
}
