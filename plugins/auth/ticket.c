/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ticket.c - WebSocket tickets ("vbt_..."): short-lived credentials small
 * enough for a browser's Sec-WebSocket-Protocol list, which libwebsockets
 * caps near 126 bytes while an access token is about 250.
 *
 * A ticket is stateless: a user id, an expiry and scopes under a
 * truncated HMAC-SHA256 keyed with the JWT signing key, so any replica
 * with the same jwt_secret accepts it and nothing is stored. The MAC
 * input starts with a fixed domain string that no JWT signing input can
 * start with (it holds a space), so a MAC of one kind never passes for
 * the other. Every key of the ring verifies, as for access tokens, so a
 * rotation does not break tickets in flight.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"

#define OFF_EXP 16 /* after the user id's 16 bytes */
#define OFF_SCOPES 20
#define OFF_CRED 21

static const unsigned char no_cred[16];

/* The truncated MAC of body under key k into mac. */
static bool ticket_mac(const auth_jwt_key *k,
                       const unsigned char body[AUTH_TICKET_BODY],
                       unsigned char mac[AUTH_TICKET_MAC])
{
	static const char domain[] = AUTH_TICKET_DOMAIN; /* with its NUL */
	unsigned char msg[sizeof(domain) + AUTH_TICKET_BODY];
	unsigned char full[AUTH_HMAC_LEN];

	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), body, AUTH_TICKET_BODY);
	bool ok = auth_hmac_sha256(k, msg, sizeof(msg), full);
	if (ok)
		memcpy(mac, full, AUTH_TICKET_MAC);
	OPENSSL_cleanse(full, sizeof(full));
	return ok;
}

static bool scopes_valid(unsigned byte)
{
	return (byte & ~(AUTH_TICKET_SCOPES | AUTH_TICKET_APIKEY)) == 0 &&
	       (byte & AUTH_TICKET_SCOPES) != 0;
}

int auth_ticket_encode(const auth_keyring *kr, const auth_ticket *t, char *out)
{
	unsigned char raw[AUTH_TICKET_RAW];

	if (kr->count == 0 || t->exp < 1 || t->exp > (int64_t)UINT32_MAX ||
	    (t->scopes & ~AUTH_TICKET_SCOPES) || !scopes_valid(t->scopes) ||
	    vbx_uuid_to_bytes(t->user_id, raw) != VBX_OK)
		return VBX_EINVAL;
	if (!t->cred_id[0])
		memset(raw + OFF_CRED, 0, 16);
	else if (vbx_uuid_to_bytes(t->cred_id, raw + OFF_CRED) != VBX_OK)
		return VBX_EINVAL;
	uint32_t exp = (uint32_t)t->exp;
	raw[OFF_EXP] = (unsigned char)(exp >> 24);
	raw[OFF_EXP + 1] = (unsigned char)(exp >> 16);
	raw[OFF_EXP + 2] = (unsigned char)(exp >> 8);
	raw[OFF_EXP + 3] = (unsigned char)exp;
	raw[OFF_SCOPES] = (unsigned char)(t->scopes |
	                                  (t->apikey ? AUTH_TICKET_APIKEY : 0));
	if (!ticket_mac(&kr->keys[0], raw, raw + AUTH_TICKET_BODY))
		return VBX_EINVAL;
	memcpy(out, AUTH_TICKET_PREFIX, 4);
	auth_b64url_encode(raw, sizeof(raw), out + 4);
	return VBX_OK;
}

/* Does any key of the ring make this MAC? Every key is tried, each
 * compared in constant time. */
static bool mac_matches(const auth_keyring *kr,
                        const unsigned char raw[AUTH_TICKET_RAW])
{
	unsigned char want[AUTH_TICKET_MAC];
	bool ok = false;

	for (size_t i = 0; i < kr->count; i++)
		if (ticket_mac(&kr->keys[i], raw, want) &&
		    CRYPTO_memcmp(want, raw + AUTH_TICKET_BODY,
		                  AUTH_TICKET_MAC) == 0)
			ok = true;
	return ok;
}

int auth_ticket_verify(const auth_keyring *kr, const char *s, int64_t now,
                       auth_ticket *out)
{
	unsigned char raw[AUTH_TICKET_RAW];

	memset(out, 0, sizeof(*out));
	if (strncmp(s, AUTH_TICKET_PREFIX, 4) != 0 ||
	    strnlen(s, AUTH_TICKET_LEN + 1) != AUTH_TICKET_LEN ||
	    auth_b64_decode(s + 4, AUTH_TICKET_LEN - 4, false, raw,
	                    sizeof(raw)) != AUTH_TICKET_RAW ||
	    !mac_matches(kr, raw))
		return VBX_EUNAUTH;
	uint32_t exp = (uint32_t)raw[OFF_EXP] << 24 |
	               (uint32_t)raw[OFF_EXP + 1] << 16 |
	               (uint32_t)raw[OFF_EXP + 2] << 8 | raw[OFF_EXP + 3];
	if ((int64_t)exp <= now || !scopes_valid(raw[OFF_SCOPES]))
		return VBX_EUNAUTH;
	vbx_uuid_from_bytes(raw, out->user_id);
	out->exp = exp;
	out->scopes = raw[OFF_SCOPES] & AUTH_TICKET_SCOPES;
	out->apikey = (raw[OFF_SCOPES] & AUTH_TICKET_APIKEY) != 0;
	if (memcmp(raw + OFF_CRED, no_cred, sizeof(no_cred)) != 0)
		vbx_uuid_from_bytes(raw + OFF_CRED, out->cred_id);
	return VBX_OK;
}

/*
 * The principal of a ticket, by auth_principal_for like an API key's: the
 * scopes are the ticket's (an API key's ticket keeps that key's scopes).
 * A JWT's ticket carries all three scopes, so it is admin exactly when the
 * user is.
 */
int auth_ticket_authenticate(auth *a, const char *bearer, vbx_principal *out)
{
	auth_ticket t;

	if (auth_ticket_verify(auth_keys(a), bearer, auth_now_ms() / 1000,
	                       &t) != VBX_OK)
		return VBX_EUNAUTH;
	return auth_principal_for(a, t.user_id, t.scopes,
	                          t.apikey ? VBX_PRINCIPAL_APIKEY : 0, out);
}
