/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/events.c - /api/v1/events, subprotocol vibebox.events.v1: pushes the
 * JSON form of user-facing events to every client whom the authorize hook
 * lets "read" the resource the event is about.
 *
 * The event dispatcher must not block, so it hands each event to a worker,
 * which asks authorize (it may block) once per client. A client that falls
 * server.ws_queue behind is closed with 1013 rather than silently missing
 * events; it reconnects and reads the current state. The first frame,
 * {"type":"subscribed"}, says the socket is in the list.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include "server.h"

typedef struct subscriber {
	struct subscriber *next;
	vbx_ws *ws;
} subscriber;

typedef struct pending_event {
	char *json;
	char type[VBX_EVENT_RESOURCE_LEN];
	char id[VBX_EVENT_RESOURCE_LEN];
} pending_event;

static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;
static subscriber *subs;

static int events_open(void *ud, vbx_ws *ws)
{
	subscriber *s = malloc(sizeof(*s));
	if (!s)
		return VBX_ENOMEM;
	vbx__ws_ref(ws);
	s->ws = ws;
	pthread_mutex_lock(&subs_lock);
	s->next = subs;
	subs = s;
	pthread_mutex_unlock(&subs_lock);
	/* Subscribing happens on a worker after the handshake: this first
	 * frame tells the client that every event from now on reaches it,
	 * so it can read the current state without a gap. */
	static const char hello[] = "{\"type\":\"subscribed\"}";
	vbx__ws_send(ws, hello, sizeof(hello) - 1, 0);
	return VBX_OK;
}

static void events_close(void *ud, vbx_ws *ws, int code)
{
	pthread_mutex_lock(&subs_lock);
	for (subscriber **p = &subs; *p; p = &(*p)->next) {
		if ((*p)->ws == ws) {
			subscriber *s = *p;
			*p = s->next;
			vbx__ws_unref(s->ws);
			free(s);
			break;
		}
	}
	pthread_mutex_unlock(&subs_lock);
}

/* Take a reference to every subscriber so the list lock is not held
 * while authorize runs. */
static vbx_ws **snapshot(size_t *n)
{
	pthread_mutex_lock(&subs_lock);
	size_t count = 0;
	for (subscriber *s = subs; s; s = s->next)
		count++;
	vbx_ws **v = count ? malloc(count * sizeof(*v)) : NULL;
	*n = 0;
	for (subscriber *s = subs; v && s; s = s->next) {
		vbx__ws_ref(s->ws);
		v[(*n)++] = s->ws;
	}
	pthread_mutex_unlock(&subs_lock);
	return v;
}

static void fan_out(void *ud)
{
	pending_event *e = ud;
	size_t n = 0;
	vbx_ws **v = snapshot(&n);
	vbx_resource res = {.type = e->type, .id = e->id};
	for (size_t i = 0; i < n; i++) {
		const vbx_principal *who = vbx__ws_principal(v[i]);
		if (who &&
		    vbx_hook_authorize_run(vbx__cat.authorize, who, "read",
		                           &res) == VBX_OK &&
		    vbx__ws_send(v[i], e->json, strlen(e->json), 0) ==
		            VBX_EAGAIN)
			vbx__ws_close(v[i], 1013, "too slow; reconnect");
		vbx__ws_unref(v[i]);
	}
	free(v);
	free(e->json);
	free(e);
}

static void on_user_event(const char *json, const char *type, const char *id)
{
	pthread_mutex_lock(&subs_lock);
	bool any = subs != NULL;
	pthread_mutex_unlock(&subs_lock);
	if (!any)
		return;
	pending_event *e = calloc(1, sizeof(*e));
	if (!e || !(e->json = strdup(json))) {
		free(e);
		return;
	}
	snprintf(e->type, sizeof(e->type), "%s", type);
	snprintf(e->id, sizeof(e->id), "%s", id);
	if (vbx__workers_submit(fan_out, e) != VBX_OK) {
		free(e->json);
		free(e);
	}
}

static const vbx_ws_ops events_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = events_open,
        .close = events_close,
};

void vbx__events_ws_register(vbx_plugin *core)
{
	vbx__ws_route_add(core, "/api/v1/events", "vibebox.events.v1", 0,
	                  &events_ops, NULL);
	vbx__events_set_json_sink(on_user_event);
}
