/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recv.c - the daemon's recv(), linked into vibeboxd alone (not into the
 * core library the tests and libvibebox-test share): an executable's
 * definition comes first for the dynamic linker, so libwebsockets' reads
 * from its sockets come here. Each call goes to the next recv() (libc's,
 * or a sanitizer's interceptor) and what it read through proxyguard.c
 * (which takes a PROXY protocol header off the front), headguard.c's
 * request-head checks and wsguard.c's frame checks, which leave every
 * socket but a watched HTTP connection's or WebSocket's, and every thread
 * but the service thread, alone.
 */
#include "vbx_build.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "headguard.h"
#include "proxyguard.h"
#include "wsguard.h"

typedef ssize_t recv_fn(int, void *, size_t, int);
static recv_fn *next_recv;
static pthread_once_t next_once = PTHREAD_ONCE_INIT;

static void find_next_recv(void)
{
	next_recv = (recv_fn *)dlsym(RTLD_NEXT, "recv");
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void *buf,
                                                    size_t len, int flags)
{
	pthread_once(&next_once, find_next_recv);
	ssize_t n = next_recv ? next_recv(fd, buf, len, flags)
	                      : syscall(SYS_recvfrom, fd, buf, len, flags, NULL,
	                                NULL);
	n = vbx__proxyguard_filter(fd, buf, n, flags);
	n = vbx__headguard_filter(fd, buf, n, flags);
	return vbx__wsguard_filter(fd, buf, n, flags);
}
