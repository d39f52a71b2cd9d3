/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engines.c - several Docker engines: the `engines` list of the config,
 * each engine's state as its watcher sees it, and the health check.
 *
 * engines = ( { name = "node-a"; endpoint = "unix:///run/a.sock";
 *               cpus = 8; memory = "16GiB"; images = [ ... ]; }, ... );
 *
 * `endpoint` (with its tls_* keys) is the one engine "default" of older
 * configs; setting both forms is an error. An engine's own tls_* keys
 * and images are its own; every other setting is the plugin's.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "docker.h"

#define HEALTH_TIMEOUT_MS 1000

/* ---- the list ---- */

/* "node-a": lower-case letters, digits, '-', '_' and '.', a letter or a
 * digit first, DKR_ENGINE_NAME_MAX at most. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DKR_ENGINE_NAME_MAX || !isalnum((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) ||
		      isdigit((unsigned char)*s) || strchr("-_.", *s)))
			return false;
	return true;
}

static int key_error(const vbx_config *cfg, size_t i, const char *key,
                     const char *msg)
{
	char k[64];
	snprintf(k, sizeof(k), "engines.%zu.%s", i, key);
	return vbx_cfg_error(cfg, k, "%s", msg);
}

/* An optional readable file of engine i. */
static int file_key(const vbx_config *cfg, size_t i, const char *key,
                    char **out)
{
	char k[64];
	const char *s;
	snprintf(k, sizeof(k), "engines.%zu.%s", i, key);
	int rc = vbx_cfg_string(cfg, k, NULL, &s);
	if (rc != VBX_OK || !s)
		return rc;
	if (!*s || access(s, R_OK) != 0)
		return vbx_cfg_error(cfg, k, "cannot read \"%s\"", s);
	*out = strdup(s);
	return *out ? VBX_OK : VBX_ENOMEM;
}

static int read_name(const dkr *d, const vbx_config *cfg, size_t i, dkr *e)
{
	char k[64];
	const char *s;
	snprintf(k, sizeof(k), "engines.%zu.name", i);
	int rc = vbx_cfg_string(cfg, k, NULL, &s);
	if (rc != VBX_OK)
		return rc;
	if (!s)
		return vbx_cfg_error(cfg, k, "each engine needs a name");
	if (!name_ok(s))
		return vbx_cfg_error(
		        cfg, k,
		        "expected a name of 1..%d lower-case "
		        "letters, digits, '-', '_' or '.', such as "
		        "\"node-a\", got \"%.64s\"",
		        DKR_ENGINE_NAME_MAX, s);
	for (size_t j = 0; j < i; j++)
		if (d->eng[j] && strcmp(d->eng[j]->name, s) == 0)
			return vbx_cfg_error(cfg, k,
			                     "\"%s\" names engine %zu already",
			                     s, j);
	snprintf(e->name, sizeof(e->name), "%s", s);
	return VBX_OK;
}

static int read_endpoint(const vbx_config *cfg, size_t i, dkr *e)
{
	char k[64], err[256], *unix_path, *base_url;
	const char *s;
	int rc = file_key(cfg, i, "tls_ca_file", &e->conf.tls_ca);
	rc = rc ? rc : file_key(cfg, i, "tls_cert_file", &e->conf.tls_cert);
	rc = rc ? rc : file_key(cfg, i, "tls_key_file", &e->conf.tls_key);
	if (rc != VBX_OK)
		return rc;
	if (!e->conf.tls_cert != !e->conf.tls_key)
		return key_error(cfg, i,
		                 e->conf.tls_cert ? "tls_key_file"
		                                  : "tls_cert_file",
		                 "tls_cert_file and tls_key_file go together "
		                 "(a client certificate and its key)");
	snprintf(k, sizeof(k), "engines.%zu.endpoint", i);
	rc = vbx_cfg_string(cfg, k, NULL, &s);
	if (rc != VBX_OK)
		return rc;
	if (!s)
		return vbx_cfg_error(cfg, k,
		                     "each engine needs an endpoint, such as "
		                     "\"unix:///var/run/docker.sock\"");
	rc = dkr_endpoint_parse(s, e->conf.tls_ca || e->conf.tls_cert,
	                        &unix_path, &base_url, err, sizeof(err));
	free(unix_path);
	free(base_url);
	if (rc == VBX_EINVAL)
		return vbx_cfg_error(cfg, k, "%s", err);
	if (rc != VBX_OK)
		return rc;
	e->conf.endpoint = strdup(s);
	return e->conf.endpoint ? VBX_OK : VBX_ENOMEM;
}

