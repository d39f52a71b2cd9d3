/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/core.h - what the parts of vibeboxd share. Not installed.
 *
 * Internal functions are prefixed vbx__. Each section names the file that
 * implements it.
 */
#ifndef VBX_CORE_H
#define VBX_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include <libconfig.h>

#include <vibebox/vibebox.h>

#include "cidr.h"

/* ---- errors.c: a list of messages collected for the user ---- */

typedef struct vbx__errors {
	char **msgs;
	size_t count, cap;
} vbx__errors;

/* Append a formatted message (one line, no trailing newline). */
void vbx__errors_add(vbx__errors *e, const char *fmt, ...) VBX_PRINTF(2, 3);
void vbx__errors_vadd(vbx__errors *e, const char *fmt, va_list ap)
        VBX_PRINTF(2, 0);
/* Print each message on its own line to f. */
void vbx__errors_print(const vbx__errors *e, FILE *f);
/* Free the messages; the list is empty and reusable afterwards. */
void vbx__errors_clear(vbx__errors *e);

/* ---- log.c ---- */

/* Write one log line for `who` ("core" or a plugin name). Thread-safe. */
void vbx__log(const char *who, int level, const char *fmt, ...)
        VBX_PRINTF(3, 4);
void vbx__vlog(const char *who, int level, const char *fmt, va_list ap)
        VBX_PRINTF(3, 0);
bool vbx__log_enabled(int level);
/* Set level (VBX_LOG_*) and format; safe while other threads log. */
void vbx__log_configure(int level, bool json);
/* The request id that this thread's log lines carry (NULL for none). */
void vbx__log_set_request(const char *id);
/* The trace id (32 hex) that this thread's JSON log lines carry as
 * "trace_id" (NULL for none); the text format leaves it out. */
void vbx__log_set_trace(const char *trace_id);
/* Parse "error" "warn" "info" "debug"; -1 when unknown. */
int vbx__log_level_parse(const char *s);
/* Collect this thread's lines and write them at vbx__log_flush() (or
 * when 32 KiB are waiting); for the service thread, once per wake-up. */
void vbx__log_batch(bool on);
void vbx__log_flush(void);
/* Write one access-log line (always JSON fields, whatever the format).
 * client: whom the request comes from; peer: the proxy it came through
 * when that differs (field "peer"), else NULL or "". */
void vbx__log_access(const char *request_id, const char *method,
                     const char *path, int status, size_t bytes,
                     double duration_ms, const char *client, const char *peer);
/*
 * The access-log line of a WebSocket upgrade, written when the connection
 * ends (or is refused): method GET, status (101 when the route accepted
 * it, else the HTTP status of the refusal), bytes = message bytes sent,
 * bytesIn = message bytes received, durationMs from the upgrade request
 * to the close, and closeCode (the code sent or received; 1006 when the
 * connection dropped, 0 when no WebSocket was opened).
 */
void vbx__log_ws_access(const char *request_id, const char *path, int status,
                        uint64_t bytes_out, uint64_t bytes_in,
                        double duration_ms, const char *client,
                        const char *peer, int close_code);

#define vbx__error(...) vbx__log("core", VBX_LOG_ERROR, __VA_ARGS__)
#define vbx__warn(...) vbx__log("core", VBX_LOG_WARN, __VA_ARGS__)
#define vbx__info(...) vbx__log("core", VBX_LOG_INFO, __VA_ARGS__)
#define vbx__debug(...) vbx__log("core", VBX_LOG_DEBUG, __VA_ARGS__)

/* ---- config.c and cfgval.c ---- */

typedef struct vbx__listen {
	char host[256]; /* numeric address or name; "0.0.0.0", "::", "127.0.0.1"
	                 */
	int port;
	bool proxy_protocol; /* "host:port proxy_protocol": a PROXY protocol
	                        header starts every connection */
} vbx__listen;

/* Lines "path.key = value (why)": values in effect (effective.c). */
typedef struct vbx__shown {
	char **lines;
	size_t n;
} vbx__shown;

