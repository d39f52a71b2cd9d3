/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_keyring.c - the postgres-store secrets keyring and sealed blobs,
 * fed arbitrary bytes:
 *
 *   - the input as a key file (pgs_keyring_parse, length-bounded, not
 *     NUL-terminated) checked against a reference reading of crypto.h's
 *     format: lines trimmed of spaces, tabs and CR; blank and '#' lines
 *     skipped; every other line exactly 64 hex digits. The parser must
 *     accept exactly when the reference does, count the same keys, and
 *     name the sealing key by the first 16 hex digits of the SHA-256 of
 *     the first key (recomputed here); a refusal says why and leaves no
 *     ring;
 *   - the input as a stored blob to pgs_secret_open under each key of a
 *     fixed ring and under a key id taken from the input: it never opens
 *     (the GCM tag cannot be forged by chance), an unknown id is
 *     VBX_ENOTFOUND (a blob too short for nonce and tag is VBX_EINVAL
 *     first), and nothing is handed out on failure;
 *   - the input (up to a NUL) as a secret value: sealed with the input's
 *     own ring when it parsed, else the fixed one, it opens to the same
 *     text, and does not open with one bit flipped, one byte short, for
 *     another variable or environment, or under another key.
 *
 * Links plugins/postgres-store/crypto.c alone with libcrypto; its only
 * host calls (logging in pgs_crypto_init) are not reached.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <vibebox/common.h>

#include "crypto.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define ENV_ID "6f1c0a52-8a1e-4d0b-9c57-3e2f4b1d7a90"
#define VAR "DATABASE_PASSWORD"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ring_text[] =
        "# fuzz ring: the first key seals\r\n"
        "  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        "\n"
        "\tFFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100 "
        "\r\n";

