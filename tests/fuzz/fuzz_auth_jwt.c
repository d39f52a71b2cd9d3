/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_auth_jwt.c - what the auth plugin decodes from outside input, fed
 * arbitrary bytes (cut at a NUL byte, as the strings arrive):
 *
 *   - the input as a bearer token to auth_jwt_verify with a fixed ring of
 *     two keys, then its "header.payload" part signed with each key so
 *     that the header and claims parsers behind the HMAC are reached too.
 *     An accepted token must end in, character for character, the
 *     base64url HMAC-SHA256 of its header.payload under one of the keys
 *     (recomputed here with the raw secrets); have a header (decoded here
 *     with OpenSSL) that says alg HS256, names that key and has no
 *     "crit"; and hold claims valid at NOW: a UUID sub, iat <= NOW +
 *     leeway, iat < exp, NOW < exp. At most one of the two re-signed
 *     tokens is accepted (a header names one key). The accepted claims,
 *     signed again, verify to the same claims. auth_jwt_verify_cached
 *     gives the same answer and claims, twice (the second may be
 *     remembered), and refuses a remembered token at its exp;
 *   - the input as a jwt_secret key file to auth_keyring_parse: a ring it
 *     accepts has 1..16 keys with distinct ids of [A-Za-z0-9._-]{1,32} and
 *     secrets of 32..256 bytes, and written back as "kid:hex" lines it
 *     parses to the same ring; a refusal says why;
 *   - the input to auth_b64_decode in both alphabets: what it accepts is
 *     canonical (encoding the bytes gives the input back) and it never
 *     writes past the room it is given;
 *   - the input as an API key (auth_token_wellformed);
 *   - the input as a WebSocket ticket to auth_ticket_verify, then its
 *     first 37 bytes as a ticket body MAC'd here (with OpenSSL and the raw
 *     secrets) under each key, so that the checks behind the MAC are
 *     reached. An accepted ticket is "vbt_" and 71 base64url characters
 *     whose 16-byte MAC is one of the keys', unexpired at NOW, with a
 *     known non-empty scope set; its fields are its bytes; encoded again
 *     it verifies to the same fields; any one flipped bit is refused. A
 *     re-MAC'd body is accepted exactly when its expiry and scopes byte
 *     are good.
 *
 * Links the auth plugin's sources (jwt.c needs plugin.c, which pulls in
 * the rest) with libcrypto, libargon2 and cJSON. Nothing
 * here calls the host table.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "auth.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#define NOW INT64_C(1700000000) /* 2023-11-14, Unix seconds */
#define LEEWAY 60               /* as jwt.c */
#define SIG_B64 AUTH_B64_LEN(32)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ring's secrets, kept here raw to check the parser and re-sign. */
static const unsigned char k1_raw[32] = {
        0x03, 0x0a, 0x11, 0x18, 0x1f, 0x26, 0x2d, 0x34, 0x3b, 0x42, 0x49,
        0x50, 0x57, 0x5e, 0x65, 0x6c, 0x73, 0x7a, 0x81, 0x88, 0x8f, 0x96,
        0x9d, 0xa4, 0xab, 0xb2, 0xb9, 0xc0, 0xc7, 0xce, 0xd5, 0xdc};
static unsigned char k2_raw[40]; /* (i * 13 + 101) & 255 */

static const char ring_text[] =
        "# fuzz ring: k1 in hex signs, k2 in base64 verifies\n"
        "k1:030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dc\n"
        "\r\n"
        "  k2:ZXJ/jJmms8DN2uf0AQ4bKDVCT1xpdoOQnaq3xNHe6/gFEh8sOUZTYA==  \r\n";

static auth_keyring ring;

static void ring_init(void)
{
	static bool done;
	char err[256] = "";

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < sizeof(k2_raw); i++)
		k2_raw[i] = (unsigned char)((i * 13 + 101) & 255);
	CHECK(auth_keyring_parse(ring_text, &ring, err, sizeof(err)) == VBX_OK);
	CHECK(ring.count == 2);
	CHECK(strcmp(ring.keys[0].kid, "k1") == 0);
	CHECK(ring.keys[0].len == sizeof(k1_raw));
	CHECK(memcmp(ring.keys[0].secret, k1_raw, sizeof(k1_raw)) == 0);
	CHECK(strcmp(ring.keys[1].kid, "k2") == 0);
	CHECK(ring.keys[1].len == sizeof(k2_raw));
	CHECK(memcmp(ring.keys[1].secret, k2_raw, sizeof(k2_raw)) == 0);
}

