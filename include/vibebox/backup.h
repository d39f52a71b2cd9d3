/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/backup.h - database backups (ABI 1.3, additive: no host-table
 * slot): the backup_run_now hook, which `vibeboxd --backup-now` runs, and
 * the backup_completed and backup_failed events. The backup-s3 plugin
 * provides and publishes them.
 */
#ifndef VIBEBOX_BACKUP_H
#define VIBEBOX_BACKUP_H

#include <vibebox/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBX_BACKUP_NAME_LEN 256 /* an object name and its NUL */
#define VBX_BACKUP_ERR_LEN 512  /* a failure's reason and its NUL */

/*
 * backup_run_now(name, err): take one backup now, in the calling thread,
 * and return when it has succeeded or failed (its retries and retention
 * included). name (VBX_BACKUP_NAME_LEN bytes, the caller's) receives the
 * object's name, err (VBX_BACKUP_ERR_LEN bytes) the reason of a failure.
 * Returns VBX_OK; VBX_EEXIST when a backup is running already; VBX_ERR
 * when it failed (err says why); VBX_EUNAVAIL when no plugin provides
 * backups. The daemon calls it for `vibeboxd --backup-now` after every
 * plugin has started, then stops and exits 0 on VBX_OK, else 1.
 */
VBX_HOOK_DECLARE(backup_run_now, PROVIDER, VBX_EUNAVAIL,
                 (char *name, char *err), (name, err))

/* A backup's outcome, for backup_completed and backup_failed. */
typedef struct vbx_backup_event {
	uint32_t version;                /* 1 */
	char name[VBX_BACKUP_NAME_LEN];  /* the object, e.g.
	                                    "db/20261207T030000Z.dump.gz.enc" */
	char reason[VBX_BACKUP_ERR_LEN]; /* failed: why; completed: "" */
	int64_t size_bytes;              /* completed: the object's size */
	int64_t started_ms, finished_ms; /* Unix time in milliseconds */
	uint32_t attempt;                /* 1 for the first try */
} vbx_backup_event;

/* backup_completed: a backup is in the bucket, whole and verified. */
VBX_EVENT_DECLARE(backup_completed, vbx_backup_event, NULL)
/* backup_failed: an attempt failed and left nothing in the bucket. */
VBX_EVENT_DECLARE(backup_failed, vbx_backup_event, NULL)

#ifdef __cplusplus
}
#endif

#endif
