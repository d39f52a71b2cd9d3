/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seal.c - the chunked AES-256-GCM stream of bkfmt.h: the encoder and the
 * decoder, each holding one chunk at a time.
 */
#include "bkfmt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vibebox/util.h>

#define NONCE_PREFIX_LEN 8
#define AAD_LEN (BK_HEADER_LEN + 5)

/* What the encoder and the decoder share: the header and one chunk. */
struct chunker {
	unsigned char header[BK_HEADER_LEN];
	unsigned char key[BK_KEY_LEN];
	uint32_t chunk_size;
	uint32_t index;    /* of the chunk in buf */
	unsigned char *in; /* chunk_size + tag */
	unsigned char *out;
	size_t len; /* bytes in in */
	bk_sink sink;
	void *arg;
	bool failed;
	char err[BK_ERR_MAX];
};

struct bk_enc {
	struct chunker c;
};

struct bk_dec {
	struct chunker c;
	const bk_keyring *keys;
	size_t header_len; /* bytes of the header read so far */
	char key_id[BK_KEY_ID_LEN];
};

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

__attribute__((format(printf, 2, 3))) static int fail(struct chunker *c,
                                                      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->failed = true;
	return -1;
}

static int chunker_alloc(struct chunker *c, uint32_t chunk_size)
{
	c->chunk_size = chunk_size;
	c->in = malloc((size_t)chunk_size + BK_TAG_LEN);
	c->out = malloc((size_t)chunk_size + BK_TAG_LEN);
	return c->in && c->out ? 0 : -1;
}

static void chunker_free(struct chunker *c)
{
	size_t n = (size_t)c->chunk_size + BK_TAG_LEN;

	if (c->in)
		OPENSSL_cleanse(c->in, n);
	if (c->out)
		OPENSSL_cleanse(c->out, n);
	free(c->in);
	free(c->out);
	OPENSSL_cleanse(c->key, sizeof(c->key));
}

/* Chunk index's nonce and associated data. */
static void chunk_params(const struct chunker *c, bool final,
                         unsigned char nonce[12], unsigned char aad[AAD_LEN])
{
	memcpy(nonce, c->header + BK_HEADER_LEN - NONCE_PREFIX_LEN,
	       NONCE_PREFIX_LEN);
	put_u32(nonce + NONCE_PREFIX_LEN, c->index);
	memcpy(aad, c->header, BK_HEADER_LEN);
	put_u32(aad + BK_HEADER_LEN, c->index);
	aad[BK_HEADER_LEN + 4] = final ? 1 : 0;
}

/*
 * One AES-256-GCM operation on c->in (n bytes of plaintext, or n bytes of
 * ciphertext followed by the tag) into c->out. Returns 0, or -1 (for a
 * decryption: the tag did not match).
 */
