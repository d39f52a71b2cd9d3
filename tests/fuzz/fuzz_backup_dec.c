/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_backup_dec.c - backup-s3's decoder (plugins/backup-s3/seal.c) on
 * any bytes, fed in pieces whose sizes the input's first byte picks: it
 * must not crash, must explain every refusal, must never output more than
 * it read less the header and a tag a chunk. (The seeds are real
 * backups under the key below, so the fuzzer mutates authentic streams.)
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

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *arg, const void *p, size_t len)
{
	(void)p;
	*(size_t *)arg += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bk_keyring *keys;
	char err[BK_ERR_MAX];
	size_t out = 0;
	int rc = 0;

	if (!keys &&
	    bk_keyring_parse(KEY, strlen(KEY), &keys, err, sizeof(err)) != 0)
		abort();
	if (size == 0)
		return 0;
	size_t step = (size_t)data[0] + 1;
	data++, size--;
	bk_dec *d = bk_dec_new(keys, count, &out);
	CHECK(d);
	for (size_t i = 0; rc == 0 && i < size; i += step)
		rc = bk_dec_write(d, data + i,
		                  size - i < step ? size - i : step);
	if (rc == 0)
		rc = bk_dec_finish(d);
	if (rc == 0)
		CHECK(out + BK_HEADER_LEN + BK_TAG_LEN <= size);
	else
		CHECK(rc == -1 && bk_dec_error(d)[0]);
	CHECK(out <= size);
	bk_dec_free(d);
	return 0;
}
