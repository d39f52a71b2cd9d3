/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_crypto.c - the auth plugin's building blocks on their own:
 * base64url, the JWT keyring, signing and verifying (wrong kid, alg none,
 * tampering, expiry), Argon2id and its PHC strings (against libargon2,
 * broken forms, memory given back, hash_concurrency), token formats, RFC 3339
 * and the rate limiter's windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <cmocka.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <openssl/hmac.h>

#include "auth.h"

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define UID "00000000-0000-4000-8000-000000000001"
#define NOW 1700000000

static void test_b64url(void **state)
{
	char out[AUTH_B64_LEN(6)];
	unsigned char back[8];
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},        {"f", "Zg"},        {"fo", "Zm8"},
	         {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"\xfb\xff", "-_8"}};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].in);
		assert_int_equal(auth_b64url_encode(v[i].in, n, out),
		                 strlen(v[i].out));
		assert_string_equal(out, v[i].out);
		assert_int_equal(auth_b64_decode(out, strlen(out), false, back,
		                                 sizeof(back)),
		                 n);
		assert_memory_equal(back, v[i].in, n);
	}
	/* Broken input: bad character, impossible length, non-zero
	 * trailing bits, output too small, padding in url mode. */
	assert_int_equal(auth_b64_decode("Zm9v!", 5, false, back, 8), -1);
	assert_int_equal(auth_b64_decode("Z", 1, false, back, 8), -1);
	assert_int_equal(auth_b64_decode("Zh", 2, false, back, 8), -1);
	assert_int_equal(auth_b64_decode("Zm9vYmFy", 8, false, back, 2), -1);
	assert_int_equal(auth_b64_decode("Zg==", 4, false, back, 8), -1);
	assert_int_equal(auth_b64_decode("Zg==", 4, true, back, 8), 1);
	assert_int_equal(auth_b64_decode("+/8", 3, true, back, 8), 2);
}

static void test_keyring(void **state)
{
	auth_keyring kr;
	char err[256];

	assert_int_equal(auth_keyring_parse(HEX64 "\n", &kr, err, sizeof(err)),
	                 VBX_OK);
	assert_int_equal(kr.count, 1);
	assert_string_equal(kr.keys[0].kid, "k1");
	assert_int_equal(kr.keys[0].len, 32);
	assert_int_equal(kr.keys[0].secret[31], 0x1f);

	assert_int_equal(
	        auth_keyring_parse(
	                "# comment\nnew:" HEX64 "\r\n\n old : "
	                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	                &kr, err, sizeof(err)),
	        VBX_EINVAL); /* spaces around the kid are not trimmed */
	assert_int_equal(auth_keyring_parse(
	                         "# comment\nnew:" HEX64 "\r\n\nold:"
	                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	                         &kr, err, sizeof(err)),
	                 VBX_OK);
	assert_int_equal(kr.count, 2);
	assert_string_equal(kr.keys[0].kid, "new");
	assert_string_equal(kr.keys[1].kid, "old");
	assert_memory_equal(kr.keys[0].secret, kr.keys[1].secret, 32);

	/* Broken: empty, too short, two lines without kid, duplicate kid,
	 * bad kid characters, bad encoding. */
	const char *bad[] = {"",
	                     "\n# only a comment\n",
	                     "k1:0011",
	                     HEX64 "\n" HEX64,
	                     "a:" HEX64 "\na:" HEX64,
	                     "a b:" HEX64,
	                     "k1:" HEX64 "zz"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		        auth_keyring_parse(bad[i], &kr, err, sizeof(err)),
		        VBX_EINVAL);
		assert_true(err[0] != '\0');
	}
	auth_keyring_wipe(&kr);
	assert_int_equal(kr.count, 0);
}

static void ring(auth_keyring *kr, const char *text)
{
	char err[256];
	assert_int_equal(auth_keyring_parse(text, kr, err, sizeof(err)),
	                 VBX_OK);
}

static auth_claims claims(int64_t iat, int64_t exp)
{
	auth_claims c = {.adm = true, .iat = iat, .exp = exp};
	strcpy(c.sub, UID);
	strcpy(c.email, "ann@example.com");
	return c;
}

