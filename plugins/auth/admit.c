/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admit.c - api_limit: at most N authenticated API requests per period
 * for each user, whichever replica serves them, with API keys counting
 * against the user who owns them.
 *
 * The daemon asks request_admit (catalog.h) after authentication and
 * before the route runs, and turns the answer into X-RateLimit-Limit,
 * X-RateLimit-Remaining and X-RateLimit-Reset on every authenticated
 * response, or into 429 TOO_MANY_REQUESTS with Retry-After. The count is
 * the shared cache's sliding window ("auth:api:<user id>") while a
 * provider answers, this process's fixed window when it does not.
 */
#include "auth.h"

int auth_request_admit(void *ud, const vbx_principal *who, const char *method,
                       const char *route, vbx_admit *out)
{
	auth *a = ud;
	vbx_rate r;

	(void)method;
	(void)route;
	if (!a->api || !who->user_id[0])
		return VBX_DECLINED;
	int rc =
	        auth_limiter_take_rate(a->api, who->user_id, auth_now_ms(), &r);
	out->limit = r.limit;
	out->remaining = r.remaining;
	out->reset_ms = r.reset_ms;
	out->retry_after_ms = rc == VBX_EAGAIN ? r.retry_after_ms : 0;
	if (rc != VBX_EAGAIN)
		return VBX_OK;
	auth_count_limited(AUTH_LIMIT_API); /* the daemon answers 429 */
	return VBX_EAGAIN;
}
