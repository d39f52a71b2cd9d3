/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - the admin API of backups (instance admins only):
 *   POST /api/v1/admin/backups  start one now: 202 {id, name, status}, or
 *                               409 CONFLICT while one runs
 *   GET  /api/v1/admin/backups  {backups: [{name, time, size, keyId,
 *                               status}], running, lastError}
 *   POST /api/v1/admin/backups/{id}/restore   id: "latest" or a backup's
 *   POST /api/v1/admin/backups/{id}/verify    time, "20261207T030000Z"
 *        download, authenticate every chunk, check the SHA-256, and
 *        (restore) only then feed the store's restore; 200 {name, status,
 *        sha256, keyId}; 404; 409 while a backup or restore runs; 422
 *        BACKUP_REFUSED when the object does not authenticate (nothing
 *        was restored). Synchronous: the answer comes when it is done.
 * All answer 502 BAD_GATEWAY with S3's reason when the bucket fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk.h"

static int post_backups(void *ud, vbx_request *req)
{
	char name[VBX_BACKUP_NAME_LEN], id[32];
	uint64_t run = 0;
	bk *b = ud;
	int rc = bk_run_async(b, 0, 1, NULL, &run, name, sizeof(name));

	if (rc == VBX_EEXIST)
		return vbx_resp_error(req, 409, "CONFLICT",
		                      "a backup is running already; wait for "
		                      "it (GET /api/v1/admin/backups)");
	if (rc != VBX_OK)
		return vbx_resp_error(req, 500, "INTERNAL_ERROR",
		                      "cannot start the backup's thread");
	cJSON *body = cJSON_CreateObject();
	snprintf(id, sizeof(id), "%" PRIu64, run);
	cJSON_AddStringToObject(body, "id", id);
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "status", "running");
	return vbx_resp_json(req, 202, body);
}

struct listing {
	bk *b;
	cJSON *arr;
};

static int add_backup(void *arg, const s3_object *o)
{
	struct listing *l = arg;
	char when[VBX_TIME_LEN], err[S3_ERR_MAX];
	s3_object meta;
	int64_t t;

	if (!bk_name_time(o->key, l->b->set.prefix, &t))
		return 0;
	cJSON *item = cJSON_CreateObject();
	vbx_time_format(t * 1000, when, sizeof(when));
	cJSON_AddStringToObject(item, "name", o->key);
	cJSON_AddStringToObject(item, "time", when);
	cJSON_AddNumberToObject(item, "size", (double)o->size);
	/* the key id lives in the object's metadata: one HEAD each */
	if (s3_head(&l->b->s3, o->key, &meta, err, sizeof(err)) == 0) {
		cJSON_AddStringToObject(item, "keyId", meta.key_id);
		cJSON_AddStringToObject(item, "status",
		                        meta.sha256[0] ? "ok" : "unverified");
	} else {
		cJSON_AddNullToObject(item, "keyId");
		cJSON_AddStringToObject(item, "status", "unknown");
	}
	cJSON_AddItemToArray(l->arr, item);
	return 0;
}

static int get_backups(void *ud, vbx_request *req)
{
	char err[S3_ERR_MAX], running[S3_KEY_MAX];
	char last_error[VBX_BACKUP_ERR_LEN];
	bk *b = ud;
	struct listing l = {.b = b, .arr = cJSON_CreateArray()};

	/* the state before the listing: a run that ends during the listing
	 * still shows as running, never as done with a stale list */
	pthread_mutex_lock(&b->mu);
	snprintf(running, sizeof(running), "%s", b->running ? b->run_name : "");
	snprintf(last_error, sizeof(last_error), "%s", b->last_error);
	pthread_mutex_unlock(&b->mu);
	if (s3_list(&b->s3, b->set.prefix, add_backup, &l, err, sizeof(err))) {
		cJSON_Delete(l.arr);
		return vbx_resp_error(req, 502, "BAD_GATEWAY",
		                      "cannot list the backups: %s", err);
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "backups", l.arr);
	if (running[0])
		cJSON_AddStringToObject(body, "running", running);
	else
		cJSON_AddNullToObject(body, "running");
	if (last_error[0])
		cJSON_AddStringToObject(body, "lastError", last_error);
	else
		cJSON_AddNullToObject(body, "lastError");
	return vbx_resp_json(req, 200, body);
}

static int restore_or_verify(bk *b, vbx_request *req, bool apply)
{
	char key[S3_KEY_MAX], err[S3_ERR_MAX], sha[65] = "",
	                                       kid[BK_KEY_ID_LEN] = "";
	int rc = bk_resolve(b, vbx_req_param(req, "id"), key, sizeof(key), err,
	                    sizeof(err));

	if (rc == VBX_OK)
		rc = bk_restore(b, key, apply, sha, kid, err, sizeof(err));
	switch (rc) {
	case VBX_OK:
		break;
	case VBX_EINVAL:
		return vbx_resp_error(req, 400, "VALIDATION_ERROR", "%s", err);
	case VBX_ENOTFOUND:
		return vbx_resp_error(req, 404, "NOT_FOUND", "%s", err);
	case VBX_EEXIST:
		return vbx_resp_error(req, 409, "CONFLICT", "%s", err);
	case VBX_EDENIED:
		return vbx_resp_error(req, 422, "BACKUP_REFUSED",
		                      "%s; nothing was restored", err);
	default:
		return vbx_resp_error(req, 502, "BAD_GATEWAY", "%s", err);
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", key);
	cJSON_AddStringToObject(body, "status",
	                        apply ? "restored" : "verified");
	cJSON_AddStringToObject(body, "sha256", sha);
	cJSON_AddStringToObject(body, "keyId", kid);
	return vbx_resp_json(req, 200, body);
}

static int post_restore(void *ud, vbx_request *req)
{
	return restore_or_verify(ud, req, true);
}

static int post_verify(void *ud, vbx_request *req)
{
	return restore_or_verify(ud, req, false);
}

int bk_routes_add(bk *b)
{
	int rc = vbx_route_add(b->p, "POST", "/api/v1/admin/backups",
	                       VBX_ROUTE_ADMIN, post_backups, b);
	if (rc == VBX_OK)
		rc = vbx_route_add(b->p, "GET", "/api/v1/admin/backups",
		                   VBX_ROUTE_ADMIN, get_backups, b);
	if (rc == VBX_OK)
		rc = vbx_route_add(b->p, "POST",
		                   "/api/v1/admin/backups/{id}/restore",
		                   VBX_ROUTE_ADMIN, post_restore, b);
	if (rc == VBX_OK)
		rc = vbx_route_add(b->p, "POST",
		                   "/api/v1/admin/backups/{id}/verify",
		                   VBX_ROUTE_ADMIN, post_verify, b);
	return rc;
}
