/* SPDX-License-Identifier: Apache-2.0 */
/*
 * run.c - one backup: the store's dump on a thread of its own writing
 * into a pipe, the pipeline (pipeline.h) reading it into S3, the dump's
 * status checked before the upload completes; then metrics, events and
 * retention. One run at a time per replica.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bk.h"
#include "pipeline.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The store's dump, on its own thread. */
struct dump {
	bk *b;
	int fd; /* the pipe's write end; closed by the thread */
	pthread_t thread;
	bool joined;
	int rc;
};

static void *dump_main(void *arg)
{
	struct dump *d = arg;

	d->rc = vbx_hook_store_dump_run(d->b->dump, d->fd);
	close(d->fd);
	return NULL;
}

/* The pipeline's check before completing: join the dump, judge it. */
static int dump_done(void *arg, char *err, size_t err_len)
{
	struct dump *d = arg;

	pthread_join(d->thread, NULL);
	d->joined = true;
	if (d->rc == VBX_OK)
		return 0;
	snprintf(err, err_len,
	         "the store's dump failed (%s): nothing was uploaded; see the "
	         "store's log lines above",
	         vbx_strerror(d->b->p, d->rc));
	return -1;
}

static int backup_once(bk *b, const char *name, bk_result *res, char *err,
                       size_t err_len)
{
	struct dump d = {.b = b};
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(err, err_len, "pipe: %s", strerror(errno));
		return -1;
	}
	d.fd = fds[1];
	if (pthread_create(&d.thread, NULL, dump_main, &d) != 0) {
		snprintf(err, err_len, "cannot start the dump's thread");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	int rc = bk_backup_fd(&b->s3, b->set.keys, fds[0], name, dump_done, &d,
	                      res, err, err_len);
	close(fds[0]); /* a dump still writing gets EPIPE and stops */
	if (!d.joined)
		pthread_join(d.thread, NULL);
	return rc;
}

static void publish(bk *b, bool ok, const char *name, const char *why,
                    int64_t size, int64_t started, uint32_t attempt)
{
	vbx_backup_event ev = {.version = 1,
	                       .size_bytes = size,
	                       .started_ms = started,
	                       .finished_ms = now_ms(),
	                       .attempt = attempt};

	snprintf(ev.name, sizeof(ev.name), "%s", name);
	snprintf(ev.reason, sizeof(ev.reason), "%s", why);
	int rc = VBX_OK;
	if (ok && b->completed)
		rc = vbx_event_backup_completed_publish(b->completed, &ev);
	else if (!ok && b->failed)
		rc = vbx_event_backup_failed_publish(b->failed, &ev);
	if (rc != VBX_OK)
		vbx_log_warn(b->p,
		             "%s: the backup event was dropped (the "
		             "event queue is full)",
		             name);
}

bool bk_claim(bk *b, const char *name)
{
	bool ok;

	pthread_mutex_lock(&b->mu);
	ok = !b->running && !b->stopping;
	if (ok) {
		b->running = true;
		b->run_id++;
		snprintf(b->run_name, sizeof(b->run_name), "%s", name);
	}
	pthread_mutex_unlock(&b->mu);
	return ok;
}

static void finish(bk *b, const char *err, int64_t done_ms)
{
	pthread_mutex_lock(&b->mu);
	b->running = false;
	snprintf(b->last_error, sizeof(b->last_error), "%s", err ? err : "");
	if (!err)
		b->last_success_ms = done_ms;
	pthread_mutex_unlock(&b->mu);
}

