/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bridge.c - the event bridge between replicas (core/bridge.c) and
 * its message (core/bridgemsg.c).
 *
 * The message: a round trip, then every broken form the decoder must
 * refuse (each truncation, bad magic, another version, lengths out of
 * range, refused bytes, bytes after the payload), and what the encoder
 * refuses to write.
 *
 * The bridge: a provider of cache_publish/cache_subscribe registered in
 * this process stands for the pub/sub server. Like Redis it delivers
 * every message to every subscriber, this replica included, so the tests
 * see the bridge skip its own echo. Messages "from another replica" are
 * encoded here with another origin and handed to vbx__bridge_receive, as
 * the provider's subscriber thread would.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bridge.h"
#include "bridgemsg.h"
#include "core.h"
#include <vibebox/cache.h>

#define OTHER "0b1e7a51-9a8c-4d3e-8f00-000000000002"

/* ---- the message ---- */

typedef struct t_pay {
	uint32_t version;
	char who[16];
	int64_t n;
} t_pay;

static size_t sample(unsigned char *buf, size_t len)
{
	t_pay p = {.version = 1, .who = "alice", .n = 42};
	return vbx__bridge_encode(OTHER, "t_shared", "t_pay", &p, sizeof(p),
	                          buf, len);
}

static void test_round_trip(void **state)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	size_t n = sample(buf, sizeof(buf));
	assert_int_equal(n, 4 + 1 + 1 + 36 + 1 + 8 + 1 + 5 + 4 + sizeof(t_pay));
	vbx__bridge_msg m;
	assert_int_equal(vbx__bridge_decode(buf, n, &m, NULL), VBX_OK);
	assert_string_equal(m.origin, OTHER);
	assert_string_equal(m.name, "t_shared");
	assert_string_equal(m.type, "t_pay");
	assert_int_equal(m.payload_size, sizeof(t_pay));
	t_pay p;
	memcpy(&p, m.payload, sizeof(p));
	assert_string_equal(p.who, "alice");
	assert_int_equal(p.n, 42);
	/* the largest message fits VBX__BRIDGE_MSG_MAX */
	char origin[65], name[128], type[256];
	unsigned char big[VBX_EVENT_MAX_PAYLOAD] = {1};
	memset(origin, 'o', 64), origin[64] = '\0';
	memset(name, 'n', 127), name[127] = '\0';
	memset(type, 't', 255), type[255] = '\0';
	n = vbx__bridge_encode(origin, name, type, big, sizeof(big), buf,
	                       sizeof(buf));
	assert_int_equal(n, VBX__BRIDGE_MSG_MAX);
	assert_int_equal(vbx__bridge_decode(buf, n, &m, NULL), VBX_OK);
	assert_string_equal(m.type, type);
}

static void test_every_truncation_refused(void **state)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	size_t n = sample(buf, sizeof(buf));
	vbx__bridge_msg m;
	for (size_t len = 0; len < n; len++) {
		const char *why = NULL;
		assert_int_equal(vbx__bridge_decode(buf, len, &m, &why),
		                 VBX_EINVAL);
		assert_non_null(why);
	}
	assert_int_equal(vbx__bridge_decode(NULL, n, &m, NULL), VBX_EINVAL);
	assert_int_equal(vbx__bridge_decode(buf, n, NULL, NULL), VBX_EINVAL);
}

/* Decode buf[0..n) with byte at changed to v: the fault found, or NULL. */
static const char *decode_with(const unsigned char *msg, size_t n, size_t at,
                               unsigned char v)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX + 8];
	memcpy(buf, msg, n);
	buf[at] = v;
	vbx__bridge_msg m;
	const char *why = NULL;
	if (vbx__bridge_decode(buf, n, &m, &why) == VBX_OK)
		return NULL;
	assert_non_null(why);
	return why;
}

