/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream.c - exec sessions with a TTY or without one (stdout and stderr
 * apart) and container logs, as vbx_stream objects over raw connections
 * to the engine.
 *
 * libcurl opens the connection (CURLOPT_CONNECT_ONLY on a dkr_easy()
 * handle, so unix sockets and TLS work alike) and the HTTP/1.1 request is
 * written by hand with curl_easy_send: the engine answers an exec start by
 * taking the connection over (101, then raw TTY bytes both ways) and a
 * followed log never ends, and neither fits curl_easy_perform().
 *
 * The stream's fd() is an epoll set holding the socket and an eventfd.
 * The eventfd is readable while bytes wait here (what arrived with the
 * response head, log bytes a short read() left), so that a caller which
 * polls before its first read() does not sit on data it was never told of.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>

#include "docker.h"

#define RX_CAP DKR_HEAD_MAX      /* receive buffer; holds any head */
#define DEFAULT_TIMEOUT_MS 30000 /* when request_timeout is unset */
#define EXIT_WAIT_MS 2000        /* close(): wait for the exit code */
#define EXIT_POLL_MS 50
#define RESIZE_TRIES 5 /* the process may not run yet right after start */

#define STREAM_WARN(d, ...)                                                    \
	do {                                                                   \
		if ((d)->plugin)                                               \
			vbx_log_warn((d)->plugin, __VA_ARGS__);                \
	} while (0)

typedef struct dkr_stream {
	vbx_stream base;
	dkr *d;
	CURL *curl;
	int sock;
	int epfd;     /* what fd() returns */
	int evfd;     /* readable while rx holds bytes */
	bool flagged; /* evfd is readable now */
	bool logs;
	bool muxed;     /* the engine's stdout/stderr framing: logs, and an
	                   exec without a TTY */
	bool wr_closed; /* an exec's stdin was half-closed */
	bool eof;       /* nothing more comes from the socket */
	char exec_id[VBX_CONTAINER_ID_LEN];
	/* logs: the body's framing */
	bool chunked;
	int64_t body_left; /* Content-Length bytes still to come; -1: none */
	dkr_chunked chunks;
	dkr_demux mux;
	/* received bytes not handed out yet, [rx_off, rx_len); for logs
	 * already de-chunked */
	size_t rx_off, rx_len;
	char rx[RX_CAP];
} dkr_stream;

static dkr *stream_dkr(void *ud)
{
	return ud ? ud : dkr_self;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t request_ms(const dkr *d)
{
	return d->conf.request_ms > 0 ? d->conf.request_ms : DEFAULT_TIMEOUT_MS;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Container and exec ids go into request lines: names the engine allows
 * ([a-zA-Z0-9][a-zA-Z0-9_.-]*), nothing that could end a line. */
static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= VBX_CONTAINER_ID_LEN || id[0] == '.' ||
	    id[0] == '-' || id[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* An engine answer's status as a result code. */
static int status_rc(long status)
{
	if (status >= 200 && status < 300)
		return VBX_OK;
	if (status == 404)
		return VBX_ENOTFOUND;
	if (status == 409)
		return VBX_ESTATE;
	if (status >= 400 && status < 500)
		return VBX_EINVAL;
	return VBX_ERR;
}

/* ---- readiness ---- */

/* Make evfd readable exactly while bytes wait in rx (or the end does). */
static void sync_ready(dkr_stream *st)
{
	bool want = st->rx_off < st->rx_len || st->eof;
	uint64_t v = 1;

	if (want == st->flagged)
		return;
	if (want ? write(st->evfd, &v, sizeof(v)) == sizeof(v)
	         : read(st->evfd, &v, sizeof(v)) == sizeof(v))
		st->flagged = want;
}

static int make_poll_set(dkr_stream *st)
{
	struct epoll_event ev = {.events = EPOLLIN};

	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	st->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->epfd < 0 || st->evfd < 0)
		return VBX_ERR;
	ev.data.fd = st->sock;
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->sock, &ev) != 0)
		return VBX_ERR;
	ev.data.fd = st->evfd;
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->evfd, &ev) != 0)
		return VBX_ERR;
	sync_ready(st);
	return VBX_OK;
}

