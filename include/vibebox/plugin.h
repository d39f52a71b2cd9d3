/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/plugin.h - the plugin descriptor, the ABI and the host table.
 *
 * A plugin is a shared object that exports one symbol, vbx_plugin_entry,
 * which returns a constant descriptor. Write it with VBX_PLUGIN():
 *
 *     static int hello_init(vbx_plugin *self, const vbx_config *cfg);
 *     static void hello_fini(vbx_plugin *self);
 *     static const char *const hello_provides[] = { "greeting", NULL };
 *
 *     VBX_PLUGIN(.name = "hello", .version = "1.0.0",
 *                .description = "says hello",
 *                .provides = hello_provides,
 *                .init = hello_init, .fini = hello_fini);
 *
 * The daemon refuses a descriptor whose magic is wrong, whose ABI major
 * differs from its own, whose ABI minor is newer than its own, or whose
 * init or fini is NULL.
 *
 * A plugin with settings also declares .validate, which shares its config
 * parsing with init (see validate below and docs/plugin-guide.md), so that
 * a reload can check its new block before anything of it is applied.
 *
 * ABI changelog (bump the minor for additions at the end of a struct, the
 * major for anything else):
 *   1.0  first release: descriptor, host table, hooks, events, HTTP, WS.
 *   1.1  additions; a plugin built for 1.0 loads and runs unchanged:
 *        - hook and event signatures are compared as C types: parameter
 *          names and spacing no longer count (hook.h);
 *        - the routes of a third-party plugin live under
 *          /api/v1/x/<plugin>/, and a route clash between two plugins is
 *          a load error naming both (http.h);
 *        - validate: the descriptor's optional validate step, in what was
 *          reserved[0] (read only from a plugin built for 1.1 or later);
 *        - request helpers in the host table (http.h): vbx_req_page(),
 *          vbx_page_body(), vbx_resp_store_error(), and the inline
 *          vbx_json_known_fields(); and <vibebox/util.h>, pure inline
 *          helpers (RFC 3339, UUIDs, hex, percent-encoding) that need no
 *          host;
 *        - vbx_json_row() and vbx_authorize_verdict() (http.h, catalog.h),
 *          the stream pump (stream.h), and dotted config keys that read
 *          a group inside a plugin's block (config.h);
 *        - vbx_cpu_count, vbx_worker_count, vbx_cfg_int_derived (defaults
 *          sized from the machine, shown by `vibeboxd -t`);
 *        - one read per row: vbx_authorize_verdict_row() and
 *          vbx_authorize_context() with vbx_resource_row (catalog.h);
 *          vbx_resource is unchanged;
 *        - <vibebox/hooks.h> is now <vibebox/catalog.h>, so that it is not
 *          taken for hook.h; the old name still includes the new one;
 *        - the host table grew past 1.0's 16 reserved slots (the daemon
 *          allocates it, and a plugin built for 1.0 reads only what 1.0
 *          had); 16 new reserved slots follow for later minors.
 *        1.1 also adds vbx_cfg_duration_shown (config.h): a duration
 *          whose value in effect `vibeboxd -t` prints (deadlines an admin
 *          should see), in the first of those slots (reserved[0]).
 *        1.1 also adds revocation of open sockets: the principal_changed
 *          event and the principal_check hook (catalog.h), the optional
 *          recheck callback at the end of vbx_ws_ops (http.h; ops of 1.0
 *          size are still accepted), and store_refresh_family_live
 *          (store.h). No host-table slot is used.
 *        1.1 also adds runtime_leftovers, runtime_env_purge and
 *          runtime_workspace_keep (runtime.h): an environment's network
 *          and persistent workspace; runtime_remove keeps the workspace.
 *        1.1 also adds vbx_ws_client_addr() (http.h): the client address
 *          of a WebSocket, for audit rows, in the second of those slots
 *          (reserved[1]).
 *   1.2  several replicas as one service; a plugin built for 1.1 loads
 *        and runs unchanged:
 *        - <vibebox/cache.h>: cache, rate counter, lock and pub/sub hooks
 *          (provided by redis-cache);
 *        - vbx_replica_id() (plugin.h) and vbx_event_share() (hook.h), in
 *          the third and fourth reserved slots;
 *        - VBX_HEALTH_DEGRADED (catalog.h): a readiness check that is
 *          impaired but does not fail readiness;
 *        - indexed config keys, "engines.0.name", that read a list of
 *          groups inside a plugin's block (config.h; no slot);
 *        - runtime_engine_state version 2 with the engine's name, and
 *          runtime_inspect's out->error naming an engine that is down
 *          (runtime.h; several engines);
 *        - the request_admit hook (catalog.h): a plugin admits or refuses
 *          (429) every authenticated request and gives its rate-limit
 *          headers; no host-table slot is used.
 *   1.3  observability; a plugin built for 1.2 loads and runs unchanged:
 *        - <vibebox/metrics.h>: the metric registry (counters, gauges,
 *          histograms with labels; lock-free updates), in reserved slots
 *          5 to 9; the plugin that provides "metrics" exposes it.
 *        - <vibebox/trace.h>: spans, the W3C traceparent of the current
 *          span, and the span exporter (the plugin that provides
 *          "tracing" registers it), and vbx_cfg_number()
 *          (config.h, a float setting such as tracing's sample), in
 *          reserved slots 10 to 15; and
 *          struct vbx_hook's `traced` flag (hook.h): runs of a traced
 *          hook record a span. A plugin built for 1.2 runs hooks without
 *          reading the flag, so its own runs record no hook span.
 *        - route patterns may end in a catch-all `{name...}` (http.h), so
 *          that web-console serves every path no other route has; no
 *          host-table slot is used.
 *        - runtime_exec_pipe (runtime.h): a command without a TTY, stdout
 *          and stderr apart, stdin half-closed by write(s, NULL, 0); no
 *          host-table slot is used.
 *        - <vibebox/buf.h>: a growing byte buffer, inline (no slot).
 *        - <vibebox/backup.h>: the backup_run_now hook (run by
 *          `vibeboxd --backup-now`) and the backup_completed and
 *          backup_failed events; no host-table slot is used.
 */
#ifndef VIBEBOX_PLUGIN_H
#define VIBEBOX_PLUGIN_H

#include <stdarg.h>
#include <vibebox/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBX_PLUGIN_MAGIC 0x56425850u /* "VBXP" */
#define VBX_ABI_MAJOR 1
#define VBX_ABI_MINOR 3

/* The name of the one symbol a plugin exports. */
#define VBX_PLUGIN_ENTRY_SYMBOL "vbx_plugin_entry"

/*
 * The plugin descriptor. The first four fields never move, so that any
 * daemon can read them from any plugin and explain a mismatch.
 */
typedef struct vbx_plugin_desc {
	uint32_t magic;       /* VBX_PLUGIN_MAGIC */
	uint16_t abi_major;   /* VBX_ABI_MAJOR the plugin was built with */
	uint16_t abi_minor;   /* VBX_ABI_MINOR the plugin was built with */
	uint32_t struct_size; /* sizeof(vbx_plugin_desc) at build time */

	const char *name;        /* as named in config, e.g. "redis-cache" */
	const char *version;     /* the plugin's own version, free form */
	const char *description; /* one line for `vibeboxd -t` and /plugins */
	/* capability names, NULL-terminated: { "store", NULL }; may be NULL */
	const char *const *provides;
	const char *const *requires;

	/*
	 * Mandatory. Reads the config block, allocates, registers hooks,
	 * events and routes. Registration is open only now. Runs on the main
	 * thread before any server thread exists. Returns VBX_OK, or an error
	 * after logging why; then fini is not called.
	 */
	int (*init)(vbx_plugin *self, const vbx_config *cfg);
	/* Optional. Connects, starts threads. Hooks may be run from now on.
	 * Called in dependency order. Returns VBX_OK or an error. */
	int (*start)(vbx_plugin *self);
	/* Optional. Stops what start began; called in reverse order. */
	void (*stop)(vbx_plugin *self);
	/* Mandatory. Frees what init allocated; only after a good init. */
	void (*fini)(vbx_plugin *self);

	/*
	 * Optional (ABI 1.1). Check a config block without applying it: read
	 * every key init reads, with the same typed getters, so that each
	 * bad value is recorded and every key becomes known; change nothing
	 * and keep nothing. Returns VBX_OK, or VBX_EINVAL once the getters
	 * (or vbx_cfg_error) have recorded each problem; VBX_ENOMEM.
	 *
	 * The daemon calls it before init with init's block, and on SIGHUP
	 * with the plugin's new block before anything of the new file is
	 * applied: a refusal (or a key no getter read) keeps the running
	 * configuration, of the core and of every plugin. It runs on the
	 * signal thread while the plugin serves, so it must not touch the
	 * plugin's running state. The block may be freed right after a
	 * refused reload: strings from its getters must not be kept. The
	 * simplest correct pattern: init and validate call one
	 * parse_config(cfg, &settings) of the plugin's own, and validate
	 * frees the settings it parsed.
	 *
	 * Without validate, a reload is refused when the plugin's block
	 * changed (a restart applies it): the daemon cannot check it.
	 */
	int (*validate)(vbx_plugin *self, const vbx_config *cfg);

	void *reserved[7]; /* room to grow without a major bump; keep NULL */
} vbx_plugin_desc;

/* The type of the entry function. */
typedef const vbx_plugin_desc *vbx_plugin_entry_fn(void);

/*
 * VBX_PLUGIN(fields...) - define the descriptor and the exported entry.
 * Pass designated initialisers for the fields after struct_size.
 */
#define VBX_PLUGIN(...)                                                        \
	static const vbx_plugin_desc vbx__plugin_desc = {                      \
	        .magic = VBX_PLUGIN_MAGIC,                                     \
	        .abi_major = VBX_ABI_MAJOR,                                    \
	        .abi_minor = VBX_ABI_MINOR,                                    \
	        .struct_size = sizeof(vbx_plugin_desc),                        \
	        __VA_ARGS__};                                                  \
	VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);              \
	VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)               \
	{                                                                      \
		return &vbx__plugin_desc;                                      \
	}