/* base64url(HMAC-SHA256(key, msg[0..len))) into out (SIG_B64 bytes). */
static void sign_b64(const unsigned char *key, size_t key_len, const char *msg,
                     size_t len, char *out)
{
	unsigned char sig[EVP_MAX_MD_SIZE];
	unsigned int sig_len = 0;

	CHECK(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
	           len, sig, &sig_len));
	CHECK(sig_len == 32);
	auth_b64url_encode(sig, sig_len, out);
}

static bool uuid_shape(const char *s)
{
	static const char hex[] = "0123456789abcdefABCDEF";

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr(hex, s[i]))
			return false;
	}
	return true;
}

static bool claims_equal(const auth_claims *a, const auth_claims *b)
{
	return strcmp(a->sub, b->sub) == 0 && strcmp(a->email, b->email) == 0 &&
	       a->adm == b->adm && a->iat == b->iat && a->exp == b->exp;
}

/* Which key signed tok: 1 or 2, 0 for neither. */
static int signer(const char *tok)
{
	const char *d1 = strchr(tok, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	char want[SIG_B64];

	if (!d2 || strchr(d2 + 1, '.'))
		return 0;
	sign_b64(k1_raw, sizeof(k1_raw), tok, (size_t)(d2 - tok), want);
	if (strcmp(want, d2 + 1) == 0)
		return 1;
	sign_b64(k2_raw, sizeof(k2_raw), tok, (size_t)(d2 - tok), want);
	if (strcmp(want, d2 + 1) == 0)
		return 2;
	return 0;
}

/* The header of tok, decoded with OpenSSL's base64 (not the plugin's). */
static cJSON *header_of(const char *tok)
{
	size_t n = strcspn(tok, "."), pad = (4 - n % 4) % 4;
	char *b64 = malloc(n + pad + 1);
	unsigned char *raw = malloc(n + pad + 1);

	CHECK(b64 && raw);
	for (size_t i = 0; i < n; i++)
		b64[i] = tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
	memset(b64 + n, '=', pad);
	/* Counts the padding as zero bytes. */
	int len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)(n + pad));
	CHECK(len >= (int)pad);
	cJSON *h = cJSON_ParseWithLength((char *)raw, (size_t)len - pad);
	free(b64);
	free(raw);
	return h;
}

/* An accepted header says HS256, names the key that signed, and has no
 * "crit". */
static void check_header(const char *tok, int key)
{
	cJSON *h = header_of(tok);
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(h, "kid");

	CHECK(cJSON_IsObject(h));
	CHECK(cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0);
	CHECK(cJSON_IsString(kid) &&
	      strcmp(kid->valuestring, key == 1 ? "k1" : "k2") == 0);
	CHECK(!cJSON_GetObjectItemCaseSensitive(h, "crit"));
	cJSON_Delete(h);
}

/* auth_jwt_verify_cached answers as auth_jwt_verify did (rc, and c when
 * accepted), the first time and again (maybe from the cache), and at a
 * time past exp a remembered token is refused. */
static void check_cached(const char *tok, int rc, const auth_claims *c)
{
	for (int i = 0; i < 2; i++) {
		auth_claims k;
		CHECK(auth_jwt_verify_cached(&ring, tok, NOW, &k) == rc);
		if (rc == VBX_OK)
			CHECK(claims_equal(c, &k));
	}
	auth_claims late;
	if (rc == VBX_OK)
		CHECK(auth_jwt_verify_cached(&ring, tok, c->exp, &late) ==
		      VBX_EUNAUTH);
}

