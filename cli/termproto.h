/* SPDX-License-Identifier: Apache-2.0 */
/*
 * termproto.h - the frames of /api/v1/environments/{id}/terminal
 * (subprotocol vibebox.terminal.v1). Binary messages whose first byte is
 * the type; integers are big-endian.
 *
 *   client -> server: 0x00 input (bytes), 0x01 resize (u16 cols, u16
 *   rows), 0x02 ack (u64 output bytes consumed so far)
 *   server -> client: 0x82 hello (JSON {session, offset, window, gap?}),
 *   0x80 output (u64 stream offset of the first byte, then the bytes),
 *   0x81 exit (JSON {code, reason})
 *
 * Nothing here does I/O, so the decoder can be fuzzed alone.
 */
#ifndef VBX_CLI_TERMPROTO_H
#define VBX_CLI_TERMPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TERM_INPUT = 0x00,
	TERM_RESIZE = 0x01,
	TERM_ACK = 0x02,
	TERM_OUTPUT = 0x80,
	TERM_EXIT = 0x81,
	TERM_HELLO = 0x82,
};

#define TERM_SESSION_MAX 128
#define TERM_REASON_MAX 256

/* A decoded server frame. data points into the message. */
typedef struct term_frame {
	int type; /* TERM_OUTPUT, TERM_EXIT or TERM_HELLO */
	/* output */
	uint64_t offset;
	const uint8_t *data;
	size_t len;
	/* hello */
	char session[TERM_SESSION_MAX];
	uint64_t window;
	uint64_t gap; /* bytes the server no longer had; 0 for none */
	bool has_gap;
	/* exit */
	int code; /* -1 when the server did not know it */
	char reason[TERM_REASON_MAX];
} term_frame;

/*
 * Decode one server message. Returns 0, or -1 for an empty message, an
 * unknown type, a short output frame, or a hello/exit whose JSON is broken
 * or misses a required field (hello: session, offset; exit: code or
 * reason). Strings too long for the struct are an error too.
 */
int term_decode(const uint8_t *msg, size_t len, term_frame *f);

/* The frames the client sends, written to out; each returns its size. */
size_t term_encode_resize(uint8_t out[5], unsigned cols, unsigned rows);
size_t term_encode_ack(uint8_t out[9], uint64_t consumed);
/* out must hold 1 + len bytes. */
size_t term_encode_input(uint8_t *out, const void *data, size_t len);

/*
 * Which bytes of an output frame at offset `off` with `len` bytes are new
 * to a client that has consumed `seen` bytes of the stream: returns how
 * many to skip from the start of the frame (len when all are old) and
 * sets *gap to the bytes missing between seen and off (0 for none).
 */
size_t term_output_skip(uint64_t seen, uint64_t off, size_t len, uint64_t *gap);

/* Big-endian helpers. */
uint64_t term_get_u64(const uint8_t *p);
void term_put_u64(uint8_t *p, uint64_t v);

#endif
