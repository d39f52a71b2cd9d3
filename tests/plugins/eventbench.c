/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventbench - a user-facing event of its own for the event bridge's
 * test and benchmark (tests/integration/test_bridge.py, bench/events/).
 *
 * POST /api/v1/x/eventbench/burst?n=N[&gap_us=G][&tag=T] publishes N
 * events "eventbench_tick" (one every G microseconds), each carrying its
 * sequence number, the tag and the CLOCK_REALTIME nanoseconds at its
 * publish; it answers {"published": N, "retries": R} (R: publishes that
 * met a full queue and were tried again after a pause). Their JSON form
 * {"type":"eventbench.tick","tag","seq","sentNs"} concerns the resource
 * ("eventbench", "tick"), which this plugin lets every principal read,
 * so /api/v1/events shows them to any signed-in client. The route needs a
 * principal like any other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vibebox/vibebox.h>

typedef struct eventbench_tick {
	uint32_t version; /* 1 */
	char tag[32];
	int64_t seq;
	int64_t sent_ns; /* CLOCK_REALTIME */
} eventbench_tick;

static int tick_json(const void *payload, char *buf, size_t len, char *type,
                     char *id)
{
	const eventbench_tick *t = payload;
	snprintf(buf, len,
	         "{\"type\":\"eventbench.tick\",\"tag\":\"%s\",\"seq\":%lld,"
	         "\"sentNs\":%lld}",
	         t->tag, (long long)t->seq, (long long)t->sent_ns);
	snprintf(type, VBX_EVENT_RESOURCE_LEN, "eventbench");
	snprintf(id, VBX_EVENT_RESOURCE_LEN, "tick");
	return VBX_OK;
}

VBX_EVENT_DECLARE(eventbench_tick, eventbench_tick, tick_json)

static vbx_event *tick_ev;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long query_long(vbx_request *r, const char *name, long dflt, long max)
{
	const char *v = vbx_req_query(r, name);
	char *end;
	long n = v ? strtol(v, &end, 10) : dflt;
	if (v && (*end || n < 0 || n > max))
		return -1;
	return n;
}

/* Letters, digits, '-' and '_' only: the tag goes into JSON as is. */
static void copy_tag(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; i < len - 1 && src[i]; i++) {
		char c = src[i];
		bool ok = c == '-' || c == '_' || (c >= '0' && c <= '9') ||
		          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		dst[i] = ok ? c : '_';
	}
	dst[i] = '\0';
}

/* Publish one tick, waiting while the queue is full. */
static int publish_one(const eventbench_tick *t, long *retries)
{
	for (;;) {
		int rc = vbx_event_eventbench_tick_publish(tick_ev, t);
		if (rc != VBX_EAGAIN)
			return rc;
		(*retries)++;
		pause_us(100);
	}
}

static int burst(void *ud, vbx_request *r)
{
	long n = query_long(r, "n", 1, 1000000);
	long gap = query_long(r, "gap_us", 0, 1000000);
	const char *tag = vbx_req_query(r, "tag");
	if (n < 0 || gap < 0)
		return vbx_resp_error(r, 400, "BAD_REQUEST",
		                      "n is 0..1000000, gap_us 0..1000000");
	eventbench_tick t = {.version = 1};
	copy_tag(t.tag, sizeof(t.tag), tag ? tag : "");
	long retries = 0, i;
	for (i = 0; i < n; i++) {
		t.seq = i;
		t.sent_ns = now_ns();
		if (publish_one(&t, &retries) != VBX_OK)
			break;
		if (gap)
			pause_us(gap);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "published", (double)i);
	cJSON_AddNumberToObject(o, "retries", (double)retries);
	return vbx_resp_json(r, 200, o);
}

/* Everyone may read the ticks; everything else is for other handlers. */
static int allow_ticks(void *ud, const vbx_principal *who, const char *action,
                       const vbx_resource *res)
{
	if (res && res->type && strcmp(res->type, "eventbench") == 0 &&
	    strcmp(action, "read") == 0)
		return VBX_OK;
	return VBX_DECLINED;
}

static int eventbench_init(vbx_plugin *self, const vbx_config *cfg)
{
	tick_ev = vbx_event_eventbench_tick_get(self);
	if (!tick_ev)
		return VBX_ESIGNATURE;
	int rc = vbx_hook_authorize_register(self, allow_ticks, NULL,
	                                     VBX_PRIO_FIRST);
	if (rc == VBX_OK)
		rc = vbx_route_add(self, "POST", "/api/v1/x/eventbench/burst",
		                   0, burst, NULL);
	return rc;
}

static void eventbench_fini(vbx_plugin *self)
{
}

VBX_PLUGIN(.name = "eventbench", .version = "1", .init = eventbench_init,
           .fini = eventbench_fini);
