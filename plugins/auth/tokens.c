/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokens.c - the plugin's opaque secrets: refresh tokens ("vbr_...") and
 * API keys ("vbx_..."). Each is 32 random bytes from RAND_bytes in
 * base64url behind a prefix that says what it is. The store never sees a
 * secret, only its SHA-256 in hex: a token has 256 bits of entropy, so a
 * fast hash is enough and lets the store look it up by an index.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"

int auth_token_new(const char *prefix, char *out)
{
	unsigned char raw[AUTH_TOKEN_RANDOM];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return VBX_ERR;
	size_t n = strlen(prefix);
	memcpy(out, prefix, n);
	auth_b64url_encode(raw, sizeof(raw), out + n);
	OPENSSL_cleanse(raw, sizeof(raw));
	return VBX_OK;
}

bool auth_token_wellformed(const char *prefix, const char *s)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0 || strlen(s) != AUTH_TOKEN_LEN)
		return false;
	unsigned char raw[AUTH_TOKEN_RANDOM];
	return auth_b64_decode(s + n, AUTH_TOKEN_LEN - n, false, raw,
	                       sizeof(raw)) == AUTH_TOKEN_RANDOM;
}

void auth_sha256_hex(const char *s, char out[AUTH_SHA256_HEX])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	vbx_hex_encode(md, sizeof(md), out, AUTH_SHA256_HEX);
}

/* ---- refresh tokens ---- */

int auth_refresh_issue(auth *a, const char *user_id, const char *family_id,
                       char *token, char *family_out)
{
	vbx_refresh t = {0};
	char hash[AUTH_SHA256_HEX];

	if (auth_token_new(AUTH_REFRESH_PREFIX, token) != VBX_OK)
		return VBX_ERR;
	snprintf(t.user_id, sizeof(t.user_id), "%s", user_id);
	snprintf(t.family_id, sizeof(t.family_id), "%s",
	         family_id ? family_id : "");
	t.expires_at = auth_now_ms() + a->refresh_ttl_ms;
	auth_sha256_hex(token, hash);
	int rc = vbx_hook_store_refresh_create_run(a->st.refresh_create, &t,
	                                           hash);
	snprintf(family_out, VBX_ID_LEN, "%s", rc == VBX_OK ? t.family_id : "");
	return rc;
}

/*
 * Use a refresh token once. VBX_OK with *t filled: it was live; the
 * caller issues the next one of the family. A token used before is a
 * stolen copy or a replay: its whole family is revoked, the reuse is
 * audited, and the answer is VBX_EUNAUTH like any bad token.
 */
int auth_refresh_use(auth *a, const char *token, const char *client,
                     vbx_refresh *t)
{
	char hash[AUTH_SHA256_HEX];

	memset(t, 0, sizeof(*t));
	if (!auth_token_wellformed(AUTH_REFRESH_PREFIX, token))
		return VBX_EUNAUTH;
	auth_sha256_hex(token, hash);
	int rc = vbx_hook_store_refresh_use_run(a->st.refresh_use, hash, t);
	if (rc == VBX_EEXIST) {
		if (t->family_id[0])
			rc = vbx_hook_store_refresh_revoke_family_run(
			        a->st.refresh_revoke_family, t->family_id);
		auth_audit(a, t->user_id, "auth.refresh.reuse", "user",
		           t->user_id, client,
		           "a used refresh token was presented again; its "
		           "family is revoked");
		if (rc == VBX_OK)
			auth_principal_changed(a, t->user_id,
			                       VBX_REVOKE_FAMILY_REVOKED,
			                       t->family_id);
		return rc == VBX_EUNAVAIL ? rc : VBX_EUNAUTH;
	}
	if (rc == VBX_ENOTFOUND)
		return VBX_EUNAUTH;
	if (rc != VBX_OK)
		return rc == VBX_EUNAVAIL ? rc : VBX_ERR;
	if (t->expires_at <= auth_now_ms())
		return VBX_EUNAUTH;
	return VBX_OK;
}

/* Revoke the family of a refresh token (logout). Unknown tokens are
 * already as good as logged out: VBX_OK. */
int auth_refresh_revoke(auth *a, const char *token, vbx_refresh *t)
{
	char hash[AUTH_SHA256_HEX];

	memset(t, 0, sizeof(*t));
	if (!auth_token_wellformed(AUTH_REFRESH_PREFIX, token))
		return VBX_OK;
	auth_sha256_hex(token, hash);
	int rc = vbx_hook_store_refresh_use_run(a->st.refresh_use, hash, t);
	if ((rc == VBX_OK || rc == VBX_EEXIST) && t->family_id[0])
		rc = vbx_hook_store_refresh_revoke_family_run(
		        a->st.refresh_revoke_family, t->family_id);
	else if (rc == VBX_ENOTFOUND) {
		memset(t, 0, sizeof(*t));
		rc = VBX_OK;
	}
	return rc;
}