/* The run of name, claimed by the caller; the claim ends with it. */
static int run_claimed(bk *b, const char *name, uint32_t attempt, char *err)
{
	char why[S3_ERR_MAX] = "";
	int64_t started = now_ms();
	bk_result res;

	vbx_log_info(b->p, "backup %s: started (attempt %" PRIu32 ")", name,
	             attempt);
	int rc = backup_once(b, name, &res, why, sizeof(why));
	int64_t done = now_ms();
	if (rc != 0) {
		snprintf(err, VBX_BACKUP_ERR_LEN, "%s", why);
		vbx_log_error(b->p,
		              "backup %s: failed (attempt %" PRIu32 "): %s; "
		              "nothing was left in the bucket",
		              name, attempt, why);
		vbx_counter_inc(b->m_failures);
		publish(b, false, name, why, 0, started, attempt);
		finish(b, why, done);
		return VBX_ERR;
	}
	vbx_log_info(b->p,
	             "backup %s: done in %.1f s: dump %" PRId64
	             " bytes, object %" PRId64 " bytes, key %s",
	             name, (double)(done - started) / 1000, res.dump_bytes,
	             res.object_bytes, res.key_id);
	vbx_gauge_set(b->m_last_success, (double)done / 1000);
	vbx_gauge_set(b->m_duration, (double)(done - started) / 1000);
	vbx_gauge_set(b->m_size, (double)res.object_bytes);
	publish(b, true, name, "", res.object_bytes, started, attempt);
	bk_retention_apply(b); /* part of the run: listed once it is done */
	finish(b, NULL, done);
	err[0] = '\0';
	return VBX_OK;
}

int bk_run_now(bk *b, int64_t slot_ms, uint32_t attempt, char *name, char *err)
{
	char stamp[BK_STAMP_LEN];

	bk_stamp((slot_ms ? slot_ms : now_ms()) / 1000, stamp);
	snprintf(name, VBX_BACKUP_NAME_LEN, "%s%s%s", b->set.prefix, stamp,
	         BK_SUFFIX);
	if (!bk_claim(b, name)) {
		snprintf(err, VBX_BACKUP_ERR_LEN,
		         "a backup or restore is running already");
		return VBX_EEXIST;
	}
	return run_claimed(b, name, attempt, err);
}

/* ---- on demand, on a thread ---- */

struct async {
	bk *b;
	uint32_t attempt;
	bk_after_fn *after;
	char name[VBX_BACKUP_NAME_LEN];
};

static void *async_main(void *arg)
{
	struct async *a = arg;
	char err[VBX_BACKUP_ERR_LEN];
	bk *b = a->b;

	int rc = run_claimed(b, a->name, a->attempt, err); /* claimed */
	if (a->after)
		a->after(b, rc);
	free(a);
	return NULL;
}

void bk_run_reap(bk *b, bool wait)
{
	pthread_t t;
	bool join;

	pthread_mutex_lock(&b->mu);
	join = b->thread_live && (wait || !b->running);
	t = b->thread;
	if (join)
		b->thread_live = false;
	pthread_mutex_unlock(&b->mu);
	if (join)
		pthread_join(t, NULL);
}

int bk_run_async(bk *b, int64_t slot_ms, uint32_t attempt, bk_after_fn *after,
                 uint64_t *id, char *name, size_t name_len)
{
	struct async *a = calloc(1, sizeof(*a));
	char stamp[BK_STAMP_LEN];

	if (!a)
		return VBX_ENOMEM;
	bk_run_reap(b, false);
	a->b = b;
	a->attempt = attempt;
	a->after = after;
	bk_stamp((slot_ms ? slot_ms : now_ms()) / 1000, stamp);
	snprintf(a->name, sizeof(a->name), "%s%s%s", b->set.prefix, stamp,
	         BK_SUFFIX);
	pthread_mutex_lock(&b->mu);
	if (b->running || b->thread_live || b->stopping) {
		pthread_mutex_unlock(&b->mu);
		free(a);
		return VBX_EEXIST;
	}
	snprintf(name, name_len, "%s", a->name); /* a is the thread's */
	b->running = true; /* the claim: run_claimed ends it */
	b->run_id++;
	snprintf(b->run_name, sizeof(b->run_name), "%s", a->name);
	int rc = pthread_create(&b->thread, NULL, async_main, a);
	b->thread_live = rc == 0;
	if (rc != 0)
		b->running = false;
	*id = b->run_id;
	pthread_mutex_unlock(&b->mu);
	if (rc != 0) {
		free(a);
		return VBX_ERR;
	}
	return VBX_OK;
}

void bk_release(bk *b)
{
	pthread_mutex_lock(&b->mu);
	b->running = false;
	pthread_mutex_unlock(&b->mu);
}