static void test_jwt_roundtrip(void **state)
{
	auth_keyring kr;
	auth_claims c = claims(NOW, NOW + 900), out;
	char tok[AUTH_JWT_MAX];

	ring(&kr, "k2:" HEX64 "\nk1:" HEX64 "ff");
	assert_int_equal(auth_jwt_sign(&kr, &c, tok), VBX_OK);
	assert_int_equal(strncmp(tok, "eyJ", 3), 0);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 1, &out), VBX_OK);
	assert_string_equal(out.sub, UID);
	assert_string_equal(out.email, "ann@example.com");
	assert_true(out.adm);
	assert_int_equal(out.exp, NOW + 900);

	/* The header names the signing key, the first of the ring. */
	char hdr[256];
	long n = auth_b64_decode(tok, strcspn(tok, "."), false, hdr,
	                         sizeof(hdr) - 1);
	assert_true(n > 0);
	hdr[n] = '\0';
	assert_non_null(strstr(hdr, "\"kid\":\"k2\""));
	assert_non_null(strstr(hdr, "\"alg\":\"HS256\""));

	/* A second key verifies what it signed (rotation). */
	auth_keyring old;
	ring(&old, "k1:" HEX64 "ff");
	assert_int_equal(auth_jwt_sign(&old, &c, tok), VBX_OK);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 1, &out), VBX_OK);
}

/* A token with this header and payload JSON, signed with key (or with an
 * empty signature when key is NULL). */
static void forge(char *out, const char *header, const char *payload,
                  const auth_jwt_key *key)
{
	size_t at = auth_b64url_encode(header, strlen(header), out);
	out[at++] = '.';
	at += auth_b64url_encode(payload, strlen(payload), out + at);
	unsigned char sig[32];
	unsigned int len = 0;
	out[at++] = '.';
	out[at] = '\0';
	if (key) {
		HMAC(EVP_sha256(), key->secret, (int)key->len,
		     (unsigned char *)out, at - 1, sig, &len);
		auth_b64url_encode(sig, len, out + at);
	}
}

#define PAYLOAD                                                                \
	"{\"sub\":\"" UID "\",\"email\":\"a@b\",\"adm\":false,"                \
	"\"iat\":1700000000,\"exp\":1700000900}"

static void test_jwt_refused(void **state)
{
	auth_keyring kr;
	auth_claims out;
	char tok[AUTH_JWT_MAX];

	ring(&kr, "k1:" HEX64);
	const auth_jwt_key *k = &kr.keys[0];

	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_OK);

	/* alg none, with and without a signature */
	forge(tok, "{\"alg\":\"none\",\"kid\":\"k1\"}", PAYLOAD, NULL);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	forge(tok, "{\"alg\":\"none\",\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	/* another HMAC, another case, no alg */
	forge(tok, "{\"alg\":\"HS512\",\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	forge(tok, "{\"alg\":\"hs256\",\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	forge(tok, "{\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	/* wrong or missing kid: someone else's token */
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k9\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_DECLINED);
	forge(tok, "{\"alg\":\"HS256\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_DECLINED);
	/* signed with another secret under our kid */
	auth_keyring other;
	/* (HMAC pads keys with zeros: HEX64 "00" would be the same key) */
	ring(&other, "k1:"
	             "111111111111111111111111111111111111111111111111111111111"
	             "1111111");
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", PAYLOAD,
	      &other.keys[0]);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);

	/* expired, at and after exp; issued in the future */
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", PAYLOAD, k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 899, &out), VBX_OK);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 900, &out),
	                 VBX_EUNAUTH);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW - 61, &out),
	                 VBX_EUNAUTH);
	/* claims missing or wrong */
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
	      "{\"sub\":\"nope\",\"iat\":1700000000,\"exp\":1700000900}", k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
	      "{\"sub\":\"" UID "\",\"iat\":1700000000}", k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", "[1,2]", k);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_EUNAUTH);
}

/* The login's refresh family ("fam") travels in the token; an open
 * socket re-checks a token at any time (AUTH_JWT_ANY_TIME), but never
 * one with a bad signature or a fam that is not a UUID. */
static void test_jwt_family_any_time(void **state)
{
	auth_keyring kr;
	auth_claims c = claims(NOW, NOW + 900), out;
	char tok[AUTH_JWT_MAX];

	ring(&kr, "k1:" HEX64);
	strcpy(c.fam, "22222222-2222-2222-2222-222222222222");
	assert_int_equal(auth_jwt_sign(&kr, &c, tok), VBX_OK);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_OK);
	assert_string_equal(out.fam, c.fam);
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 900, &out),
	                 VBX_EUNAUTH);
	assert_int_equal(auth_jwt_verify(&kr, tok, AUTH_JWT_ANY_TIME, &out),
	                 VBX_OK);
	assert_string_equal(out.fam, c.fam);
	/* without fam (tokens from before): "" */
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", PAYLOAD, &kr.keys[0]);
	assert_int_equal(auth_jwt_verify(&kr, tok, AUTH_JWT_ANY_TIME, &out),
	                 VBX_OK);
	assert_string_equal(out.fam, "");
	forge(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
	      "{\"sub\":\"" UID "\",\"fam\":\"x\",\"iat\":1700000000,"
	      "\"exp\":1700000900}",
	      &kr.keys[0]);
	assert_int_equal(auth_jwt_verify(&kr, tok, AUTH_JWT_ANY_TIME, &out),
	                 VBX_EUNAUTH);
	tok[strlen(tok) - 2] ^= 1; /* any time, but signed */
	assert_int_not_equal(auth_jwt_verify(&kr, tok, AUTH_JWT_ANY_TIME, &out),
	                     VBX_OK);
}

