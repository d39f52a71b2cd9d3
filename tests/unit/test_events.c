/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_events.c - the asynchronous event queue: order, copies, overflow
 * (drop and block), shutdown, the JSON sink, many publishers.
 *
 * A subscriber that waits on a semaphore holds the dispatcher, so a test
 * can fill the queue exactly. vbx__events_stop() delivers what is queued
 * and joins the dispatcher, so after it everything a subscriber wrote is
 * visible to the test.
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
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

#ifndef VBX_HAVE_HOST
/* host.c is not linked: the table behind the events' and plugins' heads,
 * with the members these tests reach. */
const vbx_host vbx__host = {
        .event_get = vbx__event_get,
        .event_subscribe = vbx__event_subscribe,
        .event_publish = vbx__event_publish,
};
#endif

typedef struct t_payload {
	uint32_t version;
	int n;
	int producer;
	char text[24];
} t_payload;
static int t_render(const void *payload, char *buf, size_t len, char *rtype,
                    char *rid);
VBX_EVENT_DECLARE(t_ev, t_payload, NULL)
VBX_EVENT_DECLARE(t_other, t_payload, NULL)
VBX_EVENT_DECLARE(t_json, t_payload, t_render)

typedef struct t_big_payload {
	uint32_t version;
	char blob[900];
} t_big_payload;
VBX_EVENT_DECLARE(t_big, t_big_payload, NULL)

static char name_alpha[] = "alpha", name_beta[] = "beta";
static vbx_plugin alpha = {.head = {&vbx__host}, .name = name_alpha};
static vbx_plugin beta = {.head = {&vbx__host}, .name = name_beta, .order = 1};

#define LOG_MAX 50000

/* What the subscribers saw; written on the dispatcher thread only. */
static struct {
	int n[LOG_MAX];
	int who[LOG_MAX];
	char text[64][24];
	int count;
	int nested_rc;
	int last_seen[8]; /* per producer, for the many-publisher test */
	bool out_of_order;
	int json_calls;
	char json[256], rtype[64], rid[64];
} seen;

static sem_t gate, entered;
static int gate_at = -1; /* the n at which the subscriber holds still */

static vbx_event *ev, *other, *jev;
static vbx__event_stats before;

static void record(void *ud, const t_payload *p)
{
	int i = seen.count++;
	if (i < LOG_MAX) {
		seen.n[i] = p->n;
		seen.who[i] = (int)(intptr_t)ud;
	}
	if (i < 64)
		memcpy(seen.text[i], p->text, sizeof(p->text));
	if (p->n == gate_at && ud == (void *)1) {
		sem_post(&entered);
		sem_wait(&gate);
	}
}

static int t_render(const void *payload, char *buf, size_t len, char *rtype,
                    char *rid)
{
	const t_payload *p = payload;
	if (p->n < 0)
		return VBX_EINVAL;
	snprintf(buf, len, "{\"type\":\"test\",\"n\":%d}", p->n);
	strcpy(rtype, "thing");
	snprintf(rid, 64, "id-%d", p->n);
	return VBX_OK;
}

static void sink(const char *json, const char *rtype, const char *rid)
{
	seen.json_calls++;
	snprintf(seen.json, sizeof(seen.json), "%s", json);
	snprintf(seen.rtype, sizeof(seen.rtype), "%s", rtype);
	snprintf(seen.rid, sizeof(seen.rid), "%s", rid);
}

static int setup(void **state)
{
	memset(&seen, 0, sizeof(seen));
	gate_at = -1;
	sem_init(&gate, 0, 0);
	sem_init(&entered, 0, 0);
	ev = vbx_event_t_ev_get(&alpha);
	other = vbx_event_t_other_get(&alpha);
	jev = vbx_event_t_json_get(&alpha);
	assert_non_null(ev);
	assert_int_equal(vbx_event_t_ev_subscribe(&alpha, record, (void *)1),
	                 VBX_OK);
	assert_int_equal(vbx_event_t_ev_subscribe(&beta, record, (void *)2),
	                 VBX_OK);
	vbx__events_stats(&before);
	return 0;
}

