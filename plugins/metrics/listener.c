/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.c - the metrics plugin's own HTTP listener: one thread, one
 * poll() over the listening socket, a wake-up pipe and at most
 * MAX_CONNS connections. It speaks just enough HTTP/1.1 for a scraper:
 * GET and HEAD, keep-alive, no request bodies. Every connection has a
 * bounded head buffer and an idle deadline, so a slow or silent client
 * costs a slot for IDLE_MS at most and never the daemon's API threads.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mx.h"

#define MAX_CONNS 16
#define IDLE_MS 10000

typedef struct conn {
	int fd;
	char in[MX_REQ_MAX];
	size_t inlen;
	mx_buf out;
	size_t sent;
	bool close_after;
	int64_t deadline;
} conn;

struct mx_listener {
	mx_state *st;
	int lfd;
	int wake[2];
	pthread_t thread;
	conn conns[MAX_CONNS];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	mx_buf_free(&c->out);
	c->fd = -1;
	c->inlen = c->sent = 0;
	c->close_after = false;
}

static void put_response(conn *c, const mx_answer *a, bool head, bool close)
{
	static const char *const reasons[] = {[200] = "OK",
	                                      [400] = "Bad Request",
	                                      [401] = "Unauthorized",
	                                      [404] = "Not Found",
	                                      [405] = "Method Not Allowed",
	                                      [500] = "Internal Server Error"};
	char h[512];
	const char *reason =
	        a->status >= 0 && a->status <= 500 && reasons[a->status]
	                ? reasons[a->status]
	                : "Error";
	int n = snprintf(h, sizeof(h),
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\n%s%s%s%s%s\r\n",
	                 a->status, reason, a->ctype, a->body.len,
	                 a->allow ? "Allow: " : "", a->allow ? a->allow : "",
	                 a->allow ? "\r\n" : "",
	                 a->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
	                 close ? "Connection: close\r\n" : "");
	mx_buf_put(&c->out, h, (size_t)n);
	if (!head && a->body.len)
		mx_buf_put(&c->out, a->body.data, a->body.len);
	c->close_after = close;
}

/* Answer every complete request in c->in; false to drop the connection. */
static bool handle_input(mx_listener *l, conn *c)
{
	mx_req req;
	long used = mx_req_parse(c->in, c->inlen, &req);

	if (used == 0)
		return true;
	mx_answer a = {0};
	if (used < 0 || req.has_body) {
		a.status = 400;
		a.ctype = "text/plain; charset=utf-8";
		mx_buf_puts(&a.body, used < 0 ? "malformed or too large "
		                                "request head\n"
		                              : "a request body is not "
		                                "accepted here\n");
		put_response(c, &a, false, true);
		mx_buf_free(&a.body);
		c->inlen = 0;
		return true;
	}
	mx_answer_request(l->st, req.method, req.path, req.accept,
	                  req.authorization, &a);
	put_response(c, &a, !strcmp(req.method, "HEAD"), !req.keep_alive);
	mx_buf_free(&a.body);
	/* A pipelined request after this one waits for the answer. */
	memmove(c->in, c->in + used, c->inlen - (size_t)used);
	c->inlen -= (size_t)used;
	return !c->out.oom;
}

static void on_readable(mx_listener *l, conn *c)
{
	ssize_t n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	c->deadline = now_ms() + IDLE_MS;
	if (!handle_input(l, c))
		conn_close(c);
}

static void on_writable(mx_listener *l, conn *c)
{
	/* send, not write: a scraper that went away is EPIPE, never a
	 * SIGPIPE for the daemon */
	ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent,
	                 MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->sent += (size_t)n;
	c->deadline = now_ms() + IDLE_MS;
	if (c->sent < c->out.len)
		return;
	mx_buf_free(&c->out);
	c->sent = 0;
	if (c->close_after) {
		conn_close(c);
		return;
	}
	if (c->inlen && !handle_input(l, c))
		conn_close(c);
}

static void accept_one(mx_listener *l)
{
	int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (l->conns[i].fd < 0) {
			l->conns[i].fd = fd;
			l->conns[i].deadline = now_ms() + IDLE_MS;
			return;
		}
	close(fd); /* full: the scraper retries */
}

/* One round of poll(); false when told to stop. */
static bool serve_once(mx_listener *l)
{
	struct pollfd pfd[MAX_CONNS + 2];
	conn *who[MAX_CONNS + 2] = {0};
	nfds_t n = 0;
	int64_t now = now_ms();

	pfd[n++] = (struct pollfd){.fd = l->wake[0], .events = POLLIN};
	pfd[n++] = (struct pollfd){.fd = l->lfd, .events = POLLIN};
	for (size_t i = 0; i < MAX_CONNS; i++) {
		conn *c = &l->conns[i];
		if (c->fd < 0)
			continue;
		if (now >= c->deadline) {
			conn_close(c);
			continue;
		}
		who[n] = c;
		pfd[n++] = (struct pollfd){
		        .fd = c->fd, .events = c->out.len ? POLLOUT : POLLIN};
	}
	if (poll(pfd, n, 1000) < 0)
		return errno == EINTR;
	if (pfd[0].revents)
		return false;
	if (pfd[1].revents & POLLIN)
		accept_one(l);
	for (nfds_t i = 2; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (who[i]->out.len && (pfd[i].revents & (POLLOUT | POLLERR)))
			on_writable(l, who[i]);
		else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			on_readable(l, who[i]);
	}
	return true;
}

static void *serve(void *ud)
{
	mx_listener *l = ud;

	while (serve_once(l))
		;
	return NULL;
}

static int open_socket(const char *spec, char *err, size_t errsize)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1;

	if (mx_listen_parse(spec, &ss, &sslen, err, errsize))
		return -1;
	int fd = socket(ss.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 64)) {
		snprintf(err, errsize, "cannot listen on %s: %s", spec,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

mx_listener *mx_listener_start(mx_state *st, const char *spec, char *err,
                               size_t errsize)
{
	mx_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	l->st = st;
	for (size_t i = 0; i < MAX_CONNS; i++)
		l->conns[i].fd = -1;
	l->lfd = open_socket(spec, err, errsize);
	if (l->lfd < 0) {
		free(l);
		return NULL;
	}
	if (pipe2(l->wake, O_CLOEXEC) ||
	    pthread_create(&l->thread, NULL, serve, l)) {
		snprintf(err, errsize, "cannot start its thread: %s",
		         strerror(errno));
		close(l->lfd);
		free(l);
		return NULL;
	}
	return l;
}

void mx_listener_stop(mx_listener *l)
{
	if (!l)
		return;
	/* Our own pipe, empty: the byte cannot fail to fit. */
	ssize_t w = write(l->wake[1], "x", 1);
	(void)w;
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < MAX_CONNS; i++)
		conn_close(&l->conns[i]);
	close(l->lfd);
	close(l->wake[0]);
	close(l->wake[1]);
	free(l);
}