/* A plugin's config block (also the core's view of it). */
struct vbx_config {
	struct vbx_object_head head;
	const config_setting_t *group; /* NULL: the block is empty */
	const char *file;              /* the config file's path */
	char *path;                    /* "plugins.redis-cache" */
	int line;                      /* line of the plugin's entry */
	vbx__errors *errs; /* getters' errors go here, else to the log */
	char **known;      /* keys a getter asked for */
	size_t nknown, capknown;
	char **strings_cache; /* arrays handed out by cfg_strings */
	size_t nstrings;
	vbx__shown shown; /* what vbx__cfg_int_derived read */
};

typedef struct vbx__plugin_conf {
	char *name;
	vbx_config *block;
	int line;
} vbx__plugin_conf;

enum { VBX__OVERFLOW_DROP = 0, VBX__OVERFLOW_BLOCK = 1 };

typedef struct vbx__conf {
	char *path;
	config_t lc; /* the parsed tree; owns every string below it */
	vbx__listen *listen;
	size_t nlisten;
	int workers; /* server.workers, 1..1024; default vbx__workers_for_cpus
	              */
	uint64_t max_body;           /* server.max_body, default 1MiB */
	int64_t shutdown_timeout_ms; /* server.shutdown_timeout, default 30s */
	int64_t drain_delay_ms;      /* server.drain_delay, default 0s */
	/* server.trusted_proxies: peers whose X-Forwarded-For or PROXY
	 * header names the client; empty by default */
	vbx__cidr *trusted;
	size_t ntrusted;
	uint64_t ws_queue; /* server.ws_queue, default 1MiB */
	int log_level;     /* log.level */
	bool log_json;     /* log.format == "json" (the default) */
	bool log_access;   /* log.access, default true */
	/* plugin_path (or plugin_dir, or the build's default): the
	 * directories searched for NAME.so, in order, NULL-terminated */
	char **plugin_path;
	size_t nplugin_path;
	const char *plugin_path_key; /* "plugin_path" or "plugin_dir" */
	char *state_dir;
	int event_queue;    /* events.queue, default 1024 */
	int event_overflow; /* events.overflow: "drop" (default) or "block" */
	int64_t health_timeout_ms; /* health.timeout, default 3s */
	vbx__plugin_conf *plugins;
	size_t nplugins;
	unsigned generation; /* 1 for the first load, +1 on each reload */
	vbx__shown shown;    /* the core's values in effect (server.workers) */
} vbx__conf;

/*
 * Load and validate the file. On success *out is a new config. On failure
 * every problem found is in errs as "FILE:LINE: path: message" and the
 * return is VBX_EINVAL (or VBX_ENOTFOUND when the file cannot be read).
 */
int vbx__conf_load(const char *path, vbx__conf **out, vbx__errors *errs);
/* The same for a text already in memory (tests, fuzzing); name stands for
 * the file in messages. @include paths are taken as written. */
int vbx__conf_load_buffer(const char *text, const char *name, vbx__conf **out,
                          vbx__errors *errs);
void vbx__conf_free(vbx__conf *c);
/* After the plugins' init: an error for each key of each plugin block that
 * no getter asked for. Returns the number of such keys. */
size_t vbx__conf_check_unknown(const vbx__conf *c, vbx__errors *errs);
/* The same for one block, after its plugin's init or validate. */
size_t vbx__config_check_unknown(const vbx_config *block, vbx__errors *errs);
/* Do blocks a and b hold the same keys with the same values (order of
 * keys, lines and number formats aside)? NULL or empty blocks are equal. */
bool vbx__config_same(const vbx_config *a, const vbx_config *b);
/* Mark every key of the block known (used for the core's own blocks). */
void vbx__config_mark_known(vbx_config *block, const char *key);

/* Is name a plugin name: one or more of a-z, 0-9 and '-' (it becomes
 * part of a file name)? NULL is not. */
bool vbx__plugin_name_valid(const char *name);

/* Parse "30s"-style durations and "10MiB"-style sizes. VBX_OK/VBX_EINVAL. */
int vbx__parse_duration(const char *s, int64_t *out_ms);
int vbx__parse_size(const char *s, uint64_t *out);

/* The setting at key of group; a dotted key "a.b" names member b of the
 * group a (config.h). NULL when absent. */
const config_setting_t *vbx__cfg_lookup(const config_setting_t *group,
                                        const char *key);
