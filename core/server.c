/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - the HTTP side of the service thread: listeners, reading
 * requests, routing, handing them to workers and writing the answers.
 *
 * The listening sockets are our own, adopted into the lws loop as raw file
 * descriptors: that gives several listen addresses and, at shutdown, a
 * listener we can close while the connections on it finish.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "framing.h"
#include "headguard.h"
#include "proxyguard.h"
#include "server.h"
#include "coremetrics.h"
#include "wsguard.h"

#define WRITE_CHUNK 32768

struct http_pss {
	vbx_request *req;
	vbx__conn_addr peer; /* looked up once per connection */
	bool peer_known;
};

static vbx__router *http_routes;
static unsigned char write_buf[LWS_PRE + WRITE_CHUNK];

/* ---- routes ---- */

const vbx__router *vbx__http_routes(void)
{
	return http_routes;
}

int vbx__route_add(vbx_plugin *p, const char *method, const char *pattern,
                   unsigned flags, vbx_route_fn *fn, void *ud)
{
	if (vbx__registry_frozen()) {
		vbx__log(p->name, VBX_LOG_ERROR,
		         "route %s %s: routes can be added during init only",
		         method, pattern);
		return VBX_ESTATE;
	}
	if (!fn)
		return VBX_EINVAL;
	if (!http_routes && !(http_routes = vbx__router_new()))
		return VBX_ENOMEM;
	vbx__route r = {.method = method,
	                .pattern = pattern,
	                .flags = flags,
	                .fn = fn,
	                .ud = ud,
	                .owner = p};
	return vbx__route_register(http_routes, &r);
}

/* ---- listeners ---- */

static int listen_on(const vbx__listen *l, vbx__errors *errs)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", l->port);
	int rc = getaddrinfo(l->host, port, &hints, &ai);
	if (rc) {
		vbx__errors_add(errs, "server.listen %s:%d: %s", l->host,
		                l->port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			           sizeof(one));
	}
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 511) < 0) {
		vbx__errors_add(errs,
		                "server.listen %s:%d: cannot listen: %s; is "
		                "another process using the port?",
		                l->host, l->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* A connection on a proxy_protocol listener: from a trusted peer only,
 * its PROXY header is taken off before lws reads HTTP. False when fd
 * must be closed. */
static bool accept_proxied(const vbx__server *s, int fd)
{
	const vbx__conf *c =
	        vbx__conf_current() ? vbx__conf_current() : s->conf;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	vbx__ipaddr peer = {0};
	char text[VBX__ADDR_TEXT] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    vbx__ip_from_sockaddr((struct sockaddr *)&ss, &peer))
		vbx__ip_format(&peer, text, sizeof(text));
	if (!c || !vbx__cidr_match(c->trusted, c->ntrusted, &peer)) {
		vbx__info("connection from %s on a proxy_protocol listener "
		          "refused: that address is not in "
		          "server.trusted_proxies",
		          text);
		return false;
	}
	if (vbx__proxyguard_watch(fd) != VBX_OK) {
		vbx__warn("connection from %s refused: no memory to read its "
		          "PROXY protocol header",
		          text);
		return false;
	}
	return true;
}

static void accept_all(vbx__server *s, int lfd, bool proxied)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				vbx__warn("accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (proxied && !accept_proxied(s, fd)) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* its heads are checked raw before lws parses them */
		if (vbx__headguard_watch(fd) != VBX_OK)
			vbx__warn(
			        "accept: no memory to check the request heads "
			        "of a connection; serving it unchecked");
		if (!lws_adopt_socket_vhost(s->vhost, fd)) {
			vbx__headguard_forget(fd);
			vbx__proxyguard_forget(fd);
			close(fd);
		}
	}
}

static int listen_cb(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
	vbx__server *s = lws_context_user(lws_get_context(wsi));
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	bool proxied = false;
	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->listeners && s->listeners[i] == wsi)
			proxied = s->listen_proxy[i];
	accept_all(s, lws_get_socket_fd(wsi), proxied);
	return 0;
}

