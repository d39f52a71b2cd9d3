/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scan.c - the snapshot of root that requests are served from.
 *
 * A scan lists every regular file under root (hidden names skipped), each
 * found through openat() from root's own descriptor, so no path a client
 * wrote is ever opened: a request can only name a file the scan listed.
 * A symbolic link is followed only when it resolves to a file inside
 * root (a package may link a shared font in); a link to a directory, or
 * out of root, is skipped.
 *
 * X.gz and X.br next to X are X's precompressed forms (when no older than
 * X), not files of their own. Contents are read into memory in name order
 * while they fit in cache_max; the rest are read from disk per request.
 * A rescan keeps the buffer of every file whose device, inode, size and
 * mtime did not change, so that only what changed is read again.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wc.h"

#define MAX_FILES 20000
#define MAX_DEPTH 16

/* A regular file the walk found. */
struct found {
	char *rel, *abs;
	struct stat st;
};

struct walk {
	const char *root_real; /* realpath of root */
	struct found *v;
	size_t n, cap;
	char problem[512];
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static char *join(const char *a, const char *b)
{
	char *out = NULL;
	if (asprintf(&out, "%s%s%s", a, *a ? "/" : "", b) < 0)
		return NULL;
	return out;
}

static int found_add(struct walk *w, const char *rel, const char *abs,
                     const struct stat *st)
{
	if (w->n == MAX_FILES) {
		snprintf(w->problem, sizeof(w->problem),
		         "more than %d files under root; the others are not "
		         "served",
		         MAX_FILES);
		return VBX_OK;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct found *v = realloc(w->v, cap * sizeof(*v));
		if (!v)
			return VBX_ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	struct found *f = &w->v[w->n];
	f->rel = join("", rel);
	f->abs = strdup(abs);
	f->st = *st;
	if (!f->rel || !f->abs) {
		free(f->rel);
		free(f->abs);
		return VBX_ENOMEM;
	}
	w->n++;
	return VBX_OK;
}

/* A link: served when it resolves to a regular file inside root. */
static int walk_link(struct walk *w, const char *rel, const char *abs)
{
	char real[PATH_MAX];
	struct stat st;
	size_t rl = strlen(w->root_real);
	if (!realpath(abs, real) || strncmp(real, w->root_real, rl) != 0 ||
	    real[rl] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode))
		return VBX_OK;
	return found_add(w, rel, real, &st);
}

static int walk_dir(struct walk *w, int dfd, const char *rel, const char *abs,
                    int depth);

static int walk_entry(struct walk *w, int dfd, const char *name,
                      const char *rel, const char *abs, int depth)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return VBX_OK; /* gone meanwhile */
	if (S_ISREG(st.st_mode))
		return found_add(w, rel, abs, &st);
	if (S_ISLNK(st.st_mode))
		return walk_link(w, rel, abs);
	if (!S_ISDIR(st.st_mode) || depth >= MAX_DEPTH)
		return VBX_OK;
	int sub = openat(dfd, name,
	                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return sub < 0 ? VBX_OK : walk_dir(w, sub, rel, abs, depth + 1);
}

/* Walk the directory open as dfd (which it closes). */
static int walk_dir(struct walk *w, int dfd, const char *rel, const char *abs,
                    int depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return VBX_OK;
	}
	int rc = VBX_OK;
	struct dirent *de;
	while (rc == VBX_OK && (de = readdir(d)) != NULL) {
		char *crel = join(rel, de->d_name);
		char *cabs = join(abs, de->d_name);
		if (!crel || !cabs)
			rc = VBX_ENOMEM;
		else if (wc_path_ok(crel))
			rc = walk_entry(w, dfd, de->d_name, crel, cabs, depth);
		free(crel);
		free(cabs);
	}
	closedir(d);
	return rc;
}

static int found_cmp(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->rel,
	              ((const struct found *)b)->rel);
}

static const struct found *found_find(const struct walk *w, const char *rel)
{
	struct found key = {.rel = (char *)rel};
	return bsearch(&key, w->v, w->n, sizeof(*w->v), found_cmp);
}

/* ---- contents ---- */

