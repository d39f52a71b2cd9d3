/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena.c - per-request memory: bump allocation in a list of chunks, all
 * freed at once. See arena.h.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define VBX__ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VBX__ARENA_ASAN 1
#endif
#endif

#ifdef VBX__ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Growth stops doubling here: past it, a busy request adds 1 MiB chunks
 * rather than ever larger ones. */
#define ARENA_MAX_GROWTH ((size_t)1 << 20)

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))

struct chunk {
	struct chunk *next; /* the chunk allocated before this one */
	size_t size;        /* usable bytes after the header */
	size_t used;        /* bytes taken, padding included */
};

/* Chunk data starts this far from the chunk, so it starts 16-aligned
 * whenever malloc() returns 16-aligned memory (we align anyway). */
#define CHUNK_HDR ROUND_UP(sizeof(struct chunk), VBX__ARENA_ALIGN)

struct vbx__arena {
	struct chunk *cur;   /* the chunk we bump from; head of the list */
	struct chunk *first; /* inline, right after this struct */
	size_t next_size;    /* data size of the next regular chunk */
	size_t nchunks;
};

#define ARENA_HDR ROUND_UP(sizeof(struct vbx__arena), VBX__ARENA_ALIGN)

static unsigned char *chunk_data(struct chunk *c)
{
	return (unsigned char *)c + CHUNK_HDR;
}

static void chunk_init(struct chunk *c, size_t size)
{
	c->next = NULL;
	c->size = size;
	c->used = 0;
	POISON(chunk_data(c), size);
}

/* n bytes from c, aligned; NULL when they do not fit. */
static void *chunk_take(struct chunk *c, size_t n)
{
	uintptr_t at = (uintptr_t)(chunk_data(c) + c->used);
	size_t pad = (size_t)(-at & (VBX__ARENA_ALIGN - 1));
	size_t left = c->size - c->used;

	if (pad > left || n > left - pad)
		return NULL;
	c->used += pad + n;
	UNPOISON((void *)(at + pad), n);
	return (void *)(at + pad);
}

/* No object may be larger than PTRDIFF_MAX; refusing those sizes here
 * also keeps absurd requests away from malloc(). */
#define ARENA_MAX_SIZE ((size_t)PTRDIFF_MAX - 2 * CHUNK_HDR - ARENA_HDR)

static struct chunk *chunk_new(size_t size)
{
	if (size > ARENA_MAX_SIZE)
		return NULL;
	struct chunk *c = malloc(CHUNK_HDR + size);
	if (c)
		chunk_init(c, size);
	return c;
}

static void chunk_release(struct chunk *c)
{
	UNPOISON(chunk_data(c), c->size);
	free(c);
}

vbx__arena *vbx__arena_new(size_t first_chunk)
{
	if (first_chunk == 0)
		first_chunk = VBX__ARENA_DEFAULT_CHUNK;
	if (first_chunk > ARENA_MAX_SIZE)
		return NULL;

	vbx__arena *a = malloc(ARENA_HDR + CHUNK_HDR + first_chunk);
	if (!a)
		return NULL;
	a->first = (struct chunk *)((unsigned char *)a + ARENA_HDR);
	chunk_init(a->first, first_chunk);
	a->cur = a->first;
	a->next_size = first_chunk;
	a->nchunks = 1;
	return a;
}

/*
 * Slow path: the current chunk is full. A request for more than half the
 * next regular chunk gets a chunk of its own, linked behind the current
 * one so that the space left there is still used; anything else starts a
 * new regular chunk, twice the size of the last.
 */
static void *arena_grow(vbx__arena *a, size_t n)
{
	size_t need = n + (VBX__ARENA_ALIGN - 1);
	if (need < n)
		return NULL;

	size_t regular = a->next_size;
	if (regular < ARENA_MAX_GROWTH)
		regular *= 2;

	struct chunk *c;
	if (need > regular / 2) {
		c = chunk_new(need);
		if (!c)
			return NULL;
		c->next = a->cur->next;
		a->cur->next = c;
	} else {
		c = chunk_new(regular);
		if (!c)
			return NULL;
		c->next = a->cur;
		a->cur = c;
		a->next_size = regular;
	}
	a->nchunks++;
	return chunk_take(c, n);
}

void *vbx__arena_alloc(vbx__arena *a, size_t n)
{
	if (!a)
		return NULL;
	if (n == 0)
		n = 1; /* distinct pointers, like malloc(0) */
	void *p = chunk_take(a->cur, n);
	return p ? p : arena_grow(a, n);
}

void *vbx__arena_calloc(vbx__arena *a, size_t count, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(count, size, &n))
		return NULL;
	void *p = vbx__arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *vbx__arena_memdup(vbx__arena *a, const void *p, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	unsigned char *d = vbx__arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

char *vbx__arena_strndup(vbx__arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	return vbx__arena_memdup(a, s, strnlen(s, n));
}

char *vbx__arena_strdup(vbx__arena *a, const char *s)
{
	if (!s)
		return NULL;
	return vbx__arena_memdup(a, s, strlen(s));
}

char *vbx__arena_vprintf(vbx__arena *a, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int len = vsnprintf(NULL, 0, fmt, ap);
	char *s = NULL;
	if (len >= 0)
		s = vbx__arena_alloc(a, (size_t)len + 1);
	if (s)
		vsnprintf(s, (size_t)len + 1, fmt, again);
	va_end(again);
	return s;
}

char *vbx__arena_printf(vbx__arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vbx__arena_vprintf(a, fmt, ap);
	va_end(ap);
	return s;
}

/* Free every chunk on the list from c on, except the inline first one. */
static void arena_release_from(vbx__arena *a, struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;
		if (c != a->first)
			chunk_release(c);
		c = next;
	}
}

void vbx__arena_reset(vbx__arena *a)
{
	if (!a)
		return;
	arena_release_from(a, a->cur);
	chunk_init(a->first, a->first->size);
	a->cur = a->first;
	a->next_size = a->first->size;
	a->nchunks = 1;
}

void vbx__arena_free(vbx__arena *a)
{
	if (!a)
		return;
	arena_release_from(a, a->cur);
	UNPOISON(chunk_data(a->first), a->first->size);
	free(a);
}

size_t vbx__arena_chunk_count(const vbx__arena *a)
{
	return a ? a->nchunks : 0;
}
