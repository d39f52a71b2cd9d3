/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipeline.c - backup (fd -> gzip -> encrypt -> S3) and restore (S3 ->
 * decrypt -> verified temp file -> gunzip -> fd); see pipeline.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include <vibebox/util.h>

#include "pipeline.h"

#define IO_BUF (64 * 1024)

struct sink_ctx {
	s3_upload *u;
	bk_dec *dec;
	int fd;
	int64_t bytes;
	char err[S3_ERR_MAX];
};

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int to_upload(void *arg, const void *data, size_t len)
{
	struct sink_ctx *s = arg;

	s->bytes += (int64_t)len;
	return s3_upload_write(s->u, data, len, s->err, sizeof(s->err));
}

static void digest_hex(EVP_MD_CTX *md, char out[65])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(md, h, &n);
	vbx_hex_encode(h, 32, out, 65);
}

/* Deflate in (flush: Z_NO_FLUSH or Z_FINISH) into the encoder. */
static int deflate_into(z_stream *z, int flush, bk_enc *enc, unsigned char *out)
{
	int zr;

	do {
		z->next_out = out;
		z->avail_out = IO_BUF;
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return -1;
		if (bk_enc_write(enc, out, IO_BUF - z->avail_out) != 0)
			return -1;
	} while (z->avail_out == 0 ||
	         (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

/* Read fd to its end through SHA-256 and gzip into enc. */
static int compress_fd(int fd, bk_enc *enc, EVP_MD_CTX *md, bk_result *res,
                       char *err, size_t err_len)
{
	unsigned char *in = malloc(IO_BUF), *out = malloc(IO_BUF);
	z_stream z = {0};
	int rc = -1;

	if (!in || !out ||
	    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	            Z_OK) {
		snprintf(err, err_len, "out of memory (gzip)");
		free(in), free(out);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, in, IO_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_len, "reading the dump: %s",
			         strerror(errno));
			break;
		}
		EVP_DigestUpdate(md, in, (size_t)n);
		res->dump_bytes += n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		if (deflate_into(&z, n ? Z_NO_FLUSH : Z_FINISH, enc, out) !=
		    0) {
			snprintf(err, err_len, "%s", bk_enc_error(enc));
			break;
		}
		if (n == 0) {
			rc = 0;
			break;
		}
	}
	deflateEnd(&z);
	free(in);
	free(out);
	return rc;
}

int bk_backup_fd(const s3_cfg *s3, const bk_keyring *keys, int fd,
                 const char *key, bk_check_fn *check, void *check_arg,
                 bk_result *res, char *err, size_t err_len)
{
	const bk_key *k = bk_keyring_current(keys);
	struct sink_ctx s = {.fd = -1};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bk_enc *enc = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	snprintf(res->key_id, sizeof(res->key_id), "%s", k->id_hex);
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		snprintf(err, err_len, "SHA-256 failed to start");
		EVP_MD_CTX_free(md);
		return -1;
	}
	s.u = s3_upload_begin(s3, key, NULL, k->id_hex, err, err_len);
	if (s.u)
		enc = bk_enc_new(k, 0, to_upload, &s, err, err_len);
	if (enc && compress_fd(fd, enc, md, res, err, err_len) == 0) {
		if (bk_enc_finish(enc) != 0)
			snprintf(err, err_len, "%s", bk_enc_error(enc));
		else if (!check || check(check_arg, err, err_len) == 0)
			rc = s3_upload_complete(s.u, err, err_len);
	}
	if (rc != 0 && s.err[0]) /* the upload's reason beats "output failed" */
		snprintf(err, err_len, "%s", s.err);
	digest_hex(md, res->sha256);
	EVP_MD_CTX_free(md);
	bk_enc_free(enc);
	res->object_bytes = s.bytes;
	s3_upload_free(s.u); /* aborts unless complete */
	if (rc == 0 && s3_set_metadata(s3, key, res->sha256, res->key_id, err,
	                               err_len) != 0) {
		char ignored[S3_ERR_MAX];
		s3_delete(s3, key, ignored, sizeof(ignored));
		rc = -1;
	}
	return rc;
}

/* ---- restore ---- */

static int to_decoder(void *arg, const void *data, size_t len)
{
	struct sink_ctx *s = arg;

	s->bytes += (int64_t)len;
	return bk_dec_write(s->dec, data, len);
}

static int to_fd(void *arg, const void *data, size_t len)
{
	return write_all(*(int *)arg, data, len);
}