/* ---- the connection ---- */

static dkr_stream *stream_new(dkr *d, bool logs)
{
	dkr_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->d = d;
	st->logs = logs;
	st->muxed = logs;
	st->sock = -1;
	st->epfd = -1;
	st->evfd = -1;
	st->body_left = -1;
	return st;
}

static void stream_free(dkr_stream *st)
{
	if (st->curl)
		curl_easy_cleanup(st->curl); /* closes the socket */
	if (st->epfd >= 0)
		close(st->epfd);
	if (st->evfd >= 0)
		close(st->evfd);
	free(st);
}

static int stream_connect(dkr_stream *st)
{
	dkr *d = st->d;
	curl_socket_t sock = CURL_SOCKET_BAD;
	CURLcode rc;

	st->curl = dkr_easy(d);
	if (!st->curl)
		return VBX_ENOMEM;
	curl_easy_setopt(st->curl, CURLOPT_URL, d->base_url);
	curl_easy_setopt(st->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(st->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(st->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)request_ms(d));
	rc = curl_easy_perform(st->curl);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(st->curl, CURLINFO_ACTIVESOCKET, &sock);
	if (rc != CURLE_OK || sock == CURL_SOCKET_BAD) {
		STREAM_WARN(d,
		            "cannot connect to the Docker engine at %s: %s; "
		            "check plugins.docker-runtime.endpoint",
		            d->conf.endpoint ? d->conf.endpoint : "?",
		            curl_easy_strerror(rc));
		return VBX_EUNAVAIL;
	}
	st->sock = (int)sock;
	return VBX_OK;
}

/* Wait until sock is ready for events or the deadline passes. */
static int wait_sock(dkr_stream *st, short events, int64_t deadline)
{
	struct pollfd p = {.fd = st->sock, .events = events};
	int64_t left = deadline - now_ms();
	int n;

	if (left <= 0)
		return VBX_ETIMEDOUT;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	return n > 0 ? VBX_OK : VBX_ETIMEDOUT;
}

static int send_all(dkr_stream *st, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		size_t sent = 0;
		CURLcode rc = curl_easy_send(st->curl, p, n, &sent);

		if (rc == CURLE_AGAIN) {
			if (wait_sock(st, POLLOUT, deadline) != VBX_OK)
				return VBX_ETIMEDOUT;
			continue;
		}
		if (rc != CURLE_OK)
			return VBX_EUNAVAIL;
		p += sent;
		n -= sent;
	}
	return VBX_OK;
}

/* The Host header: base_url without scheme and path. */
static void host_of(const char *url, char *buf, size_t len)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ')
			n = 0;
	if (n == 0 || n >= len)
		snprintf(buf, len, "localhost");
	else
		snprintf(buf, len, "%.*s", (int)n, h);
}

/* Send "METHOD /vX.Y<path>" with extra header lines (each ending in
 * CRLF) and an optional JSON body. */
static int send_request(dkr_stream *st, const char *method, const char *path,
                        const char *headers, const char *body, int64_t deadline)
{
	char full[512], host[256], content[96] = "", *req = NULL;
	int n, rc;

	host_of(st->d->base_url, host, sizeof(host));
	dkr_path(st->d, path, full, sizeof(full));
	if (body)
		snprintf(content, sizeof(content),
		         "Content-Type: application/json\r\n"
		         "Content-Length: %zu\r\n",
		         strlen(body));
	n = asprintf(&req,
	             "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vibeboxd\r\n"
	             "%s%s\r\n%s",
	             method, full, host, headers, content, body ? body : "");
	if (n < 0)
		return VBX_ENOMEM;
	rc = send_all(st, req, (size_t)n, deadline);
	free(req);
	return rc;
}

/* Read until the response head is complete; what follows it stays in rx
 * from rx_off on. */
