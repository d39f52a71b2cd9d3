/* SPDX-License-Identifier: Apache-2.0 */
/*
 * leftovers.c - what an environment owns besides its container: its
 * network (vbx-<env id>) and its workspace volume
 * (vbx-<env id>-workspace). The runtime_leftovers, runtime_env_purge and
 * runtime_workspace_keep hooks: the platform deletes an environment with
 * them and its reconcile pass removes what a crash or a failed delete
 * left behind.
 *
 * A kept workspace is held by a keeper: a container named
 * vbx-<env id>-kept, never started, that mounts the volume and carries
 * io.vibebox.kept-workspace=<volume> and the instance label but not
 * io.vibebox.managed. The engine refuses to remove a volume in use, the
 * leftovers list skips kept volumes, and nothing VibeBox lists as its own
 * includes the keeper: the volume stays until an admin removes the
 * keeper and then the volume (README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h>

#include "docker.h"

#define NAME_LEN (sizeof(DKR_NAME_PREFIX) + VBX_ID_LEN + 16)

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* The filters query value: this installation's labels, plus `extra`
 * ("key=value" or "key"; NULL for none), without the managed label when
 * !managed. URL-encoded into buf; NULL when it does not fit. */
static const char *filter(const dkr *d, bool managed, const char *extra,
                          char *buf, size_t len)
{
	char json[512];
	int n = snprintf(json, sizeof(json),
	                 "{\"label\":[%s\"" DKR_LABEL_INSTANCE "=%s\"%s%s%s]}",
	                 managed ? "\"" DKR_LABEL_MANAGED "=true\"," : "",
	                 d->instance, extra ? ",\"" : "", extra ? extra : "",
	                 extra ? "\"" : "");
	if (n < 0 || (size_t)n >= sizeof(json))
		return NULL;
	return dkr_url_escape(json, (size_t)n, buf, len);
}

/* GET path parsed into *out (the caller deletes it). */
static int get_json(dkr *d, const char *path, const char *what, cJSON **out,
                    char *why, size_t why_len)
{
	dkr_resp r;
	*out = NULL;
	int rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, what, why, why_len);
	rc = rc != VBX_OK ? rc : st;
	if (rc == VBX_OK) {
		*out = cJSON_ParseWithLength(r.body, r.len);
		rc = *out ? VBX_OK : VBX_ERR;
	}
	dkr_resp_free(&r);
	return rc;
}

/* GET a list of what this installation owns (/containers/json?all=1,
 * /networks, /volumes) with an extra label filter. */
static int list_owned(dkr *d, const char *what, bool managed, const char *extra,
                      cJSON **out)
{
	char f[1024], path[1200];
	if (!filter(d, managed, extra, f, sizeof(f)))
		return VBX_EINVAL;
	snprintf(path, sizeof(path), "/%s%sfilters=%s", what,
	         strcmp(what, "containers/json") == 0 ? "?all=1&" : "?", f);
	return get_json(d, path, what, out, NULL, 0);
}

/* ---- runtime_leftovers ---- */

typedef struct table {
	vbx_runtime_leftover *v;
	size_t n, cap;
} table;

static int mark(table *t, const cJSON *labels, unsigned bit)
{
	const char *env = cJSON_GetStringValue(get(labels, DKR_LABEL_ENV));
	if (!env || !vbx_uuid_ok(env))
		return VBX_OK;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].env_id, env) == 0) {
			t->v[i].have |= bit;
			return VBX_OK;
		}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *v = realloc(t->v, cap * sizeof(*t->v));
		if (!v)
			return VBX_ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	vbx_runtime_leftover *l = &t->v[t->n++];
	memset(l, 0, sizeof(*l));
	snprintf(l->env_id, sizeof(l->env_id), "%s", env);
	l->have = bit;
	return VBX_OK;
}

/* Is volume held by one of the keepers? */
static bool kept(const cJSON *keepers, const char *volume)
{
	const cJSON *k;
	cJSON_ArrayForEach(k, keepers)
	{
		const char *v = cJSON_GetStringValue(
		        get(get(k, "Labels"), DKR_LABEL_KEPT));
		if (v && strcmp(v, volume) == 0)
			return true;
	}
	return false;
}

static int mark_all(table *t, const cJSON *arr, unsigned bit,
                    const cJSON *keepers)
{
	const cJSON *it;
	int rc = cJSON_IsArray(arr) ? VBX_OK : VBX_ERR;
	cJSON_ArrayForEach(it, arr)
	{
		const char *name = cJSON_GetStringValue(get(it, "Name"));
		if (bit == VBX_RUNTIME_WORKSPACE && name && kept(keepers, name))
			continue;
		if (rc == VBX_OK)
			rc = mark(t, get(it, "Labels"), bit);
	}
	return rc;
}

