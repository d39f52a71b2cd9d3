/* SPDX-License-Identifier: Apache-2.0 */
/*
 * workspace.c - an environment's workspace: a named volume,
 * vbx-<env id>-workspace, labelled like its container, mounted where the
 * developer works, so that the files survive every new container
 * (restart, changed settings or image, a container removed by hand).
 *
 * Where it is mounted: the first workspace.paths entry whose image
 * pattern matches, else the home directory of the image's user (the
 * configured user, else the image's USER, else root) in the image's
 * /etc/passwd, else /workspace. The passwd file is read from a probe: a
 * container of the image that is created, read through the archive
 * endpoint and removed, never started (an image has no archive endpoint).
 *
 * Who may write there: a fresh volume mounted on a directory of the image
 * gets that directory's content and owner from the engine. On a path the
 * image does not have, the engine makes the volume root-owned; for a user
 * other than root, the volume's root is then given to the user (an archive
 * upload of one directory entry owned by the user), mode 0755.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h>

#include "docker.h"

#define DEFAULT_PATH "/workspace"
#define NAME_LEN (sizeof(DKR_NAME_PREFIX) + VBX_ID_LEN + 16)

void dkr_ws_name(const char *env_id, char *out, size_t len)
{
	snprintf(out, len, DKR_NAME_PREFIX "%s" DKR_WS_SUFFIX, env_id);
}

/* ---- the per-image paths (pure) ---- */

bool dkr_ws_path_ok(const char *entry)
{
	const char *eq = strchr(entry, '=');
	if (!eq || eq == entry || eq[1] != '/' || eq[2] == '\0' ||
	    strlen(eq + 1) >= DKR_WS_PATH_MAX)
		return false;
	for (const char *p = entry; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) ||
		    (p > eq && *p == ':'))
			return false;
	return true;
}

bool dkr_ws_path_for(const dkr_conf *c, const char *image, char *out,
                     size_t len)
{
	for (size_t i = 0; i < c->n_ws_paths; i++) {
		const char *e = c->ws_paths[i], *eq = strchr(e, '=');
		char pat[256];
		if (!eq || (size_t)(eq - e) >= sizeof(pat))
			continue;
		memcpy(pat, e, (size_t)(eq - e));
		pat[eq - e] = '\0';
		const char *const one[] = {pat};
		if (dkr_image_match(one, 1, image)) {
			snprintf(out, len, "%s", eq + 1);
			return true;
		}
	}
	return false;
}

/* "", "root", "0" and those with a group: the image runs as root. */
static bool user_is_root(const char *u)
{
	size_t n = strcspn(u, ":");
	return n == 0 || (n == 4 && strncmp(u, "root", 4) == 0) ||
	       (n == 1 && u[0] == '0');
}

/* "1000" or "1000:100" into ids; false when the user is a name. */
static bool numeric_user(const char *u, long *uid, long *gid)
{
	char *end;
	if (!isdigit((unsigned char)u[0]))
		return false;
	*uid = strtol(u, &end, 10);
	*gid = *uid;
	if (*end == ':' && isdigit((unsigned char)end[1]))
		*gid = strtol(end + 1, &end, 10);
	return *end == '\0' && *uid >= 0 && *gid >= 0;
}

/* ---- the volume ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Create the volume unless it exists; *fresh when this call made it.
 * An existing one must be this installation's. */
static int volume_ensure(dkr *d, const vbx_env *env, const char *name,
                         bool *fresh, char *why, size_t why_len)
{
	char path[64 + NAME_LEN];
	dkr_resp r;
	*fresh = false;
	snprintf(path, sizeof(path), "/volumes/%s", name);
	int rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "inspecting the workspace volume", NULL, 0);
	if (st != VBX_OK && st != VBX_ENOTFOUND) /* 404: made below */
		dkr_status_rc(&r, "inspecting the workspace volume", why,
		              why_len);
	if (rc == VBX_OK && st == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		bool ours = dkr_labels_owned(d, get(j, "Labels"));
		cJSON_Delete(j);
		dkr_resp_free(&r);
		if (ours)
			return VBX_OK;
		snprintf(why, why_len,
		         "volume %s exists but is not this installation's "
		         "(labels %s, %s=%s); remove or rename it",
		         name, DKR_LABEL_MANAGED, DKR_LABEL_INSTANCE,
		         d->instance);
		return VBX_EDENIED;
	}
	dkr_resp_free(&r);
	if (rc != VBX_OK || st != VBX_ENOTFOUND)
		return rc != VBX_OK ? rc : st;
	cJSON *b = cJSON_CreateObject();
	cJSON *opts = b ? cJSON_AddObjectToObject(b, "DriverOpts") : NULL;
	char size[24];
	/* the local driver enforces it on XFS with pquota only (README) */
	snprintf(size, sizeof(size), "%llu",
	         (unsigned long long)d->conf.ws_size);
	if (!opts || !cJSON_AddStringToObject(b, "Name", name) ||
	    !cJSON_AddStringToObject(b, "Driver", "local") ||
	    (d->conf.ws_size && !cJSON_AddStringToObject(opts, "size", size)) ||
	    !dkr_add_labels(d, b, env)) {
		cJSON_Delete(b);
		return VBX_ENOMEM;
	}
	rc = dkr_request(d, "POST", "/volumes/create", b, d->conf.request_ms,
	                 &r);
	cJSON_Delete(b);
	st = dkr_status_rc(&r, "creating the workspace volume", why, why_len);
	dkr_resp_free(&r);
	*fresh = rc == VBX_OK && st == VBX_OK;
	return rc != VBX_OK ? rc : st;
}

