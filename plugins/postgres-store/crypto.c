/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto.c - AES-256-GCM sealing of secret environment variables, and the
 * keyring that rotates their keys. See crypto.h for the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vibebox/common.h>
#include <vibebox/util.h>

#include "crypto.h"
#include "pg.h"

/* A key file is a few lines; anything bigger is not one. */
#define PGS_KEY_FILE_MAX (64 * 1024)

/* The associated data starts with this label (and its NUL), so that a blob
 * sealed for another purpose with the same key never opens here. */
static const char pgs_aad_label[] = "vibebox.envvar.v1";

struct pgs_key {
	unsigned char bytes[PGS_KEY_LEN];
	char id[PGS_KEY_ID_LEN];
};

struct pgs_keyring {
	size_t count;
	struct pgs_key keys[];
};

/* The key's id: the first 16 hex digits of SHA-256(key). */
static int key_set_id(struct pgs_key *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!EVP_Digest(key->bytes, sizeof(key->bytes), md, &md_len,
	                EVP_sha256(), NULL))
		return VBX_ERR;
	vbx_hex_encode(md, (PGS_KEY_ID_LEN - 1) / 2, key->id, PGS_KEY_ID_LEN);
	return VBX_OK;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Decode one line (already trimmed) into key. */
static int key_parse_line(const char *line, size_t len, size_t lineno,
                          struct pgs_key *key, char *err, size_t err_len)
{
	if (len != 2 * PGS_KEY_LEN) {
		snprintf(
		        err, err_len,
		        "line %zu: expected a key of %d hex digits (%d bytes), "
		        "got %zu characters; make one with `openssl rand -hex "
		        "32`",
		        lineno, 2 * PGS_KEY_LEN, PGS_KEY_LEN, len);
		return VBX_EINVAL;
	}
	size_t n;
	if (vbx_hex_decode(line, len, key->bytes, sizeof(key->bytes), &n) !=
	    VBX_OK) {
		size_t col = 0; /* the first byte that is no hex digit */
		while (vbx_hex_value((unsigned char)line[col]) >= 0)
			col++;
		snprintf(err, err_len,
		         "line %zu: column %zu is not a hex digit", lineno,
		         col + 1);
		return VBX_EINVAL;
	}
	if (key_set_id(key) != VBX_OK) {
		snprintf(err, err_len, "line %zu: SHA-256 failed", lineno);
		return VBX_ERR;
	}
	return VBX_OK;
}

/* How many lines text has, an upper bound of its keys. */
static size_t count_lines(const char *text, size_t len)
{
	size_t n = 1;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n;
}

static int keyring_fill(pgs_keyring *k, const char *text, size_t len, char *err,
                        size_t err_len)
{
	size_t lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t a = pos, b = end;

		lineno++;
		pos = end + 1;
		while (a < b && is_blank(text[a]))
			a++;
		while (b > a && is_blank(text[b - 1]))
			b--;
		if (a == b || text[a] == '#')
			continue;
		int rc = key_parse_line(text + a, b - a, lineno,
		                        &k->keys[k->count], err, err_len);
		if (rc != VBX_OK)
			return rc;
		k->count++;
	}
	if (k->count == 0) {
		snprintf(err, err_len,
		         "holds no key; put one key of 64 hex digits per line "
		         "(`openssl rand -hex 32`)");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

int pgs_keyring_parse(const char *text, size_t len, pgs_keyring **out,
                      char *err, size_t err_len)
{
	size_t max = count_lines(text, len);
	pgs_keyring *k;
	int rc;

	*out = NULL;
	k = calloc(1, sizeof(*k) + max * sizeof(k->keys[0]));
	if (!k) {
		snprintf(err, err_len, "out of memory");
		return VBX_ENOMEM;
	}
	rc = keyring_fill(k, text, len, err, err_len);
	if (rc != VBX_OK) {
		pgs_keyring_free(k);
		return rc;
	}
	*out = k;
	return VBX_OK;
}

/* Read a whole small file into a malloc'd buffer. */
static int read_small_file(const char *path, char **buf, size_t *len, char *err,
                           size_t err_len)
{
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return VBX_EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PGS_KEY_FILE_MAX) {
		snprintf(err, err_len,
		         "%s: not a regular file of at most %d "
		         "bytes",
		         path, PGS_KEY_FILE_MAX);
		close(fd);
		return VBX_EINVAL;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		snprintf(err, err_len, "out of memory");
		return VBX_ENOMEM;
	}
	*len = 0;
	while ((got = read(fd, *buf + *len, (size_t)st.st_size - *len)) > 0)
		*len += (size_t)got;
	if (got < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		close(fd);
		OPENSSL_cleanse(*buf, *len);
		free(*buf);
		return VBX_EINVAL;
	}
	close(fd);
	return VBX_OK;
}