static int teardown(void **state)
{
	/* A failed assertion may leave the dispatcher held: let it go. */
	gate_at = -1;
	sem_post(&gate);
	vbx__events_stop();
	vbx__events_set_json_sink(NULL);
	vbx__registry_fini();
	sem_destroy(&gate);
	sem_destroy(&entered);
	return 0;
}

static int publish(int n, const char *text)
{
	t_payload p = {.version = 1, .n = n};
	snprintf(p.text, sizeof(p.text), "%s", text ? text : "");
	return vbx_event_t_ev_publish(ev, &p);
}

/* The statistics since setup. */
static vbx__event_stats since(void)
{
	vbx__event_stats now;
	vbx__events_stats(&now);
	now.published -= before.published;
	now.delivered -= before.delivered;
	now.dropped -= before.dropped;
	return now;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Wait until the dispatcher has delivered n events since setup. */
static void wait_delivered(uint64_t n)
{
	for (int i = 0; i < 5000 && since().delivered < n; i++)
		sleep_ms(1);
	assert_true(since().delivered >= n);
}

/* ---- order and copies ---- */

static void test_delivery_order(void **state)
{
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(16, VBX__OVERFLOW_BLOCK), VBX_OK);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(publish(i, NULL), VBX_OK);
	vbx__events_stop();

	assert_int_equal(seen.count, 2000);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(seen.n[2 * i], i);
		assert_int_equal(seen.who[2 * i], 1);
		assert_int_equal(seen.n[2 * i + 1], i);
		assert_int_equal(seen.who[2 * i + 1], 2);
	}
	vbx__event_stats s = since();
	assert_int_equal(s.published, 1000);
	assert_int_equal(s.delivered, 1000);
	assert_int_equal(s.dropped, 0);
	assert_int_equal(s.queue_len, 0);
	assert_int_equal(s.queue_cap, 16);
}

static void test_payload_is_copied(void **state)
{
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(8, VBX__OVERFLOW_DROP), VBX_OK);
	gate_at = 0;
	assert_int_equal(publish(0, NULL), VBX_OK);
	sem_wait(&entered); /* held: it cannot read the next one yet */

	t_payload p = {.version = 1, .n = 1};
	strcpy(p.text, "before");
	assert_int_equal(vbx_event_t_ev_publish(ev, &p), VBX_OK);
	p.n = 99;
	strcpy(p.text, "after");
	sem_post(&gate);
	vbx__events_stop();

	assert_int_equal(seen.count, 4);
	assert_int_equal(seen.n[2], 1);
	assert_string_equal(seen.text[2], "before");
	assert_string_equal(seen.text[3], "before");
}

/* ---- a full queue ---- */

static void test_drop_when_full(void **state)
{
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_DROP), VBX_OK);
	gate_at = 0;
	assert_int_equal(publish(0, NULL), VBX_OK);
	sem_wait(&entered); /* the dispatcher holds event 0's slot */
	for (int i = 1; i < 4; i++)
		assert_int_equal(publish(i, NULL), VBX_OK);
	assert_int_equal(publish(4, NULL), VBX_EAGAIN);
	assert_int_equal(publish(5, NULL), VBX_EAGAIN);

	vbx__event_stats s = since();
	assert_int_equal(s.published, 4);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.queue_len, 4);
	assert_int_equal(s.queue_cap, 4);

	sem_post(&gate);
	vbx__events_stop();
	assert_int_equal(seen.count, 8);
	for (int i = 0; i < 4; i++)
		assert_int_equal(seen.n[2 * i], i);
	s = since();
	assert_int_equal(s.delivered, 4);
	assert_int_equal(s.queue_len, 0);
}

static atomic_int blocked_rc = 1;

static void *publish_one(void *arg)
{
	atomic_store(&blocked_rc, publish((int)(intptr_t)arg, NULL));
	return NULL;
}

