/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - backup-s3's block: where the bucket is, the credentials and
 * the encryption key (each inline or as a *_file), when to run and what
 * to keep. validate and init share it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bk.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* endpoint: http(s)://host[:port], no path, no trailing '/'. */
static int check_endpoint(const vbx_config *cfg, const char *e)
{
	if (!e || !e[0])
		return vbx_cfg_error(cfg, "endpoint",
		                     "is required: the S3 server's URL, e.g. "
		                     "\"https://s3.eu-west-1.amazonaws.com\"");
	if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)
		return vbx_cfg_error(
		        cfg, "endpoint",
		        "\"%s\" must start with http:// or https://", e);
	const char *host = strstr(e, "//") + 2;
	if (!host[0] || strchr(host, '/') || strchr(host, '?'))
		return vbx_cfg_error(cfg, "endpoint",
		                     "\"%s\": give the server only "
		                     "(scheme://host[:port]), without a path: "
		                     "the bucket goes in `bucket`",
		                     e);
	return VBX_OK;
}

static int check_names(const vbx_config *cfg, const char *bucket,
                       const char *prefix)
{
	int rc = VBX_OK;

	if (!bucket || !bucket[0] || strchr(bucket, '/') || !s3_key_ok(bucket))
		rc = vbx_cfg_error(cfg, "bucket",
		                   "is required: a bucket name (letters, "
		                   "digits, '-', '.')");
	if (prefix && prefix[0] && !s3_key_ok(prefix))
		rc = vbx_cfg_error(
		        cfg, "prefix",
		        "\"%s\": use letters, digits, '-', '.', '_', "
		        "'~' and '/' (e.g. \"db/\"), not starting "
		        "with '/'",
		        prefix);
	return rc;
}

static int read_keys(const vbx_config *cfg, bk_settings *s)
{
	char *text = NULL, err[BK_ERR_MAX];
	int rc = vbx_cfg_secret(cfg, "encryption_key", 1, &text);

	if (rc != VBX_OK)
		return rc;
	if (bk_keyring_parse(text, strlen(text), &s->keys, err, sizeof(err)))
		rc = vbx_cfg_error(cfg, "encryption_key_file", "%s", err);
	wipe_free(text);
	return rc;
}

static int read_schedule(const vbx_config *cfg, bk_settings *s)
{
	const char *sched = NULL;
	char err[256];
	int rc = vbx_cfg_string(cfg, "schedule", "0 3 * * *", &sched);

	if (rc != VBX_OK)
		return rc;
	s->scheduled = strcmp(sched, "off") != 0;
	if (s->scheduled && bk_cron_parse(sched, &s->cron, err, sizeof(err)))
		return vbx_cfg_error(cfg, "schedule",
		                     "%s (or \"off\": on demand only)", err);
	return VBX_OK;
}

static int read_times(const vbx_config *cfg, bk_settings *s)
{
	int64_t day = 86400000LL;
	int rc = VBX_OK;

	rc |= vbx_cfg_duration(cfg, "retention", "30d", 60000, 3650 * day,
	                       &s->retention_ms);
	rc |= vbx_cfg_int(cfg, "keep_min", 1, 10000, 3, &s->keep_min);
	rc |= vbx_cfg_duration(cfg, "retry_delay", "1m", 100, day,
	                       &s->retry_delay_ms);
	rc |= vbx_cfg_duration(cfg, "retry_window", "1h", 0, day,
	                       &s->retry_window_ms);
	rc |= vbx_cfg_size(cfg, "part_size", "8MiB", 5 * 1024 * 1024,
	                   (uint64_t)1 << 30, &s->part_size);
	return rc ? VBX_EINVAL : VBX_OK;
}

int bk_settings_parse(vbx_plugin *p, const vbx_config *cfg, bk_settings *s)
{
	const char *endpoint = NULL, *region = NULL, *bucket = NULL;
	const char *prefix = NULL, *tmpdir = NULL;
	int rc = VBX_OK;

	memset(s, 0, sizeof(*s));
	rc |= vbx_cfg_string(cfg, "endpoint", NULL, &endpoint);
	rc |= vbx_cfg_string(cfg, "region", "us-east-1", &region);
	rc |= vbx_cfg_string(cfg, "bucket", NULL, &bucket);
	rc |= vbx_cfg_string(cfg, "prefix", "", &prefix);
	rc |= vbx_cfg_string(cfg, "tmpdir", vbx_state_dir(p), &tmpdir);
	rc |= vbx_cfg_secret(cfg, "access_key_id", 1, &s->access_key_id);
	rc |= vbx_cfg_secret(cfg, "secret_access_key", 1,
	                     &s->secret_access_key);
	rc |= read_keys(cfg, s);
	rc |= read_schedule(cfg, s);
	rc |= read_times(cfg, s);
	if (rc == VBX_OK)
		rc |= check_endpoint(cfg, endpoint);
	if (rc == VBX_OK)
		rc |= check_names(cfg, bucket, prefix);
	if (rc == VBX_OK && (!region[0] || strchr(region, ':')))
		rc = vbx_cfg_error(cfg, "region", "\"%s\" is not a region",
		                   region);
	s->endpoint = dup_or_null(endpoint);
	s->region = dup_or_null(region);
	s->bucket = dup_or_null(bucket);
	s->prefix = dup_or_null(prefix);
	s->tmpdir = dup_or_null(tmpdir && tmpdir[0] ? tmpdir : "/tmp");
	if (rc != VBX_OK) {
		bk_settings_free(s);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

void bk_settings_free(bk_settings *s)
{
	free(s->endpoint);
	free(s->region);
	free(s->bucket);
	free(s->prefix);
	free(s->tmpdir);
	wipe_free(s->access_key_id);
	wipe_free(s->secret_access_key);
	bk_keyring_free(s->keys);
	memset(s, 0, sizeof(*s));
}
