/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - what postgres-store exports through the metric registry:
 *
 *   store_query_duration_seconds{operation}  histogram: one store hook's
 *       time with its connection, from acquire (the wait for a slot and a
 *       connect included) to release; operation is the hook's name
 *       (store_user_get, ...). Observed when the connection is released,
 *       so a hook that could not get one (database down) is not.
 *   store_pool_connections{state}  gauge, read at scrape time: idle (open,
 *       free), busy (held by a call), connecting (held by a call that is
 *       opening its connection), closed (a free slot without one). The
 *       four add up to `pool`.
 *
 * The handlers pass their own name (__func__, see pg.h) to the pool; the
 * table below maps it to the hook it implements. Every series is resolved
 * at init; a release looks its series up in that sorted table, without a
 * lock. Health checks and migrations are no store hooks and not counted.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vibebox/metrics.h>

#include "pg.h"

typedef struct op_entry {
	const char *fn;   /* the handler's __func__ */
	const char *hook; /* the label: the hook's name */
} op_entry;

/* Sorted by fn (strcmp), for bsearch. */
static const op_entry ops[] = {
        {"audit_add", "store_audit_add"},
        {"audit_list", "store_audit_list"},
        {"env_count", "store_env_count"},
        {"env_create", "store_env_create"},
        {"env_delete", "store_env_delete"},
        {"env_get", "store_env_get"},
        {"env_list", "store_env_list"},
        {"env_touch", "store_env_touch"},
        {"env_transition", "store_env_transition"},
        {"env_update", "store_env_update"},
        {"instance_id", "store_instance_id"},
        {"key_create", "store_key_create"},
        {"key_list", "store_key_list"},
        {"key_revoke", "store_key_revoke"},
        {"key_use", "store_key_use"},
        {"member_get", "store_member_get"},
        {"member_list", "store_member_list"},
        {"member_remove", "store_member_remove"},
        {"member_set", "store_member_set"},
        {"port_add", "store_env_port_add"},
        {"port_list", "store_env_port_list"},
        {"port_remove", "store_env_port_remove"},
        {"port_set_host", "store_env_port_set_host"},
        {"project_create", "store_project_create"},
        {"project_delete", "store_project_delete"},
        {"project_get", "store_project_get"},
        {"project_list", "store_project_list"},
        {"project_update", "store_project_update"},
        {"refresh_create", "store_refresh_create"},
        {"refresh_family_live", "store_refresh_family_live"},
        {"refresh_revoke_family", "store_refresh_revoke_family"},
        {"refresh_revoke_user", "store_refresh_revoke_user"},
        {"refresh_use", "store_refresh_use"},
        {"team_create", "store_team_create"},
        {"team_delete", "store_team_delete"},
        {"team_get", "store_team_get"},
        {"team_list", "store_team_list"},
        {"team_update", "store_team_update"},
        {"user_by_email", "store_user_by_email"},
        {"user_create", "store_user_create"},
        {"user_get", "store_user_get"},
        {"user_list", "store_user_list"},
        {"user_update", "store_user_update"},
        {"var_delete", "store_env_var_delete"},
        {"var_get", "store_env_var_get"},
        {"var_list", "store_env_var_list"},
        {"var_write", "store_env_var_set"}, /* var_set's writer */
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

enum { POOL_IDLE, POOL_BUSY, POOL_CONNECTING, POOL_CLOSED, POOL_NSTATES };
static const char *const pool_states[POOL_NSTATES] = {"idle", "busy",
                                                      "connecting", "closed"};

/* Process-wide: the series outlive any one load of the plugin. */
static vbx_series *op_series[NOPS];
static vbx_series *pool_series[POOL_NSTATES];
/* The pool the collector reads; NULL once the plugin is finalised. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pgs *pool_owner;

static int op_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const op_entry *)elem)->fn);
}

void pgs_metrics_observe(const char *fn, int64_t since_ns)
{
	struct timespec ts;

	if (!fn || !op_series[0]) /* metrics off: nothing resolved */
		return;
	const op_entry *e = bsearch(fn, ops, NOPS, sizeof(ops[0]), op_cmp);
	if (!e)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - since_ns;
	vbx_histogram_observe(op_series[e - ops], (double)ns / 1e9);
}

static void pool_collect(vbx_metric *m, void *ud)
{
	int n[POOL_NSTATES] = {0};

	pthread_mutex_lock(&pool_lock);
	pgs *s = pool_owner;
	if (s && s->pool.conns) {
		pthread_mutex_lock(&s->pool.lock);
		for (int i = 0; i < s->pool.size; i++) {
			pgs_conn *c = &s->pool.conns[i];
			if (!c->busy)
				n[c->pg ? POOL_IDLE : POOL_CLOSED]++;
			else if (__atomic_load_n(&c->connecting,
			                         __ATOMIC_RELAXED))
				n[POOL_CONNECTING]++;
			else
				n[POOL_BUSY]++;
		}
		pthread_mutex_unlock(&s->pool.lock);
	}
	pthread_mutex_unlock(&pool_lock);
	for (int i = 0; i < POOL_NSTATES; i++)
		vbx_gauge_set(pool_series[i], n[i]);
}

int pgs_metrics_init(pgs *s)
{
	static const char *const op_labels[] = {"operation", NULL};
	static const char *const state_labels[] = {"state", NULL};
	vbx_metric *q = vbx_metric_histogram(
	        s->self, "store_query_duration_seconds",
	        "Time of a store hook with its PostgreSQL connection, from "
	        "acquire to release.",
	        op_labels, NULL, 0);
	vbx_metric *p = vbx_metric_gauge(
	        s->self, "store_pool_connections",
	        "PostgreSQL pool slots by state: idle, busy, connecting, "
	        "closed.",
	        state_labels);

	if (!q || !p)
		return VBX_ERR; /* the registry logged why */
	for (size_t i = 0; i < NOPS; i++)
		op_series[i] = vbx_metric_series(q, &ops[i].hook);
	for (int i = 0; i < POOL_NSTATES; i++)
		pool_series[i] = vbx_metric_series(p, &pool_states[i]);
	pthread_mutex_lock(&pool_lock);
	pool_owner = s;
	pthread_mutex_unlock(&pool_lock);
	return vbx_metric_on_collect(p, pool_collect, NULL);
}

void pgs_metrics_fini(pgs *s)
{
	pthread_mutex_lock(&pool_lock);
	if (pool_owner == s)
		pool_owner = NULL;
	pthread_mutex_unlock(&pool_lock);
}
