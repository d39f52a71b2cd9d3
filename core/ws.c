/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws.c - WebSocket routes for plugins, with backpressure both ways.
 *
 * A connection is reference-counted because three parties hold it: the
 * service thread (until lws destroys the wsi), the worker running `open`,
 * and plugin threads that send. Sends queue copies under the connection's
 * lock; when the queue passes server.ws_queue a send fails with VBX_EAGAIN
 * and the route hears `drain` once the queue is half empty. Reading is
 * paused with lws_rx_flow_control, so a slow route slows its client.
 */
#include "vbx_build.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "json.h"
#include "wsguard.h"
#include "coremetrics.h"

typedef struct ws_msg {
	struct ws_msg *next;
	size_t len;
	int binary;
	unsigned char buf[]; /* LWS_PRE bytes, then the message */
} ws_msg;

struct vbx_ws {
	struct vbx_object_head head;
	vbx__server *s;
	struct lws *wsi; /* service thread only; NULL once closed */
	const vbx__route *route;
	vbx__arena *arena;
	vbx__match match;
	vbx__header *query;
	size_t nquery;
	const char *bearer;
	char client[64]; /* whom it comes from (clientaddr.c) */
	char peer[64];   /* the proxy it came through, else "" */
	char id[33];
	const char *path; /* for the access log, in the arena */
	int64_t start_ns; /* the upgrade request came */
	vbx__trace trace; /* the session's span: upgrade to close */
	bool established; /* the handshake completed (service thread) */
	vbx_principal principal;
	bool has_principal;
	void *data;
	_Atomic int refs;
	atomic_bool recheck_queued; /* waits for a re-check (revoke.c) */

	pthread_mutex_t lock; /* guards everything below */
	ws_msg *qhead, *qtail;
	size_t queued;
	bool want_drain, closing, pause_req;
	bool open_done;     /* sends allowed: open is running or returned */
	bool open_returned; /* open returned open_rc */
	int open_rc;
	int close_code;
	char close_reason[120];
	void *watch; /* revoke.c's handle while the socket is watched */

	/* service thread only */
	bool opened, paused, close_delivered, in_all;
	int fd;                /* the socket wsguard.c watches, or -1 */
	int fault_code;        /* a frame header broke RFC 6455: close so */
	const char *fault_why; /* static */
	bool close_sent; /* the close is lws's: it sends the frame and waits
	                  * for the client's */
	bool in_pending; /* guarded by the server's lock */
	struct vbx_ws *next_pending, *next_all, *prev_all;
	unsigned char *rx;
	size_t rx_len, rx_cap;
	uint64_t bytes_in, bytes_out; /* message bytes, for the access log */
};

static void end_ws_trace(vbx__ws_conn *c);

static vbx__router *ws_routes;
static const char **protocol_names;
static size_t nprotocols;

/* ---- routes ---- */

const vbx__router *vbx__ws_routes(void)
{
	return ws_routes;
}

size_t vbx__ws_protocol_count(void)
{
	return nprotocols;
}

const char *vbx__ws_protocol_name(size_t i)
{
	return protocol_names[i];
}

static int remember_protocol(const char *name)
{
	for (size_t i = 0; i < nprotocols; i++)
		if (strcmp(protocol_names[i], name) == 0)
			return VBX_OK;
	const char **v = realloc(protocol_names, (nprotocols + 1) * sizeof(*v));
	char *copy = strdup(name);
	if (v)
		protocol_names = v;
	if (!v || !copy) {
		free(copy);
		return VBX_ENOMEM;
	}
	protocol_names[nprotocols++] = copy;
	return VBX_OK;
}

static bool protocol_name_ok(const char *s)
{
	if (!s || !*s || strncmp(s, "bearer.", 7) == 0)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == ',' || *s >= 127)
			return false;
	return true;
}

