/* SPDX-License-Identifier: Apache-2.0 */
/*
 * place.c - where a new environment's container goes.
 *
 * Every container of this installation reserves its limits on its engine
 * (the DKR_LABEL_CPUS and DKR_LABEL_MEMORY labels it was created with),
 * whether it runs or not: a stopped environment may start at any time and
 * must still fit. An engine's free capacity is what its configured
 * capacity leaves; the new container goes to the engine with the largest
 * free fraction (the smaller of CPU and memory) after placing it, among
 * the engines that are not down and whose images allow its image.
 *
 * An environment whose workspace already lives on an engine stays there:
 * its files are on that engine's volume.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define MIB (1024.0 * 1024.0)

/* A label's number, or 0 when it is absent or not a finite number >= 0. */
static double label_number(const cJSON *labels, const char *name)
{
	const char *s = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(labels, name));
	char *end;
	if (!s || !*s)
		return 0;
	double v = strtod(s, &end);
	if (*end || !isfinite(v) || v < 0 || v > 1e12)
		return 0;
	return v;
}

int dkr_usage_parse(const cJSON *list, dkr_usage *out)
{
	const cJSON *it;
	*out = (dkr_usage){0};
	if (!cJSON_IsArray(list))
		return VBX_EINVAL;
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *labels =
		        cJSON_GetObjectItemCaseSensitive(it, "Labels");
		if (!cJSON_IsObject(it))
			continue;
		out->cpus += label_number(labels, DKR_LABEL_CPUS);
		out->memory +=
		        (uint64_t)(label_number(labels, DKR_LABEL_MEMORY) *
		                   MIB);
		out->n++;
	}
	return VBX_OK;
}

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

/* ---- the choice (pure) ---- */

/* The fraction of a capacity left after used and want; 1 without one. */
static double left(double cap, double used, double want)
{
	return cap > 0 ? (cap - used - want) / cap : 1.0;
}

/* Append "; name: text" to why. */
static void skipped(char *why, size_t why_len, size_t *used, const char *name,
                    const char *text)
{
	if (!why || *used >= why_len)
		return;
	int k = snprintf(why + *used, why_len - *used, "%s%s: %s",
	                 *used ? "; " : "", name, text);
	if (k > 0)
		*used += (size_t)k;
}

int dkr_place_pick(const dkr_candidate *c, size_t n, double cpus,
                   uint64_t memory, char *why, size_t why_len)
{
	int best = -1;
	double best_free = -1;
	size_t used = 0;
	if (why && why_len)
		why[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		double fc = left(c[i].cpus, c[i].used.cpus, cpus);
		double fm = left((double)c[i].memory, (double)c[i].used.memory,
		                 (double)memory);
		double f = fc < fm ? fc : fm;
		if (!c[i].up)
			skipped(why, why_len, &used, c[i].name, "down");
		else if (!c[i].image_ok)
			skipped(why, why_len, &used, c[i].name,
			        "its images do not allow the image");
		else if (fc < -1e-9)
			skipped(why, why_len, &used, c[i].name,
			        "not enough free CPUs");
		else if (fm < -1e-9)
			skipped(why, why_len, &used, c[i].name,
			        "not enough free memory");
		else if (f > best_free + 1e-9) {
			best = (int)i;
			best_free = f;
		}
	}
	return best;
}

/* ---- the choice at work ---- */

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
}

dkr *dkr_place(dkr *d, const vbx_env *env, char *why, size_t why_len)
{
	dkr_candidate c[DKR_ENGINES_MAX];
	char list[1024];
	if (d->n_eng == 1)
		return d->eng[0];
	dkr *home = workspace_engine(d, env);
	if (home)
		return home;
	for (size_t i = 0; i < d->n_eng; i++)
		candidate(d->eng[i], env, &c[i]);
	int k = dkr_place_pick(c, d->n_eng, env->cpu_limit,
	                       (uint64_t)((double)env->memory_limit * MIB),
	                       list, sizeof(list));
	if (k >= 0)
		return d->eng[k];
	snprintf(why, why_len,
	         "no engine can take %s (%.2f CPUs, %d MiB): %s; free "
	         "capacity or add an engine to plugins.docker-runtime.engines",
	         env->image, env->cpu_limit, env->memory_limit, list);
	return NULL;
}
