/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bk.h - the backup-s3 plugin's state, shared by its files: settings,
 * the one run at a time, metrics, and the pure helpers (names,
 * retention) that tests use alone.
 */
#ifndef BK_PLUGIN_H
#define BK_PLUGIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bkfmt.h"
#include "cron.h"
#include "s3.h"

#define BK_SUFFIX ".dump.gz.enc"
#define BK_STAMP_LEN 17 /* "20261207T030000Z" and a NUL */

/* ---- names (names.c: pure) ---- */

/* "20261207T030000Z" for Unix seconds t into out (BK_STAMP_LEN). */
void bk_stamp(int64_t t, char out[BK_STAMP_LEN]);

/*
 * If key is <prefix><stamp>.dump.gz.enc, the stamp's Unix seconds in *t
 * and true; else false (another object under the prefix: left alone).
 */
bool bk_name_time(const char *key, const char *prefix, int64_t *t);

/*
 * Retention: of n backups taken at times[i] (Unix seconds, any order),
 * mark in del[i] those to delete at `now`: older than retention_s, but
 * never one of the keep_min newest. Returns how many are marked.
 */
size_t bk_retention_pick(const int64_t *times, size_t n, int64_t now,
                         int64_t retention_s, long long keep_min, bool *del);

/* The rest needs the SDK (tests of the pure helpers define BK_PURE_ONLY). */
#ifndef BK_PURE_ONLY
#include <vibebox/backup.h>
#include <vibebox/vibebox.h>

#include "../platform/singleton.h"

/* The settings of the plugin's block (config.c). */
typedef struct bk_settings {
	char *endpoint, *region, *bucket, *prefix;
	char *access_key_id, *secret_access_key;
	bk_keyring *keys;
	bool scheduled; /* schedule is not "off" */
	bk_cron cron;
	int64_t retention_ms, retry_delay_ms, retry_window_ms;
	long long keep_min;
	uint64_t part_size;
	char *tmpdir;
} bk_settings;

/* Parse and check cfg into *s (every key read, so -t knows them all).
 * Returns VBX_OK, or VBX_EINVAL with each problem recorded. */
int bk_settings_parse(vbx_plugin *p, const vbx_config *cfg, bk_settings *s);
void bk_settings_free(bk_settings *s);

typedef struct bk {
	vbx_plugin *p;
	bk_settings set;
	s3_cfg s3;
	vbx_hook *dump, *restore;
	vbx_event *completed, *failed;
	vbx__single single; /* the schedule runs on one replica */

	pthread_mutex_t mu; /* everything below */
	bool running, stopping;
	bool thread_live; /* thread (an on-demand or scheduled run) */
	pthread_t thread;
	uint64_t run_id;
	char run_name[S3_KEY_MAX]; /* the running or last run's object */
	char last_error[VBX_BACKUP_ERR_LEN];
	int64_t last_success_ms;
	int64_t next_ms;  /* the next scheduled slot */
	int64_t retry_ms; /* 0, or when to retry the failed slot */
	int64_t slot_ms;  /* the slot being retried */
	uint32_t attempt; /* of that slot */

	/* metrics: NULL when no plugin provides "metrics" */
	vbx_series *m_last_success, *m_duration, *m_size, *m_failures;
} bk;

/* ---- run.c ---- */

/*
 * One backup now, in this thread: dump (store_dump on a thread of its
 * own) -> gzip -> encrypt -> S3, then retention. Claims the run (409 if
 * one is running: VBX_EEXIST); name gets the object's name, err the
 * reason of a failure. Counts metrics and publishes the events.
 */
int bk_run_now(bk *b, int64_t slot_ms, uint32_t attempt, char *name, char *err);

/* What to do once a background run ended (its bk_run_now status). */
typedef void bk_after_fn(bk *b, int rc);

/*
 * Start a run on a thread of its own (the API's POST with slot_ms 0 and
 * attempt 1; the schedule's slot and attempt), so that no worker is held
 * for its length; after (may be NULL) runs on that thread at its end.
 * Returns VBX_OK with *id and name set; VBX_EEXIST when one runs; VBX_ERR.
 */
int bk_run_async(bk *b, int64_t slot_ms, uint32_t attempt, bk_after_fn *after,
                 uint64_t *id, char *name, size_t name_len);

/* Join a finished background run's thread, if any (under no lock). */
void bk_run_reap(bk *b, bool wait);

/* Claim the one run (a backup or a restore) for name: false when one
 * runs or the plugin stops. bk_release() ends a claim that bk_run_now
 * did not make. */
bool bk_claim(bk *b, const char *name);
void bk_release(bk *b);

/* ---- restore.c ---- */

/*
 * Resolve id, "latest" or a stamp "20261207T030000Z", into the object's
 * key. Returns VBX_OK, VBX_ENOTFOUND, VBX_EINVAL (not a stamp), VBX_ERR
 * (S3 failed: err says why).
 */
int bk_resolve(bk *b, const char *id, char *key, size_t key_len, char *err,
               size_t err_len);

/*
 * Download key, authenticate it whole, check its SHA-256, and with apply
 * feed the dump to the store's store_restore (started only once the
 * object is verified); without apply only verify. sha256 (65 bytes) and
 * key_id (BK_KEY_ID_LEN) receive the dump's hash and the key's id.
 * Returns VBX_OK; VBX_EEXIST (a backup or restore runs); VBX_ENOTFOUND;
 * VBX_EDENIED (the object was refused: corrupt, truncated, reordered, or
 * no key); VBX_ERR.
 */
int bk_restore(bk *b, const char *key, bool apply, char *sha256, char *key_id,
               char *err, size_t err_len);

/* Apply retention now. Returns VBX_OK or VBX_ERR (logged). */
int bk_retention_apply(bk *b);

/* ---- routes.c ---- */
int bk_routes_add(bk *b);
#endif

#endif