static wc_buf *buf_read(const char *path, uint64_t size)
{
	if (size > SIZE_MAX - sizeof(wc_buf))
		return NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	wc_buf *b = malloc(sizeof(*b) + (size_t)size);
	size_t got = 0;
	while (b && got < size) {
		ssize_t n = read(fd, b->data + got, (size_t)size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (b && got != size) { /* changed under us: the next scan sees it */
		free(b);
		return NULL;
	}
	if (b) {
		atomic_init(&b->refs, 1);
		b->len = got;
	}
	return b;
}

static void buf_unref(wc_buf *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

int wc_rep_body(const wc_rep *rep, const char **data, size_t *len, char **owned)
{
	*owned = NULL;
	if (rep->buf) {
		*data = rep->buf->data;
		*len = rep->buf->len;
		return VBX_OK;
	}
	wc_buf *b = buf_read(rep->path, rep->size);
	if (!b)
		return errno == ENOENT ? VBX_ENOTFOUND : VBX_ERR;
	/* the caller frees the buffer; the data starts inside it */
	*owned = (char *)b;
	*data = b->data;
	*len = b->len;
	return VBX_OK;
}

/* ---- building ---- */

static const wc_rep *prev_rep(const wc_snap *prev, const char *rel, int e)
{
	const wc_file *pf = prev ? wc_snap_find(prev, rel) : NULL;
	return pf && (e == WC_IDENTITY || (pf->have & (1u << e))) ? &pf->rep[e]
	                                                          : NULL;
}

static int rep_fill(wc_snap *snap, const wc_settings *s, const wc_snap *prev,
                    const char *rel, int e, const struct found *f)
{
	static const char *const suffix[] = {"", "-gz", "-br"};
	wc_rep *r = &snap->files[snap->nfiles].rep[e];
	r->size = (uint64_t)f->st.st_size;
	r->dev = f->st.st_dev;
	r->ino = f->st.st_ino;
	r->mtime_ns = mtime_ns(&f->st);
	snprintf(r->etag, sizeof(r->etag), "\"%llx-%llx%s\"",
	         (unsigned long long)r->size, (unsigned long long)r->mtime_ns,
	         suffix[e]);
	if (!(r->path = strdup(f->abs)))
		return VBX_ENOMEM;
	const wc_rep *old = prev_rep(prev, rel, e);
	if (old && old->buf && old->dev == r->dev && old->ino == r->ino &&
	    old->size == r->size && old->mtime_ns == r->mtime_ns) {
		atomic_fetch_add(&old->buf->refs, 1);
		r->buf = old->buf;
	} else if (snap->cached <= s->cache_max &&
	           r->size <= s->cache_max - snap->cached) {
		r->buf = buf_read(f->abs, r->size); /* NULL: from disk */
	}
	if (r->buf)
		snap->cached += r->size;
	return VBX_OK;
}

static void http_date(int64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Is f X.gz or X.br of an X that the walk found? */
static bool is_variant(const struct walk *w, const struct found *f)
{
	size_t n = strlen(f->rel);
	if (n < 4 || (strcmp(f->rel + n - 3, ".gz") != 0 &&
	              strcmp(f->rel + n - 3, ".br") != 0))
		return false;
	char base[PATH_MAX];
	if (n - 3 >= sizeof(base))
		return false;
	memcpy(base, f->rel, n - 3);
	base[n - 3] = '\0';
	return found_find(w, base) != NULL;
}

static int file_add(wc_snap *snap, const wc_settings *s, const wc_snap *prev,
                    const struct walk *w, const struct found *f)
{
	static const char *const ext[] = {NULL, ".gz", ".br"};
	wc_file *o = &snap->files[snap->nfiles];
	memset(o, 0, sizeof(*o));
	if (!(o->rel = strdup(f->rel)))
		return VBX_ENOMEM;
	o->type = wc_content_type(f->rel);
	o->immutable = wc_is_hashed(f->rel, s->assets);
	http_date(mtime_ns(&f->st), o->last_modified, sizeof(o->last_modified));
	int rc = rep_fill(snap, s, prev, f->rel, WC_IDENTITY, f);
	for (int e = WC_GZIP; rc == VBX_OK && e < WC_NENC; e++) {
		char vrel[PATH_MAX];
		snprintf(vrel, sizeof(vrel), "%s%s", f->rel, ext[e]);
		const struct found *v = found_find(w, vrel);
		/* an older .gz is of an older file: not this one's (by
		 * whole seconds: brotli and others keep no more of X's) */
		if (!v || v->st.st_mtim.tv_sec < f->st.st_mtim.tv_sec)
			continue;
		rc = rep_fill(snap, s, prev, f->rel, e, v);
		o->have |= 1u << e;
	}
	snap->nfiles++; /* even half-filled, so wc_snap_free frees it */
	return rc;
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].rel);
		free(w->v[i].abs);
	}
	free(w->v);
}

/* List root into w; false (with snap->problem) when root is unreadable. */
static bool walk_root(const wc_settings *s, struct walk *w, wc_snap *snap,
                      int *rc)
{
	char real[PATH_MAX];
	int fd = -1;
	if (!realpath(s->root, real) ||
	    (fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(snap->problem, sizeof(snap->problem),
		         "root \"%s\" cannot be read: %s", s->root,
		         strerror(errno));
		return false;
	}
	w->root_real = real;
	*rc = walk_dir(w, fd, "", real, 0);
	w->root_real = NULL;
	return true;
}

wc_snap *wc_snap_build(const wc_settings *s, const wc_snap *prev)
{
	wc_snap *snap = calloc(1, sizeof(*snap));
	struct walk w = {0};
	int rc = VBX_OK;
	if (!snap)
		return NULL;
	snap->root_ok = walk_root(s, &w, snap, &rc);
	if (rc == VBX_OK && w.n) {
		qsort(w.v, w.n, sizeof(*w.v), found_cmp);
		snap->files = calloc(w.n, sizeof(*snap->files));
		rc = snap->files ? VBX_OK : VBX_ENOMEM;
	}
	for (size_t i = 0; rc == VBX_OK && i < w.n; i++)
		if (!is_variant(&w, &w.v[i]))
			rc = file_add(snap, s, prev, &w, &w.v[i]);
	if (w.problem[0] && !snap->problem[0])
		memcpy(snap->problem, w.problem, sizeof(w.problem));
	walk_free(&w);
	if (rc != VBX_OK) {
		wc_snap_free(snap);
		return NULL;
	}
	return snap;
}

void wc_snap_free(wc_snap *snap)
{
	if (!snap)
		return;
	for (size_t i = 0; i < snap->nfiles; i++) {
		wc_file *f = &snap->files[i];
		for (int e = 0; e < WC_NENC; e++) {
			free(f->rep[e].path);
			buf_unref(f->rep[e].buf);
		}
		free(f->rel);
	}
	free(snap->files);
	free(snap);
}

static int file_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const wc_file *)elem)->rel);
}

const wc_file *wc_snap_find(const wc_snap *snap, const char *rel)
{
	if (!snap || !snap->nfiles)
		return NULL;
	return bsearch(rel, snap->files, snap->nfiles, sizeof(*snap->files),
	               file_cmp);
}
