/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bkrun.c - backup-s3's pipeline and S3 client from the command line, for
 * tests/integration/test_backup_s3.py (no daemon needed):
 *
 *   bkrun backup KEY  < dump        bkrun restore KEY > dump
 *   bkrun list PREFIX               bkrun head KEY
 *   bkrun delete KEY
 *
 * S3 and keys from the environment: BK_ENDPOINT BK_REGION BK_BUCKET
 * BK_ACCESS BK_SECRET BK_KEYFILE [BK_PART_SIZE]. With BK_DUMP_FAILS set,
 * backup plays a dump that exits with an error once its output ended (as
 * a pg_dump that fails late). Exit 0, or 1 with the error on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v) {
		fprintf(stderr, "bkrun: set %s\n", name);
		exit(2);
	}
	return v;
}

static int print(void *arg, const s3_object *o)
{
	(void)arg;
	printf("%s %lld %s\n", o->key, (long long)o->size, o->last_modified);
	return 0;
}

static int dump_fails(void *arg, char *err, size_t err_len)
{
	(void)arg;
	snprintf(err, err_len, "the dump failed (BK_DUMP_FAILS)");
	return -1;
}

static int run(const s3_cfg *cfg, const char *cmd, const char *arg, char *err)
{
	bk_keyring *keys = NULL;
	bk_result res;
	s3_object o;
	int rc;

	if (strcmp(cmd, "list") == 0)
		return s3_list(cfg, arg, print, NULL, err, S3_ERR_MAX);
	if (strcmp(cmd, "delete") == 0)
		return s3_delete(cfg, arg, err, S3_ERR_MAX);
	if (strcmp(cmd, "head") == 0) {
		rc = s3_head(cfg, arg, &o, err, S3_ERR_MAX);
		if (rc == 1)
			snprintf(err, S3_ERR_MAX, "%s: not found", arg);
		else if (rc == 0)
			printf("size=%lld sha256=%s key_id=%s\n",
			       (long long)o.size, o.sha256, o.key_id);
		return rc ? -1 : 0;
	}
	if (bk_keyring_load(env("BK_KEYFILE"), &keys, err, S3_ERR_MAX) != 0)
		return -1;
	if (strcmp(cmd, "backup") == 0)
		rc = bk_backup_fd(cfg, keys, 0, arg,
		                  getenv("BK_DUMP_FAILS") ? dump_fails : NULL,
		                  NULL, &res, err, S3_ERR_MAX);
	else if (strcmp(cmd, "restore") == 0)
		rc = bk_restore_fd(cfg, keys, arg, "/tmp", 1, NULL, NULL, &res,
		                   err, S3_ERR_MAX)
		             ? -1
		             : 0;
	else
		rc = -2;
	if (rc == 0)
		fprintf(stderr, "dump=%lld object=%lld sha256=%s key_id=%s\n",
		        (long long)res.dump_bytes, (long long)res.object_bytes,
		        res.sha256, res.key_id);
	bk_keyring_free(keys);
	return rc;
}

int main(int argc, char **argv)
{
	char err[S3_ERR_MAX] = "";
	s3_cfg cfg = {0};

	if (argc != 3) {
		fprintf(stderr, "usage: bkrun backup|restore|list|head|delete "
		                "ARG\n");
		return 2;
	}
	cfg.endpoint = env("BK_ENDPOINT");
	cfg.region = env("BK_REGION");
	cfg.bucket = env("BK_BUCKET");
	cfg.access_key_id = env("BK_ACCESS");
	cfg.secret_access_key = env("BK_SECRET");
	if (getenv("BK_PART_SIZE"))
		cfg.part_size = strtoul(getenv("BK_PART_SIZE"), NULL, 10);
	int rc = run(&cfg, argv[1], argv[2], err);
	if (rc == -2) {
		fprintf(stderr, "bkrun: unknown command %s\n", argv[1]);
		return 2;
	}
	if (rc != 0) {
		fprintf(stderr, "bkrun: %s\n", err);
		return 1;
	}
	return 0;
}