int dkr_leftovers(void *ud, vbx_runtime_leftover_fn *each, void *ctx)
{
	dkr *d = ud;
	cJSON *boxes = NULL, *nets = NULL, *vols = NULL, *keepers = NULL;
	table t = {0};
	int rc = list_owned(d, "containers/json", true, NULL, &boxes);
	rc = rc ? rc : list_owned(d, "networks", true, NULL, &nets);
	rc = rc ? rc : list_owned(d, "volumes", true, NULL, &vols);
	rc = rc ? rc
	        : list_owned(d, "containers/json", false, DKR_LABEL_KEPT,
	                     &keepers);
	rc = rc ? rc : mark_all(&t, nets, VBX_RUNTIME_NETWORK, NULL);
	rc = rc ? rc
	        : mark_all(&t, get(vols, "Volumes"), VBX_RUNTIME_WORKSPACE,
	                   keepers);
	/* containers only add to environments that have something else */
	const cJSON *it, *all = rc == VBX_OK ? boxes : NULL;
	cJSON_ArrayForEach(it, all)
	{
		const cJSON *labels = get(it, "Labels");
		const char *env = get(labels, DKR_LABEL_PROBE)
		                          ? NULL /* on no network */
		                          : cJSON_GetStringValue(
		                                    get(labels, DKR_LABEL_ENV));
		for (size_t i = 0; env && i < t.n; i++)
			if (strcmp(t.v[i].env_id, env) == 0)
				t.v[i].have |= VBX_RUNTIME_CONTAINERS;
	}
	for (size_t i = 0; rc == VBX_OK && i < t.n; i++)
		rc = each(ctx, &t.v[i]);
	free(t.v);
	cJSON_Delete(boxes);
	cJSON_Delete(nets);
	cJSON_Delete(vols);
	cJSON_Delete(keepers);
	return rc;
}

/* ---- runtime_env_purge ---- */

static int purge_containers(dkr *d, const char *env_id, char *why,
                            size_t why_len)
{
	char extra[128], path[200];
	cJSON *boxes;
	const cJSON *it, *all;
	snprintf(extra, sizeof(extra), DKR_LABEL_ENV "=%s", env_id);
	int rc = list_owned(d, "containers/json", true, extra, &boxes);
	all = rc == VBX_OK ? boxes : NULL;
	cJSON_ArrayForEach(it, all)
	{
		const char *id = cJSON_GetStringValue(get(it, "Id"));
		if (!id || strlen(id) > 128)
			continue;
		snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", id);
		int one = dkr_simple(d, "DELETE", path, d->conf.request_ms, 404,
		                     "removing a container", why, why_len);
		rc = rc ? rc : one;
	}
	cJSON_Delete(boxes);
	return rc;
}

/* Remove the network or volume at path ("/networks/x", "/volumes/x")
 * when this installation owns it; VBX_OK when it is gone. */
static int purge_owned(dkr *d, const char *path, const char *labels_at,
                       const char *what, char *why, size_t why_len)
{
	cJSON *j;
	int rc = get_json(d, path, what, &j, why, why_len);
	if (rc == VBX_ENOTFOUND) {
		why[0] = '\0';
		return VBX_OK;
	}
	bool ours =
	        rc == VBX_OK &&
	        dkr_labels_owned(d, labels_at ? get(get(j, labels_at), "Labels")
	                                      : get(j, "Labels"));
	cJSON_Delete(j);
	if (rc != VBX_OK || !ours)
		return rc; /* another installation's: not ours to remove */
	return dkr_simple(d, "DELETE", path, d->conf.request_ms, 404, what, why,
	                  why_len);
}

static int purge_volume(dkr *d, const char *env_id, char *why, size_t why_len)
{
	char name[NAME_LEN], extra[NAME_LEN + 64], path[NAME_LEN + 16];
	cJSON *keepers;
	dkr_ws_name(env_id, name, sizeof(name));
	snprintf(extra, sizeof(extra), DKR_LABEL_KEPT "=%s", name);
	int rc = list_owned(d, "containers/json", false, extra, &keepers);
	bool is_kept = rc == VBX_OK && cJSON_GetArraySize(keepers) > 0;
	cJSON_Delete(keepers);
	if (rc != VBX_OK || is_kept)
		return rc;
	snprintf(path, sizeof(path), "/volumes/%s", name);
	return purge_owned(d, path, NULL, "removing the workspace volume", why,
	                   why_len);
}

