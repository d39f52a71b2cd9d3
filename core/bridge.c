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
	atomic_bool on;        /* receive() injects; stats say active */
	atomic_bool listening; /* the provider confirmed the subscription */
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
} br = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void vbx__bridge_register(vbx_plugin *core)
{
	br.publish = vbx_hook_cache_publish_get(core);
	br.subscribe = vbx_hook_cache_subscribe_get(core);
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
	if (!br.running || br.stopping)
		return false;
	if (br.count == br.cap) {
		*first_drop = !br.overflowing;
		br.overflowing = true;
		br.burst++;
		count(&br.out_overflow);
		return false;
	}
	if (br.overflowing) {
		*ended = br.burst;
		br.overflowing = false;
		br.burst = 0;
	}
	br.ring[(br.head + br.count) % br.cap] = m;
	br.count++;
	pthread_cond_signal(&br.cond);
	return true;
}

static void push(outmsg *m)
{
	bool first_drop = false;
	uint64_t ended = 0;
	pthread_mutex_lock(&br.lock);
	bool queued = push_locked(m, &first_drop, &ended);
	pthread_mutex_unlock(&br.lock);
	if (!queued)
		free(m);
	if (first_drop)
		vbx__warn("event bridge: the outgoing queue is full (%zu "
		          "messages; events.queue): dropping events for other "
		          "replicas until it drains",
		          br.cap);
	if (ended)
		overflow_ended(ended);
}

static void outbound(vbx_event *ev, const void *payload)
{
	unsigned char buf[VBX__BRIDGE_MSG_MAX];
	if (!bridged(ev))
		return;
	size_t n = vbx__bridge_encode(
	        br.origin, vbx__event_name(ev), vbx__event_type(ev), payload,
	        vbx__event_payload_size(ev), buf, sizeof(buf));
	outmsg *m = n ? malloc(sizeof(*m) + n) : NULL;
	if (!m) {
		/* A name or type no message can carry: the declaration's
		 * fault, so once per event would do; count every one. */
		count(&br.out_invalid);
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
	int rc = vbx_hook_cache_publish_run(br.publish, VBX__BRIDGE_CHANNEL,
	                                    m->buf, m->len);
	if (rc == VBX_OK) {
		count(&br.out);
		if (br.down)
			vbx__info("event bridge: cache_publish works again; "
			          "events reach the other replicas");
		br.down = false;
		return;
	}
	count(&br.out_unavailable);
	if (!br.down)
		vbx__warn("event bridge: cache_publish failed (%s): events of "
		          "this replica do not reach the other replicas until "
		          "the cache provider (redis-cache) is back",
		          vbx__strerror(rc));
	br.down = true;
}

/* The next message, NULL once stopping with nothing left. */
static outmsg *pop(void)
{
	pthread_mutex_lock(&br.lock);
	while (br.count == 0 && !br.stopping)
		pthread_cond_wait(&br.cond, &br.lock);
	outmsg *m = NULL;
	if (br.count) {
		m = br.ring[br.head];
		br.head = (br.head + 1) % br.cap;
		br.count--;
	}
	pthread_mutex_unlock(&br.lock);
	return m;
}

/* Stopping while the provider fails: what is left would only wait for
 * timeouts, so it goes now. */
static void drop_rest(void)
{
	pthread_mutex_lock(&br.lock);
	while (br.count) {
		free(br.ring[br.head]);
		br.head = (br.head + 1) % br.cap;
		br.count--;
		count(&br.out_unavailable);
	}
	pthread_mutex_unlock(&br.lock);
}

static void *sender(void *arg)
{
	(void)arg;
	outmsg *m;
	while ((m = pop()) != NULL) {
		send_one(m);
		free(m);
		pthread_mutex_lock(&br.lock);
		bool give_up = br.stopping && br.down;
		pthread_mutex_unlock(&br.lock);
		if (give_up)
			drop_rest();
	}
	return NULL;
}

/* ---- in: the provider's subscriber thread ---- */

static void warn_decode(const char *why, size_t len)
{
	/* Garbage on the channel may come in floods: one line a minute. */
	int64_t now = vbx__now_ns(), last = atomic_load(&br.decode_warned_ns);
	if (last && now - last < INT64_C(60000000000))
		return;
	if (!atomic_compare_exchange_strong(&br.decode_warned_ns, &last, now))
		return;
	vbx__warn("event bridge: a message of %zu bytes on channel \"%s\" was "
	          "refused: %s (is another program, or a newer vibeboxd, "
	          "publishing there? %llu refused so far)",
	          len, VBX__BRIDGE_CHANNEL, why,
	          (unsigned long long)atomic_load(&br.decode_errors));
}

/* True the first time name is seen here (at most WARNED_MAX names). */
static bool first_mismatch(const char *name)
{
	bool first = true;
	pthread_mutex_lock(&br.lock);
	for (size_t i = 0; first && i < br.nwarned; i++)
		first = strcmp(br.warned[i], name) != 0;
	if (first && br.nwarned < WARNED_MAX)
		snprintf(br.warned[br.nwarned++], sizeof(br.warned[0]), "%s",
		         name);
	else if (first)
		first = false;
	pthread_mutex_unlock(&br.lock);
	return first;
}

/* The event m names, if this replica bridges it with the same payload. */
static vbx_event *accept_event(const vbx__bridge_msg *m)
{
	vbx_event *ev = vbx__event_find(m->name);
	if (!ev || !bridged(ev)) {
		count(&br.in_unknown);
		vbx__debug("event bridge: event \"%s\" from replica %s is not "
		           "one this replica shares; dropped",
		           m->name, m->origin);
		return NULL;
	}
	if (vbx__event_type_matches(ev, m->type) &&
	    m->payload_size == vbx__event_payload_size(ev))
		return ev;
	count(&br.in_mismatch);
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
		/* From now on other replicas' events reach this one. */
		if (!atomic_exchange(&br.listening, true))
			vbx__info("event bridge: subscribed; other replicas' "
			          "events reach this one");
		else
			vbx__debug(
			        "event bridge: the cache provider "
			        "reconnected; events sent meanwhile are lost");
		return;
	}
	if (!atomic_load(&br.on))
		return;
	if (vbx__bridge_decode(msg, len, &m, &why) != VBX_OK) {
		count(&br.decode_errors);
		warn_decode(why, len);
		return;
	}
	if (strcmp(m.origin, br.origin) == 0) {
		count(&br.echoes);
		return;
	}
	vbx_event *ev = accept_event(&m);
	if (!ev)
		return;
	if (vbx__event_inject(ev, m.payload, m.payload_size) == VBX_OK)
		count(&br.in);
	else
		count(&br.in_dropped);
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
	br.ring = calloc((size_t)queue_cap, sizeof(*br.ring));
	if (!br.ring) {
		vbx__error("event bridge: out of memory for a queue of %d "
		           "messages (events.queue)",
		           queue_cap);
		return VBX_ENOMEM;
	}
	br.cap = (size_t)queue_cap;
	br.head = br.count = 0;
	br.running = true;
	br.stopping = false;
	if (pthread_create(&br.thread, NULL, sender, NULL) != 0) {
		br.running = false;
		free(br.ring);
		br.ring = NULL;
		vbx__error("event bridge: cannot start its sender thread; "
		           "events stay on this replica");
		return VBX_ERR;
	}
	return VBX_OK;
}