static int gcm(struct chunker *c, bool enc, bool final, size_t n)
{
	unsigned char nonce[12], aad[AAD_LEN];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	chunk_params(c, final, nonce, aad);
	ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, c->key,
	                              nonce, enc ? 1 : 0) == 1;
	ok = ok && EVP_CipherUpdate(ctx, NULL, &len, aad, AAD_LEN) == 1;
	ok = ok && EVP_CipherUpdate(ctx, c->out, &len, c->in, (int)n) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BK_TAG_LEN,
		                         c->in + n) == 1;
	ok = ok && EVP_CipherFinal_ex(ctx, c->out + len, &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BK_TAG_LEN,
		                         c->out + n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int emit(struct chunker *c, const void *data, size_t len)
{
	if (len && c->sink(c->arg, data, len) != 0)
		return fail(c, "output failed (writing %zu bytes)", len);
	return 0;
}

/* ---- encoder ---- */

bk_enc *bk_enc_new(const bk_key *key, uint32_t chunk_size, bk_sink sink,
                   void *arg, char *err, size_t err_len)
{
	bk_enc *e;

	if (chunk_size == 0)
		chunk_size = BK_CHUNK_DEFAULT;
	if (chunk_size > BK_CHUNK_MAX) {
		snprintf(err, err_len, "chunk size %u is over %u", chunk_size,
		         BK_CHUNK_MAX);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || chunker_alloc(&e->c, chunk_size) != 0) {
		snprintf(err, err_len, "out of memory");
		bk_enc_free(e);
		return NULL;
	}
	memcpy(e->c.key, key->bytes, BK_KEY_LEN);
	memcpy(e->c.header, BK_MAGIC, BK_MAGIC_LEN);
	e->c.header[8] = BK_VERSION;
	put_u32(e->c.header + 12, chunk_size);
	memcpy(e->c.header + 16, key->id, BK_KEY_ID_BYTES);
	if (RAND_bytes(e->c.header + 24, NONCE_PREFIX_LEN) != 1) {
		snprintf(err, err_len, "the random source failed (RAND_bytes)");
		bk_enc_free(e);
		return NULL;
	}
	e->c.sink = sink;
	e->c.arg = arg;
	return e;
}

static int enc_seal(bk_enc *e, bool final)
{
	struct chunker *c = &e->c;

	if (c->index == 0 && emit(c, c->header, BK_HEADER_LEN) != 0)
		return -1;
	if (gcm(c, true, final, c->len) != 0)
		return fail(c, "AES-256-GCM failed at chunk %u", c->index);
	if (emit(c, c->out, c->len + BK_TAG_LEN) != 0)
		return -1;
	if (!final && c->index == UINT32_MAX)
		return fail(c, "over 2^32 chunks: use a larger chunk size");
	c->index++;
	c->len = 0;
	return 0;
}

int bk_enc_write(bk_enc *e, const void *data, size_t len)
{
	struct chunker *c = &e->c;
	const unsigned char *p = data;

	if (c->failed)
		return -1;
	while (len) {
		/* A full chunk is sealed when more follows: it is not final. */
		if (c->len == c->chunk_size && enc_seal(e, false) != 0)
			return -1;
		size_t n = c->chunk_size - c->len;
		if (n > len)
			n = len;
		memcpy(c->in + c->len, p, n);
		c->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int bk_enc_finish(bk_enc *e)
{
	if (e->c.failed)
		return -1;
	if (enc_seal(e, true) != 0)
		return -1;
	e->c.failed = true; /* no writes after the final chunk */
	snprintf(e->c.err, sizeof(e->c.err), "the stream is finished");
	return 0;
}

const char *bk_enc_error(const bk_enc *e)
{
	return e->c.err;
}

void bk_enc_free(bk_enc *e)
{
	if (!e)
		return;
	chunker_free(&e->c);
	free(e);
}

/* ---- decoder ---- */

bk_dec *bk_dec_new(const bk_keyring *keys, bk_sink sink, void *arg)
{
	bk_dec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->keys = keys;
	d->c.sink = sink;
	d->c.arg = arg;
	return d;
}

static int dec_header(bk_dec *d)
{
	struct chunker *c = &d->c;
	const unsigned char *h = c->header;
	uint32_t size = get_u32(h + 12);
	const bk_key *key;

	if (memcmp(h, BK_MAGIC, BK_MAGIC_LEN) != 0)
		return fail(c, "not a VibeBox backup (no \"VBXBKENC\" header)");
	if (h[8] != BK_VERSION)
		return fail(c,
		            "format version %u is not supported (this build "
		            "reads version %u): use a newer decrypt tool",
		            h[8], BK_VERSION);
	if (h[9] || h[10] || h[11])
		return fail(c, "corrupt header (reserved bytes are not zero)");
	if (size == 0 || size > BK_CHUNK_MAX)
		return fail(c, "corrupt header (chunk size %u)", size);
	vbx_hex_encode(h + 16, BK_KEY_ID_BYTES, d->key_id, sizeof(d->key_id));
	key = bk_keyring_find(d->keys, h + 16);
	if (!key)
		return fail(c,
		            "encrypted with key %s, which is not in the key "
		            "file: add that key (any line) and try again",
		            d->key_id);
	memcpy(c->key, key->bytes, BK_KEY_LEN);
	if (chunker_alloc(c, size) != 0)
		return fail(c, "out of memory (a chunk of %u bytes)", size);
	return 0;
}

static int dec_open(bk_dec *d, bool final)
{
	struct chunker *c = &d->c;
	size_t n = c->len - BK_TAG_LEN;

	if (gcm(c, false, final, n) != 0) {
		if (final)
			return fail(
			        c,
			        "chunk %u (the last one) failed "
			        "authentication: the backup is truncated or "
			        "corrupt, or key %s is not the one that "
			        "encrypted it",
			        c->index, d->key_id);
		return fail(c,
		            "chunk %u failed authentication: the backup is "
		            "corrupt or reordered, or key %s is not the one "
		            "that encrypted it",
		            c->index, d->key_id);
	}
	if (emit(c, c->out, n) != 0)
		return -1;
	if (!final && c->index == UINT32_MAX)
		return fail(c, "corrupt: over 2^32 chunks");
	c->index++;
	c->len = 0;
	return 0;
}

int bk_dec_write(bk_dec *d, const void *data, size_t len)
{
	struct chunker *c = &d->c;
	const unsigned char *p = data;

	if (c->failed)
		return -1;
	while (len && d->header_len < BK_HEADER_LEN) {
		c->header[d->header_len++] = *p++;
		len--;
		if (d->header_len == BK_HEADER_LEN && dec_header(d) != 0)
			return -1;
	}
	while (len) {
		size_t cap = (size_t)c->chunk_size + BK_TAG_LEN;
		/* A full chunk with more after it is not the final one. */
		if (c->len == cap && dec_open(d, false) != 0)
			return -1;
		size_t n = cap - c->len;
		if (n > len)
			n = len;
		memcpy(c->in + c->len, p, n);
		c->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int bk_dec_finish(bk_dec *d)
{
	struct chunker *c = &d->c;

	if (c->failed)
		return -1;
	if (d->header_len < BK_HEADER_LEN)
		return fail(c,
		            "truncated: %zu bytes, less than the %d-byte "
		            "header",
		            d->header_len, BK_HEADER_LEN);
	if (c->len < BK_TAG_LEN)
		return fail(c,
		            "truncated: the backup ends inside chunk %u, "
		            "before its authentication tag",
		            c->index);
	if (dec_open(d, true) != 0)
		return -1;
	c->failed = true;
	snprintf(c->err, sizeof(c->err), "the stream is finished");
	return 0;
}

const char *bk_dec_error(const bk_dec *d)
{
	return d->c.err;
}

const char *bk_dec_key_id(const bk_dec *d)
{
	return d->key_id;
}

void bk_dec_free(bk_dec *d)
{
	if (!d)
		return;
	chunker_free(&d->c);
	free(d);
}
