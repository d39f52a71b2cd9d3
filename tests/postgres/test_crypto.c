/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crypto.c - sealing secret environment variables: round trips, key
 * rotation, and everything that must not open (wrong key, tampering, a
 * value moved to another variable, broken key files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <vibebox/common.h>

#include "crypto.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A5968778695A4B3C2D1E0F"
#define ENV "0b6f1a52-2c55-4d1e-9a43-5f0c3a9e1d77"
#define ENV2 "7f1c0a7e-1f0b-4b7a-8a63-9c1b2d3e4f50"

static pgs_keyring *ring(const char *text)
{
	pgs_keyring *k = NULL;
	char err[256] = "";
	int rc = pgs_keyring_parse(text, strlen(text), &k, err, sizeof(err));

	if (rc != VBX_OK)
		fail_msg("keyring did not parse: %s", err);
	return k;
}

/* Seal under k, then open under k2: the return code of the open. */
static int seal_open(pgs_keyring *k, pgs_keyring *k2, const char *plain,
                     char **out)
{
	unsigned char *blob = NULL;
	size_t len = 0;
	char id[PGS_KEY_ID_LEN];
	int rc;

	assert_int_equal(
	        pgs_secret_seal(k, ENV, "DB_PASSWORD", plain, &blob, &len, id),
	        VBX_OK);
	assert_int_equal(len, strlen(plain) + PGS_SEAL_OVERHEAD);
	rc = pgs_secret_open(k2, ENV, "DB_PASSWORD", blob, len, id, out);
	free(blob);
	return rc;
}

static void test_round_trip(void **state)
{
	const char *values[] = {"hunter2", "", "x",
	                        "a longer value with ünïcødé and 'quotes'"};
	pgs_keyring *k = ring(KEY_A "\n");

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *plain = NULL;

		assert_int_equal(seal_open(k, k, values[i], &plain), VBX_OK);
		assert_string_equal(plain, values[i]);
		free(plain);
	}
	pgs_keyring_free(k);
}

/* Two seals of one value differ: the nonce is fresh each time. */
static void test_nonce_is_random(void **state)
{
	pgs_keyring *k = ring(KEY_A);
	unsigned char *a, *b;
	size_t alen, blen;
	char id[PGS_KEY_ID_LEN];

	assert_int_equal(pgs_secret_seal(k, ENV, "K", "same", &a, &alen, id),
	                 VBX_OK);
	assert_int_equal(pgs_secret_seal(k, ENV, "K", "same", &b, &blen, id),
	                 VBX_OK);
	assert_int_equal(alen, blen);
	assert_memory_not_equal(a, b, PGS_NONCE_LEN);
	assert_memory_not_equal(a + PGS_NONCE_LEN, b + PGS_NONCE_LEN,
	                        alen - PGS_NONCE_LEN);
	free(a);
	free(b);
	pgs_keyring_free(k);
}

/* The key id is the first 16 hex digits of SHA-256 of the key bytes
 * (known answer computed with `xxd -r -p | sha256sum`). */
static void test_key_id(void **state)
{
	pgs_keyring *k = ring(KEY_A);

	assert_string_equal(pgs_keyring_current_id(k), "630dcd2966c43366");
	pgs_keyring_free(k);
}

static void test_wrong_key(void **state)
{
	pgs_keyring *a = ring(KEY_A);
	pgs_keyring *b = ring(KEY_B);
	unsigned char *blob;
	size_t len;
	char id[PGS_KEY_ID_LEN];
	char *plain = (char *)"untouched";

	/* The id of A is not in B's ring. */
	assert_int_equal(seal_open(a, b, "secret", &plain), VBX_ENOTFOUND);
	assert_null(plain);
	/* A's blob under B's key (as if the id column were edited) does
	 * not authenticate. */
	assert_int_equal(
	        pgs_secret_seal(a, ENV, "K", "secret", &blob, &len, id),
	        VBX_OK);
	assert_int_equal(pgs_secret_open(b, ENV, "K", blob, len,
	                                 pgs_keyring_current_id(b), &plain),
	                 VBX_EINVAL);
	assert_null(plain);
	free(blob);
	pgs_keyring_free(a);
	pgs_keyring_free(b);
}

