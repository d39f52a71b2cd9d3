/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authn.c - who is asking: the bearer credential of a request and the
 * authenticate hook around it. Secure by default: without a plugin that
 * authenticates, no route that needs a principal is ever open.
 */
#include "vbx_build.h"

#include <string.h>
#include <strings.h>

#include "server.h"

vbx__catalog vbx__cat;

/* The token of a "bearer.<token>" entry in a Sec-WebSocket-Protocol list. */
static const char *bearer_from_protocols(const char *list, vbx__arena *a)
{
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (n > 7 && strncmp(p, "bearer.", 7) == 0)
			return vbx__arena_strndup(a, p + 7, n - 7);
		p += n;
	}
	return NULL;
}

const char *vbx__bearer(const char *authorization, const char *protocols,
                        vbx__arena *a)
{
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;
		while (*t == ' ')
			t++;
		return *t ? t : NULL;
	}
	return bearer_from_protocols(protocols, a);
}

static int deny(vbx_request *r, int status, const char *code, const char *msg)
{
	if (status == 401)
		vbx__resp_header(r, "www-authenticate", "Bearer");
	vbx__respond_error(r, status, code, "%s", msg);
	return status;
}

int vbx__authenticate(vbx_request *r, const char *bearer, unsigned flags,
                      vbx_principal *out, bool *has)
{
	*has = false;
	if (!vbx__cat.authenticate || vbx__cat.authenticate->count == 0)
		return deny(r, 503, "UNAVAILABLE",
		            "no plugin provides authentication (capability "
		            "\"authn\"); enable one, such as \"auth\", in the "
		            "plugins list of vibeboxd.conf");
	if (!bearer)
		return deny(r, 401, "UNAUTHORIZED",
		            "this endpoint needs a credential: send "
		            "\"Authorization: Bearer <token>\"");
	memset(out, 0, sizeof(*out));
	int rc = vbx_hook_authenticate_run(vbx__cat.authenticate, bearer,
	                                   r->client, out);
	if (rc == VBX_EUNAVAIL)
		return deny(r, 503, "UNAVAILABLE",
		            "authentication is unavailable: a dependency of "
		            "the authentication plugin is down");
	if (rc != VBX_OK)
		return deny(r, 401, "UNAUTHORIZED",
		            "the credential is invalid, expired or revoked");
	*has = true;
	if ((flags & VBX_ROUTE_ADMIN) && !(out->flags & VBX_PRINCIPAL_ADMIN))
		return deny(r, 403, "FORBIDDEN",
		            "this endpoint is for instance admins");
	return 0;
}