/* ---- API keys ---- */

/* Create k (user_id, name, scopes, expires_at set by the caller) with a
 * new secret written to key (AUTH_TOKEN_LEN + 1 bytes). */
int auth_key_create(auth *a, vbx_api_key *k, char *key)
{
	char hash[AUTH_SHA256_HEX];

	if (auth_token_new(AUTH_KEY_PREFIX, key) != VBX_OK)
		return VBX_ERR;
	snprintf(k->prefix, sizeof(k->prefix), "%.*s", AUTH_SHOWN_PREFIX, key);
	auth_sha256_hex(key, hash);
	return vbx_hook_store_key_create_run(a->st.key_create, k, hash);
}

int auth_user_update(auth *a, vbx_user *u, const char *password_hash)
{
	int rc = vbx_hook_store_user_update_run(a->st.user_update, u,
	                                        password_hash);
	/* Forgotten whatever the answer: a timeout may still have written. */
	auth_user_forget(a, u->id);
	return rc;
}

int auth_principal_for(auth *a, const char *user_id, unsigned scopes,
                       unsigned flags, vbx_principal *out)
{
	vbx_user u = {0};
	int rc = auth_user_lookup(a, user_id, &u);
	if (rc == VBX_EUNAVAIL)
		return rc;
	if (rc != VBX_OK || u.disabled)
		return VBX_EUNAUTH;
	snprintf(out->user_id, sizeof(out->user_id), "%s", u.id);
	snprintf(out->email, sizeof(out->email), "%s", u.email);
	out->scopes =
	        scopes & (VBX_SCOPE_READ | VBX_SCOPE_WRITE | VBX_SCOPE_ADMIN);
	out->flags = flags;
	if (u.admin && (scopes & VBX_SCOPE_ADMIN))
		out->flags |= VBX_PRINCIPAL_ADMIN;
	return VBX_OK;
}

/*
 * The principal of an API key. An admin's key acts as an admin only when
 * it carries the admin scope, so that a read-only key of an admin cannot
 * reach admin-only routes of other plugins that check the flag alone.
 */
/* The live, unexpired key `bearer` into *k. */
static int key_of(auth *a, const char *bearer, vbx_api_key *k)
{
	char hash[AUTH_SHA256_HEX];

	memset(k, 0, sizeof(*k));
	if (!auth_token_wellformed(AUTH_KEY_PREFIX, bearer))
		return VBX_EUNAUTH;
	auth_sha256_hex(bearer, hash);
	int rc = vbx_hook_store_key_use_run(a->st.key_use, hash, k);
	if (rc == VBX_EUNAVAIL)
		return rc;
	if (rc != VBX_OK || (k->expires_at && k->expires_at <= auth_now_ms()))
		return VBX_EUNAUTH;
	return VBX_OK;
}

int auth_key_authenticate(auth *a, const char *bearer, vbx_principal *out)
{
	vbx_api_key k;

	int rc = key_of(a, bearer, &k);
	if (rc != VBX_OK)
		return rc;
	return auth_principal_for(a, k.user_id, k.scopes, VBX_PRINCIPAL_APIKEY,
	                          out);
}

int auth_key_id(auth *a, const char *bearer, char *id)
{
	vbx_api_key k;

	int rc = key_of(a, bearer, &k);
	snprintf(id, VBX_ID_LEN, "%s", rc == VBX_OK ? k.id : "");
	return rc;
}

typedef struct key_search {
	const char *id;
	bool found;
} key_search;

static int find_key(void *ctx, const vbx_api_key *k)
{
	key_search *s = ctx;
	if (strcmp(k->id, s->id) == 0 &&
	    (!k->expires_at || k->expires_at > auth_now_ms()))
		s->found = true;
	return VBX_OK;
}

int auth_key_live(auth *a, const char *user_id, const char *key_id)
{
	key_search s = {.id = key_id};

	int rc = vbx_hook_store_key_list_run(a->st.key_list, user_id, find_key,
	                                     &s);
	if (rc != VBX_OK)
		return rc == VBX_EUNAVAIL ? rc : VBX_EUNAVAIL;
	return s.found ? VBX_OK : VBX_ENOTFOUND;
}
