/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_redis_url.c - redis-cache's url and sentinel-address parser
 * (plugins/redis-cache/url.c) on any text: it must not crash, must
 * explain every refusal, and what it accepts must be a usable address (a
 * TCP host with a port in range, or an absolute socket path) within the
 * buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rc.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const rc_addr *a)
{
	CHECK(memchr(a->host, '\0', sizeof(a->host)));
	CHECK(memchr(a->path, '\0', sizeof(a->path)));
	if (a->path[0]) {
		CHECK(a->path[0] == '/' && !a->host[0]);
	} else {
		CHECK(a->host[0]);
		CHECK(a->port >= 1 && a->port <= 65535);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[RC_ERR_MAX];
	rc_url u;
	rc_addr a;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	err[0] = '\0';
	int rc = rc_url_parse(s, &u, err, sizeof(err));
	CHECK(rc == VBX_OK || rc == VBX_EINVAL);
	if (rc == VBX_OK) {
		check_addr(&u.addr);
		CHECK(u.db >= 0);
		CHECK(memchr(u.user, '\0', sizeof(u.user)));
		CHECK(!strchr(u.user, ':'));
	} else {
		CHECK(err[0]);
	}
	err[0] = '\0';
	rc = rc_hostport_parse(s, &a, err, sizeof(err));
	CHECK(rc == VBX_OK || rc == VBX_EINVAL);
	if (rc == VBX_OK)
		check_addr(&a);
	else
		CHECK(err[0]);
	free(s);
	return 0;
}
