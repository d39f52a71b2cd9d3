/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsguard.h - check the frame headers of a WebSocket's client on the
 * service thread, as libwebsockets reads them (see wsguard.c, wsframe.h).
 */
#ifndef VBX_WSGUARD_H
#define VBX_WSGUARD_H

#include <sys/types.h>

#include "core.h"

/* Called once, on the service thread, for the first header at fault:
 * code 1002 and a static reason. */
typedef void vbx__wsguard_fault_fn(void *ud, int code, const char *why);

/*
 * Watch fd (a WebSocket's socket, from the handshake on): service thread
 * only. Returns VBX_OK, VBX_EINVAL or VBX_ENOMEM (the socket then goes
 * unchecked).
 */
int vbx__wsguard_watch(int fd, vbx__wsguard_fault_fn *fault, void *ud);
/* Stop watching fd: before it is closed (service thread). */
void vbx__wsguard_forget(int fd);
/*
 * What recv() hands on after the real recv(fd, buf, ..., flags) returned n:
 * n itself for a socket not watched (or another thread's), else the bytes
 * before a header at fault, or -1 with errno EAGAIN when there are none
 * (the fault is reported once, to the watcher).
 */
ssize_t vbx__wsguard_filter(int fd, void *buf, ssize_t n, int flags);
/* Free the service thread's table (when it ends). */
void vbx__wsguard_fini(void);

#endif
