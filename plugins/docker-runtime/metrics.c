/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - what docker-runtime exports through the metric registry:
 *
 *   runtime_operations_total{operation,result}  counter: one per runtime
 *       hook call, when it returns.
 *   runtime_operation_duration_seconds{operation}  histogram: the time of
 *       that call on a monotonic clock (for logs and exec, the time to
 *       open the stream, not its life).
 *
 * operation is the runtime hook without its prefix (create, start, stop,
 * restart, remove, inspect, ports, stats, list, ping, logs, exec - the
 * terminal's attach -, leftovers, env_purge, workspace_keep, image_check);
 * result is ok, notfound (no such container), unavailable (the engine is
 * down or did not answer), timeout (it answered too late) or error
 * (anything else: refused, bad request). Every series is resolved at
 * init into the arrays below; an update is an index and an atomic add.
 */
#include <time.h>

#include <vibebox/metrics.h>

#include "docker.h"

static const char *const op_names[DKR_OP_COUNT] = {
        [DKR_OP_CREATE] = "create",
        [DKR_OP_START] = "start",
        [DKR_OP_STOP] = "stop",
        [DKR_OP_RESTART] = "restart",
        [DKR_OP_REMOVE] = "remove",
        [DKR_OP_INSPECT] = "inspect",
        [DKR_OP_PORTS] = "ports",
        [DKR_OP_STATS] = "stats",
        [DKR_OP_LIST] = "list",
        [DKR_OP_PING] = "ping",
        [DKR_OP_LOGS] = "logs",
        [DKR_OP_EXEC] = "exec",
        [DKR_OP_LEFTOVERS] = "leftovers",
        [DKR_OP_ENV_PURGE] = "env_purge",
        [DKR_OP_WORKSPACE_KEEP] = "workspace_keep",
        [DKR_OP_IMAGE_CHECK] = "image_check",
};

enum { R_OK, R_NOTFOUND, R_UNAVAILABLE, R_TIMEOUT, R_ERROR, R_COUNT };
static const char *const result_names[R_COUNT] = {
        "ok", "notfound", "unavailable", "timeout", "error"};

/* Process-wide: series live as long as the daemon. */
static vbx_series *ops_total[DKR_OP_COUNT][R_COUNT];
static vbx_series *op_seconds[DKR_OP_COUNT];

int dkr_metrics_init(vbx_plugin *p)
{
	static const char *const total_labels[] = {"operation", "result", NULL};
	static const char *const op_labels[] = {"operation", NULL};
	vbx_metric *t = vbx_metric_counter(
	        p, "runtime_operations_total",
	        "Runtime hook calls to the Docker engine by operation and "
	        "result.",
	        total_labels);
	vbx_metric *h = vbx_metric_histogram(
	        p, "runtime_operation_duration_seconds",
	        "Time of a runtime hook call to the Docker engine.", op_labels,
	        NULL, 0);

	if (!t || !h)
		return VBX_ERR; /* the registry logged why */
	for (int o = 0; o < DKR_OP_COUNT; o++) {
		op_seconds[o] = vbx_metric_series(h, &op_names[o]);
		for (int r = 0; r < R_COUNT; r++)
			ops_total[o][r] = vbx_metric_series(
			        t, (const char *const[]){op_names[o],
			                                 result_names[r]});
	}
	return VBX_OK;
}

/* The monotonic clock in ns. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int result_of(int rc)
{
	switch (rc) {
	case VBX_ENOTFOUND:
		return R_NOTFOUND;
	case VBX_EUNAVAIL:
		return R_UNAVAILABLE;
	case VBX_ETIMEDOUT:
		return R_TIMEOUT;
	default:
		return rc >= 0 ? R_OK : R_ERROR; /* > 0: a callback stopped */
	}
}

uint64_t dkr_op_begin(void)
{
	return op_seconds[0] ? now_ns() : 0; /* metrics off: no clock read */
}

int dkr_op_end(dkr_op op, uint64_t t0, int rc)
{
	if (op_seconds[op]) { /* NULL: metrics off, a branch */
		vbx_histogram_observe(op_seconds[op],
		                      (double)(now_ns() - t0) / 1e9);
		vbx_counter_inc(ops_total[op][result_of(rc)]);
	}
	return rc;
}
