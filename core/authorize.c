/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authorize.c - the verdict of docs/permissions.md on top of the authorize
 * hook: a resource the caller may not even read does not exist for it
 * (404), one it may read but not change is forbidden (403). The core's
 * WebSockets use it, and plugins through the host table
 * (vbx_authorize_verdict in hooks.h).
 */
#include "config.h"

#include <string.h>

#include "server.h"

static int authorize_once(const vbx_principal *who, const char *action,
                          const vbx_resource *res)
{
	int rc = vbx_hook_authorize_run(vbx__cat.authorize, who, action, res);
	return rc == VBX_DECLINED ? VBX_EDENIED : rc;
}

int vbx__authorize_verdict(const vbx_principal *who, const char *action,
                           const vbx_resource *res, const char **failed)
{
	*failed = action;
	int rc = authorize_once(who, action, res);
	if (rc != VBX_EDENIED || !res->id)
		return rc;
	if (strcmp(action, "read") == 0)
		return VBX_ENOTFOUND;
	*failed = "read";
	rc = authorize_once(who, "read", res);
	return rc == VBX_OK        ? VBX_EDENIED
	       : rc == VBX_EDENIED ? VBX_ENOTFOUND
	                           : rc;
}

bool vbx__uuid_ok(const char *s)
{
	for (size_t i = 0; i < VBX_ID_LEN - 1; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		           (c >= 'A' && c <= 'F');
		if (dash ? c != '-' : !hex)
			return false; /* also stops at a short string's NUL */
	}
	return s[VBX_ID_LEN - 1] == '\0';
}
