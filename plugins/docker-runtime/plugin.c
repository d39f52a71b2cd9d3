/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the docker-runtime plugin: its descriptor, its configuration,
 * the runtime hooks' registration and the health check.
 *
 * It provides "runtime" and requires a "store" (for the installation id
 * that labels its containers). It reports facts only: the runtime hooks
 * and the fact events of watch.c; what they mean for an environment is
 * the platform plugin's policy (plugins/platform/lifecycle.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "docker.h"

#define HEALTH_TIMEOUT_MS 1000 /* readiness checks answer within a second */

dkr *dkr_self;

static const char *const default_images[] = {"debian:*", "ubuntu:*",
                                             "vibebox/*", NULL};
static const char *const default_shell[] = {"/bin/sh", NULL};
static const char *const no_patterns[] = {NULL};

/* ---- configuration ---- */

static int read_endpoint(dkr *d, const vbx_config *cfg)
{
	const char *s;
	char *unix_path, *base_url, err[256];
	int rc = vbx_cfg_string(cfg, "endpoint", "unix:///var/run/docker.sock",
	                        &s);
	if (rc != VBX_OK)
		return rc;
	rc = dkr_endpoint_parse(s, d->conf.tls_ca || d->conf.tls_cert,
	                        &unix_path, &base_url, err, sizeof(err));
	free(unix_path);
	free(base_url);
	if (rc == VBX_EINVAL)
		return vbx_cfg_error(cfg, "endpoint", "%s", err);
	if (rc != VBX_OK)
		return rc;
	d->conf.endpoint = strdup(s);
	return d->conf.endpoint ? VBX_OK : VBX_ENOMEM;
}

/* An optional readable file; *out is a copy or NULL. */
static int read_file_key(const vbx_config *cfg, const char *key, char **out)
{
	const char *s;
	int rc = vbx_cfg_string(cfg, key, NULL, &s);
	if (rc != VBX_OK || !s)
		return rc;
	if (!*s || access(s, R_OK) != 0)
		return vbx_cfg_error(cfg, key, "cannot read \"%s\"", s);
	*out = strdup(s);
	return *out ? VBX_OK : VBX_ENOMEM;
}

static int read_tls(dkr *d, const vbx_config *cfg)
{
	int rc = read_file_key(cfg, "tls_ca_file", &d->conf.tls_ca);
	rc = rc ? rc : read_file_key(cfg, "tls_cert_file", &d->conf.tls_cert);
	rc = rc ? rc : read_file_key(cfg, "tls_key_file", &d->conf.tls_key);
	if (rc != VBX_OK)
		return rc;
	if (!d->conf.tls_cert != !d->conf.tls_key)
		return vbx_cfg_error(cfg,
		                     d->conf.tls_cert ? "tls_key_file"
		                                      : "tls_cert_file",
		                     "tls_cert_file and tls_key_file go "
		                     "together (a client certificate and its "
		                     "key)");
	return VBX_OK;
}

static int read_publish(dkr *d, const vbx_config *cfg)
{
	const char *s;
	unsigned char addr[16];
	int rc = vbx_cfg_string(cfg, "publish_address", "127.0.0.1", &s);
	if (rc != VBX_OK)
		return rc;
	if (inet_pton(AF_INET, s, addr) != 1 &&
	    inet_pton(AF_INET6, s, addr) != 1)
		return vbx_cfg_error(cfg, "publish_address",
		                     "expected an IPv4 or IPv6 address such as "
		                     "\"127.0.0.1\", got \"%s\"",
		                     s);
	d->conf.publish_address = strdup(s);
	return d->conf.publish_address ? VBX_OK : VBX_ENOMEM;
}

/* A list of strings; absent or empty gives dflt. Each entry must pass
 * ok(), or the error names the key with what. */
static int read_list(const vbx_config *cfg, const char *key,
                     const char *const *dflt, bool (*ok)(const char *),
                     const char *what, const char *const **out, size_t *n)
{
	int rc = vbx_cfg_strings(cfg, key, out, n);
	if (rc != VBX_OK)
		return rc;
	if (*n == 0) {
		*out = dflt;
		for (*n = 0; dflt[*n]; (*n)++)
			;
	}
	for (size_t i = 0; i < *n; i++)
		if (!ok((*out)[i]))
			return vbx_cfg_error(cfg, key,
			                     "entry %zu: expected %s, "
			                     "got \"%s\"",
			                     i + 1, what, (*out)[i]);
	return VBX_OK;
}

