/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shell.c - which shell a terminal opens: the login shell of the
 * container's user in the container's own /etc/passwd.
 *
 * The file is read through the engine's archive endpoint (GET
 * /containers/{id}/archive?path=/etc/passwd, a tar stream), which needs
 * nothing inside the container (no cat, no shell, no awk) and works the
 * same over unix:// and tcp:// engines, like `docker cp`. The answer is
 * remembered per container for SHELL_TTL_MS: a terminal that reconnects
 * costs no round trip, and a chsh inside the container shows in the
 * terminals opened a minute later.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vibebox/util.h>

#include "docker.h"

#define SHELL_TTL_MS 60000
#define CACHE_SLOTS 32
#define LINK_HOPS 4   /* a symlinked /etc/passwd is followed this often */
#define USER_MAX 128  /* "name", "uid", "name:group" */
#define PATH_MAX_ 256 /* of /etc/passwd or a link's target */

typedef struct slot {
	char id[VBX_CONTAINER_ID_LEN];
	char user[USER_MAX];
	char shell[DKR_SHELL_MAX];
	int64_t at_ms; /* 0: empty */
} slot;

/* Container ids are unique on an engine, so one table serves every
 * instance of the plugin (the unit tests load it several times). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot cache[CACHE_SLOTS];

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool cache_get(const char *id, const char *user, char *out, size_t len)
{
	int64_t now = mono_ms();
	bool hit = false;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < CACHE_SLOTS && !hit; i++) {
		const slot *s = &cache[i];
		if (s->at_ms && now - s->at_ms < SHELL_TTL_MS &&
		    strcmp(s->id, id) == 0 && strcmp(s->user, user) == 0) {
			snprintf(out, len, "%s", s->shell);
			hit = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

/* Into the slot of that container, else an empty or the oldest one. */
static void cache_put(const char *id, const char *user, const char *shell)
{
	slot *pick = &cache[0];
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		slot *s = &cache[i];
		if (strcmp(s->id, id) == 0) {
			pick = s;
			break;
		}
		if (s->at_ms < pick->at_ms)
			pick = s;
	}
	snprintf(pick->id, sizeof(pick->id), "%s", id);
	snprintf(pick->user, sizeof(pick->user), "%s", user);
	snprintf(pick->shell, sizeof(pick->shell), "%s", shell);
	pick->at_ms = mono_ms();
	pthread_mutex_unlock(&lock);
}

/* Whom an exec runs as: the configured user, else the container's own
 * (its image's USER), else root. */
static void exec_user(dkr *d, const char *id, char *user, size_t len)
{
	char path[200];
	dkr_resp r;
	snprintf(user, len, "%s", d->conf.user ? d->conf.user : "");
	if (user[0])
		return;
	snprintf(user, len, "0"); /* root, by uid: whatever its name */
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	if (dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r) ==
	            VBX_OK &&
	    r.status == 200) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		const char *u =
		        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		                cJSON_GetObjectItemCaseSensitive(j, "Config"),
		                "User"));
		if (u && *u && strlen(u) < len)
			snprintf(user, len, "%s", u);
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
}

/* Where a symlink at path points: target as it is when absolute, else
 * relative to path's directory. false when it does not fit. */
static bool link_target(const char *path, const char *target, char *out,
                        size_t len)
{
	const char *slash = strrchr(path, '/');
	int n = target[0] == '/' ? snprintf(out, len, "%s", target)
	                         : snprintf(out, len, "%.*s/%s",
	                                    (int)(slash ? slash - path : 0),
	                                    path, target);
	return n > 0 && (size_t)n < len;
}

/* The passwd file at path of container id, following links. */
static int fetch_at(dkr *d, const char *id, const char *path, char **text,
                    size_t *len, int hops)
{
	char esc[3 * PATH_MAX_ + 1], req[3 * PATH_MAX_ + 200];
	char next[PATH_MAX_];
	dkr_tar_member m;
	dkr_resp r;
	vbx_percent_encode(path, strlen(path), esc, sizeof(esc));
	snprintf(req, sizeof(req), "/containers/%s/archive?path=%s", id, esc);
	int rc = dkr_request(d, "GET", req, NULL, d->conf.request_ms, &r);
	if (rc == VBX_OK)
		rc = dkr_status_rc(&r, "reading /etc/passwd", NULL, 0);
	if (rc == VBX_OK)
		rc = dkr_tar_first(r.body, r.len, &m);
	if (rc == VBX_OK && m.type == '2') {
		rc = hops < LINK_HOPS && link_target(path, m.link, next,
		                                     sizeof(next))
		             ? VBX_DECLINED /* follow it below */
		             : VBX_ENOTFOUND;
	} else if (rc == VBX_OK) {
		*text = malloc(m.len ? m.len : 1);
		if (*text)
			memcpy(*text, m.data, m.len);
		*len = m.len;
		rc = *text ? VBX_OK : VBX_ENOMEM;
	}
	dkr_resp_free(&r);
	if (rc == VBX_DECLINED)
		return fetch_at(d, id, next, text, len, hops + 1);
	return rc;
}

int dkr_passwd_fetch(dkr *d, const char *id, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	return fetch_at(d, id, "/etc/passwd", text, len, 0);
}

/* The shell of user in the passwd file of container id. */
static int read_passwd(dkr *d, const char *id, const char *user, char *shell,
                       size_t len)
{
	char *text;
	size_t n;
	int rc = dkr_passwd_fetch(d, id, &text, &n);
	if (rc == VBX_OK)
		rc = dkr_passwd_shell(text, n, user, shell, len);
	free(text);
	return rc;
}

void dkr_login_shell(dkr *d, const char *id, char *out, size_t len)
{
	/* keyed by the configured user: "" stands for the container's own,
	 * which the miss below looks up */
	const char *conf_user = d->conf.user ? d->conf.user : "";
	char user[USER_MAX];
	out[0] = '\0';
	if (cache_get(id, conf_user, out, len))
		return;
	exec_user(d, id, user, sizeof(user));
	int rc = read_passwd(d, id, user, out, len);
	if (rc != VBX_OK) {
		out[0] = '\0';
		if (d->plugin)
			vbx_log_debug(
			        d->plugin,
			        "container %.12s: no login shell for user "
			        "%s in /etc/passwd (%s); the terminal "
			        "tries plugins.docker-runtime.shell",
			        id, user, vbx_strerror(d->plugin, rc));
	}
	/* an engine that did not answer is not remembered */
	if (rc != VBX_EUNAVAIL && rc != VBX_ETIMEDOUT)
		cache_put(id, conf_user, out);
}
