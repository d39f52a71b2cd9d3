/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - what the files of the auth plugin share. Nothing here is
 * exported: the plugin is built with hidden visibility and exports only
 * vbx_plugin_entry.
 */
#ifndef AUTH_H
#define AUTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <vibebox/vibebox.h>
#include <vibebox/store.h>

typedef struct auth auth;

/* ---- base64url (RFC 4648 section 5, no padding) ---- */

/* Bytes needed to encode n bytes, with the NUL. */
#define AUTH_B64_LEN(n) (((n) + 2) / 3 * 4 + 1)

/* Encode len bytes into out (AUTH_B64_LEN(len) bytes). Returns the length
 * written, without the NUL. */
size_t auth_b64url_encode(const void *in, size_t len, char *out);
/* The same in standard base64 (std: '+' and '/') or base64url, unpadded. */
size_t auth_b64_encode(const void *in, size_t len, bool std, char *out);

/*
 * Decode len characters of base64url (or, when std is true, standard
 * base64 with optional '=' padding) into out (cap bytes). Returns the
 * number of bytes, or -1 for a character outside the alphabet, a length
 * that cannot be, non-zero trailing bits or an output too small.
 */
long auth_b64_decode(const char *in, size_t len, bool std, void *out,
                     size_t cap);

/* ---- passwords (Argon2id) ---- */

typedef struct auth_argon2 {
	uint32_t m_kib; /* memory in KiB */
	uint32_t t;     /* iterations */
	uint32_t p;     /* lanes */
} auth_argon2;

#define AUTH_HASH_MAX 256 /* an encoded Argon2id hash, with its NUL */
#define AUTH_PASSWORD_MAX 128

/* Hash a password into out (AUTH_HASH_MAX bytes) as a PHC string
 * "$argon2id$v=19$m=...,t=...,p=...$salt$hash". VBX_OK or VBX_ERR. */
int auth_password_hash(const auth_argon2 *a, const char *pw, char *out);

/* VBX_OK when pw matches the encoded hash, VBX_EUNAUTH when it does not,
 * the hash is malformed or its work area cannot be had. Takes the hash's
 * own time either way. */
int auth_password_verify(const char *encoded, const char *pw);

/*
 * At most n hashes and verifications run at once (hash_concurrency);
 * more wait their turn. 0 (the state before the first call): no bound.
 * Call from init, before any hash runs.
 */
void auth_password_concurrency(unsigned n);

/* The most hashes that ran at once so far. */
unsigned auth_password_peak(void);

/* ---- the PHC string form of an Argon2id hash (phc.c) ---- */

#define AUTH_PHC_VERSION 0x13u  /* v=19, the only one written or read */
#define AUTH_PHC_M_MIN 8u       /* KiB */
#define AUTH_PHC_M_MAX 4194304u /* KiB: argon2_memory's 4GiB */
#define AUTH_PHC_T_MAX 64u      /* argon2_iterations' maximum */
#define AUTH_PHC_P_MAX 16u      /* argon2_parallelism's maximum */
#define AUTH_PHC_SALT_MIN 8     /* bytes (Argon2's minimum) */
#define AUTH_PHC_SALT_MAX 64
#define AUTH_PHC_HASH_MIN 4 /* bytes (Argon2's minimum) */
#define AUTH_PHC_HASH_MAX 64

typedef struct auth_phc {
	uint32_t version, m_kib, t, p;
	uint8_t salt[AUTH_PHC_SALT_MAX];
	size_t salt_len;
	uint8_t hash[AUTH_PHC_HASH_MAX];
	size_t hash_len;
} auth_phc;

/*
 * Read "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" (base64 without padding)
 * into *out. VBX_OK, or VBX_EINVAL for anything else: another type or
 * version, a number out of the bounds above or with a leading zero,
 * m below 8 KiB per lane, base64 that is not canonical, trailing bytes.
 */
int auth_phc_decode(const char *s, auth_phc *out);

/* Write h in that form into out (cap bytes). VBX_OK, or VBX_EINVAL when
 * it does not fit or a length is out of bounds. */
int auth_phc_encode(const auth_phc *h, char *out, size_t cap);

