/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retention.c - delete the backups older than `retention`, never one of
 * the `keep_min` newest (names.c decides; this lists and deletes). Only
 * objects named <prefix><stamp>.dump.gz.enc are considered: anything
 * else under the prefix is left alone. An object exists only once its
 * upload completed and its metadata was set, so every one counts as a
 * successful backup.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bk.h"

struct found {
	const char *prefix;
	char (*keys)[S3_KEY_MAX];
	int64_t *times;
	size_t n, cap;
};

static int collect(void *arg, const s3_object *o)
{
	struct found *f = arg;
	int64_t t;

	if (!bk_name_time(o->key, f->prefix, &t))
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		void *k = realloc(f->keys, cap * sizeof(*f->keys));
		if (!k)
			return VBX_ENOMEM;
		f->keys = k;
		void *tt = realloc(f->times, cap * sizeof(*f->times));
		if (!tt)
			return VBX_ENOMEM;
		f->times = tt;
		f->cap = cap;
	}
	memcpy(f->keys[f->n], o->key, S3_KEY_MAX);
	f->times[f->n++] = t;
	return 0;
}

int bk_retention_apply(bk *b)
{
	struct found f = {.prefix = b->set.prefix};
	char err[S3_ERR_MAX];
	bool *del = NULL;
	int rc = VBX_OK;

	if (s3_list(&b->s3, b->set.prefix, collect, &f, err, sizeof(err))) {
		vbx_log_error(b->p, "retention: cannot list %s/%s: %s",
		              b->set.bucket, b->set.prefix, err);
		rc = VBX_ERR;
		goto out;
	}
	del = calloc(f.n ? f.n : 1, sizeof(*del));
	if (!del) {
		rc = VBX_ENOMEM;
		goto out;
	}
	size_t n = bk_retention_pick(f.times, f.n, (int64_t)time(NULL),
	                             b->set.retention_ms / 1000,
	                             b->set.keep_min, del);
	for (size_t i = 0; i < f.n; i++) {
		if (!del[i])
			continue;
		if (s3_delete(&b->s3, f.keys[i], err, sizeof(err)) != 0) {
			vbx_log_error(b->p, "retention: %s", err);
			rc = VBX_ERR;
		} else {
			vbx_log_info(b->p,
			             "retention: deleted %s (older than "
			             "retention, not among the %lld newest)",
			             f.keys[i], b->set.keep_min);
		}
	}
	vbx_log_debug(b->p, "retention: %zu backups, %zu past retention", f.n,
	              n);
out:
	free(del);
	free(f.keys);
	free(f.times);
	return rc;
}
