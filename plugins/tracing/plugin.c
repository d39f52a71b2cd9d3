/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the tracing plugin: provides "tracing". Registers the
 * daemon's span exporter with the configured sampling ratio, so that the
 * core records request, WebSocket and hook spans (trace.h), and exports
 * them as OTLP over HTTP (JSON) to plugins.tracing.endpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <vibebox/catalog.h>

#include "tracing.h"

#define TR_VERSION "0.1.0"

static int read_endpoint(const vbx_config *cfg, tr_settings *s)
{
	const char *ep = NULL;
	if (vbx_cfg_string(cfg, "endpoint", NULL, &ep) != VBX_OK)
		return VBX_EINVAL;
	if (!ep || !ep[0])
		return vbx_cfg_error(cfg, "endpoint",
		                     "required: the OTLP/HTTP collector, e.g. "
		                     "\"http://127.0.0.1:4318\" (spans go to "
		                     "<endpoint>/v1/traces)");
	if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
		return vbx_cfg_error(cfg, "endpoint",
		                     "\"%s\": expected an http:// or https:// "
		                     "URL",
		                     ep);
	for (const char *c = ep; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return vbx_cfg_error(cfg, "endpoint",
			                     "spaces and control characters "
			                     "are not allowed");
	size_t n = strlen(ep);
	while (n && ep[n - 1] == '/')
		n--;
	if (n + sizeof("/v1/traces") > sizeof(s->url))
		return vbx_cfg_error(cfg, "endpoint", "longer than %zu bytes",
		                     sizeof(s->url) - sizeof("/v1/traces"));
	snprintf(s->url, sizeof(s->url), "%.*s/v1/traces", (int)n, ep);
	return VBX_OK;
}

static int read_service_name(const vbx_config *cfg, tr_settings *s)
{
	const char *name = NULL;
	if (vbx_cfg_string(cfg, "service_name", "vibebox", &name) != VBX_OK)
		return VBX_EINVAL;
	if (!name[0] || strlen(name) >= sizeof(s->service_name))
		return vbx_cfg_error(cfg, "service_name",
		                     "expected 1..%zu bytes",
		                     sizeof(s->service_name) - 1);
	snprintf(s->service_name, sizeof(s->service_name), "%s", name);
	return VBX_OK;
}

int tr_settings_parse(const vbx_config *cfg, tr_settings *s)
{
	int rc = VBX_OK;
	memset(s, 0, sizeof(*s));
	if (read_endpoint(cfg, s) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_number(cfg, "sample", 0.0, 1.0, 0.01, &s->sample) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_int(cfg, "queue", 1, 1000000, 2048, &s->queue) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_int(cfg, "batch", 1, 10000, 512, &s->batch) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration(cfg, "interval", "1s", 10, 60000,
	                     &s->interval_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration(cfg, "timeout", "2s", 100, 60000,
	                     &s->timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (read_service_name(cfg, s) != VBX_OK)
		rc = VBX_EINVAL;
	if (rc == VBX_OK && s->batch > s->queue)
		return vbx_cfg_error(cfg, "batch",
		                     "%lld is larger than queue (%lld)",
		                     s->batch, s->queue);
	return rc;
}

static void declare_metrics(tr_exporter *e)
{
	vbx_metric *m = vbx_metric_counter(
	        e->self, "spans_exported_total",
	        "Spans the tracing plugin delivered to the collector.", NULL);
	e->m_exported = vbx_metric_series(m, NULL);
	m = vbx_metric_counter(e->self, "spans_dropped_total",
	                       "Spans the tracing plugin dropped: queue full, "
	                       "or the collector slow, down or refusing.",
	                       NULL);
	e->m_dropped = vbx_metric_series(m, NULL);
}

/* A reload that changed the block: the exporter, its thread and the
 * ratio were set up at init, so say that the change waits for a restart
 * rather than let it pass silently. */
static void on_config_reload(void *ud, const vbx_config_reload_event *ev)
{
	tr_exporter *e = ud;
	tr_settings now;
	(void)ev;
	if (tr_settings_parse(vbx_plugin_config(e->self), &now) != VBX_OK ||
	    memcmp(&now, &e->cfg, sizeof(now)) == 0)
		return;
	vbx_log_warn(e->self,
	             "plugins.tracing changed; the new settings apply at the "
	             "next restart (exporting to %s at sample %g until then)",
	             e->cfg.url, e->cfg.sample);
}

static int tr_init(vbx_plugin *self, const vbx_config *cfg)
{
	tr_exporter *e = calloc(1, sizeof(*e));
	if (!e)
		return VBX_ENOMEM;
	e->self = self;
	if (tr_settings_parse(cfg, &e->cfg) != VBX_OK) {
		free(e);
		return VBX_EINVAL;
	}
	e->ring = calloc((size_t)e->cfg.queue, sizeof(*e->ring));
	if (!e->ring || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(e->ring);
		free(e);
		return VBX_ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	snprintf(e->instance_id, sizeof(e->instance_id), "%s",
	         vbx_replica_id(self));
	e->res = (tr_resource){.service_name = e->cfg.service_name,
	                       .instance_id = e->instance_id,
	                       .version = TR_VERSION};
	declare_metrics(e);
	int rc = vbx_trace_exporter_set(self, e->cfg.sample, tr_enqueue, e);
	if (rc == VBX_OK)
		rc = vbx_event_config_reload_subscribe(self, on_config_reload,
		                                       e);
	if (rc != VBX_OK) {
		tr_exporter_free(e);
		free(e);
		return rc;
	}
	vbx_plugin_set_data(self, e);
	vbx_log_info(self, "exporting spans to %s, sampling %g of new traces",
	             e->cfg.url, e->cfg.sample);
	return VBX_OK;
}

static int tr_validate(vbx_plugin *self, const vbx_config *cfg)
{
	tr_settings s;
	(void)self;
	return tr_settings_parse(cfg, &s);
}

static int tr_start(vbx_plugin *self)
{
	return tr_exporter_start(vbx_plugin_data(self));
}

static void tr_stop(vbx_plugin *self)
{
	tr_exporter_stop(vbx_plugin_data(self));
}

static void tr_fini(vbx_plugin *self)
{
	tr_exporter *e = vbx_plugin_data(self);
	if (!e)
		return;
	tr_exporter_free(e);
	free(e);
}

static const char *const tr_provides[] = {"tracing", NULL};

VBX_PLUGIN(.name = "tracing", .version = TR_VERSION,
           .description = "exports spans as OTLP/HTTP JSON",
           .provides = tr_provides, .init = tr_init, .start = tr_start,
           .stop = tr_stop, .fini = tr_fini, .validate = tr_validate);
