/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_metrics_http.c - the metrics plugin's outside input: the Accept
 * header (plugins/metrics/accept.c), the request heads of its own
 * listener (reqparse.c) and the `listen` address (listener.c) on any
 * bytes. Nothing may crash or read out of bounds; a parsed head must lie
 * within the input, and its strings within the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mx.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_in(const char *s, const char *buf, size_t size)
{
	if (s)
		CHECK(s >= buf && s + strlen(s) < buf + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct sockaddr_storage ss;
	socklen_t sslen;
	char err[160];
	mx_req q;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	mx_format f = mx_accept_format(s);
	CHECK(f == MX_TEXT || f == MX_OPENMETRICS);
	if (mx_listen_parse(s, &ss, &sslen, err, sizeof(err)) == 0)
		CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	long n = mx_req_parse(s, size, &q);
	CHECK(n >= -1 && n <= (long)size);
	if (n > 0) {
		CHECK(q.method && q.path && q.path[0] == '/');
		check_in(q.method, s, (size_t)n);
		check_in(q.path, s, (size_t)n);
		check_in(q.accept, s, (size_t)n);
		check_in(q.authorization, s, (size_t)n);
	}
	free(s);
	return 0;
}
