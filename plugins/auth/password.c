/* SPDX-License-Identifier: Apache-2.0 */
/*
 * password.c - Argon2id password hashes (RFC 9106) in the PHC string
 * format, so that each hash carries its own parameters and old hashes keep
 * verifying after the configured parameters change.
 */
#include <string.h>

#include <argon2.h>
#include <openssl/rand.h>

#include "auth.h"

#define SALT_LEN 16
#define HASH_LEN 32

int auth_password_hash(const auth_argon2 *a, const char *pw, char *out)
{
	unsigned char salt[SALT_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return VBX_ERR;
	int rc = argon2id_hash_encoded(a->t, a->m_kib, a->p, pw, strlen(pw),
	                               salt, sizeof(salt), HASH_LEN, out,
	                               AUTH_HASH_MAX);
	return rc == ARGON2_OK ? VBX_OK : VBX_ERR;
}

int auth_password_verify(const char *encoded, const char *pw)
{
	/* argon2id_verify compares in constant time. */
	if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0)
		return VBX_EUNAUTH;
	int rc = argon2id_verify(encoded, pw, strlen(pw));
	return rc == ARGON2_OK ? VBX_OK : VBX_EUNAUTH;
}
