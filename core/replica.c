/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replica.c - this process's replica id: a random UUID made on first use,
 * so that replicas sharing a cache tell their own messages and locks from
 * another's. A restart is a new replica.
 */
#include "vbx_build.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core.h"
#include "request.h"
#include <vibebox/util.h>

static char replica_id[VBX_UUID_LEN];
static pthread_once_t replica_once = PTHREAD_ONCE_INIT;

static void replica_id_make(void)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t t = (uint64_t)vbx__now_ns() ^ (uint64_t)getpid() << 32;
		memcpy(b, &t, sizeof(t));
		memcpy(b + 8, &t, sizeof(t));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	vbx_uuid_from_bytes(b, replica_id);
}

const char *vbx__replica_id(void)
{
	pthread_once(&replica_once, replica_id_make);
	return replica_id;
}
