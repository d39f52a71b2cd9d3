/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kv.c - cache_get, cache_set (always with a TTL) and cache_delete.
 *
 * cache_requests_total{result} counts the gets only: hit (the key holds
 * a value, also one too long for the caller's buffer), miss (absent or
 * expired), error (the server is down, slow or answered oddly, or the key
 * is invalid). Sets and deletes are not counted.
 */
#include <stdio.h>
#include <string.h>

#include <vibebox/metrics.h>

#include "rc.h"

#define RC_KEYBUF (VBX_CACHE_KEY_MAX + RC_PREFIX_MAX + 16)

enum { GET_HIT, GET_MISS, GET_ERROR, GET_RESULTS };
/* Process-wide: series live as long as the daemon. */
static vbx_series *gets[GET_RESULTS];

static int count_get(int rc)
{
	vbx_counter_inc(gets[rc == VBX_OK || rc == VBX_EAGAIN ? GET_HIT
	                     : rc == VBX_ENOTFOUND            ? GET_MISS
	                                                      : GET_ERROR]);
	return rc;
}

static int get_value(rcache *r, const char *key, void *buf, size_t len,
                     size_t *out_len)
{
	char k[RC_KEYBUF];
	redisReply *rep;

	if (rc_key(r, key, NULL, k, sizeof(k)) != VBX_OK || !out_len)
		return VBX_EINVAL;
	const char *argv[] = {"GET", k};
	const size_t lens[] = {3, strlen(k)};
	int rc = rc_command(r, &rep, 2, argv, lens);
	if (rc != VBX_OK)
		return rc;
	if (rep->type == REDIS_REPLY_NIL) {
		rc = VBX_ENOTFOUND;
	} else if (rep->type != REDIS_REPLY_STRING) {
		vbx_log_warn(r->self,
		             "redis-cache: GET %s: unexpected reply "
		             "%s",
		             key,
		             rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		rc = VBX_EUNAVAIL;
	} else {
		*out_len = rep->len;
		rc = rep->len > len ? VBX_EAGAIN : VBX_OK;
		if (rc == VBX_OK && rep->len)
			memcpy(buf, rep->str, rep->len);
	}
	freeReplyObject(rep);
	return rc;
}

static int cache_get(void *ud, const char *key, void *buf, size_t len,
                     size_t *out_len)
{
	return count_get(get_value(ud, key, buf, len, out_len));
}

static int cache_set(void *ud, const char *key, const void *value, size_t len,
                     int64_t ttl_ms)
{
	rcache *r = ud;
	char k[RC_KEYBUF], ttl[24];
	redisReply *rep;

	if (rc_key(r, key, NULL, k, sizeof(k)) != VBX_OK || ttl_ms <= 0 ||
	    (!value && len))
		return VBX_EINVAL;
	snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
	const char *argv[] = {"SET", k, value ? value : "", "PX", ttl};
	const size_t lens[] = {3, strlen(k), len, 2, strlen(ttl)};
	int rc = rc_command(r, &rep, 5, argv, lens);
	if (rc != VBX_OK)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR) {
		vbx_log_warn(r->self, "redis-cache: SET %s: %s", key, rep->str);
		rc = VBX_EUNAVAIL;
	}
	freeReplyObject(rep);
	return rc;
}

static int cache_delete(void *ud, const char *key)
{
	rcache *r = ud;
	char k[RC_KEYBUF];
	redisReply *rep;

	if (rc_key(r, key, NULL, k, sizeof(k)) != VBX_OK)
		return VBX_EINVAL;
	const char *argv[] = {"DEL", k};
	const size_t lens[] = {3, strlen(k)};
	int rc = rc_command(r, &rep, 2, argv, lens);
	if (rc != VBX_OK)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR)
		rc = VBX_EUNAVAIL;
	freeReplyObject(rep);
	return rc;
}

static int declare_metrics(rcache *r)
{
	static const char *const labels[] = {"result", NULL};
	static const char *const results[GET_RESULTS] = {"hit", "miss",
	                                                 "error"};
	vbx_metric *m = vbx_metric_counter(
	        r->self, "cache_requests_total",
	        "Cache reads (cache_get) by result: hit, miss, error.", labels);

	if (!m)
		return VBX_ERR; /* the registry logged why */
	for (int i = 0; i < GET_RESULTS; i++)
		gets[i] = vbx_metric_series(m, &results[i]);
	return VBX_OK;
}

int rc_kv_register(rcache *r)
{
	int rc = declare_metrics(r);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_get_register(r->self, cache_get, r,
		                                 VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_set_register(r->self, cache_set, r,
		                                 VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_delete_register(r->self, cache_delete, r,
		                                    VBX_PRIO_MIDDLE);
	return rc;
}
