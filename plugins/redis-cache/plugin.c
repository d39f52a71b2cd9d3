/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the redis-cache plugin: provides every hook of
 * <vibebox/cache.h> on a Redis server (or the master a set of Sentinels
 * names), and a readiness check "redis".
 *
 * init reads the block and registers the hooks; start begins the
 * subscriber (and sentinel watch) threads; connections open lazily, so
 * the daemon starts while Redis is down and the hooks answer
 * VBX_EUNAVAIL until it answers (unless required = true, which only
 * makes readiness fail meanwhile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/catalog.h>

#include "rc.h"

/* PING with the command timeout; down is degraded (readiness holds)
 * unless required. */
static int health_check(void *ud, vbx_health *report)
{
	rcache *r = ud;
	int64_t t0 = rc_now_ms();
	const char *argv[] = {"PING"};
	const size_t lens[] = {4};
	redisReply *rep = NULL;
	char detail[RC_ERR_MAX + RC_HOST_MAX + 64], where[RC_HOST_MAX + 16];
	int rc = rc_command(r, &rep, 1, argv, lens);

	freeReplyObject(rep);
	int64_t us = (rc_now_ms() - t0) * 1000;
	if (rc == VBX_OK) {
		vbx_health_add(report, "redis", VBX_OK, us, NULL);
		return VBX_OK;
	}
	pthread_mutex_lock(&r->lock);
	rc_addr_str(&r->master, where, sizeof(where));
	snprintf(detail, sizeof(detail), "%s unreachable (%s)", where,
	         r->down_reason[0] ? r->down_reason : "no answer");
	pthread_mutex_unlock(&r->lock);
	vbx_health_add(report, "redis",
	               r->cfg.required ? VBX_EUNAVAIL : VBX_HEALTH_DEGRADED, us,
	               detail);
	return VBX_OK;
}

static void rc_free(rcache *r)
{
	rc_pool_fini(r);
	rc_pubsub_free(r);
	rc_tls_free(r->tls);
	rc_settings_free(&r->cfg);
	free(r);
}

static int register_hooks(rcache *r)
{
	int (*const reg[])(rcache *) = {rc_kv_register, rc_rate_register,
	                                rc_lock_register, rc_pubsub_register};

	for (size_t i = 0; i < sizeof(reg) / sizeof(reg[0]); i++) {
		int rc = reg[i](r);
		if (rc != VBX_OK)
			return rc;
	}
	return vbx_hook_health_check_register(r->self, health_check, r,
	                                      VBX_PRIO_MIDDLE);
}

static int make_tls(rcache *r, const vbx_config *cfg)
{
	char err[RC_ERR_MAX];

	if (!r->cfg.url.tls)
		return VBX_OK;
	r->tls = rc_tls_new(&r->cfg, err, sizeof(err));
	if (!r->tls)
		return vbx_cfg_error(cfg, "url", "%s", err);
	return VBX_OK;
}

/* The settings of cfg and their TLS context in a new state (*out), as
 * init and validate both need them: the TLS files are loaded here, so a
 * bad certificate is refused at reload too. */
static int rc_state_new(vbx_plugin *self, const vbx_config *cfg, rcache **out)
{
	rcache *r = calloc(1, sizeof(*r));

	*out = r;
	if (!r)
		return VBX_ENOMEM;
	r->self = self;
	int rc = rc_settings_parse(cfg, &r->cfg);
	return rc == VBX_OK ? make_tls(r, cfg) : rc;
}

static int rc_init(vbx_plugin *self, const vbx_config *cfg)
{
	rcache *r;
	int rc = rc_state_new(self, cfg, &r);

	if (!r)
		return rc;
	if (rc == VBX_OK)
		rc = rc_pool_init(r);
	if (rc == VBX_OK)
		rc = register_hooks(r);
	if (rc != VBX_OK) {
		if (rc != VBX_EINVAL)
			vbx_log_error(self, "redis-cache: init failed: %s",
			              vbx_strerror(self, rc));
		rc_free(r);
		return rc;
	}
	vbx_plugin_set_data(self, r);
	return VBX_OK;
}

/* Init's parsing into a scratch state thrown away. */
static int rc_validate(vbx_plugin *self, const vbx_config *cfg)
{
	rcache *r;
	int rc = rc_state_new(self, cfg, &r);

	if (r)
		rc_free(r);
	return rc;
}

static int rc_start(vbx_plugin *self)
{
	rcache *r = vbx_plugin_data(self);
	char where[RC_HOST_MAX + 16];

	rc_addr_str(r->cfg.nsentinels ? &r->cfg.sentinels[0] : &r->cfg.url.addr,
	            where, sizeof(where));
	vbx_log_info(self, "redis-cache: %s %s%s, pool %d, timeout %lldms",
	             r->cfg.nsentinels ? "sentinels at" : "server", where,
	             r->cfg.nsentinels > 1 ? " and others" : "", r->cfg.pool,
	             (long long)r->cfg.timeout_ms);
	if (rc_pubsub_start(r) != VBX_OK ||
	    rc_sentinel_watch_start(r) != VBX_OK) {
		vbx_log_error(self, "redis-cache: cannot start its threads");
		return VBX_ERR;
	}
	return VBX_OK;
}

static void rc_stop(vbx_plugin *self)
{
	rcache *r = vbx_plugin_data(self);

	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->freed);
	pthread_mutex_unlock(&r->lock);
	rc_pubsub_stop(r);
	rc_sentinel_watch_stop(r);
}

static void rc_fini(vbx_plugin *self)
{
	rcache *r = vbx_plugin_data(self);

	if (!r)
		return;
	vbx_plugin_set_data(self, NULL);
	rc_free(r);
}

static const char *const rc_provides[] = {"cache", NULL};

VBX_PLUGIN(.name = "redis-cache", .version = "0.1.0",
           .description = "cache, rate counters, locks and pub/sub shared "
                          "by replicas, on Redis",
           .provides = rc_provides, .init = rc_init, .start = rc_start,
           .stop = rc_stop, .fini = rc_fini, .validate = rc_validate);