/* Log levels, most severe first. */
enum {
	VBX_LOG_ERROR = 0,
	VBX_LOG_WARN = 1,
	VBX_LOG_INFO = 2,
	VBX_LOG_DEBUG = 3
};

/* Hook dispatch policies; see hook.h. */
enum { VBX_POLICY_FIRST = 1, VBX_POLICY_ALL = 2, VBX_POLICY_PROVIDER = 3 };

/* Priorities: any value 0..100; lower runs first; ties in config order. */
enum { VBX_PRIO_FIRST = 10, VBX_PRIO_MIDDLE = 50, VBX_PRIO_LAST = 90 };

struct cJSON;
struct vbx_principal;
struct vbx_resource;
struct vbx_resource_row;
struct vbx_ws_ops;
struct vbx_page;
struct vbx_pump;
struct vbx_pump_src;
struct vbx_pump_ops;
struct vbx_stream;
typedef int vbx_route_fn(void *ud, vbx_request *req);
typedef void vbx_task_fn(void *ud);
struct vbx_series;
struct vbx_metric_info;
/* metrics.h: bring a family's series up to date before an exposition. */
typedef void vbx_metric_collect_fn(vbx_metric *m, void *ud);
/* metrics.h: an exporter's visit of one family (values and s NULL) or of
 * one of its series. */
