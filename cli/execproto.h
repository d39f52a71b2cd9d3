/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execproto.h - the frames of /api/v1/environments/{id}/exec (subprotocol
 * vibebox.exec.v1, docs/exec-protocol.md). Binary messages whose first
 * byte is the type; integers are big-endian.
 *
 *   client -> server: 0x03 start (JSON {argv, env?}), 0x00 stdin
 *   (bytes), 0x01 stdin-close, 0x02 ack (u64 output bytes consumed)
 *   server -> client: 0x82 hello (JSON {window}), 0x80 stdout and 0x83
 *   stderr (u64 offset of the first byte, then bytes; one offset space),
 *   0x81 exit (JSON {code, reason}), 0x84 error (JSON {message}), 0x85
 *   stdin-ack (u64 stdin bytes the command took; a client keeps at most
 *   a window of stdin past it)
 *
 * Nothing here does I/O, so the decoder can be fuzzed alone.
 */
#ifndef VBX_CLI_EXECPROTO_H
#define VBX_CLI_EXECPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	EXEC_STDIN = 0x00,
	EXEC_STDIN_CLOSE = 0x01,
	EXEC_ACK = 0x02,
	EXEC_START = 0x03,
	EXEC_STDOUT = 0x80,
	EXEC_EXIT = 0x81,
	EXEC_HELLO = 0x82,
	EXEC_STDERR = 0x83,
	EXEC_ERROR = 0x84,
	EXEC_STDIN_ACK = 0x85,
};

#define EXEC_TEXT_MAX 256

/* A decoded server frame; data points into the message. */
typedef struct exec_frame {
	int type;
	uint64_t offset; /* stdout, stderr; stdin-ack: the bytes taken */
	const uint8_t *data;
	size_t len;
	uint64_t window;          /* hello */
	int code;                 /* exit: -1 when the server did not know */
	char text[EXEC_TEXT_MAX]; /* exit: reason; error: message */
} exec_frame;

/*
 * Decode one server message. Returns 0, or -1 for an empty message, an
 * unknown type, a stdout/stderr frame shorter than 9 bytes, a stdin-ack
 * not exactly 9, or a JSON
 * body that is broken or misses its field (hello: window; exit: code;
 * error: message) or has a string too long for the struct.
 */
int exec_decode(const uint8_t *msg, size_t len, exec_frame *f);

/*
 * The start frame for argv (argc strings): a malloc'd message, 0x03 then
 * {"argv":[...]}, its size in *len. NULL when out of memory.
 */
uint8_t *exec_encode_start(char *const *argv, int argc, size_t *len);

#endif