static int read_capacity(const vbx_config *cfg, size_t i, dkr *e)
{
	char k[64], k2[64];
	long long cpus;
	const char *const *images;
	size_t n;
	snprintf(k, sizeof(k), "engines.%zu.cpus", i);
	snprintf(k2, sizeof(k2), "engines.%zu.memory", i);
	int rc = vbx_cfg_int(cfg, k, 1, 1 << 20, 0, &cpus);
	int rc2 = vbx_cfg_size(cfg, k2, "0", 1 << 20, UINT64_C(1) << 60,
	                       &e->memory);
	if (rc == VBX_OK && cpus == 0)
		rc = vbx_cfg_error(cfg, k,
		                   "each engine needs its capacity in CPUs "
		                   "(cpus = 8;) for placement");
	if (rc2 == VBX_OK && e->memory == 0)
		rc2 = vbx_cfg_error(cfg, k2,
		                    "each engine needs its memory capacity "
		                    "(memory = \"16GiB\";) for placement");
	e->cpus = (double)cpus;
	snprintf(k, sizeof(k), "engines.%zu.images", i);
	int rc3 = vbx_cfg_strings(cfg, k, &images, &n);
	if (rc3 == VBX_OK && n) {
		e->eng_images = images;
		e->n_eng_images = n;
	}
	return rc ? rc : rc2 ? rc2 : rc3;
}

/* Is there an engine i? Each must have a name or an endpoint. */
static bool engine_present(const vbx_config *cfg, size_t i)
{
	char k[64];
	const char *name = NULL, *ep = NULL;
	snprintf(k, sizeof(k), "engines.%zu.name", i);
	vbx_cfg_string(cfg, k, NULL, &name);
	snprintf(k, sizeof(k), "engines.%zu.endpoint", i);
	vbx_cfg_string(cfg, k, NULL, &ep);
	return name || ep;
}

static void engine_free(dkr *e)
{
	dkr_client_fini(e);
	free(e->conf.endpoint);
	free(e->conf.tls_ca);
	free(e->conf.tls_cert);
	free(e->conf.tls_key);
	dkr_state_free(e->state);
	free(e);
}

/* Keys of the one-engine form that the list replaces. */
static int both_forms(const vbx_config *cfg)
{
	static const char *const keys[] = {"endpoint", "tls_ca_file",
	                                   "tls_cert_file", "tls_key_file"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *s = NULL;
		vbx_cfg_string(cfg, keys[i], NULL, &s);
		if (s)
			return vbx_cfg_error(
			        cfg, keys[i],
			        "set either %s (one engine) or engines "
			        "(several, each with its endpoint and tls_* "
			        "keys), not both",
			        keys[i]);
	}
	return VBX_OK;
}

int dkr_engines_read(dkr *d, const vbx_config *cfg, size_t *n)
{
	int first = VBX_OK;
	*n = 0;
	if (!engine_present(cfg, 0))
		return VBX_OK;
	d->eng = calloc(DKR_ENGINES_MAX, sizeof(*d->eng));
	if (!d->eng)
		return VBX_ENOMEM;
	for (size_t i = 0; i < DKR_ENGINES_MAX && engine_present(cfg, i); i++) {
		dkr *e = calloc(1, sizeof(*e));
		if (!e)
			return VBX_ENOMEM;
		e->child = true;
		e->plugin = d->plugin;
		d->eng[d->n_eng++] = e;
		int rcs[3] = {read_name(d, cfg, i, e), read_endpoint(cfg, i, e),
		              read_capacity(cfg, i, e)};
		for (size_t k = 0; k < 3; k++)
			if (first == VBX_OK)
				first = rcs[k];
	}
	if (engine_present(cfg, DKR_ENGINES_MAX) && first == VBX_OK)
		first = vbx_cfg_error(cfg, "engines", "at most %d engines",
		                      DKR_ENGINES_MAX);
	int rc = both_forms(cfg);
	*n = d->n_eng;
	return first ? first : rc;
}