static void test_jwt_tampered(void **state)
{
	auth_keyring kr;
	auth_claims c = claims(NOW, NOW + 900), out;
	char tok[AUTH_JWT_MAX], bad[AUTH_JWT_MAX];

	ring(&kr, "k1:" HEX64);
	assert_int_equal(auth_jwt_sign(&kr, &c, tok), VBX_OK);
	size_t len = strlen(tok);
	char *dot1 = strchr(tok, '.');
	/* Flip one character in each part of the payload and signature. */
	for (size_t i = (size_t)(dot1 - tok) + 1; i < len; i++) {
		if (tok[i] == '.')
			continue;
		strcpy(bad, tok);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(auth_jwt_verify(&kr, bad, NOW, &out),
		                     VBX_OK);
	}
	/* Swap in another payload with the original signature. */
	auth_claims evil = claims(NOW, NOW + 99999);
	evil.adm = true;
	assert_int_equal(auth_jwt_sign(&kr, &evil, bad), VBX_OK);
	strcpy(strrchr(bad, '.'), strrchr(tok, '.'));
	assert_int_equal(auth_jwt_verify(&kr, bad, NOW, &out), VBX_EUNAUTH);

	/* Not JWTs at all: declined. */
	const char *junk[] = {"",        "abc",     "a.b",    "a.b.c.d",
	                      "a b.c.d", "vbx_123", "e30.e30"};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(auth_jwt_verify(&kr, junk[i], NOW, &out),
		                 VBX_DECLINED);
}

/*
 * auth_jwt_verify_cached answers as auth_jwt_verify would. A token it
 * accepted is remembered (shown by changing the key in place: only the
 * remembered token still passes), but only under the same ring, with the
 * same bytes, and in time again; a rejected token is never remembered.
 */
static void test_jwt_cached(void **state)
{
	auth_keyring kr, other;
	auth_claims c = claims(NOW, NOW + 900), out;
	char tok[AUTH_JWT_MAX], tok2[AUTH_JWT_MAX], bad[AUTH_JWT_MAX];

	ring(&kr, "k1:" HEX64);
	assert_int_equal(auth_jwt_sign(&kr, &c, tok), VBX_OK);
	strcpy(c.email, "bob@example.com");
	assert_int_equal(auth_jwt_sign(&kr, &c, tok2), VBX_OK);
	/* Tampered: the payload's last character changed, so a slot chosen
	 * by the signature's end is the same as tok's. */
	strcpy(bad, tok);
	char *dot2 = strrchr(bad, '.');
	dot2[-1] = dot2[-1] == 'A' ? 'B' : 'A';

	assert_int_equal(auth_jwt_verify_cached(&kr, bad, NOW, &out),
	                 VBX_EUNAUTH);
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW + 1, &out),
	                 VBX_OK);
	assert_string_equal(out.email, "ann@example.com");
	assert_int_equal(auth_jwt_verify_cached(&kr, tok2, NOW + 1, &out),
	                 VBX_OK);
	assert_string_equal(out.email, "bob@example.com");

	/* The key changed in place (same ring): only the remembered tokens
	 * pass, so these answers came from the cache. */
	kr.keys[0].secret[0] ^= 1;
	assert_int_equal(auth_jwt_verify(&kr, tok, NOW + 1, &out), VBX_EUNAUTH);
	memset(&out, 0, sizeof(out));
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW + 2, &out),
	                 VBX_OK);
	assert_string_equal(out.sub, UID);
	assert_string_equal(out.email, "ann@example.com");
	assert_true(out.adm);
	assert_int_equal(out.exp, NOW + 900);
	assert_int_equal(auth_jwt_verify_cached(&kr, tok2, NOW + 2, &out),
	                 VBX_OK);
	assert_string_equal(out.email, "bob@example.com");
	/* other bytes in tok's slot, a prefix of tok, tok with more */
	assert_int_equal(auth_jwt_verify_cached(&kr, bad, NOW, &out),
	                 VBX_EUNAUTH);
	strcpy(bad, tok);
	bad[strlen(bad) - 1] = '\0';
	assert_int_not_equal(auth_jwt_verify_cached(&kr, bad, NOW, &out),
	                     VBX_OK);
	strcpy(bad, tok);
	strcat(bad, "A");
	assert_int_not_equal(auth_jwt_verify_cached(&kr, bad, NOW, &out),
	                     VBX_OK);
	/* the times are checked again: expired, issued in the future */
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW + 900, &out),
	                 VBX_EUNAUTH);
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW - 61, &out),
	                 VBX_EUNAUTH);
	kr.keys[0].secret[0] ^= 1;
	auth_keyring_wipe(&kr);

	/* Another ring (a reload, or this one parsed again at the same
	 * address with another key): everything is verified afresh. */
	ring(&kr, "k1:" HEX64 "ff");
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW + 1, &out),
	                 VBX_EUNAUTH);
	auth_keyring_wipe(&kr);
	ring(&kr, "k1:" HEX64);
	ring(&other, "k1:" HEX64);
	assert_true(kr.serial != other.serial);
	assert_int_equal(auth_jwt_verify_cached(&kr, tok, NOW + 1, &out),
	                 VBX_OK);
	/* AUTH_JWT_ANY_TIME is verify's own */
	assert_int_equal(
	        auth_jwt_verify_cached(&kr, tok, AUTH_JWT_ANY_TIME, &out),
	        VBX_OK);
	auth_keyring_wipe(&kr);
	auth_keyring_wipe(&other);
}

