/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_redis_cache.c - every hook of <vibebox/cache.h> through the built
 * redis-cache plugin, loaded as the daemon loads it, against a real
 * redis-server (tests/redis/test_redis_cache.sh starts one).
 *
 * Environment:
 *   VBX_TEST_REDIS_URL   the server's url (required: exit 77 without it)
 *   VBX_TEST_REDIS_PORT  its port, for the test's own connection
 *   VBX_TEST_REDIS_SO    the plugin (default: the build's)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include <vibebox/cache.h>
#include <vibebox/testing.h>

#include "fakemetrics.h"

#ifndef VBX_REDIS_SO
#define VBX_REDIS_SO "redis-cache.so"
#endif

static const char *url;
static int port;
static vbx_test_host *host;
static redisContext *raw; /* the test's own connection */

static vbx_plugin *tp(void)
{
	return vbx_test_plugin(host);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_up_with(const char *extra)
{
	char cfg[1024];
	const char *so = getenv("VBX_TEST_REDIS_SO");

	snprintf(cfg, sizeof(cfg), "url = \"%s\"; prefix = \"t%d:\"; %s", url,
	         (int)getpid(), extra ? extra : "");
	host = vbx_test_host_new();
	if (!host)
		return -1;
	int rc = vbx_test_load_file(host, so ? so : VBX_REDIS_SO, cfg);
	if (rc == VBX_OK)
		rc = vbx_test_start(host);
	return rc;
}

static int setup(void **state)
{
	int rc = host_up_with(NULL);

	if (rc != VBX_OK)
		fprintf(stderr, "setup: %d: %s\n", rc, vbx_test_errors(host));
	return rc;
}

static int teardown(void **state)
{
	vbx_test_host_free(host);
	host = NULL;
	return 0;
}

static redisReply *rawcmd(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	redisReply *r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}

/* ---- get, set, TTL, delete ---- */

static void test_get_set_delete(void **state)
{
	vbx_hook *get = vbx_hook_cache_get_get(tp());
	vbx_hook *set = vbx_hook_cache_set_get(tp());
	vbx_hook *del = vbx_hook_cache_delete_get(tp());
	char buf[16];
	size_t n = 0;

	assert_int_equal(
	        vbx_hook_cache_get_run(get, "kv:a", buf, sizeof(buf), &n),
	        VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_cache_set_run(set, "kv:a", "v\0x", 3, 60000),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_cache_get_run(get, "kv:a", buf, sizeof(buf), &n),
	        VBX_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "v\0x", 3);
	/* Under the prefix, with the TTL asked for. */
	redisReply *r = rawcmd("PTTL t%d:kv:a", (int)getpid());
	assert_true(r->integer > 59000 && r->integer <= 60000);
	freeReplyObject(r);
	/* Too small a buffer: the length, nothing copied. */
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(vbx_hook_cache_get_run(get, "kv:a", buf, 2, &n),
	                 VBX_EAGAIN);
	assert_int_equal(n, 3);
	assert_int_equal(buf[0], 'z');
	assert_int_equal(vbx_hook_cache_delete_run(del, "kv:a"), VBX_OK);
	assert_int_equal(vbx_hook_cache_delete_run(del, "kv:a"), VBX_OK);
	assert_int_equal(
	        vbx_hook_cache_get_run(get, "kv:a", buf, sizeof(buf), &n),
	        VBX_ENOTFOUND);
}

static void test_ttl_expires(void **state)
{
	vbx_hook *get = vbx_hook_cache_get_get(tp());
	char buf[8];
	size_t n;
	int64_t t0 = now_ms();

	assert_int_equal(vbx_hook_cache_set_run(vbx_hook_cache_set_get(tp()),
	                                        "kv:ttl", "1", 1, 150),
	                 VBX_OK);
	assert_int_equal(vbx_hook_cache_get_run(get, "kv:ttl", buf, 8, &n),
	                 VBX_OK);
	while (vbx_hook_cache_get_run(get, "kv:ttl", buf, 8, &n) == VBX_OK) {
		assert_true(now_ms() - t0 < 3000);
		usleep(10000);
	}
	assert_true(now_ms() - t0 >= 140);
	assert_int_equal(vbx_hook_cache_get_run(get, "kv:ttl", buf, 8, &n),
	                 VBX_ENOTFOUND);
}

static void test_bad_arguments(void **state)
{
	vbx_hook *set = vbx_hook_cache_set_get(tp());
	char big[VBX_CACHE_KEY_MAX + 1];

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vbx_hook_cache_set_run(set, "a b", "1", 1, 10),
	                 VBX_EINVAL);
	assert_int_equal(vbx_hook_cache_set_run(set, "", "1", 1, 10),
	                 VBX_EINVAL);
	assert_int_equal(vbx_hook_cache_set_run(set, big, "1", 1, 10),
	                 VBX_EINVAL);
	assert_int_equal(vbx_hook_cache_set_run(set, "ok", "1", 1, 0),
	                 VBX_EINVAL);
	assert_int_equal(vbx_hook_cache_set_run(set, "ok\n", "1", 1, 10),
	                 VBX_EINVAL);
}

/* ---- the sliding window ---- */

static void test_rate_window_slides(void **state)
{
	vbx_hook *h = vbx_hook_cache_rate_get(tp());
	vbx_rate r;

	for (int i = 1; i <= 3; i++) {
		assert_int_equal(
		        vbx_hook_cache_rate_run(h, "rate:a", 3, 1000, 1, &r),
		        VBX_OK);
		assert_int_equal(r.version, 1);
		assert_int_equal(r.count, i);
		assert_int_equal(r.remaining, 3 - i);
		assert_int_equal(r.retry_after_ms, 0);
		assert_true(r.reset_ms > 0 && r.reset_ms <= 1000);
	}
	int64_t t_full = now_ms();
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:a", 3, 1000, 1, &r),
	                 VBX_EAGAIN);
	assert_int_equal(r.count, 3);
	assert_int_equal(r.remaining, 0);
	assert_true(r.retry_after_ms > 0 && r.retry_after_ms <= 1000);
	/* A read (cost 0) counts nothing: refused while full. */
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:a", 3, 1000, 0, &r),
	                 VBX_EAGAIN);
	/* Allowed again once the oldest hit left the window, not before
	 * the window has passed since it was counted. */
	while (vbx_hook_cache_rate_run(h, "rate:a", 3, 1000, 1, &r) ==
	       VBX_EAGAIN) {
		assert_true(now_ms() - t_full < 3000);
		usleep(20000);
	}
	assert_true(now_ms() - t_full >= 800);
	assert_true(r.count >= 1 && r.count <= 3);
	/* Another key is another counter. */
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:b", 3, 1000, 1, &r),
	                 VBX_OK);
	assert_int_equal(r.count, 1);
}

