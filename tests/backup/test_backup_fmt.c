/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_backup_fmt.c - backup-s3's encrypted file format (bkfmt.h): round
 * trips, and a flipped byte, a truncation, a reordering and a wrong key
 * each refused with a message that says so; the key file parser on
 * broken input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bkfmt.h"

#define KEY_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

struct buf {
	unsigned char *p;
	size_t len, cap;
	size_t fail_after; /* the sink fails past this size; 0: never */
};

static int to_buf(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->fail_after && b->len + len > b->fail_after)
		return -1;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static bk_keyring *ring(const char *text)
{
	char err[BK_ERR_MAX];
	bk_keyring *k = NULL;

	if (bk_keyring_parse(text, strlen(text), &k, err, sizeof(err)) != 0)
		fail_msg("keyring: %s", err);
	return k;
}

/* Encrypt plain with the first key of keys, in pieces of step bytes. */
static struct buf seal(const char *keys, const unsigned char *plain, size_t len,
                       uint32_t chunk, size_t step)
{
	struct buf out = {0};
	char err[BK_ERR_MAX];
	bk_keyring *k = ring(keys);
	bk_enc *e = bk_enc_new(bk_keyring_current(k), chunk, to_buf, &out, err,
	                       sizeof(err));

	assert_non_null(e);
	for (size_t i = 0; i < len; i += step)
		assert_int_equal(bk_enc_write(e, plain + i,
		                              len - i < step ? len - i : step),
		                 0);
	assert_int_equal(bk_enc_finish(e), 0);
	assert_int_equal(bk_enc_write(e, "x", 1), -1);
	bk_enc_free(e);
	bk_keyring_free(k);
	return out;
}

/*
 * Decrypt enc with keys, in pieces of step bytes. Returns 0 with *plain
 * set, or -1 with the error copied to err.
 */
static int open_(const char *keys, const struct buf *enc, size_t step,
                 struct buf *plain, char *err)
{
	bk_keyring *k = ring(keys);
	bk_dec *d = bk_dec_new(k, to_buf, plain);
	int rc = 0;

	assert_non_null(d);
	for (size_t i = 0; rc == 0 && i < enc->len; i += step)
		rc = bk_dec_write(d, enc->p + i,
		                  enc->len - i < step ? enc->len - i : step);
	if (rc == 0)
		rc = bk_dec_finish(d);
	if (rc != 0)
		snprintf(err, BK_ERR_MAX, "%s", bk_dec_error(d));
	bk_dec_free(d);
	bk_keyring_free(k);
	return rc;
}

static unsigned char *pattern(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + (i >> 8));
	return p;
}

static void test_round_trip(void **state)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 48, 100, 5000};
	static const size_t steps[] = {1, 7, 16, 4096};
	(void)state;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned char *p = pattern(lens[i]);
		for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
			struct buf enc = seal(KEY_A, p, lens[i], 16, steps[j]);
			struct buf out = {0};
			char err[BK_ERR_MAX];
			size_t chunks = lens[i] ? (lens[i] + 15) / 16 : 1;
			/* header, and a tag a chunk (at least one: the final)
			 */
			assert_int_equal(enc.len, BK_HEADER_LEN + lens[i] +
			                                  chunks * BK_TAG_LEN);
			assert_memory_equal(enc.p, BK_MAGIC, BK_MAGIC_LEN);
			if (open_(KEY_A, &enc, steps[j], &out, err) != 0)
				fail_msg("len %zu step %zu: %s", lens[i],
				         steps[j], err);
			assert_int_equal(out.len, lens[i]);
			if (lens[i])
				assert_memory_equal(out.p, p, lens[i]);
			free(enc.p);
			free(out.p);
		}
		free(p);
	}
}

static void test_default_chunk_and_nonce(void **state)
{
	unsigned char *p = pattern(200000);
	struct buf a = seal(KEY_A, p, 200000, 0, 65536);
	struct buf b = seal(KEY_A, p, 200000, 0, 65536);
	struct buf out = {0};
	char err[BK_ERR_MAX];
	(void)state;

	/* 200000 bytes in 64 KiB chunks: 4 chunks */
	assert_int_equal(a.len, BK_HEADER_LEN + 200000 + 4 * BK_TAG_LEN);
	/* a fresh nonce prefix each time: the same input differs */
	assert_memory_not_equal(a.p, b.p, 64);
	assert_int_equal(open_(KEY_A, &a, 1000, &out, err), 0);
	assert_memory_equal(out.p, p, 200000);
	free(a.p);
	free(b.p);
	free(out.p);
	free(p);
}

