/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envs.h - what the environment endpoints share: envs.c (CRUD, list,
 * the actions and their state machine, stats, logs), envvars.c
 * (variables and ports) and envparse.c (the pure parsers that the unit
 * test and the fuzz target drive).
 *
 * The status of an environment moves only through store_env_transition, a
 * compare-and-set: whoever wins a transition does the work of that phase
 * and publishes env_status; whoever loses answers 409 with the status it
 * found.
 */
#ifndef VBX_API_ENVS_H
#define VBX_API_ENVS_H

#include <vibebox/runtime.h>

#include "common.h"

#define VBX__ENV_IMAGE_MAX 255
#define VBX__ENV_MEMORY_MIN 16    /* MiB */
#define VBX__ENV_TAIL_DEFAULT 100 /* lines of GET .../logs */
#define VBX__ENV_TAIL_MAX 10000
#define VBX__ENV_LOG_BYTES (4u << 20) /* a logs answer reads at most this */
#define VBX__ENV_VARS_MAX 256         /* variables per environment */
#define VBX__ENV_PORTS_MAX 64         /* ports per environment */

/* The store and runtime hooks of the environment endpoints. */
typedef struct vbx__env_hooks {
	vbx_hook *get, *create, *update, *del, *list, *transition, *touch,
	        *count;
	vbx_hook *var_set, *var_get, *var_list, *var_delete;
	vbx_hook *port_add, *port_remove, *port_list, *port_set_host;
	vbx_hook *rt_create, *rt_start, *rt_stop, *rt_remove, *rt_ports,
	        *rt_stats, *rt_logs, *rt_image_check, *rt_purge, *rt_keep;
} vbx__env_hooks;
extern vbx__env_hooks vbx__envh;

/* The settings of the platform's `environments` block (plugin.c reads
 * them at init and on each reload). */
typedef struct vbx__env_limits {
	int per_user, per_team; /* environments per user, per team; 0: none */
	int max_cpu;            /* cores */
	int max_memory_mib;
	int stop_timeout_s;      /* how long a stop waits before it kills */
	int64_t idle_ms;         /* idle_timeout: stop after it; 0: never */
	int64_t reconcile_ms;    /* reconcile_interval (lifecycle.c) */
	int64_t orphan_grace_ms; /* orphan_grace: leftovers wait this long */
	int64_t lock_ttl_ms; /* jobs.lock_ttl: the passes' lock (lifecycle.c) */
} vbx__env_limits;
/* The settings in force (any thread). */
vbx__env_limits vbx__env_limits_get(void);
/* Put l in force (plugin.c). */
void vbx__env_limits_set(const vbx__env_limits *l);

/* Register every environment route (common.c calls it at init). */
void vbx__api_envs_register(vbx_plugin *core);
/* The routes of envvars.c (envs.c calls it). */
void vbx__api_envvars_register(vbx_plugin *core);

/* ---- pure helpers (envparse.c; no request) ---- */

/* Is v a CPU limit of whole hundredths of a core (0.5, 1.25, 2)? */
bool vbx__env_cpu_hundredths(double v);

/*
 * Is s an image reference Docker would take: 1..255 bytes of
 * [A-Za-z0-9._/:@-], starting with a letter or digit, no "//" or "..",
 * not ending in ':', '/' or '@'?
 */
bool vbx__env_image_ok(const char *s);

/* Is s a variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes? */
bool vbx__env_var_key_ok(const char *s);

/*
 * Parse ?tail=: NULL is VBX__ENV_TAIL_DEFAULT; else decimal digits only,
 * 0..VBX__ENV_TAIL_MAX. Returns VBX_OK or VBX_EINVAL.
 */
int vbx__env_tail_parse(const char *s, int *out);

/*
 * Parse ?since=: NULL is 0 (the beginning); an RFC 3339 time or Unix
 * seconds (digits only) into Unix seconds, rounded down. Returns VBX_OK
 * or VBX_EINVAL.
 */
int vbx__env_since_parse(const char *s, int64_t *out);

/* Parse a port of the path: decimal digits only, 1..65535; 0 if not. */
int vbx__env_port_parse(const char *s);

/* ---- log lines (envparse.c) ---- */

#define VBX__ENV_LINE_MAX 65536 /* a longer line is cut into pieces */

/* Called once per line: channel VBX_STREAM_*, ms the time the runtime
 * prefixed (0: none), text the line without its newline (and a final
 * '\r'), valid UTF-8. Non-zero stops the feed and is returned. */
typedef int vbx__env_line_fn(void *ctx, int channel, int64_t ms,
                             const char *text);

/* Splits the output of a logs stream (timestamps on) into lines.
 * Zero-initialise, then set each and ctx. */
typedef struct vbx__env_lines {
	vbx__env_line_fn *each;
	void *ctx;
	struct {
		char *buf;
		size_t len;
	} part[2]; /* the unfinished line of stdout and of stderr */
} vbx__env_lines;

/*
 * Feed n bytes of a channel (they may end mid-line or mid-character);
 * each line they complete goes to l->each. Returns 0, VBX_ENOMEM, or
 * what each returned.
 */
int vbx__env_lines_feed(vbx__env_lines *l, int channel, const char *buf,
                        size_t n);
/* Pass on the unfinished lines and free the buffers (always). */
int vbx__env_lines_finish(vbx__env_lines *l);

/* ---- shared by envs.c and envvars.c ---- */

/*
 * The environment of the path parameter "id" into e, if the caller may
 * do action on it ("read", "operate", "update", "delete"). Otherwise the
 * request is answered (404, 403, 503) and the error returned.
 */
int vbx__env_for(vbx_request *r, const char *action, vbx_env *e);

/* Answer a store hook's failure about environment id. */
int vbx__env_store_fail(vbx_request *r, const vbx_hook *h, int rc,
                        const char *id);

/*
 * Move e from a status in `from` (VBX_ENV_* bits) to `to` by
 * store_env_transition (container: NULL keeps it, "" clears it). On VBX_OK
 * and VBX_ESTATE e becomes the row as it is now; a change of status is
 * published as env_status. Returns the store's answer. Blocks (the store).
 */
int vbx__env_move(vbx_env *e, unsigned from, const char *to, const char *reason,
                  const char *container);

/*
 * The variables, ports or settings of e changed. A stopped (or failed)
 * environment with a container loses it, so the next start creates one
 * with the new settings; a running one keeps it until its next restart.
 * A container the runtime cannot remove now (the engine is down) is
 * forgotten all the same (the log says so): the next start's
 * runtime_create replaces it, so the new settings apply either way.
 */
void vbx__env_settings_changed(const vbx_env *e);

#endif
