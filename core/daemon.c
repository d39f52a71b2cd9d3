/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.c - the daemon's life: read the config, load the plugins, serve,
 * reload on SIGHUP, drain and stop on SIGTERM or SIGINT.
 *
 * Signals are blocked in every thread and taken by one thread with
 * sigwait(), so no handler runs in the middle of anything.
 */
#include "vbx_build.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "coremetrics.h"
#include "daemon.h"
#include "oneshot.h"
#include "trace.h"
#include "server.h"
#include "pump.h"

#ifndef VBX_CONF_FILE
#define VBX_CONF_FILE "/etc/vibebox/vibeboxd.conf"
#endif

static struct {
	const char *path;
	vbx__conf *conf; /* the current config */
	vbx__conf **old; /* earlier generations, alive until exit */
	size_t nold;
	vbx__server *server;
	pthread_t signal_thread;
	bool signal_thread_started;
	atomic_bool quitting; /* the signal thread should return */
} d;

const char *vbx__state_dir(void)
{
	vbx__conf *c = __atomic_load_n(&d.conf, __ATOMIC_ACQUIRE);
	return c ? c->state_dir : NULL;
}

const vbx__conf *vbx__conf_current(void)
{
	return __atomic_load_n(&d.conf, __ATOMIC_ACQUIRE);
}

/* ---- the core's own catalog entries and routes ---- */

static int env_status_json(const void *payload, char *buf, size_t len,
                           char *type, char *id)
{
	const vbx_env_status_event *e = payload;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return VBX_ENOMEM;
	cJSON_AddStringToObject(o, "type", "environment.status");
	cJSON_AddStringToObject(o, "environmentId", e->env_id);
	cJSON_AddStringToObject(o, "projectId", e->project_id);
	cJSON_AddStringToObject(o, "status", e->status);
	cJSON_AddStringToObject(o, "reason", e->reason);
	cJSON_AddNumberToObject(o, "at", (double)e->at_ms);
	int ok = cJSON_PrintPreallocated(o, buf, (int)len, 0);
	cJSON_Delete(o);
	snprintf(type, VBX_EVENT_RESOURCE_LEN, "environment");
	snprintf(id, VBX_EVENT_RESOURCE_LEN, "%s", e->env_id);
	return ok ? VBX_OK : VBX_EINVAL;
}

void vbx__catalog_init(vbx_plugin *core)
{
	vbx__cat.authenticate = vbx_hook_authenticate_get(core);
	vbx__cat.authorize = vbx_hook_authorize_get(core);
	vbx__cat.health_check = vbx_hook_health_check_get(core);
	vbx__cat.request_admit = vbx_hook_request_admit_get(core);
	vbx__cat.config_reload = vbx_event_config_reload_get(core);
	vbx__cat.env_status =
	        vbx__event_get(core, "env_status", "vbx_env_status_event",
	                       sizeof(vbx_env_status_event), env_status_json);
}

static void core_init(void)
{
	vbx_plugin *core = vbx__core_plugin();
	vbx__catalog_init(core);
	vbx__health_register(core, &d.server);
	vbx__api_register(core);
	vbx__events_ws_register(core);
	vbx__revoke_register(core);
	vbx__bridge_register(core);
	vbx__oneshot_register(core);
}

/* ---- signals and reload ---- */

static void log_errors(const vbx__errors *e)
{
	for (size_t i = 0; i < e->count; i++)
		vbx__error("%s", e->msgs[i]);
}

static bool keep_conf(vbx__conf *c)
{
	vbx__conf **v = realloc(d.old, (d.nold + 1) * sizeof(*v));
	if (!v)
		return false;
	d.old = v;
	d.old[d.nold++] = c;
	return true;
}

static void warn_restart_only(const vbx__conf *old, const vbx__conf *c)
{
	bool listen = old->nlisten != c->nlisten;
	for (size_t i = 0; !listen && i < c->nlisten; i++)
		listen = strcmp(old->listen[i].host, c->listen[i].host) != 0 ||
		         old->listen[i].port != c->listen[i].port ||
		         old->listen[i].proxy_protocol !=
		                 c->listen[i].proxy_protocol;
	if (listen || old->workers != c->workers)
		vbx__warn("server.listen and server.workers changed in %s: "
		          "restart vibeboxd to apply them",
		          d.path);
}

/*
 * Read and check the whole new file, every plugin's block included, before
 * anything of it is applied. NULL, after logging each error, when any
 * part is refused.
 */
