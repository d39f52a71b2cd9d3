/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge.c - the event bridge between replicas (bridge.h).
 *
 * Out: the dispatcher hands every local event to outbound(), which keeps
 * the shared and user-facing ones, encodes them (bridgemsg.c) and puts
 * them on a bounded queue; a thread of the bridge's own takes them off
 * and calls cache_publish, which may wait on the network. The dispatcher
 * thus never waits: when the queue is full the message is dropped and
 * counted, and when the provider is down (VBX_EUNAVAIL) too. Pub/sub is
 * at most once anyway; clients re-read state after an outage.
 *
 * In: the provider's subscriber thread calls receive(), which drops this
 * replica's own messages (the provider delivers them back), checks the
 * event against this replica's declaration and injects it into the event
 * queue (lock-free, vbx__event_inject), marked so that the dispatcher
 * delivers it here but never sends it out again.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "bridgemsg.h"
#include "core.h"
#include "request.h"
#include <vibebox/cache.h>

/* Distinct event names warned about for a mismatched payload. */
#define WARNED_MAX 16

typedef struct outmsg {
	size_t len;
	unsigned char buf[];
} outmsg;

static struct {
	vbx_hook *publish, *subscribe;
	char origin[VBX__BRIDGE_ORIGIN_MAX + 1];
	atomic_bool on; /* receive() injects; stats say active */
	/* The outgoing queue, a ring of pointers; under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	outmsg **ring;
	size_t cap, head, count;
	bool running, stopping, overflowing;
	uint64_t burst; /* dropped in the current overflow */
	pthread_t thread;
	/* Sender thread only. */
	bool down;
	/* Counters. */
	_Atomic uint64_t out, out_overflow, out_unavailable, out_invalid;
	_Atomic uint64_t in, echoes, decode_errors, in_unknown, in_mismatch,
	        in_dropped;
	_Atomic int64_t decode_warned_ns;
	/* Events warned about for a mismatch; under lock. */
	char warned[WARNED_MAX][VBX__BRIDGE_NAME_MAX + 1];
	size_t nwarned;
} b = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void vbx__bridge_register(vbx_plugin *core)
{
	b.publish = vbx_hook_cache_publish_get(core);
	b.subscribe = vbx_hook_cache_subscribe_get(core);
}

/* ---- out: the dispatcher's side ---- */

static bool bridged(const vbx_event *ev)
{
	return vbx__event_shared(ev) || vbx__event_to_json(ev) != NULL;
}

/* The queue accepted a message after dropping some: say how many. */
static void overflow_ended(uint64_t dropped)
{
	vbx__info("event bridge: the outgoing queue has room again after "
	          "dropping %llu events; other replicas missed them",
	          (unsigned long long)dropped);
}

/* Queue m (lock held). False when it must be dropped. */
static bool push_locked(outmsg *m, bool *first_drop, uint64_t *ended)
{
	if (!b.running || b.stopping)
		return false;
	if (b.count == b.cap) {
		*first_drop = !b.overflowing;
		b.overflowing = true;
		b.burst++;
		count(&b.out_overflow);
		return false;
	}
	if (b.overflowing) {
		*ended = b.burst;
		b.overflowing = false;
		b.burst = 0;
	}
	b.ring[(b.head + b.count) % b.cap] = m;
	b.count++;
	pthread_cond_signal(&b.cond);
	return true;
}

static void push(outmsg *m)
{
	bool first_drop = false;
	uint64_t ended = 0;
	pthread_mutex_lock(&b.lock);
	bool queued = push_locked(m, &first_drop, &ended);
	pthread_mutex_unlock(&b.lock);
	if (!queued)
		free(m);
	if (first_drop)
		vbx__warn("event bridge: the outgoing queue is full (%zu "
		          "messages; events.queue): dropping events for other "
		          "replicas until it drains",
		          b.cap);
	if (ended)
		overflow_ended(ended);
}

static void outbound(vbx_event *ev, const void *payload)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	if (!bridged(ev))
		return;
	size_t n = vbx__bridge_encode(
	        b.origin, vbx__event_name(ev), vbx__event_type(ev), payload,
	        vbx__event_payload_size(ev), buf, sizeof(buf));
	outmsg *m = n ? malloc(sizeof(*m) + n) : NULL;
	if (!m) {
		/* A name or type no message can carry: the declaration's
		 * fault, so once per event would do; count every one. */
		count(&b.out_invalid);
		vbx__debug("event bridge: event \"%s\" (%s) not sent to "
		           "other replicas: %s",
		           vbx__event_name(ev), vbx__event_type(ev),
		           n ? "out of memory"
		             : "its name or type cannot be carried");
		return;
	}
	m->len = n;
	memcpy(m->buf, buf, n);
	push(m);
}