int dkr_engines_init(dkr *d)
{
	if (!d->n_eng) { /* the one engine of `endpoint` */
		free(d->eng);
		d->eng = calloc(1, sizeof(*d->eng));
		d->state = dkr_state_new();
		if (!d->eng || !d->state)
			return VBX_ENOMEM;
		snprintf(d->name, sizeof(d->name), "default");
		d->eng[0] = d;
		d->n_eng = 1;
		return dkr_client_init(d);
	}
	for (size_t i = 0; i < d->n_eng; i++) {
		dkr *e = d->eng[i];
		dkr_conf own = e->conf;
		e->conf = d->conf;
		e->conf.endpoint = own.endpoint;
		e->conf.tls_ca = own.tls_ca;
		e->conf.tls_cert = own.tls_cert;
		e->conf.tls_key = own.tls_key;
		e->prefix_ids = true;
		e->state = dkr_state_new();
		int rc = e->state ? dkr_client_init(e) : VBX_ENOMEM;
		if (rc != VBX_OK)
			return rc;
	}
	return VBX_OK;
}

void dkr_engines_free(dkr *d)
{
	for (size_t i = 0; d->eng && i < d->n_eng; i++)
		if (d->eng[i] && d->eng[i] != d)
			engine_free(d->eng[i]);
	free(d->eng);
	d->eng = NULL;
	d->n_eng = 0;
	dkr_state_free(d->state);
	d->state = NULL;
}

int dkr_engines_start(dkr *d)
{
	for (size_t i = 0; i < d->n_eng; i++) {
		dkr *e = d->eng[i];
		if (e == d)
			continue;
		memcpy(e->instance, d->instance, sizeof(e->instance));
		e->ev_exited = d->ev_exited;
		e->ev_vanished = d->ev_vanished;
		e->ev_engine = d->ev_engine;
	}
	for (size_t i = 0; i < d->n_eng; i++) {
		int rc = dkr_watch_start(d->eng[i]);
		if (rc != VBX_OK)
			return rc;
	}
	return VBX_OK;
}

void dkr_engines_stop(dkr *d)
{
	for (size_t i = 0; d->eng && i < d->n_eng; i++)
		dkr_watch_stop(d->eng[i]);
}

/* ---- placement (place.c's choice at work) ---- */

int dkr_usage_get(dkr *e, int64_t timeout_ms, dkr_usage *out)
{
	dkr_resp r;
	char filter[512], path[600];
	*out = (dkr_usage){0};
	if (!dkr_owned_filter(e, NULL, filter, sizeof(filter)))
		return VBX_EINVAL;
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s",
	         filter);
	int rc = dkr_request(e, "GET", path, NULL, timeout_ms, &r);
	int st = dkr_status_rc(&r, "listing containers", NULL, 0);
	if (rc == VBX_OK)
		rc = st;
	if (rc == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		rc = dkr_usage_parse(j, out) == VBX_OK ? VBX_OK : VBX_ERR;
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
	return rc;
}

/* The engine (up) that holds env's workspace volume, or NULL. */
static dkr *workspace_engine(dkr *d, const vbx_env *env)
{
	char vol[sizeof(DKR_NAME_PREFIX) + VBX_ID_LEN + 16], path[160];
	dkr_ws_name(env->id, vol, sizeof(vol));
	snprintf(path, sizeof(path), "/volumes/%s", vol);
	for (size_t i = 0; i < d->n_eng; i++) {
		dkr *e = d->eng[i];
		if (dkr_engine_down(e, NULL, 0) != VBX_OK)
			continue;
		if (dkr_simple(e, "GET", path, e->conf.request_ms, 0,
		               "looking for the workspace", NULL, 0) == VBX_OK)
			return e;
	}
	return NULL;
}

