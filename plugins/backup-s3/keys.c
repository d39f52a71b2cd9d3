/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keys.c - the backup key file: one AES-256 key of 64 hex digits per line,
 * the first encrypts, all decrypt (see bkfmt.h).
 */
#include "bkfmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vibebox/util.h>

#define KEYFILE_MAX (64 * 1024)

struct bk_keyring {
	size_t count;
	bk_key keys[];
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The key's id: the first 8 bytes of SHA-256(key). */
static int key_set_id(bk_key *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!EVP_Digest(key->bytes, sizeof(key->bytes), md, &md_len,
	                EVP_sha256(), NULL))
		return -1;
	memcpy(key->id, md, BK_KEY_ID_BYTES);
	vbx_hex_encode(md, BK_KEY_ID_BYTES, key->id_hex, sizeof(key->id_hex));
	return 0;
}

static int key_parse_line(const char *line, size_t len, size_t lineno,
                          bk_key *key, char *err, size_t err_len)
{
	size_t n;

	if (len != 2 * BK_KEY_LEN) {
		snprintf(
		        err, err_len,
		        "line %zu: expected a key of 64 hex digits (32 bytes), "
		        "got %zu characters; make one with `openssl rand -hex "
		        "32`",
		        lineno, len);
		return -1;
	}
	if (vbx_hex_decode(line, len, key->bytes, sizeof(key->bytes), &n) !=
	            VBX_OK ||
	    n != BK_KEY_LEN) {
		size_t col = 0;
		while (col < len &&
		       vbx_hex_value((unsigned char)line[col]) >= 0)
			col++;
		snprintf(err, err_len,
		         "line %zu: column %zu is not a hex digit", lineno,
		         col + 1);
		return -1;
	}
	if (key_set_id(key) != 0) {
		snprintf(err, err_len, "line %zu: SHA-256 failed", lineno);
		return -1;
	}
	return 0;
}

static int keyring_fill(bk_keyring *k, const char *text, size_t len, char *err,
                        size_t err_len)
{
	size_t lineno = 0, pos = 0;

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
		if (key_parse_line(text + a, b - a, lineno, &k->keys[k->count],
		                   err, err_len) != 0)
			return -1;
		k->count++;
	}
	if (k->count == 0) {
		snprintf(err, err_len,
		         "holds no key; put one key of 64 hex digits per line "
		         "(`openssl rand -hex 32`)");
		return -1;
	}
	return 0;
}

int bk_keyring_parse(const char *text, size_t len, bk_keyring **out, char *err,
                     size_t err_len)
{
	size_t max = 1;
	bk_keyring *k;

	*out = NULL;
	for (size_t i = 0; i < len; i++)
		max += text[i] == '\n';
	k = calloc(1, sizeof(*k) + max * sizeof(bk_key));
	if (!k) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (keyring_fill(k, text, len, err, err_len) != 0) {
		OPENSSL_cleanse(k->keys, max * sizeof(bk_key));
		free(k);
		return -1;
	}
	*out = k;
	return 0;
}

int bk_keyring_load(const char *path, bk_keyring **out, char *err,
                    size_t err_len)
{
	char buf[KEYFILE_MAX + 1];
	char why[BK_ERR_MAX];
	FILE *f = fopen(path, "re");
	size_t n;
	int rc;

	*out = NULL;
	if (!f) {
		snprintf(err, err_len, "key file %s: cannot open: %s", path,
		         strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f);
	fclose(f);
	if (rc || n > KEYFILE_MAX) {
		snprintf(err, err_len, "key file %s: %s", path,
		         rc ? "read failed" : "larger than 64 KiB");
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	rc = bk_keyring_parse(buf, n, out, why, sizeof(why));
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc != 0)
		snprintf(err, err_len, "key file %s: %s", path, why);
	return rc;
}

void bk_keyring_free(bk_keyring *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k->keys, k->count * sizeof(bk_key));
	free(k);
}

const bk_key *bk_keyring_current(const bk_keyring *k)
{
	return k && k->count ? &k->keys[0] : NULL;
}

const bk_key *bk_keyring_find(const bk_keyring *k,
                              const unsigned char id[BK_KEY_ID_BYTES])
{
	for (size_t i = 0; k && i < k->count; i++)
		if (memcmp(k->keys[i].id, id, BK_KEY_ID_BYTES) == 0)
			return &k->keys[i];
	return NULL;
}
