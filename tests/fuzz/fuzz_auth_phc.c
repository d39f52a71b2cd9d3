/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_auth_phc.c - the auth plugin's reader of Argon2id PHC strings
 * (plugins/auth/phc.c), fed arbitrary bytes as a stored password hash:
 *
 *   - it never reads past the NUL, and a refusal leaves *out zeroed;
 *   - what it accepts is within the bounds auth.h states (those decide
 *     how much memory a login may take), and written back it gives the
 *     very same string: the reader accepts the canonical form only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), back[AUTH_HASH_MAX];
	auth_phc h, zero;

	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&zero, 0, sizeof(zero));
	if (auth_phc_decode(s, &h) != VBX_OK) {
		CHECK(memcmp(&h, &zero, sizeof(h)) == 0);
		free(s);
		return 0;
	}
	CHECK(h.version == AUTH_PHC_VERSION);
	CHECK(h.m_kib >= 8 * h.p && h.m_kib <= AUTH_PHC_M_MAX);
	CHECK(h.t >= 1 && h.t <= AUTH_PHC_T_MAX);
	CHECK(h.p >= 1 && h.p <= AUTH_PHC_P_MAX);
	CHECK(h.salt_len >= AUTH_PHC_SALT_MIN &&
	      h.salt_len <= AUTH_PHC_SALT_MAX);
	CHECK(h.hash_len >= AUTH_PHC_HASH_MIN &&
	      h.hash_len <= AUTH_PHC_HASH_MAX);
	CHECK(auth_phc_encode(&h, back, sizeof(back)) == VBX_OK);
	CHECK(strcmp(back, s) == 0);
	free(s);
	return 0;
}
