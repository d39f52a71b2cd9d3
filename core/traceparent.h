/* SPDX-License-Identifier: Apache-2.0 */
/*
 * traceparent.h - the W3C trace-context headers (level 1): reading an
 * incoming traceparent and tracestate, writing our own traceparent.
 * Pure functions, no daemon state: the fuzz target links this alone.
 */
#ifndef VBX_TRACEPARENT_H
#define VBX_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vbx__traceparent {
	unsigned char trace_id[16];
	unsigned char span_id[8]; /* the caller's span: our parent */
	bool sampled;             /* flag 01 */
} vbx__traceparent;

/*
 * Parse a traceparent value of len bytes (not NUL-terminated; surrounding
 * spaces and tabs are allowed). Strict: version 00, exactly
 * "00-<32 lower hex>-<16 lower hex>-<2 lower hex>", neither id all zero.
 * Returns true and fills out, or false (out unspecified) for anything
 * else; the caller then starts a new trace.
 */
bool vbx__traceparent_parse(const char *s, size_t len, vbx__traceparent *out);

/*
 * Whether a tracestate value (len bytes) is worth carrying: 1..max bytes
 * after trimming spaces and tabs, printable ASCII only. *start and *n
 * give the trimmed part. A value that is not is dropped, never an error.
 */
bool vbx__tracestate_ok(const char *s, size_t len, size_t max, size_t *start,
                        size_t *n);

/* Write "00-<trace>-<span>-<flags>" and a NUL into buf (56 bytes). */
void vbx__traceparent_format(char *buf, const unsigned char trace_id[16],
                             const unsigned char span_id[8], bool sampled);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void vbx__hex_lower(char *out, const unsigned char *in, size_t n);

#endif