int vbx__ws_route_add(vbx_plugin *p, const char *pattern,
                      const char *subprotocol, unsigned flags,
                      const vbx_ws_ops *ops, void *ud)
{
	if (vbx__registry_frozen())
		return VBX_ESTATE;
	/* ops of ABI 1.0 end before recheck */
	if (!ops || ops->struct_size < offsetof(vbx_ws_ops, recheck) ||
	    !ops->open || !ops->close || !protocol_name_ok(subprotocol)) {
		vbx__log(p->name, VBX_LOG_ERROR,
		         "WebSocket route %s: needs ops with open and close "
		         "and a subprotocol name",
		         pattern);
		return VBX_EINVAL;
	}
	if (!ws_routes && !(ws_routes = vbx__router_new()))
		return VBX_ENOMEM;
	vbx__route r = {.method = "GET",
	                .pattern = pattern,
	                .flags = flags,
	                .ud = ud,
	                .owner = p,
	                .ws = ops,
	                .subprotocol = subprotocol};
	int rc = vbx__route_register(ws_routes, &r);
	if (rc == VBX_OK)
		rc = remember_protocol(subprotocol);
	return rc;
}

/* ---- references ---- */

static void conn_ref(vbx__ws_conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

static void conn_unref(vbx__ws_conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	for (ws_msg *m = c->qhead, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	free(c->rx);
	end_ws_trace(c); /* last: a worker may still have used it */
	pthread_mutex_destroy(&c->lock);
	vbx__arena_free(c->arena);
	free(c);
}

/* Give the service thread a look at c (any thread). */
static void mark_pending(vbx__ws_conn *c)
{
	vbx__server *s = c->s;
	pthread_mutex_lock(&s->lock);
	if (!c->in_pending) {
		c->in_pending = true;
		conn_ref(c);
		c->next_pending = s->ws_pending;
		s->ws_pending = c;
	}
	pthread_mutex_unlock(&s->lock);
	lws_cancel_service(s->ctx);
}

/* ---- the API of the host table ---- */

int vbx__ws_send(vbx_ws *c, const void *data, size_t len, int binary)
{
	size_t limit = c->s->conf->ws_queue;
	pthread_mutex_lock(&c->lock);
	if (c->closing || !c->open_done) {
		pthread_mutex_unlock(&c->lock);
		return VBX_ESTATE;
	}
	if (c->queued && c->queued + len > limit) {
		c->want_drain = true;
		pthread_mutex_unlock(&c->lock);
		return VBX_EAGAIN;
	}
	ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m) {
		pthread_mutex_unlock(&c->lock);
		return VBX_ENOMEM;
	}
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, data, len);
	if (c->qtail)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->queued += len;
	pthread_mutex_unlock(&c->lock);
	mark_pending(c);
	return VBX_OK;
}

void vbx__ws_pause(vbx_ws *c, int paused)
{
	pthread_mutex_lock(&c->lock);
	c->pause_req = paused != 0;
	pthread_mutex_unlock(&c->lock);
	mark_pending(c);
}

void vbx__ws_close(vbx_ws *c, int code, const char *reason)
{
	pthread_mutex_lock(&c->lock);
	if (!c->closing) {
		c->closing = true;
		c->close_code = code;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s",
		         reason ? reason : "");
	}
	pthread_mutex_unlock(&c->lock);
	mark_pending(c);
}

void vbx__ws_ref(vbx_ws *c)
{
	conn_ref(c);
}

void vbx__ws_unref(vbx_ws *c)
{
	conn_unref(c);
}

void vbx__ws_set_data(vbx_ws *c, void *data)
{
	c->data = data;
}

void *vbx__ws_data(const vbx_ws *c)
{
	return c->data;
}

const vbx_principal *vbx__ws_principal(const vbx_ws *c)
{
	return c->has_principal ? &c->principal : NULL;
}

const char *vbx__ws_param(const vbx_ws *c, const char *name)
{
	for (size_t i = 0; i < c->match.nparams; i++)
		if (strcmp(c->match.params[i].name, name) == 0)
			return c->match.params[i].value;
	return NULL;
}

const char *vbx__ws_client_addr(const vbx_ws *c)
{
	return c->client;
}

const char *vbx__ws_query(const vbx_ws *c, const char *name)
{
	for (size_t i = 0; i < c->nquery; i++)
		if (strcmp(c->query[i].name, name) == 0)
			return c->query[i].value;
	return NULL;
}

/* ---- re-checks after a principal_changed event (revoke.c) ---- */