/* ---- out: the sender thread ---- */

static void send_one(const outmsg *m)
{
	int rc = vbx_hook_cache_publish_run(b.publish, VBX__BRIDGE_CHANNEL,
	                                    m->buf, m->len);
	if (rc == VBX_OK) {
		count(&b.out);
		if (b.down)
			vbx__info("event bridge: cache_publish works again; "
			          "events reach the other replicas");
		b.down = false;
		return;
	}
	count(&b.out_unavailable);
	if (!b.down)
		vbx__warn("event bridge: cache_publish failed (%s): events of "
		          "this replica do not reach the other replicas until "
		          "the cache provider (redis-cache) is back",
		          vbx__strerror(rc));
	b.down = true;
}

/* The next message, NULL once stopping with nothing left. */
static outmsg *pop(void)
{
	pthread_mutex_lock(&b.lock);
	while (b.count == 0 && !b.stopping)
		pthread_cond_wait(&b.cond, &b.lock);
	outmsg *m = NULL;
	if (b.count) {
		m = b.ring[b.head];
		b.head = (b.head + 1) % b.cap;
		b.count--;
	}
	pthread_mutex_unlock(&b.lock);
	return m;
}

/* Stopping while the provider fails: what is left would only wait for
 * timeouts, so it goes now. */
static void drop_rest(void)
{
	pthread_mutex_lock(&b.lock);
	while (b.count) {
		free(b.ring[b.head]);
		b.head = (b.head + 1) % b.cap;
		b.count--;
		count(&b.out_unavailable);
	}
	pthread_mutex_unlock(&b.lock);
}

static void *sender(void *arg)
{
	(void)arg;
	outmsg *m;
	while ((m = pop()) != NULL) {
		send_one(m);
		free(m);
		pthread_mutex_lock(&b.lock);
		bool give_up = b.stopping && b.down;
		pthread_mutex_unlock(&b.lock);
		if (give_up)
			drop_rest();
	}
	return NULL;
}

/* ---- in: the provider's subscriber thread ---- */

static void warn_decode(const char *why, size_t len)
{
	/* Garbage on the channel may come in floods: one line a minute. */
	int64_t now = vbx__now_ns(), last = atomic_load(&b.decode_warned_ns);
	if (last && now - last < INT64_C(60000000000))
		return;
	if (!atomic_compare_exchange_strong(&b.decode_warned_ns, &last, now))
		return;
	vbx__warn("event bridge: a message of %zu bytes on channel \"%s\" was "
	          "refused: %s (is another program, or a newer vibeboxd, "
	          "publishing there? %llu refused so far)",
	          len, VBX__BRIDGE_CHANNEL, why,
	          (unsigned long long)atomic_load(&b.decode_errors));
}

/* True the first time name is seen here (at most WARNED_MAX names). */
static bool first_mismatch(const char *name)
{
	bool first = true;
	pthread_mutex_lock(&b.lock);
	for (size_t i = 0; first && i < b.nwarned; i++)
		first = strcmp(b.warned[i], name) != 0;
	if (first && b.nwarned < WARNED_MAX)
		snprintf(b.warned[b.nwarned++], sizeof(b.warned[0]), "%s",
		         name);
	else if (first)
		first = false;
	pthread_mutex_unlock(&b.lock);
	return first;
}

/* The event m names, if this replica bridges it with the same payload. */
static vbx_event *accept_event(const vbx__bridge_msg *m)
{
	vbx_event *ev = vbx__event_find(m->name);
	if (!ev || !bridged(ev)) {
		count(&b.in_unknown);
		vbx__debug("event bridge: event \"%s\" from replica %s is not "
		           "one this replica shares; dropped",
		           m->name, m->origin);
		return NULL;
	}
	if (vbx__event_type_matches(ev, m->type) &&
	    m->payload_size == vbx__event_payload_size(ev))
		return ev;
	count(&b.in_mismatch);
	if (first_mismatch(m->name))
		vbx__warn("event bridge: event \"%s\" from replica %s carries "
		          "\"%s\" (%zu bytes) but this replica declares \"%s\" "
		          "(%zu bytes); such events are dropped until every "
		          "replica runs the same plugins",
		          m->name, m->origin, m->type, m->payload_size,
		          vbx__event_type(ev), vbx__event_payload_size(ev));
	return NULL;
}

