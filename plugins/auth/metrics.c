/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - what the auth plugin exports through the metric registry:
 *
 *   auth_attempts_total{method,result}  counter, one per credential the
 *       plugin checks. method: password (POST /api/v1/auth/login),
 *       refresh (POST /api/v1/auth/refresh), api_key, token (a JWT access
 *       token) and ticket (a WebSocket ticket) - the last three on every
 *       authenticated request. result: ok; invalid (unknown, wrong,
 *       expired, revoked, disabled user, or not a token of ours); locked
 *       (a login refused before checking: too many failures for that
 *       email from that address); error (the store failed).
 *   rate_limited_total{limit}  counter, one per 429 the plugin gives.
 *       limit: login (failed-login lockout, login and currentPassword),
 *       register (the per-address registration limit) and api
 *       (api_limit, per user).
 *
 * Every series is resolved at init into the arrays below.
 */
#include <vibebox/metrics.h>

#include "auth.h"

static const char *const method_names[AUTH_METHOD_COUNT] = {
        [AUTH_METHOD_PASSWORD] = "password", [AUTH_METHOD_REFRESH] = "refresh",
        [AUTH_METHOD_API_KEY] = "api_key",   [AUTH_METHOD_TOKEN] = "token",
        [AUTH_METHOD_TICKET] = "ticket",
};

enum { R_OK, R_INVALID, R_LOCKED, R_ERROR, R_COUNT };
static const char *const result_names[R_COUNT] = {"ok", "invalid", "locked",
                                                  "error"};

static const char *const limit_names[AUTH_LIMIT_COUNT] = {
        [AUTH_LIMIT_LOGIN] = "login",
        [AUTH_LIMIT_REGISTER] = "register",
        [AUTH_LIMIT_API] = "api",
};

/* Process-wide: series live as long as the daemon. */
static vbx_series *attempts[AUTH_METHOD_COUNT][R_COUNT];
static vbx_series *limited[AUTH_LIMIT_COUNT];

int auth_metrics_init(vbx_plugin *p)
{
	static const char *const attempt_labels[] = {"method", "result", NULL};
	static const char *const limit_labels[] = {"limit", NULL};
	vbx_metric *a = vbx_metric_counter(
	        p, "auth_attempts_total",
	        "Credentials checked by the auth plugin, by method and result.",
	        attempt_labels);
	vbx_metric *l = vbx_metric_counter(
	        p, "rate_limited_total",
	        "Requests the auth plugin refused with 429, by limit.",
	        limit_labels);

	if (!a || !l)
		return VBX_ERR; /* the registry logged why */
	for (int m = 0; m < AUTH_METHOD_COUNT; m++)
		for (int r = 0; r < R_COUNT; r++)
			attempts[m][r] = vbx_metric_series(
			        a, (const char *const[]){method_names[m],
			                                 result_names[r]});
	for (int i = 0; i < AUTH_LIMIT_COUNT; i++)
		limited[i] = vbx_metric_series(l, &limit_names[i]);
	return VBX_OK;
}

static int result_of(int rc)
{
	switch (rc) {
	case VBX_OK:
		return R_OK;
	case VBX_EUNAUTH:
	case VBX_ENOTFOUND:
	case VBX_EDENIED:
	case VBX_DECLINED:
		return R_INVALID;
	case VBX_EAGAIN:
		return R_LOCKED;
	default:
		return R_ERROR;
	}
}

int auth_count_attempt(enum auth_method m, int rc)
{
	vbx_counter_inc(attempts[m][result_of(rc)]);
	return rc;
}

void auth_count_limited(enum auth_limit l)
{
	vbx_counter_inc(limited[l]);
}
