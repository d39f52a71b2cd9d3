/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/framing.h - how a request's body is framed, decided from its head
 * before any of the body is read. Not installed.
 *
 * libwebsockets frames a request body by Content-Length alone, takes the
 * first of two Content-Length headers, does not read chunked bodies, and
 * reads whatever follows as the next request on the connection. A proxy
 * in front may frame the same bytes differently (by Transfer-Encoding, by
 * the last Content-Length), and the difference is a smuggled request. So
 * every head whose framing is not a single, plain Content-Length (or no
 * body at all) is refused here, and the server closes the connection
 * after the answer: nothing after such a head is ever read as a request.
 */
#ifndef VBX_FRAMING_H
#define VBX_FRAMING_H

#include <stdbool.h>
#include <stdint.h>

/* A request head as far as framing goes, copied out of the parser's
 * state by the server. Strings are NULL when the header is absent. */
typedef struct vbx__head {
	const char *method;            /* "GET", "POST", ... */
	const char *content_length;    /* its first value */
	const char *transfer_encoding; /* every value, joined with ", " */
	const char *duplicate;         /* the name of a single-valued header
	                                  (Host, Authorization, Content-Type,
	                                  Content-Length) sent twice */
	bool space_before_colon;       /* "Content-Length :" or
	                                  "Transfer-Encoding :" was sent */
} vbx__head;

/* The outcome of vbx__framing_check(). */
typedef struct vbx__framing {
	int status;          /* 0: go on; else the HTTP status to answer */
	const char *message; /* unless 0: why, for the error envelope */
	bool has_length;     /* a valid Content-Length was given */
	uint64_t length;     /* its value */
	bool close_after;    /* answer, then close: what follows on the
	                        connection cannot be framed */
} vbx__framing;

/*
 * Decide the framing of h. Refuses, with the connection closed after the
 * answer:
 *   400  a single-valued header sent twice; a framing header's name
 *        with whitespace before its colon; Content-Length and
 *        Transfer-Encoding together; Content-Length that is not 1 to 19
 *        decimal digits (a sign, a list or a second value included);
 *        Transfer-Encoding whose last coding is not "chunked";
 *   411  Transfer-Encoding ending in chunked: chunked request bodies are
 *        not read; the client must send Content-Length.
 * A POST, PUT or PATCH without Content-Length is taken as having no body
 * and answered, then the connection is closed (close_after without a
 * status): libwebsockets would read the next request as its body.
 * Returns out->status.
 */
int vbx__framing_check(const vbx__head *h, vbx__framing *out);

/* Content-Length: 1 to 19 ASCII digits, optional spaces or tabs around.
 * True with *out set, else false. */
bool vbx__content_length_parse(const char *s, uint64_t *out);

/* True when the last coding of a Transfer-Encoding list is "chunked"
 * (any case, with optional whitespace and parameters-free). */
bool vbx__te_ends_chunked(const char *te);

#endif
