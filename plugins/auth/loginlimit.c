/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loginlimit.c - who may try a password now (auth.h, "failed logins").
 *
 * Counting failures per account alone let anyone who knows an email lock
 * its owner out; per address alone, one guesser behind a NAT locked out
 * everyone behind it. So the lock that grows is per (account, address):
 * it only ever stops the address that failed. The two wider counts catch
 * what a pair cannot see: one address trying many accounts (refused
 * outright, since only that address is stopped), and many addresses
 * trying one account (refused only for addresses that have failed on it,
 * so the owner logging in from a clean address is never stopped).
 */
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"

struct auth_login_guard {
	auth_limiter *pair, *client, *account;
};

auth_login_guard *auth_login_guard_new(const auth_login_limits *lim)
{
	auth_login_guard *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->pair = auth_limiter_new(lim->pair_n, lim->pair_period_ms,
	                           lim->max_keys);
	g->client = auth_limiter_new(lim->client_n, lim->client_period_ms,
	                             lim->max_keys);
	g->account = auth_limiter_new(lim->account_n, lim->account_period_ms,
	                              lim->max_keys);
	if (!g->pair || !g->client || !g->account) {
		auth_login_guard_free(g);
		return NULL;
	}
	auth_limiter_backoff(g->pair, lim->backoff_ms, lim->backoff_max_ms);
	return g;
}

void auth_login_guard_free(auth_login_guard *g)
{
	if (!g)
		return;
	auth_limiter_free(g->pair);
	auth_limiter_free(g->client);
	auth_limiter_free(g->account);
	free(g);
}

/* An email has no control characters (routes.c refuses them), so a
 * newline cannot make two pairs collide. Longer keys are cut, which only
 * ever merges one very long email's pairs. */
static void pair_key(char *out, size_t size, const char *account,
                     const char *client)
{
	snprintf(out, size, "%s\n%s", client, account);
}

int64_t auth_login_guard_check(auth_login_guard *g, const char *account,
                               const char *client, int64_t now_ms)
{
	char key[512];
	pair_key(key, sizeof(key), account, client);
	int64_t wait = auth_limiter_check(g->pair, key, now_ms);
	int64_t w = auth_limiter_check(g->client, client, now_ms);
	if (w > wait)
		wait = w;
	if (auth_limiter_count(g->pair, key, now_ms) > 0) {
		w = auth_limiter_check(g->account, account, now_ms);
		if (w > wait)
			wait = w;
	}
	return wait;
}

void auth_login_guard_failed(auth_login_guard *g, const char *account,
                             const char *client, int64_t now_ms)
{
	char key[512];
	pair_key(key, sizeof(key), account, client);
	auth_limiter_hit(g->pair, key, now_ms);
	auth_limiter_hit(g->client, client, now_ms);
	auth_limiter_hit(g->account, account, now_ms);
}

void auth_login_guard_passed(auth_login_guard *g, const char *account,
                             const char *client)
{
	char key[512];
	pair_key(key, sizeof(key), account, client);
	auth_limiter_clear(g->pair, key);
}