/* The prepared states give OpenSSL's HMAC() for keys shorter than, as
 * long as, and longer than SHA-256's block (hashed first), on messages of
 * every length around a block; signatures and tickets agree too. */
static void test_hmac_prepared(void **state)
{
	static const size_t key_lens[] = {32, 63, 64, 65, 200, 256};
	unsigned char msg[300], want[32], got[32];
	unsigned int n;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(key_lens) / sizeof(*key_lens); i++) {
		char text[600] = "k1:";
		for (size_t j = 0; j < key_lens[i]; j++)
			snprintf(text + 3 + 2 * j, 3, "%02x",
			         (unsigned)((j * 31 + i) & 255));
		auth_keyring kr;
		ring(&kr, text);
		assert_int_equal(auth_keyring_prepare(&kr), VBX_OK);
		assert_non_null(kr.keys[0].inner);
		for (size_t len = 0; len <= sizeof(msg); len += 13) {
			HMAC(EVP_sha256(), kr.keys[0].secret,
			     (int)kr.keys[0].len, msg, len, want, &n);
			assert_true(
			        auth_hmac_sha256(&kr.keys[0], msg, len, got));
			assert_memory_equal(got, want, sizeof(want));
		}
		/* A token signed prepared verifies unprepared, and back. */
		auth_keyring plain;
		ring(&plain, text);
		char tok[AUTH_JWT_MAX];
		auth_claims c = claims(NOW, NOW + 600), out;
		assert_int_equal(auth_jwt_sign(&kr, &c, tok), VBX_OK);
		assert_int_equal(auth_jwt_verify(&plain, tok, NOW, &out),
		                 VBX_OK);
		assert_int_equal(auth_jwt_sign(&plain, &c, tok), VBX_OK);
		assert_int_equal(auth_jwt_verify(&kr, tok, NOW, &out), VBX_OK);
		auth_keyring_wipe(&kr);
		assert_null(kr.keys[0].inner);
		auth_keyring_wipe(&plain);
	}
}

static void test_argon2(void **state)
{
	auth_argon2 p = {.m_kib = 64, .t = 1, .p = 1};
	char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];

	assert_int_equal(auth_password_hash(&p, "correct horse", h1), VBX_OK);
	assert_int_equal(strncmp(h1, "$argon2id$v=19$m=64,t=1,p=1$", 28), 0);
	assert_int_equal(auth_password_hash(&p, "correct horse", h2), VBX_OK);
	assert_string_not_equal(h1, h2); /* salted */
	assert_int_equal(auth_password_verify(h1, "correct horse"), VBX_OK);
	assert_int_equal(auth_password_verify(h1, "correct horsE"),
	                 VBX_EUNAUTH);
	assert_int_equal(auth_password_verify(h1, ""), VBX_EUNAUTH);
	assert_int_equal(auth_password_verify("", "x"), VBX_EUNAUTH);
	assert_int_equal(
	        auth_password_verify("$argon2i$v=19$m=64,t=1,p=1$x$y", "x"),
	        VBX_EUNAUTH);
	assert_int_equal(auth_password_verify("$argon2id$garbage", "x"),
	                 VBX_EUNAUTH);
	/* The default parameters: OWASP's m=19MiB, t=2, p=1. */
	auth_argon2 owasp = {.m_kib = 19456, .t = 2, .p = 1};
	assert_int_equal(auth_password_hash(&owasp, "pw", h1), VBX_OK);
	assert_int_equal(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
}

