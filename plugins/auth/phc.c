/* SPDX-License-Identifier: Apache-2.0 */
/*
 * phc.c - the PHC string form of an Argon2id hash,
 * "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (salt and hash in
 * standard base64 without padding), written and read here rather than by
 * libargon2's argon2id_hash_encoded and argon2id_verify: those allocate
 * the work area with malloc, and password.c must hand it its own
 * allocator (see there).
 *
 * The reader is strict (the form libargon2 writes, decimal numbers without
 * leading zeros, canonical base64) and bounds every number, because a hash
 * read from the store decides how much memory a login allocates.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"

#define PREFIX "$argon2id$"

/* A decimal number of at most 10 digits in [min, max], no leading zero,
 * at *s, followed by `end`; advances *s past `end`. */
static bool number(const char **s, char end, uint32_t min, uint32_t max,
                   uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	int n = 0;

	while (*p >= '0' && *p <= '9' && n < 11) {
		v = v * 10 + (uint64_t)(*p++ - '0');
		n++;
	}
	if (n == 0 || n > 10 || (n > 1 && **s == '0') || *p != end || v < min ||
	    v > max)
		return false;
	*out = (uint32_t)v;
	*s = p + 1;
	return true;
}

/* "key=" at *s; advances past it. */
static bool key(const char **s, const char *k)
{
	size_t n = strlen(k);
	if (strncmp(*s, k, n) != 0)
		return false;
	*s += n;
	return true;
}

/* The base64 of [*s, next '$' or the end) into out (min..cap bytes). */
static bool b64_part(const char **s, char end, uint8_t *out, size_t min,
                     size_t cap, size_t *len)
{
	const char *p = *s, *stop = strchr(p, end);
	if (!stop)
		return false;
	long n = auth_b64_decode(p, (size_t)(stop - p), true, out, cap);
	/* auth_b64_decode strips '=' padding, which this form never has. */
	if (n < (long)min || memchr(p, '=', (size_t)(stop - p)))
		return false;
	*len = (size_t)n;
	*s = *stop ? stop + 1 : stop;
	return true;
}

int auth_phc_decode(const char *s, auth_phc *out)
{
	auth_phc h = {0};

	memset(out, 0, sizeof(*out));
	if (!s || !key(&s, PREFIX) || !key(&s, "v=") ||
	    !number(&s, '$', AUTH_PHC_VERSION, AUTH_PHC_VERSION, &h.version) ||
	    !key(&s, "m=") ||
	    !number(&s, ',', AUTH_PHC_M_MIN, AUTH_PHC_M_MAX, &h.m_kib) ||
	    !key(&s, "t=") || !number(&s, ',', 1, AUTH_PHC_T_MAX, &h.t) ||
	    !key(&s, "p=") || !number(&s, '$', 1, AUTH_PHC_P_MAX, &h.p) ||
	    !b64_part(&s, '$', h.salt, AUTH_PHC_SALT_MIN, sizeof(h.salt),
	              &h.salt_len) ||
	    !b64_part(&s, '\0', h.hash, AUTH_PHC_HASH_MIN, sizeof(h.hash),
	              &h.hash_len) ||
	    *s || h.m_kib < 8 * h.p)
		return VBX_EINVAL;
	*out = h;
	return VBX_OK;
}

int auth_phc_encode(const auth_phc *h, char *out, size_t cap)
{
	char salt[AUTH_B64_LEN(AUTH_PHC_SALT_MAX)];
	char hash[AUTH_B64_LEN(AUTH_PHC_HASH_MAX)];

	if (h->salt_len > AUTH_PHC_SALT_MAX || h->hash_len > AUTH_PHC_HASH_MAX)
		return VBX_EINVAL;
	auth_b64_encode(h->salt, h->salt_len, true, salt);
	auth_b64_encode(h->hash, h->hash_len, true, hash);
	int n = snprintf(out, cap, PREFIX "v=%u$m=%u,t=%u,p=%u$%s$%s",
	                 (unsigned)h->version, (unsigned)h->m_kib,
	                 (unsigned)h->t, (unsigned)h->p, salt, hash);
	return n > 0 && (size_t)n < cap ? VBX_OK : VBX_EINVAL;
}
