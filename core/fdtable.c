/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fdtable.c - the guards' tables of entries by file descriptor (see
 * fdtable.h). It grows by whole runs of slots, as far as the highest fd
 * seen plus some, and never shrinks: descriptors are small and reused.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core.h"
#include "fdtable.h"

/* Slots added past the fd that needs them, so that the next connections'
 * descriptors do not each cost a realloc(). */
#define FDTABLE_SPARE 64

static bool identify(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

static int grow(vbx__fdtable *t, int fd)
{
	if ((size_t)fd < t->n)
		return VBX_OK;
	size_t n = (size_t)fd + FDTABLE_SPARE;
	vbx__fdslot *s = realloc(t->slot, n * sizeof(*s));
	if (!s)
		return VBX_ENOMEM;
	memset(s + t->n, 0, (n - t->n) * sizeof(*s));
	t->slot = s;
	t->n = n;
	return VBX_OK;
}

int vbx__fdtable_set(vbx__fdtable *t, int fd, void *entry)
{
	dev_t dev = 0;
	ino_t ino = 0;
	int rc = fd < 0 ? VBX_EINVAL : grow(t, fd);
	if (rc == VBX_OK && !entry)
		rc = VBX_ENOMEM;
	if (rc == VBX_OK && t->identified && !identify(fd, &dev, &ino))
		rc = VBX_EINVAL;
	if (rc != VBX_OK) {
		if (entry)
			t->free_entry(entry);
		return rc;
	}
	vbx__fdtable_forget(t, fd);
	t->slot[fd] = (vbx__fdslot){entry, dev, ino};
	return VBX_OK;
}

void *vbx__fdtable_get(vbx__fdtable *t, int fd)
{
	void *entry = vbx__fdtable_peek(t, fd);
	dev_t dev;
	ino_t ino;
	if (entry && t->identified &&
	    (!identify(fd, &dev, &ino) || dev != t->slot[fd].dev ||
	     ino != t->slot[fd].ino)) {
		vbx__fdtable_forget(t, fd); /* another socket on a reused fd */
		entry = NULL;
	}
	return entry;
}

void vbx__fdtable_forget(vbx__fdtable *t, int fd)
{
	void *entry = vbx__fdtable_peek(t, fd);
	if (entry) {
		t->slot[fd].entry = NULL;
		t->free_entry(entry);
	}
}

void vbx__fdtable_fini(vbx__fdtable *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->slot[i].entry)
			t->free_entry(t->slot[i].entry);
	free(t->slot);
	t->slot = NULL;
	t->n = 0;
}
