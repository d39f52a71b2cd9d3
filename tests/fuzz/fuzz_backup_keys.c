/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_backup_keys.c - backup-s3's key file parser (plugins/backup-s3/
 * keys.c) on any text: no crash, every refusal explained, every accepted
 * key has a 16-hex-digit id, and the first key is the current one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bkfmt.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[BK_ERR_MAX] = "";
	bk_keyring *k = NULL;

	if (bk_keyring_parse((const char *)data, size, &k, err, sizeof(err)) !=
	    0) {
		CHECK(!k);
		CHECK(err[0]);
		return 0;
	}
	const bk_key *cur = bk_keyring_current(k);
	CHECK(cur);
	CHECK(strlen(cur->id_hex) == 16);
	CHECK(bk_keyring_find(k, cur->id));
	bk_keyring_free(k);
	return 0;
}
