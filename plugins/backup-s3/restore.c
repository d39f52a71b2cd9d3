/* SPDX-License-Identifier: Apache-2.0 */
/*
 * restore.c - restore or verify a backup: download it, authenticate every
 * chunk into a temp file, and only then start the store's restore and
 * feed it the dump (a backup that does not authenticate never reaches the
 * database).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk.h"
#include "pipeline.h"

struct latest {
	const char *prefix;
	int64_t t;
	char key[S3_KEY_MAX];
};

static int newest(void *arg, const s3_object *o)
{
	struct latest *l = arg;
	int64_t t;

	if (bk_name_time(o->key, l->prefix, &t) && (!l->key[0] || t > l->t)) {
		l->t = t;
		snprintf(l->key, sizeof(l->key), "%s", o->key);
	}
	return 0;
}

int bk_resolve(bk *b, const char *id, char *key, size_t key_len, char *err,
               size_t err_len)
{
	struct latest *l;
	int64_t t;

	if (strcmp(id, "latest") != 0) {
		snprintf(key, key_len, "%s%s%s", b->set.prefix, id, BK_SUFFIX);
		if (!bk_name_time(key, b->set.prefix, &t)) {
			snprintf(err, err_len,
			         "\"%s\" is not a backup's id: give \"latest\" "
			         "or its time as in its name, e.g. "
			         "20261207T030000Z",
			         id);
			return VBX_EINVAL;
		}
		return VBX_OK;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return VBX_ENOMEM;
	l->prefix = b->set.prefix;
	int rc = s3_list(&b->s3, b->set.prefix, newest, l, err, err_len);
	if (rc == 0 && !l->key[0]) {
		snprintf(err, err_len, "no backup in %s/%s", b->set.bucket,
		         b->set.prefix);
		rc = VBX_ENOTFOUND;
	} else if (rc != 0) {
		rc = VBX_ERR;
	}
	snprintf(key, key_len, "%s", l->key);
	free(l);
	return rc;
}

/* The store's restore, on a thread started once the object is verified. */
struct feed {
	bk *b;
	int fds[2];
	pthread_t thread;
	bool started;
	int rc;
};

static void *restore_main(void *arg)
{
	struct feed *f = arg;

	f->rc = vbx_hook_store_restore_run(f->b->restore, f->fds[0]);
	close(f->fds[0]);
	return NULL;
}

static int start_restore(void *arg, char *err, size_t err_len)
{
	struct feed *f = arg;

	vbx_log_info(f->b->p, "restore: the backup authenticated; the "
	                      "store's restore starts");
	if (pthread_create(&f->thread, NULL, restore_main, f) != 0) {
		snprintf(err, err_len, "cannot start the restore's thread");
		return -1;
	}
	f->started = true;
	return 0;
}

static int run(bk *b, const char *key, bool apply, bk_result *res, char *err,
               size_t err_len)
{
	struct feed f = {.b = b, .fds = {-1, -1}};
	int out, rc;

	if (apply ? pipe2(f.fds, O_CLOEXEC) != 0
	          : (f.fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		snprintf(err, err_len, "restore: %s", strerror(errno));
		return -1;
	}
	out = f.fds[1];
	rc = bk_restore_fd(&b->s3, b->set.keys, key, b->set.tmpdir, out,
	                   apply ? start_restore : NULL, &f, res, err, err_len);
	close(out); /* the store's restore sees the dump's end */
	if (f.started) {
		pthread_join(f.thread, NULL);
		if (rc == 0 && f.rc != VBX_OK) {
			snprintf(err, err_len,
			         "the store's restore failed (%s); see its log "
			         "lines above",
			         vbx_strerror(b->p, f.rc));
			rc = -1;
		}
	} else if (f.fds[0] >= 0) {
		close(f.fds[0]);
	}
	return rc;
}

int bk_restore(bk *b, const char *key, bool apply, char *sha256, char *key_id,
               char *err, size_t err_len)
{
	const char *what = apply ? "restore" : "verify";
	bk_result res;

	if (!bk_claim(b, key)) {
		snprintf(err, err_len, "a backup or restore is running");
		return VBX_EEXIST;
	}
	vbx_log_info(b->p, "%s %s: started", what, key);
	int rc = run(b, key, apply, &res, err, err_len);
	bk_release(b);
	if (rc != 0) {
		vbx_log_error(b->p, "%s %s: failed: %s", what, key, err);
		return rc == -2   ? VBX_EDENIED
		       : rc == -3 ? VBX_ENOTFOUND
		                  : VBX_ERR;
	}
	memcpy(sha256, res.sha256, 65);
	memcpy(key_id, res.key_id, BK_KEY_ID_LEN);
	vbx_log_info(b->p, "%s %s: done (dump %lld bytes, sha256 %s)", what,
	             key, (long long)res.dump_bytes, res.sha256);
	return VBX_OK;
}
