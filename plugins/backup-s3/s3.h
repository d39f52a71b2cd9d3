/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3.h - a small S3 client for backups: multipart upload streamed in
 * parts, ListObjectsV2, GET streamed, HEAD with metadata, DELETE.
 *
 * Requests are signed by libcurl's own AWS SigV4 (CURLOPT_AWS_SIGV4,
 * "aws:amz:<region>:s3"), path-style (<endpoint>/<bucket>/<key>). Debian's
 * curl 7.88 signs some requests wrongly, so: every query parameter has an
 * '=' ("?uploads="), parameters go in sorted order with percent-encoded
 * values, object keys hold only unreserved characters and '/', and we send
 * x-amz-content-sha256 (the SHA-256 of the body) ourselves.
 *
 * Every function is blocking (call from a worker thread, never from the
 * event loop) and fills err (S3_ERR_MAX bytes) with what failed: the
 * request, the HTTP status and S3's error code and message.
 */
#ifndef BK_S3_H
#define BK_S3_H

#include <stddef.h>
#include <stdint.h>

#define S3_ERR_MAX 512
#define S3_KEY_MAX 1024
#define S3_PART_SIZE (8 * 1024 * 1024)

typedef struct s3_cfg {
	const char *endpoint; /* "http://127.0.0.1:9000", no trailing '/' */
	const char *region;
	const char *bucket;
	const char *access_key_id;
	const char *secret_access_key;
	size_t part_size; /* 0: S3_PART_SIZE; S3 wants >= 5 MiB but the last */
} s3_cfg;

/* An object's metadata (HEAD) or a listing's entry. */
typedef struct s3_object {
	char key[S3_KEY_MAX];
	int64_t size;
	char last_modified[40]; /* ISO 8601, as S3 gives it */
	char sha256[65];        /* x-amz-meta-sha256 ("" if none) */
	char key_id[33];        /* x-amz-meta-key-id ("" if none) */
} s3_object;

/* Is key usable as an object key here (1..S3_KEY_MAX-1 bytes of A-Z a-z
 * 0-9 - . _ ~ and '/', not starting with '/')? */
int s3_key_ok(const char *key);

/* ---- multipart upload ---- */

typedef struct s3_upload s3_upload;

/*
 * Start a multipart upload of key with metadata sha256 and key-id (either
 * NULL: not sent; both are sent on CreateMultipartUpload, the only time S3
 * takes metadata). cfg is copied. Returns NULL with err set.
 */
s3_upload *s3_upload_begin(const s3_cfg *cfg, const char *key,
                           const char *meta_sha256, const char *meta_key_id,
                           char *err, size_t err_len);

/* Append data; a full part is uploaded. Returns 0, or -1 with err set. */
int s3_upload_write(s3_upload *u, const void *data, size_t len, char *err,
                    size_t err_len);

/*
 * Upload the last part and complete the upload. Returns 0 (the object
 * exists), or -1 with err set. Either way call s3_upload_free().
 */
int s3_upload_complete(s3_upload *u, char *err, size_t err_len);

/* Abort the upload unless it completed (S3 discards the parts), then free
 * it; u may be NULL. */
void s3_upload_free(s3_upload *u);

/* Total bytes written so far. */
int64_t s3_upload_size(const s3_upload *u);

/* ---- objects ---- */

/*
 * Call cb once per object whose key starts with prefix, in key order,
 * following continuation tokens. cb returning non-zero stops the list.
 * Returns 0, the cb's value, or -1 with err set.
 */
int s3_list(const s3_cfg *cfg, const char *prefix,
            int (*cb)(void *arg, const s3_object *o), void *arg, char *err,
            size_t err_len);

/* GET key into sink (0: go on, non-zero: stop). Returns 0, or -1. */
int s3_get(const s3_cfg *cfg, const char *key,
           int (*sink)(void *arg, const void *data, size_t len), void *arg,
           char *err, size_t err_len);

/* HEAD key into *o. Returns 0, 1 when there is no such object, or -1. */
int s3_head(const s3_cfg *cfg, const char *key, s3_object *o, char *err,
            size_t err_len);

/* DELETE key (no such key is success, as in S3). Returns 0, or -1. */
int s3_delete(const s3_cfg *cfg, const char *key, char *err, size_t err_len);

/*
 * Replace key's metadata with sha256 and key_id (a copy onto itself:
 * S3 objects are immutable; objects up to 5 GB). Returns 0, or -1.
 */
int s3_set_metadata(const s3_cfg *cfg, const char *key, const char *sha256,
                    const char *key_id, char *err, size_t err_len);

/* ---- XML (s3xml.c) ---- */

/*
 * Find the first <tag>text</tag> in xml[0..len) at or after *pos and copy
 * its text, entities decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;
 * below 128), into out (out_len bytes, NUL-terminated). *pos moves past
 * the closing tag. Returns 0; 1 when there is none; -1 when the text is
 * malformed or does not fit.
 */
int s3_xml_text(const char *xml, size_t len, size_t *pos, const char *tag,
                char *out, size_t out_len);

/*
 * Parse a ListObjectsV2 result: cb once per <Contents>, then *truncated
 * and next_token (from <IsTruncated> and <NextContinuationToken>). Returns
 * 0, the cb's value, or -1 (malformed: err says what).
 */
int s3_xml_list(const char *xml, size_t len,
                int (*cb)(void *arg, const s3_object *o), void *arg,
                int *truncated, char *next_token, size_t token_len, char *err,
                size_t err_len);

#endif
