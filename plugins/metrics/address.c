/* SPDX-License-Identifier: Apache-2.0 */
/*
 * address.c - the `listen` value of the metrics plugin: "host:port" with
 * a numeric IPv4 host or "[v6]:port". A name would need a resolver at
 * start and could change under the daemon; a listener for scrapes is
 * an address the admin knows.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx.h"

int mx_listen_parse(const char *spec, struct sockaddr_storage *ss,
                    socklen_t *sslen, char *err, size_t errsize)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!colon || (size_t)(colon - spec) >= sizeof(host) || !colon[1]) {
		snprintf(err, errsize,
		         "expected \"host:port\" such as \"127.0.0.1:9464\" "
		         "or \"[::1]:9464\", got \"%s\"",
		         spec);
		return -1;
	}
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		snprintf(err, errsize, "port \"%s\" is not 1..65535",
		         colon + 1);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
			v6->sin6_family = AF_INET6;
			v6->sin6_port = htons((uint16_t)port);
			*sslen = sizeof(*v6);
			return 0;
		}
	} else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*v4);
		return 0;
	}
	snprintf(err, errsize,
	         "host \"%s\" is not a numeric IPv4 address or a bracketed "
	         "IPv6 one",
	         host);
	return -1;
}
