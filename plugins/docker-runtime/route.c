/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route.c - the runtime hooks, each sent to the engine that holds its
 * container.
 *
 * The placement is recorded where every replica reads it: in the
 * container id that runtime_create returns and the platform stores with
 * the environment. With several engines it reads "<engine>/<id>"; an id
 * without a slash (created while there was one engine) belongs to the
 * first engine of the list. The ids of events and lists carry the engine
 * the same way, so that they compare equal to the stored ones.
 *
 * With several engines, an engine that its watcher knows to be down is
 * not asked: its hooks answer VBX_EUNAVAIL at once with "engine NAME
 * unreachable: ..." (runtime_inspect in out->error), which the platform
 * records as its environments' reason.
 *
 * Each hook is u_NAME, and is registered as r_NAME: the same call counted
 * and timed for runtime_operations_total (metrics.c).
 */
#include <stdio.h>
#include <string.h>

#include "docker.h"

/* ---- one engine's hooks ---- */

static int no_engine(const char *id, char *why, size_t why_len)
{
	if (why && why_len)
		snprintf(why, why_len,
		         "container \"%.80s\" names no engine of "
		         "plugins.docker-runtime.engines",
		         id);
	return VBX_ENOTFOUND;
}

/* The engine of id, or NULL with rc set: no such engine, or known down. */
static dkr *route(void *ud, const char *id, const char **raw, int *rc,
                  char *why, size_t why_len)
{
	dkr *e = dkr_route_find(ud, id, raw);
	if (!e) {
		*rc = no_engine(id, why, why_len);
		return NULL;
	}
	*rc = dkr_engine_down(e, why, why_len);
	return *rc == VBX_OK ? e : NULL;
}

static int u_start(void *ud, const char *id, char *why, size_t why_len)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, why, why_len);
	return e ? dkr_start(e, raw, why, why_len) : rc;
}

static int u_stop(void *ud, const char *id, int timeout_s)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_stop(e, raw, timeout_s) : rc;
}

static int u_restart(void *ud, const char *id, int timeout_s, char *why,
                     size_t why_len)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, why, why_len);
	return e ? dkr_restart(e, raw, timeout_s, why, why_len) : rc;
}

static int u_remove(void *ud, const char *id)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_remove(e, raw) : rc;
}

static int u_inspect(void *ud, const char *id, vbx_container_state *out)
{
	const char *raw;
	int rc;
	char why[256] = "";
	dkr *e = route(ud, id, &raw, &rc, why, sizeof(why));
	if (!e) {
		*out = (vbx_container_state){0};
		snprintf(out->id, sizeof(out->id), "%s", id);
		snprintf(out->error, sizeof(out->error), "%s", why);
		return rc;
	}
	rc = dkr_inspect(e, raw, out);
	if (rc == VBX_OK) {
		char own[VBX_CONTAINER_ID_LEN];
		snprintf(own, sizeof(own), "%s", out->id);
		dkr_route_ext_id(e, own, out->id);
	}
	return rc;
}

static int u_ports(void *ud, const char *id, vbx_env_port_each_fn *each,
                   void *ctx)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_ports(e, raw, each, ctx) : rc;
}

static int u_stats(void *ud, const char *id, vbx_container_stats *out)
{
	const char *raw;
	int rc;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_stats(e, raw, out) : rc;
}

static int u_logs(void *ud, const char *id, const vbx_logs_opts *opts,
                  vbx_stream **out)
{
	const char *raw;
	int rc;
	*out = NULL;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_logs(e, raw, opts, out) : rc;
}

static int u_exec(void *ud, const char *id, const vbx_exec_spec *spec,
                  vbx_stream **out)
{
	const char *raw;
	int rc;
	*out = NULL;
	dkr *e = route(ud, id, &raw, &rc, NULL, 0);
	return e ? dkr_exec(e, raw, spec, out) : rc;
}

/* ---- create: placement ---- */

static int u_create(void *ud, const vbx_container_spec *spec, char *id,
                    char *why, size_t why_len)
{
	dkr *d = ud;
	char raw[VBX_CONTAINER_ID_LEN], scratch[8];
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	why[0] = id[0] = '\0';
	int rc = dkr_image_check(d, spec->env->image, why, why_len);
	if (rc != VBX_OK)
		return rc;
	bool reserved;
	dkr *e = dkr_place(d, spec->env, &reserved, why, why_len);
	if (!e)
		return VBX_EUNAVAIL;
	rc = dkr_create(e, spec, raw, why, why_len);
	if (reserved) /* created: its labels count from now on */
		dkr_engine_reserve(
		        e, spec->env->cpu_limit > 0 ? spec->env->cpu_limit : 0,
		        dkr_env_memory(spec->env), false);
	if (rc == VBX_OK) {
		dkr_route_ext_id(e, raw, id);
		if (e->prefix_ids && d->plugin)
			vbx_log_info(d->plugin,
			             "environment %s placed on engine %s",
			             spec->env->id, e->name);
	}
	return rc;
}

