/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flow.h - the credit window of the platform's streaming protocols
 * (vibebox.terminal.v1, vibebox.exec.v1): the client acknowledges the
 * output bytes it consumed, and the server has at most `window` bytes
 * in flight past the last acknowledgement. docs/terminal-protocol.md,
 * "Offsets, acks and the window", states the rules; both protocols use
 * these two functions so that they cannot drift apart.
 */
#ifndef VBX_FLOW_H
#define VBX_FLOW_H

#include <stdint.h>

/* How many more bytes may go out when `sent` were sent (or read) and
 * `acked` acknowledged: 0 when the client is a window behind. */
static inline uint64_t vbx__flow_room(uint64_t sent, uint64_t acked,
                                      uint64_t window)
{
	uint64_t limit = acked + window;
	return sent < limit ? limit - sent : 0;
}

/*
 * Apply an ack of offset off to *acked, when `sent` bytes were sent.
 * Returns 0, or 1007 (the WebSocket close code) with *why set when the
 * ack goes backwards or beyond what was sent; *acked is then unchanged.
 */
static inline int vbx__flow_ack(uint64_t *acked, uint64_t sent, uint64_t off,
                                const char **why)
{
	if (off < *acked) {
		*why = "ack went backwards";
		return 1007;
	}
	if (off > sent) {
		*why = "ack beyond the output sent";
		return 1007;
	}
	*acked = off;
	return 0;
}

#endif
