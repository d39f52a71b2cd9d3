/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwtcache.c - the access tokens each thread verified lately.
 *
 * A client sends the same access token with every request until it
 * expires, and verifying it (two base64url segments decoded and parsed as
 * JSON, an HMAC) was a seventh of the instructions of an authenticated
 * read. Each thread keeps the tokens it accepted in a few dozen slots of
 * its own (no lock), the slot chosen by a hash of the signature,
 * whose end is random for every token we issued. A later call counts a token
 * as verified only when all of these hold:
 *
 *   - the ring is the one that verified it (its serial, unique in the
 *     process: a reload's new ring, or a ring freed and another parsed
 *     at the same address, never matches);
 *   - its bytes are the remembered token's, all of them, compared in
 *     constant time (the slot's hash is no proof);
 *   - it is in time at now again (auth_jwt_in_time), as verify checks.
 *
 * A token rejected is not remembered, so forged tokens cost a full
 * verification each as before, and only tokens that verified can take a
 * slot. Revocation and the user's state are checked after this, on every
 * request (tokens.c), as before.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"

#define SLOTS 64       /* per thread */
#define TOKEN_MAX 1024 /* longer tokens are verified every time */

typedef struct slot {
	uint64_t serial; /* 0: empty (rings start at 1) */
	size_t len;
	auth_claims claims;
	char token[TOKEN_MAX];
} slot;

/* About 90 KiB per thread that authenticates; freed with the thread. */
static __thread slot slots[SLOTS];

/* FNV-1a of the last 16 bytes: of a JWT, the end of its signature. */
static size_t slot_of(const char *token, size_t len)
{
	const char *end = token + len;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = len > 16 ? end - 16 : token; p < end; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	return (size_t)(h % SLOTS);
}

static bool lookup(const slot *s, const auth_keyring *kr, const char *token,
                   size_t len, int64_t now)
{
	return kr->serial && s->serial == kr->serial && s->len == len &&
	       CRYPTO_memcmp(s->token, token, len) == 0 &&
	       auth_jwt_in_time(&s->claims, now);
}

int auth_jwt_verify_cached(const auth_keyring *kr, const char *token,
                           int64_t now, auth_claims *out)
{
	size_t len = strlen(token);
	if (len >= TOKEN_MAX || now == AUTH_JWT_ANY_TIME)
		return auth_jwt_verify(kr, token, now, out);
	slot *s = &slots[slot_of(token, len)];
	if (lookup(s, kr, token, len, now)) {
		*out = s->claims;
		return VBX_OK;
	}
	int rc = auth_jwt_verify(kr, token, now, out);
	if (rc == VBX_OK) {
		s->serial = kr->serial;
		s->len = len;
		s->claims = *out;
		memcpy(s->token, token, len);
	}
	return rc;
}