/* Flip one bit at offset off of a fresh blob; the open must fail. */
static void tamper_at(size_t off_from, int from_end)
{
	pgs_keyring *k = ring(KEY_A);
	unsigned char *blob;
	size_t len;
	char id[PGS_KEY_ID_LEN];
	char *plain = NULL;

	assert_int_equal(
	        pgs_secret_seal(k, ENV, "K", "top secret", &blob, &len, id),
	        VBX_OK);
	blob[from_end ? len - 1 - off_from : off_from] ^= 0x01;
	assert_int_equal(pgs_secret_open(k, ENV, "K", blob, len, id, &plain),
	                 VBX_EINVAL);
	assert_null(plain);
	free(blob);
	pgs_keyring_free(k);
}

static void test_tampered_nonce(void **state)
{
	tamper_at(0, 0);
	tamper_at(PGS_NONCE_LEN - 1, 0);
}

static void test_tampered_ciphertext(void **state)
{
	tamper_at(PGS_NONCE_LEN, 0);
	tamper_at(PGS_NONCE_LEN + 5, 0);
}

static void test_tampered_tag(void **state)
{
	tamper_at(0, 1);
	tamper_at(PGS_TAG_LEN - 1, 1);
}

static void test_truncated(void **state)
{
	pgs_keyring *k = ring(KEY_A);
	unsigned char *blob;
	size_t len;
	char id[PGS_KEY_ID_LEN];
	char *plain = NULL;

	assert_int_equal(pgs_secret_seal(k, ENV, "K", "abc", &blob, &len, id),
	                 VBX_OK);
	/* Shorter than nonce and tag: refused before any crypto. */
	assert_int_equal(pgs_secret_open(k, ENV, "K", blob,
	                                 PGS_SEAL_OVERHEAD - 1, id, &plain),
	                 VBX_EINVAL);
	/* A byte short: the tag is read from the wrong place. */
	assert_int_equal(
	        pgs_secret_open(k, ENV, "K", blob, len - 1, id, &plain),
	        VBX_EINVAL);
	assert_null(plain);
	free(blob);
	pgs_keyring_free(k);
}

/* A value sealed for one variable does not open as another one. */
static void test_moved_aad(void **state)
{
	pgs_keyring *k = ring(KEY_A);
	unsigned char *blob;
	size_t len;
	char id[PGS_KEY_ID_LEN];
	char *plain = NULL;

	assert_int_equal(
	        pgs_secret_seal(k, ENV, "DB_PASSWORD", "pw", &blob, &len, id),
	        VBX_OK);
	assert_int_equal(
	        pgs_secret_open(k, ENV, "API_TOKEN", blob, len, id, &plain),
	        VBX_EINVAL);
	assert_int_equal(
	        pgs_secret_open(k, ENV2, "DB_PASSWORD", blob, len, id, &plain),
	        VBX_EINVAL);
	/* The boundary between id and name is part of the data. */
	assert_int_equal(pgs_secret_open(k, ENV "D", "B_PASSWORD", blob, len,
	                                 id, &plain),
	                 VBX_EINVAL);
	assert_null(plain);
	assert_int_equal(
	        pgs_secret_open(k, ENV, "DB_PASSWORD", blob, len, id, &plain),
	        VBX_OK);
	assert_string_equal(plain, "pw");
	free(plain);
	free(blob);
	pgs_keyring_free(k);
}

/* New key first, old key below: old values open, new ones seal with the
 * new key. */
static void test_rotation(void **state)
{
	pgs_keyring *old = ring(KEY_A "\n");
	pgs_keyring *both = ring("# rotated\n" KEY_B "\r\n\n  " KEY_A "  \n");
	unsigned char *blob;
	size_t len;
	char id[PGS_KEY_ID_LEN], old_id[PGS_KEY_ID_LEN];
	char *plain = NULL;

	assert_int_equal(pgs_keyring_count(both), 2);
	assert_int_equal(
	        pgs_secret_seal(old, ENV, "K", "v1", &blob, &len, old_id),
	        VBX_OK);
	assert_int_equal(
	        pgs_secret_open(both, ENV, "K", blob, len, old_id, &plain),
	        VBX_OK);
	assert_string_equal(plain, "v1");
	free(plain);
	free(blob);

	assert_int_equal(pgs_secret_seal(both, ENV, "K", "v2", &blob, &len, id),
	                 VBX_OK);
	assert_string_not_equal(id, old_id);
	assert_string_equal(id, pgs_keyring_current_id(both));
	/* The old ring cannot open what the new key sealed. */
	assert_int_equal(pgs_secret_open(old, ENV, "K", blob, len, id, &plain),
	                 VBX_ENOTFOUND);
	free(blob);
	pgs_keyring_free(old);
	pgs_keyring_free(both);
}

