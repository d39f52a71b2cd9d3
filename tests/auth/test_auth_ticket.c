/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_auth_ticket.c - WebSocket tickets ("vbt_..."): the encoder and
 * verifier on their own (round trip, the byte layout recomputed with
 * OpenSSL, every broken input, expiry, other and rotated keys), then
 * POST /api/v1/auth/ws-ticket and the authenticate hook through the fake
 * daemon with the in-memory store (scopes and flags of the principal, a
 * disabled user, a ticket that asks for a ticket, ws_ticket_ttl).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vibebox/testing.h>

#include "auth.h"
#include "fakestore.h"

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define HEX64B                                                                 \
	"1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
#define UID "0123abcd-4567-4000-89ab-cdef01234567"
#define CRED "fedcba98-7654-4010-8000-112233445566"
#define NOW 1700000000

/* ---- helpers: rings and raw tickets ---- */

static void ring(auth_keyring *kr, const char *text)
{
	char err[256];
	if (auth_keyring_parse(text, kr, err, sizeof(err)) != VBX_OK)
		fail_msg("ring: %s", err);
}

static auth_ticket ticket_of(const char *uid, int64_t exp, unsigned scopes,
                             bool apikey)
{
	auth_ticket t = {.exp = exp, .scopes = scopes, .apikey = apikey};
	snprintf(t.user_id, sizeof(t.user_id), "%s", uid);
	return t;
}

static void encoded(const auth_keyring *kr, const auth_ticket *t, char *out)
{
	assert_int_equal(auth_ticket_encode(kr, t, out), VBX_OK);
}

/* The 37 bytes of a well-formed ticket. */
static void raw_of(const char *tk, unsigned char raw[AUTH_TICKET_RAW])
{
	assert_int_equal(auth_b64_decode(tk + 4, strlen(tk) - 4, false, raw,
	                                 AUTH_TICKET_RAW),
	                 AUTH_TICKET_RAW);
}

/* raw as a ticket string. */
static void ticket_from_raw(const unsigned char raw[AUTH_TICKET_RAW],
                            char out[AUTH_TICKET_LEN + 1])
{
	memcpy(out, "vbt_", 4);
	auth_b64url_encode(raw, AUTH_TICKET_RAW, out + 4);
}

/* Sign raw's first 21 bytes with this secret, as the format says,
 * independently of ticket.c. */
static void mac_raw(const unsigned char *key, size_t key_len,
                    unsigned char raw[AUTH_TICKET_RAW])
{
	unsigned char msg[sizeof(AUTH_TICKET_DOMAIN) + AUTH_TICKET_BODY];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	memcpy(msg, AUTH_TICKET_DOMAIN, sizeof(AUTH_TICKET_DOMAIN));
	memcpy(msg + sizeof(AUTH_TICKET_DOMAIN), raw, AUTH_TICKET_BODY);
	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, msg, sizeof(msg),
	                     md, &len));
	assert_int_equal(len, 32);
	memcpy(raw + AUTH_TICKET_BODY, md, AUTH_TICKET_MAC);
}

static void refused(const auth_keyring *kr, const char *tk, int64_t now)
{
	auth_ticket out;
	memset(&out, 0x5a, sizeof(out));
	if (auth_ticket_verify(kr, tk, now, &out) != VBX_EUNAUTH)
		fail_msg("accepted: \"%s\"", tk);
	/* Nothing of a refused ticket is left to use. */
	assert_string_equal(out.user_id, "");
	assert_int_equal(out.scopes, 0);
	assert_int_equal(out.exp, 0);
}

/* ---- the format ---- */