/* ---- the probe: the image's passwd file and paths ---- */

/* The user containers of image run as: the configured one, else the
 * image's USER ("" for root). */
static int image_user(dkr *d, const char *image, char *out, size_t len)
{
	char esc[3 * 256 + 1], path[3 * 256 + 64];
	dkr_resp r;
	snprintf(out, len, "%s", d->conf.user ? d->conf.user : "");
	if (out[0])
		return VBX_OK;
	vbx_percent_encode(image, strlen(image), esc, sizeof(esc));
	snprintf(path, sizeof(path), "/images/%s/json", esc);
	int rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "inspecting the image", NULL, 0);
	if (rc == VBX_OK && st == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		const char *u =
		        cJSON_GetStringValue(get(get(j, "Config"), "User"));
		if (u && strlen(u) < len)
			snprintf(out, len, "%s", u);
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
	return rc != VBX_OK ? rc : st;
}

/* Create the probe container (never started) into id. */
static int probe_create(dkr *d, const vbx_env *env, const char *name, char *id,
                        size_t id_len, char *why, size_t why_len)
{
	static const char *const argv[] = {"/bin/sh"};
	char path[64 + NAME_LEN];
	cJSON *b = cJSON_CreateObject(), *ep;
	cJSON *h = b ? cJSON_AddObjectToObject(b, "HostConfig") : NULL;
	if (!h || !cJSON_AddStringToObject(b, "Image", env->image) ||
	    !(ep = cJSON_CreateStringArray(argv, 1)) ||
	    !cJSON_AddItemToObject(b, "Entrypoint", ep) ||
	    !cJSON_AddStringToObject(h, "NetworkMode", "none") ||
	    !dkr_add_labels(d, b, env) ||
	    !cJSON_AddStringToObject(
	            cJSON_GetObjectItemCaseSensitive(b, "Labels"),
	            DKR_LABEL_PROBE, "true")) {
		cJSON_Delete(b);
		return VBX_ENOMEM;
	}
	snprintf(path, sizeof(path), "/containers/create?name=%s", name);
	int rc = VBX_ESTATE;
	for (int i = 0; i < 2 && rc == VBX_ESTATE; i++) {
		dkr_resp r;
		rc = dkr_request(d, "POST", path, b, d->conf.request_ms, &r);
		int st = dkr_status_rc(&r, "creating the workspace probe", why,
		                       why_len);
		rc = rc != VBX_OK ? rc : st;
		if (rc == VBX_OK) {
			cJSON *j = cJSON_ParseWithLength(r.body, r.len);
			const char *cid = cJSON_GetStringValue(get(j, "Id"));
			snprintf(id, id_len, "%s", cid ? cid : "");
			rc = cid ? VBX_OK : VBX_ERR;
			cJSON_Delete(j);
		}
		dkr_resp_free(&r);
		if (rc == VBX_ESTATE) { /* left over from a crash */
			char del[64 + NAME_LEN];
			snprintf(del, sizeof(del), "/containers/%s?force=1",
			         name);
			dkr_simple(d, "DELETE", del, d->conf.request_ms, 404,
			           "removing an old workspace probe", NULL, 0);
		}
	}
	cJSON_Delete(b);
	return rc;
}

/* Does path exist in container id's filesystem? */
static bool path_exists(dkr *d, const char *id, const char *p)
{
	char esc[3 * DKR_WS_PATH_MAX + 1], path[3 * DKR_WS_PATH_MAX + 200];
	vbx_percent_encode(p, strlen(p), esc, sizeof(esc));
	snprintf(path, sizeof(path), "/containers/%s/archive?path=%s", id, esc);
	return dkr_simple(d, "HEAD", path, d->conf.request_ms, 0, NULL, NULL,
	                  0) == VBX_OK;
}

/* Fill the path (unless configured) and the owner to give a fresh
 * volume from the probe container id. */
