/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt.c - access tokens: compact JWS with HS256 (RFC 7515, 7518, 7519),
 * a key id in the header so that secrets can rotate, and base64url.
 *
 * Verification trusts nothing in the token before the signature checks
 * out except the header, and of the header only "kid" (which key) and
 * "alg", which must be exactly "HS256": "none", "HS512" or an RSA
 * algorithm never reach the HMAC.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"

#define LEEWAY_S 60 /* clock skew between replicas we accept for iat */
#define SIG_LEN 32  /* SHA-256 */
#define PART_MAX 1536

static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t auth_b64url_encode(const void *in, size_t len, char *out)
{
	return auth_b64_encode(in, len, false, out);
}

size_t auth_b64_encode(const void *in, size_t len, bool std, char *out)
{
	const char *b64 = std ? b64std : b64url;
	const unsigned char *s = in;
	size_t o = 0, i = 0;

	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | s[i + 1] << 8 | s[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= s[i + 1] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = b64[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64_value(char c, bool std)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (std ? '+' : '-'))
		return 62;
	if (c == (std ? '/' : '_'))
		return 63;
	return -1;
}

long auth_b64_decode(const char *in, size_t len, bool std, void *out,
                     size_t cap)
{
	unsigned char *d = out;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (std && len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(in[i], std);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			d[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Canonical form only: the unused low bits must be zero. */
	if (acc != 0)
		return -1;
	return (long)o;
}

/* ---- the keyring ---- */

static bool kid_valid(const char *s, size_t n)
{
	if (n == 0 || n >= AUTH_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* A secret in hex when it is all hex digits of even length, else base64
 * (standard or url alphabet). */
static long secret_decode(const char *s, size_t n, unsigned char *out)
{
	size_t hex = 0, len = 0;
	while (hex < n && vbx_hex_value((unsigned char)s[hex]) >= 0)
		hex++;
	if (hex == n && n % 2 == 0)
		return vbx_hex_decode(s, n, out, AUTH_KEY_MAX, &len) == VBX_OK
		               ? (long)len
		               : -1;
	bool std = memchr(s, '+', n) || memchr(s, '/', n) ||
	           (n && s[n - 1] == '=');
	return auth_b64_decode(s, n, std, out, AUTH_KEY_MAX);
}

static int keyring_line(const char *line, size_t n, bool single,
                        auth_keyring *kr, char *err, size_t err_len)
{
	const char *colon = memchr(line, ':', n);
	const char *kid = "k1", *sec = line;
	size_t kid_len = 2, sec_len = n;

	if (colon) {
		kid = line;
		kid_len = (size_t)(colon - line);
		sec = colon + 1;
		sec_len = n - kid_len - 1;
	} else if (!single) {
		snprintf(err, err_len,
		         "with several keys every line must be \"kid:secret\"");
		return VBX_EINVAL;
	}
	if (!kid_valid(kid, kid_len)) {
		snprintf(err, err_len,
		         "key id \"%.*s\" must be 1..32 characters of "
		         "[A-Za-z0-9._-]",
		         (int)(kid_len > 40 ? 40 : kid_len), kid);
		return VBX_EINVAL;
	}
	for (size_t i = 0; i < kr->count; i++)
		if (strlen(kr->keys[i].kid) == kid_len &&
		    !memcmp(kr->keys[i].kid, kid, kid_len)) {
			snprintf(err, err_len, "key id \"%.*s\" appears twice",
			         (int)kid_len, kid);
			return VBX_EINVAL;
		}
	if (kr->count == AUTH_KEYS_MAX) {
		snprintf(err, err_len, "at most %d keys", AUTH_KEYS_MAX);
		return VBX_EINVAL;
	}
	auth_jwt_key *k = &kr->keys[kr->count];
	long len = secret_decode(sec, sec_len, k->secret);
	if (len < AUTH_KEY_MIN) {
		snprintf(err, err_len,
		         "the secret of key \"%.*s\" must be %d..%d bytes in "
		         "hex "
		         "or base64 (make one with `openssl rand -base64 32`)",
		         (int)kid_len, kid, AUTH_KEY_MIN, AUTH_KEY_MAX);
		OPENSSL_cleanse(k->secret, sizeof(k->secret));
		return VBX_EINVAL;
	}
	memcpy(k->kid, kid, kid_len);
	k->kid[kid_len] = '\0';
	k->len = (size_t)len;
	kr->count++;
	return VBX_OK;
}

static bool line_skipped(const char *s, size_t n)
{
	return n == 0 || s[0] == '#';
}

/* Trim spaces, tabs and CR at both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n && strchr(" \t\r", (*s)[0]))
		(*s)++, (*n)--;
	while (*n && strchr(" \t\r", (*s)[*n - 1]))
		(*n)--;
}

int auth_keyring_parse(const char *text, auth_keyring *kr, char *err,
                       size_t err_len)
{
	static _Atomic uint64_t serials;
	size_t lines = 0;

	memset(kr, 0, sizeof(*kr));
	kr->serial = atomic_fetch_add(&serials, 1) + 1;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		const char *s = p;
		trim(&s, &n);
		lines += !line_skipped(s, n);
		p += strcspn(p, "\n");
		p += *p == '\n';
	}
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		const char *s = p;
		trim(&s, &n);
		if (!line_skipped(s, n) &&
		    keyring_line(s, n, lines == 1, kr, err, err_len) != VBX_OK)
			return VBX_EINVAL;
		p += strcspn(p, "\n");
		p += *p == '\n';
	}
	if (kr->count == 0) {
		snprintf(err, err_len, "no key: expect lines \"kid:secret\"");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

void auth_keyring_wipe(auth_keyring *kr)
{
	auth_keyring_unprepare(kr);
	OPENSSL_cleanse(kr, sizeof(*kr));
}

static const auth_jwt_key *key_find(const auth_keyring *kr, const char *kid)
{
	for (size_t i = 0; i < kr->count; i++)
		if (strcmp(kr->keys[i].kid, kid) == 0)
			return &kr->keys[i];
	return NULL;
}

/* ---- signing ---- */

static int hmac(const auth_jwt_key *k, const char *msg, size_t len,
                unsigned char sig[SIG_LEN])
{
	return auth_hmac_sha256(k, msg, len, sig) ? VBX_OK : VBX_ERR;
}

/* base64url(JSON of o) appended at out + *at; frees o. */
static int append_json(cJSON *o, char *out, size_t *at)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s)
		return VBX_ENOMEM;
	size_t n = strlen(s);
	int rc = VBX_ERR;
	if (*at + AUTH_B64_LEN(n) <= AUTH_JWT_MAX) {
		*at += auth_b64url_encode(s, n, out + *at);
		rc = VBX_OK;
	}
	free(s);
	return rc;
}

static cJSON *claims_json(const auth_claims *c)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	if (!cJSON_AddStringToObject(o, "sub", c->sub) ||
	    !cJSON_AddStringToObject(o, "email", c->email) ||
	    !cJSON_AddBoolToObject(o, "adm", c->adm) ||
	    !cJSON_AddNumberToObject(o, "iat", (double)c->iat) ||
	    !cJSON_AddNumberToObject(o, "exp", (double)c->exp) ||
	    (c->fam[0] && !cJSON_AddStringToObject(o, "fam", c->fam))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int auth_jwt_sign(const auth_keyring *kr, const auth_claims *c, char *out)
{
	if (kr->count == 0)
		return VBX_EINVAL;
	const auth_jwt_key *k = &kr->keys[0];
	cJSON *h = cJSON_CreateObject();
	if (!h || !cJSON_AddStringToObject(h, "alg", "HS256") ||
	    !cJSON_AddStringToObject(h, "typ", "JWT") ||
	    !cJSON_AddStringToObject(h, "kid", k->kid)) {
		cJSON_Delete(h);
		return VBX_ENOMEM;
	}
	size_t at = 0;
	int rc = append_json(h, out, &at);
	if (rc == VBX_OK) {
		out[at++] = '.';
		rc = append_json(claims_json(c), out, &at);
	}
	unsigned char sig[SIG_LEN];
	if (rc == VBX_OK)
		rc = hmac(k, out, at, sig);
	if (rc == VBX_OK && at + 1 + AUTH_B64_LEN(SIG_LEN) > AUTH_JWT_MAX)
		rc = VBX_ERR;
	if (rc != VBX_OK)
		return rc;
	out[at++] = '.';
	auth_b64url_encode(sig, SIG_LEN, out + at);
	return VBX_OK;
}

/* ---- verifying ---- */

/* Decode one base64url segment as a JSON object; NULL when it is not. */
static cJSON *segment_json(const char *s, size_t n)
{
	char buf[PART_MAX + 1];
	long len = auth_b64_decode(s, n, false, buf, PART_MAX);
	if (len < 0)
		return NULL;
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len)
		return NULL;
	cJSON *o = cJSON_ParseWithLength(buf, (size_t)len);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integral NumericDate; false when absent or not a number. */
static bool json_time(const cJSON *o, const char *key, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 253402300799.0)
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

/* The header names one of our keys and exactly HS256. */
static int check_header(const auth_keyring *kr, const char *s, size_t n,
                        const auth_jwt_key **key)
{
	cJSON *h = segment_json(s, n);
	if (!h)
		return VBX_DECLINED;
	const char *kid = json_str(h, "kid"), *alg = json_str(h, "alg");
	int rc = VBX_OK;
	*key = kid ? key_find(kr, kid) : NULL;
	if (!*key)
		rc = VBX_DECLINED;
	else if (!alg || strcmp(alg, "HS256") != 0 ||
	         cJSON_GetObjectItemCaseSensitive(h, "crit"))
		rc = VBX_EUNAUTH;
	cJSON_Delete(h);
	return rc;
}

static int check_claims(const char *s, size_t n, int64_t now, auth_claims *out)
{
	cJSON *c = segment_json(s, n);
	if (!c)
		return VBX_EUNAUTH;
	const char *sub = json_str(c, "sub"), *email = json_str(c, "email");
	const char *fam = json_str(c, "fam");
	const cJSON *adm = cJSON_GetObjectItemCaseSensitive(c, "adm");
	int rc = VBX_EUNAUTH;
	memset(out, 0, sizeof(*out));
	if (sub && vbx_uuid_ok(sub) && (!fam || vbx_uuid_ok(fam)) &&
	    json_time(c, "iat", &out->iat) && json_time(c, "exp", &out->exp) &&
	    auth_jwt_in_time(out, now) && out->iat < out->exp) {
		snprintf(out->fam, sizeof(out->fam), "%s", fam ? fam : "");
		snprintf(out->sub, sizeof(out->sub), "%s", sub);
		snprintf(out->email, sizeof(out->email), "%s",
		         email ? email : "");
		out->adm = cJSON_IsTrue(adm);
		rc = VBX_OK;
	}
	cJSON_Delete(c);
	return rc;
}

bool auth_jwt_in_time(const auth_claims *c, int64_t now)
{
	return now == AUTH_JWT_ANY_TIME ||
	       (now < c->exp && c->iat <= now + LEEWAY_S);
}

static bool b64url_only(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b64_value(s[i], false) < 0)
			return false;
	return true;
}

int auth_jwt_verify(const auth_keyring *kr, const char *token, int64_t now,
                    auth_claims *out)
{
	size_t len = strlen(token);
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 =
	        dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))
	             : NULL;

	/* Not three base64url segments: not a JWT at all. */
	if (!dot1 || !dot2 || len > AUTH_JWT_MAX * 2 ||
	    !b64url_only(token, (size_t)(dot1 - token)) ||
	    !b64url_only(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
	    !b64url_only(dot2 + 1, len - (size_t)(dot2 + 1 - token)))
		return VBX_DECLINED;

	const auth_jwt_key *key;
	int rc = check_header(kr, token, (size_t)(dot1 - token), &key);
	if (rc != VBX_OK)
		return rc;

	unsigned char want[SIG_LEN], got[SIG_LEN + 3];
	if (hmac(key, token, (size_t)(dot2 - token), want) != VBX_OK)
		return VBX_EUNAUTH;
	const char *sig = dot2 + 1;
	long n = auth_b64_decode(sig, strlen(sig), false, got, sizeof(got));
	if (n != SIG_LEN || CRYPTO_memcmp(want, got, SIG_LEN) != 0)
		return VBX_EUNAUTH;
	return check_claims(dot1 + 1, (size_t)(dot2 - dot1 - 1), now, out);
}