const char *vbx__ws_bearer(const vbx__ws_conn *c)
{
	return c->bearer;
}

bool vbx__ws_closing(vbx__ws_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool closing = c->closing;
	pthread_mutex_unlock(&c->lock);
	return closing;
}

bool vbx__ws_recheck_mark(vbx__ws_conn *c)
{
	return !atomic_exchange(&c->recheck_queued, true);
}

void vbx__ws_recheck_clear(vbx__ws_conn *c)
{
	atomic_store(&c->recheck_queued, false);
}

int vbx__ws_route_recheck(vbx__ws_conn *c)
{
	const vbx_ws_ops *ops = c->route->ws;
	if (ops->struct_size <
	            offsetof(vbx_ws_ops, recheck) + sizeof(ops->recheck) ||
	    !ops->recheck)
		return VBX_OK;
	return ops->recheck(c->route->ud, c);
}

/* Watch c for revocations unless it is already closing (on_gone). */
static void watch_open(vbx__ws_conn *c, uint64_t since)
{
	void *w = vbx__revoke_watch(c, since);
	pthread_mutex_lock(&c->lock);
	bool closing = c->closing;
	if (!closing)
		c->watch = w;
	pthread_mutex_unlock(&c->lock);
	if (closing)
		vbx__revoke_unwatch(w);
}

/* ---- opening: authenticate and ask the route, on a worker ---- */

static int authenticate_ws(vbx__ws_conn *c)
{
	if (c->route->flags & VBX_ROUTE_PUBLIC)
		return VBX_OK;
	if (!vbx__cat.authenticate || vbx__cat.authenticate->count == 0)
		return VBX_EUNAVAIL;
	if (!c->bearer)
		return VBX_EUNAUTH;
	int rc = vbx_hook_authenticate_run(vbx__cat.authenticate, c->bearer,
	                                   c->client, &c->principal);
	if (rc == VBX_EUNAVAIL)
		return rc;
	if (rc != VBX_OK)
		return VBX_EUNAUTH;
	c->has_principal = true;
	if ((c->route->flags & VBX_ROUTE_ADMIN) &&
	    !(c->principal.flags & VBX_PRINCIPAL_ADMIN))
		return VBX_EDENIED;
	return VBX_OK;
}

static void open_on_worker(void *ud)
{
	vbx__ws_conn *c = ud;
	vbx__log_set_request(c->id);
	vbx__log_set_trace(c->trace.active ? c->trace.hex : NULL);
	vbx_span *was = vbx__trace_enter(c->trace.span);
	uint64_t since = vbx__revoke_generation();
	int rc = authenticate_ws(c);
	if (rc == VBX_OK && c->has_principal)
		rc = vbx__revoke_check_credential(c);
	if (rc == VBX_OK && c->has_principal)
		watch_open(c, since);
	if (rc == VBX_OK) {
		pthread_mutex_lock(&c->lock);
		c->open_done = true; /* open may already send */
		pthread_mutex_unlock(&c->lock);
		rc = c->route->ws->open(c->route->ud, c);
	}
	pthread_mutex_lock(&c->lock);
	c->open_done = true;
	c->open_returned = true;
	c->open_rc = rc;
	if (rc != VBX_OK && !c->closing) {
		int status = vbx__http_status_for(rc);
		c->closing = true;
		c->close_code = 4000 + status;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s",
		         vbx__http_code_name(status));
	}
	pthread_mutex_unlock(&c->lock);
	vbx__trace_leave(was);
	vbx__log_set_trace(NULL);
	mark_pending(c);
	conn_unref(c);
}

/* ---- the service thread ---- */

static void deliver_close(vbx__ws_conn *c)
{
	if (c->close_delivered || !c->opened)
		return;
	c->close_delivered = true;
	if (c->route->ws->close)
		c->route->ws->close(c->route->ud, c, c->close_code);
}

