/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_exec_frame.c - what a client of vibebox.exec.v1 sends, as the
 * server parses it (plugins/platform/execproto.c): any bytes give a frame
 * whose fields agree with the input or a close code with a reason; a
 * start frame's JSON gives a validated command (argv non-empty, argv[0]
 * not empty, within the bounds, env as NAME=value) or 1007/1009/1011.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* term.c (the u64 helpers) logs as the platform plugin; the parsers
 * never do, so no host is needed. */
vbx_plugin *vbx__platform;

static void check_start(const vbx__exec_start *s)
{
	if (s->argc < 1 || s->argc > VBX__EXEC_ARGC_MAX || !s->argv ||
	    s->argv[s->argc] || !s->argv[0][0] || s->envc > VBX__EXEC_ENVC_MAX)
		abort();
	for (size_t i = 0; i < s->argc; i++)
		if (strlen(s->argv[i]) > VBX__EXEC_STR_MAX)
			abort();
	for (size_t i = 0; i < s->envc; i++) {
		const char *eq = strchr(s->env[i], '=');
		if (!eq || eq == s->env[i])
			abort();
	}
	if (s->env && s->env[s->envc])
		abort();
}

static void check_frame(const uint8_t *data, size_t size,
                        const vbx__exec_frame *f)
{
	vbx__exec_start s;
	const char *why = NULL;
	int code;
	switch (f->type) {
	case VBX__EXEC_STDIN:
		if (f->data != data + 1 || f->len != size - 1)
			abort();
		break;
	case VBX__EXEC_STDIN_CLOSE:
		if (size != 1)
			abort();
		break;
	case VBX__EXEC_ACK: {
		unsigned char b[8];
		vbx__term_put_u64(b, f->ack);
		if (size != 9 || memcmp(b, data + 1, 8) != 0)
			abort();
		break;
	}
	case VBX__EXEC_START:
		code = vbx__exec_start_parse(f->data, f->len, &s, &why);
		if (code == 0)
			check_start(&s);
		else if ((code != 1007 && code != 1009 && code != 1011) ||
		         !why || !*why || s.argv || s.env)
			abort();
		vbx__exec_start_free(&s);
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vbx__exec_frame f;
	const char *why = NULL;
	/* a copy of exactly size bytes, so ASan sees any overread */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	int code = vbx__exec_frame_parse(copy, size, &f, &why);
	if (code == 0)
		check_frame(copy, size, &f);
	else if ((code != 1002 && code != 1009) || !why || !*why)
		abort();
	free(copy);
	return 0;
}
