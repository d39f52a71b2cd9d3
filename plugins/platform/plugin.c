/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the platform plugin: teams, projects, environments, their
 * variables and ports, terminal and log sessions (docs/openapi.yaml,
 * docs/terminal-protocol.md), built against the public SDK
 * only. It owns the endpoints and their policy (quotas, the state machine
 * of an environment, its lifecycle: lifecycle.h); the store keeps the
 * data, the authorize hook decides who may do what, a runtime plugin runs
 * the containers and reports what happens to them.
 *
 * Its settings are the `environments` and `terminal` groups of its config
 * block (README.md). The terminal and log WebSockets (terminal.c,
 * logstream.c) move bytes on the daemon's stream pump. It requires no
 * capability at load: without a store, authorization or runtime plugin its
 * endpoints answer 503 naming the capability that is missing, as
 * ARCHITECTURE.md asks.
 */
#include <pthread.h>
#include <stdint.h>

#include "common.h"
#include "envs.h"
#include "lifecycle.h"
#include "metrics.h"
#include "term.h"

vbx_plugin *vbx__platform;

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static vbx__env_limits limits_now = {
        .per_user = 10,
        .per_team = 50,
        .max_cpu = 8,
        .max_memory_mib = 16384,
        .stop_timeout_s = 10,
        .idle_ms = INT64_C(4) * 3600 * 1000,
        .reconcile_ms = 30000,
        .orphan_grace_ms = 3600000,
        .lock_ttl_ms = 15000,
};

vbx__env_limits vbx__env_limits_get(void)
{
	pthread_mutex_lock(&limits_lock);
	vbx__env_limits l = limits_now;
	pthread_mutex_unlock(&limits_lock);
	return l;
}

void vbx__env_limits_set(const vbx__env_limits *l)
{
	pthread_mutex_lock(&limits_lock);
	limits_now = *l;
	pthread_mutex_unlock(&limits_lock);
}

void vbx__api_hooks_init(vbx_plugin *self)
{
	vbx__api = (vbx__api_hooks){
	        .user_get = vbx_hook_store_user_get_get(self),
	        .user_by_email = vbx_hook_store_user_by_email_get(self),
	        .team_create = vbx_hook_store_team_create_get(self),
	        .team_get = vbx_hook_store_team_get_get(self),
	        .team_update = vbx_hook_store_team_update_get(self),
	        .team_delete = vbx_hook_store_team_delete_get(self),
	        .team_list = vbx_hook_store_team_list_get(self),
	        .member_set = vbx_hook_store_member_set_get(self),
	        .member_get = vbx_hook_store_member_get_get(self),
	        .member_remove = vbx_hook_store_member_remove_get(self),
	        .member_list = vbx_hook_store_member_list_get(self),
	        .project_create = vbx_hook_store_project_create_get(self),
	        .project_get = vbx_hook_store_project_get_get(self),
	        .project_update = vbx_hook_store_project_update_get(self),
	        .project_delete = vbx_hook_store_project_delete_get(self),
	        .project_list = vbx_hook_store_project_list_get(self),
	        .audit_add = vbx_hook_store_audit_add_get(self),
	        .authorize = vbx_hook_authorize_get(self),
	        .principal_changed = vbx_event_principal_changed_get(self),
	};
}

/* A handle is NULL only when a plugin declared that hook with another
 * signature first (the registry logged it); then the routes that would run
 * it must not exist. */
static bool hooks_ok(const vbx__api_hooks *a)
{
	const vbx_hook *all[] = {
	        a->user_get,      a->user_by_email,  a->team_create,
	        a->team_get,      a->team_update,    a->team_delete,
	        a->team_list,     a->member_set,     a->member_get,
	        a->member_remove, a->member_list,    a->project_create,
	        a->project_get,   a->project_update, a->project_delete,
	        a->project_list,  a->authorize,
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!all[i])
			return false;
	return true;
}

int vbx__api_platform_register(vbx_plugin *self)
{
	vbx__api_hooks_init(self);
	if (!hooks_ok(&vbx__api)) {
		vbx_log_error(self,
		              "the store or authorize hooks are declared "
		              "with other signatures than the platform's; "
		              "rebuild the plugins against this SDK");
		return VBX_ESIGNATURE;
	}
	vbx__api_teams_register(self);
	vbx__api_projects_register(self);
	vbx__api_envs_register(self);
	return VBX_OK;
}

