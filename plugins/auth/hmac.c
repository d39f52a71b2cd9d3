/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hmac.c - HMAC-SHA256 for tokens and tickets, with each key's inner and
 * outer hash states computed once.
 *
 * OpenSSL 3's one-shot HMAC() looks the algorithm up by name and keys it
 * on every call: on a token check that was most of the plugin's own CPU
 * time, and the lookup takes a lock the workers contend on. A prepared
 * key instead copies two SHA-256 states that already absorbed the key
 * (RFC 2104: H(K ^ opad || H(K ^ ipad || msg))).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"

#define BLOCK 64 /* SHA-256's block size */

/* A digest state that has absorbed the block-sized key k XOR pad. */
static EVP_MD_CTX *keyed_state(EVP_MD *md, const unsigned char k[BLOCK],
                               unsigned char pad)
{
	unsigned char block[BLOCK];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	for (size_t i = 0; i < BLOCK; i++)
		block[i] = k[i] ^ pad;
	if (c && (!EVP_DigestInit_ex(c, md, NULL) ||
	          !EVP_DigestUpdate(c, block, BLOCK))) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	OPENSSL_cleanse(block, sizeof(block));
	return c;
}

static int prepare_key(EVP_MD *md, auth_jwt_key *key)
{
	unsigned char k[BLOCK] = {0};
	unsigned int n = 0;

	/* A key longer than a block is replaced by its hash. */
	if (key->len > BLOCK) {
		if (!EVP_Digest(key->secret, key->len, k, &n, md, NULL))
			return VBX_ERR;
	} else {
		memcpy(k, key->secret, key->len);
	}
	key->inner = keyed_state(md, k, 0x36);
	key->outer = keyed_state(md, k, 0x5c);
	OPENSSL_cleanse(k, sizeof(k));
	return key->inner && key->outer ? VBX_OK : VBX_ENOMEM;
}

int auth_keyring_prepare(auth_keyring *kr)
{
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	int rc = md ? VBX_OK : VBX_ERR;

	for (size_t i = 0; i < kr->count && rc == VBX_OK; i++)
		rc = prepare_key(md, &kr->keys[i]);
	EVP_MD_free(md); /* the states hold their own reference */
	if (rc != VBX_OK)
		auth_keyring_unprepare(kr);
	return rc;
}

void auth_keyring_unprepare(auth_keyring *kr)
{
	for (size_t i = 0; i < kr->count; i++) {
		EVP_MD_CTX_free(kr->keys[i].inner);
		EVP_MD_CTX_free(kr->keys[i].outer);
		kr->keys[i].inner = kr->keys[i].outer = NULL;
	}
}

/* Continue from a prepared state: absorb msg, write the digest. */
static bool finish_from(EVP_MD_CTX *c, const EVP_MD_CTX *state, const void *msg,
                        size_t len, unsigned char out[AUTH_HMAC_LEN])
{
	unsigned int n = 0;
	return EVP_MD_CTX_copy_ex(c, state) && EVP_DigestUpdate(c, msg, len) &&
	       EVP_DigestFinal_ex(c, out, &n) && n == AUTH_HMAC_LEN;
}

bool auth_hmac_sha256(const auth_jwt_key *k, const void *msg, size_t len,
                      unsigned char out[AUTH_HMAC_LEN])
{
	if (!k->inner || !k->outer) {
		unsigned int n = 0;
		return HMAC(EVP_sha256(), k->secret, (int)k->len, msg, len, out,
		            &n) &&
		       n == AUTH_HMAC_LEN;
	}
	unsigned char inner[AUTH_HMAC_LEN];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c && finish_from(c, k->inner, msg, len, inner) &&
	          finish_from(c, k->outer, inner, sizeof(inner), out);
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}