static bool pattern_ok(const char *p)
{
	if (!*p || strlen(p) > 255)
		return false;
	for (; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return false;
	return true;
}

static bool shell_ok(const char *p)
{
	return p[0] == '/' && strlen(p) < 256 && !strpbrk(p, " \t\r\n");
}

/* "dev", "1000", "1000:1000", "dev:dev". */
static bool user_ok(const char *u)
{
	if (strlen(u) > 64 || u[0] == '-' || u[0] == ':')
		return false;
	for (; *u; u++)
		if (!isalnum((unsigned char)*u) && !strchr("_.:-", *u))
			return false;
	return true;
}

static int read_user(dkr *d, const vbx_config *cfg)
{
	const char *s;
	int rc = vbx_cfg_string(cfg, "user", "", &s);
	if (rc != VBX_OK)
		return rc;
	if (!user_ok(s))
		return vbx_cfg_error(
		        cfg, "user",
		        "expected a user name or uid[:gid] such as "
		        "\"dev\" or \"1000:1000\", got \"%s\"",
		        s);
	d->conf.user = strdup(s);
	return d->conf.user ? VBX_OK : VBX_ENOMEM;
}

static int read_numbers(dkr *d, const vbx_config *cfg)
{
	long long pids = 512;
	int ro = 0, block_host = 1;
	dkr_conf *c = &d->conf;
	int rc = vbx_cfg_bool(cfg, "read_only", 0, &ro);
	rc = rc ? rc : vbx_cfg_bool(cfg, "block_host", 1, &block_host);
	rc = rc ? rc : vbx_cfg_int(cfg, "pids_limit", 16, 4194304, 512, &pids);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "request_timeout", "30s", 1000, 3600000,
	                           &c->request_ms);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "pull_timeout", "10m", 1000, 86400000,
	                           &c->pull_ms);
	rc = rc ? rc
	        : vbx_cfg_size(cfg, "workspace.size", "0", 0, UINT64_C(1) << 50,
	                       &c->ws_size);
	c->read_only = ro != 0;
	c->block_host = block_host != 0;
	c->pids_limit = (int)pids;
	return rc;
}

/* A duration no one writes: how an absent key reads in moved_key. */
#define ABSENT "99999999d"
#define ABSENT_MS (99999999LL * 86400000)

/* The lifecycle policy's settings live in the platform's block now: a
 * key left here is an error that names its new place. */
static int moved_key(const vbx_config *cfg, const char *key)
{
	int64_t ms;
	int rc = vbx_cfg_duration(cfg, key, ABSENT, 0, INT64_MAX, &ms);
	if (rc == VBX_OK && ms == ABSENT_MS)
		return VBX_OK;
	return vbx_cfg_error(cfg, key,
	                     "moved to plugins.platform.environments.%s "
	                     "(the platform plugin's config: environments = "
	                     "{ %s = ...; };)",
	                     key, key);
}

static int read_moved(const vbx_config *cfg)
{
	int a = moved_key(cfg, "idle_timeout");
	int b = moved_key(cfg, "reconcile_interval");
	return a ? a : b;
}

/* Every key is read even after an error, so that `vibeboxd -t` lists
 * every bad value at once; the first error is returned. */
static int read_config(dkr *d, const vbx_config *cfg)
{
	dkr_conf *c = &d->conf;
	int rcs[11];
	size_t n_eng = 0;
	rcs[10] = dkr_engines_read(d, cfg, &n_eng);
	/* TLS first: it decides the default port of a tcp:// endpoint. With
	 * an engines list, each engine has its own (engines.c). */
	rcs[0] = n_eng ? VBX_OK : read_tls(d, cfg);
	rcs[1] = n_eng ? VBX_OK : read_endpoint(d, cfg);
	rcs[2] = read_publish(d, cfg);
	rcs[3] = read_list(cfg, "images", default_images, pattern_ok,
	                   "an image pattern such as \"debian:*\"", &c->images,
	                   &c->n_images);
	rcs[4] = read_list(cfg, "shell", default_shell, shell_ok,
	                   "an absolute path such as \"/bin/sh\"", &c->shell,
	                   &c->n_shell);
	rcs[5] = read_user(d, cfg);
	rcs[6] = read_numbers(d, cfg);
	rcs[7] = read_list(cfg, "keep_command", no_patterns, pattern_ok,
	                   "an image pattern such as \"postgres:*\"",
	                   &c->keep_command, &c->n_keep_command);
	rcs[8] = read_moved(cfg);
	rcs[9] = read_list(cfg, "workspace.paths", no_patterns, dkr_ws_path_ok,
	                   "\"IMAGE-PATTERN=/absolute/path\" such as "
	                   "\"node:*=/home/node\"",
	                   &c->ws_paths, &c->n_ws_paths);
	for (size_t i = 0; i < sizeof(rcs) / sizeof(*rcs); i++)
		if (rcs[i] != VBX_OK)
			return rcs[i];
	return VBX_OK;
}

