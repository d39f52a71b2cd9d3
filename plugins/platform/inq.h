/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inq.h - the queue of input on its way into a stream (a terminal's keys,
 * an exec's stdin), shared by term.c and exec.c: bytes a client sent that
 * the process has not taken yet. The callers bound it (the terminal
 * pauses its client, exec has a window); it only grows as asked.
 */
#ifndef VBX_INQ_H
#define VBX_INQ_H

#include <stddef.h>
#include <stdint.h>

#include <vibebox/runtime.h>

typedef struct vbx__inq {
	unsigned char *buf;
	size_t off, len, cap; /* waiting: [off, len) */
} vbx__inq;

/* Bytes waiting. */
static inline size_t vbx__inq_pending(const vbx__inq *q)
{
	return q->len - q->off;
}

/* Append len bytes of data. VBX_OK, or VBX_ENOMEM (nothing appended). */
int vbx__inq_push(vbx__inq *q, const void *data, size_t len);

/*
 * Write what the stream takes without blocking; *taken (may be NULL) adds
 * the bytes the stream took. Returns VBX_OK (the queue is empty),
 * VBX_EAGAIN (the stream is full: retry later), or the stream's error,
 * after which the waiting bytes are dropped (not counted in *taken).
 */
int vbx__inq_write(vbx__inq *q, vbx_stream *st, uint64_t *taken);

/* Free the buffer; q is empty and reusable. */
void vbx__inq_free(vbx__inq *q);

#endif