/* ---- JWT (HS256) ---- */

#define AUTH_KID_MAX 33   /* a key id of 1..32 characters [A-Za-z0-9._-] */
#define AUTH_KEY_MIN 32   /* bytes of a secret, at least (256 bits) */
#define AUTH_KEY_MAX 256  /* bytes of a secret, at most */
#define AUTH_KEYS_MAX 16  /* keys in a ring */
#define AUTH_JWT_MAX 2048 /* an access token we issue, with its NUL */

typedef struct auth_jwt_key {
	char kid[AUTH_KID_MAX];
	unsigned char secret[AUTH_KEY_MAX];
	size_t len;
	/* HMAC's keyed SHA-256 states (auth_keyring_prepare), or NULL */
	EVP_MD_CTX *inner, *outer;
} auth_jwt_key;

/* The first key signs; every key verifies. */
typedef struct auth_keyring {
	auth_jwt_key keys[AUTH_KEYS_MAX];
	size_t count;
	struct auth_keyring *older; /* the plugin's ring before a reload */
	/* Unique in the process, set by auth_keyring_parse: what a token
	 * verified under this ring is remembered by (jwtcache.c). */
	uint64_t serial;
} auth_keyring;

/*
 * Parse the jwt_secret text: one or more lines "kid:secret", the secret
 * in hex or base64; a single line without "kid:" gets kid "k1". Blank
 * lines and '#' comments are skipped. On failure writes why to err and
 * returns VBX_EINVAL. The caller wipes the ring (auth_keyring_wipe).
 */
int auth_keyring_parse(const char *text, auth_keyring *kr, char *err,
                       size_t err_len);
/* Free what auth_keyring_prepare made, then overwrite the secrets. */
void auth_keyring_wipe(auth_keyring *kr);

/* ---- HMAC-SHA256 (hmac.c) ---- */

#define AUTH_HMAC_LEN 32

/* Key the HMAC states of every key of a parsed ring once, for the fast
 * path of auth_hmac_sha256; auth_keyring_wipe frees them. VBX_OK,
 * VBX_ENOMEM or VBX_ERR (no SHA-256), leaving the ring unprepared. */
int auth_keyring_prepare(auth_keyring *kr);
void auth_keyring_unprepare(auth_keyring *kr);

/* HMAC-SHA256 of msg under k into out: from the prepared states when
 * there are any, else OpenSSL's HMAC(). False on an OpenSSL failure. */
bool auth_hmac_sha256(const auth_jwt_key *k, const void *msg, size_t len,
                      unsigned char out[AUTH_HMAC_LEN]);

typedef struct auth_claims {
	char sub[VBX_ID_LEN];
	char email[256];
	bool adm;
	int64_t iat; /* Unix seconds */
	int64_t exp;
	char fam[VBX_ID_LEN]; /* the login's refresh family ("fam"), or "" */
} auth_claims;

/* auth_jwt_verify's `now` that skips the time checks: an open socket
 * re-checks a token that may have expired since (principal_check). */
#define AUTH_JWT_ANY_TIME INT64_MIN

/* Sign claims with the ring's first key into out (AUTH_JWT_MAX bytes).
 * VBX_OK, VBX_EINVAL (no key), VBX_ERR. */
int auth_jwt_sign(const auth_keyring *kr, const auth_claims *c, char *out);

/*
 * Verify a compact JWS at time now (Unix seconds) and fill *out.
 * VBX_OK; VBX_DECLINED when the token is not a JWT or names a kid that is
 * not ours (another authenticator may know it); VBX_EUNAUTH when it is
 * ours but bad: another alg, a bad signature, expired, issued in the
 * future, claims missing.
 */
int auth_jwt_verify(const auth_keyring *kr, const char *token, int64_t now,
                    auth_claims *out);

/* The time checks of auth_jwt_verify on claims it accepted: not expired
 * at now, not issued in the future; true for AUTH_JWT_ANY_TIME. */
bool auth_jwt_in_time(const auth_claims *c, int64_t now);

/* ---- access tokens verified lately (jwtcache.c) ---- */