static void service_one(vbx__ws_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool done = c->open_done, pause = c->pause_req;
	bool returned = c->open_returned;
	bool work = c->qhead || c->closing;
	int rc = c->open_rc;
	pthread_mutex_unlock(&c->lock);
	/* Not while open still runs (a send from open wakes us): messages
	 * and close reach the route only once open has returned VBX_OK. */
	if (returned && rc == VBX_OK && !c->opened) {
		c->opened = true;
		if (!c->wsi)
			deliver_close(c); /* the client left during open */
	}
	if (!c->wsi)
		return;
	if (c->opened && !c->close_sent && pause != c->paused) {
		c->paused = pause;
		lws_rx_flow_control(c->wsi, !pause);
	}
	if (work && done)
		lws_callback_on_writable(c->wsi);
}

/*
 * Take the whole list, then unlink each connection under the lock before
 * servicing it. in_pending stays true until its next_pending has been read:
 * clearing it earlier would let mark_pending() on another thread relink the
 * connection into the new list, rewriting the next_pending this walk still
 * follows (a skipped wake-up, or a connection serviced and unreferenced
 * twice). A connection marked again after it is unlinked waits for the
 * next wake-up with a reference of its own.
 */
void vbx__ws_service_pending(vbx__server *s)
{
	pthread_mutex_lock(&s->lock);
	vbx__ws_conn *c = s->ws_pending;
	s->ws_pending = NULL;
	pthread_mutex_unlock(&s->lock);
	while (c) {
		pthread_mutex_lock(&s->lock);
		vbx__ws_conn *next = c->next_pending;
		c->next_pending = NULL;
		c->in_pending = false;
		pthread_mutex_unlock(&s->lock);
		service_one(c);
		conn_unref(c);
		c = next;
	}
}

/*
 * Fail the connection for what the client sent (RFC 6455 section 7.1.7):
 * when the callback returns -1, lws sends the close frame with this code
 * and reason and closes. The route hears the code in close.
 */
static int fail_now(vbx__ws_conn *c, struct lws *wsi, int code, const char *why)
{
	c->close_sent = true;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", why);
	pthread_mutex_unlock(&c->lock);
	lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)why,
	                 strlen(why));
	return -1;
}

/* wsguard.c found a header at fault (inside lws's read, on the service
 * thread): close from the next writable callback, before any queued
 * message, since nothing more of the client's can be trusted. */
static void on_frame_fault(void *ud, int code, const char *why)
{
	vbx__ws_conn *c = ud;
	c->fault_code = code;
	c->fault_why = why;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static int on_writable(vbx__ws_conn *c, struct lws *wsi)
{
	size_t limit = c->s->conf->ws_queue;
	/* lws calls us while it waits for the client's close frame too;
	 * returning -1 then would drop the socket at once, with the
	 * client's last acks unread: the kernel would reset it, and the
	 * client lose what it had not read yet (the exit frame). */
	if (c->close_sent)
		return 0;
	if (c->fault_code)
		return fail_now(c, wsi, c->fault_code, c->fault_why);
	pthread_mutex_lock(&c->lock);
	ws_msg *m = c->qhead;
	if (m) {
		c->qhead = m->next;
		if (!c->qhead)
			c->qtail = NULL;
		c->queued -= m->len;
	}
	bool more = c->qhead != NULL, closing = c->closing;
	bool drain = c->want_drain && c->queued <= limit / 2;
	if (drain)
		c->want_drain = false;
	pthread_mutex_unlock(&c->lock);
	if (m) {
		int n = lws_write(wsi, m->buf + LWS_PRE, m->len,
		                  m->binary ? LWS_WRITE_BINARY
		                            : LWS_WRITE_TEXT);
		c->bytes_out += m->len;
		vbx__ws_metrics_message(c->route, false);
		free(m);
		if (n < 0)
			return -1;
	}
	if (drain && c->opened && c->route->ws->drain)
		c->route->ws->drain(c->route->ud, c);
	if (more) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	/* lws keeps what the kernel did not take of a write. Closing with
	 * some kept makes lws flush it and then drop the socket without a
	 * close frame (the client sees 1006), and the unread acks still
	 * coming in make the kernel reset the connection, losing the tail
	 * (the exit frame). So close only once all went out: lws then sends
	 * the close frame and waits for the client's before closing TCP. */
	if (closing && lws_send_pipe_choked(wsi)) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (closing) {
		/* read again (open said no, or the route paused us): the
		 * client's close frame must come in for lws to end the
		 * socket; lws drops the data frames before it */
		c->close_sent = true;
		lws_rx_flow_control(wsi, 1);
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		                 (unsigned char *)c->close_reason,
		                 strlen(c->close_reason));
		return -1;
	}
	return 0;
}

