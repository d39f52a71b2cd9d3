/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rawhead.h - checks on a client's raw HTTP/1 request heads, made before
 * libwebsockets parses them. Not installed.
 *
 * libwebsockets 4.1 decodes %xx in the path (%2f included) and resolves
 * "." and ".." segments before any callback sees the path, and it closes
 * the connection without a word when a head does not fit its header pool
 * or its table of header pieces. The only place the raw head is visible
 * is the read from the socket: headguard.c runs this scanner over the
 * bytes of each HTTP connection, request after request (bodies skipped by
 * Content-Length), reads split anywhere.
 *
 * Refused, in the order the bytes arrive:
 *   400  an Upgrade other than to websocket: libwebsockets 4.1 upgrades
 *        to HTTP/2 over cleartext (h2c), whose heads this scanner cannot
 *        read, so every check here would be bypassed;
 *        an encoded slash or backslash (%2f, %5c) in the path: no VibeBox
 *        route has a slash inside a segment, so matching on raw segments
 *        means refusing it; a "." or ".." segment, raw or encoded (%2e);
 *        a control character in the target, raw or encoded (%00-%1f, %7f);
 *        a second X-Forwarded-For line (libwebsockets keeps only the
 *        first; server.trusted_proxies reads one list);
 *   414  a target (path and query) over VBX__RAWHEAD_TARGET_MAX bytes;
 *        more than VBX__RAWHEAD_FIELDS_MAX query parameters and header
 *        lines together, counted in the request line;
 *   431  more than VBX__RAWHEAD_HEADERS_MAX header lines, or the field
 *        budget above reached in the headers; a header name or value
 *        over VBX__RAWHEAD_LINE_MAX bytes; a head over
 *        VBX__RAWHEAD_HEAD_MAX bytes.
 */
#ifndef VBX_RAWHEAD_H
#define VBX_RAWHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What libwebsockets can hold, as vibeboxd configures it (server.c): each
 * token is cut at 8192 bytes (8190 of text); the header pool is 32 KiB,
 * less room for the few bytes it keeps per header; and it keeps about 93
 * pieces (the target, each query argument, each known header and each
 * repeat of one) before it drops the connection. */
#define VBX__RAWHEAD_TARGET_MAX 8190
#define VBX__RAWHEAD_LINE_MAX 8190
#define VBX__RAWHEAD_HEAD_MAX (32768 - 1024)
#define VBX__RAWHEAD_HEADERS_MAX 64
#define VBX__RAWHEAD_FIELDS_MAX 90

/* vbx__rawhead_scan() returns this when the connection leaves framing
 * the scanner follows: stop scanning it. */
#define VBX__RAWHEAD_DONE (-1)

typedef struct vbx__rawhead {
	int state;
	/* the current request head */
	size_t head_len;   /* bytes so far */
	size_t target_len; /* bytes of the request target so far */
	unsigned nparams;  /* query parameters */
	unsigned nheaders; /* header lines */
	unsigned seg_dots; /* '.' (raw or %2e) in the current path segment */
	bool seg_other;    /* ... and anything else */
	bool in_query;
	int pct;              /* 0; 1 after '%'; 2 after '%' and a hex digit */
	unsigned char pct_hi; /* that digit's value */
	/* the current header line */
	size_t name_len, value_len;
	char name[64]; /* its name, lowercased, cut to 63 bytes */
	int kind;      /* which of the headers checked it is (rawhead.c) */
	char up[16];   /* an Upgrade value, lowercased, from its first
	                  non-blank byte, cut to 15 bytes ... */
	size_t up_len; /* ... and its length uncut */
	int cl_state;  /* Content-Length value: 0 before digits, 1 in them,
	                  2 after them, 3 bad */
	unsigned cl_digits;
	uint64_t cl_value;
	/* what the head says about what follows it */
	bool has_cl, cl_bad, upgrade, te;
	bool xff; /* an X-Forwarded-For line was seen */
	uint64_t content_length;
	uint64_t body_left; /* body bytes still to skip */
	/* for the log: the raw target's first bytes, up to a fault in it */
	char target[128];
	/* request heads completed, and how many of them announced a body */
	uint64_t heads, bodied;
	/* once at fault: the status (400, 414, 431) and why */
	int status;
	char why[160];
} vbx__rawhead;

/*
 * Scan the next n bytes the client sent (h zeroed when the connection
 * opens). Returns 0 while every head so far passes, the HTTP status at
 * the first fault (h->status and h->why set; every later call returns it
 * again), or VBX__RAWHEAD_DONE once a head asks for a WebSocket or frames
 * its body other than by one Content-Length (libwebsockets refuses those
 * and closes; framing.c): the bytes after that head are not scanned.
 */
int vbx__rawhead_scan(vbx__rawhead *h, const unsigned char *p, size_t n);

/* Where one read from the socket began (vbx__rawhead_mark_take()). */
typedef struct vbx__rawhead_mark {
	uint64_t heads, bodied;
	bool in_body;
} vbx__rawhead_mark;

/* Note in *m where the scan stands before the next read is scanned. */
void vbx__rawhead_mark_take(const vbx__rawhead *h, vbx__rawhead_mark *m);

/*
 * After scanning one read that began at *m: 400 (h at fault) when the
 * read carries a request with a body together with any other request,
 * else 0. libwebsockets 4.1 cannot frame a request with a body that
 * shares its buffer with another request: it reports the body's end
 * again and again, spinning the service thread (server.c). RFC 9112
 * 9.3.2 tells clients not to pipeline behind such a request anyway; this
 * is the one check that depends on how the bytes were cut into reads.
 */
int vbx__rawhead_after_read(vbx__rawhead *h, const vbx__rawhead_mark *m);

#endif
