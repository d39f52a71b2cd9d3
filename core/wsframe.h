/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsframe.h - the RFC 6455 frame-header checks that libwebsockets 4.1
 * leaves out (an unmasked client frame is accepted, section 5.1) or makes
 * without a close frame (a control frame with an extended length, a
 * 64-bit length with its top bit set: the connection just drops).
 *
 * A scanner follows the client's byte stream frame by frame, headers split
 * across reads included, and finds the first header at fault; wsguard.c
 * runs it over what libwebsockets reads from a WebSocket's socket.
 */
#ifndef VBX_WSFRAME_H
#define VBX_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct vbx__wsframe {
	unsigned char hdr[14]; /* the header read so far */
	size_t hlen;
	uint64_t left;   /* payload bytes of the current frame still to come */
	int code;        /* once at fault: the close code (1002) ... */
	const char *why; /* ... and its reason, a static string */
} vbx__wsframe;

/*
 * Scan the next n bytes of the client's stream (f zeroed at the start of
 * the WebSocket stream). Returns n when they hold no fault; otherwise the
 * number of leading bytes that come before the header at fault (0 when
 * that header began in an earlier call), with f->code and f->why set.
 * Once at fault, every later call returns 0.
 */
size_t vbx__wsframe_scan(vbx__wsframe *f, const unsigned char *p, size_t n);

#endif