static vbx__conf *reload_check(void)
{
	vbx__errors errs = {0};
	vbx__conf *c = NULL;
	int rc = vbx__conf_load(d.path, &c, &errs);

	if (rc == VBX_OK && vbx__plugins_set_changed(c)) {
		vbx__errors_add(&errs,
		                "%s: plugins: the list of plugins changed (a "
		                "plugin added, removed or moved): restart "
		                "vibeboxd to apply it",
		                d.path);
		rc = VBX_ESTATE;
	}
	if (rc == VBX_OK)
		rc = vbx__plugins_validate(c, &errs);
	if (rc == VBX_OK)
		return c;
	log_errors(&errs);
	vbx__errors_clear(&errs);
	vbx__conf_free(c);
	vbx__error("%s has errors; keeping the running configuration of "
	           "vibeboxd and of every plugin",
	           d.path);
	return NULL;
}

/* All or nothing: only a new file that passed every check is applied. */
static void reload(void)
{
	vbx__info("SIGHUP: re-reading %s", d.path);
	vbx__conf *c = reload_check();
	if (!c)
		return;
	if (!keep_conf(d.conf)) {
		vbx__conf_free(c);
		vbx__error("out of memory: keeping the running configuration");
		return;
	}
	c->generation = d.conf->generation + 1;
	warn_restart_only(d.conf, c);
	vbx__log_configure(c->log_level, c->log_json);
	vbx__plugins_reconfigure(c);
	__atomic_store_n(&d.conf, c, __ATOMIC_RELEASE);
	vbx_config_reload_event ev = {.version = 1,
	                              .generation = c->generation};
	vbx_event_config_reload_publish(vbx__cat.config_reload, &ev);
	vbx__info("configuration generation %u is active", c->generation);
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set,
	          SIGUSR1); /* the daemon telling the signal thread to end */
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	bool stopping = false;
	for (;;) {
		int sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			if (atomic_load(&d.quitting))
				return NULL;
			continue;
		}
		if (sig == SIGHUP) {
			reload();
			continue;
		}
		if (stopping) {
			vbx__warn("second %s: exiting at once", strsignal(sig));
			_exit(1);
		}
		stopping = true;
		vbx__info("%s: shutting down", strsignal(sig));
		vbx__sd_notify("STOPPING=1");
		vbx__server_request_stop(d.server);
	}
	return NULL;
}

/* ---- start and stop ---- */

static int fail(vbx__errors *errs, const char *what)
{
	vbx__errors_print(errs, stderr);
	vbx__errors_clear(errs);
	fprintf(stderr, "vibeboxd: %s\n", what);
	return 1;
}

static void teardown(bool started)
{
	if (started)
		vbx__plugins_stop();
	vbx__events_stop();
	vbx__trace_reset(); /* no span may reach an exporter being freed */
	vbx__plugins_fini();
	vbx__registry_fini();
	vbx__core_metrics_fini();
	vbx__metrics_fini();
	vbx__routes_free();
	vbx__ws_routes_free();
	for (size_t i = 0; i < d.nold; i++)
		vbx__conf_free(d.old[i]);
	free(d.old);
	vbx__conf_free(d.conf);
	memset(&d, 0, sizeof(d));
}

/* Load the config and the plugins, up to the frozen registry. */
static int load(const char *path, vbx__errors *errs)
{
	if (vbx__conf_load(path, &d.conf, errs) != VBX_OK)
		return VBX_EINVAL;
	vbx__log_configure(d.conf->log_level, d.conf->log_json);
	core_init();
	if (vbx__plugins_load(d.conf, errs) != VBX_OK)
		return VBX_EINVAL;
	if (vbx__conf_check_unknown(d.conf, errs)) {
		vbx__plugins_fini();
		return VBX_EINVAL;
	}
	vbx__registry_freeze();
	return VBX_OK;
}

static int check_only(const char *path)
{
	vbx__errors errs = {0};
	if (load(path, &errs) != VBX_OK) {
		char what[1024];
		snprintf(what, sizeof(what),
		         "configuration file %s test failed", path);
		teardown(false);
		return fail(&errs, what);
	}
	vbx__plugins_print_table(stdout);
	vbx__effective_print(d.conf, stdout);
	printf("configuration file %s test is successful\n", path);
	teardown(false);
	return 0;
}

