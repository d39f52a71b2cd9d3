/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fdtable.h - a table of entries indexed by file descriptor, for the
 * guards that follow sockets as libwebsockets reads them (headguard.c,
 * proxyguard.c, wsguard.c; see core/recv.c).
 *
 * Not locked: each guard keeps its table in a thread-local, so only the
 * thread that owns it (the service thread) ever touches it. An
 * identified table also remembers each entry's socket by (device, inode),
 * so that a descriptor closed without a word and reused for another
 * socket is never taken for the old one: vbx__fdtable_get() checks that
 * with one fstat(); vbx__fdtable_peek() is the free look that recv() can
 * afford on every read of every thread.
 */
#ifndef VBX_FDTABLE_H
#define VBX_FDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef void vbx__fdtable_free_fn(void *entry);

typedef struct vbx__fdslot {
	void *entry;
	dev_t dev; /* identified tables only */
	ino_t ino;
} vbx__fdslot;

typedef struct vbx__fdtable {
	vbx__fdslot *slot; /* by fd */
	size_t n;
	vbx__fdtable_free_fn *free_entry;
	bool identified;
} vbx__fdtable;

/* A static initializer: empty, entries freed with free_fn, remembered by
 * (device, inode) when identified is true. */
#define VBX__FDTABLE_INIT(free_fn, identified_)                                \
	{                                                                      \
		NULL, 0, (free_fn), (identified_)                              \
	}

/*
 * Make entry fd's, freeing the one it had. The table takes entry in every
 * case: on failure it is freed (a NULL entry reads as a failed
 * allocation). Returns VBX_OK, VBX_EINVAL (fd negative, or not open when
 * the table is identified) or VBX_ENOMEM.
 */
int vbx__fdtable_set(vbx__fdtable *t, int fd, void *entry);
/*
 * fd's entry, still owned by the table, or NULL. In an identified table
 * an entry whose socket is no longer fd's is forgotten (freed) and NULL
 * returned; this costs one fstat().
 */
void *vbx__fdtable_get(vbx__fdtable *t, int fd);
/* Free fd's entry, if any. */
void vbx__fdtable_forget(vbx__fdtable *t, int fd);
/* Free every entry and the table itself; it is then empty and reusable. */
void vbx__fdtable_fini(vbx__fdtable *t);

/* fd's entry without the identity check (no system call), or NULL: for
 * recv()'s fast path, and for tables that are not identified. */
static inline void *vbx__fdtable_peek(const vbx__fdtable *t, int fd)
{
	return fd >= 0 && (size_t)fd < t->n ? t->slot[fd].entry : NULL;
}

#endif