static void test_rate_slides_not_fixed(void **state)
{
	vbx_hook *h = vbx_hook_cache_rate_get(tp());
	vbx_rate r;

	/* 2 at t0, 1 at t0+~500: at t0+1000 the first two leave, the third
	 * is still counted (a fixed window would forget all three). */
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:s", 3, 1000, 2, &r),
	                 VBX_OK);
	usleep(500000);
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:s", 3, 1000, 1, &r),
	                 VBX_OK);
	assert_int_equal(vbx_hook_cache_rate_run(h, "rate:s", 3, 1000, 0, &r),
	                 VBX_EAGAIN);
	while (vbx_hook_cache_rate_run(h, "rate:s", 3, 1000, 0, &r) ==
	       VBX_EAGAIN)
		usleep(20000);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.remaining, 2);
}

/* Many workers at once, more than the pool's connections: the counter
 * is decided on the server, so exactly `limit` hits are allowed. */
#define RATE_THREADS 8
#define RATE_CALLS 20

static void *rate_worker(void *arg)
{
	int *allowed = arg;
	vbx_hook *h = vbx_hook_cache_rate_get(tp());
	vbx_rate r;

	for (int i = 0; i < RATE_CALLS; i++) {
		int rc = vbx_hook_cache_rate_run(h, "rate:many", 50, 60000, 1,
		                                 &r);
		if (rc == VBX_OK)
			(*allowed)++;
		else if (rc != VBX_EAGAIN)
			*allowed = -1000;
	}
	return NULL;
}

static void test_rate_concurrent(void **state)
{
	pthread_t t[RATE_THREADS];
	int allowed[RATE_THREADS] = {0}, total = 0;

	for (int i = 0; i < RATE_THREADS; i++)
		assert_int_equal(
		        pthread_create(&t[i], NULL, rate_worker, &allowed[i]),
		        0);
	for (int i = 0; i < RATE_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += allowed[i];
	}
	assert_int_equal(total, 50);
}

/* ---- the lock ---- */

