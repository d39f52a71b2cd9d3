/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.c - one engine's state, as its watcher sees it (up or down,
 * since when, why), and the container ids that name their engine. No
 * requests: watch.c and its unit test use it alone.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker.h"

struct dkr_state {
	pthread_mutex_t lock;
	int state;     /* DKR_ENGINE_* */
	int64_t since; /* Unix ms of the last change */
	char why[256]; /* why it is down */
	/* placed here by this process, not created yet (dkr_place) */
	double pend_cpus;
	uint64_t pend_memory;
};

struct dkr_state *dkr_state_new(void)
{
	struct dkr_state *s = calloc(1, sizeof(*s));
	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

void dkr_state_free(struct dkr_state *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- state ---- */

bool dkr_engine_set(dkr *e, bool up, const char *why)
{
	struct dkr_state *s = e->state;
	if (!s)
		return false;
	int to = up ? DKR_ENGINE_UP : DKR_ENGINE_DOWN;
	pthread_mutex_lock(&s->lock);
	bool changed = s->state != to;
	if (changed) {
		s->state = to;
		s->since = dkr_unix_ms();
	}
	snprintf(s->why, sizeof(s->why), "%s", up ? "" : why);
	pthread_mutex_unlock(&s->lock);
	if (changed && e->plugin && e->prefix_ids)
		vbx_log_info(e->plugin, "engine %s (%s) is %s%s%s", e->name,
		             e->conf.endpoint, up ? "up" : "down",
		             up ? "" : ": ", up ? "" : why);
	return changed;
}

int dkr_engine_get(dkr *e, int64_t *since_ms, char *why, size_t why_len)
{
	struct dkr_state *s = e->state;
	if (!s)
		return DKR_ENGINE_UNKNOWN;
	pthread_mutex_lock(&s->lock);
	int st = s->state;
	if (since_ms)
		*since_ms = s->since;
	if (why && why_len)
		snprintf(why, why_len, "%s", s->why);
	pthread_mutex_unlock(&s->lock);
	return st;
}

int dkr_engine_down(dkr *e, char *why, size_t why_len)
{
	char w[256];
	if (!e->prefix_ids ||
	    dkr_engine_get(e, NULL, w, sizeof(w)) != DKR_ENGINE_DOWN)
		return VBX_OK;
	if (why && why_len)
		snprintf(why, why_len, "engine %s unreachable: %s", e->name, w);
	return VBX_EUNAVAIL;
}

/* ---- ids (pure) ---- */

dkr *dkr_route_find(dkr *d, const char *id, const char **raw)
{
	const char *slash = strchr(id, '/');
	*raw = id;
	if (!slash)
		return d->n_eng ? d->eng[0] : NULL;
	size_t n = (size_t)(slash - id);
	*raw = slash + 1;
	for (size_t i = 0; i < d->n_eng; i++)
		if (strlen(d->eng[i]->name) == n &&
		    strncmp(d->eng[i]->name, id, n) == 0)
			return d->eng[i];
	return NULL;
}

void dkr_route_ext_id(const dkr *e, const char *raw, char *out)
{
	if (!e->prefix_ids) {
		snprintf(out, VBX_CONTAINER_ID_LEN, "%s", raw);
		return;
	}
	size_t room = VBX_CONTAINER_ID_LEN - 2 - strlen(e->name);
	snprintf(out, VBX_CONTAINER_ID_LEN, "%s/%.*s", e->name, (int)room, raw);
}

void dkr_engine_reserve(dkr *e, double cpus, uint64_t memory, bool add)
{
	struct dkr_state *s = e->state;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (add) {
		s->pend_cpus += cpus;
		s->pend_memory += memory;
	} else {
		s->pend_cpus = s->pend_cpus > cpus ? s->pend_cpus - cpus : 0;
		s->pend_memory =
		        s->pend_memory > memory ? s->pend_memory - memory : 0;
	}
	pthread_mutex_unlock(&s->lock);
}

void dkr_engine_pending(dkr *e, double *cpus, uint64_t *memory)
{
	struct dkr_state *s = e->state;
	*cpus = 0;
	*memory = 0;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	*cpus = s->pend_cpus;
	*memory = s->pend_memory;
	pthread_mutex_unlock(&s->lock);
}