struct vbx_span_data;
/* trace.h: receives each finished sampled span. */
typedef void vbx_span_export_fn(void *ud, const struct vbx_span_data *span);
typedef void vbx_metric_visit_fn(void *ud, const struct vbx_metric_info *info,
                                 const char *const *values,
                                 const struct vbx_series *s);
/*
 * Render an event payload as one JSON object into buf (len bytes) and name
 * the resource it concerns in resource_type and resource_id, each a buffer
 * of VBX_EVENT_RESOURCE_LEN bytes. Returns VBX_OK, or an error to skip it.
 */
#define VBX_EVENT_RESOURCE_LEN 64
typedef int vbx_event_json_fn(const void *payload, char *buf, size_t len,
                              char *resource_type, char *resource_id);

/*
 * The host table. Plugins reach it through VBX__HOST(obj) and should use
 * the documented inline wrappers in config.h, log.h, hook.h and http.h
 * rather than calling these members directly. New members are appended and
 * announced by a minor bump; check struct_size before using one that a
 * plugin's minimum daemon version may lack.
 */
struct vbx_host {
	uint32_t struct_size;
	uint16_t abi_major, abi_minor;

	/* log.h */
	void (*log)(const vbx_plugin *p, int level, const char *fmt,
	            va_list ap);
	int (*log_enabled)(const vbx_plugin *p, int level);

