/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c - `vibebox admin backup ...`, instance admins' backups through
 * the backup-s3 plugin's API:
 *
 *   admin backup ls                      the backups in the bucket
 *   admin backup run                     take one now (202; follow with ls)
 *   admin backup verify NAME|latest      check one whole, restore nothing
 *   admin backup restore NAME|latest     restore it into the database
 *
 * NAME is a backup's object name ("db/20261207T030000Z.dump.gz.enc") or
 * the time in it ("20261207T030000Z").
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int usage(const char *why)
{
	if (why)
		cli_err("%s", why);
	fputs("usage: vibebox admin backup ls | run | verify NAME|latest | "
	      "restore NAME|latest\n",
	      stderr);
	return CLI_EUSAGE;
}

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static int backup_ls(cli_ctx *c)
{
	static const char *const head[] = {"NAME", "TIME",   "SIZE",
	                                   "KEY",  "STATUS", NULL};
	cJSON *out = NULL;
	cli_table t;
	int rc = cli_api(c, "GET", "/admin/backups", NULL, &out,
	                 "listing backups");

	if (rc != CLI_OK || c->json) {
		if (rc == CLI_OK)
			cli_print_json(out);
		cJSON_Delete(out);
		return rc;
	}
	if (cli_table_init(&t, head) < 0) {
		cJSON_Delete(out);
		return CLI_ESERVER;
	}
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(out, "backups"))
	{
		char size[32];
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(b, "size");
		snprintf(size, sizeof(size), "%.0f",
		         cJSON_IsNumber(s) ? s->valuedouble : 0.0);
		const char *cells[] = {str_of(b, "name"), str_of(b, "time"),
		                       size, str_of(b, "keyId"),
		                       str_of(b, "status")};
		cli_table_add(&t, cells);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	if (strcmp(str_of(out, "running"), "-") != 0)
		printf("running: %s\n", str_of(out, "running"));
	if (strcmp(str_of(out, "lastError"), "-") != 0)
		printf("last error: %s\n", str_of(out, "lastError"));
	cJSON_Delete(out);
	return CLI_OK;
}

/* "db/20261207T030000Z.dump.gz.enc" or "20261207T030000Z" -> the id. */
static int backup_id(const char *name, char *id, size_t len)
{
	const char *base = strrchr(name, '/');
	size_t n;

	base = base ? base + 1 : name;
	n = strcspn(base, ".");
	if (n == 0 || n >= len || strchr(base, '?') || strchr(base, '%'))
		return -1;
	memcpy(id, base, n);
	id[n] = '\0';
	return 0;
}

static int backup_act(cli_ctx *c, const char *what, const char *name)
{
	char id[64], path[160], doing[96];
	cJSON *out = NULL;

	if (backup_id(name, id, sizeof(id)) != 0)
		return usage("NAME is a backup's name, its time "
		             "(20261207T030000Z) or latest");
	snprintf(path, sizeof(path), "/admin/backups/%s/%s", id, what);
	snprintf(doing, sizeof(doing), "%s backup %s",
	         strcmp(what, "restore") == 0 ? "restoring" : "verifying", id);
	int rc = cli_api(c, "POST", path, NULL, &out, doing);
	if (rc == CLI_OK) {
		if (c->json)
			cli_print_json(out);
		else
			printf("%s %s (sha256 %s, key %s)\n",
			       str_of(out, "name"), str_of(out, "status"),
			       str_of(out, "sha256"), str_of(out, "keyId"));
	}
	cJSON_Delete(out);
	return rc;
}

static int backup_run(cli_ctx *c)
{
	cJSON *out = NULL;
	int rc = cli_api(c, "POST", "/admin/backups", NULL, &out,
	                 "starting a backup");

	if (rc == CLI_OK) {
		if (c->json)
			cli_print_json(out);
		else
			printf("started %s (follow it: vibebox admin backup "
			       "ls)\n",
			       str_of(out, "name"));
	}
	cJSON_Delete(out);
	return rc;
}

int cli_cmd_admin(cli_ctx *c, int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "backup") != 0)
		return usage(argc < 2 ? NULL : "admin has one command: backup");
	const char *sub = argv[2];
	int rc = cli_need_login(c);
	if (rc != CLI_OK)
		return rc;
	if ((strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) && argc == 3)
		return backup_ls(c);
	if (strcmp(sub, "run") == 0 && argc == 3)
		return backup_run(c);
	if ((strcmp(sub, "verify") == 0 || strcmp(sub, "restore") == 0) &&
	    argc == 4)
		return backup_act(c, sub, argv[3]);
	if (strcmp(sub, "restore") == 0 && argc > 4)
		return usage("restore takes NAME only: restoring into another "
		             "database (--target-db) is not supported yet");
	return usage(NULL);
}
