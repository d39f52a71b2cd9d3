/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolve.c - commands take an environment or a project by id, slug or
 * name; the API wants ids. A UUID is used as it is; anything else is
 * looked up in the list the caller may see, and more than one match is an
 * error that lists the candidates instead of a guess.
 */
#include "vbx_build.h"

#include <string.h>

#include <vibebox/util.h>

#include "cli.h"

#define PAGE_LIMIT 100
#define PAGES_MAX 1000 /* 100,000 rows: a server that never stops */

static bool field_is(const cJSON *o, const char *key, const char *q)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && strcmp(v->valuestring, q) == 0;
}

int cli_match(const cJSON *items, const char *q, const cJSON **found)
{
	static const char *const keys[] = {"id", "slug", "name"};
	*found = NULL;
	for (size_t k = 0; k < 3; k++) {
		int n = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, items)
		{
			if (!field_is(it, keys[k], q))
				continue;
			if (!n++)
				*found = it;
		}
		if (n)
			return n;
	}
	return 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

void cli_print_candidates(const cJSON *items, const char *q)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, items)
	{
		if (field_is(it, "slug", q) || field_is(it, "name", q))
			fprintf(stderr, "  %s  %s (%s)%s%s\n", str_of(it, "id"),
			        str_of(it, "slug"), str_of(it, "name"),
			        cJSON_GetObjectItem(it, "projectId")
			                ? "  project "
			                : "",
			        cJSON_GetObjectItem(it, "projectId")
			                ? str_of(it, "projectId")
			                : "");
	}
}

/* Move the rows of one page's data into all; returns how many. */
static int take_rows(cJSON *page, cJSON *all)
{
	cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(page, "data");
	int n = 0;
	if (!cJSON_IsArray(data)) {
		cJSON_Delete(data);
		return -1;
	}
	cJSON *row;
	while ((row = cJSON_DetachItemFromArray(data, 0))) {
		cJSON_AddItemToArray(all, row);
		n++;
	}
	cJSON_Delete(data);
	return n;
}

static double total_of(const cJSON *page)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(page, "pagination");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "total");
	return cJSON_IsNumber(t) ? t->valuedouble : -1;
}

int cli_list_all(cli_ctx *c, const char *path, cJSON **out, const char *what)
{
	cJSON *all = cJSON_CreateArray();
	char url[2048];
	int rc = CLI_OK;
	for (int page = 1; page <= PAGES_MAX; page++) {
		snprintf(url, sizeof(url), "%s%cpage=%d&limit=%d", path,
		         strchr(path, '?') ? '&' : '?', page, PAGE_LIMIT);
		cJSON *answer = NULL;
		rc = cli_api(c, "GET", url, NULL, &answer, what);
		if (rc != CLI_OK)
			break;
		int n = take_rows(answer, all);
		double total = total_of(answer);
		cJSON_Delete(answer);
		if (n < 0) {
			cli_err("%s: the answer has no data array", what);
			rc = CLI_ESERVER;
			break;
		}
		if (n < PAGE_LIMIT || cJSON_GetArraySize(all) >= total)
			break;
	}
	if (rc != CLI_OK)
		cJSON_Delete(all);
	else
		*out = all;
	return rc;
}

/* q among the rows of path into id; what names the kind ("project"). */
static int resolve(cli_ctx *c, const char *path, const char *kind,
                   const char *q, char *id, size_t idlen)
{
	char what[300];
	snprintf(what, sizeof(what), "looking up %s \"%s\"", kind, q);
	cJSON *rows = NULL;
	int rc = cli_list_all(c, path, &rows, what);
	if (rc != CLI_OK)
		return rc;
	const cJSON *found;
	int n = cli_match(rows, q, &found);
	if (n == 1 && cJSON_IsString(cJSON_GetObjectItem(found, "id"))) {
		snprintf(id, idlen, "%s", str_of(found, "id"));
	} else if (n == 0) {
		cli_err("no %s is called \"%s\"%s", kind, q,
		        strcmp(kind, "environment") == 0
		                ? " (see `vibebox env ls`)"
		                : "");
		rc = CLI_ENOTFOUND;
	} else {
		cli_err("\"%s\" names %d %ss; use an id:", q, n, kind);
		cli_print_candidates(rows, q);
		rc = CLI_EUSAGE;
	}
	cJSON_Delete(rows);
	return rc;
}

int cli_resolve_project(cli_ctx *c, const char *p, char *id, size_t idlen)
{
	if (vbx_uuid_ok(p)) {
		snprintf(id, idlen, "%s", p);
		return CLI_OK;
	}
	return resolve(c, "/projects", "project", p, id, idlen);
}

int cli_resolve_env(cli_ctx *c, const char *e, const char *project, char *id,
                    size_t idlen)
{
	if (vbx_uuid_ok(e)) {
		snprintf(id, idlen, "%s", e);
		return CLI_OK;
	}
	char path[256] = "/environments";
	if (project) {
		char pid[64], enc[200];
		int rc = cli_resolve_project(c, project, pid, sizeof(pid));
		if (rc != CLI_OK)
			return rc;
		vbx_percent_encode(pid, strlen(pid), enc, sizeof(enc));
		snprintf(path, sizeof(path), "/environments?projectId=%s", enc);
	}
	return resolve(c, path, "environment", e, id, idlen);
}
