/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxyguard.h - take the PROXY protocol header off the first bytes of
 * each connection accepted on a `proxy_protocol` listener, as
 * libwebsockets reads them, and remember the client it names (see
 * proxyguard.c, proxyproto.h). Service thread only, like headguard.h.
 */
#ifndef VBX_PROXYGUARD_H
#define VBX_PROXYGUARD_H

#include <sys/types.h>

#include "cidr.h"
#include "core.h"

/*
 * Expect a PROXY header first on fd, a connection just accepted on a
 * proxy_protocol listener from a trusted peer. Returns VBX_OK, VBX_EINVAL
 * or VBX_ENOMEM (the caller must then close fd: unwatched, its first
 * bytes would reach the HTTP parser).
 */
int vbx__proxyguard_watch(int fd);
/* Stop watching fd (service thread). */
void vbx__proxyguard_forget(int fd);
/*
 * The client the header of fd named: NULL when fd is not watched or its
 * header named none (LOCAL, UNKNOWN, UNIX: the peer is the client).
 */
const vbx__ipaddr *vbx__proxyguard_client(int fd);
/*
 * What recv() hands on after the real recv(fd, buf, ..., flags) returned
 * n: n itself for a socket not watched, another thread's, or one whose
 * header is behind it; while the header is arriving, its bytes are taken
 * out of buf and what follows them (moved to the start of buf) is handed
 * on, or -1 with errno EAGAIN when nothing follows yet; 0 (the end of the
 * stream, so that libwebsockets closes) for a connection whose first
 * bytes are not a valid header, logged with the peer and why.
 */
ssize_t vbx__proxyguard_filter(int fd, void *buf, ssize_t n, int flags);
/* Free the service thread's table (when it ends). */
void vbx__proxyguard_fini(void);

#endif