	/* plugin.h */
	const char *(*plugin_name)(const vbx_plugin *p);
	void *(*plugin_data)(const vbx_plugin *p);
	void (*plugin_set_data)(vbx_plugin *p, void *data);
	const vbx_config *(*plugin_config)(const vbx_plugin *p);
	const char *(*state_dir)(const vbx_plugin *p);
	const char *(*strerror)(int rc);

	/* config.h */
	int (*cfg_string)(const vbx_config *c, const char *key,
	                  const char *dflt, const char **out);
	int (*cfg_int)(const vbx_config *c, const char *key, long long min,
	               long long max, long long dflt, long long *out);
	int (*cfg_bool)(const vbx_config *c, const char *key, int dflt,
	                int *out);
	int (*cfg_duration)(const vbx_config *c, const char *key,
	                    const char *dflt, int64_t min_ms, int64_t max_ms,
	                    int64_t *out_ms);
	int (*cfg_size)(const vbx_config *c, const char *key, const char *dflt,
	                uint64_t min, uint64_t max, uint64_t *out);
	int (*cfg_secret)(const vbx_config *c, const char *key, int required,
	                  char **out);
	int (*cfg_strings)(const vbx_config *c, const char *key,
	                   const char *const **out, size_t *count);
	int (*cfg_error)(const vbx_config *c, const char *key, const char *fmt,
	                 va_list ap);

	/* hook.h */
	vbx_hook *(*hook_get)(vbx_plugin *p, const char *name, const char *sig,
	                      int policy);
	int (*hook_register)(vbx_plugin *p, vbx_hook *h, const char *sig,
	                     vbx_fn fn, void *ud, int prio);
	vbx_event *(*event_get)(vbx_plugin *p, const char *name,
	                        const char *sig, size_t payload_size,
	                        vbx_event_json_fn *to_json);
	int (*event_subscribe)(vbx_plugin *p, vbx_event *ev, const char *sig,
	                       vbx_fn fn, void *ud);
	int (*event_publish)(vbx_event *ev, const void *payload, size_t size);

	/* http.h */
	int (*route_add)(vbx_plugin *p, const char *method, const char *pattern,
	                 unsigned flags, vbx_route_fn *fn, void *ud);
	int (*ws_route_add)(vbx_plugin *p, const char *pattern,
	                    const char *subprotocol, unsigned flags,
	                    const struct vbx_ws_ops *ops, void *ud);
	const char *(*req_method)(const vbx_request *r);
	const char *(*req_path)(const vbx_request *r);
	const char *(*req_id)(const vbx_request *r);
	const char *(*req_param)(const vbx_request *r, const char *name);
	const char *(*req_query)(vbx_request *r, const char *name);
	const char *(*req_header)(vbx_request *r, const char *name);
	const char *(*req_client_addr)(const vbx_request *r);
	const void *(*req_body)(const vbx_request *r, size_t *len);
	int (*req_json)(vbx_request *r, struct cJSON **out);
	const struct vbx_principal *(*req_principal)(const vbx_request *r);
	void *(*req_alloc)(vbx_request *r, size_t size);
	int (*resp_json)(vbx_request *r, int status, struct cJSON *body);
	int (*resp_error)(vbx_request *r, int status, const char *code,
	                  const char *fmt, va_list ap);
	int (*resp_body)(vbx_request *r, int status, const char *content_type,
	                 const void *body, size_t len);
	int (*resp_header)(vbx_request *r, const char *name, const char *value);
	int (*field_error)(vbx_request *r, const char *field, const char *fmt,
	                   va_list ap);
	int (*fields_failed)(const vbx_request *r);
	int (*resp_validation)(vbx_request *r);
	int (*json_string)(vbx_request *r, const struct cJSON *obj,
	                   const char *key, int required, size_t min,
	                   size_t max, const char **out);
	int (*json_int)(vbx_request *r, const struct cJSON *obj,
	                const char *key, int required, long long min,
	                long long max, long long *out);
	int (*json_number)(vbx_request *r, const struct cJSON *obj,
	                   const char *key, int required, double min,
	                   double max, double *out);
	int (*json_bool)(vbx_request *r, const struct cJSON *obj,
	                 const char *key, int required, int *out);

