/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec.h - vibebox.exec.v1 (docs/exec-protocol.md): one command without a
 * TTY per WebSocket, stdin in, stdout and stderr apart, its exit code out,
 * with the terminal's credit window (flow.h).
 *
 * execproto.c parses what a client sends (pure functions, fuzzed);
 * exec.c is the route /api/v1/environments/{id}/exec and its sessions on
 * the terminal's pump.
 */
#ifndef VBX_EXEC_H
#define VBX_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vibebox/plugin.h>

/* ---- frames ---- */

enum {
	VBX__EXEC_STDIN = 0x00,       /* client: bytes for stdin */
	VBX__EXEC_STDIN_CLOSE = 0x01, /* client: stdin ends (EOF) */
	VBX__EXEC_ACK = 0x02,         /* client: u64 output bytes consumed */
	VBX__EXEC_START = 0x03,       /* client: JSON {"argv", "env"} */
	VBX__EXEC_STDOUT = 0x80,      /* server: u64 offset, then bytes */
	VBX__EXEC_EXIT = 0x81,        /* server: JSON {"code","reason"} */
	VBX__EXEC_HELLO = 0x82,       /* server: JSON {"window"} */
	VBX__EXEC_STDERR = 0x83,      /* server: u64 offset, then bytes */
	VBX__EXEC_ERROR = 0x84,       /* server: JSON {"message"} */
	VBX__EXEC_STDIN_ACK = 0x85,   /* server: u64 stdin bytes taken */
};

#define VBX__EXEC_ARGC_MAX 256u          /* arguments, argv[0] included */
#define VBX__EXEC_ENVC_MAX 128u          /* variables */
#define VBX__EXEC_STR_MAX (32u << 10)    /* bytes of one argument/value */
#define VBX__EXEC_NAME_MAX 255u          /* bytes of a variable's name */
#define VBX__EXEC_START_MAX (256u << 10) /* bytes of a start frame */

/* One parsed client frame; data points into the parsed buffer. */
typedef struct vbx__exec_frame {
	int type;
	const unsigned char *data; /* stdin bytes; start: the JSON */
	size_t len;
	uint64_t ack;
} vbx__exec_frame;

/*
 * Parse one binary client frame (its layout only; a start's JSON is
 * vbx__exec_start_parse's). Returns 0 and fills *out, or the WebSocket
 * close code to answer with: 1002 (empty, unknown type, wrong length)
 * or 1009 (a start frame over VBX__EXEC_START_MAX), *why set to a short
 * reason.
 */
int vbx__exec_frame_parse(const void *buf, size_t len, vbx__exec_frame *out,
                          const char **why);

/* A validated start message. */
typedef struct vbx__exec_start {
	char **argv; /* argc strings, then NULL */
	size_t argc;
	char **env; /* "NAME=value", envc of them, then NULL */
	size_t envc;
} vbx__exec_start;

/*
 * Parse and validate a start message's JSON (len bytes, not
 * NUL-terminated): {"argv": [1..256 strings], "env": {"NAME": "value",
 * ...}} with env optional (0..128 entries), names [A-Za-z_][A-Za-z0-9_]*
 * of at most 255 bytes, argv[0] non-empty, each string at most 32 KiB
 * and free of NUL; no other member. Returns 0 with *out filled (free it
 * with vbx__exec_start_free), or 1007 with *why set to what is wrong
 * (why points into a static string).
 */
int vbx__exec_start_parse(const void *json, size_t len, vbx__exec_start *out,
                          const char **why);
void vbx__exec_start_free(vbx__exec_start *s);

/* ---- the route (exec.c) ---- */

/*
 * Register /api/v1/environments/{id}/exec (subprotocol vibebox.exec.v1)
 * on the terminal's pump (vbx__terminal_pump, so call it after
 * vbx__terminal_ws_register), with the terminal's window in bytes.
 * Returns VBX_OK, or an error after logging why.
 */
int vbx__exec_ws_register(vbx_plugin *self, uint64_t window);

#endif