static void test_broken_fields_refused(void **state)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX + 8];
	size_t n = sample(buf, sizeof(buf));
	size_t name_len_at = 6 + 36, type_len_at = name_len_at + 1 + 8;
	size_t size_at = type_len_at + 1 + 5;
	assert_string_equal(decode_with(buf, n, 0, 'X'),
	                    "bad magic (not an event bridge message)");
	assert_non_null(strstr(decode_with(buf, n, 4, 2), "format version"));
	assert_non_null(decode_with(buf, n, 5, 0));   /* empty origin */
	assert_non_null(decode_with(buf, n, 5, 200)); /* origin past end */
	assert_non_null(decode_with(buf, n, 6, ' ')); /* space in origin */
	assert_non_null(decode_with(buf, n, 6, 0));   /* NUL in origin */
	assert_non_null(decode_with(buf, n, name_len_at, 0));
	assert_non_null(decode_with(buf, n, name_len_at + 1, '7'));
	assert_non_null(decode_with(buf, n, name_len_at + 2, '-'));
	assert_non_null(decode_with(buf, n, type_len_at, 0));
	assert_non_null(decode_with(buf, n, type_len_at + 1, '\n'));
	assert_non_null(decode_with(buf, n, type_len_at + 1, 0x80));
	/* payload size: 0, over the maximum, past the end */
	assert_string_equal(decode_with(buf, n, size_at + 3, 0),
	                    "payload size out of range");
	assert_string_equal(decode_with(buf, n, size_at, 0x80),
	                    "payload size out of range");
	assert_string_equal(decode_with(buf, n, size_at + 3, sizeof(t_pay) + 1),
	                    "payload truncated");
	/* one byte too many */
	buf[n] = 0;
	vbx__bridge_msg m;
	const char *why = NULL;
	assert_int_equal(vbx__bridge_decode(buf, n + 1, &m, &why), VBX_EINVAL);
	assert_string_equal(why, "bytes after the payload");
	/* a smaller payload size with the rest as trailing bytes */
	assert_string_equal(decode_with(buf, n, size_at + 3, sizeof(t_pay) - 1),
	                    "bytes after the payload");
}

static void test_garbage_refused(void **state)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	uint32_t x = 2463534242u;
	vbx__bridge_msg m;
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 300);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			buf[i] = (unsigned char)x;
		}
		if (n >= 5 && round % 2)
			memcpy(buf, "VBXE\1", 5); /* get past the header */
		(void)vbx__bridge_decode(buf, n, &m, NULL);
	}
	/* random bytes after a valid header are still refused */
	memcpy(buf, "VBXE\1\xff", 6);
	assert_int_equal(vbx__bridge_decode(buf, 40, &m, NULL), VBX_EINVAL);
}

static void test_encoder_refuses(void **state)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	t_pay p = {0};
	char long_name[130];
	memset(long_name, 'a', 128), long_name[128] = '\0';
#define ENC(o, nm, t, pl, sz, b, l) vbx__bridge_encode(o, nm, t, pl, sz, b, l)
	assert_int_equal(ENC(NULL, "a", "t", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", "", "t", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", "9a", "t", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", long_name, "t", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o o", "a", "t", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", "a", "t\n", &p, 1, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", "a", "t", &p, 0, buf, sizeof(buf)), 0);
	assert_int_equal(ENC("o", "a", "t", &p, VBX_EVENT_MAX_PAYLOAD + 1, buf,
	                     sizeof(buf)),
	                 0);
	assert_int_equal(ENC("o", "a", "t", &p, 4, buf, 18), 0);
	assert_int_equal(ENC("o", "a", "t", &p, 4, buf, 19), 19);
#undef ENC
}

/* ---- the bridge, with a provider in this process ---- */

typedef struct t_json_pay {
	uint32_t version;
	int n;
} t_json_pay;
typedef struct t_pay_v2 {
	uint32_t version;
	char who[16];
	int64_t n;
	int64_t added;
} t_pay_v2;

static int t_render(const void *payload, char *buf, size_t len, char *rtype,
                    char *rid)
{
	snprintf(buf, len, "{\"n\":%d}", ((const t_json_pay *)payload)->n);
	strcpy(rtype, "thing");
	strcpy(rid, "x");
	return VBX_OK;
}

VBX_EVENT_DECLARE(t_shared, t_pay, NULL)
VBX_EVENT_DECLARE(t_local, t_pay, NULL)
VBX_EVENT_DECLARE(t_user, t_json_pay, t_render)

static char name_app[] = "app", name_cache[] = "cache";
static vbx_plugin app = {.head = {&vbx__host}, .name = name_app};
static vbx_plugin cache = {.head = {&vbx__host}, .name = name_cache};
static vbx_event *shared_ev, *local_ev, *user_ev;