	int (*ws_send)(vbx_ws *ws, const void *data, size_t len, int binary);
	void (*ws_pause)(vbx_ws *ws, int paused);
	void (*ws_close)(vbx_ws *ws, int code, const char *reason);
	void (*ws_ref)(vbx_ws *ws);
	void (*ws_unref)(vbx_ws *ws);
	void (*ws_set_data)(vbx_ws *ws, void *data);
	void *(*ws_data)(const vbx_ws *ws);
	const struct vbx_principal *(*ws_principal)(const vbx_ws *ws);
	const char *(*ws_param)(const vbx_ws *ws, const char *name);
	const char *(*ws_query)(const vbx_ws *ws, const char *name);

	/* timers and workers */
	int (*timer_add)(vbx_plugin *p, int64_t interval_ms, vbx_task_fn *fn,
	                 void *ud);
	int (*work_submit)(vbx_plugin *p, vbx_task_fn *fn, void *ud);

	/* catalog.h */
	void (*health_add)(vbx_health *h, const char *name, int status,
	                   int64_t latency_us, const char *detail);

	/* 1.1: platform */
	struct cJSON *(*json_row)(const char *const *pairs, size_t npairs);
	int (*authorize_verdict)(const struct vbx_principal *who,
	                         const char *action,
	                         const struct vbx_resource *res,
	                         const char **failed);

	/* 1.1: stream (stream.h) */
	struct vbx_pump *(*pump_new)(vbx_plugin *p);
	void (*pump_free)(struct vbx_pump *pump);
	int (*pump_add)(struct vbx_pump *pump, struct vbx_pump_src *src,
	                const struct vbx_pump_ops *ops,
	                struct vbx_stream *stream);
	void (*pump_lock)(struct vbx_pump *pump);
	void (*pump_unlock)(struct vbx_pump *pump);
	void (*pump_kick)(struct vbx_pump_src *src);
	int64_t (*pump_now_ms)(void);

	/* 1.1: request helpers (http.h) */
	int (*req_page)(vbx_request *r, struct vbx_page *out);
	struct cJSON *(*page_body)(struct cJSON *data,
	                           const struct vbx_page *pg, int64_t total);
	int (*resp_store_error)(vbx_request *r, const vbx_hook *h, int rc,
	                        const char *what, const char *field);

	/* 1.1: defaults that fit the machine */
	int (*cpu_count)(void);
	int (*worker_count)(const vbx_plugin *p);
	int (*cfg_int_derived)(const vbx_config *c, const char *key,
	                       long long min, long long max, long long dflt,
	                       const char *why, long long *out);

	/* 1.1: one read per row (catalog.h) */
	int (*authorize_verdict_row)(const struct vbx_principal *who,
	                             const char *action,
	                             const struct vbx_resource *res,
	                             const struct vbx_resource_row *row,
	                             const char **failed);
	int (*authorize_context)(const struct vbx_resource *res,
	                         const struct vbx_resource_row **row);

	/* ---- 1.1, store faults: the first of the 16 reserved slots ---- */
	int (*cfg_duration_shown)(const vbx_config *c, const char *key,
	                          const char *dflt, int64_t min_ms,
	                          int64_t max_ms, int64_t *out_ms);
	/* ---- end of store faults ---- */
	/* ---- 1.1, audit: the second of the 16 reserved slots ---- */
	/* The client address of a WebSocket (http.h) */
	const char *(*ws_client_addr)(const vbx_ws *ws);
	/* ---- end of audit ---- */
	/* ---- 1.2: replicas (the third and fourth reserved slots) ---- */
	const char *(*replica_id)(void);
	int (*event_share)(vbx_event *ev);
	/* ---- end of replicas ---- */
	/* ---- 1.3: metrics (metrics.h), reserved slots 5 to 9 ---- */
	vbx_metric *(*metric_new)(vbx_plugin *p, int type, const char *name,
	                          const char *help, const char *const *labels,
	                          const double *bounds, size_t nbounds);
	struct vbx_series *(*metric_series)(vbx_metric *m,
	                                    const char *const *values);
	int (*metric_on_collect)(vbx_metric *m, vbx_metric_collect_fn *fn,
	                         void *ud);
	int (*metrics_enabled)(void);
	int (*metrics_visit)(vbx_plugin *p, vbx_metric_visit_fn *fn, void *ud);
	/* ---- end of metrics ---- */
	/* ---- 1.3: tracing (trace.h, hook.h), reserved slots 10 to 15 ---- */
	vbx_span *(*span_start)(vbx_plugin *p, const char *name, int kind);
	/* op: VBX__SPAN_STR, _INT (an attribute), _ERROR (the status; str:
	 * the message) or _END (trace.h) */
	void (*span_op)(vbx_span *s, int op, const char *key, const char *str,
	                long long num);
	int (*traceparent)(vbx_plugin *p, char *buf, size_t len);
	int (*trace_exporter_set)(vbx_plugin *p, double ratio,
	                          vbx_span_export_fn *fn, void *ud);
	/* hook.h's run path: s NULL begins a hook's span (NULL when the
	 * thread's trace is not sampled); else ends s with the run's rc. */
	vbx_span *(*hook_span)(const vbx_hook *h, vbx_span *s, int rc);
	/* config.h: vbx_cfg_number */
	int (*cfg_number)(const vbx_config *c, const char *key, double min,
	                  double max, double dflt, double *out);
	/* ---- end of tracing ---- */