/* Our PHC writer and reader agree with libargon2's, both ways. */
static void test_argon2_interop(void **state)
{
	static const unsigned char salt[16] = "0123456789abcdef";
	auth_argon2 p = {.m_kib = 64, .t = 2, .p = 2};
	char lib[AUTH_HASH_MAX], ours[AUTH_HASH_MAX];

	assert_int_equal(argon2id_hash_encoded(2, 64, 2, "pw", 2, salt,
	                                       sizeof(salt), 32, lib,
	                                       sizeof(lib)),
	                 ARGON2_OK);
	assert_int_equal(auth_password_verify(lib, "pw"), VBX_OK);
	assert_int_equal(auth_password_verify(lib, "pW"), VBX_EUNAUTH);
	assert_int_equal(auth_password_hash(&p, "pw", ours), VBX_OK);
	assert_int_equal(argon2id_verify(ours, "pw", 2), ARGON2_OK);
	assert_int_equal(argon2id_verify(ours, "pW", 2),
	                 ARGON2_VERIFY_MISMATCH);

	auth_phc h;
	char back[AUTH_HASH_MAX];
	assert_int_equal(auth_phc_decode(lib, &h), VBX_OK);
	assert_int_equal(h.m_kib, 64);
	assert_int_equal(h.t, 2);
	assert_int_equal(h.p, 2);
	assert_int_equal(h.salt_len, 16);
	assert_memory_equal(h.salt, salt, 16);
	assert_int_equal(h.hash_len, 32);
	assert_int_equal(auth_phc_encode(&h, back, sizeof(back)), VBX_OK);
	assert_string_equal(back, lib);
	assert_int_equal(auth_phc_encode(&h, back, 20), VBX_EINVAL);
}

static void test_phc_broken(void **state)
{
	/* 16 bytes of salt, 32 of hash */
#define S "MDEyMzQ1Njc4OWFiY2RlZg"
#define H "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM"
	static const char *const bad[] = {
	        "",
	        "$argon2i$v=19$m=64,t=1,p=1$" S "$" H,
	        "$argon2d$v=19$m=64,t=1,p=1$" S "$" H,
	        "$argon2id$m=64,t=1,p=1$" S "$" H, /* no version */
	        "$argon2id$v=16$m=64,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=064,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=4,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=4194305,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=99999999999,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=64,t=0,p=1$" S "$" H,
	        "$argon2id$v=19$m=64,t=65,p=1$" S "$" H,
	        "$argon2id$v=19$m=64,t=1,p=0$" S "$" H,
	        "$argon2id$v=19$m=64,t=1,p=17$" S "$" H,
	        "$argon2id$v=19$m=64,t=1,p=9$" S "$" H, /* < 8 KiB a lane */
	        "$argon2id$v=19$m=-64,t=1,p=1$" S "$" H,
	        "$argon2id$v=19$m=64,p=1,t=1$" S "$" H,
	        "$argon2id$v=19$m=64,t=1,p=1,x=2$" S "$" H,
	        "$argon2id$v=19$m=64,t=1,p=1$" S,
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$",
	        "$argon2id$v=19$m=64,t=1,p=1$$" H,
	        "$argon2id$v=19$m=64,t=1,p=1$MDEy$" H, /* 3-byte salt */
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$" H "=",
	        "$argon2id$v=19$m=64,t=1,p=1$" S "==$" H,
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$" H "$",
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$" H " ",
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$ZGVm",    /* 3-byte hash */
	        "$argon2id$v=19$m=64,t=1,p=1$" S "$" H "Jb", /* bad length */
	        "$argon2id$v=19$m=64,t=1,p=1$" S
	        "$ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoN", /* bits left */
	        "$argon2id$v=19$m=64,t=1,p=1$" S
	        "$ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM", /* base64url */
	};
	auth_phc h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (auth_phc_decode(bad[i], &h) != VBX_EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(h.m_kib, 0); /* nothing half-filled */
		assert_int_equal(auth_password_verify(bad[i], "pw"),
		                 VBX_EUNAUTH);
	}
	assert_int_equal(auth_phc_decode(NULL, &h), VBX_EINVAL);
	assert_int_equal(
	        auth_phc_decode("$argon2id$v=19$m=64,t=1,p=1$" S "$" H, &h),
	        VBX_OK);
#undef S
#undef H
}

