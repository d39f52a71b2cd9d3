/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxyguard.c - the PROXY protocol header of each connection on a
 * `proxy_protocol` listener, consumed before libwebsockets parses HTTP.
 *
 * libwebsockets reads an adopted socket itself; vibeboxd's recv()
 * (core/recv.c) hands each read here first. Until the header is whole,
 * the bytes read are collected (a header may come in pieces) and taken
 * out of what libwebsockets sees; once it is, the bytes after it are
 * handed on as the first of the HTTP stream and the connection is left
 * alone. A connection whose first bytes are not a header is reported as
 * ended, so libwebsockets closes it without reading any of it: on such a
 * listener a client that skips the header could otherwise choose its own
 * address. Only trusted peers get this far (server.c closes the others
 * at accept).
 *
 * The table is the service thread's own, by fd; it remembers each
 * socket's inode (fdtable.h), so a descriptor reused for another socket
 * is never taken for the old connection.
 */
#include "vbx_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fdtable.h"
#include "proxyguard.h"
#include "proxyproto.h"

typedef struct entry {
	enum { WAITING, PASSED, FAILED } state;
	unsigned char *pending; /* the header's bytes so far (WAITING) */
	size_t have;
	vbx__ipaddr client; /* family 0: the peer is the client */
} entry;

static void entry_free(void *p)
{
	entry *e = p;
	free(e->pending);
	free(e);
}

static __thread vbx__fdtable table = VBX__FDTABLE_INIT(entry_free, true);

int vbx__proxyguard_watch(int fd)
{
	return vbx__fdtable_set(&table, fd, calloc(1, sizeof(entry)));
}

void vbx__proxyguard_forget(int fd)
{
	vbx__fdtable_forget(&table, fd);
}

void vbx__proxyguard_fini(void)
{
	vbx__fdtable_fini(&table);
}

const vbx__ipaddr *vbx__proxyguard_client(int fd)
{
	entry *e = vbx__fdtable_get(&table, fd);
	return e && e->state == PASSED && e->client.family ? &e->client : NULL;
}

static void refused(int fd, const char *why)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	vbx__ipaddr peer = {0};
	char text[VBX__ADDR_TEXT] = "";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    vbx__ip_from_sockaddr((struct sockaddr *)&ss, &peer))
		vbx__ip_format(&peer, text, sizeof(text));
	vbx__warn("connection from %s on a proxy_protocol listener closed: "
	          "%s; is the load balancer set to send the PROXY protocol?",
	          text[0] ? text : "?", why);
}

/* Add buf[0..n) to e's header bytes and parse them; as filter() returns. */
static ssize_t take_header(int fd, entry *e, unsigned char *buf, size_t n)
{
	size_t prev = e->have, room = VBX__PROXYPROTO_MAX - prev;
	size_t k = n < room ? n : room;
	if (!e->pending && !(e->pending = malloc(VBX__PROXYPROTO_MAX))) {
		refused(fd, "out of memory");
		e->state = FAILED;
		return 0;
	}
	memcpy(e->pending + e->have, buf, k);
	e->have += k;
	vbx__proxyhdr h;
	int rc = vbx__proxyproto_parse(e->pending, e->have, &h);
	if (rc < 0 || (rc == 0 && e->have == VBX__PROXYPROTO_MAX)) {
		refused(fd, rc < 0 ? h.why : "a header past 4096 bytes");
		e->state = FAILED;
		free(e->pending);
		e->pending = NULL;
		return 0;
	}
	if (rc == 0) {
		errno = EAGAIN;
		return -1;
	}
	/* the header ends in this read: what follows it is HTTP */
	size_t used = (size_t)rc - prev, after = n - used;
	e->state = PASSED;
	e->client = h.client;
	free(e->pending);
	e->pending = NULL;
	memmove(buf, buf + used, after);
	if (after)
		return (ssize_t)after;
	errno = EAGAIN;
	return -1;
}

ssize_t vbx__proxyguard_filter(int fd, void *buf, ssize_t n, int flags)
{
	/* a header behind it: no fstat per read (a stale entry of a closed
	 * connection passes its fd's new socket through just the same) */
	entry *seen = vbx__fdtable_peek(&table, fd);
	if (!seen || seen->state == PASSED)
		return n;
	int saved = errno;
	entry *e = vbx__fdtable_get(&table, fd);
	if (!e || e->state == PASSED || (flags & MSG_PEEK) ||
	    (n < 0 && e->state == WAITING)) {
		errno = saved;
		return n;
	}
	if (e->state == FAILED || n == 0) {
		errno = saved;
		return 0;
	}
	ssize_t out = take_header(fd, e, buf, (size_t)n);
	if (out >= 0)
		errno = saved;
	return out;
}
