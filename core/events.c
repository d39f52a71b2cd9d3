/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c - the asynchronous event queue.
 *
 * Publishers on any thread copy their payload into a bounded ring; one
 * dispatcher thread hands each event to its subscribers in order.
 *
 * The ring is a multi-producer, single-consumer array of slots, each with
 * a sequence number that says what it holds: for position pos, the slot is
 * free when seq == 2 pos and holds that position's event once
 * seq == 2 pos + 1; the dispatcher frees it for the next lap with
 * seq = 2 (pos + cap). (Doubling keeps "full" and "free for the next
 * position" apart even with a single slot.) A publish is thus a
 * compare-and-swap on the tail, a copy and a store, with no lock. The mutex and
 * condition variables only put threads to sleep: the dispatcher when the ring
 * is empty (publishers signal it only when it sleeps, so a busy queue costs no
 * system call), publishers when the ring is full under the BLOCK policy.
 *
 * Closing is a bit in the tail: once set, no position can be claimed,
 * so the dispatcher knows exactly how far to drain before it exits.
 *
 * Each slot also says whether its event came from another replica
 * (vbx__event_inject, bridge.c): the dispatcher offers only local events
 * to the outbound hook, so a bridged event is never sent back out.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define CLOSED (UINT64_C(1) << 63)
#define JSON_MAX 4096
#define RESOURCE_MAX VBX_EVENT_RESOURCE_LEN
/* Pause rounds the dispatcher polls an empty ring before it sleeps; a few
 * microseconds, so a steady stream of events never needs a wake-up. */
#define SPIN_ROUNDS 512

struct slot {
	_Atomic uint64_t seq;
	vbx_event *ev;
	bool remote; /* injected from another replica: not bridged again */
};

/* Payloads start at an offset that suits any type. */
#define PAYLOAD_OFFSET                                                         \
	((sizeof(struct slot) + _Alignof(max_align_t) - 1) &                   \
	 ~(_Alignof(max_align_t) - 1))
#define CACHE_LINE 64

/*
 * Laid out so that a publish and a delivery share no cache line but the
 * slot itself: the tail line is written by publishers, the head line by
 * the dispatcher, and the flags each side polls on every event change
 * only when a thread goes to sleep.
 */
static struct {
	/* Written by every publish. */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail; /* next position; CLOSED */
	atomic_uint publishers; /* inside vbx__event_publish right now */
	_Atomic uint64_t dropped;
	/* Written by every delivery. */
	_Alignas(CACHE_LINE) _Atomic uint64_t
	        head; /* next position to deliver */
	/* Written only on the way to sleep and back. */
	_Alignas(CACHE_LINE) atomic_bool sleeping; /* the dispatcher waits */
	atomic_uint blocked; /* publishers waiting for room (BLOCK) */
	/* Fixed while the queue runs. */
	_Alignas(CACHE_LINE) unsigned char *ring;
	uint64_t cap;
	size_t stride, slot_payload;
	int overflow;
	bool running;
	pthread_t thread;
	_Atomic(vbx__event_json_sink *) sink;
	_Atomic(vbx__event_outbound *) outbound;
	/* Statistics: totals of earlier runs. */
	_Atomic uint64_t published_before, delivered_before;
	_Atomic uint64_t queue_cap;
	_Alignas(CACHE_LINE) pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
} q = {
        .tail = CLOSED,
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER,
};

static _Thread_local bool on_dispatcher;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline struct slot *slot_at(uint64_t pos)
{
	return (struct slot *)(void *)(q.ring + (pos % q.cap) * q.stride);
}

static inline unsigned char *payload_of(struct slot *s)
{
	return (unsigned char *)s + PAYLOAD_OFFSET;
}

void vbx__events_set_json_sink(vbx__event_json_sink *sink)
{
	atomic_store(&q.sink, sink);
}

void vbx__events_set_outbound(vbx__event_outbound *out)
{
	atomic_store(&q.outbound, out);
}

/* ---- publishing ---- */

enum { FULL = 1 };

/* Claim the slot at the tail: VBX_OK, FULL or VBX_ESTATE (closed). */
static int claim(struct slot **out, uint64_t *out_pos)
{
	uint64_t pos = atomic_load(&q.tail);
	for (;;) {
		if (pos & CLOSED)
			return VBX_ESTATE;
		struct slot *s = slot_at(pos);
		int64_t diff = (int64_t)(atomic_load(&s->seq) - 2 * pos);
		if (diff < 0)
			return FULL; /* still holds the event of the last lap */
		if (diff == 0 &&
		    atomic_compare_exchange_weak_explicit(
		            &q.tail, &pos, pos + 1, memory_order_relaxed,
		            memory_order_relaxed)) {
			*out = s;
			*out_pos = pos;
			return VBX_OK;
		}
		if (diff > 0) /* another publisher took it; catch up */
			pos = atomic_load(&q.tail);
	}
}

/* The ring is full: drop, or wait for the dispatcher to make room. */
static int wait_for_room(struct slot **s, uint64_t *pos)
{
	/* The dispatcher cannot wait for itself. */
	if (q.overflow == VBX__OVERFLOW_DROP || on_dispatcher)
		return VBX_EAGAIN;
	int rc;
	pthread_mutex_lock(&q.lock);
	/* Announce before retrying: the dispatcher frees a slot, then looks
	 * at `blocked`, so either the retry or its broadcast sees the other. */
	atomic_fetch_add(&q.blocked, 1);
	while ((rc = claim(s, pos)) == FULL)
		pthread_cond_wait(&q.not_full, &q.lock);
	atomic_fetch_sub(&q.blocked, 1);
	pthread_mutex_unlock(&q.lock);
	return rc;
}

static void fill(struct slot *s, uint64_t pos, vbx_event *ev,
                 const void *payload, size_t size, bool remote)
{
	s->ev = ev;
	s->remote = remote;
	memcpy(payload_of(s), payload, size);
	/* seq_cst, paired with the dispatcher's `sleeping` (see below). */
	atomic_store(&s->seq, 2 * pos + 1);
	if (atomic_load(&q.sleeping)) {
		pthread_mutex_lock(&q.lock);
		pthread_cond_signal(&q.not_empty);
		pthread_mutex_unlock(&q.lock);
	}
}

static int publish(vbx_event *ev, const void *payload, size_t size, bool remote)
{
	struct slot *s;
	uint64_t pos;

	/* Checked before the ring is touched: it exists only while open. */
	if (atomic_load(&q.tail) & CLOSED)
		return VBX_ESTATE;
	if (size > q.slot_payload)
		return VBX_EINVAL;
	int rc = claim(&s, &pos);
	if (rc == FULL)
		rc = wait_for_room(&s, &pos);
	if (rc != VBX_OK)
		return rc;
	fill(s, pos, ev, payload, size, remote);
	return VBX_OK;
}

static int enqueue(vbx_event *ev, const void *payload, size_t size, bool remote)
{
	if (!ev || !payload || size != vbx__event_payload_size(ev))
		return VBX_EINVAL;
	/* Counted so that stop frees the ring only when nobody is in here. */
	atomic_fetch_add(&q.publishers, 1);
	int rc = publish(ev, payload, size, remote);
	atomic_fetch_sub_explicit(&q.publishers, 1, memory_order_release);
	if (rc == VBX_EAGAIN || rc == VBX_ESTATE)
		atomic_fetch_add_explicit(&q.dropped, 1, memory_order_relaxed);
	return rc;
}

int vbx__event_publish(vbx_event *ev, const void *payload, size_t size)
{
	return enqueue(ev, payload, size, false);
}

int vbx__event_inject(vbx_event *ev, const void *payload, size_t size)
{
	return enqueue(ev, payload, size, true);
}

/* ---- the dispatcher ---- */

static void render(struct slot *s, vbx__event_json_sink *sink)
{
	vbx_event_json_fn *to_json = vbx__event_to_json(s->ev);
	char json[JSON_MAX], type[RESOURCE_MAX] = "", id[RESOURCE_MAX] = "";

	if (!to_json)
		return;
	json[0] = '\0';
	int rc = to_json(payload_of(s), json, sizeof(json), type, id);
	if (rc != VBX_OK) {
		vbx__warn("event \"%s\": its to_json failed (%d); not sent to "
		          "/api/v1/events",
		          vbx__event_name(s->ev), rc);
		return;
	}
	/* Whatever the renderer did, hand the sink terminated strings. */
	json[sizeof(json) - 1] = '\0';
	type[sizeof(type) - 1] = '\0';
	id[sizeof(id) - 1] = '\0';
	sink(json, type, id);
}

static void deliver(struct slot *s)
{
	/* Handed out first: the bridge only copies, and other replicas then
	 * hear of the event while this one's subscribers run. */
	vbx__event_outbound *out = atomic_load(&q.outbound);
	if (out && !s->remote)
		out(s->ev, payload_of(s));
	vbx__event_deliver(s->ev, payload_of(s));
	vbx__event_json_sink *sink = atomic_load(&q.sink);
	if (sink)
		render(s, sink);
}

static bool ready(struct slot *s, uint64_t head)
{
	return atomic_load(&s->seq) == 2 * head + 1;
}

/* Closed, and every position claimed before closing delivered. */
static bool drained(uint64_t head)
{
	uint64_t tail = atomic_load(&q.tail);
	return (tail & CLOSED) && (tail & ~CLOSED) == head;
}

/* Wait for the slot at head to fill. False when it is time to exit. */
static bool wait_for_event(struct slot *s, uint64_t head)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		if (ready(s, head))
			return true;
		cpu_relax();
	}
	pthread_mutex_lock(&q.lock);
	/* seq_cst store, then load the slot: a publisher stores the slot,
	 * then loads `sleeping`, so at least one of us sees the other. */
	atomic_store(&q.sleeping, true);
	while (!ready(s, head) && !drained(head))
		pthread_cond_wait(&q.not_empty, &q.lock);
	atomic_store(&q.sleeping, false);
	pthread_mutex_unlock(&q.lock);
	return ready(s, head);
}

