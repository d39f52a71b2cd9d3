/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_auth_cache.c - the auth plugin's readers of what the shared cache
 * gives back (plugins/auth/cache.c), fed arbitrary bytes as another
 * replica or anyone with access to the cache server might have written:
 *
 *   - a user entry: never read past len, a refusal leaves the user
 *     untouched, and what is accepted is written back byte for byte (one
 *     form only), with an email of no control characters;
 *   - a lock's end: only plain decimal digits, and the value they say.
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

static void entry(const char *in, size_t size)
{
	vbx_user u, before;
	char back[400];

	memset(&u, 0x5a, sizeof(u));
	before = u;
	if (auth_user_entry_decode(in, size, &u) != VBX_OK) {
		CHECK(memcmp(&u, &before, sizeof(u)) == 0);
		return;
	}
	size_t n = strlen(u.email);
	CHECK(n >= 1 && n < sizeof(u.email));
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)u.email[i] >= 0x20 && u.email[i] != 0x7f);
	size_t len = auth_user_entry_encode(&u, back, sizeof(back));
	CHECK(len == size && memcmp(back, in, size) == 0);
}

static void lock_end(const char *in, size_t size)
{
	int64_t v = -1;
	if (auth_cache_decode_ms(in, size, &v) != VBX_OK) {
		CHECK(v == -1);
		return;
	}
	CHECK(size >= 1 && size <= 18 && v >= 0);
	int64_t again = 0;
	for (size_t i = 0; i < size; i++) {
		CHECK(in[i] >= '0' && in[i] <= '9');
		again = again * 10 + (in[i] - '0');
	}
	CHECK(again == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so that ASan sees any read past len. */
	char *in = malloc(size ? size : 1);
	CHECK(in);
	memcpy(in, data, size);
	entry(in, size);
	lock_end(in, size);
	free(in);
	return 0;
}