static int on_receive(vbx__ws_conn *c, struct lws *wsi, const void *in,
                      size_t len)
{
	size_t max = c->s->conf->max_body;
	if (!c->opened)
		return 0;
	if (c->rx_len + len > max)
		return fail_now(c, wsi, 1009, "message too big");
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		while (cap < c->rx_len + len)
			cap *= 2;
		unsigned char *b = realloc(c->rx, cap);
		if (!b)
			return -1;
		c->rx = b;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	c->bytes_in += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	size_t n = c->rx_len;
	int binary = lws_frame_is_binary(wsi);
	c->rx_len = 0;
	/* lws checks UTF-8 only with LWS_SERVER_OPTION_VALIDATE_UTF8, which
	 * also drops a close frame with a bad reason without an answer */
	if (!binary && vbx__utf8_count((const char *)c->rx, n) == (size_t)-1)
		return fail_now(c, wsi, 1007,
		                "invalid UTF-8 in a text message");
	vbx__ws_metrics_message(c->route, true);
	if (c->route->ws->message)
		c->route->ws->message(c->route->ud, c, c->rx, n, binary);
	return 0;
}

/* The client's close frame. lws has already turned a code RFC 6455 does
 * not allow on the wire (below 1000, 1005, 1006, ...) into 1002, which it
 * echoes; a 1-byte body, a code past 4999 (section 7.4.2) and a reason
 * that is not UTF-8 are ours to refuse (sections 5.5.1 and 8.1). */
