/* SPDX-License-Identifier: Apache-2.0 */
/* kv.c - cache_get, cache_set (always with a TTL) and cache_delete. */
#include <stdio.h>
#include <string.h>

#include "rc.h"

#define RC_KEYBUF (VBX_CACHE_KEY_MAX + RC_PREFIX_MAX + 16)

static int cache_get(void *ud, const char *key, void *buf, size_t len,
                     size_t *out_len)
{
	rcache *r = ud;
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

int rc_kv_register(rcache *r)
{
	int rc = vbx_hook_cache_get_register(r->self, cache_get, r,
	                                     VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_set_register(r->self, cache_set, r,
		                                 VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_delete_register(r->self, cache_delete, r,
		                                    VBX_PRIO_MIDDLE);
	return rc;
}