/* Verify tok and check what an answer promises; returns the answer. */
static int verify(const char *tok)
{
	auth_claims c, again;
	char resigned[AUTH_JWT_MAX];
	int rc = auth_jwt_verify(&ring, tok, NOW, &c);

	CHECK(rc == VBX_OK || rc == VBX_DECLINED || rc == VBX_EUNAUTH);
	check_cached(tok, rc, &c);
	if (rc != VBX_OK)
		return rc;
	int key = signer(tok);
	CHECK(key != 0);
	check_header(tok, key);
	CHECK(uuid_shape(c.sub));
	CHECK(NOW < c.exp);
	CHECK(c.iat <= NOW + LEEWAY);
	CHECK(c.iat < c.exp);
	CHECK(strlen(c.email) < sizeof(c.email));
	/* Too long an email may not fit a token we issue; else it must. */
	if (auth_jwt_sign(&ring, &c, resigned) == VBX_OK) {
		CHECK(signer(resigned) == 1);
		CHECK(auth_jwt_verify(&ring, resigned, NOW, &again) == VBX_OK);
		CHECK(claims_equal(&c, &again));
	}
	return rc;
}

/* tok's header.payload (up to its second dot) signed with key into a
 * malloc'd token. */
static char *signed_with(const char *tok, const unsigned char *key,
                         size_t key_len)
{
	const char *d1 = strchr(tok, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	size_t n = d2 ? (size_t)(d2 - tok) : strlen(tok);
	char *out = malloc(n + 1 + SIG_B64);

	CHECK(out);
	memcpy(out, tok, n);
	out[n] = '.';
	sign_b64(key, key_len, tok, n, out + n + 1);
	return out;
}

static void fuzz_token(const char *s)
{
	char *t1 = signed_with(s, k1_raw, sizeof(k1_raw));
	char *t2 = signed_with(s, k2_raw, sizeof(k2_raw));

	verify(s);
	int rc1 = verify(t1), rc2 = verify(t2);
	CHECK(rc1 != VBX_OK || rc2 != VBX_OK);
	free(t1);
	free(t2);
}

static bool kid_ok(const char *kid)
{
	size_t n = strlen(kid);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
		            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		            kid[i]))
			return false;
	return true;
}

/* kr written as "kid:hex" lines, malloc'd. */
static char *ring_as_text(const auth_keyring *kr)
{
	size_t cap = kr->count * (AUTH_KID_MAX + 2 + 2 * AUTH_KEY_MAX) + 1;
	char *text = malloc(cap), *p = text;

	CHECK(text);
	for (size_t i = 0; i < kr->count; i++) {
		p += sprintf(p, "%s:", kr->keys[i].kid);
		for (size_t j = 0; j < kr->keys[i].len; j++)
			p += sprintf(p, "%02x", kr->keys[i].secret[j]);
		*p++ = '\n';
	}
	*p = '\0';
	return text;
}

static void fuzz_key_file(const char *s)
{
	auth_keyring kr, back;
	char err[256] = "";
	int rc = auth_keyring_parse(s, &kr, err, sizeof(err));

	CHECK(rc == VBX_OK || rc == VBX_EINVAL);
	if (rc != VBX_OK) {
		CHECK(err[0] != '\0');
		auth_keyring_wipe(&kr);
		return;
	}
	CHECK(kr.count >= 1 && kr.count <= AUTH_KEYS_MAX);
	for (size_t i = 0; i < kr.count; i++) {
		CHECK(kid_ok(kr.keys[i].kid));
		CHECK(kr.keys[i].len >= AUTH_KEY_MIN &&
		      kr.keys[i].len <= AUTH_KEY_MAX);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(kr.keys[i].kid, kr.keys[j].kid) != 0);
	}
	char *text = ring_as_text(&kr);
	CHECK(auth_keyring_parse(text, &back, err, sizeof(err)) == VBX_OK);
	CHECK(back.count == kr.count);
	for (size_t i = 0; i < kr.count; i++) {
		CHECK(strcmp(back.keys[i].kid, kr.keys[i].kid) == 0);
		CHECK(back.keys[i].len == kr.keys[i].len);
		CHECK(memcmp(back.keys[i].secret, kr.keys[i].secret,
		             kr.keys[i].len) == 0);
	}
	free(text);
	auth_keyring_wipe(&kr);
	auth_keyring_wipe(&back);
}

