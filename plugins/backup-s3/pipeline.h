/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipeline.h - a backup's two directions, streamed with bounded memory:
 *
 *   backup:  fd (the dump) -> SHA-256 + gzip -> encrypt -> S3 multipart
 *   restore: S3 GET -> decrypt -> temp file (the gzip'd dump, verified
 *            whole) -> gunzip + SHA-256 -> fd
 *
 * A restore writes nothing to its fd before the whole object has
 * authenticated, and fails (after the fact, but loudly) if the dump's
 * SHA-256 differs from the object's x-amz-meta-sha256.
 */
#ifndef BK_PIPELINE_H
#define BK_PIPELINE_H

#include <stdint.h>

#include "bkfmt.h"
#include "s3.h"

typedef struct bk_result {
	int64_t dump_bytes;   /* the plaintext dump */
	int64_t object_bytes; /* what was uploaded or downloaded */
	char sha256[65];      /* of the dump */
	char key_id[BK_KEY_ID_LEN];
} bk_result;

/*
 * Called once fd reached its end, before the upload is completed: did the
 * dump succeed? Returns 0, or -1 with err set (the upload is aborted: a
 * failed pg_dump never leaves a partial object).
 */
typedef int bk_check_fn(void *arg, char *err, size_t err_len);

/*
 * Read the dump from fd to its end and upload it as object key, encrypted
 * with keys' current key; check (may be NULL) decides at the end. Metadata:
 * x-amz-meta-key-id at once, and x-amz-meta-sha256 by a copy onto itself once
 * the hash is known. On any failure the multipart upload is aborted: no object
 * appears. Returns 0, or -1 with err set. Does not close fd.
 */
int bk_backup_fd(const s3_cfg *s3, const bk_keyring *keys, int fd,
                 const char *key, bk_check_fn *check, void *check_arg,
                 bk_result *res, char *err, size_t err_len);

/*
 * Download object key, check it whole, call verified (may be NULL; a
 * non-zero return stops here), then write the dump to fd. tmpdir holds
 * the temp file (the object's size, gzip'd). Returns 0; -2 when the
 * object was refused (it does not authenticate: corrupt, truncated,
 * reordered, or no key for it; nothing was written to fd and verified
 * was not called); -3 when there is no such object; -1 for any other
 * failure; err set. Does not close fd.
 */
int bk_restore_fd(const s3_cfg *s3, const bk_keyring *keys, const char *key,
                  const char *tmpdir, int fd, bk_check_fn *verified,
                  void *verified_arg, bk_result *res, char *err,
                  size_t err_len);

#endif