static void test_roundtrip(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, true), out;
	char tk[AUTH_TICKET_LEN + 1];

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	assert_int_equal(strlen(tk), AUTH_TICKET_LEN);
	assert_true(strlen(tk) < 80);
	assert_int_equal(strncmp(tk, "vbt_", 4), 0);
	assert_int_equal(auth_ticket_verify(&kr, tk, NOW, &out), VBX_OK);
	assert_string_equal(out.user_id, UID);
	assert_int_equal(out.exp, NOW + 30);
	assert_int_equal(out.scopes, VBX_SCOPE_READ);
	assert_true(out.apikey);

	/* All scopes, not an API key; an upper-case id comes back lower. */
	t = ticket_of("0123ABCD-4567-4000-89AB-CDEF01234567", UINT32_MAX,
	              AUTH_TICKET_SCOPES, false);
	encoded(&kr, &t, tk);
	assert_int_equal(auth_ticket_verify(&kr, tk, NOW, &out), VBX_OK);
	assert_string_equal(out.user_id, UID);
	assert_int_equal(out.exp, UINT32_MAX);
	assert_int_equal(out.scopes, AUTH_TICKET_SCOPES);
	assert_false(out.apikey);
	assert_string_equal(out.cred_id, "");

	/* The credential that asked for it comes back. */
	snprintf(t.cred_id, sizeof(t.cred_id), "%s", CRED);
	encoded(&kr, &t, tk);
	assert_int_equal(auth_ticket_verify(&kr, tk, NOW, &out), VBX_OK);
	assert_string_equal(out.cred_id, CRED);
}

/* The bytes are the documented layout, and the MAC is HMAC-SHA256 of the
 * domain string (with its NUL) and the body, keyed with the first key. */
static void test_layout(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, 0x65a1b2c3,
	                          VBX_SCOPE_READ | VBX_SCOPE_WRITE, true);
	char tk[AUTH_TICKET_LEN + 1];
	unsigned char raw[AUTH_TICKET_RAW], want[AUTH_TICKET_RAW];
	static const unsigned char uid[16] = {
	        0x01, 0x23, 0xab, 0xcd, 0x45, 0x67, 0x40, 0x00,
	        0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67};
	static const unsigned char cred[16] = {
	        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x40, 0x10,
	        0x80, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};

	snprintf(t.cred_id, sizeof(t.cred_id), "%s", CRED);
	ring(&kr, "new:" HEX64B "\nold:" HEX64);
	encoded(&kr, &t, tk);
	raw_of(tk, raw);
	assert_memory_equal(raw, uid, 16);
	assert_int_equal(raw[16], 0x65);
	assert_int_equal(raw[17], 0xa1);
	assert_int_equal(raw[18], 0xb2);
	assert_int_equal(raw[19], 0xc3);
	assert_int_equal(raw[20], 0x80 | VBX_SCOPE_READ | VBX_SCOPE_WRITE);
	assert_memory_equal(raw + 21, cred, 16);
	memcpy(want, raw, AUTH_TICKET_BODY);
	mac_raw(kr.keys[0].secret, kr.keys[0].len, want);
	assert_memory_equal(raw, want, AUTH_TICKET_RAW);
}

static void test_encode_refused(void **state)
{
	auth_keyring kr, none = {.count = 0};
	char tk[AUTH_TICKET_LEN + 1];
	auth_ticket bad[] = {
	        ticket_of("not-a-uuid", NOW, VBX_SCOPE_READ, false),
	        ticket_of("0123abcd-4567-4000-89ab-cdef0123456", NOW,
	                  VBX_SCOPE_READ, false),
	        ticket_of("0123abcd_4567-4000-89ab-cdef01234567", NOW,
	                  VBX_SCOPE_READ, false),
	        ticket_of(UID, 0, VBX_SCOPE_READ, false),
	        ticket_of(UID, -5, VBX_SCOPE_READ, false),
	        ticket_of(UID, (int64_t)UINT32_MAX + 1, VBX_SCOPE_READ, false),
	        ticket_of(UID, NOW, 0, false),
	        ticket_of(UID, NOW, 0x8, false),
	        ticket_of(UID, NOW, VBX_SCOPE_READ | 0x80, false),
	};
	auth_ticket ok = ticket_of(UID, NOW, VBX_SCOPE_READ, false);
	auth_ticket bad_cred = ok;

	ring(&kr, "k1:" HEX64);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (auth_ticket_encode(&kr, &bad[i], tk) != VBX_EINVAL)
			fail_msg("bad ticket %zu encoded", i);
	snprintf(bad_cred.cred_id, sizeof(bad_cred.cred_id), "key-1");
	assert_int_equal(auth_ticket_encode(&kr, &bad_cred, tk), VBX_EINVAL);
	assert_int_equal(auth_ticket_encode(&none, &ok, tk), VBX_EINVAL);
}

