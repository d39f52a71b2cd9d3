/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge.h - the event bridge between replicas (bridge.c): events
 * published on this replica that are shared (vbx_event_share) or
 * user-facing (a to_json) go out through the cache_publish hook on the
 * channel "events"; those another replica sent come in through
 * cache_subscribe and are delivered here once, never sent out again.
 * Without a provider of both hooks the bridge is off and costs nothing.
 */
#ifndef VBX_BRIDGE_H
#define VBX_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vibebox/plugin.h>

/* The channel the bridge publishes and listens on (the provider adds its
 * own prefix). */
#define VBX__BRIDGE_CHANNEL "events"

/* What the bridge did since the daemon started (for health and metrics). */
typedef struct vbx__bridge_stats {
	bool active;    /* a provider is there and the bridge runs */
	bool listening; /* the provider has confirmed the subscription once:
	                   until then other replicas' events are missed */
	/* out: messages cache_publish took; dropped because the outgoing
	 * queue was full, because cache_publish answered VBX_EUNAVAIL (or
	 * failed otherwise), or because the event could not be encoded */
	uint64_t out, out_overflow, out_unavailable, out_invalid;
	/* in: events injected here from another replica; echoes: this
	 * replica's own messages heard back and skipped */
	uint64_t in, echoes;
	/* refused messages: undecodable; an event this replica does not
	 * know or does not bridge; a payload type or size that differs
	 * from this replica's declaration; the event queue full */
	uint64_t decode_errors, in_unknown, in_mismatch, in_dropped;
	uint64_t queue_len, queue_cap; /* the outgoing queue now */
} vbx__bridge_stats;

/* Look up the cache hooks (core_init, before the registry freezes). */
void vbx__bridge_register(vbx_plugin *core);

/*
 * Start bridging once the plugins have started (their provider is then
 * connected or reconnecting): a sender thread with an outgoing queue of
 * queue_cap messages, the dispatcher's outbound hook, the subscription to
 * the channel. Returns VBX_OK (also when no provider is loaded: the bridge
 * then stays off, or when it runs already), VBX_EINVAL (queue_cap < 1),
 * VBX_ENOMEM or VBX_ERR (no thread; logged). The daemon starts it once:
 * cache_subscribe has no unsubscribe, so a start after a stop subscribes
 * again (tests do it with a new provider each time).
 */
int vbx__bridge_start(int queue_cap);

/* Stop bridging before the plugins stop: later events stay here, what is
 * queued is sent while the provider takes it, messages that still arrive
 * are ignored. Idempotent. */
void vbx__bridge_stop(void);

/*
 * One message heard on the channel (the subscriber callback, exposed for
 * tests): decoded, checked and injected into the event queue, or counted
 * and dropped. msg NULL means the provider reconnected. Does not block.
 */
void vbx__bridge_receive(const void *msg, size_t len);

void vbx__bridge_stats_get(vbx__bridge_stats *out);

#endif
