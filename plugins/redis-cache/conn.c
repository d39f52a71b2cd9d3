/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn.c - one connection to a Redis server: TCP, a Unix socket or TLS,
 * non-blocking with a deadline on every step, RESP through hiredis's
 * reader and command formatter (hiredis 0.14 has neither TLS nor
 * per-call deadlines, so the socket is ours).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc.h"

struct rc_conn {
	int fd;
	SSL *ssl;
	redisReader *reader;
};

int64_t rc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rc_wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - rc_now_ms();
		if (left < 0)
			left = 0;
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return VBX_OK;
		if (n == 0)
			return VBX_ETIMEDOUT;
		if (errno != EINTR)
			return VBX_EUNAVAIL;
	}
}

int rc_conn_fd(const rc_conn *c)
{
	return c->fd;
}

/* Connect fd to sa by deadline. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len,
                      int64_t deadline, char *err, size_t errlen)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, sa, len) == 0)
		return VBX_OK;
	if (errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		return VBX_EUNAVAIL;
	}
	int rc = rc_wait_fd(fd, POLLOUT, deadline);
	if (rc == VBX_ETIMEDOUT) {
		snprintf(err, errlen, "connect timed out");
		return VBX_EUNAVAIL;
	}
	if (rc != VBX_OK ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
		snprintf(err, errlen, "connect: %s",
		         strerror(soerr ? soerr : errno));
		return VBX_EUNAVAIL;
	}
	return VBX_OK;
}

static int open_unix(const rc_addr *a, int64_t deadline, char *err,
                     size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	if (connect_by(fd, (struct sockaddr *)&sun, sizeof(sun), deadline, err,
	               errlen) != VBX_OK) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_tcp(const rc_addr *a, int64_t deadline, char *err,
                    size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];
	int fd = -1, one = 1;

	snprintf(port, sizeof(port), "%d", a->port);
	int g = getaddrinfo(a->host, port, &hints, &res);
	if (g != 0) {
		snprintf(err, errlen, "resolve %s: %s", a->host,
		         gai_strerror(g));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline, err,
		               errlen) != VBX_OK) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

rc_conn *rc_conn_open(const rc_addr *addr, struct rc_tls *tls, int64_t deadline,
                      char *err, size_t errlen)
{
	rc_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = addr->path[0] ? open_unix(addr, deadline, err, errlen)
	                      : open_tcp(addr, deadline, err, errlen);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	if (tls && !(c->ssl = rc_tls_handshake(tls, c->fd, addr->host, deadline,
	                                       err, errlen))) {
		rc_conn_close(c);
		return NULL;
	}
	if (!(c->reader = redisReaderCreate())) {
		snprintf(err, errlen, "out of memory");
		rc_conn_close(c);
		return NULL;
	}
	return c;
}

void rc_conn_close(rc_conn *c)
{
	if (!c)
		return;
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader)
		redisReaderFree(c->reader);
	free(c);
}

/* One write or read step; n bytes done, 0 to wait for *want, < 0 error. */
static ssize_t io_step(rc_conn *c, bool writing, void *buf, size_t len,
                       short *want)
{
	if (c->ssl) {
		int n = writing ? SSL_write(c->ssl, buf, (int)len)
		                : SSL_read(c->ssl, buf, (int)len);
		if (n > 0)
			return n;
		int e = SSL_get_error(c->ssl, n);
		*want = e == SSL_ERROR_WANT_READ    ? POLLIN
		        : e == SSL_ERROR_WANT_WRITE ? POLLOUT
		                                    : 0;
		ERR_clear_error();
		return *want ? 0 : -1;
	}
	ssize_t n = writing ? send(c->fd, buf, len, MSG_NOSIGNAL)
	                    : recv(c->fd, buf, len, 0);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		*want = writing ? POLLOUT : POLLIN;
		return 0;
	}
	return -1;
}

static int write_all(rc_conn *c, const char *buf, size_t len, int64_t deadline,
                     char *err, size_t errlen)
{
	while (len) {
		short want = 0;
		ssize_t n = io_step(c, true, (void *)buf, len, &want);
		if (n < 0) {
			snprintf(err, errlen, "write: %s",
			         c->ssl ? "TLS error" : strerror(errno));
			return VBX_EUNAVAIL;
		}
		if (n == 0 && rc_wait_fd(c->fd, want, deadline) != VBX_OK) {
			snprintf(err, errlen, "write timed out");
			return VBX_EUNAVAIL;
		}
		buf += n;
		len -= (size_t)n;
	}
	return VBX_OK;
}

int rc_conn_send(rc_conn *c, int argc, const char **argv, const size_t *lens,
                 int64_t deadline, char *err, size_t errlen)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

	if (len < 0) {
		snprintf(err, errlen, "out of memory");
		return VBX_EUNAVAIL;
	}
	int rc = write_all(c, cmd, (size_t)len, deadline, err, errlen);
	redisFreeCommand(cmd);
	return rc;
}

int rc_conn_read(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                 size_t errlen)
{
	char buf[16384];

	*out = NULL;
	for (;;) {
		void *reply = NULL;
		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
			snprintf(err, errlen, "protocol error: %s",
			         c->reader->errstr);
			return VBX_EUNAVAIL;
		}
		if (reply) {
			*out = reply;
			return VBX_OK;
		}
		short want = 0;
		ssize_t n = io_step(c, false, buf, sizeof(buf), &want);
		if (n < 0 || (n == 0 && !want)) {
			snprintf(err, errlen,
			         "connection closed by the server");
			return VBX_EUNAVAIL;
		}
		if (n == 0) {
			int rc = rc_wait_fd(c->fd, want, deadline);
			if (rc != VBX_OK) {
				snprintf(err, errlen, "%s",
				         rc == VBX_ETIMEDOUT ? "timed out"
				                             : "poll failed");
				return rc;
			}
			continue;
		}
		if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
			snprintf(err, errlen, "out of memory");
			return VBX_EUNAVAIL;
		}
	}
}

int rc_conn_call(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                 size_t errlen, int argc, const char **argv, const size_t *lens)
{
	int rc = rc_conn_send(c, argc, argv, lens, deadline, err, errlen);

	return rc == VBX_OK ? rc_conn_read(c, out, deadline, err, errlen) : rc;
}

int rc_conn_callv(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                  size_t errlen, const char *arg0, ...)
{
	const char *argv[16];
	size_t lens[16];
	int argc = 0;
	va_list ap;

	va_start(ap, arg0);
	for (const char *a = arg0; a && argc < 16;
	     a = va_arg(ap, const char *)) {
		argv[argc] = a;
		lens[argc++] = strlen(a);
	}
	va_end(ap);
	return rc_conn_call(c, out, deadline, err, errlen, argc, argv, lens);
}
