/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsguard.c - run the frame checks of wsframe.c over the bytes
 * libwebsockets reads from each WebSocket's socket.
 *
 * libwebsockets 4.1 (Debian 12's) neither checks that a client's frame is
 * masked nor tells its callbacks whether it was: the mask bit lives in its
 * private state (newer releases refuse unmasked frames themselves). The
 * only place the raw header is visible is the read from the socket, so
 * vibeboxd defines recv() (core/recv.c, in the daemon's executable only):
 * the dynamic linker binds libwebsockets' calls to it, and it hands what
 * the real recv() got to vbx__wsguard_filter(). On the service thread that
 * scans the bytes of the sockets ws.c watches. Bytes from the first header
 * at fault on are never handed to libwebsockets: a frame RFC 6455 forbids
 * is not executed, and ws.c closes with the code.
 *
 * The table of watched sockets is the service thread's own (thread-local):
 * every other thread's recv() costs one comparison.
 */
#include "vbx_build.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdtable.h"
#include "wsframe.h"
#include "wsguard.h"

typedef struct guard {
	vbx__wsframe frame;
	vbx__wsguard_fault_fn *fault;
	void *ud;
	bool told; /* fault called */
} guard;

/* Not identified: ws.c forgets each socket before libwebsockets closes
 * it, so no fd is reused under an entry, and no read pays an fstat(). */
static __thread vbx__fdtable guards = VBX__FDTABLE_INIT(free, false);

int vbx__wsguard_watch(int fd, vbx__wsguard_fault_fn *fault, void *ud)
{
	guard *g = calloc(1, sizeof(*g));
	if (g) {
		g->fault = fault;
		g->ud = ud;
	}
	return vbx__fdtable_set(&guards, fd, g);
}

void vbx__wsguard_forget(int fd)
{
	vbx__fdtable_forget(&guards, fd);
}

void vbx__wsguard_fini(void)
{
	vbx__fdtable_fini(&guards);
}

/* Hand libwebsockets the bytes before the fault; nothing at all reads as
 * "try again later" (0 would read as the client's end of stream). */
static ssize_t cut_at_fault(guard *g, ssize_t good)
{
	if (!g->told) {
		g->told = true;
		g->fault(g->ud, g->frame.code, g->frame.why);
	}
	if (good > 0)
		return good;
	errno = EAGAIN;
	return -1;
}

ssize_t vbx__wsguard_filter(int fd, void *buf, ssize_t n, int flags)
{
	guard *g = vbx__fdtable_peek(&guards, fd);
	if (!g || n <= 0 || (flags & MSG_PEEK))
		return n;
	size_t good = vbx__wsframe_scan(&g->frame, buf, (size_t)n);
	if (good == (size_t)n && !g->frame.code)
		return n;
	return cut_at_fault(g, (ssize_t)good);
}