/*
 * The work area never comes from malloc. Were it malloc'd, the first
 * free of a big block would raise glibc's mmap threshold to its size and
 * the smaller block after it would stay in the arena once freed.
 */
static void test_argon2_memory_returned(void **state)
{
	auth_argon2 big = {.m_kib = 8 * 1024, .t = 1, .p = 1};
	auth_argon2 small = {.m_kib = 4 * 1024, .t = 1, .p = 1};
	char h[AUTH_HASH_MAX];
	struct mallinfo2 before = mallinfo2();

	assert_int_equal(auth_password_hash(&big, "pw", h), VBX_OK);
	assert_int_equal(auth_password_hash(&small, "pw", h), VBX_OK);
	assert_int_equal(auth_password_verify(h, "pw"), VBX_OK);
	struct mallinfo2 after = mallinfo2();
	assert_true(after.arena < before.arena + (1 << 20));
	assert_true(after.hblkhd < before.hblkhd + (1 << 20));
}

struct hasher {
	pthread_t t;
	int rc;
};

static void *hash_main(void *arg)
{
	struct hasher *w = arg;
	auth_argon2 p = {.m_kib = 1024, .t = 1, .p = 1};
	char h[AUTH_HASH_MAX];
	w->rc = auth_password_hash(&p, "pw", h);
	if (w->rc == VBX_OK)
		w->rc = auth_password_verify(h, "pw");
	return NULL;
}

