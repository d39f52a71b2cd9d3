/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.h - the HTTP and WebSocket server: one libwebsockets service
 * thread owns every socket; handlers run on the worker pool and hand their
 * answers back through a completion list and lws_cancel_service(), the one
 * lws call that is safe from another thread.
 */
#ifndef VBX_SERVER_H
#define VBX_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include <libwebsockets.h>

#include "core.h"
#include "request.h"
#include "router.h"

/* A core-only route flag: answer on the service thread, never block. */
#define VBX__ROUTE_INLINE 0x100u

typedef struct vbx_ws vbx__ws_conn;

typedef struct vbx__server {
	const vbx__conf *conf;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct lws_protocols *protocols; /* http, listen, one per subprotocol */
	size_t nprotocols;
	struct lws **listeners;
	int *listen_fds;
	bool *listen_proxy; /* PROXY protocol listeners, by index */
	size_t nlisteners;

	pthread_mutex_t lock; /* guards done, ws_pending */
	vbx_request *done;    /* answered by workers, to be written */
	vbx__ws_conn
	        *ws_pending;  /* WebSockets with work for the service thread */
	vbx__ws_conn *ws_all; /* every open WebSocket (service thread) */

	atomic_bool stop_requested;
	atomic_bool draining;
	bool listeners_closed;
	bool finished;
	int64_t drain_deadline_ns;   /* when the listeners close */
	int64_t stop_deadline_ns;    /* shutdown_timeout */
	size_t inflight;             /* requests on workers or being written */
	lws_sorted_usec_list_t tick; /* shutdown progress */
} vbx__server;

/* Register a route (host table and core). During init only. */
int vbx__route_add(vbx_plugin *p, const char *method, const char *pattern,
                   unsigned flags, vbx_route_fn *fn, void *ud);
int vbx__ws_route_add(vbx_plugin *p, const char *pattern,
                      const char *subprotocol, unsigned flags,
                      const vbx_ws_ops *ops, void *ud);
/* ---- routes.c ---- */

/* Is name one of the plugins that ship with VibeBox (or "core")? Their
 * routes may live anywhere; every other plugin's live under
 * /api/v1/x/<name>/. */
bool vbx__plugin_is_project(const char *name);
/*
 * Add r (owner set) to router after checking the owner's namespace.
 * Returns as vbx__router_add(), and VBX_EINVAL for a pattern outside the
 * owner's namespace. Every refusal is recorded as a load error of the
 * owner (vbx__registry_report()), naming both plugins of a clash.
 */
int vbx__route_register(vbx__router *router, const vbx__route *r);

/* The HTTP routes, for listings and the OpenAPI check. */
const vbx__router *vbx__http_routes(void);
/* Free the route tables (at exit). */
void vbx__routes_free(void);

/*
 * Bind every listener and create the lws context. Errors name the address.
 * Returns VBX_OK or VBX_ERR with errs filled.
 */
int vbx__server_create(const vbx__conf *conf, vbx__server **out,
                       vbx__errors *errs);
/* Serve until a requested stop has drained. Call on one thread only. */
void vbx__server_run(vbx__server *s);
/* Ask the server to stop (any thread, also from a signal thread). */
void vbx__server_request_stop(vbx__server *s);
bool vbx__server_draining(const vbx__server *s);
void vbx__server_destroy(vbx__server *s);
/* Wake the service thread (any thread). */
void vbx__server_wake(vbx__server *s);
/* A worker hands an answered request back (any thread). */
void vbx__server_complete(vbx__server *s, vbx_request *r);

/*
 * Dispatch (dispatch.c), shared by the server and the fake test host.
 * vbx__dispatch_match() answers what needs no handler (a body over
 * max_body, no such route, a method not allowed, OPTIONS) and returns
 * VBX__DISPATCH_ANSWERED; otherwise r->match holds the route and it
 * returns VBX__DISPATCH_INLINE (run it now, on the service thread) or
 * VBX__DISPATCH_RUN (run it where it may block).
 */
enum { VBX__DISPATCH_ANSWERED, VBX__DISPATCH_INLINE, VBX__DISPATCH_RUN };
int vbx__dispatch_match(vbx_request *r, uint64_t max_body);
/*
 * Authenticate (unless the route is public) and run the matched route's
 * handler; a handler that gives no answer gets a 500. as: the principal
 * to act as, instead of authenticating (the fake host's fixed principal),
 * or NULL. Always leaves r answered.
 */
void vbx__dispatch_run(vbx_request *r, const vbx_principal *as);

/* Copy the decoded query arguments of wsi into the arena. */
void vbx__query_snapshot(struct lws *wsi, vbx__arena *a, vbx__header **out,
                         size_t *n);
/* The bearer credential of a request or upgrade: "Authorization: Bearer X",
 * else a "bearer.X" entry of the subprotocol list. NULL when none. */
const char *vbx__bearer(const char *authorization, const char *protocols,
                        vbx__arena *a);
/*
 * Authenticate for a route with `flags`: fills r's principal.
 * Returns 0 when the request may go on, else the HTTP status already
 * answered (401, 403, 503).
 */
int vbx__authenticate(vbx_request *r, const char *bearer, unsigned flags,
                      vbx_principal *out, bool *has);

/*
 * clientaddr.c (service thread). vbx__conn_peer: the addresses of wsi's
 * connection (family 0 where unknown). vbx__client_of: the client of
 * wsi's current request or upgrade: X-Forwarded-For's choice when
 * peer->from is in server.trusted_proxies (of the config in effect), else
 * peer->from; client and peer_text (VBX__ADDR_TEXT bytes each) get it and
 * the socket's peer as text.
 */
