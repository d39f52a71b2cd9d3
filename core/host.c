/* SPDX-License-Identifier: Apache-2.0 */
/*
 * host.c - the table of host functions every plugin receives. Each entry
 * forwards to the part of the core that implements it.
 */
#include "vbx_build.h"

#include <stdatomic.h>

#include "daemon.h"
#include "httputil.h"
#include "jsonout.h"
#include "pump.h"
#include "server.h"
#include "trace.h"

static int host_authorize_verdict(const vbx_principal *who, const char *action,
                                  const vbx_resource *res, const char **failed)
{
	*failed = action;
	if (!vbx__cat.authorize || vbx__cat.authorize->count == 0)
		return VBX_EUNAVAIL;
	return vbx__authorize_verdict(who, action, res, failed);
}

static int host_authorize_verdict_row(const vbx_principal *who,
                                      const char *action,
                                      const vbx_resource *res,
                                      const vbx_resource_row *row,
                                      const char **failed)
{
	*failed = action;
	if (!vbx__cat.authorize || vbx__cat.authorize->count == 0)
		return VBX_EUNAVAIL;
	return vbx__authorize_verdict_row(who, action, res, row, failed);
}

static vbx_pump *host_pump_new(vbx_plugin *p)
{
	return vbx__pump_new();
}

static void host_log(const vbx_plugin *p, int level, const char *fmt,
                     va_list ap)
{
	vbx__vlog(p->name, level, fmt, ap);
}

static int host_log_enabled(const vbx_plugin *p, int level)
{
	return vbx__log_enabled(level);
}

static const char *host_plugin_name(const vbx_plugin *p)
{
	return p->name;
}

static void *host_plugin_data(const vbx_plugin *p)
{
	return p->data;
}

static void host_plugin_set_data(vbx_plugin *p, void *data)
{
	p->data = data;
}

/* A reload swaps the block while workers may read it. */
static const vbx_config *host_plugin_config(const vbx_plugin *p)
{
	return __atomic_load_n(&p->cfg, __ATOMIC_ACQUIRE);
}

static const char *host_state_dir(const vbx_plugin *p)
{
	return vbx__state_dir();
}

static int host_timer_add(vbx_plugin *p, int64_t interval_ms, vbx_task_fn *fn,
                          void *ud)
{
	if (vbx__registry_frozen()) {
		vbx__log(p->name, VBX_LOG_ERROR,
		         "timers can be added during init only");
		return VBX_ESTATE;
	}
	return vbx__timer_add(interval_ms, fn, ud);
}

static int host_work_submit(vbx_plugin *p, vbx_task_fn *fn, void *ud)
{
	return vbx__workers_submit(fn, ud);
}

/* server.workers of the config in effect; before any (the fake host of
 * libvibebox-test), the default for this machine. */
int vbx__worker_count(const vbx_plugin *p)
{
	(void)p;
	const vbx__conf *c = vbx__conf_current();
	return c ? c->workers : vbx__workers_for_cpus(vbx__cpu_count());
}

