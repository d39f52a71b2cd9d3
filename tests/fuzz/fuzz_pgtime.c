/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pgtime.c - postgres-store's timestamptz reader on any text: it
 * must not crash, must leave the output alone when it refuses, and what
 * it accepts must be a time of years 0..9999 (with an offset of up to 16
 * hours either side).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t ms = 12345;
	int rc = pgs_parse_timestamp(s, &ms);
	CHECK(rc == VBX_OK || rc == VBX_EINVAL);
	if (rc != VBX_OK)
		CHECK(ms == 12345);
	else
		CHECK(ms >= -62167219200000LL - 16 * 3600000LL &&
		      ms <= 253402300800000LL + 16 * 3600000LL);
	free(s);
	return 0;
}
