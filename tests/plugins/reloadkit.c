/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reloadkit - a plugin with settings and a validate step, for the tests
 * of SIGHUP: init, validate and the config_reload handler share one
 * parse_config(), as docs/plugin-guide.md recommends.
 *
 * Config block:
 *   greeting  required, a non-empty string
 *   limit     an integer 1..100, default 10
 *   ttl       a duration 1m..24h, default "15m"
 *
 * The settings in use are observable without a route of its own: the
 * health check reports them as its detail ("greeting=hi limit=10
 * ttl=900000ms generation=1" in GET /health/ready), and each applied
 * reload is logged ("applied generation 2: greeting=...").
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "test_hooks.h"

typedef struct settings {
	const char *greeting; /* owned by the config block */
	long long limit;
	int64_t ttl_ms;
} settings;

static struct {
	vbx_plugin *self;
	pthread_mutex_t lock; /* the health check reads what a reload sets */
	settings cur;
	unsigned generation;
} kit = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Every key is read even after an error, so that all are reported. */
static int parse_config(const vbx_config *cfg, settings *out)
{
	int rc = VBX_OK;

	if (vbx_cfg_string(cfg, "greeting", NULL, &out->greeting) != VBX_OK)
		rc = VBX_EINVAL;
	else if (!out->greeting || !*out->greeting)
		rc = vbx_cfg_error(cfg, "greeting",
		                   "required: a non-empty string, such as "
		                   "greeting = \"hi\"");
	if (vbx_cfg_int(cfg, "limit", 1, 100, 10, &out->limit) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration(cfg, "ttl", "15m", 60 * 1000, 24 * 3600 * 1000,
	                     &out->ttl_ms) != VBX_OK)
		rc = VBX_EINVAL;
	return rc;
}

static int reloadkit_validate(vbx_plugin *self, const vbx_config *cfg)
{
	settings s;
	return parse_config(cfg, &s);
}

static void describe(const settings *s, unsigned generation, char *buf,
                     size_t size)
{
	snprintf(buf, size, "greeting=%s limit=%lld ttl=%lldms generation=%u",
	         s->greeting, s->limit, (long long)s->ttl_ms, generation);
}

static int health(void *ud, vbx_health *h)
{
	char detail[256];

	pthread_mutex_lock(&kit.lock);
	describe(&kit.cur, kit.generation, detail, sizeof(detail));
	pthread_mutex_unlock(&kit.lock);
	vbx_health_add(h, "reloadkit", VBX_OK, 1, detail);
	return VBX_OK;
}

/* The daemon validated the new block before this event: apply it. */
static void on_reload(void *ud, const vbx_config_reload_event *ev)
{
	settings s;
	char text[256];

	if (parse_config(vbx_plugin_config(kit.self), &s) != VBX_OK) {
		vbx_log_error(kit.self,
		              "generation %u: a block that passed "
		              "validate was refused; keeping the "
		              "running settings",
		              ev->generation);
		return;
	}
	pthread_mutex_lock(&kit.lock);
	kit.cur = s;
	kit.generation = ev->generation;
	pthread_mutex_unlock(&kit.lock);
	describe(&s, ev->generation, text, sizeof(text));
	vbx_log_info(kit.self, "applied generation %u: %s", ev->generation,
	             text);
}

static int reloadkit_init(vbx_plugin *self, const vbx_config *cfg)
{
	settings s;
	int rc = parse_config(cfg, &s);

	test_trace("reloadkit", "init");
	if (rc != VBX_OK)
		return rc;
	kit.self = self;
	kit.cur = s;
	kit.generation = 1;
	if (vbx_hook_health_check_register(self, health, NULL,
	                                   VBX_PRIO_MIDDLE) ||
	    vbx_event_config_reload_subscribe(self, on_reload, NULL))
		return VBX_ERR;
	return VBX_OK;
}

static void reloadkit_fini(vbx_plugin *self)
{
	test_trace("reloadkit", "fini");
}

VBX_PLUGIN(.name = "reloadkit", .version = "1.0.0",
           .description = "settings checked and applied on SIGHUP",
           .init = reloadkit_init, .validate = reloadkit_validate,
           .fini = reloadkit_fini);