static void test_lock(void **state)
{
	vbx_hook *lk = vbx_hook_cache_lock_get(tp());
	vbx_hook *ul = vbx_hook_cache_unlock_get(tp());
	vbx_lock a = {0}, b = {0};
	int64_t t0 = now_ms();

	assert_int_equal(vbx_hook_cache_lock_run(lk, "job", 400, &a), VBX_OK);
	assert_true(a.owner[0]);
	assert_true(a.fence >= 1);
	uint64_t fence = a.fence;
	/* A second holder is refused. */
	assert_int_equal(vbx_hook_cache_lock_run(lk, "job", 400, &b),
	                 VBX_EEXIST);
	assert_string_equal(b.owner, "");
	/* Renewal keeps the fence and pushes the expiry. */
	int64_t exp = a.expires_ms;
	usleep(50000);
	assert_int_equal(vbx_hook_cache_lock_run(lk, "job", 400, &a), VBX_OK);
	assert_int_equal(a.fence, fence);
	assert_true(a.expires_ms > exp);
	/* Once it lapses another takes it, with a larger fence. */
	while (vbx_hook_cache_lock_run(lk, "job", 400, &b) == VBX_EEXIST) {
		assert_true(now_ms() - t0 < 3000);
		usleep(20000);
	}
	assert_true(now_ms() - t0 >= 400);
	assert_true(b.fence > fence);
	assert_string_not_equal(a.owner, b.owner);
	/* The lapsed holder neither renews nor releases it. */
	vbx_lock stale = a;
	assert_int_equal(vbx_hook_cache_unlock_run(ul, "job", &a),
	                 VBX_ENOTFOUND);
	assert_string_equal(a.owner, "");
	assert_int_equal(vbx_hook_cache_lock_run(lk, "job", 400, &stale),
	                 VBX_EEXIST);
	assert_int_equal(vbx_hook_cache_unlock_run(ul, "job", &b), VBX_OK);
	assert_string_equal(b.owner, "");
	/* Released: free at once, also when the server forgot the
	 * scripts (a restart or a failover does that). */
	freeReplyObject(rawcmd("SCRIPT FLUSH"));
	assert_int_equal(vbx_hook_cache_lock_run(lk, "job", 400, &a), VBX_OK);
	assert_true(a.fence > fence + 1);
	assert_int_equal(vbx_hook_cache_unlock_run(ul, "job", &a), VBX_OK);
}

static void *lock_worker(void *arg)
{
	vbx_lock *l = arg;

	return (void *)(intptr_t)vbx_hook_cache_lock_run(
	        vbx_hook_cache_lock_get(tp()), "race", 10000, l);
}

/* Taken by exactly one of many at once. */
static void test_lock_race(void **state)
{
	pthread_t t[8];
	vbx_lock l[8];
	int held = -1, n = 0;

	memset(l, 0, sizeof(l));
	for (int i = 0; i < 8; i++)
		assert_int_equal(
		        pthread_create(&t[i], NULL, lock_worker, &l[i]), 0);
	for (int i = 0; i < 8; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		if ((intptr_t)rc == VBX_OK) {
			held = i;
			n++;
		} else {
			assert_int_equal((intptr_t)rc, VBX_EEXIST);
		}
	}
	assert_int_equal(n, 1);
	assert_int_equal(
	        vbx_hook_cache_unlock_run(vbx_hook_cache_unlock_get(tp()),
	                                  "race", &l[held]),
	        VBX_OK);
}

/* ---- publish and subscribe ---- */

typedef struct seen {
	pthread_mutex_t lock;
	int connects, messages;
	char last[64];
	char channel[64];
} seen;

static seen got = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_message(void *ud, const char *channel, const void *msg,
                       size_t len)
{
	seen *s = ud;

	pthread_mutex_lock(&s->lock);
	if (!msg) {
		s->connects++;
	} else {
		s->messages++;
		snprintf(s->last, sizeof(s->last), "%.*s", (int)len,
		         (const char *)msg);
		snprintf(s->channel, sizeof(s->channel), "%s", channel);
	}
	pthread_mutex_unlock(&s->lock);
}

static int wait_count(int *field, int want)
{
	for (int i = 0; i < 300; i++) {
		pthread_mutex_lock(&got.lock);
		int v = *field;
		pthread_mutex_unlock(&got.lock);
		if (v >= want)
			return v;
		usleep(10000);
	}
	return -1;
}