static int read_head(dkr_stream *st, dkr_head *h, int64_t deadline)
{
	for (;;) {
		size_t got = 0;
		CURLcode rc = curl_easy_recv(st->curl, st->rx + st->rx_len,
		                             RX_CAP - st->rx_len, &got);
		ssize_t end;

		if (rc == CURLE_AGAIN) {
			if (wait_sock(st, POLLIN, deadline) != VBX_OK)
				return VBX_ETIMEDOUT;
			continue;
		}
		if (rc != CURLE_OK || got == 0)
			return VBX_EUNAVAIL;
		st->rx_len += got;
		end = dkr_head_parse(st->rx, st->rx_len, h);
		if (end < 0)
			return VBX_EINVAL;
		if (end > 0) {
			st->rx_off = (size_t)end;
			return VBX_OK;
		}
	}
}

/* ---- logs ---- */

/* Received body bytes (n at p) in place into the payload they carry. */
static ssize_t body_decode(dkr_stream *st, char *p, size_t n)
{
	if (st->chunked) {
		ssize_t r = dkr_chunked_decode(&st->chunks, p, n);
		if (dkr_chunked_done(&st->chunks))
			st->eof = true;
		return r;
	}
	if (st->body_left >= 0) {
		if ((int64_t)n > st->body_left)
			n = (size_t)st->body_left;
		st->body_left -= (int64_t)n;
		if (st->body_left == 0)
			st->eof = true;
	}
	return (ssize_t)n;
}

/* The first body bytes came with the head: decode them where they are. */
static int body_start(dkr_stream *st, const dkr_head *h)
{
	ssize_t r;

	st->chunked = h->chunked;
	st->body_left = h->chunked ? -1 : h->content_length;
	if (st->body_left == 0)
		st->eof = true;
	r = body_decode(st, st->rx + st->rx_off, st->rx_len - st->rx_off);
	if (r < 0)
		return VBX_EINVAL;
	st->rx_len = st->rx_off + (size_t)r;
	return VBX_OK;
}

/* Receive more of the body into rx (which is empty). */
static int logs_fill(dkr_stream *st)
{
	size_t got = 0;
	CURLcode rc;
	ssize_t r;

	st->rx_off = st->rx_len = 0;
	rc = curl_easy_recv(st->curl, st->rx, RX_CAP, &got);
	if (rc == CURLE_AGAIN)
		return VBX_EAGAIN;
	if (rc != CURLE_OK)
		return VBX_EUNAVAIL;
	if (got == 0) {
		st->eof = true;
		return VBX_OK;
	}
	r = body_decode(st, st->rx, got);
	if (r < 0) {
		STREAM_WARN(st->d, "the Docker engine sent a log stream "
		                   "with broken chunked framing");
		return VBX_EINVAL;
	}
	st->rx_len = (size_t)r;
	return VBX_OK;
}

typedef struct sink {
	char *buf;
	size_t len;
	int *channel;
} sink;

static void sink_copy(void *ctx, int channel, const char *p, size_t len)
{
	sink *s = ctx;

	memcpy(s->buf + s->len, p, len);
	s->len += len;
	/* stdin frames (0) do not come; the engine's own client reads
	 * them as stdout */
	*s->channel = channel == 2 ? VBX_STREAM_STDERR : VBX_STREAM_STDOUT;
}

/*
 * One step through the buffered payload: the rest of a frame header
 * (returns 0), or bytes of one frame, hence of one channel (their count).
 * Feeding the demuxer no further than the current frame keeps channels
 * apart.
 */
static ssize_t logs_step(dkr_stream *st, void *buf, size_t len, int *channel)
{
	size_t avail = st->rx_len - st->rx_off, k;
	sink s = {buf, 0, channel};

	if (st->mux.left == 0)
		k = sizeof(st->mux.hdr) - st->mux.hdr_have;
	else
		k = len < st->mux.left ? len : st->mux.left;
	if (k > avail)
		k = avail;
	if (dkr_demux_feed(&st->mux, st->rx + st->rx_off, k, sink_copy, &s) !=
	    VBX_OK) {
		STREAM_WARN(st->d, "the Docker engine sent a log stream with "
		                   "a malformed frame header; is the container "
		                   "running with a TTY?");
		return VBX_EINVAL;
	}
	st->rx_off += k;
	return (ssize_t)s.len;
}