static void probe_read(dkr *d, const char *id, const char *user,
                       bool configured, dkr_ws *ws)
{
	char *text = NULL;
	size_t n = 0;
	dkr_passwd_entry pw = {.uid = -1, .gid = -1};
	if (dkr_passwd_fetch(d, id, &text, &n) == VBX_OK)
		dkr_passwd_home(text, n, user[0] ? user : "0", &pw);
	free(text);
	if (!configured)
		snprintf(ws->path, sizeof(ws->path), "%s",
		         pw.home[0] ? pw.home : DEFAULT_PATH);
	if (!ws->fresh || user_is_root(user) || path_exists(d, id, ws->path))
		return; /* the engine copies the image's owner, or root's */
	if (!numeric_user(user, &ws->uid, &ws->gid)) {
		ws->uid = pw.uid;
		ws->gid = pw.gid;
	}
}

static int probe(dkr *d, const vbx_env *env, const char *user, bool configured,
                 dkr_ws *ws, char *why, size_t why_len)
{
	char name[NAME_LEN], id[VBX_CONTAINER_ID_LEN], path[200];
	snprintf(name, sizeof(name), DKR_NAME_PREFIX "%s-probe", env->id);
	int rc = probe_create(d, env, name, id, sizeof(id), why, why_len);
	if (rc != VBX_OK)
		return rc;
	probe_read(d, id, user, configured, ws);
	snprintf(path, sizeof(path), "/containers/%s?force=1", id);
	if (dkr_simple(d, "DELETE", path, d->conf.request_ms, 404,
	               "removing the workspace probe", why,
	               why_len) != VBX_OK &&
	    d->plugin)
		vbx_log_warn(d->plugin, "%s", why);
	why[0] = '\0';
	return VBX_OK;
}

int dkr_ws_prepare(dkr *d, const vbx_env *env, dkr_ws *ws, char *why,
                   size_t why_len)
{
	char user[128];
	memset(ws, 0, sizeof(*ws));
	ws->uid = ws->gid = -1;
	dkr_ws_name(env->id, ws->volume, sizeof(ws->volume));
	int rc = volume_ensure(d, env, ws->volume, &ws->fresh, why, why_len);
	rc = rc ? rc : image_user(d, env->image, user, sizeof(user));
	if (rc != VBX_OK)
		return rc;
	bool configured = dkr_ws_path_for(&d->conf, env->image, ws->path,
	                                  sizeof(ws->path));
	if (configured && (!ws->fresh || user_is_root(user)))
		return VBX_OK;
	return probe(d, env, user, configured, ws, why, why_len);
}

bool dkr_ws_mount(const dkr_ws *ws, cJSON *host)
{
	cJSON *list = cJSON_AddArrayToObject(host, "Mounts");
	cJSON *m = cJSON_CreateObject();
	if (!list || !m || !cJSON_AddItemToArray(list, m)) {
		cJSON_Delete(m);
		return false;
	}
	return cJSON_AddStringToObject(m, "Type", "volume") &&
	       cJSON_AddStringToObject(m, "Source", ws->volume) &&
	       cJSON_AddStringToObject(m, "Target", ws->path);
}

/* ---- giving a fresh volume to the user ---- */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* PUT the tar at / of container id. The engine keeps the owners the
 * tar headers give (copyUIDGID would instead look the container's user
 * up in the host's passwd database: engine 20.10). */
static int put_archive(dkr *d, const char *id, const char *tar, size_t n)
{
	char rel[200], path[300];
	long status = 0;
	snprintf(rel, sizeof(rel), "/containers/%s/archive?path=/", id);
	dkr_path(d, rel, path, sizeof(path));
	size_t url_len = strlen(d->base_url) + strlen(path) + 1;
	char *url = malloc(url_len);
	CURL *c = dkr_easy(d);
	struct curl_slist *h =
	        curl_slist_append(NULL, "Content-Type: application/x-tar");
	int rc = VBX_ENOMEM;
	if (url && c && h) {
		snprintf(url, url_len, "%s%s", d->base_url, path);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, tar);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		                 (long)d->conf.request_ms);
		rc = curl_easy_perform(c) == CURLE_OK ? VBX_OK : VBX_EUNAVAIL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (rc == VBX_OK && status != 200)
			rc = VBX_EINVAL;
	}
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	free(url);
	return rc;
}

int dkr_ws_finish(dkr *d, const dkr_ws *ws, const char *id, char *why,
                  size_t why_len)
{
	char tar[DKR_TAR_DIR_LEN];
	if (ws->uid < 0)
		return VBX_OK;
	int rc = dkr_tar_dir(ws->path + 1, ws->uid, ws->gid, 0755, tar);
	rc = rc ? rc : put_archive(d, id, tar, sizeof(tar));
	if (rc != VBX_OK)
		snprintf(why, why_len,
		         "could not give the workspace %s to uid %ld: %s",
		         ws->path, ws->uid,
		         d->plugin ? vbx_strerror(d->plugin, rc) : "");
	return rc;
}