int pgs_keyring_load(const char *path, pgs_keyring **out, char *err,
                     size_t err_len)
{
	char *text = NULL;
	size_t len = 0;
	char why[256];
	int rc;

	*out = NULL;
	rc = read_small_file(path, &text, &len, err, err_len);
	if (rc != VBX_OK)
		return rc;
	rc = pgs_keyring_parse(text, len, out, why, sizeof(why));
	if (rc != VBX_OK)
		snprintf(err, err_len, "%s: %s", path, why);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

void pgs_keyring_free(pgs_keyring *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k->keys, k->count * sizeof(k->keys[0]));
	free(k);
}

size_t pgs_keyring_count(const pgs_keyring *k)
{
	return k ? k->count : 0;
}

const char *pgs_keyring_current_id(const pgs_keyring *k)
{
	return k && k->count ? k->keys[0].id : "";
}

static const struct pgs_key *keyring_find(const pgs_keyring *k, const char *id)
{
	for (size_t i = 0; i < k->count; i++)
		if (strcmp(k->keys[i].id, id) == 0)
			return &k->keys[i];
	return NULL;
}

/*
 * Feed the associated data: label NUL env_id NUL var_name. Neither id nor
 * name can hold a NUL, so the encoding is unambiguous.
 */
static bool gcm_aad(EVP_CIPHER_CTX *ctx, bool encrypt, const char *env_id,
                    const char *var_name)
{
	const char *parts[] = {pgs_aad_label, env_id, var_name};
	const size_t n_parts = sizeof(parts) / sizeof(parts[0]);
	int n;

	for (size_t i = 0; i < n_parts; i++) {
		/* every part but the last with its NUL */
		size_t len = strlen(parts[i]) + (i + 1 < n_parts);

		if (len > INT_MAX)
			return false;
		if (encrypt ? !EVP_EncryptUpdate(ctx, NULL, &n,
		                                 (const void *)parts[i],
		                                 (int)len)
		            : !EVP_DecryptUpdate(ctx, NULL, &n,
		                                 (const void *)parts[i],
		                                 (int)len))
			return false;
	}
	return true;
}

static int seal_with(const struct pgs_key *key, const char *env_id,
                     const char *var_name, const char *plain, size_t len,
                     unsigned char *blob)
{
	unsigned char *nonce = blob;
	unsigned char *ct = blob + PGS_NONCE_LEN;
	EVP_CIPHER_CTX *ctx;
	int n = 0, fin = 0;
	bool ok;

	if (RAND_bytes(nonce, PGS_NONCE_LEN) != 1)
		return VBX_ERR;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return VBX_ENOMEM;
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes,
	                        nonce) &&
	     gcm_aad(ctx, true, env_id, var_name) &&
	     EVP_EncryptUpdate(ctx, ct, &n, (const void *)plain, (int)len) &&
	     EVP_EncryptFinal_ex(ctx, ct + n, &fin) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, PGS_TAG_LEN,
	                         ct + len);
	EVP_CIPHER_CTX_free(ctx);
	return ok && (size_t)n + (size_t)fin == len ? VBX_OK : VBX_ERR;
}