static void test_verify_shape(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, false), out;
	char tk[AUTH_TICKET_LEN + 1], s[AUTH_TICKET_LEN + 8];

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	assert_int_equal(auth_ticket_verify(&kr, tk, NOW, &out), VBX_OK);

	refused(&kr, "", NOW);
	refused(&kr, "vbt_", NOW);
	refused(&kr, "vbt", NOW);
	/* Wrong prefix, same body. */
	static const char *const prefixes[] = {"vbx_", "VBT_", "vbr_", "vbt."};
	for (size_t i = 0; i < 4; i++) {
		snprintf(s, sizeof(s), "%s%s", prefixes[i], tk + 4);
		refused(&kr, s, NOW);
	}
	/* Short, long. */
	snprintf(s, sizeof(s), "%.*s", AUTH_TICKET_LEN - 1, tk);
	refused(&kr, s, NOW);
	snprintf(s, sizeof(s), "%s", tk);
	s[AUTH_TICKET_LEN - 2] = '\0'; /* two characters short */
	refused(&kr, s, NOW);
	snprintf(s, sizeof(s), "%sA", tk);
	refused(&kr, s, NOW);
	snprintf(s, sizeof(s), "%sAAAA", tk);
	refused(&kr, s, NOW);
	snprintf(s, sizeof(s), "%s==", tk);
	refused(&kr, s, NOW);
	/* Characters outside base64url, in the middle and at the end. */
	static const char bad_chars[] = "+/=.! \t";
	for (size_t i = 0; bad_chars[i]; i++) {
		snprintf(s, sizeof(s), "%s", tk);
		s[20] = bad_chars[i];
		refused(&kr, s, NOW);
		s[20] = tk[20];
		s[AUTH_TICKET_LEN - 1] = bad_chars[i];
		refused(&kr, s, NOW);
	}
	/* Non-zero unused bits in the last character: another spelling of
	 * the same bytes, refused before the MAC. */
	snprintf(s, sizeof(s), "%s", tk);
	const char *alpha =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	        "0123456789-_";
	int v = (int)(strchr(alpha, s[AUTH_TICKET_LEN - 1]) - alpha);
	s[AUTH_TICKET_LEN - 1] = alpha[v ^ 1];
	refused(&kr, s, NOW);
}

/* Every single flipped bit of the 37 bytes is refused: in the body the
 * MAC no longer matches, in the MAC it is wrong. */
static void test_verify_flipped_bits(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, AUTH_TICKET_SCOPES, false);
	char tk[AUTH_TICKET_LEN + 1], s[AUTH_TICKET_LEN + 1];
	unsigned char raw[AUTH_TICKET_RAW];

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	for (int bit = 0; bit < AUTH_TICKET_RAW * 8; bit++) {
		raw_of(tk, raw);
		raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		ticket_from_raw(raw, s);
		refused(&kr, s, NOW);
	}
	/* A truncated MAC of zeros is not special. */
	raw_of(tk, raw);
	memset(raw + AUTH_TICKET_BODY, 0, AUTH_TICKET_MAC);
	ticket_from_raw(raw, s);
	refused(&kr, s, NOW);
}