static ssize_t logs_read(dkr_stream *st, void *buf, size_t len, int *channel)
{
	for (;;) {
		ssize_t r;

		if (st->rx_off < st->rx_len) {
			r = logs_step(st, buf, len, channel);
			if (r != 0)
				return r;
			continue;
		}
		if (st->eof)
			return 0;
		r = logs_fill(st);
		if (r < 0)
			return r;
	}
}

/* ---- exec ---- */

static ssize_t exec_read(dkr_stream *st, void *buf, size_t len, int *channel)
{
	size_t got = 0;
	CURLcode rc;

	*channel = VBX_STREAM_STDOUT;
	if (st->rx_off < st->rx_len) {
		got = st->rx_len - st->rx_off;
		if (got > len)
			got = len;
		memcpy(buf, st->rx + st->rx_off, got);
		st->rx_off += got;
		return (ssize_t)got;
	}
	if (st->eof)
		return 0;
	rc = curl_easy_recv(st->curl, buf, len, &got);
	if (rc == CURLE_AGAIN)
		return VBX_EAGAIN;
	if (rc != CURLE_OK)
		return VBX_EUNAVAIL;
	if (got == 0)
		st->eof = true;
	return (ssize_t)got;
}

static int exec_resize(dkr *d, const char *exec_id, unsigned cols,
                       unsigned rows)
{
	char path[160];
	dkr_resp resp = {0};
	int rc;

	snprintf(path, sizeof(path), "/exec/%s/resize?h=%u&w=%u", exec_id, rows,
	         cols);
	rc = dkr_request(d, "POST", path, NULL, request_ms(d), &resp);
	if (rc == VBX_OK)
		rc = status_rc(resp.status);
	dkr_resp_free(&resp);
	return rc;
}

/* The exec's exit code once it stopped running, or -1. */
static int exec_exit_code(dkr *d, const char *exec_id)
{
	int64_t deadline = now_ms() + EXIT_WAIT_MS;
	char path[128];

	snprintf(path, sizeof(path), "/exec/%s/json", exec_id);
	for (;;) {
		dkr_resp resp = {0};
		cJSON *j = NULL;
		const cJSON *code;
		bool running = true;
		int rc = dkr_request(d, "GET", path, NULL, EXIT_WAIT_MS, &resp);
		int exit_code = -1;

		if (rc == VBX_OK && resp.status == 200)
			j = cJSON_ParseWithLength(resp.body, resp.len);
		dkr_resp_free(&resp);
		if (!j)
			return -1;
		running = cJSON_IsTrue(cJSON_GetObjectItem(j, "Running"));
		code = cJSON_GetObjectItem(j, "ExitCode");
		if (!running && cJSON_IsNumber(code))
			exit_code = code->valueint;
		cJSON_Delete(j);
		if (!running || now_ms() >= deadline)
			return exit_code;
		sleep_ms(EXIT_POLL_MS);
	}
}

/* ---- the vbx_stream operations ---- */

static int op_fd(vbx_stream *s)
{
	return ((dkr_stream *)s)->epfd;
}

static ssize_t op_read(vbx_stream *s, void *buf, size_t len, int *channel)
{
	dkr_stream *st = (dkr_stream *)s;
	int ignored;
	ssize_t r;

	if (len == 0)
		return VBX_EINVAL;
	if (!channel)
		channel = &ignored;
	r = st->muxed ? logs_read(st, buf, len, channel)
	              : exec_read(st, buf, len, channel);
	sync_ready(st);
	return r;
}

/*
 * An exec without a TTY: end its stdin by shutting down our side of the
 * hijacked connection, as the engine's own client does; its output keeps
 * coming. Over TLS a shutdown would end the TLS session, so it is
 * refused there (the process then reads EOF only when the stream closes).
 */
