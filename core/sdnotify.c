/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sdnotify.c - the systemd notification protocol: one datagram to the
 * socket named by NOTIFY_SOCKET. Small enough that linking libsystemd for
 * it would cost more than it saves.
 */
#include "vbx_build.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"

void vbx__sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	if (path[0] != '/' && path[0] != '@')
		return;
	size_t n = strlen(path);
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	           (struct sockaddr *)&sa, len) < 0)
		vbx__warn("cannot notify systemd at %s: %m", path);
	close(fd);
}