static void test_verify_expiry(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, false), out;
	char tk[AUTH_TICKET_LEN + 1];

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	assert_int_equal(auth_ticket_verify(&kr, tk, NOW + 29, &out), VBX_OK);
	refused(&kr, tk, NOW + 30);
	refused(&kr, tk, NOW + 31);
	refused(&kr, tk, INT64_MAX);
	/* Far in the past is fine: a ticket has no "not before". */
	assert_int_equal(auth_ticket_verify(&kr, tk, 0, &out), VBX_OK);
}

static void test_verify_keys(void **state)
{
	auth_keyring old, other, rotated;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, false), out;
	char tk[AUTH_TICKET_LEN + 1], tk_new[AUTH_TICKET_LEN + 1];

	ring(&old, "k1:" HEX64);
	ring(&other, "k1:" HEX64B);
	ring(&rotated, "k2:" HEX64B "\nk1:" HEX64);
	encoded(&old, &t, tk);
	/* Another secret (even with the same kid) refuses it. */
	refused(&other, tk, NOW);
	/* After a rotation the old key, now second, still verifies. */
	assert_int_equal(auth_ticket_verify(&rotated, tk, NOW, &out), VBX_OK);
	assert_string_equal(out.user_id, UID);
	/* New tickets are signed with the new first key. */
	encoded(&rotated, &t, tk_new);
	assert_string_not_equal(tk, tk_new);
	assert_int_equal(auth_ticket_verify(&other, tk_new, NOW, &out), VBX_OK);
	refused(&old, tk_new, NOW);
	/* No keys: nothing verifies. */
	auth_keyring none = {.count = 0};
	refused(&none, tk, NOW);
}

/* A correctly MAC'd ticket whose scopes byte is not one we issue is
 * still refused. */
static void test_verify_scopes_byte(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, false), out;
	char tk[AUTH_TICKET_LEN + 1], s[AUTH_TICKET_LEN + 1];
	unsigned char raw[AUTH_TICKET_RAW];
	static const unsigned char bytes[] = {0x00, 0x80, 0x08,
	                                      0x09, 0x40, 0xff};

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	for (size_t i = 0; i < sizeof(bytes); i++) {
		raw_of(tk, raw);
		raw[20] = bytes[i];
		mac_raw(kr.keys[0].secret, kr.keys[0].len, raw);
		ticket_from_raw(raw, s);
		refused(&kr, s, NOW);
	}
	/* The same forge with a valid byte passes: the checks above are
	 * about the byte, not the forging. */
	raw_of(tk, raw);
	raw[20] = 0x80 | VBX_SCOPE_WRITE;
	mac_raw(kr.keys[0].secret, kr.keys[0].len, raw);
	ticket_from_raw(raw, s);
	assert_int_equal(auth_ticket_verify(&kr, s, NOW, &out), VBX_OK);
	assert_int_equal(out.scopes, VBX_SCOPE_WRITE);
	assert_true(out.apikey);
}

/* A JWT's signature under the same key is not a ticket's MAC: the MAC
 * of the same 21 bytes without the domain string differs. */
static void test_domain_separated(void **state)
{
	auth_keyring kr;
	auth_ticket t = ticket_of(UID, NOW + 30, VBX_SCOPE_READ, false);
	char tk[AUTH_TICKET_LEN + 1], s[AUTH_TICKET_LEN + 1];
	unsigned char raw[AUTH_TICKET_RAW], md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	ring(&kr, "k1:" HEX64);
	encoded(&kr, &t, tk);
	raw_of(tk, raw);
	assert_non_null(HMAC(EVP_sha256(), kr.keys[0].secret,
	                     (int)kr.keys[0].len, raw, AUTH_TICKET_BODY, md,
	                     &len));
	memcpy(raw + AUTH_TICKET_BODY, md, AUTH_TICKET_MAC);
	ticket_from_raw(raw, s);
	refused(&kr, s, NOW);
}

/* ---- through the fake daemon ---- */

#define SECRET "k1:" HEX64
#define FAST "argon2_memory = \"64KiB\"; argon2_iterations = 1;"
/* The tests change users in the fake store behind auth's back and expect
 * the next request to see it: no user cache. */