	void *reserved[1];
};

/* The plugin's name as configured. The string lives as long as the daemon. */
static inline const char *vbx_plugin_name(const vbx_plugin *p)
{
	return VBX__HOST(p)->plugin_name(p);
}

/* The pointer last stored with vbx_plugin_set_data(), or NULL. */
static inline void *vbx_plugin_data(const vbx_plugin *p)
{
	return VBX__HOST(p)->plugin_data(p);
}

/* Store one pointer of the plugin's own; the plugin owns what it points to. */
static inline void vbx_plugin_set_data(vbx_plugin *p, void *data)
{
	VBX__HOST(p)->plugin_set_data(p, data);
}

/* The plugin's current config block (a new one after each reload). */
static inline const vbx_config *vbx_plugin_config(const vbx_plugin *p)
{
	return VBX__HOST(p)->plugin_config(p);
}

/* The daemon's state_dir; owned by the daemon. */
static inline const char *vbx_state_dir(const vbx_plugin *p)
{
	return VBX__HOST(p)->state_dir(p);
}

/* A static English text for a VBX_* result code. */
static inline const char *vbx_strerror(const vbx_plugin *p, int rc)
{
	return VBX__HOST(p)->strerror(rc);
}

/*
 * Run fn(ud) every interval_ms on a worker thread, starting one interval
 * after the daemon has started. Register during init. Returns VBX_OK, or
 * VBX_ESTATE after init.
 */
static inline int vbx_timer_add(vbx_plugin *p, int64_t interval_ms,
                                vbx_task_fn *fn, void *ud)
{
	return VBX__HOST(p)->timer_add(p, interval_ms, fn, ud);
}

/*
 * Run fn(ud) once on a worker thread. Callable from any thread after start.
 * Returns VBX_OK, or VBX_ESTATE while the daemon is stopping.
 */
static inline int vbx_work_submit(vbx_plugin *p, vbx_task_fn *fn, void *ud)
{
	return VBX__HOST(p)->work_submit(p, fn, ud);
}

/*
 * This process's replica id: a random UUID (text, 36 characters) made
 * when the daemon starts and kept until it exits; a restarted daemon is
 * a new replica. Replicas that share a cache tag what they publish or
 * lock with it. Owned by the daemon. Since ABI 1.2.
 */
static inline const char *vbx_replica_id(const vbx_plugin *p)
{
	return VBX__HOST(p)->replica_id();
}

/*
 * The CPUs this daemon may use: the CPUs of its affinity mask, capped by
 * a cgroup CPU quota (a container's --cpus) rounded up; at least 1. The
 * core's defaults that scale with the machine (server.workers) start
 * from it; so should a plugin's. Since ABI 1.1.
 */
static inline int vbx_cpu_count(const vbx_plugin *p)
{
	return VBX__HOST(p)->cpu_count();
}

/*
 * The number of worker threads (server.workers in effect): at most this
 * many route handlers, hooks and tasks run at once, which is what a pool
 * of connections used by handlers should be sized from. Since ABI 1.1.
 */
static inline int vbx_worker_count(const vbx_plugin *p)
{
	return VBX__HOST(p)->worker_count(p);
}

#ifdef __cplusplus
}
#endif
#endif