/* ---- health ---- */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int health_check(void *ud, vbx_health *report)
{
	dkr *d = ud;
	dkr_resp r;
	char detail[256], v[16];
	int64_t t0 = mono_us();
	int rc = dkr_request_raw(d, "GET", "/_ping", NULL, HEALTH_TIMEOUT_MS,
	                         &r);
	int64_t took = mono_us() - t0;
	if (rc == VBX_OK && r.status != 200)
		rc = VBX_EUNAVAIL;
	if (rc == VBX_OK) {
		dkr_api_version(d, v);
		snprintf(detail, sizeof(detail), "%s, API %s", d->conf.endpoint,
		         v[0] ? v : "not negotiated yet");
	} else {
		dkr_resp_message(&r, detail, sizeof(detail));
	}
	dkr_resp_free(&r);
	vbx_health_add(report, "docker", rc, took, detail);
	return VBX_OK;
}

/* ---- hooks and lifecycle ---- */

static int register_all(dkr *d)
{
	vbx_plugin *p = d->plugin;
	int m = VBX_PRIO_MIDDLE;
	int rc = dkr_route_register(d);
	rc = rc ? rc
	        : vbx_hook_health_check_register(
	                  p, d->eng[0] != d ? dkr_engines_health : health_check,
	                  d, m);
	rc = rc ? rc : dkr_api_register(d);
	rc = rc ? rc : dkr_watch_events(d);
	if (rc != VBX_OK)
		vbx_log_error(p,
		              "cannot register the runtime hooks: %s (is "
		              "another runtime plugin loaded?)",
		              vbx_strerror(p, rc));
	return rc;
}

static void dkr_free(dkr *d)
{
	if (!d)
		return;
	dkr_engines_free(d);
	dkr_client_fini(d);
	free(d->conf.endpoint);
	free(d->conf.tls_ca);
	free(d->conf.tls_cert);
	free(d->conf.tls_key);
	free(d->conf.publish_address);
	free(d->conf.user);
	free(d);
}

/* The descriptor's validate: read_config into a scratch state that is
 * thrown away; the running client and watcher are not touched. */
static int dkr_validate(vbx_plugin *self, const vbx_config *cfg)
{
	dkr *d = calloc(1, sizeof(*d));
	if (!d)
		return VBX_ENOMEM;
	d->plugin = self;
	int rc = read_config(d, cfg);
	dkr_free(d);
	return rc;
}

static int dkr_init(vbx_plugin *self, const vbx_config *cfg)
{
	dkr *d = calloc(1, sizeof(*d));
	if (!d)
		return VBX_ENOMEM;
	d->plugin = self;
	int rc = read_config(d, cfg);
	rc = rc ? rc : dkr_engines_init(d);
	rc = rc ? rc : register_all(d);
	rc = rc ? rc : dkr_metrics_init(self);
	if (rc != VBX_OK) {
		dkr_free(d);
		return rc;
	}
	dkr_self = d;
	vbx_plugin_set_data(self, d);
	return VBX_OK;
}

/* The installation's id labels everything the plugin creates; without it
 * the plugin could not tell its containers from another installation's. */
static int read_instance(dkr *d)
{
	int rc = vbx_hook_store_instance_id_run(
	        vbx_hook_store_instance_id_get(d->plugin), d->instance);
	if (rc != VBX_OK)
		vbx_log_error(d->plugin,
		              "cannot read the installation id from the store "
		              "(store_instance_id: %s); is the database up?",
		              vbx_strerror(d->plugin, rc));
	return rc;
}

static int dkr_plugin_start(vbx_plugin *self)
{
	dkr *d = vbx_plugin_data(self);
	char why[256] = "";
	int rc = read_instance(d);
	if (rc != VBX_OK)
		return rc;
	bool firewall = false;
	for (size_t i = 0; i < d->n_eng; i++) {
		dkr *e = d->eng[i];
		if (dkr_ping(e, why, sizeof(why)) != VBX_OK)
			vbx_log_warn(self,
			             "engine %s: %s; environments cannot start "
			             "there until it answers",
			             e->name, why);
		/* The rules match every environment's bridge on this host:
		 * the first local engine installs them for all. */
		if (e->unix_path && !firewall) {
			dkr_firewall_apply(e); /* logs what failed */
			firewall = true;
		}
	}
	if (!firewall)
		dkr_firewall_apply(d->eng[0]); /* says it is remote */
	return dkr_engines_start(d);
}

static void dkr_plugin_stop(vbx_plugin *self)
{
	dkr_engines_stop(vbx_plugin_data(self));
}

static void dkr_fini(vbx_plugin *self)
{
	dkr *d = vbx_plugin_data(self);
	if (dkr_self == d)
		dkr_self = NULL;
	dkr_free(d);
	vbx_plugin_set_data(self, NULL);
}

static const char *const dkr_provides[] = {"runtime", NULL};
static const char *const dkr_requires[] = {"store", NULL};

VBX_PLUGIN(.name = "docker-runtime", .version = "1.0.0",
           .description = "environments as Docker containers over the "
                          "Engine API",
           .provides = dkr_provides, .requires = dkr_requires, .init = dkr_init,
           .start = dkr_plugin_start, .stop = dkr_plugin_stop, .fini = dkr_fini,
           .validate = dkr_validate);
