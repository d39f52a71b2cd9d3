/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_conninfo.c - postgres-store's reading of a conninfo's host list
 * (failover.c) on any text: it must not crash, must count at least one
 * host when it accepts, and must say why, in a NUL-terminated message
 * that fits its buffer, when it refuses; a list it accepts splits into
 * one server per host (freed without a leak).
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
	pgs_hosts h;
	char err[16 + 1];
	err[16] = 'X'; /* a guard past the length given */
	int rc = pgs_hosts_parse(s, &h, err, 16);
	CHECK(rc == VBX_OK || rc == VBX_EINVAL || rc == VBX_ENOMEM);
	CHECK(err[16] == 'X' && memchr(err, '\0', 16));
	if (rc == VBX_OK) {
		CHECK(h.count >= 1 && err[0] == '\0');
		CHECK(memchr(h.attrs, '\0', sizeof(h.attrs)));
		pgs_targets t;
		rc = pgs_targets_make(s, &t);
		CHECK(rc == VBX_OK || rc == VBX_ENOMEM);
		if (rc == VBX_OK && h.count > 1) {
			CHECK(t.count == h.count);
			for (int i = 0; i < t.count; i++)
				CHECK(t.vals[i] != NULL);
		}
		pgs_targets_free(&t);
	} else if (rc == VBX_EINVAL) {
		CHECK(err[0] != '\0');
	}
	free(s);
	return 0;
}