/* Every single flipped bit anywhere is refused, with a reason. */
static void test_flipped_byte(void **state)
{
	unsigned char *p = pattern(40);
	struct buf enc = seal(KEY_A, p, 40, 16, 40);
	(void)state;

	for (size_t i = 0; i < enc.len; i++) {
		struct buf out = {0};
		char err[BK_ERR_MAX] = "";
		enc.p[i] ^= 0x04;
		if (open_(KEY_A, &enc, 9, &out, err) == 0)
			fail_msg("byte %zu flipped and accepted", i);
		assert_true(strstr(err, "authentication") ||
		            strstr(err, "header") || strstr(err, "key ") ||
		            strstr(err, "version") || strstr(err, "VBXBKENC"));
		enc.p[i] ^= 0x04;
		free(out.p);
	}
	/* a flipped tag byte of chunk 1: chunk 0 was output, not chunk 1 */
	struct buf out = {0};
	char err[BK_ERR_MAX];
	enc.p[BK_HEADER_LEN + 16 + BK_TAG_LEN + 16 + 3] ^= 1;
	assert_int_equal(open_(KEY_A, &enc, 4096, &out, err), -1);
	assert_non_null(strstr(err, "chunk 1 failed authentication"));
	assert_int_equal(out.len, 16);
	free(out.p);
	free(enc.p);
	free(p);
}

/* A stream cut at any byte, chunk boundaries included, is refused. */
static void test_truncated(void **state)
{
	unsigned char *p = pattern(48);
	struct buf enc = seal(KEY_A, p, 48, 16, 48);
	size_t full = enc.len;
	(void)state;

	for (size_t n = 0; n < full; n++) {
		struct buf out = {0};
		char err[BK_ERR_MAX] = "";
		enc.len = n;
		if (open_(KEY_A, &enc, 5, &out, err) == 0)
			fail_msg("cut at %zu of %zu and accepted", n, full);
		assert_true(strstr(err, "truncated") != NULL);
		free(out.p);
	}
	free(enc.p);
	free(p);
}

static void test_reordered(void **state)
{
	unsigned char *p = pattern(64);
	struct buf enc = seal(KEY_A, p, 64, 16, 64);
	struct buf out = {0};
	unsigned char tmp[16 + BK_TAG_LEN];
	unsigned char *c0 = enc.p + BK_HEADER_LEN, *c1 = c0 + sizeof(tmp);
	char err[BK_ERR_MAX];
	(void)state;

	memcpy(tmp, c0, sizeof(tmp));
	memcpy(c0, c1, sizeof(tmp));
	memcpy(c1, tmp, sizeof(tmp));
	assert_int_equal(open_(KEY_A, &enc, 64, &out, err), -1);
	assert_non_null(strstr(err, "chunk 0 failed authentication"));
	assert_non_null(strstr(err, "reordered"));
	assert_int_equal(out.len, 0);
	free(out.p);
	free(enc.p);
	free(p);
}

static void test_wrong_key(void **state)
{
	unsigned char *p = pattern(20);
	struct buf enc = seal(KEY_A, p, 20, 16, 20);
	struct buf out = {0};
	char err[BK_ERR_MAX];
	bk_keyring *b = ring(KEY_B);
	(void)state;

	/* key B alone: its id is not the header's */
	assert_int_equal(open_(KEY_B, &enc, 20, &out, err), -1);
	assert_non_null(strstr(err, "not in the key file"));
	/* the header claims key B: B does not open what A sealed */
	memcpy(enc.p + 16, bk_keyring_current(b)->id, BK_KEY_ID_BYTES);
	assert_int_equal(open_(KEY_B, &enc, 20, &out, err), -1);
	assert_non_null(strstr(err, "chunk 0 failed authentication"));
	assert_int_equal(out.len, 0);
	bk_keyring_free(b);
	free(out.p);
	free(enc.p);
	free(p);
}

/* Rotation: B first encrypts; A, second, still opens old backups. */
static void test_rotation(void **state)
{
	unsigned char *p = pattern(33);
	struct buf old = seal(KEY_A, p, 33, 16, 33);
	struct buf new = seal(KEY_B "\n" KEY_A "\n", p, 33, 16, 33);
	struct buf out = {0}, out2 = {0};
	char err[BK_ERR_MAX];
	bk_keyring *b = ring(KEY_B);
	(void)state;

	assert_memory_equal(new.p + 16, bk_keyring_current(b)->id,
	                    BK_KEY_ID_BYTES);
	assert_int_equal(open_(KEY_B "\n" KEY_A, &old, 33, &out, err), 0);
	assert_int_equal(open_(KEY_B "\n" KEY_A, &new, 33, &out2, err), 0);
	assert_memory_equal(out.p, p, 33);
	assert_memory_equal(out2.p, p, 33);
	bk_keyring_free(b);
	free(old.p);
	free(new.p);
	free(out.p);
	free(out2.p);
	free(p);
}