static void test_pubsub(void **state)
{
	vbx_hook *pub = vbx_hook_cache_publish_get(tp());

	assert_int_equal(
	        vbx_hook_cache_subscribe_run(vbx_hook_cache_subscribe_get(tp()),
	                                     "ev:x", on_message, &got),
	        VBX_OK);
	assert_int_equal(wait_count(&got.connects, 1), 1);
	/* From this replica (a pooled connection) to its subscriber. */
	assert_int_equal(vbx_hook_cache_publish_run(pub, "ev:x", "hello", 5),
	                 VBX_OK);
	assert_int_equal(wait_count(&got.messages, 1), 1);
	assert_string_equal(got.last, "hello");
	assert_string_equal(got.channel, "ev:x");
	/* From another client (another replica) under the prefix. */
	freeReplyObject(rawcmd("PUBLISH t%d:ev:x %s", (int)getpid(), "there"));
	assert_int_equal(wait_count(&got.messages, 2), 2);
	assert_string_equal(got.last, "there");
	/* Another channel is not delivered. */
	assert_int_equal(vbx_hook_cache_publish_run(pub, "ev:y", "no", 2),
	                 VBX_OK);
	/* The server dropped the subscriber: it comes back subscribed, and
	 * says so with a NULL message. */
	freeReplyObject(rawcmd("CLIENT KILL TYPE pubsub"));
	assert_int_equal(wait_count(&got.connects, 2), 2);
	assert_int_equal(vbx_hook_cache_publish_run(pub, "ev:x", "again", 5),
	                 VBX_OK);
	assert_int_equal(wait_count(&got.messages, 3), 3);
	assert_string_equal(got.last, "again");
}

static void test_publish_reaches_others(void **state)
{
	redisContext *sub = redisConnect("127.0.0.1", port);
	redisReply *r;

	assert_non_null(sub);
	assert_int_equal(sub->err, 0);
	r = redisCommand(sub, "SUBSCRIBE t%d:ev:z", (int)getpid());
	freeReplyObject(r);
	assert_int_equal(
	        vbx_hook_cache_publish_run(vbx_hook_cache_publish_get(tp()),
	                                   "ev:z", "out", 3),
	        VBX_OK);
	assert_int_equal(redisGetReply(sub, (void **)&r), REDIS_OK);
	assert_int_equal(r->elements, 3);
	assert_string_equal(r->element[2]->str, "out");
	freeReplyObject(r);
	redisFree(sub);
}

/* ---- config ---- */

static void expect_refused(const char *cfg, const char *words)
{
	vbx_test_host *h = vbx_test_host_new();
	const char *so = getenv("VBX_TEST_REDIS_SO");

	assert_non_null(h);
	assert_int_not_equal(vbx_test_load_file(h, so ? so : VBX_REDIS_SO, cfg),
	                     VBX_OK);
	const char *e = vbx_test_errors(h);
	if (!strstr(e, words))
		fail_msg("expected \"%s\" in: %s", words, e);
	vbx_test_host_free(h);
}

static void test_config_refused(void **state)
{
	expect_refused("url = \"redis://u:secret@127.0.0.1:6379/0\";",
	               "plugins.redis-cache.url: a password in the url");
	expect_refused("url = \"http://x\";", "plugins.redis-cache.url");
	expect_refused("pool = 0;", "plugins.redis-cache.pool");
	expect_refused("pool = 999;", "plugins.redis-cache.pool");
	expect_refused("timeout = \"soon\";", "plugins.redis-cache.timeout");
	expect_refused("sentinels = [\"127.0.0.1:1\"];",
	               "plugins.redis-cache.master_name");
	expect_refused("sentinels = [\"127.0.0.1\"]; master_name = \"m\";",
	               "plugins.redis-cache.sentinels");
	expect_refused("urll = \"redis://x\";", "urll");
	expect_refused("url = \"redis://u@127.0.0.1\";",
	               "plugins.redis-cache.password_file");
	expect_refused("url = \"rediss://127.0.0.1\"; tls_ca_file = "
	               "\"/nonexistent/ca.pem\";",
	               "tls_ca_file");
	expect_refused("tls_ca_file = \"/etc/ssl/certs/ca-certificates.crt\";",
	               "not rediss://");
}

/* A server that is not there: every hook answers EUNAVAIL, fast after
 * the first failure. */
