/* SPDX-License-Identifier: Apache-2.0 */
/*
 * headguard.h - check the raw request heads of each HTTP connection on the
 * service thread, as libwebsockets reads them (see headguard.c, rawhead.h).
 */
#ifndef VBX_HEADGUARD_H
#define VBX_HEADGUARD_H

#include <sys/types.h>

#include "core.h"

/*
 * Watch fd, a connection just accepted, from its first byte: service
 * thread only. Returns VBX_OK, VBX_EINVAL or VBX_ENOMEM (the connection
 * then goes unchecked).
 */
int vbx__headguard_watch(int fd);
/* Stop watching fd (service thread). */
void vbx__headguard_forget(int fd);
/*
 * What recv() hands on after the real recv(fd, buf, ..., flags) returned
 * n: n itself for a socket not watched (or another thread's); 0 (the end
 * of the stream) when a head at fault is in buf, after the error answer
 * was written to the socket, so that libwebsockets closes the connection
 * without parsing that head.
 */
ssize_t vbx__headguard_filter(int fd, void *buf, ssize_t n, int flags);
/* Free the service thread's table (when it ends). */
void vbx__headguard_fini(void);

#endif