/* The getters behind the host table (config.h documents them). */
int vbx__cfg_string(const vbx_config *c, const char *key, const char *dflt,
                    const char **out);
/* An integer or a float in [min, max] (config.h's vbx_cfg_number). */
int vbx__cfg_number(const vbx_config *c, const char *key, double min,
                    double max, double dflt, double *out);
int vbx__cfg_int(const vbx_config *c, const char *key, long long min,
                 long long max, long long dflt, long long *out);
int vbx__cfg_bool(const vbx_config *c, const char *key, int dflt, int *out);
int vbx__cfg_duration(const vbx_config *c, const char *key, const char *dflt,
                      int64_t min_ms, int64_t max_ms, int64_t *out_ms);
int vbx__cfg_size(const vbx_config *c, const char *key, const char *dflt,
                  uint64_t min, uint64_t max, uint64_t *out);
int vbx__cfg_secret(const vbx_config *c, const char *key, int required,
                    char **out);
int vbx__cfg_strings(const vbx_config *c, const char *key,
                     const char *const **out, size_t *count);
int vbx__cfg_error(const vbx_config *c, const char *key, const char *fmt,
                   va_list ap) VBX_PRINTF(3, 0);
/* Record "FILE:LINE: path.key: message" about setting s of block c (s NULL:
 * the block's line) to c->errs, else to the log. Returns VBX_EINVAL. */
int vbx__cfg_report(const vbx_config *c, const config_setting_t *s,
                    const char *key, const char *fmt, ...) VBX_PRINTF(4, 5);
/* s's value as messages show it: 8, "8", a group. In buf (size >= 16). */
const char *vbx__cfg_describe(const config_setting_t *s, char *buf,
                              size_t size);

/* ---- loader.c: plugins ---- */

enum {
	VBX__PLUGIN_LOADED = 0,
	VBX__PLUGIN_INITED,
	VBX__PLUGIN_STARTED,
	VBX__PLUGIN_STOPPED,
};

struct vbx_plugin {
	struct vbx_object_head head;
	char *name; /* as configured; "core" for the daemon itself */
	char *file; /* the shared object's path; NULL for the core */
	void *dl;   /* dlopen handle; never closed while running */
	const vbx_plugin_desc *desc;
	int order;       /* position in the config's plugins list; core: -1 */
	int state;       /* VBX__PLUGIN_* */
	void *data;      /* vbx_plugin_set_data() */
	vbx_config *cfg; /* current block */
};

/*
 * One plugin's steps, shared by the daemon's loader and the fake host of
 * libvibebox-test (testing.c) so that both accept, refuse and report
 * alike. Their messages start "plugin \"NAME\": FILE: ", without FILE
 * when it is NULL (a descriptor in memory), and "plugin descriptor: "
 * while no name is known yet.
 */

/*
 * dlopen() file (RTLD_NOW | RTLD_LOCAL) and call its entry function. *dl
 * is the handle whenever the file opened, even when a later step failed
 * (the caller decides when to close it, if ever); *desc is the descriptor,
 * not yet checked. Returns VBX_OK, VBX_ENOTFOUND (no such file) or
 * VBX_EINVAL, after adding the reason to errs.
 */
int vbx__plugin_open(const char *name, const char *file, void **dl,
                     const vbx_plugin_desc **desc, vbx__errors *errs);
/*
 * Can the daemon use d: the magic, an ABI it knows (same major, minor not
 * newer), a struct_size holding every field it reads, a name, init and
 * fini. name is what the plugin is configured and installed as (a valid
 * name), and d must name it too; NULL takes d's own name, which must then
 * be a valid plugin name. Returns VBX_OK, or VBX_EINVAL after adding the
 * reason to errs.
 */
int vbx__desc_check(const vbx_plugin_desc *d, const char *name,
                    const char *file, vbx__errors *errs);
/* Does d list cap among the capabilities it provides? */
bool vbx__desc_provides(const vbx_plugin_desc *d, const char *cap);
/* Does a plugin other than the one being checked provide cap? */
typedef bool vbx__provided_fn(const char *cap, void *ud);
/*
 * Is each capability d requires provided by d itself or, as provided(cap,
 * ud) says, by another plugin? For each one that is not, adds "plugin
 * \"NAME\" requires capability \"CAP\", which WHY" (WHY says which
 * plugins count and what to do). Returns VBX_OK or VBX_EUNAVAIL.
 */
