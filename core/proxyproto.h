/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxyproto.h - the PROXY protocol header (HAProxy's, versions 1 and 2)
 * that a load balancer sends first on each connection of a listener with
 * `proxy_protocol` (proxyproto.c). Not installed.
 *
 * Version 1 is one text line, at most 107 bytes with its CRLF:
 *   "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (or TCP6),
 *   "PROXY UNKNOWN ...\r\n" (the peer's own address is then used).
 * Version 2 is a 16-byte binary header (12-byte signature, version and
 * command, family and transport, length) followed by the addresses and
 * optional TLVs (skipped). Its LOCAL command (a balancer's own health
 * check) and the UNSPEC and UNIX families carry no client: the peer's
 * address is used.
 */
#ifndef VBX_PROXYPROTO_H
#define VBX_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

/* The longest header accepted, version 2 with its TLVs: a longer one is
 * refused (HAProxy's own TLVs are far shorter). */
#define VBX__PROXYPROTO_MAX 4096
/* Version 1's limit, CRLF included (the specification's). */
#define VBX__PROXYPROTO_V1_MAX 107

typedef struct vbx__proxyhdr {
	int version;        /* 1 or 2 */
	vbx__ipaddr client; /* family 0: none given (LOCAL, UNKNOWN, UNIX) */
	uint16_t port;      /* the client's port; 0 with no client */
	char why[96];       /* after a refusal: what was wrong */
} vbx__proxyhdr;

/*
 * Parse the first n bytes a connection sent. Returns the header's length
 * (> 0) when p starts with a whole, valid header (*out filled; the bytes
 * after it are the application's); 0 when every byte so far fits the
 * start of a header and more are needed; -1 when p cannot start a valid
 * header (out->why says why): no signature, a version 1 line over 107
 * bytes or with a bad field, a version 2 header with another version, an
 * unknown command, family or transport, an address block shorter than its
 * family needs, or a length past VBX__PROXYPROTO_MAX. The verdict does
 * not depend on how the bytes were cut into reads.
 */
int vbx__proxyproto_parse(const unsigned char *p, size_t n, vbx__proxyhdr *out);

#endif
