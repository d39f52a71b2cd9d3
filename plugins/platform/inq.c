/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inq.c - the input queue of terminal and exec streams (inq.h).
 */
#include <stdlib.h>
#include <string.h>

#include "inq.h"

int vbx__inq_push(vbx__inq *q, const void *data, size_t len)
{
	if (q->off) { /* keep what waits at the front */
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + len > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		while (cap < q->len + len)
			cap *= 2;
		unsigned char *b = realloc(q->buf, cap);
		if (!b)
			return VBX_ENOMEM;
		q->buf = b;
		q->cap = cap;
	}
	if (len)
		memcpy(q->buf + q->len, data, len);
	q->len += len;
	return VBX_OK;
}

int vbx__inq_write(vbx__inq *q, vbx_stream *st, uint64_t *taken)
{
	uint64_t ignored;
	if (!taken)
		taken = &ignored;
	while (q->off < q->len) {
		ssize_t r =
		        st->ops->write(st, q->buf + q->off, q->len - q->off);
		if (r == VBX_EAGAIN)
			return VBX_EAGAIN;
		if (r < 0) {
			q->off = q->len = 0;
			return (int)r;
		}
		q->off += (size_t)r;
		*taken += (uint64_t)r;
	}
	q->off = q->len = 0;
	return VBX_OK;
}

void vbx__inq_free(vbx__inq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}