static void test_down_fails_fast(void **state)
{
	vbx_test_host *h = vbx_test_host_new();
	const char *so = getenv("VBX_TEST_REDIS_SO");
	char buf[8];
	size_t n;
	vbx_rate r;
	vbx_lock l = {0};

	assert_non_null(h);
	/* Port 1 on loopback: refused at once. */
	assert_int_equal(vbx_test_load_file(h, so ? so : VBX_REDIS_SO,
	                                    "url = \"redis://127.0.0.1:1/0\";"),
	                 VBX_OK);
	assert_int_equal(vbx_test_start(h), VBX_OK);
	vbx_plugin *p = vbx_test_plugin(h);
	int64_t t0 = now_ms();
	for (int i = 0; i < 100; i++) {
		assert_int_equal(
		        vbx_hook_cache_get_run(vbx_hook_cache_get_get(p), "k",
		                               buf, sizeof(buf), &n),
		        VBX_EUNAVAIL);
		assert_int_equal(
		        vbx_hook_cache_rate_run(vbx_hook_cache_rate_get(p), "k",
		                                1, 1, 1, &r),
		        VBX_EUNAVAIL);
		assert_int_equal(
		        vbx_hook_cache_lock_run(vbx_hook_cache_lock_get(p), "k",
		                                10, &l),
		        VBX_EUNAVAIL);
	}
	assert_true(now_ms() - t0 < 1000);
	vbx_test_host_free(h);
}

/* ---- cache_requests_total{result}: gets only ---- */

#define GETS "vibebox_cache_requests_total"

static double gets(const char *result)
{
	return fake_metric(GETS, result, NULL);
}

/* A host with a "metrics" provider loaded first, then the plugin. */
static vbx_test_host *metrics_host(const char *cfg)
{
	const char *so = getenv("VBX_TEST_REDIS_SO");
	vbx_test_host *h = vbx_test_host_new();
	assert_non_null(h);
	assert_int_equal(vbx_test_load(h, &fake_metrics_desc, NULL), VBX_OK);
	if (vbx_test_load_file(h, so ? so : VBX_REDIS_SO, cfg) != VBX_OK ||
	    vbx_test_start(h) != VBX_OK)
		fail_msg("%s", vbx_test_errors(h));
	return h;
}

static void test_get_metrics(void **state)
{
	char cfg[512], buf[4], key[VBX_CACHE_KEY_MAX + 8];
	size_t n;
	snprintf(cfg, sizeof(cfg), "url = \"%s\"; prefix = \"m%d:\";", url,
	         (int)getpid());
	host = metrics_host(cfg);
	vbx_hook *get = vbx_hook_cache_get_get(tp());
	double hit = gets("hit"), miss = gets("miss"), err = gets("error");

	assert_int_equal(vbx_hook_cache_get_run(get, "m:a", buf, 4, &n),
	                 VBX_ENOTFOUND);
	assert_int_equal(vbx_hook_cache_set_run(vbx_hook_cache_set_get(tp()),
	                                        "m:a", "value", 5, 60000),
	                 VBX_OK);
	assert_int_equal(vbx_hook_cache_get_run(get, "m:a", buf, 4, &n),
	                 VBX_EAGAIN); /* there, too long: a hit */
	assert_int_equal(vbx_hook_cache_delete_run(
	                         vbx_hook_cache_delete_get(tp()), "m:a"),
	                 VBX_OK);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(vbx_hook_cache_get_run(get, key, buf, 4, &n),
	                 VBX_EINVAL);
	assert_true(gets("hit") == hit + 1);
	assert_true(gets("miss") == miss + 1);
	assert_true(gets("error") == err + 1);
	vbx_test_host_free(host);
	host = NULL;

	/* Redis unreachable: every get is an error. */
	host = metrics_host("url = \"redis://127.0.0.1:1/0\";");
	err = gets("error");
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		        vbx_hook_cache_get_run(vbx_hook_cache_get_get(tp()),
		                               "m:a", buf, 4, &n),
		        VBX_EUNAVAIL);
	assert_true(gets("error") == err + 3);
	vbx_test_host_free(host);
	host = NULL;
}

int main(void)
{
	const char *p = getenv("VBX_TEST_REDIS_PORT");

	url = getenv("VBX_TEST_REDIS_URL");
	if (!url || !p) {
		fprintf(stderr, "test_redis_cache: set VBX_TEST_REDIS_URL and "
		                "VBX_TEST_REDIS_PORT (tests/redis/"
		                "test_redis_cache.sh does); skipped\n");
		return 77;
	}
	port = atoi(p);
	raw = redisConnect("127.0.0.1", port);
	if (!raw || raw->err) {
		fprintf(stderr, "test_redis_cache: cannot reach %s\n", url);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_get_set_delete, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_ttl_expires, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_rate_window_slides, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_rate_slides_not_fixed,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rate_concurrent, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lock_race, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_pubsub, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_publish_reaches_others,
	                                        setup, teardown),
	        cmocka_unit_test(test_config_refused),
	        cmocka_unit_test(test_down_fails_fast),
	        cmocka_unit_test(test_get_metrics),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	redisFree(raw);
	return rc;
}
