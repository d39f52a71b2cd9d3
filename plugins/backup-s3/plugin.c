/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - backup-s3: encrypted database backups to S3 on a cron
 * schedule (one replica runs it: the redis-cache lock when loaded), on
 * demand (POST /api/v1/admin/backups) and once (`vibeboxd --backup-now`,
 * the backup_run_now hook). See docs/backup.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "bk.h"

#define TICK_MS 15000      /* how often the schedule is looked at */
#define LOCK_TTL_MS 120000 /* the schedule's lock, renewed each tick */
#define LOCK_NAME "backup-s3:schedule"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int validate(vbx_plugin *self, const vbx_config *cfg)
{
	bk_settings s;
	int rc = bk_settings_parse(self, cfg, &s);

	if (rc == VBX_OK)
		bk_settings_free(&s);
	return rc;
}

/* The next slot after t (ms), or INT64_MAX when none comes. */
static int64_t next_slot(const bk *b, int64_t t)
{
	int64_t n;

	if (!b->set.scheduled)
		return INT64_MAX;
	n = bk_cron_next(&b->set.cron, t / 1000);
	return n < 0 ? INT64_MAX : n * 1000;
}

/* Is a slot (or its retry) due at now? Sets *slot and *attempt. */
static bool due(bk *b, int64_t now, int64_t *slot, uint32_t *attempt)
{
	bool go = false;

	pthread_mutex_lock(&b->mu);
	if (b->retry_ms && now >= b->retry_ms) {
		*slot = b->slot_ms;
		*attempt = ++b->attempt;
		b->retry_ms = 0;
		go = true;
	} else if (!b->retry_ms && now >= b->next_ms) {
		*slot = b->slot_ms = b->next_ms;
		*attempt = b->attempt = 1;
		b->next_ms = next_slot(b, now);
		go = true;
	}
	pthread_mutex_unlock(&b->mu);
	return go;
}

/* After a failed slot: retry with backoff while within retry_window. */
static void plan_retry(bk *b, int64_t now)
{
	pthread_mutex_lock(&b->mu);
	int64_t delay = b->set.retry_delay_ms
	                << (b->attempt - 1 < 20 ? b->attempt - 1 : 20);
	if (now + delay - b->slot_ms <= b->set.retry_window_ms) {
		b->retry_ms = now + delay;
		vbx_log_warn(b->p, "backup: retrying in %lld s (attempt %u)",
		             (long long)(delay / 1000), b->attempt + 1);
	} else {
		vbx_log_error(b->p,
		              "backup: giving up on this slot after %u "
		              "attempts (retry_window); next at the schedule's "
		              "next time",
		              b->attempt);
	}
	pthread_mutex_unlock(&b->mu);
}

static void after_scheduled(bk *b, int rc)
{
	if (rc == VBX_ERR)
		plan_retry(b, now_ms());
}

/*
 * Is the slot's backup in the bucket already? Scheduled backups are named
 * after their slot, so a replica that took the lock over from one that
 * ran the slot (and then paused past the lock's TTL) does not run it
 * again.
 */
static bool slot_done(bk *b, int64_t slot_ms)
{
	char stamp[BK_STAMP_LEN], key[S3_KEY_MAX], err[S3_ERR_MAX];
	s3_object o;

	bk_stamp(slot_ms / 1000, stamp);
	snprintf(key, sizeof(key), "%s%s%s", b->set.prefix, stamp, BK_SUFFIX);
	if (s3_head(&b->s3, key, &o, err, sizeof(err)) != 0)
		return false;
	vbx_log_info(b->p,
	             "backup %s: in the bucket already (another replica "
	             "ran this slot)",
	             key);
	return true;
}

static void tick(void *ud)
{
	char name[VBX_BACKUP_NAME_LEN];
	bk *b = ud;
	int64_t now = now_ms(), slot;
	uint32_t attempt;
	uint64_t id;

	bk_run_reap(b, false);
	if (!b->set.scheduled ||
	    !vbx__single_turn(&b->single, LOCK_TTL_MS, now))
		return;
	/* the lock's server is down: a backup twice is worse than one late
	 * (the slot is retried while within retry_window) */
	if (vbx__single_status(&b->single, NULL, NULL) == VBX__SINGLE_LOCAL)
		return;
	if (!due(b, now, &slot, &attempt))
		return;
	if (slot_done(b, slot))
		return;
	/* on a thread of its own: the tick's worker is free and later ticks
	 * keep renewing the lock while the backup runs */
	int rc = bk_run_async(b, slot, attempt, after_scheduled, &id, name,
	                      sizeof(name));
	if (rc != VBX_OK) {
		vbx_log_warn(b->p, "backup: the scheduled run cannot start: %s",
		             rc == VBX_EEXIST ? "a backup or restore is running"
		                              : vbx_strerror(b->p, rc));
		plan_retry(b, now);
	}
}