static void test_block_waits_for_room(void **state)
{
	pthread_t t;

	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(2, VBX__OVERFLOW_BLOCK), VBX_OK);
	gate_at = 0;
	assert_int_equal(publish(0, NULL), VBX_OK);
	sem_wait(&entered);
	assert_int_equal(publish(1, NULL), VBX_OK);

	atomic_store(&blocked_rc, 1);
	assert_int_equal(pthread_create(&t, NULL, publish_one, (void *)2), 0);
	sleep_ms(100);
	assert_int_equal(atomic_load(&blocked_rc), 1); /* still waiting */
	assert_int_equal(since().published, 2);

	sem_post(&gate);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&blocked_rc), VBX_OK);
	vbx__events_stop();
	assert_int_equal(seen.count, 6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(seen.n[2 * i], i);
	assert_int_equal(since().dropped, 0);
}

static void publish_from_subscriber(void *ud, const t_payload *p)
{
	if (p->n == 0)
		seen.nested_rc = publish(100, NULL);
}

static void test_dispatcher_never_blocks_on_itself(void **state)
{
	vbx_event_t_ev_subscribe(&alpha, publish_from_subscriber, NULL);
	vbx__registry_freeze();
	/* One slot, held by the event being delivered: the queue is full. */
	assert_int_equal(vbx__events_start(1, VBX__OVERFLOW_BLOCK), VBX_OK);
	assert_int_equal(publish(0, NULL), VBX_OK);
	wait_delivered(1);
	vbx__events_stop();
	assert_int_equal(seen.nested_rc, VBX_EAGAIN);
	assert_int_equal(seen.count, 2);
	assert_int_equal(since().dropped, 1);
}

static void test_subscriber_may_publish(void **state)
{
	vbx_event_t_ev_subscribe(&alpha, publish_from_subscriber, NULL);
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_BLOCK), VBX_OK);
	assert_int_equal(publish(0, NULL), VBX_OK);
	wait_delivered(2);
	vbx__events_stop();
	assert_int_equal(seen.nested_rc, VBX_OK);
	assert_int_equal(seen.count, 4);
	assert_int_equal(seen.n[2], 100);
}

/* ---- start and stop ---- */

static void *stop_thread(void *arg)
{
	vbx__events_stop();
	return NULL;
}

static void test_publish_during_and_after_stop(void **state)
{
	pthread_t t;

	vbx__registry_freeze();
	assert_int_equal(publish(-1, NULL), VBX_ESTATE); /* not started */
	assert_int_equal(since().dropped, 1);

	assert_int_equal(vbx__events_start(1024, VBX__OVERFLOW_DROP), VBX_OK);
	gate_at = 0;
	assert_int_equal(publish(0, NULL), VBX_OK);
	sem_wait(&entered);
	assert_int_equal(publish(1, NULL), VBX_OK);
	assert_int_equal(publish(2, NULL), VBX_OK);

	/* Stop waits for the held dispatcher; meanwhile publishes fail. Until
	 * the stopping thread gets there they are still queued. */
	assert_int_equal(pthread_create(&t, NULL, stop_thread, NULL), 0);
	int n = 3, rc;
	while ((rc = publish(n, NULL)) == VBX_OK) {
		n++;
		sleep_ms(1);
	}
	int rc_during = publish(1000, NULL);
	sem_post(&gate);
	pthread_join(t, NULL);
	assert_int_equal(rc, VBX_ESTATE);
	assert_int_equal(rc_during, VBX_ESTATE);

	/* Everything accepted before the stop was delivered, in order. */
	assert_int_equal(seen.count, 2 * n);
	for (int i = 0; i < n; i++)
		assert_int_equal(seen.n[2 * i], i);
	assert_int_equal(publish(1001, NULL), VBX_ESTATE);
	vbx__event_stats s = since();
	assert_int_equal(s.published, n);
	assert_int_equal(s.delivered, n);
	assert_int_equal(s.dropped, 4);
	assert_int_equal(s.queue_len, 0);
	vbx__events_stop(); /* a second stop is harmless */
}