/* Decode in one alphabet into exactly cap bytes of heap (ASan sees any
 * write past it); what is accepted encodes back to the input. */
static void fuzz_b64_one(const char *in, size_t len, bool std, size_t cap)
{
	unsigned char *out = malloc(cap ? cap : 1);

	CHECK(out);
	long n = auth_b64_decode(in, len, std, out, cap);
	CHECK(n >= -1 && n <= (long)cap);
	if (n >= 0) {
		size_t body = len;
		char *enc = malloc(AUTH_B64_LEN((size_t)n));

		CHECK(enc);
		while (std && body > 0 && in[body - 1] == '=')
			body--;
		CHECK(auth_b64url_encode(out, (size_t)n, enc) == body);
		for (size_t i = 0; i < body; i++) {
			char c = in[i];
			if (std)
				c = c == '+' ? '-' : c == '/' ? '_' : c;
			CHECK(enc[i] == c);
		}
		free(enc);
	}
	free(out);
}

static void fuzz_b64(const uint8_t *data, size_t size)
{
	/* The raw bytes, not NUL-terminated: a read past them is a bug. */
	char *in = malloc(size ? size : 1);

	CHECK(in);
	memcpy(in, data, size);
	for (int std = 0; std < 2; std++) {
		fuzz_b64_one(in, size, std, size);
		/* Too little room: refused, never overrun. */
		fuzz_b64_one(in, size, std, size / 2);
	}
	free(in);
}

static void fuzz_api_key(const char *s)
{
	if (auth_token_wellformed(AUTH_KEY_PREFIX, s)) {
		CHECK(strlen(s) == AUTH_TOKEN_LEN);
		CHECK(strncmp(s, AUTH_KEY_PREFIX, 4) == 0);
	}
}

/* ---- WebSocket tickets ---- */

/* The truncated ticket MAC of raw's body under key into raw's tail. */
static void ticket_mac(const unsigned char *key, size_t key_len,
                       unsigned char raw[AUTH_TICKET_RAW])
{
	unsigned char msg[sizeof(AUTH_TICKET_DOMAIN) + AUTH_TICKET_BODY];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	memcpy(msg, AUTH_TICKET_DOMAIN, sizeof(AUTH_TICKET_DOMAIN));
	memcpy(msg + sizeof(AUTH_TICKET_DOMAIN), raw, AUTH_TICKET_BODY);
	CHECK(HMAC(EVP_sha256(), key, (int)key_len, msg, sizeof(msg), md,
	           &len));
	CHECK(len == 32);
	memcpy(raw + AUTH_TICKET_BODY, md, AUTH_TICKET_MAC);
}

static void ticket_string(const unsigned char raw[AUTH_TICKET_RAW],
                          char out[AUTH_TICKET_LEN + 1])
{
	memcpy(out, AUTH_TICKET_PREFIX, 4);
	CHECK(auth_b64url_encode(raw, AUTH_TICKET_RAW, out + 4) ==
	      AUTH_TICKET_LEN - 4);
}

/* Which key MAC'd raw: 1 or 2, 0 for neither. */
static int ticket_signer(const unsigned char raw[AUTH_TICKET_RAW])
{
	unsigned char want[AUTH_TICKET_RAW];

	memcpy(want, raw, AUTH_TICKET_BODY);
	ticket_mac(k1_raw, sizeof(k1_raw), want);
	if (memcmp(want, raw, AUTH_TICKET_RAW) == 0)
		return 1;
	ticket_mac(k2_raw, sizeof(k2_raw), want);
	if (memcmp(want, raw, AUTH_TICKET_RAW) == 0)
		return 2;
	return 0;
}

static bool ticket_equal(const auth_ticket *a, const auth_ticket *b)
{
	return strcmp(a->user_id, b->user_id) == 0 && a->exp == b->exp &&
	       a->scopes == b->scopes && a->apikey == b->apikey &&
	       strcmp(a->cred_id, b->cred_id) == 0;
}

