/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the platform's metrics (metrics.h):
 *
 *   environments{status}  every environment of the installation by status
 *       (all five always present, 0 when none), counted by the store at
 *       scrape time: one store_env_list per status with a page of one row,
 *       whose total is the count. A store that fails leaves the last
 *       values (logged once until it answers again).
 *   environment_transitions_total{from,to}  every status change the
 *       platform makes through store_env_transition (envs.c), on this
 *       replica; from is the status the platform moved it from.
 *   terminal_sessions  terminal sessions open on this replica (term.c):
 *       up when one starts, down when its process ends and it is freed,
 *       whatever its viewers.
 *   terminal_bytes_total{direction}  in: bytes from clients written to
 *       the processes; out: output bytes sent to clients (each viewer's).
 */
#include <string.h>

#include <vibebox/log.h>
#include <vibebox/store.h>

#include "metrics.h"

vbx__platform_metrics vbx__pm;

static const char *const statuses[VBX__ENV_STATUSES] = {
        "stopped", "starting", "running", "stopping", "error"};

static vbx_series *by_status[VBX__ENV_STATUSES];
static vbx_hook *env_list;
static vbx_plugin *platform;

/* The index of a status name, -1 when unknown. */
static int status_index(const char *name)
{
	for (int i = 0; i < VBX__ENV_STATUSES; i++)
		if (name && strcmp(name, statuses[i]) == 0)
			return i;
	return -1;
}

void vbx__metric_transition(const char *from, const char *to)
{
	int f = status_index(from), t = status_index(to);
	if (f >= 0 && t >= 0)
		vbx_counter_inc(vbx__pm.transitions[f][t]);
}

static int skip_row(void *ctx, const vbx_env *e)
{
	(void)ctx;
	(void)e;
	return VBX_OK;
}

static void count_statuses(vbx_metric *m, void *ud)
{
	const vbx_page one = {.page = 1, .limit = 1};
	static bool failing; /* logged once per outage; two scrapes may race */

	(void)m;
	(void)ud;
	for (int i = 0; i < VBX__ENV_STATUSES; i++) {
		int64_t total = 0;
		int rc = vbx_hook_store_env_list_run(env_list, NULL, NULL,
		                                     1u << i, &one, skip_row,
		                                     NULL, &total);
		if (rc != VBX_OK) {
			if (!__atomic_exchange_n(&failing, true,
			                         __ATOMIC_RELAXED))
				vbx_log_warn(
				        platform,
				        "metrics: environments{status} keeps "
				        "its last values until the store "
				        "answers: store_env_list: %s",
				        vbx_strerror(platform, rc));
			return;
		}
		vbx_gauge_set(by_status[i], (double)total);
	}
	if (__atomic_exchange_n(&failing, false, __ATOMIC_RELAXED))
		vbx_log_info(platform, "metrics: environments{status} is "
		                       "counted again");
}

static void resolve_transitions(vbx_metric *m)
{
	for (int f = 0; f < VBX__ENV_STATUSES; f++)
		for (int t = 0; t < VBX__ENV_STATUSES; t++)
			vbx__pm.transitions[f][t] =
			        f == t ? NULL
			               : vbx_metric_series(
			                         m, (const char *const[]){
			                                    statuses[f],
			                                    statuses[t]});
}

static int declare_terminal(vbx_plugin *self)
{
	static const char *const dir[] = {"direction", NULL};
	vbx_metric *s = vbx_metric_gauge(
	        self, "terminal_sessions",
	        "Terminal sessions open on this replica.", NULL);
	vbx_metric *b = vbx_metric_counter(
	        self, "terminal_bytes_total",
	        "Terminal bytes: in from clients to the processes, out to "
	        "clients.",
	        dir);

	if (!s || !b)
		return VBX_ERR;
	vbx__pm.term_sessions = vbx_metric_series(s, NULL);
	vbx__pm.term_bytes_in = vbx_metric_series(b, (const char *[]){"in"});
	vbx__pm.term_bytes_out = vbx_metric_series(b, (const char *[]){"out"});
	return VBX_OK;
}

int vbx__platform_metrics_init(vbx_plugin *self)
{
	static const char *const status_l[] = {"status", NULL};
	static const char *const move_l[] = {"from", "to", NULL};
	vbx_metric *envs = vbx_metric_gauge(
	        self, "environments",
	        "Environments of the installation by status (from the store).",
	        status_l);
	vbx_metric *moves = vbx_metric_counter(
	        self, "environment_transitions_total",
	        "Changes of an environment's status made by this replica.",
	        move_l);

	if (!envs || !moves || declare_terminal(self) != VBX_OK)
		return VBX_ERR; /* the registry logged why */
	platform = self;
	env_list = vbx_hook_store_env_list_get(self);
	for (int i = 0; i < VBX__ENV_STATUSES; i++)
		by_status[i] = vbx_metric_series(envs, &statuses[i]);
	resolve_transitions(moves);
	if (!by_status[0])
		return VBX_OK; /* metrics off: no query at all */
	return vbx_metric_on_collect(envs, count_statuses, NULL);
}