/*
 * auth_jwt_verify, remembering the tokens it accepts: each thread keeps
 * the last few dozen (in slots chosen by their signature), so that a
 * client sending the same token again costs a compare of its bytes and
 * the time checks instead of two JSON parses and an HMAC. A remembered
 * token counts only under the ring (its serial) that verified it, whole
 * bytes equal (compared in constant time), and in time at now again; a
 * key rotation therefore verifies every token afresh. Same returns as
 * auth_jwt_verify; now must be a real time, not AUTH_JWT_ANY_TIME.
 */
int auth_jwt_verify_cached(const auth_keyring *kr, const char *token,
                           int64_t now, auth_claims *out);

/* ---- random tokens, API keys and refresh tokens ---- */

#define AUTH_KEY_PREFIX "vbx_"
#define AUTH_REFRESH_PREFIX "vbr_"
#define AUTH_TOKEN_RANDOM 32    /* bytes */
#define AUTH_TOKEN_LEN (4 + 43) /* prefix + base64url */
#define AUTH_SHOWN_PREFIX 12    /* kept as `prefix` */
#define AUTH_SHA256_HEX 65

/* A new token "<prefix><43 base64url characters>" into out
 * (AUTH_TOKEN_LEN + 1 bytes). VBX_OK or VBX_ERR (no randomness). */
int auth_token_new(const char *prefix, char *out);

/* Nonzero when s has our token shape with this prefix. */
bool auth_token_wellformed(const char *prefix, const char *s);

/* The SHA-256 of s as 64 lower-case hex digits. */
void auth_sha256_hex(const char *s, char out[AUTH_SHA256_HEX]);

/* Issue a refresh token of family_id ("" or NULL: a new family) into
 * token (AUTH_TOKEN_LEN + 1 bytes); the family's id goes to family_out
 * (VBX_ID_LEN bytes). Returns the store's answer. */
int auth_refresh_issue(auth *a, const char *user_id, const char *family_id,
                       char *token, char *family_out);
int auth_refresh_use(auth *a, const char *token, const char *client,
                     vbx_refresh *t);
/* Revoke the family of a refresh token (logout); *t says whose (zeroed
 * when the token is unknown). */
int auth_refresh_revoke(auth *a, const char *token, vbx_refresh *t);
int auth_key_create(auth *a, vbx_api_key *k, char *key);
int auth_key_authenticate(auth *a, const char *bearer, vbx_principal *out);
/* The id of the live API key `bearer` into id (VBX_ID_LEN bytes): VBX_OK,
 * VBX_EUNAUTH (no such live key) or VBX_EUNAVAIL. Records a use. */
int auth_key_id(auth *a, const char *bearer, char *id);
/* Is key_id a live key of user_id? VBX_OK, VBX_ENOTFOUND, VBX_EUNAVAIL. */
int auth_key_live(auth *a, const char *user_id, const char *key_id);
/*
 * The principal of user_id acting with `scopes` and `flags` (an API key's
 * VBX_PRINCIPAL_APIKEY): the user is read again (or taken from the cache,
 * at most `user_cache` old), so that disabling one or taking away admin
 * takes effect long before any credential expires; admin only
 * when the user is one and the scopes include admin. VBX_EUNAUTH for a
 * missing or disabled user, VBX_EUNAVAIL when the store is down.
 */
int auth_principal_for(auth *a, const char *user_id, unsigned scopes,
                       unsigned flags, vbx_principal *out);

/* store_user_update of u (password_hash NULL: unchanged), then the cache
 * forgets u. Returns the store's answer. */
int auth_user_update(auth *a, vbx_user *u, const char *password_hash);

/* ---- WebSocket tickets ("vbt_...", ticket.c) ---- */

/*
 * A ticket is short-lived and stateless, so that any replica accepts it
 * and it fits in a browser's Sec-WebSocket-Protocol list (a JWT does
 * not): "vbt_" and the base64url (no padding) of 53 bytes:
 *
 *   16  the user id (the UUID's bytes)
 *    4  expiry, Unix seconds, big-endian
 *    1  scopes (VBX_SCOPE_*) and AUTH_TICKET_APIKEY
 *   16  the credential that asked for it (the UUID's bytes): the API
 *       key's id, or the access token's refresh family; zeros for none
 *       (an access token without "fam")
 *   16  HMAC-SHA256 over AUTH_TICKET_DOMAIN (with its NUL) and the 37
 *       bytes above, keyed with the ring's first key, truncated
 *
 * (v1, without the credential, lived 30 s by default and is refused.)
 */