static int run_now_hook(void *ud, char *name, char *err)
{
	return bk_run_now(ud, 0, 1, name, err);
}

static void declare_metrics(bk *b)
{
	vbx_plugin *p = b->p;

	b->m_last_success = vbx_metric_series(
	        vbx_metric_gauge(p, "backup_last_success_timestamp_seconds",
	                         "Unix time of the last successful backup.",
	                         NULL),
	        NULL);
	b->m_duration = vbx_metric_series(
	        vbx_metric_gauge(p, "backup_duration_seconds",
	                         "How long the last successful backup took.",
	                         NULL),
	        NULL);
	b->m_size = vbx_metric_series(
	        vbx_metric_gauge(p, "backup_size_bytes",
	                         "Size of the last successful backup's "
	                         "object (gzip'd, encrypted).",
	                         NULL),
	        NULL);
	b->m_failures = vbx_metric_series(
	        vbx_metric_counter(p, "backup_failures_total",
	                           "Backup attempts that failed.", NULL),
	        NULL);
}

static int hooks_init(bk *b)
{
	b->dump = vbx_hook_store_dump_get(b->p);
	b->restore = vbx_hook_store_restore_get(b->p);
	b->completed = vbx_event_backup_completed_get(b->p);
	b->failed = vbx_event_backup_failed_get(b->p);
	if (!b->dump || !b->restore || !b->completed || !b->failed)
		return VBX_ESIGNATURE;
	int rc = vbx_hook_backup_run_now_register(b->p, run_now_hook, b, 0);
	if (rc == VBX_OK)
		rc = vbx__single_init(&b->single, b->p, LOCK_NAME);
	return rc;
}

static int init(vbx_plugin *self, const vbx_config *cfg)
{
	bk *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return VBX_ENOMEM;
	b->p = self;
	pthread_mutex_init(&b->mu, NULL);
	rc = bk_settings_parse(self, cfg, &b->set);
	if (rc != VBX_OK) {
		free(b);
		return rc;
	}
	b->s3 = (s3_cfg){.endpoint = b->set.endpoint,
	                 .region = b->set.region,
	                 .bucket = b->set.bucket,
	                 .access_key_id = b->set.access_key_id,
	                 .secret_access_key = b->set.secret_access_key,
	                 .part_size = b->set.part_size};
	vbx_plugin_set_data(self, b);
	rc = hooks_init(b);
	if (rc == VBX_OK)
		rc = bk_routes_add(b);
	if (rc == VBX_OK && b->set.scheduled)
		rc = vbx_timer_add(self, TICK_MS, tick, b);
	if (rc != VBX_OK) {
		vbx_log_error(self, "init failed: %s", vbx_strerror(self, rc));
		bk_settings_free(&b->set);
		free(b);
		vbx_plugin_set_data(self, NULL);
		return rc;
	}
	declare_metrics(b);
	return VBX_OK;
}

static int start(vbx_plugin *self)
{
	bk *b = vbx_plugin_data(self);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	b->next_ms = next_slot(b, now_ms());
	if (b->dump->count == 0)
		vbx_log_warn(self, "no store plugin provides store_dump: every "
		                   "backup will fail; load postgres-store");
	vbx_log_info(self, "backups to %s/%s/%s, %s", b->set.endpoint,
	             b->set.bucket, b->set.prefix,
	             b->set.scheduled ? "on schedule" : "on demand only");
	return VBX_OK;
}

static void stop(vbx_plugin *self)
{
	bk *b = vbx_plugin_data(self);

	pthread_mutex_lock(&b->mu);
	b->stopping = true;
	pthread_mutex_unlock(&b->mu);
	bk_run_reap(b, true); /* a run finishes (or fails) first */
	vbx__single_release(&b->single);
}

static void fini(vbx_plugin *self)
{
	bk *b = vbx_plugin_data(self);

	if (!b)
		return;
	bk_settings_free(&b->set);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static const char *const provides[] = {"backup", NULL};

VBX_PLUGIN(.name = "backup-s3", .version = "1.0.0",
           .description = "encrypted database backups to S3",
           .provides = provides, .init = init, .start = start, .stop = stop,
           .fini = fini, .validate = validate);