int vbx__desc_check_requires(const vbx_plugin_desc *d, const char *name,
                             vbx__provided_fn *provided, void *ud,
                             const char *why, vbx__errors *errs);
/*
 * Run p's init with its block (p->cfg, may be NULL), after p's validate
 * step when it has one (a refusal: VBX_EINVAL, init not run, p stays
 * VBX__PLUGIN_LOADED). Registration and
 * config errors recorded meanwhile land in errs too, and fail the init
 * even when it returns VBX_OK: the plugin is then VBX__PLUGIN_INITED all
 * the same (it holds what it allocated) and must be finalised. When init
 * itself fails, p stays VBX__PLUGIN_LOADED and its fini must not run;
 * vbx__plugin_fini() tells the two apart. Returns VBX_OK or the error.
 */
int vbx__plugin_init(vbx_plugin *p, vbx__errors *errs);
/* Does p declare a validate step that this daemon may call (ABI 1.1)? */
bool vbx__plugin_has_validate(const vbx_plugin *p);
/*
 * Can p take block (a block of a new config, not yet p's)? With a
 * validate step: run it, errors to errs, then refuse each key it did not
 * read. Without one: only a block equal to p's current one passes (the
 * daemon cannot check a new one), else an error says to restart. Applies
 * nothing. Returns VBX_OK or the error.
 */
int vbx__plugin_validate(vbx_plugin *p, vbx_config *block, vbx__errors *errs);
/* Start an inited plugin (start may be NULL); an error goes to errs. */
int vbx__plugin_start(vbx_plugin *p, vbx__errors *errs);
/* Stop p if it is started; finalise it if it is inited or stopped. */
void vbx__plugin_stop(vbx_plugin *p);
void vbx__plugin_fini(vbx_plugin *p);

/*
 * Open every configured plugin, check its descriptor, resolve provides
 * and requires, and init them in dependency order. Every failure goes to
 * errs naming the plugin and its file; returns VBX_OK or the first error
 * code. On failure the plugins already inited are finalised.
 */
int vbx__plugins_load(vbx__conf *conf, vbx__errors *errs);
/* Start in dependency order; on failure stop those started. */
int vbx__plugins_start(vbx__errors *errs);
/* Stop in reverse order, then fini in reverse order. */
void vbx__plugins_stop(void);
void vbx__plugins_fini(void);
/* The plugins in start order. */
size_t vbx__plugins_count(void);
vbx_plugin *vbx__plugins_at(size_t i);
/* The daemon's own plugin handle, for the core's routes and hooks. */
vbx_plugin *vbx__core_plugin(void);
/* Print the table of name, version, provides, requires. */
void vbx__plugins_print_table(FILE *f);
/* vbx__plugin_validate() for every loaded plugin with its block of conf,
 * whose set of plugins must be the loaded one; every error goes to errs.
 * Returns VBX_OK or the first error. */
int vbx__plugins_validate(vbx__conf *conf, vbx__errors *errs);
/* Give each plugin its block of the new config (names must match). */
void vbx__plugins_reconfigure(vbx__conf *conf);
/* Nonzero when the set of plugins in conf differs from the loaded one. */
bool vbx__plugins_set_changed(const vbx__conf *conf);
/* Forget the plugins (after fini, once nothing refers to them any more);
 * their code stays mapped. vbx__plugins_load() may then run again. */
void vbx__plugins_free(void);
/* The host table given to plugins loaded from now on and to the core's
 * handle; &vbx__host unless a test substitutes its own. */
void vbx__loader_set_host(const vbx_host *host);

/* ---- sig.c: signatures as C types ---- */

/*
 * The canonical form of a hook's signature ("int(const char *who, size_t
 * n)") or an event's payload type ("struct foo"), so that two plugins'
 * declarations compare as types: parameter and declarator names are
 * dropped, whitespace is made uniform, the specifiers of a declaration
 * and the qualifiers after a '*' are sorted; '*', qualifiers, types,
 * arrays, nested parameter lists and "..." are kept. The two examples
 * give "int(char const *, size_t)" and "struct foo".
 * Returns VBX_OK with *out a malloc'd string the caller frees;
 * VBX_EINVAL (*out NULL) when text is NULL, longer than 4096 bytes,
 * nested deeper than 16, or not a declaration of that small grammar
 * (sig.c); VBX_ENOMEM.
 */