/* The UUID text of 16 bytes. */
static void uuid_text(const unsigned char *b, char out[VBX_ID_LEN])
{
	snprintf(out, VBX_ID_LEN,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* What an accepted ticket s (its fields t) promises. */
static void ticket_accepted(const char *s, const auth_ticket *t, size_t bit)
{
	static const unsigned char zeros[16];
	unsigned char raw[AUTH_TICKET_RAW];
	char uid[VBX_ID_LEN], cred[VBX_ID_LEN], again_s[AUTH_TICKET_LEN + 1];
	auth_ticket again;

	CHECK(strlen(s) == AUTH_TICKET_LEN);
	CHECK(strncmp(s, AUTH_TICKET_PREFIX, 4) == 0);
	CHECK(auth_b64_decode(s + 4, AUTH_TICKET_LEN - 4, false, raw,
	                      sizeof(raw)) == AUTH_TICKET_RAW);
	CHECK(ticket_signer(raw) != 0);
	uuid_text(raw, uid);
	CHECK(uuid_shape(t->user_id) && strcmp(uid, t->user_id) == 0);
	/* the credential: its UUID, or "" for sixteen zeros */
	if (memcmp(raw + 21, zeros, 16) == 0)
		cred[0] = '\0';
	else
		uuid_text(raw + 21, cred);
	CHECK(strcmp(cred, t->cred_id) == 0);
	CHECK(t->exp > NOW && t->exp <= (int64_t)UINT32_MAX);
	CHECK(t->exp == ((int64_t)raw[16] << 24 | raw[17] << 16 | raw[18] << 8 |
	                 raw[19]));
	CHECK(t->scopes >= 1 && t->scopes <= AUTH_TICKET_SCOPES);
	CHECK(raw[20] == (t->scopes | (t->apikey ? AUTH_TICKET_APIKEY : 0)));
	/* Encoded again (signed with k1) it verifies to the same fields. */
	CHECK(auth_ticket_encode(&ring, t, again_s) == VBX_OK);
	CHECK(auth_ticket_verify(&ring, again_s, NOW, &again) == VBX_OK);
	CHECK(ticket_equal(t, &again));
	/* Any one flipped bit is refused. */
	raw[bit / 8 % AUTH_TICKET_RAW] ^= (unsigned char)(1u << bit % 8);
	ticket_string(raw, again_s);
	CHECK(auth_ticket_verify(&ring, again_s, NOW, &again) == VBX_EUNAUTH);
}

static void fuzz_ticket(const char *s, const uint8_t *data, size_t size)
{
	unsigned char raw[AUTH_TICKET_RAW] = {0};
	char tk[AUTH_TICKET_LEN + 1];
	auth_ticket t;
	int rc = auth_ticket_verify(&ring, s, NOW, &t);

	CHECK(rc == VBX_OK || rc == VBX_EUNAUTH);
	if (rc == VBX_OK)
		ticket_accepted(s, &t, size);
	memcpy(raw, data, size < AUTH_TICKET_BODY ? size : AUTH_TICKET_BODY);
	uint32_t exp = (uint32_t)raw[16] << 24 | (uint32_t)raw[17] << 16 |
	               (uint32_t)raw[18] << 8 | raw[19];
	unsigned sc = raw[20];
	bool good = exp > NOW &&
	            (sc & ~(AUTH_TICKET_SCOPES | AUTH_TICKET_APIKEY)) == 0 &&
	            (sc & AUTH_TICKET_SCOPES) != 0;
	for (int key = 1; key <= 2; key++) {
		if (key == 1)
			ticket_mac(k1_raw, sizeof(k1_raw), raw);
		else
			ticket_mac(k2_raw, sizeof(k2_raw), raw);
		ticket_string(raw, tk);
		rc = auth_ticket_verify(&ring, tk, NOW, &t);
		CHECK((rc == VBX_OK) == good);
		if (rc == VBX_OK)
			ticket_accepted(tk, &t, size + (size_t)key);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	CHECK(s);
	ring_init();
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_token(s);
	fuzz_key_file(s);
	fuzz_b64(data, size);
	fuzz_api_key(s);
	fuzz_ticket(s, data, size);
	free(s);
	return 0;
}
