/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cachekit.c - a plugin that drives the cache hooks (<vibebox/cache.h>)
 * from HTTP, so that integration tests reach whichever provider the
 * daemon loaded (redis-cache) through a running daemon. Every answer is
 * 200 with {"rc": <VBX_* code>, "ms": <the hook's duration>, ...}.
 *
 *   GET  /api/v1/x/cachekit/kv/{key}           cache_get: "value"
 *   PUT  /api/v1/x/cachekit/kv/{key}?ttl=MS    cache_set (the body)
 *   POST /api/v1/x/cachekit/rate/{key}?limit=N&window=MS
 *                                              cache_rate: count,
 *                                              remaining, retryAfter
 *   POST /api/v1/x/cachekit/lock/{name}?ttl=MS cache_lock with this
 *                                              process's one hold: fence
 *   POST /api/v1/x/cachekit/publish/{channel}  cache_publish (the body)
 *   GET  /api/v1/x/cachekit/sub                what the subscriber of
 *                                              channel "kit" received:
 *                                              connects, messages, last
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vibebox/cache.h>
#include <vibebox/vibebox.h>

static struct {
	vbx_plugin *self;
	pthread_mutex_t lock;
	vbx_lock hold;
	int connects, messages;
	char last[128];
} kit = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int answer(vbx_request *r, int rc, long long t0, const char *more)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "{\"rc\":%d,\"ms\":%lld%s%s}", rc,
	                 now_ms() - t0, more && more[0] ? "," : "",
	                 more ? more : "");

	return vbx_resp_body(r, 200, "application/json", body, (size_t)n);
}

static long long query_num(vbx_request *r, const char *name, long long dflt)
{
	const char *v = vbx_req_query(r, name);

	return v ? atoll(v) : dflt;
}

static int kv_get(void *ud, vbx_request *r)
{
	char buf[128], more[200] = "";
	size_t n = 0;
	long long t0 = now_ms();
	int rc = vbx_hook_cache_get_run(vbx_hook_cache_get_get(kit.self),
	                                vbx_req_param(r, "key"), buf,
	                                sizeof(buf) - 1, &n);

	if (rc == VBX_OK)
		snprintf(more, sizeof(more), "\"value\":\"%.*s\"", (int)n, buf);
	return answer(r, rc, t0, more);
}

static int kv_put(void *ud, vbx_request *r)
{
	size_t len = 0;
	const void *body = vbx_req_body(r, &len);
	long long t0 = now_ms();
	int rc = vbx_hook_cache_set_run(vbx_hook_cache_set_get(kit.self),
	                                vbx_req_param(r, "key"), body, len,
	                                query_num(r, "ttl", 60000));

	return answer(r, rc, t0, NULL);
}

static int rate(void *ud, vbx_request *r)
{
	vbx_rate out = {0};
	char more[200];
	long long t0 = now_ms();
	int rc = vbx_hook_cache_rate_run(vbx_hook_cache_rate_get(kit.self),
	                                 vbx_req_param(r, "key"),
	                                 query_num(r, "limit", 3),
	                                 query_num(r, "window", 1000), 1, &out);

	snprintf(more, sizeof(more),
	         "\"count\":%lld,\"remaining\":%lld,\"retryAfter\":%lld",
	         (long long)out.count, (long long)out.remaining,
	         (long long)out.retry_after_ms);
	return answer(r, rc, t0, more);
}

static int lock(void *ud, vbx_request *r)
{
	char more[100];
	long long t0 = now_ms();

	pthread_mutex_lock(&kit.lock);
	int rc = vbx_hook_cache_lock_run(vbx_hook_cache_lock_get(kit.self),
	                                 vbx_req_param(r, "name"),
	                                 query_num(r, "ttl", 1000), &kit.hold);
	snprintf(more, sizeof(more), "\"fence\":%llu",
	         (unsigned long long)kit.hold.fence);
	pthread_mutex_unlock(&kit.lock);
	return answer(r, rc, t0, more);
}

static int publish(void *ud, vbx_request *r)
{
	size_t len = 0;
	const void *body = vbx_req_body(r, &len);
	long long t0 = now_ms();
	int rc = vbx_hook_cache_publish_run(
	        vbx_hook_cache_publish_get(kit.self),
	        vbx_req_param(r, "channel"), body, len);

	return answer(r, rc, t0, NULL);
}

static int sub(void *ud, vbx_request *r)
{
	char more[300];

	pthread_mutex_lock(&kit.lock);
	snprintf(more, sizeof(more),
	         "\"connects\":%d,\"messages\":%d,\"last\":\"%s\"",
	         kit.connects, kit.messages, kit.last);
	pthread_mutex_unlock(&kit.lock);
	return answer(r, VBX_OK, now_ms(), more);
}

static void on_message(void *ud, const char *channel, const void *msg,
                       size_t len)
{
	pthread_mutex_lock(&kit.lock);
	if (!msg) {
		kit.connects++;
	} else {
		kit.messages++;
		/* Printable text only: it goes into a JSON string. */
		size_t n =
		        len < sizeof(kit.last) - 1 ? len : sizeof(kit.last) - 1;
		for (size_t i = 0; i < n; i++) {
			char c = ((const char *)msg)[i];
			kit.last[i] =
			        c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
			                ? c
			                : '?';
		}
		kit.last[n] = '\0';
	}
	pthread_mutex_unlock(&kit.lock);
}

static int kit_init(vbx_plugin *self, const vbx_config *cfg)
{
	const unsigned pub = VBX_ROUTE_PUBLIC;

	kit.self = self;
	if (vbx_route_add(self, "GET", "/api/v1/x/cachekit/kv/{key}", pub,
	                  kv_get, NULL) ||
	    vbx_route_add(self, "PUT", "/api/v1/x/cachekit/kv/{key}", pub,
	                  kv_put, NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/cachekit/rate/{key}", pub,
	                  rate, NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/cachekit/lock/{name}", pub,
	                  lock, NULL) ||
	    vbx_route_add(self, "POST", "/api/v1/x/cachekit/publish/{channel}",
	                  pub, publish, NULL) ||
	    vbx_route_add(self, "GET", "/api/v1/x/cachekit/sub", pub, sub,
	                  NULL))
		return VBX_ERR;
	return VBX_OK;
}

static int kit_start(vbx_plugin *self)
{
	int rc = vbx_hook_cache_subscribe_run(
	        vbx_hook_cache_subscribe_get(self), "kit", on_message, NULL);

	return rc == VBX_EUNAVAIL ? VBX_OK : rc; /* no provider: no events */
}

static void kit_fini(vbx_plugin *self)
{
}

VBX_PLUGIN(.name = "cachekit", .version = "1.0.0",
           .description = "drives the cache hooks for the tests",
           .init = kit_init, .start = kit_start, .fini = kit_fini);