static int serve(const char *path)
{
	vbx__errors errs = {0};
	static sigset_t set;
	block_signals(&set);
	if (load(path, &errs) != VBX_OK) {
		teardown(false);
		return fail(&errs, "not started: fix the errors above");
	}
	/*
	 * The start-up configuration, taken while this is the only thread:
	 * from the signal thread's start on, reload() replaces d.conf (an
	 * atomic store), so serve() never reads d.conf itself again.
	 * Generations stay alive until exit, so conf stays valid.
	 */
	const vbx__conf *conf = vbx__conf_current();
	vbx__effective_log(conf);
	vbx__core_metrics_init();
	vbx__memtrim_setup(conf->workers);
	if (vbx__events_start(conf->event_queue, conf->event_overflow) ||
	    vbx__workers_start(conf->workers) ||
	    vbx__server_create(conf, &d.server, &errs) ||
	    vbx__plugins_start(&errs)) {
		vbx__workers_stop();
		vbx__server_destroy(d.server);
		teardown(false);
		return fail(&errs, "not started: fix the errors above");
	}
	/* After the plugins' start: the cache provider is connected or
	 * reconnecting. Without one this is a no-op. */
	if (vbx__bridge_start(conf->event_queue) != VBX_OK)
		vbx__warn("events stay on this replica (see the error above)");
	if (vbx__memtrim_start() != VBX_OK)
		vbx__warn("no memory trim timer: memory freed after bursts "
		          "stays with the process");
	if (pthread_create(&d.signal_thread, NULL, signal_main, &set) == 0)
		d.signal_thread_started = true;
	vbx__health_set_started(true);
	vbx__sd_notify("READY=1");
	for (size_t i = 0; i < conf->nlisten; i++)
		vbx__info("vibeboxd %s listening on %s:%d%s with %zu plugins",
		          PACKAGE_VERSION, conf->listen[i].host,
		          conf->listen[i].port,
		          conf->listen[i].proxy_protocol ? " (PROXY protocol)"
		                                         : "",
		          vbx__plugins_count());
	vbx__server_run(d.server);
	if (d.signal_thread_started) {
		/* not pthread_cancel: a thread cancelled in sigwait trips ASan
		 */
		atomic_store(&d.quitting, true);
		pthread_kill(d.signal_thread, SIGUSR1);
		pthread_join(d.signal_thread, NULL);
	}
	vbx__workers_stop();
	/* A health check still running calls into the plugins. */
	vbx__health_shutdown(vbx__conf_current()->shutdown_timeout_ms);
	vbx__server_destroy(d.server);
	d.server = NULL;
	vbx__pumps_shutdown(); /* streams close before plugins stop */
	vbx__bridge_stop();    /* it calls the cache provider */
	teardown(true);
	vbx__info("stopped");
	return 0;
}

/* --backup-now: the plugins without the server, one backup, exit. */
static int backup_now(const char *path)
{
	vbx__errors errs = {0};
	if (load(path, &errs) != VBX_OK) {
		teardown(false);
		return fail(&errs, "--backup-now: fix the errors above");
	}
	const vbx__conf *conf = vbx__conf_current();
	if (vbx__events_start(conf->event_queue, conf->event_overflow) ||
	    vbx__workers_start(conf->workers) || vbx__plugins_start(&errs)) {
		vbx__workers_stop();
		teardown(false);
		return fail(&errs, "--backup-now: fix the errors above");
	}
	int status = vbx__oneshot_backup();
	vbx__workers_stop();
	teardown(true);
	return status;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: vibeboxd [-c FILE] [-t] [-V] [--backup-now]\n"
	        "  -c FILE       configuration file (default %s)\n"
	        "  -t            check the configuration and the plugins, "
	        "then exit\n"
	        "  -V            print the version and exit\n"
	        "  --backup-now  take one database backup (the backup-s3 "
	        "plugin), then\n"
	        "                exit 0 (done) or 1 (failed): for a "
	        "CronJob\n",
	        VBX_CONF_FILE);
}

int vbx__daemon_main(int argc, char **argv)
{
	const char *path = VBX_CONF_FILE;
	bool test = false, backup = false;
	static const struct option longopts[] = {
	        {"backup-now", no_argument, NULL, 'B'}, {NULL, 0, NULL, 0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'B':
			backup = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("vibeboxd %s (plugin ABI %d.%d)\n",
			       PACKAGE_VERSION, VBX_ABI_MAJOR, VBX_ABI_MINOR);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	d.path = path;
	if (test && backup) {
		fprintf(stderr, "vibeboxd: -t and --backup-now exclude each "
		                "other\n");
		return 2;
	}
	if (backup)
		return backup_now(path);
	return test ? check_only(path) : serve(path);
}