int vbx__sig_normalise(const char *text, char **out);

/* ---- registry.c: hooks and events ---- */

/* Where registration errors (signature mismatch, second provider, route
 * refused) are recorded besides the log; NULL to log only. */
void vbx__registry_set_errors(vbx__errors *errs);
/* Record a registration error of plugin p (NULL: the core) in the list
 * set above, if any, and log it as p's error. */
void vbx__registry_report(const vbx_plugin *p, const char *fmt, ...)
        VBX_PRINTF(2, 3);
vbx_hook *vbx__hook_get(vbx_plugin *p, const char *name, const char *sig,
                        int policy);
int vbx__hook_register(vbx_plugin *p, vbx_hook *h, const char *sig, vbx_fn fn,
                       void *ud, int prio);
vbx_event *vbx__event_get(vbx_plugin *p, const char *name, const char *sig,
                          size_t payload_size, vbx_event_json_fn *to_json);
int vbx__event_subscribe(vbx_plugin *p, vbx_event *ev, const char *sig,
                         vbx_fn fn, void *ud);
/* Sort handlers, publish the tables, close registration. */
void vbx__registry_freeze(void);
bool vbx__registry_frozen(void);
/* The hooks p registered and the events it subscribes to, as JSON arrays
 * {"hooks":[{"name","policy","priority"}],"events":["name"]}. */
struct cJSON *vbx__registry_plugin_json(const vbx_plugin *p);
/* The event's name. */
const char *vbx__event_name(const vbx_event *ev);
/* Forget everything (at exit, after the event thread has stopped). */
void vbx__registry_fini(void);
/* For events.c. The largest payload of the events declared so far (0
 * with none); the queue sizes its slots with it when it starts. */
size_t vbx__registry_max_payload(void);
/* The payload size ev was declared with. */
size_t vbx__event_payload_size(const vbx_event *ev);
/* Mark ev as carried to every replica (vbx_event_share()); VBX_OK. */
int vbx__event_share(vbx_event *ev);
/* Marked by vbx__event_share(), or user-facing (it has a to_json)? The
 * first only; the bridge adds the second. */
bool vbx__event_shared(const vbx_event *ev);
/* This process's replica id (vbx_replica_id()): a random UUID made once. */
const char *vbx__replica_id(void);

/* ---- metrics.c: the metric registry (metrics.h) ---- */
/* Keep updates (a plugin provides "metrics") or not; set before plugins
 * init, since series resolved while off stay NULL. */
void vbx__metrics_set_enabled(bool on);
int vbx__metrics_enabled(void);
vbx_metric *vbx__metric_new(vbx_plugin *p, int type, const char *name,
                            const char *help, const char *const *labels,
                            const double *bounds, size_t nbounds);
struct vbx_series *vbx__metric_series(vbx_metric *m, const char *const *values);
int vbx__metric_on_collect(vbx_metric *m, vbx_metric_collect_fn *fn, void *ud);
int vbx__metrics_visit(vbx_plugin *p, vbx_metric_visit_fn *fn, void *ud);
/* Free every family and series, and turn updates off. */
void vbx__metrics_fini(void);
/* The event declared under name, or NULL (never creates one). Takes the
 * registry's lock briefly; any thread. */
vbx_event *vbx__event_find(const char *name);
/* ev's payload type as its first declarer wrote it ("vbx_foo_event");
 * owned by the registry, valid until vbx__registry_fini(). */
const char *vbx__event_type(const vbx_event *ev);
/* Is type the same C type as ev's payload (as sig.c compares them)? */
bool vbx__event_type_matches(const vbx_event *ev, const char *type);
/* ev's to_json (the first non-NULL one declared), or NULL. */
vbx_event_json_fn *vbx__event_to_json(const vbx_event *ev);
/* Call ev's subscribers in subscription order, without locks. Before the
 * freeze there are none. */