const vbx_host vbx__host = {
        .struct_size = sizeof(vbx_host),
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .log = host_log,
        .log_enabled = host_log_enabled,
        .plugin_name = host_plugin_name,
        .plugin_data = host_plugin_data,
        .plugin_set_data = host_plugin_set_data,
        .plugin_config = host_plugin_config,
        .state_dir = host_state_dir,
        .strerror = vbx__strerror,
        .cfg_string = vbx__cfg_string,
        .cfg_int = vbx__cfg_int,
        .cfg_bool = vbx__cfg_bool,
        .cfg_duration = vbx__cfg_duration,
        .cfg_size = vbx__cfg_size,
        .cfg_secret = vbx__cfg_secret,
        .cfg_strings = vbx__cfg_strings,
        .cfg_error = vbx__cfg_error,
        .hook_get = vbx__hook_get,
        .hook_register = vbx__hook_register,
        .event_get = vbx__event_get,
        .event_subscribe = vbx__event_subscribe,
        .event_publish = vbx__event_publish,
        .route_add = vbx__route_add,
        .ws_route_add = vbx__ws_route_add,
        .req_method = vbx__req_method,
        .req_path = vbx__req_path,
        .req_id = vbx__req_id,
        .req_param = vbx__req_param,
        .req_query = vbx__req_query,
        .req_header = vbx__req_header,
        .req_client_addr = vbx__req_client_addr,
        .req_body = vbx__req_body,
        .req_json = vbx__req_json,
        .req_principal = vbx__req_principal,
        .req_alloc = vbx__req_alloc,
        .resp_json = vbx__resp_json,
        .resp_error = vbx__resp_error,
        .resp_body = vbx__resp_body,
        .resp_header = vbx__resp_header,
        .field_error = vbx__field_error,
        .fields_failed = vbx__req_fields_failed,
        .resp_validation = vbx__resp_validation,
        .json_string = vbx__req_json_string,
        .json_int = vbx__req_json_int,
        .json_number = vbx__req_json_number,
        .json_bool = vbx__req_json_bool,
        .ws_send = vbx__ws_send,
        .ws_pause = vbx__ws_pause,
        .ws_close = vbx__ws_close,
        .ws_ref = vbx__ws_ref,
        .ws_unref = vbx__ws_unref,
        .ws_set_data = vbx__ws_set_data,
        .ws_data = vbx__ws_data,
        .ws_principal = vbx__ws_principal,
        .ws_param = vbx__ws_param,
        .ws_query = vbx__ws_query,
        .timer_add = host_timer_add,
        .work_submit = host_work_submit,
        .health_add = vbx__health_add,
        .json_row = vbx__json_row,
        .authorize_verdict = host_authorize_verdict,
        .authorize_verdict_row = host_authorize_verdict_row,
        .authorize_context = vbx__authorize_context,
        .pump_new = host_pump_new,
        .pump_free = vbx__pump_free,
        .pump_add = vbx__pump_add,
        .pump_lock = vbx__pump_lock,
        .pump_unlock = vbx__pump_unlock,
        .pump_kick = vbx__pump_kick,
        .pump_now_ms = vbx__pump_now_ms,
        .req_page = vbx__req_page,
        .page_body = vbx__page_body,
        .resp_store_error = vbx__resp_store_error,
        .cpu_count = vbx__cpu_count,
        .worker_count = vbx__worker_count,
        .cfg_int_derived = vbx__cfg_int_derived,
        .cfg_duration_shown = vbx__cfg_duration_shown,
        /* 1.1 (audit) */
        .ws_client_addr = vbx__ws_client_addr,
        /* 1.2 (replicas) */
        .replica_id = vbx__replica_id,
        .event_share = vbx__event_share,
        /* 1.3 (metrics) */
        .metric_new = vbx__metric_new,
        .metric_series = vbx__metric_series,
        .metric_on_collect = vbx__metric_on_collect,
        .metrics_enabled = vbx__metrics_enabled,
        .metrics_visit = vbx__metrics_visit,
        /* 1.3 (tracing) */
        .span_start = vbx__span_start,
        .span_op = vbx__span_op,
        .traceparent = vbx__traceparent_current,
        .trace_exporter_set = vbx__trace_exporter_set,
        .hook_span = vbx__hook_span,
        .cfg_number = vbx__cfg_number,
};

const char *vbx__strerror(int rc)
{
	switch (rc) {
	case VBX_OK:
		return "success";
	case VBX_DECLINED:
		return "declined";
	case VBX_ERR:
		return "failed (see the log)";
	case VBX_EINVAL:
		return "invalid argument or configuration";
	case VBX_ENOMEM:
		return "out of memory";
	case VBX_ENOTFOUND:
		return "not found";
	case VBX_EEXIST:
		return "already exists";
	case VBX_EDENIED:
		return "not allowed";
	case VBX_EUNAUTH:
		return "not authenticated";
	case VBX_EUNAVAIL:
		return "unavailable";
	case VBX_EAGAIN:
		return "busy, try again";
	case VBX_ESTATE:
		return "wrong state for this operation";
	case VBX_ETIMEDOUT:
		return "timed out";
	case VBX_ESIGNATURE:
		return "hook or event signature mismatch";
	default:
		return "unknown error";
	}
}
