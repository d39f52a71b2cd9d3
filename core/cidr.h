/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cidr.h - IP addresses and CIDR blocks as server.trusted_proxies lists
 * them, and the choice of a request's client address among what the peer
 * and a trusted proxy's X-Forwarded-For say (cidr.c). Not installed.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it
 * carries, everywhere: parsed, matched and printed as IPv4.
 */
#ifndef VBX_CIDR_H
#define VBX_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Long enough for any address this file prints, NUL included. */
#define VBX__ADDR_TEXT 46

typedef struct vbx__ipaddr {
	int family;    /* AF_INET or AF_INET6; 0 for none */
	uint8_t a[16]; /* network order; IPv4 in the first 4 bytes */
} vbx__ipaddr;

typedef struct vbx__cidr {
	vbx__ipaddr base; /* bits past prefix are zero */
	unsigned prefix;  /* 0..32 (IPv4) or 0..128 (IPv6) */
} vbx__cidr;

/*
 * Parse s[0..n), an IPv4 address in dotted-quad form or an IPv6 address
 * (no brackets, no zone, no port), into *out. Returns true when the whole
 * of it is one address.
 */
bool vbx__ip_parse(const char *s, size_t n, vbx__ipaddr *out);
/* The address of sa (AF_INET or AF_INET6); false for any other family. */
bool vbx__ip_from_sockaddr(const struct sockaddr *sa, vbx__ipaddr *out);
/* Print a into out (at least VBX__ADDR_TEXT bytes); "" for no address. */
void vbx__ip_format(const vbx__ipaddr *a, char *out, size_t len);

/*
 * Parse "addr/prefix" or a bare "addr" (one host: /32 or /128) into *out.
 * Refused, with a sentence in why (at least 128 bytes) saying what is
 * wrong: anything that is not one address, a prefix out of range or not
 * plain decimal, bits set past the prefix ("10.0.0.1/8": write
 * 10.0.0.0/8), an IPv4-mapped IPv6 block (write the IPv4 one). Returns
 * true when accepted.
 */
bool vbx__cidr_parse(const char *s, vbx__cidr *out, char *why, size_t len);
/* Is a inside one of the n blocks of list? */
bool vbx__cidr_match(const vbx__cidr *list, size_t n, const vbx__ipaddr *a);

/*
 * The client an X-Forwarded-For value names, for a request whose peer is
 * a trusted proxy: walking the comma-separated addresses from the right,
 * the first one outside trusted; the leftmost when all are trusted. What
 * lies left of the address chosen is never read, so a client cannot make
 * the header be ignored by prefixing it with garbage. Elements are
 * trimmed of spaces and tabs; an IPv6 address may be in brackets.
 * Returns true with *out set; false when the value is empty or an
 * element read on the way is not an address (the caller then uses the
 * peer).
 */
bool vbx__xff_client(const char *value, const vbx__cidr *trusted,
                     size_t ntrusted, vbx__ipaddr *out);

#endif
