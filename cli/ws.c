/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws.c - the WebSocket client of `vibebox shell` and `env logs -f` on
 * libwebsockets (ws.h). One context holds one connection at a time; a
 * reconnect makes a new connection in the same context. Messages are
 * joined from their fragments here, so users see whole messages only.
 */
#include "vbx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "cli.h"
#include "ws.h"

#define MSG_MAX (4u << 20)   /* a server message larger than this is broken */
#define SEND_MAX (64u << 10) /* our largest frame */

struct cli_ws {
	struct lws_context *ctx;
	struct lws *wsi;
	const cli_ws_ops *ops;
	void *ud;
	char protocol[64];
	char auth[CLI_TOKEN_MAX + 16];
	uint8_t *msg;
	size_t msg_len;
	bool msg_too_big;
	int close_code;
	char close_reason[128];
	bool stop;
	bool dying; /* in cli_ws_free: no more callbacks */
	struct lws_protocols protocols[2];
	lws_sorted_usec_list_t sul;
	void (*timer_fn)(void *ud);
	uint8_t sendbuf[LWS_PRE + SEND_MAX + 16];
};

static int parse_authority(const char *s, size_t n, char *host, size_t hostlen,
                           int *port)
{
	const char *colon = NULL;
	if (n && s[0] == '[') { /* [v6]:port */
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		if (close + 1 < s + n && close[1] != ':')
			return -1;
		colon = close + 1 < s + n ? close + 1 : NULL;
		s++;
		n = (size_t)(close - s);
	} else {
		colon = memchr(s, ':', n);
		if (colon)
			n = (size_t)(colon - s);
	}
	if (!n || n >= hostlen || memchr(s, '@', n))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || p < 1 || p > 65535 ||
		    (*end && *end != '/'))
			return -1;
		*port = (int)p;
	}
	return 0;
}

int cli_ws_target(const char *server, const char *path, char *host,
                  size_t hostlen, int *port, char *fullpath, size_t pathlen,
                  bool *tls)
{
	const char *rest;
	if (strncmp(server, "http://", 7) == 0) {
		*tls = false, *port = 80, rest = server + 7;
	} else if (strncmp(server, "https://", 8) == 0) {
		*tls = true, *port = 443, rest = server + 8;
	} else {
		return -1;
	}
	const char *slash = strchr(rest, '/');
	size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (parse_authority(rest, alen, host, hostlen, port) < 0)
		return -1;
	const char *prefix = slash ? slash : "";
	size_t plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	int n = snprintf(fullpath, pathlen, "%.*s%s", (int)plen, prefix, path);
	return n < 0 || (size_t)n >= pathlen ? -1 : 0;
}

/* ---- the libwebsockets callback ---- */