/* Allowed by the plugin's images and by one engine's at least. */
static int u_image_check(void *ud, const char *image, char *why, size_t why_len)
{
	dkr *d = ud;
	int rc = dkr_image_check(d, image, why, why_len);
	if (rc != VBX_OK || d->n_eng < 2)
		return rc;
	for (size_t i = 0; i < d->n_eng; i++)
		if (!d->eng[i]->eng_images ||
		    dkr_image_match(d->eng[i]->eng_images,
		                    d->eng[i]->n_eng_images, image))
			return VBX_OK;
	if (why && why_len)
		snprintf(why, why_len,
		         "image %s is not allowed by the images of any engine "
		         "of plugins.docker-runtime.engines",
		         image);
	return VBX_EDENIED;
}

/* ---- every engine ---- */

typedef struct list_ctx {
	const dkr *e;
	vbx_container_each_fn *each;
	void *ctx;
} list_ctx;

static int list_one(void *ctx, const vbx_container_state *c)
{
	list_ctx *l = ctx;
	vbx_container_state row = *c;
	dkr_route_ext_id(l->e, c->id, row.id);
	return l->each(l->ctx, &row);
}

/* The engines that answer; VBX_EUNAVAIL only when none does, since a
 * partial list is safe for what the platform does with it (removing
 * what no environment owns). */
static int u_list(void *ud, vbx_container_each_fn *each, void *ctx)
{
	dkr *d = ud;
	int rc = VBX_EUNAVAIL;
	for (size_t i = 0; i < d->n_eng; i++) {
		dkr *e = d->eng[i];
		list_ctx l = {e, each, ctx};
		if (dkr_engine_down(e, NULL, 0) != VBX_OK)
			continue;
		int r = dkr_list(e, list_one, &l);
		if (r > 0)
			return r; /* the callback stopped */
		if (r == VBX_OK || rc == VBX_EUNAVAIL)
			rc = r;
	}
	return rc;
}

static int u_leftovers(void *ud, vbx_runtime_leftover_fn *each, void *ctx)
{
	dkr *d = ud;
	int rc = VBX_EUNAVAIL;
	for (size_t i = 0; i < d->n_eng; i++) {
		if (dkr_engine_down(d->eng[i], NULL, 0) != VBX_OK)
			continue;
		int r = dkr_leftovers(d->eng[i], each, ctx);
		if (r > 0)
			return r;
		if (r == VBX_OK || rc == VBX_EUNAVAIL)
			rc = r;
	}
	return rc;
}

/* On every engine that is not known down; the first failure is
 * returned. What a down engine holds, runtime_leftovers reports once it
 * is back, and the platform's reconcile pass removes it then. */
static int u_env_purge(void *ud, const char *env_id, unsigned what, char *why,
                       size_t why_len)
{
	dkr *d = ud;
	int rc = VBX_OK;
	for (size_t i = 0; i < d->n_eng; i++) {
		if (dkr_engine_down(d->eng[i], NULL, 0) != VBX_OK)
			continue;
		int r = dkr_env_purge(d->eng[i], env_id, what, why, why_len);
		if (rc == VBX_OK)
			rc = r;
	}
	return rc;
}

static int u_ws_keep(void *ud, const vbx_env *env, char *why, size_t why_len)
{
	dkr *d = ud;
	int rc = VBX_ENOTFOUND;
	for (size_t i = 0; i < d->n_eng && rc == VBX_ENOTFOUND; i++)
		if (dkr_engine_down(d->eng[i], NULL, 0) == VBX_OK)
			rc = dkr_ws_keep(d->eng[i], env, why, why_len);
	return rc;
}

/* VBX_OK while one engine answers. */
static int u_ping(void *ud, char *why, size_t why_len)
{
	dkr *d = ud;
	int rc = VBX_EUNAVAIL;
	for (size_t i = 0; i < d->n_eng && rc != VBX_OK; i++)
		if (dkr_engine_down(d->eng[i], why, why_len) == VBX_OK)
			rc = dkr_ping(d->eng[i], why, why_len);
	return rc;
}

