/* SPDX-License-Identifier: Apache-2.0 */
/*
 * revoke.c - revocation reaches open sockets: the auth plugin publishes
 * principal_changed when it revokes something, and answers the daemon's
 * principal_check for each socket of that user.
 *
 * A socket outlives the expiry of the access token or ticket it opened
 * with, so the check verifies the credential's signature but not its
 * time, then asks the store what can revoke it: the user (missing,
 * disabled, no longer admin), the API key (revoked), or the access
 * token's refresh family (logout, reuse, password change).
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"

void auth_principal_changed(auth *a, const char *user_id, const char *reason,
                            const char *credential_id)
{
	vbx_principal_changed_event ev = {.version = 1};

	snprintf(ev.user_id, sizeof(ev.user_id), "%s", user_id);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	snprintf(ev.credential_id, sizeof(ev.credential_id), "%s",
	         credential_id ? credential_id : "");
	int rc = a->principal_changed ? vbx_event_principal_changed_publish(
	                                        a->principal_changed, &ev)
	                              : VBX_ESTATE;
	if (rc != VBX_OK)
		vbx_log_warn(a->self,
		             "principal_changed (%s) for user %s not "
		             "published: %s; open sockets of the user keep "
		             "their access until they reconnect",
		             reason, user_id, vbx_strerror(a->self, rc));
}

/* The user as the store has it now (not the cache: another replica may
 * have changed it a moment ago). */
static int check_user(auth *a, const vbx_principal *who, unsigned flags)
{
	vbx_principal now = {0};

	auth_user_cache_drop(a->users, who->user_id);
	int rc = auth_principal_for(a, who->user_id, who->scopes, flags, &now);
	if (rc != VBX_OK)
		return rc;
	if ((who->flags & VBX_PRINCIPAL_ADMIN) &&
	    !(now.flags & VBX_PRINCIPAL_ADMIN))
		return VBX_EDENIED;
	return VBX_OK;
}

/* A store answer about a credential as principal_check's. */
static int live_as_check(int rc)
{
	if (rc == VBX_ENOTFOUND)
		return VBX_EUNAUTH;
	return rc == VBX_OK ? VBX_OK : VBX_EUNAVAIL;
}

/* A store built for an SDK before store_refresh_family_live cannot tell:
 * such sockets then close only on the changes of their user. */
static int family_live(auth *a, const char *family_id)
{
	if (!family_id[0] || a->st.refresh_family_live->count == 0)
		return VBX_OK; /* a token from before "fam", or that store */
	return live_as_check(vbx_hook_store_refresh_family_live_run(
	        a->st.refresh_family_live, family_id));
}

/* An access token: its signature (at any time) and its login's family. */
static int check_jwt(auth *a, const char *bearer, const vbx_principal *who)
{
	auth_claims c;

	int rc = auth_jwt_verify(auth_keys(a), bearer, AUTH_JWT_ANY_TIME, &c);
	if (rc != VBX_OK)
		return rc;
	if (strcmp(c.sub, who->user_id) != 0)
		return VBX_EUNAUTH;
	rc = family_live(a, c.fam);
	return rc == VBX_OK ? check_user(a, who, 0) : rc;
}

/* A ticket: the key or the login that asked for it, and its user. */
static int check_ticket(auth *a, const char *bearer, const vbx_principal *who)
{
	auth_ticket t;
	int rc;

	if (auth_ticket_verify(auth_keys(a), bearer, 0, &t) != VBX_OK ||
	    strcmp(t.user_id, who->user_id) != 0)
		return VBX_EUNAUTH;
	if (t.apikey && t.cred_id[0])
		rc = live_as_check(auth_key_live(a, t.user_id, t.cred_id));
	else
		rc = family_live(a, t.cred_id);
	if (rc != VBX_OK)
		return rc;
	return check_user(a, who, t.apikey ? VBX_PRINCIPAL_APIKEY : 0);
}

int auth_principal_check(void *ud, const char *bearer, const vbx_principal *who)
{
	auth *a = ud;
	vbx_principal now = {0};

	if (strncmp(bearer, AUTH_KEY_PREFIX, 4) == 0) {
		/* Keys do not expire behind a socket's back: authenticate. */
		auth_user_cache_drop(a->users, who->user_id);
		int rc = auth_key_authenticate(a, bearer, &now);
		if (rc == VBX_OK && (who->flags & VBX_PRINCIPAL_ADMIN) &&
		    !(now.flags & VBX_PRINCIPAL_ADMIN))
			rc = VBX_EDENIED;
		return rc;
	}
	if (strncmp(bearer, AUTH_REFRESH_PREFIX, 4) == 0)
		return VBX_EUNAUTH;
	if (strncmp(bearer, AUTH_TICKET_PREFIX, 4) == 0)
		return check_ticket(a, bearer, who);
	return check_jwt(a, bearer, who);
}