#define AUTH_TICKET_PREFIX "vbt_"
#define AUTH_TICKET_DOMAIN "vibebox ws-ticket v2" /* MAC'd with its NUL */
#define AUTH_TICKET_BODY 37                       /* bytes under the MAC */
#define AUTH_TICKET_MAC 16                        /* bytes of MAC kept */
#define AUTH_TICKET_RAW (AUTH_TICKET_BODY + AUTH_TICKET_MAC)
#define AUTH_TICKET_LEN (4 + 71) /* prefix + base64url of 53 bytes */
#define AUTH_TICKET_APIKEY 0x80u /* in the scopes byte: from an API key */
#define AUTH_TICKET_SCOPES (VBX_SCOPE_READ | VBX_SCOPE_WRITE | VBX_SCOPE_ADMIN)

typedef struct auth_ticket {
	char user_id[VBX_ID_LEN]; /* UUID text; lower case when decoded */
	int64_t exp;              /* Unix seconds, 1..UINT32_MAX */
	unsigned scopes;          /* VBX_SCOPE_*, at least one */
	bool apikey;              /* issued to an API key's principal */
	char cred_id[VBX_ID_LEN]; /* the key's id (apikey) or the refresh
	                             family's; "" for none */
} auth_ticket;

/* Encode and sign t with the ring's first key into out
 * (AUTH_TICKET_LEN + 1 bytes). VBX_OK, or VBX_EINVAL: no key, a user id
 * or a cred_id (other than "") that is not a UUID, an expiry outside
 * 1..UINT32_MAX, no scope or an unknown one. */
int auth_ticket_encode(const auth_keyring *kr, const auth_ticket *t, char *out);

/*
 * Decode s and check it at now (Unix seconds): the shape, the MAC against
 * every key of the ring (compared in constant time), the expiry and the
 * scopes byte. VBX_OK with *out filled, else VBX_EUNAUTH (*out zeroed).
 */
int auth_ticket_verify(const auth_keyring *kr, const char *s, int64_t now,
                       auth_ticket *out);

/* The principal of a ticket bearer (ticket.c): the user read again from
 * the store. VBX_OK, VBX_EUNAUTH or VBX_EUNAVAIL. */
int auth_ticket_authenticate(auth *a, const char *bearer, vbx_principal *out);

/* ---- rate limits: at most N events per fixed window of period_ms ---- */

typedef struct auth_limiter auth_limiter;

/* Parse "N/period" ("10/15m"). VBX_OK or VBX_EINVAL. */
int auth_limit_parse(const char *text, long *n, int64_t *period_ms);

auth_limiter *auth_limiter_new(long n, int64_t period_ms, size_t max_keys);
void auth_limiter_free(auth_limiter *l);

/* 0 when key may act now; else the seconds until it may (>= 1). */
int64_t auth_limiter_check(auth_limiter *l, const char *key, int64_t now_ms);

/* Count one event for key. */
void auth_limiter_hit(auth_limiter *l, const char *key, int64_t now_ms);

/* Check and count in one step: 0 when allowed (and counted). */
int64_t auth_limiter_take(auth_limiter *l, const char *key, int64_t now_ms);

/* Turn l (before its first use) into a backoff: its N counts failures in
 * a row, the Nth locks the key for base_ms, each later one for twice the
 * last, at most max_ms; a key is forgotten a period after its lock ends.
 * check answers the seconds left of the lock. */
void auth_limiter_backoff(auth_limiter *l, int64_t base_ms, int64_t max_ms);

/* The count of key now (events in its window, failures in a row). */
long auth_limiter_count(auth_limiter *l, const char *key, int64_t now_ms);

/* Forget key (a backoff's success). */
void auth_limiter_clear(auth_limiter *l, const char *key);