static void candidate(dkr *e, const vbx_env *env, dkr_candidate *c)
{
	*c = (dkr_candidate){
	        .name = e->name, .cpus = e->cpus, .memory = e->memory};
	c->image_ok =
	        !e->eng_images ||
	        dkr_image_match(e->eng_images, e->n_eng_images, env->image);
	c->up = dkr_engine_down(e, NULL, 0) == VBX_OK &&
	        (!c->image_ok ||
	         dkr_usage_get(e, e->conf.request_ms, &c->used) == VBX_OK);
	double cpus;
	uint64_t memory;
	dkr_engine_pending(e, &cpus, &memory);
	c->used.cpus += cpus;
	c->used.memory += memory;
}

/* One placement at a time in this process: each sees what the others
 * reserved. Replicas may still race; the engines' capacities are what
 * environments reserve, not what the kernel enforces. */
static pthread_mutex_t place_lock = PTHREAD_MUTEX_INITIALIZER;

dkr *dkr_place(dkr *d, const vbx_env *env, bool *reserved, char *why,
               size_t why_len)
{
	dkr_candidate c[DKR_ENGINES_MAX];
	char list[1024];
	uint64_t memory = dkr_env_memory(env);
	double cpus = env->cpu_limit > 0 ? env->cpu_limit : 0;
	*reserved = false;
	if (d->n_eng == 1)
		return d->eng[0];
	dkr *home = workspace_engine(d, env);
	if (home)
		return home;
	pthread_mutex_lock(&place_lock);
	for (size_t i = 0; i < d->n_eng; i++)
		candidate(d->eng[i], env, &c[i]);
	int k = dkr_place_pick(c, d->n_eng, cpus, memory, list, sizeof(list));
	if (k >= 0) {
		dkr_engine_reserve(d->eng[k], cpus, memory, true);
		*reserved = true;
	}
	pthread_mutex_unlock(&place_lock);
	if (k >= 0)
		return d->eng[k];
	snprintf(why, why_len,
	         "no engine can take %s (%.2f CPUs, %d MiB): %s; free "
	         "capacity or add an engine to plugins.docker-runtime.engines",
	         env->image, env->cpu_limit, env->memory_limit, list);
	return NULL;
}

/* ---- health ---- */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One engine's part of the detail; true when it answers. */
static bool engine_detail(dkr *e, char *out, size_t len)
{
	char why[256], when[40] = "";
	int64_t since = 0;
	dkr_usage u = {0};
	if (dkr_engine_get(e, &since, why, sizeof(why)) == DKR_ENGINE_DOWN) {
		vbx_time_format(since, when, sizeof(when));
		snprintf(out, len, "%s down since %s: %s", e->name, when, why);
		return false;
	}
	int rc = dkr_usage_get(e, HEALTH_TIMEOUT_MS, &u);
	if (rc != VBX_OK) {
		snprintf(out, len, "%s not answering: %s", e->name,
		         vbx_strerror(e->plugin, rc));
		return false;
	}
	snprintf(out, len,
	         "%s up, %.2f/%.0f CPUs, %.1f/%.1f GiB, %zu environments",
	         e->name, u.cpus, e->cpus, (double)u.memory / (1 << 30),
	         (double)e->memory / (1 << 30), u.n);
	return true;
}

/* Several engines: ok while all answer, degraded (readiness still
 * passes) while one does, failed when none does; the detail lists each. */
int dkr_engines_health(void *ud, vbx_health *report)
{
	dkr *d = ud;
	char detail[2048] = "", part[400];
	size_t used = 0, up = 0;
	int64_t t0 = mono_us();
	for (size_t i = 0; i < d->n_eng; i++) {
		up += engine_detail(d->eng[i], part, sizeof(part));
		int k = snprintf(detail + used, sizeof(detail) - used, "%s%s",
		                 i ? "; " : "", part);
		if (k > 0 && (size_t)k < sizeof(detail) - used)
			used += (size_t)k;
	}
	int st = up == d->n_eng ? VBX_OK
	         : up           ? VBX_HEALTH_DEGRADED
	                        : VBX_EUNAVAIL;
	vbx_health_add(report, "docker", st, mono_us() - t0, detail);
	return VBX_OK;
}