int dkr_env_purge(void *ud, const char *env_id, unsigned what, char *why,
                  size_t why_len)
{
	dkr *d = ud;
	char scratch[8], path[NAME_LEN + 16];
	int rc = VBX_OK;
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	why[0] = '\0';
	if (!dkr_id_valid(env_id) || strlen(env_id) >= VBX_ID_LEN) {
		snprintf(why, why_len, "environment id \"%.40s\" is not valid",
		         env_id);
		return VBX_EINVAL;
	}
	if (what & VBX_RUNTIME_CONTAINERS)
		rc = purge_containers(d, env_id, why, why_len);
	if (rc == VBX_OK && (what & VBX_RUNTIME_NETWORK)) {
		snprintf(path, sizeof(path), "/networks/" DKR_NAME_PREFIX "%s",
		         env_id);
		rc = purge_owned(d, path, NULL, "removing the network", why,
		                 why_len);
	}
	if (rc == VBX_OK && (what & VBX_RUNTIME_WORKSPACE))
		rc = purge_volume(d, env_id, why, why_len);
	return rc;
}

/* ---- runtime_workspace_keep ---- */

static cJSON *keeper_body(const dkr *d, const vbx_env *env, const char *vol)
{
	static const char *const argv[] = {"/bin/sh"};
	dkr_ws ws = {.uid = -1, .gid = -1};
	snprintf(ws.volume, sizeof(ws.volume), "%s", vol);
	snprintf(ws.path, sizeof(ws.path), "/workspace");
	cJSON *b = cJSON_CreateObject();
	cJSON *h = b ? cJSON_AddObjectToObject(b, "HostConfig") : NULL;
	cJSON *l = b ? cJSON_AddObjectToObject(b, "Labels") : NULL;
	cJSON *ep = cJSON_CreateStringArray(argv, 1);
	if (!ep || !b || !cJSON_AddItemToObject(b, "Entrypoint", ep)) {
		cJSON_Delete(ep);
		cJSON_Delete(b);
		return NULL;
	}
	bool ok = h && l && dkr_ws_mount(&ws, h) &&
	          cJSON_AddStringToObject(b, "Image", env->image) &&
	          cJSON_AddStringToObject(h, "NetworkMode", "none") &&
	          cJSON_AddStringToObject(l, DKR_LABEL_KEPT, vol) &&
	          cJSON_AddStringToObject(l, DKR_LABEL_INSTANCE, d->instance) &&
	          cJSON_AddStringToObject(l, DKR_LABEL_ENV, env->id);
	if (!ok) {
		cJSON_Delete(b);
		return NULL;
	}
	return b;
}

int dkr_ws_keep(void *ud, const vbx_env *env, char *why, size_t why_len)
{
	dkr *d = ud;
	char vol[NAME_LEN], path[NAME_LEN + 64], scratch[8];
	cJSON *j;
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	if (!dkr_id_valid(env->id) || strlen(env->id) >= VBX_ID_LEN)
		return VBX_EINVAL;
	dkr_ws_name(env->id, vol, sizeof(vol));
	snprintf(path, sizeof(path), "/volumes/%s", vol);
	int rc = get_json(d, path, "inspecting the workspace volume", &j, why,
	                  why_len);
	bool ours = rc == VBX_OK && dkr_labels_owned(d, get(j, "Labels"));
	cJSON_Delete(j);
	if (rc == VBX_OK && !ours)
		rc = VBX_ENOTFOUND;
	if (rc != VBX_OK)
		return rc;
	cJSON *b = keeper_body(d, env, vol);
	if (!b)
		return VBX_ENOMEM;
	dkr_resp r;
	snprintf(path, sizeof(path),
	         "/containers/create?name=" DKR_NAME_PREFIX "%s-kept", env->id);
	rc = dkr_request(d, "POST", path, b, d->conf.request_ms, &r);
	cJSON_Delete(b);
	int st = dkr_status_rc(&r, "creating the workspace keeper", why,
	                       why_len);
	dkr_resp_free(&r);
	rc = rc != VBX_OK ? rc : st;
	if (rc == VBX_ESTATE) /* kept already */
		rc = VBX_OK;
	if (rc == VBX_OK && d->plugin)
		vbx_log_info(d->plugin,
		             "workspace %s of environment %s is kept (held by "
		             "container " DKR_NAME_PREFIX "%s-kept)",
		             vol, env->id, env->id);
	return rc;
}