#define CONF                                                                   \
	"jwt_secret = \"" SECRET "\"; " FAST                                   \
	"registration = \"open\"; user_cache = 0;"

static vbx_test_host *host;

static int start_with(const char *conf)
{
	fake_reset();
	fake_set_down(false);
	host = vbx_test_host_new();
	assert_non_null(host);
	assert_int_equal(vbx_test_load(host, &fake_store_desc, NULL), VBX_OK);
	int rc = vbx_test_load(host, vbx_plugin_entry(), conf);
	if (rc == VBX_OK)
		rc = vbx_test_start(host);
	return rc;
}

static void start(const char *conf)
{
	if (start_with(conf) != VBX_OK)
		fail_msg("%s", vbx_test_errors(host));
}

static int setup(void **state)
{
	start(CONF);
	return 0;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static vbx_test_response *send(const char *method, const char *path,
                               const char *body, const char *bearer)
{
	vbx_test_response *r =
	        vbx_test_request(host, method, path, body, bearer);
	assert_non_null(r);
	return r;
}

static void expect(int status, const char *method, const char *path,
                   const char *body, const char *bearer)
{
	vbx_test_response *r = send(method, path, body, bearer);
	if (vbx_test_status(r) != status)
		fail_msg("%s %s: want %d, got %d: %s", method, path, status,
		         vbx_test_status(r), vbx_test_body(r));
	vbx_test_response_free(r);
}

static const char *member(const vbx_test_response *r, const char *name)
{
	const cJSON *v =
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Register email and keep its access token and id. */
static void registered(const char *email, char access[2048], char id[40])
{
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"email\":\"%s\",\"password\":\"password1\"}", email);
	vbx_test_response *r =
	        send("POST", "/api/v1/auth/register", body, NULL);
	assert_int_equal(vbx_test_status(r), 201);
	const cJSON *o = vbx_test_json(r);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(o, "tokens"), "accessToken");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(o, "user"), "id");
	snprintf(access, 2048, "%s", tok->valuestring);
	snprintf(id, 40, "%s", uid->valuestring);
	vbx_test_response_free(r);
}

/* A ticket for bearer, body as given. */
static void got_ticket(const char *bearer, const char *body,
                       char tk[AUTH_TICKET_LEN + 1], int expires_in)
{
	vbx_test_response *r =
	        send("POST", "/api/v1/auth/ws-ticket", body, bearer);
	if (vbx_test_status(r) != 201)
		fail_msg("ws-ticket: %d %s", vbx_test_status(r),
		         vbx_test_body(r));
	const char *t = member(r, "ticket");
	assert_non_null(t);
	assert_int_equal(strlen(t), AUTH_TICKET_LEN);
	snprintf(tk, AUTH_TICKET_LEN + 1, "%s", t);
	const cJSON *e =
	        cJSON_GetObjectItemCaseSensitive(vbx_test_json(r), "expiresIn");
	assert_true(cJSON_IsNumber(e));
	assert_int_equal(e->valueint, expires_in);
	vbx_test_response_free(r);
}

/* The principal the authenticate hook makes of bearer, or its error. */
static int principal_of(const char *bearer, vbx_principal *who)
{
	memset(who, 0, sizeof(*who));
	return vbx_hook_authenticate_run(
	        vbx_hook_authenticate_get(vbx_test_plugin(host)), bearer,
	        "127.0.0.1", who);
}

static void new_key(const char *access, const char *body, char key[64])
{
	vbx_test_response *r = send("POST", "/api/v1/keys", body, access);
	assert_int_equal(vbx_test_status(r), 201);
	snprintf(key, 64, "%s", member(r, "key"));
	vbx_test_response_free(r);
}

