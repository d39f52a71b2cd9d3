/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bkfmt.h - the encrypted backup file format (docs/backup.md, byte by
 * byte): a 32-byte header, then AES-256-GCM chunks.
 *
 *   header  "VBXBKENC" | version 1 | 3 zero bytes | chunk size (u32 BE) |
 *           key id (8 bytes) | nonce prefix (8 random bytes)
 *   chunk i ciphertext (chunk size bytes; the final one 0..chunk size)
 *           || 16-byte GCM tag
 *
 * Chunk i's nonce is the prefix || i (u32 BE); its associated data is the
 * whole header || i (u32 BE) || 1 for the final chunk, else 0. So a chunk
 * moved elsewhere, a stream cut at any byte (also at a chunk boundary:
 * the last chunk left was sealed as not final) and a header edited all
 * fail authentication.
 *
 * Memory is bounded: an encoder or decoder holds one chunk.
 *
 * This file and its two .c files (keys.c, seal.c) need OpenSSL's libcrypto
 * and nothing else, so the standalone decrypt tool builds from them.
 */
#ifndef BK_FMT_H
#define BK_FMT_H

#include <stddef.h>
#include <stdint.h>

#define BK_MAGIC "VBXBKENC"
#define BK_MAGIC_LEN 8
#define BK_VERSION 1
#define BK_HEADER_LEN 32
#define BK_KEY_LEN 32
#define BK_KEY_ID_BYTES 8
#define BK_KEY_ID_LEN 17 /* as text: 16 hex digits and a NUL */
#define BK_TAG_LEN 16
#define BK_CHUNK_DEFAULT (64 * 1024)
#define BK_CHUNK_MAX (16 * 1024 * 1024)
#define BK_ERR_MAX 256

/* ---- keys ---- */

/* One key: 32 bytes and its id, the first 8 bytes of SHA-256(key). */
typedef struct bk_key {
	unsigned char bytes[BK_KEY_LEN];
	unsigned char id[BK_KEY_ID_BYTES];
	char id_hex[BK_KEY_ID_LEN];
} bk_key;

typedef struct bk_keyring bk_keyring;

/*
 * Parse a key file's text (len bytes, need not be NUL-terminated): one key
 * of 64 hex digits per line (`openssl rand -hex 32`); blank lines and
 * lines starting with '#' are skipped. The first key encrypts; every key
 * decrypts (rotation: put the new key first, keep the old ones below).
 * On success *out is a new keyring the caller frees with bk_keyring_free().
 * Returns 0, or -1 with err saying which line is wrong and why.
 */
int bk_keyring_parse(const char *text, size_t len, bk_keyring **out, char *err,
                     size_t err_len);

/*
 * Read and parse the key file at path (at most 64 KiB). Returns as
 * bk_keyring_parse(); err also names the path.
 */
int bk_keyring_load(const char *path, bk_keyring **out, char *err,
                    size_t err_len);

/* Wipe and free k; k may be NULL. */
void bk_keyring_free(bk_keyring *k);

/* The encrypting key (the first). Owned by k. */
const bk_key *bk_keyring_current(const bk_keyring *k);

/* The key with this id, or NULL. Owned by k. */
const bk_key *bk_keyring_find(const bk_keyring *k,
                              const unsigned char id[BK_KEY_ID_BYTES]);

/* ---- streams ---- */

/*
 * Where an encoder or decoder writes its output. Returns 0, or non-zero
 * to stop the stream (the encoder or decoder then fails with "output
 * failed").
 */
typedef int (*bk_sink)(void *arg, const void *data, size_t len);

typedef struct bk_enc bk_enc;
typedef struct bk_dec bk_dec;

/*
 * A new encoder with key (copied) and chunk_size (1..BK_CHUNK_MAX; 0 for
 * BK_CHUNK_DEFAULT) writing to sink. Returns NULL when out of memory or
 * when the chunk size is out of range or the random source fails (err
 * says which).
 */
bk_enc *bk_enc_new(const bk_key *key, uint32_t chunk_size, bk_sink sink,
                   void *arg, char *err, size_t err_len);

/* Encrypt len bytes of plaintext. Returns 0, or -1 (bk_enc_error()). */
int bk_enc_write(bk_enc *e, const void *data, size_t len);

/* Seal the final chunk. Returns 0, or -1 (bk_enc_error()). */
int bk_enc_finish(bk_enc *e);

/* Why the last call failed. Owned by e. */
const char *bk_enc_error(const bk_enc *e);

/* Wipe and free e; e may be NULL. */
void bk_enc_free(bk_enc *e);

/*
 * A new decoder trying the keys of keys (not copied: keep it alive)
 * writing plaintext to sink. The plaintext of a chunk is written once
 * that chunk authenticates; the stream as a whole is authentic only when
 * bk_dec_finish() returns 0: until then hold the output back (a temp
 * file) before acting on it. Returns NULL when out of memory.
 */
bk_dec *bk_dec_new(const bk_keyring *keys, bk_sink sink, void *arg);

/*
 * Decrypt len more bytes of the encrypted stream. Returns 0, or -1 with
 * bk_dec_error() saying what is wrong (not a backup, an unknown key id,
 * chunk N failed authentication...). After a failure every call fails.
 */
int bk_dec_write(bk_dec *d, const void *data, size_t len);

/* The stream has ended: check and decrypt the final chunk. As above. */
int bk_dec_finish(bk_dec *d);

/* Why the last call failed. Owned by d. */
const char *bk_dec_error(const bk_dec *d);

/* The id (16 hex digits) of the header's key, "" before the header. */
const char *bk_dec_key_id(const bk_dec *d);

/* Wipe and free d; d may be NULL. */
void bk_dec_free(bk_dec *d);

#endif