static pgs_keyring *ring;
static char ring_ids[2][PGS_KEY_ID_LEN];

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The id crypto.h promises: 16 hex digits of SHA-256(key). */
static void key_id(const unsigned char key[PGS_KEY_LEN],
                   char id[PGS_KEY_ID_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	CHECK(EVP_Digest(key, PGS_KEY_LEN, md, &md_len, EVP_sha256(), NULL));
	for (int i = 0; i < 8; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
}

/* The reference reading: the number of keys, or -1 when a line is bad.
 * The first key goes to first. */
static long ref_parse(const char *t, size_t len,
                      unsigned char first[PGS_KEY_LEN])
{
	long keys = 0;

	for (size_t pos = 0; pos < len;) {
		size_t end = pos;
		while (end < len && t[end] != '\n')
			end++;
		size_t a = pos, b = end;
		pos = end + 1;
		while (a < b && strchr(" \t\r", t[a]) && t[a])
			a++;
		while (b > a && strchr(" \t\r", t[b - 1]) && t[b - 1])
			b--;
		if (a == b || t[a] == '#')
			continue;
		if (b - a != 2 * PGS_KEY_LEN)
			return -1;
		for (size_t i = 0; i < PGS_KEY_LEN; i++) {
			int hi = hex_digit((unsigned char)t[a + 2 * i]);
			int lo = hex_digit((unsigned char)t[a + 2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			if (keys == 0)
				first[i] = (unsigned char)(hi << 4 | lo);
		}
		keys++;
	}
	return keys;
}

static void ring_init(void)
{
	static const unsigned char k1[PGS_KEY_LEN] = {
	        0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
	        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
	unsigned char k2[PGS_KEY_LEN];
	char err[256] = "";

	if (ring)
		return;
	for (int i = 0; i < PGS_KEY_LEN; i++)
		k2[i] = (unsigned char)(0xff - 0x11 * (i % 16));
	CHECK(pgs_keyring_parse(ring_text, strlen(ring_text), &ring, err,
	                        sizeof(err)) == VBX_OK);
	CHECK(pgs_keyring_count(ring) == 2);
	key_id(k1, ring_ids[0]);
	key_id(k2, ring_ids[1]);
	CHECK(strcmp(pgs_keyring_current_id(ring), ring_ids[0]) == 0);
}

/* open must refuse; plain stays NULL. */
static void open_refused(const pgs_keyring *k, const char *env, const char *var,
                         const unsigned char *blob, size_t len, const char *id,
                         int want)
{
	char *plain = (char *)1;

	CHECK(pgs_secret_open(k, env, var, blob, len, id, &plain) == want);
	CHECK(plain == NULL);
}

static void fuzz_key_file(const uint8_t *data, size_t size, pgs_keyring **kp)
{
	/* Exactly size bytes: the parser must not read a NUL past them. */
	char *text = malloc(size ? size : 1);
	unsigned char first[PGS_KEY_LEN];
	char err[256] = "", id[PGS_KEY_ID_LEN];
	pgs_keyring *k = (pgs_keyring *)1;

	CHECK(text);
	memcpy(text, data, size);
	long want = ref_parse(text, size, first);
	int rc = pgs_keyring_parse(text, size, &k, err, sizeof(err));
	free(text);
	if (want <= 0) {
		CHECK(rc == VBX_EINVAL);
		CHECK(k == NULL);
		CHECK(err[0] != '\0');
		return;
	}
	CHECK(rc == VBX_OK);
	CHECK(pgs_keyring_count(k) == (size_t)want);
	key_id(first, id);
	CHECK(strcmp(pgs_keyring_current_id(k), id) == 0);
	*kp = k;
}

static void fuzz_blob(const uint8_t *data, size_t size)
{
	char id[PGS_KEY_ID_LEN] = "";
	size_t n = size < PGS_KEY_ID_LEN - 1 ? size : PGS_KEY_ID_LEN - 1;

	for (int i = 0; i < 2; i++)
		open_refused(ring, ENV_ID, VAR, data, size, ring_ids[i],
		             VBX_EINVAL);
	memcpy(id, data, n);
	id[n] = '\0';
	if (strcmp(id, ring_ids[0]) != 0 && strcmp(id, ring_ids[1]) != 0)
		open_refused(ring, ENV_ID, VAR, data, size, id,
		             size < PGS_SEAL_OVERHEAD ? VBX_EINVAL
		                                      : VBX_ENOTFOUND);
}

static void fuzz_round_trip(const pgs_keyring *k, const char *plain,
                            size_t flip)
{
	unsigned char *blob = NULL;
	size_t len = 0;
	char id[PGS_KEY_ID_LEN];
	char *back = NULL;

	CHECK(pgs_secret_seal(k, ENV_ID, VAR, plain, &blob, &len, id) ==
	      VBX_OK);
	CHECK(len == strlen(plain) + PGS_SEAL_OVERHEAD);
	CHECK(strcmp(id, pgs_keyring_current_id(k)) == 0);
	CHECK(pgs_secret_open(k, ENV_ID, VAR, blob, len, id, &back) == VBX_OK);
	CHECK(back && strcmp(back, plain) == 0);
	free(back);

	open_refused(k, ENV_ID, VAR "_2", blob, len, id, VBX_EINVAL);
	open_refused(k, ENV_ID "0", VAR, blob, len, id, VBX_EINVAL);
	/* Without the NUL between the parts these would be the same bytes. */
	open_refused(k, ENV_ID "D", &VAR[1], blob, len, id, VBX_EINVAL);
	open_refused(k, ENV_ID, VAR, blob, len - 1, id, VBX_EINVAL);
	if (k == ring)
		open_refused(k, ENV_ID, VAR, blob, len, ring_ids[1],
		             VBX_EINVAL);
	blob[flip / 8 % len] ^= (unsigned char)(1u << flip % 8);
	open_refused(k, ENV_ID, VAR, blob, len, id, VBX_EINVAL);
	free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgs_keyring *own = NULL;
	char *plain = malloc(size + 1);
	size_t flip = 0;

	CHECK(plain);
	ring_init();
	fuzz_key_file(data, size, &own);
	fuzz_blob(data, size);
	memcpy(plain, data, size);
	plain[size] = '\0';
	for (size_t i = 0; i < size; i++)
		flip = flip * 31 + data[i];
	fuzz_round_trip(own ? own : ring, plain, flip);
	pgs_keyring_free(own);
	free(plain);
	return 0;
}