/* ---- the hooks, counted and timed (metrics.c) ---- */

static int r_create(void *ud, const vbx_container_spec *spec, char *id,
                    char *why, size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_CREATE, t0,
	                  u_create(ud, spec, id, why, why_len));
}

static int r_start(void *ud, const char *id, char *why, size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_START, t0, u_start(ud, id, why, why_len));
}

static int r_stop(void *ud, const char *id, int timeout_s)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_STOP, t0, u_stop(ud, id, timeout_s));
}

static int r_restart(void *ud, const char *id, int timeout_s, char *why,
                     size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_RESTART, t0,
	                  u_restart(ud, id, timeout_s, why, why_len));
}

static int r_remove(void *ud, const char *id)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_REMOVE, t0, u_remove(ud, id));
}

static int r_inspect(void *ud, const char *id, vbx_container_state *out)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_INSPECT, t0, u_inspect(ud, id, out));
}

static int r_ports(void *ud, const char *id, vbx_env_port_each_fn *each,
                   void *ctx)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_PORTS, t0, u_ports(ud, id, each, ctx));
}

static int r_stats(void *ud, const char *id, vbx_container_stats *out)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_STATS, t0, u_stats(ud, id, out));
}

static int r_list(void *ud, vbx_container_each_fn *each, void *ctx)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_LIST, t0, u_list(ud, each, ctx));
}

static int r_ping(void *ud, char *why, size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_PING, t0, u_ping(ud, why, why_len));
}

static int r_logs(void *ud, const char *id, const vbx_logs_opts *opts,
                  vbx_stream **out)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_LOGS, t0, u_logs(ud, id, opts, out));
}

static int r_exec(void *ud, const char *id, const vbx_exec_spec *spec,
                  vbx_stream **out)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_EXEC, t0, u_exec(ud, id, spec, out));
}

static int r_leftovers(void *ud, vbx_runtime_leftover_fn *each, void *ctx)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_LEFTOVERS, t0, u_leftovers(ud, each, ctx));
}

static int r_env_purge(void *ud, const char *env_id, unsigned what, char *why,
                       size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_ENV_PURGE, t0,
	                  u_env_purge(ud, env_id, what, why, why_len));
}

static int r_ws_keep(void *ud, const vbx_env *env, char *why, size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_WORKSPACE_KEEP, t0,
	                  u_ws_keep(ud, env, why, why_len));
}

static int r_image_check(void *ud, const char *image, char *why, size_t why_len)
{
	uint64_t t0 = dkr_op_begin();
	return dkr_op_end(DKR_OP_IMAGE_CHECK, t0,
	                  u_image_check(ud, image, why, why_len));
}

int dkr_route_register(dkr *d)
{
	vbx_plugin *p = d->plugin;
	int m = VBX_PRIO_MIDDLE;
	int rc = vbx_hook_runtime_create_register(p, r_create, d, m);
	rc = rc ? rc : vbx_hook_runtime_start_register(p, r_start, d, m);
	rc = rc ? rc : vbx_hook_runtime_stop_register(p, r_stop, d, m);
	rc = rc ? rc : vbx_hook_runtime_restart_register(p, r_restart, d, m);
	rc = rc ? rc : vbx_hook_runtime_remove_register(p, r_remove, d, m);
	rc = rc ? rc : vbx_hook_runtime_inspect_register(p, r_inspect, d, m);
	rc = rc ? rc : vbx_hook_runtime_ports_register(p, r_ports, d, m);
	rc = rc ? rc : vbx_hook_runtime_stats_register(p, r_stats, d, m);
	rc = rc ? rc : vbx_hook_runtime_list_register(p, r_list, d, m);
	rc = rc ? rc : vbx_hook_runtime_ping_register(p, r_ping, d, m);
	rc = rc ? rc : vbx_hook_runtime_logs_register(p, r_logs, d, m);
	rc = rc ? rc : vbx_hook_runtime_exec_register(p, r_exec, d, m);
	rc = rc ? rc
	        : vbx_hook_runtime_leftovers_register(p, r_leftovers, d, m);
	rc = rc ? rc
	        : vbx_hook_runtime_env_purge_register(p, r_env_purge, d, m);
	rc = rc ? rc
	        : vbx_hook_runtime_workspace_keep_register(p, r_ws_keep, d, m);
	rc = rc ? rc
	        : vbx_hook_runtime_image_check_register(p, r_image_check, d, m);
	return rc;
}