static ssize_t close_stdin(dkr_stream *st)
{
	if (strncmp(st->d->base_url, "https:", 6) == 0) {
		STREAM_WARN(st->d, "closing an exec's stdin is not supported "
		                   "over TLS engine connections");
		return VBX_EINVAL;
	}
	if (shutdown(st->sock, SHUT_WR) != 0)
		return VBX_EUNAVAIL;
	st->wr_closed = true;
	return 0;
}

static ssize_t op_write(vbx_stream *s, const void *buf, size_t len)
{
	dkr_stream *st = (dkr_stream *)s;
	size_t sent = 0;
	CURLcode rc;

	if (st->logs || st->wr_closed)
		return VBX_EINVAL;
	if (len == 0)
		return st->muxed ? close_stdin(st) : 0;
	rc = curl_easy_send(st->curl, buf, len, &sent);
	if (rc == CURLE_AGAIN || (rc == CURLE_OK && sent == 0))
		return VBX_EAGAIN;
	if (rc != CURLE_OK)
		return VBX_EUNAVAIL;
	return (ssize_t)sent;
}

static int op_resize(vbx_stream *s, unsigned cols, unsigned rows)
{
	dkr_stream *st = (dkr_stream *)s;

	if (st->muxed || cols == 0 || rows == 0 || cols > 65535 || rows > 65535)
		return VBX_EINVAL;
	return exec_resize(st->d, st->exec_id, cols, rows);
}

static int op_close(vbx_stream *s, int *exit_code)
{
	dkr_stream *st = (dkr_stream *)s;
	char exec_id[VBX_CONTAINER_ID_LEN];
	bool logs = st->logs;
	dkr *d = st->d;

	memcpy(exec_id, st->exec_id, sizeof(exec_id));
	stream_free(st); /* hangs up first: the engine then sees the end */
	if (exit_code)
		*exit_code = !logs ? exec_exit_code(d, exec_id) : -1;
	return VBX_OK;
}

static const vbx_stream_ops stream_ops = {
        .fd = op_fd,
        .read = op_read,
        .write = op_write,
        .resize = op_resize,
        .close = op_close,
};

/* ---- opening ---- */

int dkr_logs(void *ud, const char *id, const vbx_logs_opts *opts,
             vbx_stream **out)
{
	dkr *d = stream_dkr(ud);
	int64_t deadline = now_ms() + request_ms(d);
	dkr_stream *st;
	char path[256], tail[16] = "all";
	dkr_head h;
	int rc;

	*out = NULL;
	if (!valid_id(id))
		return VBX_EINVAL;
	if (opts->tail >= 0)
		snprintf(tail, sizeof(tail), "%d", opts->tail);
	snprintf(path, sizeof(path),
	         "/containers/%s/logs?stdout=1&stderr=1&follow=%d&tail=%s"
	         "&since=%lld&timestamps=%d",
	         id, opts->follow ? 1 : 0, tail,
	         (long long)(opts->since > 0 ? opts->since : 0),
	         opts->timestamps ? 1 : 0);
	st = stream_new(d, true);
	if (!st)
		return VBX_ENOMEM;
	rc = stream_connect(st);
	if (rc == VBX_OK)
		rc = send_request(st, "GET", path, "Connection: close\r\n",
		                  NULL, deadline);
	if (rc == VBX_OK)
		rc = read_head(st, &h, deadline);
	if (rc == VBX_OK)
		rc = status_rc(h.status);
	if (rc == VBX_OK)
		rc = body_start(st, &h);
	if (rc == VBX_OK)
		rc = make_poll_set(st);
	if (rc != VBX_OK) {
		stream_free(st);
		return rc;
	}
	st->base.ops = &stream_ops;
	*out = &st->base;
	return VBX_OK;
}

/* Append s to buf (at *n), single-quoted for sh. buf has room for
 * 4 * strlen(s) + 2 more bytes. */