static void *dispatch(void *arg)
{
	uint64_t head = 0;

	on_dispatcher = true;
	for (;;) {
		struct slot *s = slot_at(head);
		if (!ready(s, head) && !wait_for_event(s, head))
			break;
		deliver(s);
		atomic_store(&s->seq, 2 * (head + q.cap));
		atomic_store_explicit(&q.head, ++head, memory_order_release);
		if (atomic_load(&q.blocked)) {
			pthread_mutex_lock(&q.lock);
			pthread_cond_broadcast(&q.not_full);
			pthread_mutex_unlock(&q.lock);
		}
	}
	return NULL;
}

/* ---- start and stop ---- */

static bool ring_alloc(uint64_t cap)
{
	size_t payload = vbx__registry_max_payload();
	if (payload == 0)
		payload = 1;
	size_t stride = (PAYLOAD_OFFSET + payload + CACHE_LINE - 1) &
	                ~(size_t)(CACHE_LINE - 1);
	if (cap > SIZE_MAX / stride)
		return false;
	q.ring = aligned_alloc(CACHE_LINE, (size_t)cap * stride);
	if (!q.ring)
		return false;
	q.cap = cap;
	q.stride = stride;
	q.slot_payload = payload;
	for (uint64_t i = 0; i < cap; i++)
		atomic_init(&slot_at(i)->seq, 2 * i);
	return true;
}