/* Count one event for key when the limit allows it, as take, and say
 * where the key stands in *out (limit, remaining, reset_ms,
 * retry_after_ms; for the X-RateLimit-* headers). VBX_OK (allowed and
 * counted) or VBX_EAGAIN (refused). Not for a backoff. */
int auth_limiter_take_rate(auth_limiter *l, const char *key, int64_t now_ms,
                           vbx_rate *out);

/*
 * ---- what replicas share (cache.c, sharedlimit.c) ----
 *
 * The hooks of <vibebox/cache.h>, which a provider (redis-cache) answers
 * or, with none loaded or its server down, answer VBX_EUNAVAIL: then
 * every user of them falls back to this process (counting locally,
 * reading the store), call by call, so that auth never fails a request
 * because the cache is missing.
 */
typedef struct auth_cache {
	vbx_hook *get, *set, *del, *rate;
} auth_cache;

/* Fetch the cache hooks in init. VBX_OK or VBX_ESIGNATURE. */
int auth_cache_hooks(vbx_plugin *self, auth_cache *c);

/* Keys of outside text (an email, an address) are hashed into out
 * (AUTH_CACHE_TOKEN bytes): text of at most 64 characters of
 * [0-9A-Za-z.:_-] is kept as it is (addresses, ids), anything else
 * becomes the first 32 hex digits of its SHA-256, so that no email ever
 * reaches the cache. */
#define AUTH_CACHE_TOKEN 65
void auth_cache_token(const char *s, char out[AUTH_CACHE_TOKEN]);

/*
 * Make l count in the shared cache under "auth:<name>:<key>" (keys made
 * with auth_cache_token; name at most 15 characters) whenever the
 * provider answers, and in its own table when it answers VBX_EUNAVAIL.
 * Shared windows slide (cache_rate); a backoff keeps its failures in a
 * sliding window of period + max (so a lock of up to max still counts
 * the failures before it) and its lock in "auth:<name>:<key>:lock".
 * Call before the first use; c outlives l. c NULL: stay local.
 */
void auth_limiter_share(auth_limiter *l, const auth_cache *c, const char *name);

/* The parameters a limiter shares with sharedlimit.c. */
typedef struct auth_shared_limit {
	const auth_cache *c; /* NULL: not shared */
	char name[16];
	long n;
	int64_t period_ms;
	int64_t base_ms, max_ms; /* backoff; 0: windows */
} auth_shared_limit;

/* The lock after a backoff's count-th failure in a row (ratelimit.c). */
int64_t auth_backoff_lock_ms(const auth_shared_limit *s, long count);

/* The shared half of auth_limiter_*: each answers VBX_EUNAVAIL when the
 * cache cannot (then the caller counts locally), else VBX_OK. take_rate
 * answers VBX_OK or VBX_EAGAIN as auth_limiter_take_rate. */
int auth_shared_take_rate(const auth_shared_limit *s, const char *key,
                          vbx_rate *out);
int auth_shared_check(const auth_shared_limit *s, const char *key,
                      int64_t now_ms, int64_t *wait_s);
int auth_shared_hit(const auth_shared_limit *s, const char *key,
                    int64_t now_ms);
int auth_shared_count(const auth_shared_limit *s, const char *key, long *count);
int auth_shared_clear(const auth_shared_limit *s, const char *key);

/*
 * A cached user as the shared cache holds it: "1|<admin 0|1>|<disabled
 * 0|1>|<email>" (no NUL). Encode u into out (cap bytes): the length, or
 * 0 when it does not fit. Decode len bytes of what the cache gave back
 * into u's email, admin and disabled (other fields untouched): VBX_OK,
 * or VBX_EINVAL for anything else (another version, a flag not 0 or 1,
 * an empty or over-long email, a control character).
 */
size_t auth_user_entry_encode(const vbx_user *u, char *out, size_t cap);
int auth_user_entry_decode(const char *in, size_t len, vbx_user *u);

/* Milliseconds as decimal text, read back strictly (a lock's end):
 * VBX_OK, or VBX_EINVAL for anything but 1..18 digits. */
int auth_cache_decode_ms(const char *in, size_t len, int64_t *out);