static void test_not_a_backup(void **state)
{
	struct buf in = {
	        (unsigned char *)"PGDMP this is a plain dump, not ours", 36, 36,
	        0};
	struct buf out = {0};
	char err[BK_ERR_MAX];
	unsigned char *p = pattern(10);
	struct buf enc = seal(KEY_A, p, 10, 16, 10);
	(void)state;

	assert_int_equal(open_(KEY_A, &in, 36, &out, err), -1);
	assert_non_null(strstr(err, "not a VibeBox backup"));
	enc.p[8] = 2;
	assert_int_equal(open_(KEY_A, &enc, 36, &out, err), -1);
	assert_non_null(strstr(err, "format version 2 is not supported"));
	enc.p[8] = 1;
	memset(enc.p + 12, 0xff, 4);
	assert_int_equal(open_(KEY_A, &enc, 36, &out, err), -1);
	assert_non_null(strstr(err, "chunk size"));
	free(enc.p);
	free(p);
	free(out.p);
}

static void test_sink_failure(void **state)
{
	char err[BK_ERR_MAX];
	struct buf out = {.fail_after = 40};
	bk_keyring *k = ring(KEY_A);
	bk_enc *e = bk_enc_new(bk_keyring_current(k), 16, to_buf, &out, err,
	                       sizeof(err));
	(void)state;

	assert_int_equal(bk_enc_write(e, "0123456789abcdef0123", 20), -1);
	assert_non_null(strstr(bk_enc_error(e), "output failed"));
	assert_int_equal(bk_enc_finish(e), -1);
	assert_null(bk_enc_new(bk_keyring_current(k), BK_CHUNK_MAX + 1, to_buf,
	                       &out, err, sizeof(err)));
	assert_non_null(strstr(err, "chunk size"));
	bk_enc_free(e);
	bk_keyring_free(k);
	free(out.p);
}

static void expect_bad_keys(const char *text, const char *why)
{
	char err[BK_ERR_MAX] = "";
	bk_keyring *k = (bk_keyring *)1;

	assert_int_equal(
	        bk_keyring_parse(text, strlen(text), &k, err, sizeof(err)), -1);
	assert_null(k);
	if (!strstr(err, why))
		fail_msg("%s: got \"%s\", want \"%s\"", text, err, why);
}

static void test_keyring(void **state)
{
	bk_keyring *k =
	        ring("# backup keys\r\n\n  " KEY_B " \r\n# old\n" KEY_A);
	bk_keyring *a = ring(KEY_A), *b = ring(KEY_B);
	(void)state;

	assert_string_equal(bk_keyring_current(k)->id_hex,
	                    bk_keyring_current(b)->id_hex);
	assert_non_null(bk_keyring_find(k, bk_keyring_current(a)->id));
	assert_int_equal(strlen(bk_keyring_current(k)->id_hex), 16);
	bk_keyring_free(k);
	bk_keyring_free(a);
	bk_keyring_free(b);

	expect_bad_keys("", "holds no key");
	expect_bad_keys("# only a comment\n\n", "holds no key");
	expect_bad_keys("0011", "line 1: expected a key of 64 hex digits");
	expect_bad_keys(KEY_A "\n" KEY_A "00",
	                "line 2: expected a key of 64 hex digits");
	expect_bad_keys("\n\nzz112233445566778899aabbccddeeff00112233445566778"
	                "899aabbccddeeff",
	                "line 3: column 1 is not a hex digit");
	expect_bad_keys("00112233445566778899aabbccddeeff00112233445566778899"
	                "aabbccddeefg",
	                "line 1: column 64 is not a hex digit");
	expect_bad_keys("base64/is+not=accepted/here/aaaaaaaaaaaaaaaaaaaaaa"
	                "aaaaaaaaaaaaaa",
	                "not a hex digit");
}

static void test_keyring_load(void **state)
{
	char path[] = "/tmp/vbx-bk-keyXXXXXX";
	char err[BK_ERR_MAX];
	bk_keyring *k;
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "nope\n", 5), 5);
	close(fd);
	assert_int_equal(bk_keyring_load(path, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 1"));
	unlink(path);
	assert_int_equal(bk_keyring_load(path, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_default_chunk_and_nonce),
	        cmocka_unit_test(test_flipped_byte),
	        cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_reordered),
	        cmocka_unit_test(test_wrong_key),
	        cmocka_unit_test(test_rotation),
	        cmocka_unit_test(test_not_a_backup),
	        cmocka_unit_test(test_sink_failure),
	        cmocka_unit_test(test_keyring),
	        cmocka_unit_test(test_keyring_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