static void close_listeners(vbx__server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->listeners[i])
			lws_set_timeout(s->listeners[i],
			                PENDING_TIMEOUT_USER_OK,
			                LWS_TO_KILL_SYNC);
	s->listeners_closed = true;
	vbx__info("listeners closed; finishing %zu requests in flight",
	          s->inflight);
}

/* ---- reading a request ---- */

static const char *const method_names[] = {
        [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",
        [LWSHUMETH_OPTIONS] = "OPTIONS", [LWSHUMETH_PUT] = "PUT",
        [LWSHUMETH_PATCH] = "PATCH",     [LWSHUMETH_DELETE] = "DELETE",
        [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

static const char *const custom_headers[] = {
        "x-request-id:", "x-forwarded-for:", "x-real-ip:", "traceparent:",
        "tracestate:"};

static void add_header(vbx_request *r, size_t *cap, const char *name,
                       size_t nlen, char *value)
{
	if (r->nheaders == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		vbx__header *v = vbx__arena_alloc(r->arena, ncap * sizeof(*v));
		if (!v)
			return;
		if (r->nheaders)
			memcpy(v, r->headers, r->nheaders * sizeof(*v));
		r->headers = v;
		*cap = ncap;
	}
	r->headers[r->nheaders].name = vbx__arena_strndup(r->arena, name, nlen);
	r->headers[r->nheaders].value = value;
	r->nheaders++;
}

/* The name ("host:") and its length of each token lws knows, looked up
 * once: every request walks them all (snapshot_headers). A token that is
 * not a header (the method and the target) has length 0. */
static struct {
	const char *name;
	size_t len;
} token_names[WSI_TOKEN_COUNT];

static void token_names_init(void)
{
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *name = (const char *)lws_token_to_string(
		        (enum lws_token_indexes)t);
		size_t nlen = name ? strlen(name) : 0;
		bool header = nlen >= 2 && name[nlen - 1] == ':' &&
		              t != WSI_TOKEN_HTTP_URI_ARGS;
		token_names[t].name = header ? name : NULL;
		token_names[t].len = header ? nlen : 0;
	}
}

/* Copy every header a worker may ask for: the worker must not touch the
 * wsi, which belongs to the service thread. */
static void snapshot_headers(vbx_request *r, struct lws *wsi)
{
	static pthread_once_t names_once = PTHREAD_ONCE_INIT;
	pthread_once(&names_once, token_names_init);
	size_t cap = 0;
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		if (!token_names[t].len)
			continue;
		int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
		if (n <= 0)
			continue;
		char *v = vbx__arena_alloc(r->arena, (size_t)n + 1);
		if (v &&
		    lws_hdr_copy(wsi, v, n + 1, (enum lws_token_indexes)t) >= 0)
			add_header(r, &cap, token_names[t].name,
			           token_names[t].len - 1, v);
	}
	for (size_t i = 0; i < sizeof(custom_headers) / sizeof(*custom_headers);
	     i++) {
		const char *name = custom_headers[i];
		int nlen = (int)strlen(name);
		int n = lws_hdr_custom_length(wsi, name, nlen);
		if (n <= 0)
			continue;
		char *v = vbx__arena_alloc(r->arena, (size_t)n + 1);
		if (v && lws_hdr_custom_copy(wsi, v, n + 1, name, nlen) >= 0)
			add_header(r, &cap, name, (size_t)nlen - 1, v);
	}
}

void vbx__query_snapshot(struct lws *wsi, vbx__arena *a, vbx__header **out,
                         size_t *n)
{
	int count = 0;
	char buf[2048];
	*out = NULL;
	*n = 0;
	while (lws_hdr_copy_fragment(wsi, buf, sizeof(buf),
	                             WSI_TOKEN_HTTP_URI_ARGS, count) >= 0)
		count++;
	if (!count ||
	    !(*out = vbx__arena_alloc(a, (size_t)count * sizeof(**out))))
		return;
	for (int i = 0; i < count; i++) {
		if (lws_hdr_copy_fragment(wsi, buf, sizeof(buf),
		                          WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
			continue;
		char *eq = strchr(buf, '=');
		vbx__header *q = &(*out)[(*n)++];
		q->name = vbx__arena_strndup(
		        a, buf, eq ? (size_t)(eq - buf) : strlen(buf));
		q->value = vbx__arena_strdup(a, eq ? eq + 1 : "");
	}
}

/* The client's X-Request-Id, when it fits an id we could keep. */
static void set_request_id(vbx_request *r, struct lws *wsi)
{
	char given[VBX__REQ_ID_LEN + 2];
	int n = lws_hdr_custom_length(wsi, "x-request-id:", 13);
	bool have = n > 0 && n <= VBX__REQ_ID_LEN &&
	            lws_hdr_custom_copy(wsi, given, sizeof(given),
	                                "x-request-id:", 13) > 0;
	vbx__request_set_id(r, have ? given : NULL);
}

/* A custom header's value into the arena, or NULL when absent or longer
 * than max. */
static const char *custom_header(vbx_request *r, struct lws *wsi,
                                 const char *name, int max)
{
	int nlen = (int)strlen(name);
	int n = lws_hdr_custom_length(wsi, name, nlen);
	if (n <= 0 || n > max)
		return NULL;
	char *v = vbx__arena_alloc(r->arena, (size_t)n + 1);
	if (!v || lws_hdr_custom_copy(wsi, v, n + 1, name, nlen) < 0)
		return NULL;
	return v;
}

/* The request's trace context (trace.h), from traceparent/tracestate;
 * nothing at all without a span exporter. */
static void begin_trace(vbx_request *r, struct lws *wsi)
{
	if (!vbx__trace_enabled())
		return;
	vbx__trace_begin(
	        &r->trace, custom_header(r, wsi, "traceparent:", 128),
	        custom_header(r, wsi, "tracestate:", VBX_TRACESTATE_MAX + 64),
	        r->method, VBX_SPAN_SERVER, r->arena);
}

/* The SERVER span's name and attributes once the answer is out; then
 * it goes to the exporter. */
static void end_trace(vbx_request *r)
{
	vbx_span *sp = r->trace.span;
	if (!sp)
		return;
	r->trace.span = NULL;
	const char *route = r->match.route ? r->match.route->pattern : NULL;
	if (route) {
		char name[256];
		snprintf(name, sizeof(name), "%s %s", r->method, route);
		vbx__span_rename(sp, name);
	}
	vbx_span_set_str(sp, "http.request.method", r->method);
	if (route)
		vbx_span_set_str(sp, "http.route", route);
	vbx_span_set_int(sp, "http.response.status_code", r->status);
	vbx_span_set_str(sp, "url.path", r->path);
	vbx_span_set_str(sp, "client.address", r->client);
	vbx_span_set_str(sp, "vibebox.request_id", r->id);
	if (r->status >= 500)
		vbx_span_set_error(sp, "server error");
	vbx__span_end(sp);
}

/* ---- writing the answer ---- */

static int add_hdr(struct lws *wsi, const char *name, const char *value,
                   unsigned char **p, unsigned char *end)
{
	char lname[128];
	snprintf(lname, sizeof(lname), "%s:", name);
	return lws_add_http_header_by_name(wsi, (const unsigned char *)lname,
	                                   (const unsigned char *)value,
	                                   (int)strlen(value), p, end);
}

/* A 304 has no body, and its Content-Length would have to be the 200's
 * (RFC 9110, 8.6): it gets none. */
static int put_headers(vbx__server *s, struct lws *wsi, vbx_request *r,
                       unsigned char **p, unsigned char *end)
{
	char len[32];
	snprintf(len, sizeof(len), "%zu", r->resp_len);
	if (lws_add_http_header_status(wsi, (unsigned)r->status, p, end) ||
	    (r->content_type &&
	     lws_add_http_header_by_token(
	             wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	             (const unsigned char *)r->content_type,
	             (int)strlen(r->content_type), p, end)) ||
	    (r->status != 304 &&
	     lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
	                                  (const unsigned char *)len,
	                                  (int)strlen(len), p, end)) ||
	    add_hdr(wsi, "x-request-id", r->id, p, end) ||
	    (r->trace.active &&
	     add_hdr(wsi, "x-trace-id", r->trace.hex, p, end)))
		return -1;
	for (size_t i = 0; i < r->nresp_headers; i++)
		if (add_hdr(wsi, r->resp_headers[i].name,
		            r->resp_headers[i].value, p, end))
			return -1;
	if ((r->close_after || atomic_load(&s->draining)) &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
	                                 (const unsigned char *)"close", 5, p,
	                                 end))
		return -1;
	return lws_finalize_http_header(wsi, p, end);
}

static void finish_request(vbx__server *s, struct http_pss *pss, vbx_request *r)
{
	double ms = (double)(vbx__now_ns() - r->start_ns) / 1e6;
	vbx__http_metrics_observe(r->match.route, r->method, r->status,
	                          ms / 1e3);
	end_trace(r);
	if (s->conf->log_access) {
		vbx__log_set_trace(r->trace.active ? r->trace.hex : NULL);
		vbx__log_access(r->id, r->method, r->path, r->status,
		                r->resp_len, ms, r->client, r->peer);
		vbx__log_set_trace(NULL);
	}
	if (r->counted)
		s->inflight--;
	pss->req = NULL;
	vbx__request_free(r);
}

/* Write the headers and as much of the body as fits in one lws_write;
 * small answers leave in a single write. Returns -1 to close. */
static int write_response(vbx__server *s, struct lws *wsi, struct http_pss *pss)
{
	vbx_request *r = pss->req;
	if (!r || r->running || !r->status)
		return 0;
	unsigned char *start = write_buf + LWS_PRE, *p = start;
	unsigned char *end = write_buf + sizeof(write_buf);
	if (!r->headers_sent) {
		if (put_headers(s, wsi, r, &p, end)) {
			vbx__error("cannot write the headers of %s %s",
			           r->method, r->path);
			return -1;
		}
		r->headers_sent = true;
	}
	if (r->head_only)
		r->resp_sent =
		        r->resp_len; /* Content-Length says what GET has */
	size_t n = r->resp_len - r->resp_sent;
	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	if (n)
		memcpy(p, r->resp + r->resp_sent, n);
	p += n;
	r->resp_sent += n;
	bool last = r->resp_sent == r->resp_len;
	if (lws_write(wsi, start, (size_t)(p - start),
	              last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
		return -1;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	bool close_after = r->close_after;
	finish_request(s, pss, r);
	if (close_after || atomic_load(&s->draining))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- running a request ---- */

static void run_on_worker(void *ud)
{
	vbx_request *r = ud;
	vbx__dispatch_run(r, NULL);
	vbx__server_complete(r->server, r);
}

/* Only the request that finds the list empty wakes the service thread:
 * a non-empty list means a wake-up is on its way and on_wakeup takes the
 * whole list, so under load one pipe write serves many answers. */
void vbx__server_complete(vbx__server *s, vbx_request *r)
{
	pthread_mutex_lock(&s->lock);
	bool wake = s->done == NULL;
	r->next_done = s->done;
	s->done = r;
	pthread_mutex_unlock(&s->lock);
	if (wake)
		lws_cancel_service(s->ctx);
}

static int answer_now(vbx__server *s, struct lws *wsi, struct http_pss *pss)
{
	return write_response(s, wsi, pss);
}

static int dispatch(vbx__server *s, struct lws *wsi, struct http_pss *pss)
{
	vbx_request *r = pss->req;
	if (r->dispatched)
		return 0;
	r->dispatched = true;
	switch (vbx__dispatch_match(r, s->conf->max_body)) {
	case VBX__DISPATCH_ANSWERED:
		return answer_now(s, wsi, pss);
	case VBX__DISPATCH_INLINE:
		r->match.route->fn(r->match.route->ud, r);
		return answer_now(s, wsi, pss);
	}
	snapshot_headers(r, wsi);
	vbx__query_snapshot(wsi, r->arena, &r->query, &r->nquery);
	r->running = true;
	r->counted = true;
	s->inflight++;
	/* a handler may block for as long as it needs; lws must not time
	 * the connection out meanwhile */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (vbx__workers_submit(run_on_worker, r) != VBX_OK) {
		r->running = false;
		vbx__respond_error(r, 503, "UNAVAILABLE",
		                   "the server is shutting down");
		return answer_now(s, wsi, pss);
	}
	return 0;
}

/* ---- limits ---- */

/*
 * libwebsockets closes a connection without a word when a request head
 * overflows its header pool. Each token it keeps (the request target, each
 * query argument, each known header) is therefore cut at TOKEN_LIMIT and
 * the rest of it skipped, in a pool with room for several such tokens: a
 * target or a header that reaches the limit arrives here whole enough to
 * be answered 414 or 431. What lws would still drop without an answer
 * (headers it does not know that fill the pool, more than about 90 query
 * arguments and headers together, a %00 in the path) headguard.c answers
 * from the raw head before lws parses it (rawhead.h has the limits).
 */
#define TOKEN_LIMIT 8192
#define HEAD_POOL (4 * TOKEN_LIMIT)

static struct lws_token_limits token_limits;

static bool is_target_token(int t)
{
	switch (t) {
	case WSI_TOKEN_GET_URI:
	case WSI_TOKEN_POST_URI:
	case WSI_TOKEN_OPTIONS_URI:
	case WSI_TOKEN_PUT_URI:
	case WSI_TOKEN_PATCH_URI:
	case WSI_TOKEN_DELETE_URI:
	case WSI_TOKEN_CONNECT:
	case WSI_TOKEN_HEAD_URI:
	case WSI_TOKEN_HTTP_URI_ARGS:
		return true;
	default:
		return false;
	}
}

/* Answer a head with a part at the limit; true when r was answered. */
static bool refuse_oversized(vbx_request *r, struct lws *wsi)
{
	int target = 0;
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
		if (is_target_token(t)) {
			target += n;
			continue;
		}
		if (n < TOKEN_LIMIT - 1)
			continue;
		const char *name = (const char *)lws_token_to_string(
		        (enum lws_token_indexes)t);
		int nlen = name ? (int)strcspn(name, ":") : 0;
		vbx__respond_error(
		        r, 431, NULL,
		        "request header %.*s is longer than %d bytes", nlen,
		        name ? name : "", TOKEN_LIMIT - 2);
		r->close_after = true;
		return true;
	}
	if (target < TOKEN_LIMIT - 1)
		return false;
	vbx__respond_error(r, 414, NULL,
	                   "request target (path and query) is longer than %d "
	                   "bytes",
	                   TOKEN_LIMIT - 2);
	r->close_after = true;
	return true;
}

/* ---- framing ---- */

/* Headers a request may carry once: a proxy in front and we could each
 * read a different one of two. */
static const struct {
	enum lws_token_indexes token;
	const char *name;
} single_headers[] = {
        {WSI_TOKEN_HOST, "Host"},
        {WSI_TOKEN_HTTP_AUTHORIZATION, "Authorization"},
        {WSI_TOKEN_HTTP_CONTENT_TYPE, "Content-Type"},
        {WSI_TOKEN_HTTP_CONTENT_LENGTH, "Content-Length"},
};

/* Names lws does not recognise, so keeps as custom headers, that a lenient
 * proxy would still read as a framing header: whitespace before the colon
 * (RFC 9112 section 5.1 says to refuse them). */
static const char *const framing_lookalikes[] = {"content-length :",
                                                 "transfer-encoding :"};

/* A header's value in the arena; NULL when absent, "" when it cannot be
 * copied (which no framing check accepts). */
static const char *head_value(vbx_request *r, struct lws *wsi,
                              enum lws_token_indexes t)
{
	int n = lws_hdr_total_length(wsi, t);
	if (n <= 0)
		return NULL;
	char *v = vbx__arena_alloc(r->arena, (size_t)n + 1);
	if (!v || lws_hdr_copy(wsi, v, n + 1, t) < 0)
		return "";
	return v;
}

static void read_head(vbx_request *r, struct lws *wsi, vbx__head *h)
{
	memset(h, 0, sizeof(*h));
	h->method = r->method;
	h->content_length = head_value(r, wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	h->transfer_encoding =
	        head_value(r, wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
	/* a repeated header's second fragment starts with the space lws
	 * puts between the values, so it is never empty */
	for (size_t i = 0; i < sizeof(single_headers) / sizeof(*single_headers);
	     i++)
		if (lws_hdr_fragment_length(wsi, single_headers[i].token, 1) >
		    0)
			h->duplicate = single_headers[i].name;
	for (size_t i = 0;
	     i < sizeof(framing_lookalikes) / sizeof(*framing_lookalikes);
	     i++) {
		const char *name = framing_lookalikes[i];
		if (lws_hdr_custom_length(wsi, name, (int)strlen(name)) >= 0)
			h->space_before_colon = true;
	}
}

/* Refuse a head whose body framing a proxy could read differently; see
 * framing.h. Returns true when r was answered (and must be sent, then the
 * connection closed). */
static bool refuse_framing(vbx_request *r, struct lws *wsi, vbx__framing *f)
{
	vbx__head h;
	read_head(r, wsi, &h);
	r->close_after = vbx__framing_check(&h, f) || f->close_after;
	if (!f->status)
		return false;
	if (h.duplicate)
		vbx__respond_error(r, f->status, NULL,
		                   "more than one %s header; send it once",
		                   h.duplicate);
	else
		vbx__respond_error(r, f->status, NULL, "%s", f->message);
	return true;
}

static int on_http(vbx__server *s, struct lws *wsi, struct http_pss *pss)
{
	char *uri = NULL;
	int ulen = 0;
	int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
	vbx_request *r = vbx__request_new(s);
	if (!r)
		return -1;
	vbx__memtrim_note();
	pss->req = r;
	r->wsi = wsi;
	r->method = m >= 0 && m <= LWSHUMETH_HEAD ? method_names[m] : "?";
	r->path = uri ? vbx__arena_strndup(r->arena, uri, (size_t)ulen) : "/";
	set_request_id(r, wsi);
	if (!pss->peer_known) {
		vbx__conn_peer(wsi, &pss->peer);
		pss->peer_known = true;
	}
	vbx__client_of(wsi, &pss->peer, r->client, r->peer);
	if (strcmp(r->client, r->peer) == 0)
		r->peer[0] = '\0'; /* the access log names a proxy only */
	begin_trace(r, wsi);
	vbx__framing f;
	if (refuse_oversized(r, wsi) || refuse_framing(r, wsi, &f)) {
		r->dispatched = true;
		return answer_now(s, wsi, pss);
	}
	if (!vbx__method_has_body(r->method) || !f.has_length)
		return dispatch(s, wsi, pss);
	if (f.length > s->conf->max_body)
		r->body_too_large = true;
	if (f.length == 0 || r->body_too_large)
		return dispatch(s, wsi, pss);
	return 0; /* the body follows */
}

/*
 * The end of a request's body, which lws reports once. When requests are
 * pipelined after a request with a body, lws 4.1 reports that body's end
 * again and again from its buffer (and a request with a body that is
 * itself parsed from that buffer gets its own head as its body): the
 * service thread spins, serving no one, until the answer is written, and
 * forever when a third request follows. A second report therefore closes
 * the connection. RFC 9112 section 9.3.2 tells clients not to pipeline
 * after a non-idempotent request; browsers, curl and the CLI do not
 * pipeline at all.
 */
#define MAX_BODY_COMPLETIONS 1

static int body_complete(vbx__server *s, struct lws *wsi, struct http_pss *pss)
{
	vbx_request *r = pss->req;
	if (!r || ++r->completions > MAX_BODY_COMPLETIONS) {
		vbx__warn("closing a connection: libwebsockets cannot frame a "
		          "request with a body pipelined behind another");
		return -1;
	}
	return dispatch(s, wsi, pss);
}

static void on_closed(vbx__server *s, struct http_pss *pss)
{
	vbx_request *r = pss->req;
	if (!r)
		return;
	pss->req = NULL;
	if (r->running) {
		r->orphaned = true; /* freed when the worker hands it back */
		return;
	}
	if (r->counted)
		s->inflight--;
	vbx__request_free(r);
}

/* ---- the service thread's wake-ups ---- */

static void shutdown_tick(lws_sorted_usec_list_t *sul);

static void begin_drain(vbx__server *s)
{
	int64_t now = vbx__now_ns();
	atomic_store(&s->draining, true);
	s->drain_deadline_ns = now + s->conf->drain_delay_ms * 1000000;
	s->stop_deadline_ns =
	        s->drain_deadline_ns + s->conf->shutdown_timeout_ms * 1000000;
	vbx__info("stopping: readiness is now 503; listeners close in %lld ms",
	          (long long)s->conf->drain_delay_ms);
	shutdown_tick(&s->tick);
}

static void shutdown_tick(lws_sorted_usec_list_t *sul)
{
	vbx__server *s = lws_container_of(sul, vbx__server, tick);
	int64_t now = vbx__now_ns();
	if (!s->listeners_closed && now >= s->drain_deadline_ns) {
		close_listeners(s);
		vbx__ws_close_all(s, 1001, "server shutting down");
	}
	if (s->listeners_closed && s->inflight == 0 && vbx__ws_count(s) == 0) {
		s->finished = true;
	} else if (now >= s->stop_deadline_ns) {
		vbx__warn("server.shutdown_timeout passed with %zu requests "
		          "and %zu WebSockets open; closing them",
		          s->inflight, vbx__ws_count(s));
		s->finished = true;
	}
	if (s->finished)
		lws_cancel_service(s->ctx);
	else
		lws_sul_schedule(s->ctx, 0, &s->tick, shutdown_tick,
		                 20 * LWS_US_PER_MS);
}

static void on_wakeup(vbx__server *s)
{
	pthread_mutex_lock(&s->lock);
	vbx_request *r = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->lock);
	while (r) {
		vbx_request *next = r->next_done;
		r->running = false;
		if (r->orphaned) {
			s->inflight--;
			vbx__request_free(r);
		} else {
			lws_callback_on_writable(r->wsi);
		}
		r = next;
	}
	vbx__ws_service_pending(s);
	if (atomic_load(&s->stop_requested) && !atomic_load(&s->draining))
		begin_drain(s);
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason,
                   void *user, void *in, size_t len)
{
	vbx__server *s = lws_context_user(lws_get_context(wsi));
	struct http_pss *pss = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(s, wsi, pss);
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->req)
			vbx__request_append_body(pss->req, in, len,
			                         s->conf->max_body);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return body_complete(s, wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return write_response(s, wsi, pss);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			on_closed(s, pss);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		on_wakeup(s);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* an upgrade that named no subprotocol of ours */
		return 1;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- life of the server ---- */

static void lws_log_emit(int level, const char *line)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", line);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	vbx__log("lws", level == LLL_ERR ? VBX_LOG_ERROR : VBX_LOG_WARN, "%s",
	         buf);
}

static int build_protocols(vbx__server *s)
{
	size_t nws = vbx__ws_protocol_count();
	s->protocols = calloc(nws + 3, sizeof(*s->protocols));
	if (!s->protocols)
		return VBX_ENOMEM;
	s->protocols[0] = (struct lws_protocols){
	        "vbx-http", http_cb, sizeof(struct http_pss), 0, 0, NULL, 0};
	s->protocols[1] = (struct lws_protocols){
	        "vbx-listen", listen_cb, 0, 0, 0, NULL, 0};
	for (size_t i = 0; i < nws; i++)
		s->protocols[2 + i] =
		        (struct lws_protocols){vbx__ws_protocol_name(i),
		                               vbx__ws_callback,
		                               sizeof(void *),
		                               4096,
		                               0,
		                               NULL,
		                               0};
	s->nprotocols = nws + 2;
	return VBX_OK;
}

static int create_context(vbx__server *s)
{
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = s->protocols;
	info.user = s;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	for (size_t i = 0; i < WSI_TOKEN_COUNT; i++)
		token_limits.token_limit[i] = TOKEN_LIMIT;
	info.token_limits = &token_limits;
	info.max_http_header_data = HEAD_POOL;
	info.pt_serv_buf_size = 32768;
	info.count_threads = 1;
	info.vhost_name = "vibeboxd";
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	s->ctx = lws_create_context(&info);
	if (!s->ctx)
		return VBX_ERR;
	s->vhost = lws_create_vhost(s->ctx, &info);
	return s->vhost ? VBX_OK : VBX_ERR;
}

static int adopt_listeners(vbx__server *s)
{
	s->listeners = calloc(s->nlisteners, sizeof(*s->listeners));
	if (!s->listeners)
		return VBX_ENOMEM;
	for (size_t i = 0; i < s->nlisteners; i++) {
		lws_sock_file_fd_type fd = {.filefd = s->listen_fds[i]};
		s->listeners[i] = lws_adopt_descriptor_vhost(
		        s->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "vbx-listen",
		        NULL);
		if (!s->listeners[i])
			return VBX_ERR;
		s->listen_fds[i] = -1; /* lws owns it now */
	}
	return VBX_OK;
}

int vbx__server_create(const vbx__conf *conf, vbx__server **out,
                       vbx__errors *errs)
{
	vbx__server *s = calloc(1, sizeof(*s));
	if (!s)
		return VBX_ENOMEM;
	s->conf = conf;
	pthread_mutex_init(&s->lock, NULL);
	s->listen_fds = calloc(conf->nlisten, sizeof(int));
	s->listen_proxy = calloc(conf->nlisten, sizeof(bool));
	s->nlisteners = conf->nlisten;
	int rc = s->listen_fds && s->listen_proxy ? VBX_OK : VBX_ENOMEM;
	for (size_t i = 0; rc == VBX_OK && i < conf->nlisten; i++) {
		s->listen_fds[i] = -1;
		s->listen_proxy[i] = conf->listen[i].proxy_protocol;
	}
	for (size_t i = 0; rc == VBX_OK && i < conf->nlisten; i++)
		if ((s->listen_fds[i] = listen_on(&conf->listen[i], errs)) < 0)
			rc = VBX_ERR;
	if (rc == VBX_OK && (rc = build_protocols(s)) == VBX_OK &&
	    (rc = create_context(s)) != VBX_OK)
		vbx__errors_add(errs,
		                "cannot create the libwebsockets context");
	if (rc == VBX_OK && (rc = adopt_listeners(s)) != VBX_OK)
		vbx__errors_add(errs, "cannot watch the listening sockets");
	if (rc != VBX_OK) {
		vbx__server_destroy(s);
		return rc;
	}
	*out = s;
	return VBX_OK;
}

void vbx__server_run(vbx__server *s)
{
	vbx__log_batch(true);
	while (!s->finished) {
		int rc = lws_service(s->ctx, 0);
		vbx__log_flush();
		if (rc < 0)
			break;
	}
	vbx__log_batch(false);
}

void vbx__server_wake(vbx__server *s)
{
	lws_cancel_service(s->ctx);
}

void vbx__server_request_stop(vbx__server *s)
{
	atomic_store(&s->stop_requested, true);
	lws_cancel_service(s->ctx);
}

bool vbx__server_draining(const vbx__server *s)
{
	return s && atomic_load(&s->draining);
}

void vbx__server_destroy(vbx__server *s)
{
	if (!s)
		return;
	if (s->ctx)
		lws_context_destroy(s->ctx);
	vbx__wsguard_fini(); /* every WebSocket is gone with the context */
	vbx__headguard_fini();
	vbx__proxyguard_fini();
	/* answers that came back after the loop ended */
	for (vbx_request *r = s->done, *next; r; r = next) {
		next = r->next_done;
		vbx__request_free(r);
	}
	for (size_t i = 0; s->listen_fds && i < s->nlisteners; i++)
		if (s->listen_fds[i] >= 0)
			close(s->listen_fds[i]);
	free(s->listen_fds);
	free(s->listen_proxy);
	free(s->listeners);
	free(s->protocols);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void vbx__routes_free(void)
{
	vbx__router_free(http_routes);
	http_routes = NULL;
}