typedef struct vbx__conn_addr {
	vbx__ipaddr socket; /* the socket's peer */
	vbx__ipaddr from;   /* the client its PROXY header named, else socket */
} vbx__conn_addr;
void vbx__conn_peer(struct lws *wsi, vbx__conn_addr *out);
void vbx__client_of(struct lws *wsi, const vbx__conn_addr *peer, char *client,
                    char *peer_text);

/* ws.c, called by server.c on the service thread */
int vbx__ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len);
void vbx__ws_service_pending(vbx__server *s);
void vbx__ws_close_all(vbx__server *s, int code, const char *reason);
size_t vbx__ws_count(const vbx__server *s);
/* The distinct subprotocols of the WebSocket routes, one lws protocol each. */
size_t vbx__ws_protocol_count(void);
const char *vbx__ws_protocol_name(size_t i);
const vbx__router *vbx__ws_routes(void);

/* the WebSocket half of the host table (http.h documents them) */
int vbx__ws_send(vbx_ws *ws, const void *data, size_t len, int binary);
void vbx__ws_pause(vbx_ws *ws, int paused);
void vbx__ws_close(vbx_ws *ws, int code, const char *reason);
void vbx__ws_ref(vbx_ws *ws);
void vbx__ws_unref(vbx_ws *ws);
void vbx__ws_set_data(vbx_ws *ws, void *data);
void *vbx__ws_data(const vbx_ws *ws);
const vbx_principal *vbx__ws_principal(const vbx_ws *ws);
const char *vbx__ws_param(const vbx_ws *ws, const char *name);
const char *vbx__ws_query(const vbx_ws *ws, const char *name);
const char *vbx__ws_client_addr(const vbx_ws *ws);
void vbx__ws_routes_free(void);

/* core catalog handles, set up by the daemon before plugins init */
typedef struct vbx__catalog {
	vbx_hook *authenticate;
	vbx_hook *authorize;
	vbx_hook *health_check;
	vbx_hook *request_admit; /* 1.2 */
	vbx_event *config_reload;
	vbx_event *env_status;
} vbx__catalog;
extern vbx__catalog vbx__cat;
/* Declare the core's hooks and events and fill vbx__cat (daemon.c; the
 * daemon and the fake host of libvibebox-test). */
void vbx__catalog_init(vbx_plugin *core);

/* health.c */
void vbx__health_register(vbx_plugin *core, vbx__server **server);
void vbx__health_set_started(bool started);
/* Wait at most wait_ms for a run of the plugins' checks under way (before
 * the plugins stop), and free the last result. */
void vbx__health_shutdown(int64_t wait_ms);
/* api/ */
void vbx__api_register(vbx_plugin *core);
void vbx__events_ws_register(vbx_plugin *core);

/*
 * revoke.c: open WebSockets hear of revocations. vbx__revoke_watch (a
 * worker, after authentication) watches c, taking a reference, and
 * re-checks it at once when a principal_changed event came after since
 * (vbx__revoke_generation() before authentication); it returns the
 * handle for vbx__revoke_unwatch (any thread; NULL is a no-op).
 */
void vbx__revoke_register(vbx_plugin *core);
uint64_t vbx__revoke_generation(void);
void *vbx__revoke_watch(vbx__ws_conn *c, uint64_t since);
void vbx__revoke_unwatch(void *handle);
/* principal_check on c's credential (a worker): VBX_OK, VBX_EUNAUTH
 * (4401), VBX_EDENIED (4403) or VBX_EUNAVAIL (4503). An access token of
 * a session that was logged out is refused by it at open too. */
int vbx__revoke_check_credential(vbx__ws_conn *c);
/* ws.c, for revoke.c: the credential c opened with; whether it closes;
 * mark (false when it already was) and clear c's re-check flag; and the
 * route's recheck callback (VBX_OK without one). */
const char *vbx__ws_bearer(const vbx__ws_conn *c);
bool vbx__ws_closing(vbx__ws_conn *c);
bool vbx__ws_recheck_mark(vbx__ws_conn *c);
void vbx__ws_recheck_clear(vbx__ws_conn *c);
int vbx__ws_route_recheck(vbx__ws_conn *c);

/*
 * authorize.c: may `who` do action on res? VBX_OK; VBX_ENOTFOUND when it
 * may not even read res (an id's existence is not its to know);
 * VBX_EDENIED when it may read res (or res is a collection) but not do
 * action; else the hook's failure, with *failed naming the action whose
 * check failed. Needs an authorize handler registered.
 */
int vbx__authorize_verdict(const vbx_principal *who, const char *action,
                           const vbx_resource *res, const char **failed);
/*
 * The same in one run of the hook when the handler takes the context
 * (vbx__authorize_context): vbx_authorize_verdict_row() of catalog.h.
 */
int vbx__authorize_verdict_row(const vbx_principal *who, const char *action,
                               const vbx_resource *res,
                               const vbx_resource_row *row,
                               const char **failed);
/* For a handler: vbx_authorize_context() of catalog.h. */
int vbx__authorize_context(const vbx_resource *res,
                           const vbx_resource_row **row);
/* Is s a UUID in text form (8-4-4-4-12 hex digits, either case)? */
bool vbx__uuid_ok(const char *s);

#endif