/* hash_concurrency: eight at once, two at a time. */
static void test_hash_concurrency(void **state)
{
	struct hasher w[8];

	auth_password_concurrency(2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(
		        pthread_create(&w[i].t, NULL, hash_main, &w[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].rc, VBX_OK);
	}
	assert_true(auth_password_peak() >= 1);
	assert_true(auth_password_peak() <= 2);
	auth_password_concurrency(0);
}

static void test_tokens(void **state)
{
	char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
	char h[AUTH_SHA256_HEX];

	assert_int_equal(auth_token_new(AUTH_KEY_PREFIX, a), VBX_OK);
	assert_int_equal(auth_token_new(AUTH_KEY_PREFIX, b), VBX_OK);
	assert_int_equal(strlen(a), 47);
	assert_int_equal(strncmp(a, "vbx_", 4), 0);
	assert_string_not_equal(a, b);
	assert_true(auth_token_wellformed(AUTH_KEY_PREFIX, a));
	assert_false(auth_token_wellformed(AUTH_REFRESH_PREFIX, a));
	a[10] = '!';
	assert_false(auth_token_wellformed(AUTH_KEY_PREFIX, a));
	b[46] = '\0';
	assert_false(auth_token_wellformed(AUTH_KEY_PREFIX, b));
	assert_false(auth_token_wellformed(AUTH_KEY_PREFIX, "vbx_"));

	auth_sha256_hex("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223"
	                       "b00361a396177a9cb410ff61f20015ad");
}

/* RFC 3339 and UUIDs are the SDK's (<vibebox/util.h>, tests/unit/
 * test_util.c); these are the forms auth reads and writes. Times before
 * 1970 parse, and expiresAt refuses them as past (test_auth_routes). */
static int time_parse(const char *s, int64_t *ms)
{
	return vbx_time_parse(s, strlen(s), ms);
}

static void test_time(void **state)
{
	int64_t ms;
	char out[VBX_TIME_LEN];

	assert_int_equal(time_parse("2023-11-14T22:13:20Z", &ms), VBX_OK);
	assert_int_equal(ms, 1700000000000LL);
	assert_int_equal(time_parse("2023-11-14T22:13:20.5Z", &ms), VBX_OK);
	assert_int_equal(ms, 1700000000500LL);
	assert_int_equal(time_parse("2023-11-15T00:13:20.123+02:00", &ms),
	                 VBX_OK);
	assert_int_equal(ms, 1700000000123LL);
	assert_int_equal(vbx_time_format(1700000000123LL, out, sizeof(out)),
	                 VBX_OK);
	assert_string_equal(out, "2023-11-14T22:13:20.123Z");
	const char *bad[] = {"",
	                     "2023-11-14",
	                     "2023-11-14T22:13:20",
	                     "2023-13-14T22:13:20Z",
	                     "2023-04-31T22:13:20Z",
	                     "2023-11-14T22:13:20.Z",
	                     "2023-11-14T22:13:20Zjunk",
	                     "2023-11-14T22:13:20+2:00"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(time_parse(bad[i], &ms), VBX_EINVAL);
	assert_true(vbx_uuid_ok(UID));
	assert_false(vbx_uuid_ok("00000000-0000-4000-8000-00000000000"));
	assert_false(vbx_uuid_ok("00000000-0000-4000-8000-0000000000011"));
	assert_false(vbx_uuid_ok("00000000x0000-4000-8000-000000000001"));
}

static void test_limit_parse(void **state)
{
	long n;
	int64_t p;

	assert_int_equal(auth_limit_parse("10/15m", &n, &p), VBX_OK);
	assert_int_equal(n, 10);
	assert_int_equal(p, 900000);
	assert_int_equal(auth_limit_parse("5/1h", &n, &p), VBX_OK);
	assert_int_equal(p, 3600000);
	assert_int_equal(auth_limit_parse("5/h", &n, &p), VBX_OK);
	assert_int_equal(p, 3600000);
	assert_int_equal(auth_limit_parse("1/30s", &n, &p), VBX_OK);
	const char *bad[] = {"",      "10",    "0/1m",   "-1/1m", "10/",
	                     "10/1w", "10/0m", "10/1mm", "x/1m",  "10/400d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(auth_limit_parse(bad[i], &n, &p), VBX_EINVAL);
}

static void test_limiter_windows(void **state)
{
	auth_limiter *l = auth_limiter_new(3, 60000, 100);
	int64_t t = 1000000;

	for (int i = 0; i < 3; i++)
		assert_int_equal(auth_limiter_take(l, "a", t + i), 0);
	/* The fourth in the window waits for the window's end. */
	assert_int_equal(auth_limiter_take(l, "a", t + 10), 60);
	assert_int_equal(auth_limiter_check(l, "a", t + 59001), 1);
	assert_int_equal(auth_limiter_check(l, "a", t + 30000), 30);
	/* Other keys are counted apart. */
	assert_int_equal(auth_limiter_check(l, "b", t), 0);
	/* A new window opens when the old one ends. */
	assert_int_equal(auth_limiter_take(l, "a", t + 60000), 0);
	assert_int_equal(auth_limiter_take(l, "a", t + 60001), 0);
	assert_int_equal(auth_limiter_take(l, "a", t + 60002), 0);
	assert_int_equal(auth_limiter_take(l, "a", t + 60003), 60);
	/* hit and check apart, as login uses them. */
	auth_limiter_hit(l, "c", t);
	auth_limiter_hit(l, "c", t);
	assert_int_equal(auth_limiter_check(l, "c", t), 0);
	auth_limiter_hit(l, "c", t);
	assert_int_equal(auth_limiter_check(l, "c", t), 60);
	auth_limiter_free(l);
}

static void test_limiter_bounded(void **state)
{
	auth_limiter *l = auth_limiter_new(1, 60000, 4);
	char key[16];

	/* Spraying keys never holds more than 4 windows; the oldest go. */
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(auth_limiter_take(l, key, 1000 + i), 0);
	}
	assert_int_equal(auth_limiter_check(l, "k99", 1100), 60);
	assert_int_equal(auth_limiter_check(l, "k0", 1100), 0); /* evicted */
	auth_limiter_free(l);
	auth_limiter_free(NULL);
}

/* A backoff: 3 failures in a row, then 1 min, 2, 4, capped at 5. */
static void test_limiter_backoff(void **state)
{
	auth_limiter *l = auth_limiter_new(3, 600000, 100);
	auth_limiter_backoff(l, 60000, 300000);
	int64_t t = 1000000;

	for (int i = 0; i < 2; i++) {
		auth_limiter_hit(l, "p", t);
		assert_int_equal(auth_limiter_check(l, "p", t), 0);
	}
	auth_limiter_hit(l, "p", t);
	assert_int_equal(auth_limiter_check(l, "p", t), 60);
	assert_int_equal(auth_limiter_check(l, "p", t + 59500), 1);
	assert_int_equal(auth_limiter_check(l, "p", t + 60000), 0);
	/* Each failure after the lock doubles it, up to the maximum. */
	t += 60000;
	auth_limiter_hit(l, "p", t);
	assert_int_equal(auth_limiter_check(l, "p", t), 120);
	t += 120000;
	auth_limiter_hit(l, "p", t);
	assert_int_equal(auth_limiter_check(l, "p", t), 240);
	t += 240000;
	auth_limiter_hit(l, "p", t);
	assert_int_equal(auth_limiter_check(l, "p", t), 300);
	assert_int_equal(auth_limiter_count(l, "p", t), 6);
	/* Kept a period after the lock ends, then forgotten. */
	assert_int_equal(auth_limiter_count(l, "p", t + 300000 + 599999), 6);
	assert_int_equal(auth_limiter_count(l, "p", t + 300000 + 600000), 0);
	auth_limiter_hit(l, "p", t + 900000);
	assert_int_equal(auth_limiter_check(l, "p", t + 900000), 0);
	/* A success clears the key; other keys never were counted. */
	auth_limiter_clear(l, "p");
	assert_int_equal(auth_limiter_count(l, "p", t + 900000), 0);
	assert_int_equal(auth_limiter_check(l, "q", t), 0);
	auth_limiter_free(l);
}

static const auth_login_limits guard_limits = {
        .pair_n = 3,
        .pair_period_ms = 900000,
        .backoff_ms = 60000,
        .backoff_max_ms = 3600000,
        .client_n = 10,
        .client_period_ms = 900000,
        .account_n = 5,
        .account_period_ms = 900000,
        .max_keys = 100,
};

static void fail_n(auth_login_guard *g, const char *acct, const char *addr,
                   int n, int64_t t)
{
	for (int i = 0; i < n; i++)
		auth_login_guard_failed(g, acct, addr, t);
}

/* The account's owner on another address is never stopped by a guesser;
 * the guesser's address is. */
static void test_login_guard_pairs(void **state)
{
	auth_login_guard *g = auth_login_guard_new(&guard_limits);
	int64_t t = 1000000;

	fail_n(g, "x@e", "10.0.0.1", 3, t);
	assert_int_equal(auth_login_guard_check(g, "x@e", "10.0.0.1", t), 60);
	assert_int_equal(auth_login_guard_check(g, "x@e", "10.0.0.2", t), 0);
	assert_int_equal(auth_login_guard_check(g, "y@e", "10.0.0.1", t), 0);
	/* Past the account's limit from many addresses: only those that
	 * failed on it wait; a clean one still gets in. */
	fail_n(g, "x@e", "10.0.0.3", 1, t);
	fail_n(g, "x@e", "10.0.0.4", 1, t);
	assert_true(auth_login_guard_check(g, "x@e", "10.0.0.3", t) > 800);
	assert_int_equal(auth_login_guard_check(g, "x@e", "10.0.0.5", t), 0);
	/* A success clears the pair, not the address's count. */
	auth_login_guard_passed(g, "x@e", "10.0.0.1");
	assert_int_equal(auth_login_guard_check(g, "x@e", "10.0.0.1", t), 0);
	auth_login_guard_free(g);
	auth_login_guard_free(NULL);
}

/* One address trying many accounts meets its own limit, and only it. */
static void test_login_guard_stuffing(void **state)
{
	auth_login_guard *g = auth_login_guard_new(&guard_limits);
	char acct[32];
	int64_t t = 1000000;

	for (int i = 0; i < 10; i++) {
		snprintf(acct, sizeof(acct), "u%d@e", i);
		assert_int_equal(auth_login_guard_check(g, acct, "10.9.9.9", t),
		                 0);
		auth_login_guard_failed(g, acct, "10.9.9.9", t);
	}
	assert_int_equal(auth_login_guard_check(g, "new@e", "10.9.9.9", t),
	                 900);
	assert_int_equal(auth_login_guard_check(g, "new@e", "10.0.0.1", t), 0);
	assert_int_equal(auth_login_guard_check(g, "u1@e", "10.0.0.1", t), 0);
	auth_login_guard_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_b64url),
	        cmocka_unit_test(test_keyring),
	        cmocka_unit_test(test_jwt_roundtrip),
	        cmocka_unit_test(test_jwt_refused),
	        cmocka_unit_test(test_jwt_tampered),
	        cmocka_unit_test(test_jwt_family_any_time),
	        cmocka_unit_test(test_jwt_cached),
	        cmocka_unit_test(test_hmac_prepared),
	        cmocka_unit_test(test_argon2),
	        cmocka_unit_test(test_argon2_interop),
	        cmocka_unit_test(test_phc_broken),
	        cmocka_unit_test(test_argon2_memory_returned),
	        cmocka_unit_test(test_hash_concurrency),
	        cmocka_unit_test(test_tokens),
	        cmocka_unit_test(test_time),
	        cmocka_unit_test(test_limit_parse),
	        cmocka_unit_test(test_limiter_windows),
	        cmocka_unit_test(test_limiter_bounded),
	        cmocka_unit_test(test_limiter_backoff),
	        cmocka_unit_test(test_login_guard_pairs),
	        cmocka_unit_test(test_login_guard_stuffing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
