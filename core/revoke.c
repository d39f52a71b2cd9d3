/* SPDX-License-Identifier: Apache-2.0 */
/*
 * revoke.c - revocation reaches open WebSockets.
 *
 * A socket is authenticated once, when it opens; REST requests are
 * authenticated each time. So that removing a member or disabling a user
 * takes effect at once on sockets too, every socket with a principal is
 * watched here, and a principal_changed event re-checks the sockets of
 * its user (all of them when the event names none): first the credential
 * (the principal_check hook: 4401 when it is no longer valid), then the
 * route (its optional recheck callback: 4403 when it no longer allows the
 * principal). Nothing is done while nothing changes.
 *
 * The event dispatcher must not block, so it only collects the sockets
 * and hands them to one worker. A socket already waiting for a re-check
 * is not queued again (re-checks coalesce); its flag is cleared before
 * the check starts, so an event during a check queues the next one.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include "server.h"

typedef struct watch {
	struct watch *next, *prev;
	vbx__ws_conn *c; /* holds a reference */
	char user_id[40];
} watch;

typedef struct batch {
	size_t n;
	vbx__ws_conn *c[];
} batch;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static watch *watching;
static _Atomic uint64_t generation; /* principal_changed events so far */
static vbx_hook *principal_check;

uint64_t vbx__revoke_generation(void)
{
	return atomic_load(&generation);
}

int vbx__revoke_check_credential(vbx__ws_conn *c)
{
	const vbx_principal *who = vbx__ws_principal(c);
	const char *bearer = vbx__ws_bearer(c);
	if (!who || !bearer || !principal_check)
		return VBX_OK;
	int rc = vbx_hook_principal_check_run(principal_check, bearer, who);
	if (rc == VBX_DECLINED)
		return VBX_OK;
	if (rc != VBX_OK && rc != VBX_EUNAVAIL && rc != VBX_EDENIED)
		return VBX_EUNAUTH;
	return rc;
}

/* The credential first (4401), then the route (4403). */
static void recheck_one(vbx__ws_conn *c)
{
	const vbx_principal *who = vbx__ws_principal(c);
	if (!who || vbx__ws_closing(c))
		return;
	int rc = vbx__revoke_check_credential(c);
	if (rc == VBX_OK)
		rc = vbx__ws_route_recheck(c);
	else if (rc == VBX_EUNAVAIL)
		vbx__warn("cannot re-check the access of user %s on a "
		          "WebSocket (a dependency of authentication is "
		          "down); closing it with 4503",
		          who->user_id);
	if (rc == VBX_OK)
		return;
	vbx__info("WebSocket of user %s closed after a change of its "
	          "access: %s",
	          who->user_id, vbx__strerror(rc));
	if (rc == VBX_EUNAUTH)
		vbx__ws_close(c, 4401,
		              "your credential is no longer valid; "
		              "sign in again");
	else if (rc == VBX_EUNAVAIL)
		vbx__ws_close(c, 4503,
		              "your access cannot be checked now; "
		              "reconnect later");
	else
		vbx__ws_close(c, 4403, "you are no longer allowed here");
}

static void run_batch(void *ud)
{
	batch *b = ud;
	for (size_t i = 0; i < b->n; i++) {
		vbx__ws_recheck_clear(b->c[i]);
		recheck_one(b->c[i]);
		vbx__ws_unref(b->c[i]);
	}
	free(b);
}

static bool concerns(const watch *w, const char *user_id)
{
	return !user_id[0] || strcmp(w->user_id, user_id) == 0;
}

/* The watched sockets of user_id ("" every one) not already queued, each
 * with a reference; NULL when there are none. */
static batch *collect(const char *user_id)
{
	size_t n = 0;
	pthread_mutex_lock(&lock);
	for (watch *w = watching; w; w = w->next)
		n += concerns(w, user_id);
	batch *b = n ? malloc(sizeof(*b) + n * sizeof(b->c[0])) : NULL;
	if (b)
		b->n = 0;
	for (watch *w = watching; b && w; w = w->next)
		if (concerns(w, user_id) && vbx__ws_recheck_mark(w->c)) {
			vbx__ws_ref(w->c);
			b->c[b->n++] = w->c;
		}
	pthread_mutex_unlock(&lock);
	if (b && b->n == 0) {
		free(b);
		b = NULL;
	}
	return b;
}

static void submit(batch *b)
{
	if (vbx__workers_submit(run_batch, b) == VBX_OK)
		return;
	/* No worker takes it (shutting down): the sockets close anyway. */
	for (size_t i = 0; i < b->n; i++) {
		vbx__ws_recheck_clear(b->c[i]);
		vbx__ws_close(b->c[i], 4503,
		              "your access cannot be checked "
		              "now; reconnect later");
		vbx__ws_unref(b->c[i]);
	}
	free(b);
}

static void recheck_user(const char *user_id)
{
	batch *b = collect(user_id);
	if (b)
		submit(b);
}

static void on_principal_changed(void *ud,
                                 const vbx_principal_changed_event *ev)
{
	(void)ud;
	char user_id[sizeof(ev->user_id)];
	snprintf(user_id, sizeof(user_id), "%s", ev->user_id);
	atomic_fetch_add(&generation, 1);
	vbx__debug("principal_changed %s (user %s, team %s): re-checking "
	           "open WebSockets",
	           ev->reason, user_id[0] ? user_id : "any",
	           ev->team_id[0] ? ev->team_id : "-");
	recheck_user(user_id);
}

void *vbx__revoke_watch(vbx__ws_conn *c, uint64_t since)
{
	const vbx_principal *who = vbx__ws_principal(c);
	watch *w = who ? calloc(1, sizeof(*w)) : NULL;
	if (!w)
		return NULL;
	vbx__ws_ref(c);
	w->c = c;
	snprintf(w->user_id, sizeof(w->user_id), "%s", who->user_id);
	pthread_mutex_lock(&lock);
	w->next = watching;
	if (watching)
		watching->prev = w;
	watching = w;
	pthread_mutex_unlock(&lock);
	/* An event between authentication and now found no watch. */
	if (atomic_load(&generation) != since && vbx__ws_recheck_mark(c)) {
		batch *b = malloc(sizeof(*b) + sizeof(b->c[0]));
		if (b) {
			vbx__ws_ref(c);
			b->n = 1;
			b->c[0] = c;
			submit(b);
		} else {
			vbx__ws_recheck_clear(c);
		}
	}
	return w;
}

void vbx__revoke_unwatch(void *handle)
{
	watch *w = handle;
	if (!w)
		return;
	pthread_mutex_lock(&lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		watching = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&lock);
	vbx__ws_unref(w->c);
	free(w);
}

void vbx__revoke_register(vbx_plugin *core)
{
	principal_check = vbx_hook_principal_check_get(core);
	/* A revocation on one replica closes sockets on all of them. */
	vbx_event_share(core, vbx_event_principal_changed_get(core));
	if (vbx_event_principal_changed_subscribe(core, on_principal_changed,
	                                          NULL) != VBX_OK)
		vbx__error("cannot subscribe to principal_changed: open "
		           "WebSockets will not see revocations");
}