/* Close the tail, wake everyone, and wait for the publishers to leave. */
static void close_queue(void)
{
	atomic_fetch_or(&q.tail, CLOSED);
	pthread_mutex_lock(&q.lock);
	pthread_cond_signal(&q.not_empty);
	pthread_cond_broadcast(&q.not_full);
	pthread_mutex_unlock(&q.lock);
}

static void wait_publishers_gone(void)
{
	while (atomic_load(&q.publishers) > 0)
		sched_yield();
}

/* Fold this run's totals into the earlier ones and reset positions. */
static void reset_positions(void)
{
	uint64_t published = atomic_load(&q.tail) & ~CLOSED;
	atomic_fetch_add(&q.published_before, published);
	atomic_fetch_add(&q.delivered_before, atomic_load(&q.head));
	atomic_store(&q.head, 0);
	atomic_store(&q.tail, CLOSED);
}

int vbx__events_start(int cap, int overflow)
{
	if (cap < 1 || (overflow != VBX__OVERFLOW_DROP &&
	                overflow != VBX__OVERFLOW_BLOCK)) {
		vbx__error("events: queue of %d with overflow %d: expected a "
		           "size of 1 or more and drop or block",
		           cap, overflow);
		return VBX_EINVAL;
	}
	if (q.running) {
		vbx__error("events: the queue is already running");
		return VBX_ESTATE;
	}
	reset_positions();
	if (!ring_alloc((uint64_t)cap)) {
		vbx__error("events: out of memory for a queue of %d events",
		           cap);
		return VBX_ENOMEM;
	}
	q.overflow = overflow;
	atomic_store(&q.queue_cap, (uint64_t)cap);
	/* Open before the dispatcher runs: it exits on a closed, empty ring. */
	atomic_store(&q.tail, 0);
	if (pthread_create(&q.thread, NULL, dispatch, NULL) != 0) {
		close_queue();
		wait_publishers_gone();
		/* Whatever got in will never be delivered. */
		atomic_fetch_add(&q.dropped, atomic_load(&q.tail) & ~CLOSED);
		reset_positions();
		free(q.ring);
		q.ring = NULL;
		vbx__error("events: cannot start the dispatcher thread");
		return VBX_ERR;
	}
	q.running = true;
	return VBX_OK;
}

void vbx__events_stop(void)
{
	if (!q.running)
		return;
	if (on_dispatcher) {
		vbx__error("events: a subscriber called stop; ignored");
		return;
	}
	close_queue();
	pthread_join(q.thread, NULL);
	wait_publishers_gone();
	free(q.ring);
	q.ring = NULL;
	q.running = false;
}

void vbx__events_stats(vbx__event_stats *out)
{
	uint64_t head = atomic_load(&q.head);
	uint64_t tail = atomic_load(&q.tail) & ~CLOSED;

	out->published = atomic_load(&q.published_before) + tail;
	out->delivered = atomic_load(&q.delivered_before) + head;
	out->dropped = atomic_load(&q.dropped);
	out->queue_len = tail > head ? tail - head : 0;
	out->queue_cap = atomic_load(&q.queue_cap);
}
