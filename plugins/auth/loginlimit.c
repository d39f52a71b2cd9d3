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
	if (lim->cache) {
		auth_limiter_share(g->pair, lim->cache, "login");
		auth_limiter_share(g->client, lim->cache, "login-client");
		auth_limiter_share(g->account, lim->cache, "login-account");
	}
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

/* The keys of an attempt: the email hashed (no email reaches a shared
 * cache) and the address as it is, unless it has odd characters
 * (auth_cache_token); the pair is "<account>:<address>". */
typedef struct keys {
	char account[AUTH_CACHE_TOKEN], client[AUTH_CACHE_TOKEN];
	char pair[2 * AUTH_CACHE_TOKEN];
} keys;

static void make_keys(keys *k, const char *account, const char *client)
{
	char hex[AUTH_SHA256_HEX];
	auth_sha256_hex(account, hex);
	snprintf(k->account, sizeof(k->account), "%.32s", hex);
	auth_cache_token(client, k->client);
	snprintf(k->pair, sizeof(k->pair), "%s:%s", k->account, k->client);
}

int64_t auth_login_guard_check(auth_login_guard *g, const char *account,
                               const char *client, int64_t now_ms)
{
	keys k = {.account = ""};
	make_keys(&k, account, client);
	int64_t wait = auth_limiter_check(g->pair, k.pair, now_ms);
	int64_t w = auth_limiter_check(g->client, k.client, now_ms);
	if (w > wait)
		wait = w;
	if (auth_limiter_count(g->pair, k.pair, now_ms) > 0) {
		w = auth_limiter_check(g->account, k.account, now_ms);
		if (w > wait)
			wait = w;
	}
	return wait;
}

void auth_login_guard_failed(auth_login_guard *g, const char *account,
                             const char *client, int64_t now_ms)
{
	keys k = {.account = ""};
	make_keys(&k, account, client);
	auth_limiter_hit(g->pair, k.pair, now_ms);
	auth_limiter_hit(g->client, k.client, now_ms);
	auth_limiter_hit(g->account, k.account, now_ms);
}

void auth_login_guard_passed(auth_login_guard *g, const char *account,
                             const char *client)
{
	keys k = {.account = ""};
	make_keys(&k, account, client);
	auth_limiter_clear(g->pair, k.pair);
}
