/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/buf.h - a growing byte buffer for output a plugin builds in
 * pieces (an exposition, a JSON document to send), since ABI 1.3.
 *
 * Static inline and host-free, like util.h, but it allocates (malloc),
 * which util.h never does. A failed allocation sets `failed` and drops
 * whatever follows, so that a caller writes without checking and checks
 * once, at the end:
 *
 *     vbx_buf b = {0};
 *     vbx_buf_puts(&b, "{\"ok\":");
 *     vbx_buf_puts(&b, ok ? "true}" : "false}");
 *     if (!b.failed)
 *             send(b.data, b.len);
 *     vbx_buf_free(&b);
 *
 * data is NUL-terminated whenever it is not NULL; the caller owns it
 * and frees it with vbx_buf_free(). Not for several threads at once.
 */
#ifndef VIBEBOX_BUF_H
#define VIBEBOX_BUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vbx_buf {
	char *data;      /* the bytes, NUL-terminated; NULL until a put */
	size_t len, cap; /* bytes in data, and room (with the NUL) */
	bool failed;     /* an allocation failed: data is incomplete */
} vbx_buf;

/* Append n bytes of s (which may hold NULs), doubling the room as
 * needed from 4 KiB. After a failure it does nothing. */
static inline void vbx_buf_put(vbx_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n >= (size_t)-1 / 2 - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = (char *)realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append the string s. */
static inline void vbx_buf_puts(vbx_buf *b, const char *s)
{
	vbx_buf_put(b, s, strlen(s));
}

/* Free the bytes and make b empty again (failed cleared). */
static inline void vbx_buf_free(vbx_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

#ifdef __cplusplus
}
#endif
#endif