/* Parse text; expect rc and an error message containing want. */
static void bad_keyring(const char *text, size_t len, int want_rc,
                        const char *want)
{
	pgs_keyring *k = (pgs_keyring *)&k;
	char err[256] = "";

	assert_int_equal(pgs_keyring_parse(text, len, &k, err, sizeof(err)),
	                 want_rc);
	assert_null(k);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_bad_key_files(void **state)
{
	static const char nul_inside[] = KEY_A "\0\n";
	/* 64 characters, the third not a hex digit */
	static const char not_hex[] = "00g102030405060708090a0b0c0d0e0f10111213"
	                              "1415161718191a1b1c1d1e1f";

	bad_keyring("", 0, VBX_EINVAL, "no key");
	bad_keyring("\n\n# only a comment\n", 18, VBX_EINVAL, "no key");
	bad_keyring("0011", 4, VBX_EINVAL, "line 1: expected a key of 64");
	/* 66 digits: too long. */
	bad_keyring(KEY_A "00", 66, VBX_EINVAL, "got 66 characters");
	bad_keyring(KEY_A "\nabc\n", 70, VBX_EINVAL, "line 2:");
	bad_keyring(not_hex, sizeof(not_hex) - 1, VBX_EINVAL,
	            "line 1: column 3 is not a hex digit");
	bad_keyring("0" KEY_A, 65, VBX_EINVAL, "got 65");
	bad_keyring(nul_inside, sizeof(nul_inside) - 1, VBX_EINVAL,
	            "line 1: expected");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/vbx-test-crypto.XXXXXX";
	pgs_keyring *k = NULL;
	char err[512] = "";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, KEY_B "\n" KEY_A "\n", 130), 130);
	close(fd);
	assert_int_equal(pgs_keyring_load(path, &k, err, sizeof(err)), VBX_OK);
	assert_int_equal(pgs_keyring_count(k), 2);
	pgs_keyring_free(k);

	/* A short key: the message names the file and the line. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abcd\n", 5), 5);
	close(fd);
	assert_int_equal(pgs_keyring_load(path, &k, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 1"));
	unlink(path);

	assert_int_equal(pgs_keyring_load(path, &k, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_null(k);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(pgs_keyring_load("/", &k, err, sizeof(err)),
	                 VBX_EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_bad_arguments(void **state)
{
	pgs_keyring *k = ring(KEY_A);
	pgs_keyring *empty = NULL;
	unsigned char *blob = NULL;
	size_t len = 0;
	char id[PGS_KEY_ID_LEN];
	char *plain = NULL;

	assert_int_equal(pgs_secret_seal(empty, ENV, "K", "v", &blob, &len, id),
	                 VBX_EINVAL);
	assert_int_equal(pgs_secret_seal(k, NULL, "K", "v", &blob, &len, id),
	                 VBX_EINVAL);
	assert_int_equal(pgs_secret_seal(k, ENV, "K", NULL, &blob, &len, id),
	                 VBX_EINVAL);
	assert_null(blob);
	assert_int_equal(pgs_secret_open(k, ENV, "K", (const void *)"x", 1,
	                                 "0000000000000000", &plain),
	                 VBX_EINVAL);
	assert_int_equal(pgs_keyring_count(NULL), 0);
	assert_string_equal(pgs_keyring_current_id(NULL), "");
	pgs_keyring_free(NULL);
	pgs_keyring_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_nonce_is_random),
	        cmocka_unit_test(test_key_id),
	        cmocka_unit_test(test_wrong_key),
	        cmocka_unit_test(test_tampered_nonce),
	        cmocka_unit_test(test_tampered_ciphertext),
	        cmocka_unit_test(test_tampered_tag),
	        cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_moved_aad),
	        cmocka_unit_test(test_rotation),
	        cmocka_unit_test(test_bad_key_files),
	        cmocka_unit_test(test_load_file),
	        cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
