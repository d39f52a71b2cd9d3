/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_bridgemsg.c - core/bridgemsg.c fed what another replica, or
 * anything else with access to the pub/sub channel, may publish: the
 * decoder never reads past the message, and whatever it accepts is a
 * message the encoder writes back byte for byte (so nothing it accepts
 * is outside the format: strings in range, payload to the last byte).
 *
 * Input: the message. Links core/bridgemsg.c alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridgemsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past it. */
	unsigned char *msg = malloc(size ? size : 1);
	if (!msg)
		return 0;
	memcpy(msg, data, size);
	vbx__bridge_msg m;
	const char *why = NULL;
	int rc = vbx__bridge_decode(msg, size, &m, &why);
	if (rc != VBX_OK) {
		if (rc != VBX_EINVAL || !why)
			abort();
		free(msg);
		return 0;
	}
	if (m.payload < msg || m.payload + m.payload_size != msg + size)
		abort();
	unsigned char again[VBX__BRIDGE_MSG_MAX];
	size_t n = vbx__bridge_encode(m.origin, m.name, m.type, m.payload,
	                              m.payload_size, again, sizeof(again));
	if (n != size || memcmp(again, msg, size) != 0)
		abort();
	free(msg);
	return 0;
}