/* The fake server's state; the lock guards all of it. */
static struct {
	pthread_mutex_t lock;
	vbx_cache_message_fn *fn;
	void *arg;
	char channel[64];
	int published;   /* messages the provider took */
	int unavailable; /* answer VBX_EUNAVAIL */
	int hold;        /* wait on the gate in publish */
	/* what the app's subscribers saw */
	int shared_seen, local_seen, user_seen, sink_seen;
	int64_t last_n;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};
static sem_t gate, entered;

static int t_publish(void *ud, const char *channel, const void *msg, size_t len)
{
	pthread_mutex_lock(&srv.lock);
	int down = srv.unavailable, hold = srv.hold;
	vbx_cache_message_fn *fn = srv.fn;
	void *arg = srv.arg;
	if (!down)
		srv.published++;
	pthread_mutex_unlock(&srv.lock);
	if (hold) {
		sem_post(&entered);
		sem_wait(&gate);
	}
	if (down)
		return VBX_EUNAVAIL;
	if (fn) /* every subscriber, the publisher's own included */
		fn(arg, channel, msg, len);
	return VBX_OK;
}

static int t_subscribe(void *ud, const char *channel, vbx_cache_message_fn *fn,
                       void *arg)
{
	pthread_mutex_lock(&srv.lock);
	srv.fn = fn;
	srv.arg = arg;
	snprintf(srv.channel, sizeof(srv.channel), "%s", channel);
	pthread_mutex_unlock(&srv.lock);
	return VBX_OK;
}

static void on_shared(void *ud, const t_pay *p)
{
	pthread_mutex_lock(&srv.lock);
	srv.shared_seen++;
	srv.last_n = p->n;
	pthread_mutex_unlock(&srv.lock);
}

static void on_local(void *ud, const t_pay *p)
{
	pthread_mutex_lock(&srv.lock);
	srv.local_seen++;
	pthread_mutex_unlock(&srv.lock);
}

static void on_user(void *ud, const t_json_pay *p)
{
	pthread_mutex_lock(&srv.lock);
	srv.user_seen++;
	pthread_mutex_unlock(&srv.lock);
}

static void sink(const char *json, const char *rtype, const char *rid)
{
	pthread_mutex_lock(&srv.lock);
	srv.sink_seen++;
	pthread_mutex_unlock(&srv.lock);
}

static int setup(void **state)
{
	pthread_mutex_lock(&srv.lock);
	srv.fn = NULL;
	srv.published = srv.unavailable = srv.hold = 0;
	srv.shared_seen = srv.local_seen = srv.user_seen = srv.sink_seen = 0;
	pthread_mutex_unlock(&srv.lock);
	sem_init(&gate, 0, 0);
	sem_init(&entered, 0, 0);
	vbx__bridge_register(vbx__core_plugin());
	bool provider = *state == NULL;
	if (provider) {
		assert_int_equal(vbx_hook_cache_publish_register(
		                         &cache, t_publish, NULL, 0),
		                 VBX_OK);
		assert_int_equal(vbx_hook_cache_subscribe_register(
		                         &cache, t_subscribe, NULL, 0),
		                 VBX_OK);
	}
	shared_ev = vbx_event_t_shared_get(&app);
	local_ev = vbx_event_t_local_get(&app);
	user_ev = vbx_event_t_user_get(&app);
	assert_int_equal(vbx_event_share(&app, shared_ev), VBX_OK);
	assert_int_equal(vbx_event_t_shared_subscribe(&app, on_shared, NULL),
	                 VBX_OK);
	assert_int_equal(vbx_event_t_local_subscribe(&app, on_local, NULL),
	                 VBX_OK);
	assert_int_equal(vbx_event_t_user_subscribe(&app, on_user, NULL),
	                 VBX_OK);
	vbx__registry_freeze();
	vbx__events_set_json_sink(sink);
	assert_int_equal(vbx__events_start(64, VBX__OVERFLOW_DROP), VBX_OK);
	assert_int_equal(vbx__bridge_start(64), VBX_OK);
	return 0;
}