void vbx__event_deliver(const vbx_event *ev, const void *payload);

/* ---- events.c: the asynchronous event queue ---- */

typedef struct vbx__event_stats {
	uint64_t published, delivered, dropped;
	uint64_t queue_len, queue_cap;
} vbx__event_stats;

/* Called on the dispatcher thread for every user-facing event after its
 * subscribers, with the JSON text and the resource it concerns. */
typedef void vbx__event_json_sink(const char *json, const char *resource_type,
                                  const char *resource_id);
void vbx__events_set_json_sink(vbx__event_json_sink *sink);
/* Called on the dispatcher thread for every event published on this
 * replica (never for one injected from another), before its subscribers;
 * must only copy (bridge.c). NULL: none, the default. */
typedef void vbx__event_outbound(vbx_event *ev, const void *payload);
void vbx__events_set_outbound(vbx__event_outbound *out);

/* Start the dispatcher with a queue of `cap` events. */
int vbx__events_start(int cap, int overflow);
/* Deliver what is queued, then stop; later publishes get VBX_ESTATE. */
void vbx__events_stop(void);
int vbx__event_publish(vbx_event *ev, const void *payload, size_t size);
/* Publish an event received from another replica: the same lock-free
 * path and the same results as vbx__event_publish, but the dispatcher
 * does not hand it to the outbound hook, so it is never bridged again. */
int vbx__event_inject(vbx_event *ev, const void *payload, size_t size);
void vbx__events_stats(vbx__event_stats *out);

/* ---- cpus.c and effective.c: defaults that fit the machine ---- */

/* server.workers when absent: 2 per CPU (handlers wait on databases and
 * engines), at least VBX__WORKERS_MIN, at most VBX__WORKERS_MAX. */
#define VBX__WORKERS_MIN 4
#define VBX__WORKERS_MAX 32
int vbx__workers_for_cpus(int cpus);
/* The CPUs this process may use (plugin.h's vbx_cpu_count). */
int vbx__cpu_count(void);
/* A cgroup v2 cpu.max ("max 100000", "150000 100000"): the quota in CPUs
 * rounded up, 0 for no limit, -1 when the text is not that form. */
int vbx__cpu_quota_parse(const char *text);
/* The host table's worker_count: the current config's server.workers. */
int vbx__worker_count(const vbx_plugin *p);
/* config.h's vbx_cfg_int_derived. */
int vbx__cfg_int_derived(const vbx_config *c, const char *key, long long min,
                         long long max, long long dflt, const char *why,
                         long long *out);
/* config.h's vbx_cfg_duration_shown. */
int vbx__cfg_duration_shown(const vbx_config *c, const char *key,
                            const char *dflt, int64_t min_ms, int64_t max_ms,
                            int64_t *out_ms);
/* Append from's lines to to, leaving from empty. */
void vbx__shown_move(vbx__shown *from, vbx__shown *to);
void vbx__shown_free(vbx__shown *sh);
/* The values in effect of conf, for `vibeboxd -t` and the start-up log. */
void vbx__effective_print(const vbx__conf *conf, FILE *f);
void vbx__effective_log(const vbx__conf *conf);

/* ---- memtrim.c: memory back to the system after bursts ---- */

/* Before the worker threads start: cap malloc's arenas (unless the admin
 * did, or VBX_MEMTRIM=0). Returns whether trims are on. */
bool vbx__memtrim_setup(int workers);
/* After the plugins started: the timer that trims after a burst. */
int vbx__memtrim_start(void);
/* Count a request or a WebSocket opening or closing: service thread only. */
void vbx__memtrim_note(void);

/* ---- workers.c ---- */

int vbx__workers_start(int n);
/* Queue fn(ud). VBX_ESTATE once stopping. */
int vbx__workers_submit(vbx_task_fn *fn, void *ud);
/* Run what is queued, then join the threads. */
void vbx__workers_stop(void);
/* Run fn(ud) on a worker every interval_ms, from one interval after now;
 * a tick is skipped while the previous one still runs. */
int vbx__timer_add(int64_t interval_ms, vbx_task_fn *fn, void *ud);

/* ---- host.c ---- */

extern const vbx_host vbx__host;
const char *vbx__strerror(int rc);

#endif
