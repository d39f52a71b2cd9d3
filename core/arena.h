/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/arena.h - per-request memory. Not installed.
 *
 * A request allocates from its arena (path parameters, query values,
 * vbx_req_alloc()) and frees everything at once when the response has been
 * sent. Allocation is a pointer bump in the current chunk. The first chunk
 * lives in the same malloc() block as the arena itself, so a request that
 * fits in it costs one malloc() and one free().
 *
 * An arena is not thread-safe: one request, one thread at a time.
 *
 * Under AddressSanitizer the unused part of every chunk is poisoned, so a
 * handler that writes past its allocation is caught as it would be with
 * malloc().
 */
#ifndef VBX_ARENA_H
#define VBX_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <vibebox/common.h>

/* Every pointer the arena hands out is aligned to this. */
#define VBX__ARENA_ALIGN 16

/* The first chunk's size when vbx__arena_new() is given 0. */
#define VBX__ARENA_DEFAULT_CHUNK 4096

typedef struct vbx__arena vbx__arena;

/*
 * A new arena whose first chunk holds first_chunk bytes (0: the default).
 * Later chunks double in size up to 1 MiB each; an allocation bigger than
 * half the next chunk gets a chunk of its own. Returns a malloc'd arena that
 * the caller frees with vbx__arena_free(), or NULL when out of memory.
 */
vbx__arena *vbx__arena_new(size_t first_chunk);

/*
 * n bytes, aligned to VBX__ARENA_ALIGN, not zeroed, valid until the arena is
 * reset or freed. n == 0 gives a valid, distinct pointer. Returns NULL when
 * out of memory, when n is too large to represent, or when a is NULL.
 */
void *vbx__arena_alloc(vbx__arena *a, size_t n);

/* Like vbx__arena_alloc(), zeroed. Also checks count * size for overflow. */
void *vbx__arena_calloc(vbx__arena *a, size_t count, size_t size);

/* A copy of s in the arena; NULL when s is NULL or out of memory. */
char *vbx__arena_strdup(vbx__arena *a, const char *s);

/*
 * A NUL-terminated copy of at most n bytes of s (fewer when s has a NUL
 * before). NULL when s is NULL or out of memory.
 */
char *vbx__arena_strndup(vbx__arena *a, const char *s, size_t n);

/* A memory copy of n bytes of p, plus a NUL byte after them (so that text
 * can be used as a string). NULL when out of memory. */
void *vbx__arena_memdup(vbx__arena *a, const void *p, size_t n);

/* printf() into the arena; NULL when out of memory or on a format error. */
char *vbx__arena_printf(vbx__arena *a, const char *fmt, ...) VBX_PRINTF(2, 3);
char *vbx__arena_vprintf(vbx__arena *a, const char *fmt, va_list ap)
        VBX_PRINTF(2, 0);

/*
 * Forget every allocation: free every chunk but the first, which becomes
 * empty again, and start growing from the first size again. Pointers
 * handed out before are invalid afterwards. a may be NULL.
 */
void vbx__arena_reset(vbx__arena *a);

/* Free the arena and everything allocated from it. a may be NULL. */
void vbx__arena_free(vbx__arena *a);

/* How many chunks the arena holds now (1 after new or reset). For tests
 * and statistics. */
size_t vbx__arena_chunk_count(const vbx__arena *a);

#endif