static int setup_no_provider(void **state)
{
	*state = (void *)1;
	return setup(state);
}

static int teardown(void **state)
{
	pthread_mutex_lock(&srv.lock);
	srv.hold = 0;
	pthread_mutex_unlock(&srv.lock);
	sem_post(&gate);
	sem_post(&gate);
	vbx__bridge_stop();
	vbx__events_stop();
	vbx__events_set_json_sink(NULL);
	vbx__registry_fini();
	sem_destroy(&gate);
	sem_destroy(&entered);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static int get(const int *what)
{
	pthread_mutex_lock(&srv.lock);
	int v = *what;
	pthread_mutex_unlock(&srv.lock);
	return v;
}

/* Wait up to 5 s for *what to reach n. */
static void wait_for(const int *what, int n)
{
	for (int i = 0; i < 5000 && get(what) < n; i++)
		sleep_ms(1);
	assert_int_equal(get(what), n);
}

/* Wait up to 5 s for the bridge's counter (by offset) to reach n. */
static vbx__bridge_stats stats(void)
{
	vbx__bridge_stats s;
	vbx__bridge_stats_get(&s);
	return s;
}

#define WAIT_STAT(field, n)                                                    \
	do {                                                                   \
		for (int i_ = 0; i_ < 5000 && stats().field < (n); i_++)       \
			sleep_ms(1);                                           \
		assert_int_equal(stats().field, (n));                          \
	} while (0)

/* Wait until the dispatcher has delivered everything published. */
static void wait_idle(void)
{
	vbx__event_stats st;
	for (int i = 0; i < 5000; i++) {
		vbx__events_stats(&st);
		if (st.delivered == st.published)
			return;
		sleep_ms(1);
	}
	fail_msg("the dispatcher did not catch up");
}

static int publish_shared(int64_t n)
{
	t_pay p = {.version = 1, .who = "me", .n = n};
	return vbx_event_t_shared_publish(shared_ev, &p);
}

static void from_other(const char *name, const char *type, const void *pl,
                       size_t size)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	size_t n = vbx__bridge_encode(OTHER, name, type, pl, size, buf,
	                              sizeof(buf));
	assert_true(n > 0);
	vbx__bridge_receive(buf, n);
}

static void test_local_event_goes_out_once_never_echoed(void **state)
{
	vbx__bridge_stats before = stats();
	assert_true(before.active);
	assert_string_equal(srv.channel, VBX__BRIDGE_CHANNEL);
	assert_int_equal(publish_shared(7), VBX_OK);
	WAIT_STAT(echoes, before.echoes + 1);
	wait_idle();
	assert_int_equal(get(&srv.published), 1);
	assert_int_equal(get(&srv.shared_seen), 1); /* not twice */
	assert_int_equal(stats().out, before.out + 1);
	assert_int_equal(stats().in, before.in);
}

static void test_user_facing_goes_out_plain_stays(void **state)
{
	t_json_pay u = {.version = 1, .n = 3};
	t_pay l = {.version = 1};
	assert_int_equal(vbx_event_t_local_publish(local_ev, &l), VBX_OK);
	assert_int_equal(vbx_event_t_user_publish(user_ev, &u), VBX_OK);
	wait_for(&srv.published, 1);
	wait_idle();
	sleep_ms(20); /* nothing more may come */
	assert_int_equal(get(&srv.published), 1);
	assert_int_equal(get(&srv.local_seen), 1);
	assert_int_equal(get(&srv.user_seen), 1);
	assert_int_equal(get(&srv.sink_seen), 1);
}

static void test_remote_event_delivered_not_resent(void **state)
{
	vbx__bridge_stats before = stats();
	t_pay p = {.version = 1, .who = "them", .n = 99};
	from_other("t_shared", "t_pay", &p, sizeof(p));
	t_json_pay u = {.version = 1, .n = 4};
	from_other("t_user", "t_json_pay", &u, sizeof(u));
	wait_for(&srv.shared_seen, 1);
	wait_for(&srv.sink_seen, 1);
	wait_idle();
	assert_int_equal(get(&srv.user_seen), 1);
	assert_int_equal(srv.last_n, 99);
	assert_int_equal(stats().in, before.in + 2);
	sleep_ms(20);
	assert_int_equal(get(&srv.published), 0); /* never sent on */
}