static int on_peer_close(vbx__ws_conn *c, struct lws *wsi,
                         const unsigned char *b, size_t len)
{
	if (len == 1)
		return fail_now(c, wsi, 1002, "close frame of 1 byte");
	if (len < 2)
		return 0;
	if ((b[0] << 8 | b[1]) > 4999)
		return fail_now(c, wsi, 1002, "close code past 4999");
	if (vbx__utf8_count((const char *)b + 2, len - 2) == (size_t)-1)
		return fail_now(c, wsi, 1007,
		                "invalid UTF-8 in the close reason");
	pthread_mutex_lock(&c->lock);
	c->close_code = b[0] << 8 | b[1];
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- the access log: one line per upgrade, like a request's ---- */

/* The client of wsi's upgrade, and its peer when that differs ("" when
 * not). */
static void client_and_peer(struct lws *wsi, char *client, char *peer)
{
	vbx__conn_addr addr;
	vbx__conn_peer(wsi, &addr);
	vbx__client_of(wsi, &addr, client, peer);
	if (strcmp(client, peer) == 0)
		peer[0] = '\0';
}

/* An upgrade refused before it had a connection (no such route, the
 * server draining). */
static void log_refused(vbx__server *s, struct lws *wsi, const char *path,
                        int status, int64_t start_ns)
{
	char id[33], client[VBX__ADDR_TEXT], peer[VBX__ADDR_TEXT];
	if (!s->conf->log_access)
		return;
	vbx__request_id_new(id);
	client_and_peer(wsi, client, peer);
	vbx__log_ws_access(id, path, status, 0, 0,
	                   (double)(vbx__now_ns() - start_ns) / 1e6, client,
	                   peer, 0);
}

/*
 * The status of an upgrade: 101 when the route took it; the refusal's
 * HTTP status when open said no (its 4xxx close code less 4000, else the
 * status of its result; open's close may end the socket before open
 * returns); 499 when the client left before open returned, 400 when the
 * handshake never completed.
 */
static int upgrade_status(vbx__ws_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool returned = c->open_returned;
	int rc = c->open_rc, code = c->close_code;
	pthread_mutex_unlock(&c->lock);
	if (!c->established)
		return 400;
	if (returned && rc == VBX_OK)
		return 101;
	if (code >= 4100 && code < 4600)
		return code - 4000;
	return returned ? vbx__http_status_for(rc) : 499;
}

/* At the end of a connection (service thread). */
static void log_upgrade(vbx__ws_conn *c)
{
	if (!c->s->conf->log_access)
		return;
	int status = upgrade_status(c);
	pthread_mutex_lock(&c->lock);
	int code = c->close_code;
	pthread_mutex_unlock(&c->lock);
	if (!code && c->established)
		code = 1006; /* closed without a close frame */
	vbx__log_set_trace(c->trace.active ? c->trace.hex : NULL);
	vbx__log_ws_access(c->id, c->path ? c->path : "", status, c->bytes_out,
	                   c->bytes_in,
	                   (double)(vbx__now_ns() - c->start_ns) / 1e6,
	                   c->client, c->peer, code);
	vbx__log_set_trace(NULL);
}

/* The session's trace context, from the upgrade's headers. */
static void begin_ws_trace(vbx__ws_conn *c, struct lws *wsi)
{
	char tp[128], ts[VBX_TRACESTATE_MAX + 64];
	if (!vbx__trace_enabled())
		return;
	if (lws_hdr_custom_copy(wsi, tp, sizeof(tp), "traceparent:", 12) < 0)
		tp[0] = '\0';
	if (lws_hdr_custom_copy(wsi, ts, sizeof(ts), "tracestate:", 11) < 0)
		ts[0] = '\0';
	char name[256];
	snprintf(name, sizeof(name), "GET %s", c->route->pattern);
	vbx__trace_begin(&c->trace, tp[0] ? tp : NULL, ts[0] ? ts : NULL, name,
	                 VBX_SPAN_SERVER, c->arena);
}

/* At the close: the session's span with its outcome. */
static void end_ws_trace(vbx__ws_conn *c)
{
	vbx_span *sp = c->trace.span;
	if (!sp)
		return;
	c->trace.span = NULL;
	int status = upgrade_status(c);
	pthread_mutex_lock(&c->lock);
	int code = c->close_code;
	pthread_mutex_unlock(&c->lock);
	vbx_span_set_str(sp, "http.request.method", "GET");
	vbx_span_set_str(sp, "http.route", c->route->pattern);
	vbx_span_set_int(sp, "http.response.status_code", status);
	vbx_span_set_str(sp, "url.path", c->path ? c->path : "");
	vbx_span_set_str(sp, "client.address", c->client);
	vbx_span_set_str(sp, "vibebox.request_id", c->id);
	vbx_span_set_int(sp, "vibebox.websocket.close_code", code);
	if (status >= 500)
		vbx_span_set_error(sp, "server error");
	vbx__span_end(sp);
}

static void log_draining(vbx__server *s, struct lws *wsi)
{
	char uri[2048];
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		uri[0] = '\0';
	log_refused(s, wsi, uri, 503, vbx__now_ns());
}

/* The upgrade names one of our subprotocols: find the route and keep what
 * the worker will need, since the headers go away after the handshake. */
static vbx__ws_conn *on_filter(vbx__server *s, struct lws *wsi)
{
	char uri[2048], auth[4096], protos[4096];
	const char *proto = lws_get_protocol(wsi)->name;
	int64_t start = vbx__now_ns();
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return NULL;
	vbx__arena *a = vbx__arena_new(2048);
	vbx__ws_conn *c = calloc(1, sizeof(*c));
	if (!a || !c) {
		vbx__arena_free(a);
		free(c);
		return NULL;
	}
	c->arena = a;
	c->fd = -1;
	int st = ws_routes ? vbx__router_match(ws_routes, "GET", uri, a,
	                                       &c->match)
	                   : 404;
	if (st != 200 || strcmp(c->match.route->subprotocol, proto) != 0) {
		vbx__info("WebSocket upgrade refused: no route %s with "
		          "subprotocol %s",
		          uri, proto);
		log_refused(s, wsi, uri, 404, start);
		vbx__arena_free(a);
		free(c);
		return NULL;
	}
	c->head.host = &vbx__host;
	c->s = s;
	c->route = c->match.route;
	c->start_ns = start;
	c->path = vbx__arena_strdup(a, uri);
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->lock, NULL);
	vbx__request_id_new(c->id);
	vbx__query_snapshot(wsi, a, &c->query, &c->nquery);
	if (lws_hdr_copy(wsi, auth, sizeof(auth),
	                 WSI_TOKEN_HTTP_AUTHORIZATION) <= 0)
		auth[0] = '\0';
	if (lws_hdr_copy(wsi, protos, sizeof(protos), WSI_TOKEN_PROTOCOL) <= 0)
		protos[0] = '\0';
	const char *b = vbx__bearer(auth[0] ? auth : NULL, protos, a);
	c->bearer = b ? vbx__arena_strdup(a, b) : NULL;
	client_and_peer(wsi, c->client, c->peer);
	begin_ws_trace(c, wsi);
	return c;
}