static void sh_quote(char *buf, size_t *n, const char *s)
{
	buf[(*n)++] = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(buf + *n, "'\\''", 4);
			*n += 4;
		} else {
			buf[(*n)++] = *s;
		}
	}
	buf[(*n)++] = '\'';
}

/*
 * The command that runs the first shell the container has of: its
 * user's login shell (login, "" for none), then the configured ones.
 * Names are looked up on PATH, paths taken as they are.
 */
static cJSON *shell_cmd(const dkr_conf *c, const char *login)
{
	static const char *const fallback[] = {"/bin/sh"};
	static const char head[] = "for s in";
	static const char tail[] =
	        "; do command -v \"$s\" >/dev/null 2>&1 && exec \"$s\"; done; "
	        "echo 'vibebox: neither the login shell in /etc/passwd nor "
	        "one of plugins.docker-runtime.shell exists in this "
	        "container' >&2; exit 127";
	const char *const *shells = c->n_shell ? c->shell : fallback;
	size_t count = c->n_shell ? c->n_shell : 1,
	       cap = sizeof(head) + sizeof(tail) + 4 * strlen(login) + 3, n;
	cJSON *cmd;
	char *script;

	for (size_t i = 0; i < count; i++)
		cap += 4 * strlen(shells[i]) + 3;
	script = malloc(cap);
	if (!script)
		return NULL;
	memcpy(script, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (size_t i = 0; i <= count; i++) {
		const char *sh = i == 0 ? login : shells[i - 1];
		if (!*sh)
			continue;
		script[n++] = ' ';
		sh_quote(script, &n, sh);
	}
	memcpy(script + n, tail, sizeof(tail)); /* with its NUL */
	cmd = cJSON_CreateArray();
	cJSON_AddItemToArray(cmd, cJSON_CreateString("/bin/sh"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
	free(script);
	return cmd;
}

/* Does the negotiated API version have at least 1.minor? */
static bool api_at_least(const dkr *d, int minor)
{
	int major = 0, min = 0;

	return sscanf(d->version, "%d.%d", &major, &min) == 2 &&
	       (major > 1 || (major == 1 && min >= minor));
}

static cJSON *exec_body(const dkr *d, const vbx_exec_spec *spec,
                        const char *login, unsigned cols, unsigned rows,
                        bool tty)
{
	cJSON *b = cJSON_CreateObject();
	cJSON *cmd, *env = cJSON_AddArrayToObject(b, "Env");

	cJSON_AddBoolToObject(b, "AttachStdin", true);
	cJSON_AddBoolToObject(b, "AttachStdout", true);
	cJSON_AddBoolToObject(b, "AttachStderr", true);
	cJSON_AddBoolToObject(b, "Tty", tty);
	if (spec->argv) {
		cmd = cJSON_CreateArray();
		for (size_t i = 0; spec->argv[i]; i++)
			cJSON_AddItemToArray(cmd,
			                     cJSON_CreateString(spec->argv[i]));
	} else {
		cmd = shell_cmd(&d->conf, login);
	}
	if (!cmd) {
		cJSON_Delete(b);
		return NULL;
	}
	cJSON_AddItemToObject(b, "Cmd", cmd);
	for (size_t i = 0; i < spec->n_variables; i++)
		cJSON_AddItemToArray(env,
		                     cJSON_CreateString(spec->variables[i]));
	if (d->conf.user && d->conf.user[0])
		cJSON_AddStringToObject(b, "User", d->conf.user);
	if (tty && api_at_least(d, 42)) {
		cJSON *size = cJSON_AddArrayToObject(b, "ConsoleSize");
		cJSON_AddItemToArray(size, cJSON_CreateNumber(rows));
		cJSON_AddItemToArray(size, cJSON_CreateNumber(cols));
	}
	return b;
}

/* POST /containers/{id}/exec: the exec id into st->exec_id. */
static int exec_create(dkr_stream *st, const char *id,
                       const vbx_exec_spec *spec, unsigned cols, unsigned rows)
{
	dkr *d = st->d;
	char login[DKR_SHELL_MAX] = "";
	if (!spec->argv)
		dkr_login_shell(d, id, login, sizeof(login));
	cJSON *body = exec_body(d, spec, login, cols, rows, !st->muxed),
	      *j = NULL;
	const cJSON *eid;
	dkr_resp resp = {0};
	char path[160], msg[256];
	int rc;

	snprintf(path, sizeof(path), "/containers/%s/exec", id);
	if (!body)
		return VBX_ENOMEM;
	rc = dkr_request(d, "POST", path, body, request_ms(d), &resp);
	cJSON_Delete(body);
	if (rc == VBX_OK)
		rc = status_rc(resp.status);
	if (rc == VBX_EINVAL || rc == VBX_ERR)
		STREAM_WARN(d, "the Docker engine refused an exec in %s: %s",
		            id, dkr_resp_message(&resp, msg, sizeof(msg)));
	if (rc == VBX_OK) {
		j = cJSON_ParseWithLength(resp.body, resp.len);
		eid = cJSON_GetObjectItem(j, "Id");
		if (cJSON_IsString(eid) && valid_id(eid->valuestring))
			snprintf(st->exec_id, sizeof(st->exec_id), "%s",
			         eid->valuestring);
		else
			rc = VBX_ERR;
		cJSON_Delete(j);
	}
	dkr_resp_free(&resp);
	return rc;
}

/* POST /exec/{id}/start on the raw connection: 101 (or 200), then the
 * TTY's bytes. */
static int exec_start(dkr_stream *st)
{
	int64_t deadline = now_ms() + request_ms(st->d);
	char path[128];
	dkr_head h;
	int rc;

	snprintf(path, sizeof(path), "/exec/%s/start", st->exec_id);
	rc = stream_connect(st);
	if (rc == VBX_OK)
		rc = send_request(st, "POST", path,
		                  "Connection: Upgrade\r\nUpgrade: tcp\r\n",
		                  st->muxed ? "{\"Detach\":false,\"Tty\":false}"
		                            : "{\"Detach\":false,\"Tty\":true}",
		                  deadline);
	if (rc == VBX_OK)
		rc = read_head(st, &h, deadline);
	if (rc == VBX_OK && h.status != 101 && h.status != 200)
		rc = status_rc(h.status) == VBX_OK ? VBX_ERR
		                                   : status_rc(h.status);
	return rc;
}

static int exec_open(dkr *d, const char *id, const vbx_exec_spec *spec,
                     bool tty, vbx_stream **out)
{
	unsigned cols = spec->cols ? spec->cols : 80;
	unsigned rows = spec->rows ? spec->rows : 24;
	dkr_stream *st;
	int rc;

	*out = NULL;
	if (!valid_id(id) || (spec->argv && !spec->argv[0]) ||
	    (!tty && !spec->argv))
		return VBX_EINVAL;
	st = stream_new(d, false);
	if (!st)
		return VBX_ENOMEM;
	st->muxed = !tty;
	rc = exec_create(st, id, spec, cols, rows);
	if (rc == VBX_OK)
		rc = exec_start(st);
	if (rc == VBX_OK)
		rc = make_poll_set(st);
	if (rc != VBX_OK) {
		stream_free(st);
		return rc;
	}
	/* The process may not run yet when the engine answers the start. */
	for (int i = 0; tty && i < RESIZE_TRIES; i++) {
		sleep_ms(10 * i);
		if (exec_resize(d, st->exec_id, cols, rows) == VBX_OK)
			break;
	}
	st->base.ops = &stream_ops;
	*out = &st->base;
	return VBX_OK;
}

int dkr_exec(void *ud, const char *id, const vbx_exec_spec *spec,
             vbx_stream **out)
{
	return exec_open(stream_dkr(ud), id, spec, true, out);
}

int dkr_exec_pipe(void *ud, const char *id, const vbx_exec_spec *spec,
                  vbx_stream **out)
{
	return exec_open(stream_dkr(ud), id, spec, false, out);
}
