/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto.h - encryption at rest of secret environment variables.
 *
 * A secret value is sealed with AES-256-GCM under the first key of a
 * keyring and stored as one blob:
 *
 *     12-byte random nonce || ciphertext || 16-byte tag
 *
 * next to the id of the key that sealed it (the first 16 hex digits of the
 * SHA-256 of the key), so that keys can rotate: put a new key on the first
 * line of the key file and keep the old ones below it; new values are
 * sealed with the new key, old values still open with theirs.
 *
 * The associated data binds a value to its place: the environment id and
 * the variable name. A ciphertext copied to another variable or another
 * environment does not open.
 *
 * The key file (secrets_key_file) holds one key per line, 64 hex digits
 * (32 bytes) each. Blank lines and lines starting with '#' are skipped;
 * spaces and a CR at the ends of a line are ignored.
 */
#ifndef PGS_CRYPTO_H
#define PGS_CRYPTO_H

#include <stddef.h>

#define PGS_KEY_LEN 32
#define PGS_KEY_ID_LEN 17 /* 16 hex digits and a NUL */
#define PGS_NONCE_LEN 12
#define PGS_TAG_LEN 16
#define PGS_SEAL_OVERHEAD (PGS_NONCE_LEN + PGS_TAG_LEN)

typedef struct pgs_keyring pgs_keyring;

/*
 * Parse a keyring from text (len bytes, need not be NUL-terminated).
 * On success *out is a new keyring the caller frees with
 * pgs_keyring_free(). On failure returns VBX_EINVAL (no key, a line that
 * is not 64 hex digits: err says which line and why) or VBX_ENOMEM.
 * The text is not changed; the caller wipes it.
 */
int pgs_keyring_parse(const char *text, size_t len, pgs_keyring **out,
                      char *err, size_t err_len);

/*
 * Read and parse the key file at path. Returns as pgs_keyring_parse(),
 * and VBX_EINVAL when the file cannot be read (err names the path and
 * the reason).
 */
int pgs_keyring_load(const char *path, pgs_keyring **out, char *err,
                     size_t err_len);

/* Wipe and free a keyring; k may be NULL. */
void pgs_keyring_free(pgs_keyring *k);

/* How many keys k holds. */
size_t pgs_keyring_count(const pgs_keyring *k);

/* The id of the sealing key (the first). Owned by k. */
const char *pgs_keyring_current_id(const pgs_keyring *k);

/*
 * Seal plain (a NUL-terminated string) for variable var_name of
 * environment env_id. *out is a malloc'd blob of *out_len bytes
 * (strlen(plain) + PGS_SEAL_OVERHEAD) the caller frees; key_id receives
 * the sealing key's id. Returns VBX_OK, VBX_EINVAL (a NULL argument, an
 * empty keyring), VBX_ENOMEM, or VBX_ERR (OpenSSL failed).
 */
int pgs_secret_seal(const pgs_keyring *k, const char *env_id,
                    const char *var_name, const char *plain,
                    unsigned char **out, size_t *out_len,
                    char key_id[PGS_KEY_ID_LEN]);

/*
 * Open a blob sealed by pgs_secret_seal() for the same env_id and
 * var_name with the key named key_id. *plain is a malloc'd NUL-terminated
 * string the caller wipes and frees. Returns VBX_OK; VBX_ENOTFOUND (no
 * key with that id in the keyring: it was rotated out); VBX_EINVAL (the
 * blob is too short, was tampered with, belongs to another variable, or
 * holds a NUL); VBX_ENOMEM; VBX_ERR (OpenSSL failed).
 */
int pgs_secret_open(const pgs_keyring *k, const char *env_id,
                    const char *var_name, const unsigned char *blob,
                    size_t blob_len, const char *key_id, char **plain);

/*
 * For the plugin: parse s->cfg.secrets_key (the text of secrets_key or
 * secrets_key_file) into the keyring kept in s->crypto. Without a
 * configured key, s->crypto stays NULL and secret variables are refused.
 * Call from init; logs what is wrong with the key file and returns
 * VBX_EINVAL, or VBX_OK.
 */
struct pgs;
int pgs_crypto_init(struct pgs *s);
/* Wipe and free s->crypto; safe when it is NULL. Call from fini. */
void pgs_crypto_fini(struct pgs *s);

#endif