/*
 * ---- failed logins (loginlimit.c) ----
 *
 * Who may try a password now. The policy, in docs terms:
 * - per account and client address together (login_limit): N failures
 *   in a row, then a lock that doubles with each further failure
 *   (login_backoff up to login_backoff_max); a success clears it;
 * - per client address (login_client_limit): failures on any account, a
 *   fixed window, against one address stuffing many accounts;
 * - per account (login_account_limit): failures from any address, a
 *   fixed window, refusing only the addresses that have failed on it, so
 *   that its owner on a clean address always gets in.
 * With a cache provider the counts are shared by every replica
 * ("auth:login:<account>:<address>", "auth:login-client:<address>",
 * "auth:login-account:<account>", the account a hash of the email); this
 * interface is all the routes see.
 */
typedef struct auth_login_limits {
	long pair_n;
	int64_t pair_period_ms, backoff_ms, backoff_max_ms;
	long client_n;
	int64_t client_period_ms;
	long account_n;
	int64_t account_period_ms;
	size_t max_keys;         /* per table */
	const auth_cache *cache; /* shared counts; NULL: this process only */
} auth_login_limits;

typedef struct auth_login_guard auth_login_guard;

/* NULL when memory ran out. */
auth_login_guard *auth_login_guard_new(const auth_login_limits *lim);
void auth_login_guard_free(auth_login_guard *g);

/* 0 when client may try account's password now; else the seconds to
 * wait (Retry-After). */
int64_t auth_login_guard_check(auth_login_guard *g, const char *account,
                               const char *client, int64_t now_ms);
/* A wrong password for account from client. */
void auth_login_guard_failed(auth_login_guard *g, const char *account,
                             const char *client, int64_t now_ms);
/* A right one: the pair starts afresh. */
void auth_login_guard_passed(auth_login_guard *g, const char *account,
                             const char *client);

/* ---- recently read users (usercache.c) ---- */

typedef struct auth_user_cache auth_user_cache;

/* A cache keeping each user for ttl_ms; NULL when ttl_ms is 0 (no cache)
 * or memory ran out. Every function below accepts NULL: nothing cached. */
auth_user_cache *auth_user_cache_new(int64_t ttl_ms);
void auth_user_cache_free(auth_user_cache *c);

/*
 * Copy the cached id, email, admin and disabled of user id into *out
 * (other fields zero) and return true while it is fresh. On a miss,
 * *gen receives what auth_user_cache_put needs to refuse a row read
 * before a drop.
 */
bool auth_user_cache_get(auth_user_cache *c, const char *id, vbx_user *out,
                         uint64_t *gen);

/* Keep u, read from the store after the get that gave gen; ignored when
 * a drop came in between. */
void auth_user_cache_put(auth_user_cache *c, const vbx_user *u, uint64_t gen);

/* Forget user id: call after every change to a user. */
void auth_user_cache_drop(auth_user_cache *c, const char *id);

/* Forget every user (a principal_changed about many users). */
void auth_user_cache_clear(auth_user_cache *c);

/*
 * ---- the user cache every replica shares (principal.c) ----
 *
 * The user read to authenticate, kept principal_cache in the shared
 * cache under "auth:user:<id>" and guarded by a generation
 * "auth:gen:<id>" (plugins/auth/README.md says why).
 */

/* The user of id: this process's cache, the shared cache, then the
 * store (filling both). The store's answer. */
int auth_user_lookup(auth *a, const char *id, vbx_user *u);

/* Forget user id everywhere: move its generation on, delete its shared
 * entry, drop it here. Call after the store committed a change to it and
 * before publishing principal_changed. */
void auth_user_forget(auth *a, const char *id);

/* Subscribe to principal_changed: every replica drops its own entries
 * of the user and deletes the shared one again. VBX_OK or an error. */
int auth_principal_subscribe(auth *a);

/* The request_admit hook: api_limit per user (admit.c). */
int auth_request_admit(void *ud, const vbx_principal *who, const char *method,
                       const char *route, vbx_admit *out);

/* ---- the plugin's state ---- */

enum auth_registration {
	AUTH_REG_FIRST_USER,
	AUTH_REG_OPEN,
	AUTH_REG_CLOSED,
};