static void on_established(vbx__server *s, vbx__ws_conn *c, struct lws *wsi)
{
	c->wsi = wsi;
	c->established = true;
	vbx__ws_metrics_conn(c->route, +1);
	c->fd = lws_get_socket_fd(wsi);
	if (vbx__wsguard_watch(c->fd, on_frame_fault, c) != VBX_OK) {
		vbx__warn("WebSocket %s: out of memory for its frame checks",
		          c->id);
		c->fd = -1;
	}
	c->in_all = true;
	c->next_all = s->ws_all;
	c->prev_all = NULL;
	if (s->ws_all)
		s->ws_all->prev_all = c;
	s->ws_all = c;
	lws_rx_flow_control(wsi, 0); /* nothing is read until open says yes */
	c->paused = true;
	conn_ref(c);
	if (vbx__workers_submit(open_on_worker, c) != VBX_OK) {
		vbx__ws_close(c, 1001, "server shutting down");
		conn_unref(c); /* the worker's reference; ours stays */
	}
}

static void on_gone(vbx__server *s, vbx__ws_conn *c)
{
	if (c->in_all) {
		if (c->prev_all)
			c->prev_all->next_all = c->next_all;
		else
			s->ws_all = c->next_all;
		if (c->next_all)
			c->next_all->prev_all = c->prev_all;
		c->in_all = false;
	}
	if (c->wsi && c->established)
		vbx__ws_metrics_conn(c->route, -1);
	c->wsi = NULL;
	vbx__wsguard_forget(c->fd); /* before lws closes it */
	c->fd = -1;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	void *watch = c->watch;
	c->watch = NULL;
	pthread_mutex_unlock(&c->lock);
	vbx__revoke_unwatch(watch);
	log_upgrade(c);
	deliver_close(c);
	conn_unref(c);
}

int vbx__ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
	vbx__server *s = lws_context_user(lws_get_context(wsi));
	vbx__ws_conn **slot = user, *c = slot ? *slot : NULL;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		vbx__memtrim_note();
		if (!slot)
			return 1;
		if (atomic_load(&s->draining)) {
			log_draining(s, wsi);
			return 1;
		}
		*slot = on_filter(s, wsi);
		return *slot ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
		if (c)
			on_established(s, c, wsi);
		return c ? 0 : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writable(c, wsi) : 0;
	case LWS_CALLBACK_RECEIVE:
		return c ? on_receive(c, wsi, in, len) : 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return c ? on_peer_close(c, wsi, in, len) : 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (c) {
			*slot = NULL;
			vbx__memtrim_note();
			on_gone(s, c);
		}
		return 0;
	default:
		return 0;
	}
}

void vbx__ws_close_all(vbx__server *s, int code, const char *reason)
{
	for (vbx__ws_conn *c = s->ws_all; c; c = c->next_all) {
		pthread_mutex_lock(&c->lock);
		if (!c->closing) {
			c->closing = true;
			c->close_code = code;
			snprintf(c->close_reason, sizeof(c->close_reason), "%s",
			         reason);
		}
		pthread_mutex_unlock(&c->lock);
		lws_callback_on_writable(c->wsi);
	}
}

size_t vbx__ws_count(const vbx__server *s)
{
	size_t n = 0;
	for (const vbx__ws_conn *c = s->ws_all; c; c = c->next_all)
		n++;
	return n;
}

void vbx__ws_routes_free(void)
{
	vbx__router_free(ws_routes);
	ws_routes = NULL;
	for (size_t i = 0; i < nprotocols; i++)
		free((char *)protocol_names[i]);
	free(protocol_names);
	protocol_names = NULL;
	nprotocols = 0;
}