int vbx__bridge_start(int queue_cap)
{
	if (!br.publish || !br.subscribe || br.publish->count == 0 ||
	    br.subscribe->count == 0) {
		vbx__debug("event bridge: no cache_publish/cache_subscribe "
		           "provider (redis-cache): events stay on this "
		           "replica");
		return VBX_OK;
	}
	if (br.running)
		return VBX_OK;
	if (queue_cap < 1)
		return VBX_EINVAL;
	snprintf(br.origin, sizeof(br.origin), "%s", vbx__replica_id());
	int rc = start_sender(queue_cap);
	if (rc != VBX_OK)
		return rc;
	atomic_store(&br.on, true);
	rc = vbx_hook_cache_subscribe_run(br.subscribe, VBX__BRIDGE_CHANNEL,
	                                  on_message, NULL);
	if (rc != VBX_OK)
		vbx__warn("event bridge: cache_subscribe(\"%s\") failed (%s): "
		          "events of other replicas do not reach this one",
		          VBX__BRIDGE_CHANNEL, vbx__strerror(rc));
	vbx__events_set_outbound(outbound);
	vbx__info("event bridge: replica %s shares its events through "
	          "channel \"%s\"",
	          br.origin, VBX__BRIDGE_CHANNEL);
	return VBX_OK;
}

void vbx__bridge_stop(void)
{
	if (!br.running)
		return;
	vbx__events_set_outbound(NULL);
	atomic_store(&br.on, false);
	atomic_store(&br.listening, false);
	pthread_mutex_lock(&br.lock);
	br.stopping = true;
	pthread_cond_signal(&br.cond);
	pthread_mutex_unlock(&br.lock);
	pthread_join(br.thread, NULL);
	pthread_mutex_lock(&br.lock);
	/* The dispatcher may still be in outbound(): push() sees this. */
	br.running = false;
	free(br.ring);
	br.ring = NULL;
	br.count = 0;
	pthread_mutex_unlock(&br.lock);
}

void vbx__bridge_stats_get(vbx__bridge_stats *out)
{
	pthread_mutex_lock(&br.lock);
	out->queue_len = br.count;
	out->queue_cap = br.running ? br.cap : 0;
	pthread_mutex_unlock(&br.lock);
	out->active = atomic_load(&br.on);
	out->listening = atomic_load(&br.listening);
	out->out = atomic_load(&br.out);
	out->out_overflow = atomic_load(&br.out_overflow);
	out->out_unavailable = atomic_load(&br.out_unavailable);
	out->out_invalid = atomic_load(&br.out_invalid);
	out->in = atomic_load(&br.in);
	out->echoes = atomic_load(&br.echoes);
	out->decode_errors = atomic_load(&br.decode_errors);
	out->in_unknown = atomic_load(&br.in_unknown);
	out->in_mismatch = atomic_load(&br.in_mismatch);
	out->in_dropped = atomic_load(&br.in_dropped);
}