static void test_route_access_token(void **state)
{
	char access[2048], id[40], tk[AUTH_TICKET_LEN + 1];
	vbx_principal who;

	registered("ann@example.com", access, id); /* the first: admin */
	got_ticket(access, NULL, tk, 30);
	got_ticket(access, "{}", tk, 30);
	assert_int_equal(principal_of(tk, &who), VBX_OK);
	assert_string_equal(who.user_id, id);
	assert_string_equal(who.email, "ann@example.com");
	assert_int_equal(who.scopes, AUTH_TICKET_SCOPES);
	assert_int_equal(who.flags, VBX_PRINCIPAL_ADMIN);
	/* It works on any route, admin ones too for an admin. */
	expect(200, "GET", "/api/v1/users/me", NULL, tk);
	expect(200, "GET", "/api/v1/users", NULL, tk);

	/* A second user is no admin, and neither is its ticket. */
	char bob[2048], bob_id[40];
	registered("bob@example.com", bob, bob_id);
	got_ticket(bob, NULL, tk, 30);
	assert_int_equal(principal_of(tk, &who), VBX_OK);
	assert_int_equal(who.flags, 0);
	expect(403, "GET", "/api/v1/users", NULL, tk);
}

static void test_route_api_key(void **state)
{
	char access[2048], id[40], ro[64], adm[64], tk[AUTH_TICKET_LEN + 1];
	vbx_principal who;

	registered("ann@example.com", access, id);
	new_key(access, "{\"name\":\"ro\"}", ro);
	new_key(access, "{\"name\":\"a\",\"scopes\":[\"read\",\"admin\"]}",
	        adm);

	/* A read-only key's ticket is read-only and not admin. */
	got_ticket(ro, NULL, tk, 30);
	assert_int_equal(principal_of(tk, &who), VBX_OK);
	assert_int_equal(who.scopes, VBX_SCOPE_READ);
	assert_int_equal(who.flags, VBX_PRINCIPAL_APIKEY);
	expect(200, "GET", "/api/v1/users/me", NULL, tk);
	expect(403, "PATCH", "/api/v1/users/me", "{\"name\":\"x\"}", tk);
	expect(403, "GET", "/api/v1/users", NULL, tk);

	/* An admin key's ticket of an admin is admin. */
	got_ticket(adm, NULL, tk, 30);
	assert_int_equal(principal_of(tk, &who), VBX_OK);
	assert_int_equal(who.scopes, VBX_SCOPE_READ | VBX_SCOPE_ADMIN);
	assert_int_equal(who.flags, VBX_PRINCIPAL_APIKEY | VBX_PRINCIPAL_ADMIN);
	/* ... until the user is no admin any more: read on every use. */
	fake_user(id)->admin = false;
	assert_int_equal(principal_of(tk, &who), VBX_OK);
	assert_int_equal(who.flags, VBX_PRINCIPAL_APIKEY);
}

static void test_route_refusals(void **state)
{
	char access[2048], id[40], tk[AUTH_TICKET_LEN + 1];

	registered("ann@example.com", access, id);
	/* Unknown fields, not an object, broken JSON. */
	vbx_test_response *r =
	        send("POST", "/api/v1/auth/ws-ticket", "{\"ttl\":60}", access);
	assert_int_equal(vbx_test_status(r), 400);
	assert_non_null(strstr(vbx_test_body(r), "is not a known field"));
	vbx_test_response_free(r);
	expect(400, "POST", "/api/v1/auth/ws-ticket", "[]", access);
	expect(400, "POST", "/api/v1/auth/ws-ticket", "{", access);
	/* No credential, a bad one. */
	expect(401, "POST", "/api/v1/auth/ws-ticket", NULL, NULL);
	expect(401, "POST", "/api/v1/auth/ws-ticket", NULL, "vbt_nope");
	/* A ticket does not issue the next one. */
	got_ticket(access, NULL, tk, 30);
	r = send("POST", "/api/v1/auth/ws-ticket", NULL, tk);
	assert_int_equal(vbx_test_status(r), 403);
	assert_non_null(strstr(vbx_test_body(r), "cannot issue another"));
	vbx_test_response_free(r);
	/* The store is down: 503 when the ticket is checked. */
	fake_set_down(true);
	expect(503, "GET", "/api/v1/users/me", NULL, tk);
	fake_set_down(false);
	/* A disabled user's tickets stop at once. */
	fake_user(id)->disabled = true;
	expect(401, "GET", "/api/v1/users/me", NULL, tk);
}

