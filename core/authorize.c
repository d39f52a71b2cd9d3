/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authorize.c - the verdict of docs/permissions.md on top of the authorize
 * hook: a resource the caller may not even read does not exist for it
 * (404), one it may read but not change is forbidden (403). The core's
 * WebSockets use it, and plugins through the host table
 * (vbx_authorize_verdict in catalog.h).
 */
#include "vbx_build.h"

#include <string.h>

#include "server.h"

static int authorize_once(const vbx_principal *who, const char *action,
                          const vbx_resource *res)
{
	int rc = vbx_hook_authorize_run(vbx__cat.authorize, who, action, res);
	return rc == VBX_DECLINED ? VBX_EDENIED : rc;
}

/* The verdict once the hook answered rc to action: a denial on one
 * resource asks again whether who may at least read it. */
static int verdict_after(const vbx_principal *who, const char *action,
                         const vbx_resource *res, int rc, const char **failed)
{
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

int vbx__authorize_verdict(const vbx_principal *who, const char *action,
                           const vbx_resource *res, const char **failed)
{
	*failed = action;
	return verdict_after(who, action, res, authorize_once(who, action, res),
	                     failed);
}

/* The vbx_authorize_verdict_row() run on this thread, for its handlers
 * (vbx_authorize_context); NULL outside one. */
typedef struct verdict_ctx {
	const vbx_resource *res;
	const vbx_resource_row *row;
	bool taken; /* the running handler asked for it */
} verdict_ctx;
static _Thread_local verdict_ctx *current;

int vbx__authorize_context(const vbx_resource *res,
                           const vbx_resource_row **row)
{
	*row = NULL;
	if (!current || current->res != res)
		return VBX_ENOTFOUND;
	current->taken = true;
	*row = current->row;
	return VBX_OK;
}

/* The hook's FIRST run, by hand: `taken` must belong to the handler that
 * answers, not to one that looked and declined. */
static int run_with_context(verdict_ctx *ctx, const vbx_principal *who,
                            const char *action)
{
	const vbx_hook *h = vbx__cat.authorize;
	verdict_ctx *outer = current;
	int rc = VBX_EDENIED;

	current = ctx;
	for (size_t i = 0; i < h->count; i++) {
		vbx_hook_authorize_fn *fn =
		        (vbx_hook_authorize_fn *)h->entries[i].fn;
		ctx->taken = false;
		rc = fn(h->entries[i].ud, who, action, ctx->res);
		if (rc != VBX_DECLINED)
			break;
	}
	current = outer;
	return rc == VBX_DECLINED ? VBX_EDENIED : rc;
}

int vbx__authorize_verdict_row(const vbx_principal *who, const char *action,
                               const vbx_resource *res,
                               const vbx_resource_row *row, const char **failed)
{
	verdict_ctx ctx = {res, row, false};
	*failed = action;
	int rc = run_with_context(&ctx, who, action);
	if (!ctx.taken)
		/* A handler that does not know the context: EDENIED does
		 * not say whether who may read, so ask as before. */
		return rc == VBX_ENOTFOUND
		               ? rc
		               : verdict_after(who, action, res, rc, failed);
	if (!res->id) /* a collection: no 404 to tell apart */
		return rc == VBX_ENOTFOUND ? VBX_EDENIED : rc;
	if (rc != VBX_ENOTFOUND && rc != VBX_EDENIED)
		return rc;
	if (strcmp(action, "read") == 0)
		return VBX_ENOTFOUND;
	*failed = "read"; /* as the two runs: "read" chose 404 or 403 */
	return rc;
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