static void test_restart(void **state)
{
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_DROP), VBX_OK);
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_DROP), VBX_ESTATE);
	assert_int_equal(publish(1, NULL), VBX_OK);
	vbx__events_stop();
	assert_int_equal(vbx__events_start(3, VBX__OVERFLOW_BLOCK), VBX_OK);
	assert_int_equal(publish(2, NULL), VBX_OK);
	vbx__events_stop();

	assert_int_equal(seen.count, 4);
	assert_int_equal(seen.n[2], 2);
	vbx__event_stats s = since();
	assert_int_equal(s.published, 2);
	assert_int_equal(s.delivered, 2);
	assert_int_equal(s.queue_cap, 3);
}

static void test_bad_arguments(void **state)
{
	t_payload p = {1, 0, 0, ""};

	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(0, VBX__OVERFLOW_DROP), VBX_EINVAL);
	assert_int_equal(vbx__events_start(-5, VBX__OVERFLOW_DROP), VBX_EINVAL);
	assert_int_equal(vbx__events_start(4, 7), VBX_EINVAL);
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_DROP), VBX_OK);

	assert_int_equal(vbx__event_publish(ev, &p, sizeof(p) - 1), VBX_EINVAL);
	assert_int_equal(vbx__event_publish(ev, &p, sizeof(p) + 1), VBX_EINVAL);
	assert_int_equal(vbx__event_publish(ev, NULL, sizeof(p)), VBX_EINVAL);
	assert_int_equal(vbx__event_publish(NULL, &p, sizeof(p)), VBX_EINVAL);

	/* Declared after the start: larger than the queue's slots. */
	vbx_event *big = vbx_event_t_big_get(&beta);
	assert_non_null(big);
	t_big_payload b = {1, "x"};
	assert_int_equal(vbx_event_t_big_publish(big, &b), VBX_EINVAL);
	vbx__events_stop();
	vbx__event_stats s = since();
	assert_int_equal(s.published, 0);
	assert_int_equal(s.dropped, 0);
}

static void test_before_freeze_no_subscriber_runs(void **state)
{
	assert_int_equal(vbx__events_start(4, VBX__OVERFLOW_DROP), VBX_OK);
	assert_int_equal(publish(1, NULL), VBX_OK);
	vbx__events_stop();
	assert_int_equal(seen.count, 0);
	assert_int_equal(since().delivered, 1);
}

/* ---- the outbound hook (the bridge between replicas) ---- */

/* Written on the dispatcher; read after stop. */
static int outbound_calls, outbound_n[4], outbound_seen[4];
static bool outbound_other;

static void outbound(vbx_event *e, const void *payload)
{
	int i = outbound_calls++;
	outbound_other |= e != ev;
	if (i < 4) {
		outbound_n[i] = ((const t_payload *)payload)->n;
		outbound_seen[i] = seen.count; /* subscribers run after it */
	}
}

static void test_outbound_sees_local_not_injected(void **state)
{
	outbound_calls = 0;
	outbound_other = false;
	vbx__registry_freeze();
	vbx__events_set_outbound(outbound);
	assert_int_equal(vbx__events_start(8, VBX__OVERFLOW_BLOCK), VBX_OK);
	assert_int_equal(publish(1, "local"), VBX_OK);
	t_payload p = {.version = 1, .n = 2};
	assert_int_equal(vbx__event_inject(ev, &p, sizeof(p)), VBX_OK);
	assert_int_equal(vbx__event_inject(ev, &p, sizeof(p) - 1), VBX_EINVAL);
	assert_int_equal(publish(3, "local"), VBX_OK);
	vbx__events_stop();
	vbx__events_set_outbound(NULL);
	/* every event delivered to both subscribers, injected or not */
	assert_int_equal(seen.count, 6);
	assert_int_equal(seen.n[2], 2);
	/* only the local ones handed out, each before its subscribers */
	assert_int_equal(outbound_calls, 2);
	assert_false(outbound_other);
	assert_int_equal(outbound_n[0], 1);
	assert_int_equal(outbound_seen[0], 0);
	assert_int_equal(outbound_n[1], 3);
	assert_int_equal(outbound_seen[1], 4);
	assert_int_equal(since().delivered, 3);
}