void vbx__bridge_receive(const void *msg, size_t len)
{
	vbx__bridge_msg m;
	const char *why = NULL;
	if (!msg) {
		vbx__debug("event bridge: the cache provider (re)connected; "
		           "events sent meanwhile are lost");
		return;
	}
	if (!atomic_load(&b.on))
		return;
	if (vbx__bridge_decode(msg, len, &m, &why) != VBX_OK) {
		count(&b.decode_errors);
		warn_decode(why, len);
		return;
	}
	if (strcmp(m.origin, b.origin) == 0) {
		count(&b.echoes);
		return;
	}
	vbx_event *ev = accept_event(&m);
	if (!ev)
		return;
	if (vbx__event_inject(ev, m.payload, m.payload_size) == VBX_OK)
		count(&b.in);
	else
		count(&b.in_dropped);
}

static void on_message(void *ud, const char *channel, const void *msg,
                       size_t len)
{
	(void)ud;
	(void)channel;
	vbx__bridge_receive(msg, len);
}

/* ---- start and stop ---- */

static int start_sender(int queue_cap)
{
	b.ring = calloc((size_t)queue_cap, sizeof(*b.ring));
	if (!b.ring) {
		vbx__error("event bridge: out of memory for a queue of %d "
		           "messages (events.queue)",
		           queue_cap);
		return VBX_ENOMEM;
	}
	b.cap = (size_t)queue_cap;
	b.head = b.count = 0;
	b.running = true;
	b.stopping = false;
	if (pthread_create(&b.thread, NULL, sender, NULL) != 0) {
		b.running = false;
		free(b.ring);
		b.ring = NULL;
		vbx__error("event bridge: cannot start its sender thread; "
		           "events stay on this replica");
		return VBX_ERR;
	}
	return VBX_OK;
}

int vbx__bridge_start(int queue_cap)
{
	if (!b.publish || !b.subscribe || b.publish->count == 0 ||
	    b.subscribe->count == 0) {
		vbx__debug("event bridge: no cache_publish/cache_subscribe "
		           "provider (redis-cache): events stay on this "
		           "replica");
		return VBX_OK;
	}
	if (b.running || queue_cap < 1)
		return b.running ? VBX_OK : VBX_EINVAL;
	snprintf(b.origin, sizeof(b.origin), "%s", vbx__replica_id());
	int rc = start_sender(queue_cap);
	if (rc != VBX_OK)
		return rc;
	atomic_store(&b.on, true);
	rc = vbx_hook_cache_subscribe_run(b.subscribe, VBX__BRIDGE_CHANNEL,
	                                  on_message, NULL);
	if (rc != VBX_OK)
		vbx__warn("event bridge: cache_subscribe(\"%s\") failed (%s): "
		          "events of other replicas do not reach this one",
		          VBX__BRIDGE_CHANNEL, vbx__strerror(rc));
	vbx__events_set_outbound(outbound);
	vbx__info("event bridge: replica %s shares its events through "
	          "channel \"%s\"",
	          b.origin, VBX__BRIDGE_CHANNEL);
	return VBX_OK;
}

void vbx__bridge_stop(void)
{
	if (!b.running)
		return;
	vbx__events_set_outbound(NULL);
	atomic_store(&b.on, false);
	pthread_mutex_lock(&b.lock);
	b.stopping = true;
	pthread_cond_signal(&b.cond);
	pthread_mutex_unlock(&b.lock);
	pthread_join(b.thread, NULL);
	pthread_mutex_lock(&b.lock);
	/* The dispatcher may still be in outbound(): push() sees this. */
	b.running = false;
	free(b.ring);
	b.ring = NULL;
	b.count = 0;
	pthread_mutex_unlock(&b.lock);
}

void vbx__bridge_stats_get(vbx__bridge_stats *out)
{
	pthread_mutex_lock(&b.lock);
	out->queue_len = b.count;
	out->queue_cap = b.running ? b.cap : 0;
	pthread_mutex_unlock(&b.lock);
	out->active = atomic_load(&b.on);
	out->out = atomic_load(&b.out);
	out->out_overflow = atomic_load(&b.out_overflow);
	out->out_unavailable = atomic_load(&b.out_unavailable);
	out->out_invalid = atomic_load(&b.out_invalid);
	out->in = atomic_load(&b.in);
	out->echoes = atomic_load(&b.echoes);
	out->decode_errors = atomic_load(&b.decode_errors);
	out->in_unknown = atomic_load(&b.in_unknown);
	out->in_mismatch = atomic_load(&b.in_mismatch);
	out->in_dropped = atomic_load(&b.in_dropped);
}