static void add_fragment(cli_ws *w, struct lws *wsi, const void *in, size_t len)
{
	if (w->msg_too_big || w->msg_len + len > MSG_MAX) {
		w->msg_too_big = true;
	} else {
		uint8_t *m = realloc(w->msg, w->msg_len + len + 1);
		if (!m) {
			w->msg_too_big = true;
		} else {
			memcpy(m + w->msg_len, in, len);
			w->msg = m;
			w->msg_len += len;
		}
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	/* a message too large to hold is dropped, not cut */
	if (!w->msg_too_big)
		w->ops->message(w->ud, w->msg ? w->msg : (const uint8_t *)"",
		                w->msg_len, lws_frame_is_binary(wsi));
	w->msg_len = 0;
	w->msg_too_big = false;
}

static int add_auth_header(cli_ws *w, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;
	if (!w->auth[0])
		return 0;
	return lws_add_http_header_by_name(
	               wsi, (const unsigned char *)"authorization:",
	               (const unsigned char *)w->auth, (int)strlen(w->auth), p,
	               end)
	               ? -1
	               : 0;
}

/* The close frame: a u16 code, then a reason (printable bytes kept). */
static void peer_close(cli_ws *w, const uint8_t *in, size_t len)
{
	if (len < 2)
		return;
	w->close_code = in[0] << 8 | in[1];
	size_t n = 0;
	for (size_t i = 2; i < len && n + 1 < sizeof(w->close_reason); i++)
		if (in[i] >= 0x20 && in[i] != 0x7f)
			w->close_reason[n++] = (char)in[i];
	w->close_reason[n] = '\0';
}

static void connection_gone(cli_ws *w, struct lws *wsi)
{
	if (w->wsi == wsi)
		w->wsi = NULL;
	w->msg_len = 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
	cli_ws *w = lws_context_user(lws_get_context(wsi));
	if (!w || w->dying)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_auth_header(w, wsi, in, len);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->close_code = 1006;
		w->close_reason[0] = '\0';
		w->ops->open(w->ud);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		add_fragment(w, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (w->wsi == wsi)
			w->ops->writeable(w->ud);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		peer_close(w, in, len);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		int status = (int)lws_http_client_http_response(wsi);
		connection_gone(w, wsi);
		w->ops->failed(w->ud, status, in ? (const char *)in : "");
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		connection_gone(w, wsi);
		w->ops->closed(w->ud, w->close_code, w->close_reason);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (w->ops->wake)
			w->ops->wake(w->ud);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- the client ---- */

cli_ws *cli_ws_new(const cli_ws_ops *ops, void *ud, const char *protocol,
                   bool verbose)
{
	cli_ws *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->ops = ops;
	w->ud = ud;
	snprintf(w->protocol, sizeof(w->protocol), "%s", protocol);
	/* lws matches the server's chosen subprotocol against these names */
	w->protocols[0].name = w->protocol;
	w->protocols[0].callback = callback;
	w->protocols[0].rx_buffer_size = 65536;
	lws_set_log_level(verbose ? LLL_ERR | LLL_WARN : 0, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = w->protocols;
	info.user = w;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.gid = -1;
	info.uid = -1;
	w->ctx = lws_create_context(&info);
	if (!w->ctx) {
		cli_err("cannot start the WebSocket client (libwebsockets)");
		free(w);
		return NULL;
	}
	return w;
}

int cli_ws_connect(cli_ws *w, const char *server, const char *path,
                   const char *token)
{
	char host[256], full[4096], hosthdr[300];
	int port;
	bool tls;
	if (cli_ws_target(server, path, host, sizeof(host), &port, full,
	                  sizeof(full), &tls) < 0) {
		cli_err("cannot make a WebSocket URL of %s", server);
		return -1;
	}
	snprintf(w->auth, sizeof(w->auth), "Bearer %s", token);
	snprintf(hosthdr, sizeof(hosthdr),
	         strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	struct lws_client_connect_info i;
	memset(&i, 0, sizeof(i));
	i.context = w->ctx;
	i.address = host;
	i.port = port;
	i.path = full;
	i.host = hosthdr;
	i.origin = hosthdr;
	i.protocol = w->protocol;
	i.local_protocol_name = w->protocol;
	i.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	i.pwsi = &w->wsi;
	/* a failure to start is reported through the failed callback */
	lws_client_connect_via_info(&i);
	return 0;
}

int cli_ws_send(cli_ws *w, const void *buf, size_t len, bool binary)
{
	if (!w->wsi || len > SEND_MAX)
		return -1;
	memcpy(w->sendbuf + LWS_PRE, buf, len);
	int n = lws_write(w->wsi, w->sendbuf + LWS_PRE, len,
	                  binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	return n < (int)len ? -1 : 0;
}

void cli_ws_want_write(cli_ws *w)
{
	if (w->wsi)
		lws_callback_on_writable(w->wsi);
}

void cli_ws_wake(cli_ws *w)
{
	lws_cancel_service(w->ctx);
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	cli_ws *w = lws_container_of(sul, cli_ws, sul);
	if (w->timer_fn)
		w->timer_fn(w->ud);
}

void cli_ws_timer(cli_ws *w, int64_t us, void (*fn)(void *ud))
{
	w->timer_fn = fn;
	lws_sul_schedule(w->ctx, 0, &w->sul, on_timer, us);
}

void cli_ws_run(cli_ws *w)
{
	while (!w->stop)
		if (lws_service(w->ctx, 0) < 0)
			break;
}

void cli_ws_stop(cli_ws *w)
{
	w->stop = true;
	lws_cancel_service(w->ctx);
}

void cli_ws_free(cli_ws *w)
{
	if (!w)
		return;
	w->dying = true;
	lws_context_destroy(w->ctx);
	explicit_bzero(w->auth, sizeof(w->auth));
	free(w->msg);
	free(w);
}