static void test_refused_messages_counted(void **state)
{
	vbx__bridge_stats before = stats();
	t_pay p = {.version = 1, .n = 1};
	t_pay_v2 p2 = {.version = 2, .n = 1};
	/* a type the name does not have here (a rolling upgrade) */
	from_other("t_shared", "t_pay_v2", &p2, sizeof(p2));
	/* the same type name, another size */
	from_other("t_shared", "t_pay", &p2, sizeof(p2));
	from_other("t_shared", "t_pay", &p, sizeof(p) - 8);
	/* unknown here; known but not shared here */
	from_other("t_nobody", "t_pay", &p, sizeof(p));
	from_other("t_local", "t_pay", &p, sizeof(p));
	/* garbage */
	vbx__bridge_receive("hello", 5);
	vbx__bridge_receive("VBXE\2", 5);
	/* a reconnect notice is not an error */
	vbx__bridge_receive(NULL, 0);
	vbx__bridge_stats s = stats();
	assert_int_equal(s.in_mismatch, before.in_mismatch + 3);
	assert_int_equal(s.in_unknown, before.in_unknown + 2);
	assert_int_equal(s.decode_errors, before.decode_errors + 2);
	assert_int_equal(s.in, before.in);
	wait_idle();
	assert_int_equal(get(&srv.shared_seen), 0);
	assert_int_equal(get(&srv.local_seen), 0);
}

static void test_provider_down_event_stays_local(void **state)
{
	vbx__bridge_stats before = stats();
	pthread_mutex_lock(&srv.lock);
	srv.unavailable = 1;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(publish_shared(1), VBX_OK);
	WAIT_STAT(out_unavailable, before.out_unavailable + 1);
	wait_for(&srv.shared_seen, 1); /* still delivered here */
	pthread_mutex_lock(&srv.lock);
	srv.unavailable = 0;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(publish_shared(2), VBX_OK);
	WAIT_STAT(out, before.out + 1); /* works again */
	wait_for(&srv.shared_seen, 2);
}

static void test_full_queue_drops_never_blocks(void **state)
{
	vbx__bridge_stop();
	assert_int_equal(vbx__bridge_start(2), VBX_OK);
	vbx__bridge_stats before = stats();
	pthread_mutex_lock(&srv.lock);
	srv.hold = 1;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(publish_shared(1), VBX_OK);
	sem_wait(&entered); /* the sender holds message 1 */
	for (int i = 2; i <= 5; i++)
		assert_int_equal(publish_shared(i), VBX_OK);
	/* the dispatcher went on: every event delivered here */
	wait_for(&srv.shared_seen, 5);
	wait_idle();
	assert_int_equal(stats().out_overflow, before.out_overflow + 2);
	assert_int_equal(stats().queue_len, 2);
	pthread_mutex_lock(&srv.lock);
	srv.hold = 0;
	pthread_mutex_unlock(&srv.lock);
	sem_post(&gate);
	WAIT_STAT(out, before.out + 3);
	assert_int_equal(stats().queue_len, 0);
}

static void test_no_provider_bridge_off(void **state)
{
	assert_false(stats().active);
	assert_int_equal(publish_shared(1), VBX_OK);
	wait_for(&srv.shared_seen, 1);
	/* a message arriving anyway is ignored */
	t_pay p = {.version = 1, .n = 5};
	vbx__bridge_stats before = stats();
	from_other("t_shared", "t_pay", &p, sizeof(p));
	assert_int_equal(stats().in, before.in);
	wait_idle();
	assert_int_equal(get(&srv.shared_seen), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_every_truncation_refused),
	        cmocka_unit_test(test_broken_fields_refused),
	        cmocka_unit_test(test_garbage_refused),
	        cmocka_unit_test(test_encoder_refuses),
	        T(test_local_event_goes_out_once_never_echoed),
	        T(test_user_facing_goes_out_plain_stays),
	        T(test_remote_event_delivered_not_resent),
	        T(test_refused_messages_counted),
	        T(test_provider_down_event_stays_local),
	        T(test_full_queue_drops_never_blocks),
	        cmocka_unit_test_setup_teardown(test_no_provider_bridge_off,
	                                        setup_no_provider, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