/* Gunzip tmp (from its start) into fd, hashing the output. */
static int gunzip_fd(int tmp, int fd, EVP_MD_CTX *md, bk_result *res, char *err,
                     size_t err_len)
{
	unsigned char *in = malloc(IO_BUF), *out = malloc(IO_BUF);
	z_stream z = {0};
	int zr = Z_OK, rc = -1;

	if (!in || !out || inflateInit2(&z, 15 + 16) != Z_OK) {
		snprintf(err, err_len, "out of memory (gunzip)");
		free(in), free(out);
		return -1;
	}
	while (zr != Z_STREAM_END) {
		ssize_t n = read(tmp, in, IO_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "gunzip: %s",
			         n ? strerror(errno)
			           : "the gzip stream ends early");
			goto out;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = out;
			z.avail_out = IO_BUF;
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END) {
				snprintf(err, err_len, "gunzip: %s",
				         z.msg ? z.msg : "corrupt data");
				goto out;
			}
			size_t got = IO_BUF - z.avail_out;
			EVP_DigestUpdate(md, out, got);
			res->dump_bytes += (int64_t)got;
			if (write_all(fd, out, got) != 0) {
				snprintf(err, err_len, "writing the dump: %s",
				         strerror(errno));
				goto out;
			}
		} while (z.avail_out == 0 && zr != Z_STREAM_END);
	}
	rc = 0;
out:
	inflateEnd(&z);
	free(in);
	free(out);
	return rc;
}

/* Download and authenticate key into tmp. */
static int fetch_verified(const s3_cfg *s3, const bk_keyring *keys,
                          const char *key, int tmp, bk_result *res, char *err,
                          size_t err_len)
{
	struct sink_ctx s = {.fd = tmp};
	int rc;

	s.dec = bk_dec_new(keys, to_fd, &s.fd);
	if (!s.dec) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	rc = s3_get(s3, key, to_decoder, &s, err, err_len);
	if (rc == 0)
		rc = bk_dec_finish(s.dec);
	if (rc != 0 && bk_dec_error(s.dec)[0]) {
		snprintf(err, err_len, "%s: refused: %s", key,
		         bk_dec_error(s.dec));
		rc = -2;
	}
	snprintf(res->key_id, sizeof(res->key_id), "%s", bk_dec_key_id(s.dec));
	res->object_bytes = s.bytes;
	bk_dec_free(s.dec);
	return rc;
}

int bk_restore_fd(const s3_cfg *s3, const bk_keyring *keys, const char *key,
                  const char *tmpdir, int fd, bk_check_fn *verified,
                  void *verified_arg, bk_result *res, char *err, size_t err_len)
{
	char path[4096];
	s3_object meta;
	EVP_MD_CTX *md = NULL;
	int tmp, rc;

	memset(res, 0, sizeof(*res));
	rc = s3_head(s3, key, &meta, err, err_len);
	if (rc != 0) {
		if (rc == 1)
			snprintf(err, err_len,
			         "%s: no such backup in bucket %s", key,
			         s3->bucket);
		return rc == 1 ? -3 : -1;
	}
	snprintf(path, sizeof(path), "%s/vibebox-restore-XXXXXX", tmpdir);
	tmp = mkstemp(path);
	if (tmp < 0) {
		snprintf(err, err_len, "temp file in %s: %s", tmpdir,
		         strerror(errno));
		return -1;
	}
	unlink(path);
	rc = fetch_verified(s3, keys, key, tmp, res, err, err_len);
	if (rc == 0 && verified && verified(verified_arg, err, err_len) != 0)
		rc = -1;
	if (rc == 0 && lseek(tmp, 0, SEEK_SET) != 0) {
		snprintf(err, err_len, "temp file: %s", strerror(errno));
		rc = -1;
	}
	md = EVP_MD_CTX_new();
	if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
		rc = -1, snprintf(err, err_len, "SHA-256 failed to start");
	if (rc == 0)
		rc = gunzip_fd(tmp, fd, md, res, err, err_len);
	if (rc == 0) {
		digest_hex(md, res->sha256);
		if (meta.sha256[0] && strcmp(meta.sha256, res->sha256) != 0) {
			snprintf(err, err_len,
			         "%s: the dump's SHA-256 %s differs from the "
			         "object's x-amz-meta-sha256 %s",
			         key, res->sha256, meta.sha256);
			rc = -1;
		}
	}
	EVP_MD_CTX_free(md);
	close(tmp);
	return rc;
}