/* ---- JSON ---- */

static void test_json_sink(void **state)
{
	vbx__registry_freeze();
	vbx__events_set_json_sink(sink);
	assert_int_equal(vbx__events_start(8, VBX__OVERFLOW_BLOCK), VBX_OK);
	t_payload p = {.version = 1, .n = 7};
	assert_int_equal(vbx_event_t_json_publish(jev, &p), VBX_OK);
	p.n = -1; /* the renderer refuses it: no sink call */
	assert_int_equal(vbx_event_t_json_publish(jev, &p), VBX_OK);
	assert_int_equal(publish(3, NULL), VBX_OK); /* no renderer */
	vbx__events_stop();

	assert_int_equal(seen.json_calls, 1);
	assert_string_equal(seen.json, "{\"type\":\"test\",\"n\":7}");
	assert_string_equal(seen.rtype, "thing");
	assert_string_equal(seen.rid, "id-7");
	assert_int_equal(since().delivered, 3);
}

static void test_json_without_sink(void **state)
{
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(8, VBX__OVERFLOW_BLOCK), VBX_OK);
	t_payload p = {.version = 1, .n = 7};
	assert_int_equal(vbx_event_t_json_publish(jev, &p), VBX_OK);
	vbx__events_stop();
	assert_int_equal(seen.json_calls, 0);
	assert_int_equal(since().delivered, 1);
}

/* ---- many publishers ---- */

#define PRODUCERS 4
#define PER_PRODUCER 10000

static void check_sequence(void *ud, const t_payload *p)
{
	if (p->n <= seen.last_seen[p->producer])
		seen.out_of_order = true;
	seen.last_seen[p->producer] = p->n;
	seen.count++;
}

static atomic_int accepted;

static void *producer(void *arg)
{
	t_payload p = {.version = 1, .producer = (int)(intptr_t)arg};
	for (int i = 1; i <= PER_PRODUCER; i++) {
		p.n = i;
		if (vbx_event_t_other_publish(other, &p) == VBX_OK)
			atomic_fetch_add(&accepted, 1);
	}
	return NULL;
}

static void run_producers(int overflow)
{
	pthread_t t[PRODUCERS];

	vbx_event_t_other_subscribe(&alpha, check_sequence, NULL);
	vbx__registry_freeze();
	assert_int_equal(vbx__events_start(64, overflow), VBX_OK);
	atomic_store(&accepted, 0);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	vbx__events_stop();

	vbx__event_stats s = since();
	assert_false(seen.out_of_order);
	assert_int_equal(seen.count, atomic_load(&accepted));
	assert_int_equal(s.published, atomic_load(&accepted));
	assert_int_equal(s.delivered, s.published);
	assert_int_equal(s.published + s.dropped, PRODUCERS * PER_PRODUCER);
}

static void test_many_publishers_block(void **state)
{
	run_producers(VBX__OVERFLOW_BLOCK);
	assert_int_equal(atomic_load(&accepted), PRODUCERS * PER_PRODUCER);
}

static void test_many_publishers_drop(void **state)
{
	run_producers(VBX__OVERFLOW_DROP);
}

int main(void)
{
	/* A broken queue shows as a hang (a held dispatcher, a lost wake-up);
	 * make that a failure rather than a stuck `make check`. */
	alarm(300);
	vbx__log_configure(VBX_LOG_ERROR, false);
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	        T(test_delivery_order),
	        T(test_payload_is_copied),
	        T(test_drop_when_full),
	        T(test_block_waits_for_room),
	        T(test_dispatcher_never_blocks_on_itself),
	        T(test_subscriber_may_publish),
	        T(test_publish_during_and_after_stop),
	        T(test_restart),
	        T(test_bad_arguments),
	        T(test_before_freeze_no_subscriber_runs),
	        T(test_outbound_sees_local_not_injected),
	        T(test_json_sink),
	        T(test_json_without_sink),
	        T(test_many_publishers_block),
	        T(test_many_publishers_drop),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
