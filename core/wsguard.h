/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsguard.h - check the frame headers of a WebSocket's client on the
 * service thread, as libwebsockets reads them (see wsguard.c, wsframe.h).
 */
#ifndef VBX_WSGUARD_H
#define VBX_WSGUARD_H

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
/* Free the service thread's table (when it ends). */
void vbx__wsguard_fini(void);

#endif