/* The platform's settings: the groups of its block. */
typedef struct settings {
	vbx__env_limits env;
	vbx__term_limits term;
	vbx__logs_limits logs;
} settings;

/*
 * One user's and one environment's share of terminal.max_sessions, so
 * that one user opening and dropping sockets cannot take every slot.
 * Their defaults are shown by `vibeboxd -t`: clamped to max_sessions, they
 * depend on it.
 */
static int parse_terminal_shares(const vbx_config *cfg, vbx__term_limits *out)
{
	long long user, env;
	int rc = VBX_OK;
	if (vbx_cfg_int_derived(cfg, "terminal.max_sessions_per_user", 1,
	                        out->max_sessions, 16,
	                        "16, at most max_sessions", &user) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_int_derived(cfg, "terminal.max_sessions_per_env", 1,
	                        out->max_sessions, 32,
	                        "32, at most max_sessions", &env) != VBX_OK)
		rc = VBX_EINVAL;
	out->max_per_user = (int)user;
	out->max_per_env = (int)env;
	return rc;
}

/* terminal.*: the sessions of term.c (applied at start only). */
static int parse_terminal(const vbx_config *cfg, vbx__term_limits *out)
{
	long long max;
	int rc = VBX_OK;

	if (vbx_cfg_size(cfg, "terminal.window", "256KiB", 4096,
	                 UINT64_C(64) << 20, &out->window) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_size(cfg, "terminal.buffer", "1MiB", 4096,
	                 UINT64_C(1) << 30, &out->buffer) != VBX_OK)
		rc = VBX_EINVAL;
	else if (rc == VBX_OK && out->buffer < out->window)
		rc = vbx_cfg_error(cfg, "terminal.buffer",
		                   "must be at least terminal.window");
	if (vbx_cfg_duration(cfg, "terminal.linger", "5m", 0, INT64_C(86400000),
	                     &out->linger_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_int(cfg, "terminal.max_sessions", 1, 100000, 256, &max) !=
	    VBX_OK)
		rc = VBX_EINVAL;
	out->max_sessions = (int)max;
	if (rc == VBX_OK)
		rc = parse_terminal_shares(cfg, out);
	return rc;
}

/* logs.*: followed log streams (logstream.c; applied at start only). */
static int parse_logs(const vbx_config *cfg, vbx__logs_limits *out)
{
	long long max, user;
	if (vbx_cfg_int(cfg, "logs.max_streams", 1, 100000, 256, &max) !=
	    VBX_OK)
		return VBX_EINVAL;
	if (vbx_cfg_int_derived(cfg, "logs.max_streams_per_user", 1, max, 8,
	                        "8, at most max_streams", &user) != VBX_OK)
		return VBX_EINVAL;
	out->max_streams = (int)max;
	out->max_per_user = (int)user;
	return VBX_OK;
}

/*
 * Read the block into *out: the one parser of init and reload (and of a
 * validate step). Returns VBX_OK, or VBX_EINVAL with every error
 * recorded against the block.
 */
static int parse_config(const vbx_config *cfg, settings *all)
{
	vbx__env_limits *out = &all->env;
	long long per_user, per_team, cpu;
	uint64_t memory;
	int64_t stop_ms, idle_ms, reconcile_ms, grace_ms, ttl_ms;
	int rc = VBX_OK;

#define TRY(x)                                                                 \
	do {                                                                   \
		if ((x) != VBX_OK)                                             \
			rc = VBX_EINVAL;                                       \
	} while (0)
	TRY(vbx_cfg_int(cfg, "environments.max_per_user", 0, 100000, 10,
	                &per_user));
	TRY(vbx_cfg_int(cfg, "environments.max_per_team", 0, 100000, 50,
	                &per_team));
	TRY(vbx_cfg_int(cfg, "environments.max_cpu", 1, 1024, 8, &cpu));
	TRY(vbx_cfg_size(cfg, "environments.max_memory", "16GiB",
	                 UINT64_C(64) << 20, UINT64_C(1) << 42, &memory));
	TRY(vbx_cfg_duration(cfg, "environments.stop_timeout", "10s", 0,
	                     INT64_C(600000), &stop_ms));
	TRY(vbx_cfg_duration(cfg, "environments.idle_timeout", "4h", 0,
	                     INT64_C(366) * 86400000, &idle_ms));
	TRY(vbx_cfg_duration(cfg, "environments.reconcile_interval", "30s",
	                     1000, INT64_C(86400000), &reconcile_ms));
	TRY(vbx_cfg_duration(cfg, "environments.orphan_grace", "1h", 0,
	                     INT64_C(366) * 86400000, &grace_ms));
	/* The lock of the single-runner passes (lifecycle.c): renewed every
	 * third of it, by a timer of 500 ms, hence at least 3 s. */
	TRY(vbx_cfg_duration(cfg, "jobs.lock_ttl", "15s", 3000,
	                     INT64_C(3600000), &ttl_ms));
	if (rc == VBX_OK && idle_ms > 0 && idle_ms < 1000)
		rc = vbx_cfg_error(cfg, "environments.idle_timeout",
		                   "expected 0 (never) or at least 1s");
#undef TRY
	if (parse_terminal(cfg, &all->term) != VBX_OK)
		rc = VBX_EINVAL;
	if (parse_logs(cfg, &all->logs) != VBX_OK)
		rc = VBX_EINVAL;
	if (rc != VBX_OK)
		return rc;
	*out = (vbx__env_limits){
	        .per_user = (int)per_user,
	        .per_team = (int)per_team,
	        .max_cpu = (int)cpu,
	        .max_memory_mib = (int)(memory >> 20),
	        .stop_timeout_s = (int)((stop_ms + 999) / 1000),
	        .idle_ms = idle_ms,
	        .reconcile_ms = reconcile_ms,
	        .orphan_grace_ms = grace_ms,
	        .lock_ttl_ms = ttl_ms,
	};
	return VBX_OK;
}

/* SIGHUP: the new block, already checked through platform_validate;
 * should it still fail, the settings in force stay (the log says so).
 * The terminal settings apply at the next start. */
static void on_reload(void *ud, const vbx_config_reload_event *ev)
{
	vbx_plugin *self = ud;
	settings l;
	if (parse_config(vbx_plugin_config(self), &l) == VBX_OK)
		vbx__env_limits_set(&l.env);
	else
		vbx_log_error(self,
		              "the new environments settings have errors; "
		              "keeping those in force");
}

/* The descriptor's validate: init's parser, its result thrown away, so
 * a reload that init would refuse is refused whole. */
static int platform_validate(vbx_plugin *self, const vbx_config *cfg)
{
	settings scratch;
	(void)self;
	return parse_config(cfg, &scratch);
}

static int platform_init(vbx_plugin *self, const vbx_config *cfg)
{
	settings l;
	int rc = parse_config(cfg, &l);
	if (rc != VBX_OK)
		return rc;
	vbx__env_limits_set(&l.env);
	vbx__platform = self;
	rc = vbx_event_config_reload_subscribe(self, on_reload, self);
	if (rc == VBX_OK)
		rc = vbx__api_platform_register(self);
	if (rc == VBX_OK)
		rc = vbx__terminal_ws_register(self, &l.term);
	if (rc == VBX_OK)
		vbx__logs_ws_register(self, &l.logs);
	if (rc == VBX_OK)
		rc = vbx__lc_init(self);
	if (rc == VBX_OK)
		rc = vbx__platform_metrics_init(self);
	if (rc != VBX_OK)
		vbx__terminal_shutdown();
	return rc;
}

/* The first reconcile pass (lifecycle.c). */
static int platform_start(vbx_plugin *self)
{
	vbx__lc_start();
	return VBX_OK;
}

/* The lifecycle passes end; terminal and log streams close (the daemon
 * has closed them already when it stops; a unit test's host may not
 * have). */
static void platform_stop(vbx_plugin *self)
{
	vbx__lc_stop();
	vbx__terminal_shutdown();
}

static void platform_fini(vbx_plugin *self)
{
	vbx__terminal_shutdown(); /* when start never ran */
	vbx__lc_fini();
}

static const char *const platform_provides[] = {"platform", NULL};

VBX_PLUGIN(.name = "platform", .version = "1.0.0",
           .description = "teams, projects and environments: the "
                          "platform's endpoints and policy",
           .provides = platform_provides, .init = platform_init,
           .start = platform_start, .stop = platform_stop,
           .validate = platform_validate, .fini = platform_fini);
