/* SPDX-License-Identifier: Apache-2.0 */
/*
 * headguard.c - run the request-head checks of rawhead.c over the bytes
 * libwebsockets reads from each HTTP connection, before it parses them.
 *
 * libwebsockets 4.1 decodes and resolves the path (so ..%2f reaches a
 * route as ../) and drops a head that overflows it without an answer.
 * vibeboxd's recv() (core/recv.c) hands each read to
 * vbx__headguard_filter(): on the service thread, for a connection
 * server.c accepted, the scanner follows the client's heads. A head at
 * fault is answered here, straight to the socket, in the error envelope
 * with Connection: close, and the read is reported to libwebsockets as
 * the end of the stream: it closes the connection without ever parsing
 * that head. Requests pipelined before it in the same read are not
 * answered.
 *
 * A connection is watched until its first upgrade (a WebSocket is then
 * wsguard.c's) or a head whose body framing libwebsockets refuses. The
 * table is the service thread's own; it also remembers each socket's
 * inode (fdtable.h), so that a descriptor closed without a word and
 * reused for another socket is never scanned as the old connection.
 */
#include "vbx_build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdtable.h"
#include "headguard.h"
#include "json.h"
#include "proxyguard.h"
#include "rawhead.h"
#include "request.h"

typedef struct watched {
	vbx__rawhead scan;
} watched;

static __thread vbx__fdtable table = VBX__FDTABLE_INIT(free, true);

int vbx__headguard_watch(int fd)
{
	return vbx__fdtable_set(&table, fd, calloc(1, sizeof(watched)));
}

void vbx__headguard_forget(int fd)
{
	vbx__fdtable_forget(&table, fd);
}

void vbx__headguard_fini(void)
{
	vbx__fdtable_fini(&table);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Bad Request";
	}
}

/* The client: the one a PROXY protocol header named, else the peer. */
static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const vbx__ipaddr *proxied = vbx__proxyguard_client(fd);
	out[0] = '\0';
	if (proxied) {
		vbx__ip_format(proxied, out, len);
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
		          (socklen_t)len);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		          out, (socklen_t)len);
}

/* Send the whole answer if the socket takes it now (it is small and the
 * socket's buffer is empty: nothing was answered on it since the read),
 * then end our side and read what the client already sent, so that the
 * close that follows does not reset the connection under the answer. */
static void send_answer(int fd, const char *msg, size_t len)
{
	while (len) {
		ssize_t k = send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		msg += k;
		len -= (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	char sink[4096];
	for (int i = 0; i < 256; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

static void refuse(int fd, const vbx__rawhead *h)
{
	char id[VBX__REQ_ID_LEN + 1], client[INET6_ADDRSTRLEN];
	vbx__request_id_new(id);
	peer_name(fd, client, sizeof(client));
	vbx__warn("request %s from %s refused before parsing: %d %s; target "
	          "as sent: %s",
	          id, client, h->status, h->why, h->target);
	size_t blen = 0;
	char *body = vbx__error_json(h->status, NULL, h->why, NULL, &blen);
	char *msg = NULL;
	int len =
	        asprintf(&msg,
	                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
	                 "Connection: close\r\n\r\n%.*s",
	                 h->status, reason_phrase(h->status), blen, id,
	                 (int)blen, body ? body : "");
	if (len > 0)
		send_answer(fd, msg, (size_t)len);
	free(msg);
	free(body);
}

ssize_t vbx__headguard_filter(int fd, void *buf, ssize_t n, int flags)
{
	if (!vbx__fdtable_peek(&table, fd) || (flags & MSG_PEEK))
		return n;
	int saved = errno;
	watched *w = vbx__fdtable_get(&table, fd);
	if (!w || n < 0) {
		if (w && saved != EAGAIN && saved != EWOULDBLOCK &&
		    saved != EINTR)
			vbx__headguard_forget(fd);
		errno = saved;
		return n;
	}
	vbx__rawhead_mark mark;
	vbx__rawhead_mark_take(&w->scan, &mark);
	int rc = n ? vbx__rawhead_scan(&w->scan, buf, (size_t)n) : 0;
	if (rc == 0 && n > 0)
		rc = vbx__rawhead_after_read(&w->scan, &mark);
	if (rc > 0) {
		/* forgotten first: refuse() reads the socket through recv() */
		vbx__rawhead at_fault = w->scan;
		vbx__headguard_forget(fd);
		refuse(fd, &at_fault);
	} else if (rc || n == 0) {
		vbx__headguard_forget(fd);
	}
	errno = saved;
	return rc > 0 ? 0 : n;
}