int pgs_secret_seal(const pgs_keyring *k, const char *env_id,
                    const char *var_name, const char *plain,
                    unsigned char **out, size_t *out_len,
                    char key_id[PGS_KEY_ID_LEN])
{
	size_t len;
	unsigned char *blob;
	int rc;

	if (!k || k->count == 0 || !env_id || !var_name || !plain || !out ||
	    !out_len || !key_id)
		return VBX_EINVAL;
	len = strlen(plain);
	if (len > INT_MAX - PGS_SEAL_OVERHEAD)
		return VBX_EINVAL;
	blob = malloc(len + PGS_SEAL_OVERHEAD);
	if (!blob)
		return VBX_ENOMEM;
	rc = seal_with(&k->keys[0], env_id, var_name, plain, len, blob);
	if (rc != VBX_OK) {
		OPENSSL_cleanse(blob, len + PGS_SEAL_OVERHEAD);
		free(blob);
		return rc;
	}
	memcpy(key_id, k->keys[0].id, PGS_KEY_ID_LEN);
	*out = blob;
	*out_len = len + PGS_SEAL_OVERHEAD;
	return VBX_OK;
}

/* Decrypt and authenticate; plain has room for len bytes. */
static int open_with(const struct pgs_key *key, const char *env_id,
                     const char *var_name, const unsigned char *blob,
                     size_t len, unsigned char *plain)
{
	const unsigned char *ct = blob + PGS_NONCE_LEN;
	unsigned char tag[PGS_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	int n = 0, fin = 0;
	bool ok, authentic;

	memcpy(tag, ct + len, PGS_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return VBX_ENOMEM;
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes,
	                        blob) &&
	     gcm_aad(ctx, false, env_id, var_name) &&
	     EVP_DecryptUpdate(ctx, plain, &n, ct, (int)len) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PGS_TAG_LEN, tag);
	/* A tag mismatch shows only here; it is not an OpenSSL failure. */
	authentic = ok && EVP_DecryptFinal_ex(ctx, plain + n, &fin) > 0;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return VBX_ERR;
	return authentic ? VBX_OK : VBX_EINVAL;
}

int pgs_secret_open(const pgs_keyring *k, const char *env_id,
                    const char *var_name, const unsigned char *blob,
                    size_t blob_len, const char *key_id, char **plain)
{
	const struct pgs_key *key;
	size_t len;
	unsigned char *buf;
	int rc;

	if (!k || !env_id || !var_name || !blob || !key_id || !plain)
		return VBX_EINVAL;
	*plain = NULL;
	if (blob_len < PGS_SEAL_OVERHEAD || blob_len > INT_MAX)
		return VBX_EINVAL;
	key = keyring_find(k, key_id);
	if (!key)
		return VBX_ENOTFOUND;
	len = blob_len - PGS_SEAL_OVERHEAD;
	buf = malloc(len + 1);
	if (!buf)
		return VBX_ENOMEM;
	rc = open_with(key, env_id, var_name, blob, len, buf);
	if (rc == VBX_OK && memchr(buf, '\0', len))
		rc = VBX_EINVAL;
	if (rc != VBX_OK) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*plain = (char *)buf;
	return VBX_OK;
}

int pgs_crypto_init(pgs *s)
{
	const char *text = s->cfg.secrets_key;
	pgs_keyring *k = NULL;
	char err[256];
	int rc;

	if (!text) {
		vbx_log_info(s->self,
		             "no secrets_key_file: secret environment "
		             "variables are refused until one is configured");
		return VBX_OK;
	}
	rc = pgs_keyring_parse(text, strlen(text), &k, err, sizeof(err));
	if (rc != VBX_OK) {
		vbx_log_error(s->self, "secrets_key_file: %s", err);
		return rc;
	}
	vbx_log_info(s->self, "secrets keyring: %zu key(s), sealing with %s",
	             k->count, k->keys[0].id);
	s->crypto = k;
	return VBX_OK;
}

void pgs_crypto_fini(pgs *s)
{
	pgs_keyring_free(s->crypto);
	s->crypto = NULL;
}
