/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proxyproto.c - what a load balancer, or anyone who reaches a
 * proxy_protocol listener or sends X-Forwarded-For, controls:
 * core/proxyproto.c given the bytes whole and grown one byte at a time
 * (as reads bring them) must give the same verdict, never claim more
 * bytes than it was given, and name a client of a known family or none;
 * core/cidr.c's X-Forwarded-For choice and CIDR parser take the same
 * bytes as text without reading past them.
 *
 * Links core/proxyproto.c and core/cidr.c alone.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "proxyproto.h"

static void check_header(const uint8_t *p, size_t n)
{
	vbx__proxyhdr whole, part;
	int rc = vbx__proxyproto_parse(p, n, &whole);
	if (rc > (int)n || rc < -1 || (rc > 0 && rc > VBX__PROXYPROTO_MAX))
		abort();
	if (rc > 0 && whole.client.family != 0 &&
	    whole.client.family != AF_INET && whole.client.family != AF_INET6)
		abort();
	if (rc < 0 && !memchr(whole.why, '\0', sizeof(whole.why)))
		abort();
	for (size_t k = 1; k < n; k++) {
		int r = vbx__proxyproto_parse(p, k, &part);
		if (r == 0)
			continue;
		/* a verdict before the end is the verdict of the whole */
		if (r != rc || (r < 0 && strcmp(part.why, whole.why)))
			abort();
		break;
	}
}

static void check_text(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return;
	memcpy(s, p, n);
	s[n] = '\0';
	vbx__cidr trusted[2], c;
	char why[160];
	if (!vbx__cidr_parse("10.0.0.0/8", &trusted[0], why, sizeof(why)) ||
	    !vbx__cidr_parse("::1/128", &trusted[1], why, sizeof(why)))
		abort();
	vbx__ipaddr a;
	if (vbx__xff_client(s, trusted, 2, &a) && a.family != AF_INET &&
	    a.family != AF_INET6)
		abort();
	if (vbx__cidr_parse(s, &c, why, sizeof(why)) &&
	    c.prefix > (c.base.family == AF_INET ? 32u : 128u))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 6000)
		return 0; /* the parser reads 4096 bytes at most */
	check_header(data, size);
	check_text(data, size);
	return 0;
}
