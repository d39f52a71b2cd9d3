/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reqmetrics.c - HTTP and WebSocket metrics per route:
 *   http_requests_total{method,route,status}
 *   http_request_duration_seconds{method,route}        (histogram)
 *   websocket_connections{endpoint}                    (gauge)
 *   websocket_messages_total{endpoint,direction}       (direction in|out)
 *
 * route and endpoint are the matched route's PATTERN, never the raw path
 * (its ids would make a series per environment); a request no route
 * matched (404, 405, 400 on a bad path) is route="unmatched".
 *
 * A request costs a few atomics: each route keeps its series in cells
 * hung on the route itself (vbx__route.metrics), resolved on its first
 * request, with its status series in an array indexed by the status
 * code, each resolved the first time that status is answered. Only those
 * first times take the registry's lock. Cells are published with a
 * compare-and-swap, so any thread may observe; resolving the same label
 * set twice yields the same series.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "coremetrics.h"
#include <vibebox/metrics.h>

#define STATUS_MIN 100
#define STATUS_N 500 /* 100..599 */

/* The series of one route and one method. */
typedef struct slot {
	const char *method, *route; /* static or the router's */
	vbx_series *duration;
	vbx_series *status[STATUS_N];
} slot;

typedef struct cells {
	struct cells *next; /* every cells, for the end */
	slot *http[2];      /* [0] the route's method, [1] HEAD */
	vbx_series *ws_conns, *ws_in, *ws_out;
} cells;

static const char *const methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                      "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static bool on;
static vbx_metric *requests, *durations, *ws_conns, *ws_msgs;
static slot *unmatched[NMETHODS];
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static cells *all;

void vbx__req_metrics_init(void)
{
	static const char *const req_labels[] = {"method", "route", "status",
	                                         NULL};
	static const char *const dur_labels[] = {"method", "route", NULL};
	static const char *const ws_labels[] = {"endpoint", NULL};
	static const char *const msg_labels[] = {"endpoint", "direction", NULL};

	requests =
	        vbx__metric_new(NULL, VBX_METRIC_COUNTER, "http_requests_total",
	                        "HTTP requests answered, by method, route "
	                        "pattern (unmatched when no route "
	                        "matched) and status.",
	                        req_labels, NULL, 0);
	durations = vbx__metric_new(NULL, VBX_METRIC_HISTOGRAM,
	                            "http_request_duration_seconds",
	                            "Time from a request's arrival to its "
	                            "answer's last byte, in seconds.",
	                            dur_labels, NULL, 0);
	ws_conns =
	        vbx__metric_new(NULL, VBX_METRIC_GAUGE, "websocket_connections",
	                        "Open WebSocket connections, by route "
	                        "pattern.",
	                        ws_labels, NULL, 0);
	ws_msgs = vbx__metric_new(NULL, VBX_METRIC_COUNTER,
	                          "websocket_messages_total",
	                          "WebSocket messages received (in) and sent "
	                          "(out), by route pattern.",
	                          msg_labels, NULL, 0);
	__atomic_store_n(&on, vbx__metrics_enabled() != 0, __ATOMIC_RELEASE);
}

/* Publish fresh in *at unless another thread was first; the one kept. */
static void *publish(void **at, void *fresh, void (*drop)(void *))
{
	void *expected = NULL;
	if (__atomic_compare_exchange_n(at, &expected, fresh, false,
	                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fresh;
	drop(fresh);
	return expected;
}

static cells *cells_of(const vbx__route *route)
{
	void **at = &((vbx__route *)route)->metrics;
	cells *c = __atomic_load_n(at, __ATOMIC_ACQUIRE);

	if (c)
		return c;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	if (route->ws) {
		const char *ep = route->pattern;
		c->ws_conns = vbx__metric_series(ws_conns, &ep);
		c->ws_in =
		        vbx__metric_series(ws_msgs, (const char *[]){ep, "in"});
		c->ws_out = vbx__metric_series(ws_msgs,
		                               (const char *[]){ep, "out"});
	}
	cells *kept = publish(at, c, free);
	if (kept == c) {
		pthread_mutex_lock(&all_lock);
		c->next = all;
		all = c;
		pthread_mutex_unlock(&all_lock);
	}
	return kept;
}

static slot *slot_new(const char *method, const char *route)
{
	slot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->method = method;
	s->route = route;
	s->duration =
	        vbx__metric_series(durations, (const char *[]){method, route});
	return s;
}

static slot *slot_at(slot **at, const char *method, const char *route)
{
	slot *s = __atomic_load_n(at, __ATOMIC_ACQUIRE);

	if (s || !(s = slot_new(method, route)))
		return s;
	return publish((void **)at, s, free);
}

static size_t method_index(const char *m)
{
	size_t i = 0;
	while (i < NMETHODS - 1 && strcmp(methods[i], m))
		i++;
	return i;
}

static vbx_series *status_series(slot *s, int status)
{
	char code[16];
	vbx_series **at = status >= STATUS_MIN && status < STATUS_MIN + STATUS_N
	                          ? &s->status[status - STATUS_MIN]
	                          : NULL;
	vbx_series *ser = at ? __atomic_load_n(at, __ATOMIC_ACQUIRE) : NULL;

	if (ser)
		return ser;
	snprintf(code, sizeof(code), "%d", status);
	ser = vbx__metric_series(requests,
	                         (const char *[]){s->method, s->route, code});
	if (at)
		__atomic_store_n(at, ser, __ATOMIC_RELEASE);
	return ser;
}

void vbx__http_metrics_observe(const vbx__route *route, const char *method,
                               int status, double seconds)
{
	slot *s;

	if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE))
		return;
	if (route) {
		cells *c = cells_of(route);
		bool head = !strcmp(method, "HEAD");
		s = c ? slot_at(&c->http[head], head ? "HEAD" : route->method,
		                route->pattern)
		      : NULL;
	} else {
		size_t i = method_index(method);
		s = slot_at(&unmatched[i], methods[i], "unmatched");
	}
	if (!s)
		return;
	vbx_counter_inc(status_series(s, status));
	vbx_histogram_observe(s->duration, seconds);
}

void vbx__ws_metrics_conn(const vbx__route *route, int delta)
{
	cells *c;

	if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE) || !route ||
	    !(c = cells_of(route)))
		return;
	vbx_gauge_add(c->ws_conns, (double)delta);
}

void vbx__ws_metrics_message(const vbx__route *route, bool in)
{
	cells *c;

	if (!__atomic_load_n(&on, __ATOMIC_ACQUIRE) || !route ||
	    !(c = cells_of(route)))
		return;
	vbx_counter_inc(in ? c->ws_in : c->ws_out);
}

void vbx__req_metrics_fini(void)
{
	__atomic_store_n(&on, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&all_lock);
	while (all) {
		cells *c = all;
		all = c->next;
		free(c->http[0]);
		free(c->http[1]);
		free(c);
	}
	pthread_mutex_unlock(&all_lock);
	for (size_t i = 0; i < NMETHODS; i++) {
		free(unmatched[i]);
		unmatched[i] = NULL;
	}
}