/* The store hooks the plugin runs, fetched in init. */
typedef struct auth_store {
	vbx_hook *user_create, *user_get, *user_by_email, *user_update,
	        *user_list;
	vbx_hook *key_create, *key_use, *key_list, *key_revoke;
	vbx_hook *refresh_create, *refresh_use, *refresh_revoke_family,
	        *refresh_revoke_user;
	vbx_hook *member_get, *project_get;
	vbx_hook *audit_add, *audit_list;
	vbx_hook *env_get; /* an environment's project, team and owner */
	vbx_hook *refresh_family_live;
} auth_store;

struct auth {
	vbx_plugin *self;
	enum auth_registration registration;
	size_t password_min;
	auth_argon2 argon2;
	unsigned hash_concurrency; /* read by read_config, applied by init */
	/* The signing keys, swapped whole by a config reload. Rings it
	 * replaces stay (older) until fini: a worker may still read one. */
	auth_keyring *_Atomic keys;
	int64_t access_ttl_ms;
	int64_t refresh_ttl_ms;
	int64_t ws_ticket_ttl_ms;
	auth_login_guard *logins; /* failed logins and currentPasswords */
	auth_limiter *register_client;
	char dummy_hash[AUTH_HASH_MAX]; /* verified for unknown emails */
	auth_user_cache *users;         /* NULL: user_cache = 0 */
	int64_t principal_cache_ms;     /* shared user entries; 0: none */
	auth_limiter *api;              /* api_limit; NULL: off */
	auth_cache cache;
	auth_store st;
	vbx_event *principal_changed;
};

/* The current signing keys (plugin.c). */
const auth_keyring *auth_keys(auth *a);

/* Now, in Unix milliseconds. */
int64_t auth_now_ms(void);

/* Write an audit row; failures are logged, never fatal. */
void auth_audit(auth *a, const char *actor, const char *action,
                const char *target_type, const char *target_id,
                const char *client, const char *detail);

/* The authenticate and authorize hooks (authz.c, plugin.c). */
int auth_authenticate(void *ud, const char *bearer, const char *client_addr,
                      vbx_principal *out);
int auth_authorize(void *ud, const vbx_principal *who, const char *action,
                   const vbx_resource *res);

/* ---- metrics (metrics.c) ---- */

/* How a credential came, the label `method` of auth_attempts_total. */
enum auth_method {
	AUTH_METHOD_PASSWORD,
	AUTH_METHOD_REFRESH,
	AUTH_METHOD_API_KEY,
	AUTH_METHOD_TOKEN,
	AUTH_METHOD_TICKET,
	AUTH_METHOD_COUNT
};

/* Which limit gave a 429, the label `limit` of rate_limited_total. */
enum auth_limit {
	AUTH_LIMIT_LOGIN,
	AUTH_LIMIT_REGISTER,
	AUTH_LIMIT_API,
	AUTH_LIMIT_COUNT
};

/* Declare the families and resolve every series (at init). VBX_OK, or
 * VBX_ERR when the registry refused a family (it logged why). */
int auth_metrics_init(vbx_plugin *p);
/* Count one check of a credential by its outcome rc: VBX_OK is ok,
 * EUNAUTH, ENOTFOUND, EDENIED and DECLINED invalid, EAGAIN locked,
 * anything else error. Returns rc. Lock-free. */
int auth_count_attempt(enum auth_method m, int rc);
/* Count one 429 given by limit l. Lock-free. */
void auth_count_limited(enum auth_limit l);

/* ---- revocation of open sockets (revoke.c) ---- */

/* Tell the daemon (and other replicas, through an event bridge) that
 * user_id's access changed; publish after the store committed it. reason
 * is a VBX_REVOKE_* reason; credential_id NULL or a key or family id. */
void auth_principal_changed(auth *a, const char *user_id, const char *reason,
                            const char *credential_id);

/* The principal_check hook: is the socket's credential still valid? */
int auth_principal_check(void *ud, const char *bearer,
                         const vbx_principal *who);

/* Register the HTTP routes (routes.c). */
int auth_routes_add(auth *a);

#endif