/* Bearers that look like tickets but are not: 401, never a crash. */
static void test_bad_bearers(void **state)
{
	char access[2048], id[40], tk[AUTH_TICKET_LEN + 1], s[128];
	vbx_principal who;

	registered("ann@example.com", access, id);
	got_ticket(access, NULL, tk, 30);
	static const char *const bad[] = {
	        "vbt_", "vbt_garbage",
	        "vbt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	        "vbt_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(principal_of(bad[i], &who), VBX_EUNAUTH);
		expect(401, "GET", "/api/v1/users/me", NULL, bad[i]);
	}
	snprintf(s, sizeof(s), "%s", tk);
	s[10] = s[10] == 'A' ? 'B' : 'A';
	expect(401, "GET", "/api/v1/users/me", NULL, s);
}

/* Tickets are stateless: one made elsewhere with the same key (another
 * replica) works here, an expired one does not, and one for a user this
 * store does not know is refused. */
static void test_stateless(void **state)
{
	char access[2048], id[40], tk[AUTH_TICKET_LEN + 1];
	auth_keyring kr;
	int64_t now = auth_now_ms() / 1000;

	registered("ann@example.com", access, id);
	ring(&kr, SECRET);
	auth_ticket t = ticket_of(id, now + 60, VBX_SCOPE_READ, false);
	encoded(&kr, &t, tk);
	expect(200, "GET", "/api/v1/users/me", NULL, tk);
	t.exp = now - 1;
	encoded(&kr, &t, tk);
	expect(401, "GET", "/api/v1/users/me", NULL, tk);
	t = ticket_of("00000000-0000-4000-8000-0000000000ff", now + 60,
	              VBX_SCOPE_READ, false);
	encoded(&kr, &t, tk);
	expect(401, "GET", "/api/v1/users/me", NULL, tk);
}

static void test_ttl_config(void **state)
{
	char access[2048], id[40], tk[AUTH_TICKET_LEN + 1];
	static const char *const bad[] = {"\"4s\"", "\"11m\"", "\"soon\"",
	                                  "\"0s\""};
	char conf[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(conf, sizeof(conf), CONF "ws_ticket_ttl = %s;",
		         bad[i]);
		if (start_with(conf) == VBX_OK)
			fail_msg("ws_ticket_ttl = %s accepted", bad[i]);
		assert_non_null(strstr(vbx_test_errors(host), "ws_ticket_ttl"));
		vbx_test_host_free(host);
		host = NULL;
	}
	start(CONF "ws_ticket_ttl = \"10m\";");
	registered("ann@example.com", access, id);
	got_ticket(access, NULL, tk, 600);
	vbx_test_host_free(host);
	start(CONF "ws_ticket_ttl = \"5s\";");
	registered("ann@example.com", access, id);
	got_ticket(access, NULL, tk, 5);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_roundtrip),
	        cmocka_unit_test(test_layout),
	        cmocka_unit_test(test_encode_refused),
	        cmocka_unit_test(test_verify_shape),
	        cmocka_unit_test(test_verify_flipped_bits),
	        cmocka_unit_test(test_verify_expiry),
	        cmocka_unit_test(test_verify_keys),
	        cmocka_unit_test(test_verify_scopes_byte),
	        cmocka_unit_test(test_domain_separated),
	        T(test_route_access_token),
	        T(test_route_api_key),
	        T(test_route_refusals),
	        T(test_bad_bearers),
	        T(test_stateless),
	        cmocka_unit_test_teardown(test_ttl_config, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
