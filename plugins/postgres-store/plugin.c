/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the postgres-store plugin: the "store" capability on
 * PostgreSQL (libpq).
 *
 * init reads the config and registers every store hook and a readiness
 * check; start connects (starting the embedded cluster when no conninfo
 * is configured) and applies the pending migrations; stop closes the
 * connections; fini frees everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vibebox/catalog.h>

#include "crypto.h"
#include "embedded.h"
#include "pg.h"

#define PGS_CONNINFO_MAX 1024

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- readiness ---- */

/* Ready means writable: a standby answers SELECT 1 too, but every write
 * on it fails. transaction_read_only is what libpq's
 * target_session_attrs=read-write checks; it is on in recovery and
 * under default_transaction_read_only. */
static const pgs_stmt stmt_ping = {
        .name = "plugin_ping",
        .sql = "SELECT pg_is_in_recovery(),"
               " current_setting('transaction_read_only') = 'on'"};

/* Readiness must answer quickly (the core waits health.timeout, 3 s by
 * default): a database that does not answer the probe in this time is not
 * ready, whatever the store's own timeout. */
#define PGS_HEALTH_TIMEOUT_MS 2000

/* Probe c: VBX_OK when its server takes writes; else the error, with
 * *detail saying why (why: len bytes of room for it). A read-only server
 * is a failover to follow: the pool drops its connections to it. */
static int probe(pgs_conn *c, const char **detail, char *why, size_t len)
{
	PGresult *r;
	int rc = pgs_query(c, &stmt_ping, 0, NULL, &r);

	if (rc != VBX_OK) {
		snprintf(why, len, "the probe failed: %s",
		         c->errmsg[0] ? c->errmsg
		                      : vbx_strerror(c->s->self, rc));
		*detail = why;
	} else if (PQntuples(r) != 1) {
		rc = VBX_ERR;
		*detail = "the probe returned no row";
	} else if (pgs_bool(r, 0, 0) || pgs_bool(r, 0, 1)) {
		rc = VBX_EUNAVAIL;
		*detail = pgs_bool(r, 0, 0)
		                  ? "the server is a standby (in recovery), "
		                    "read-only: waiting for a writable server "
		                    "(promote one, or list it in conninfo with "
		                    "target_session_attrs=read-write)"
		                  : "the server is read-only "
		                    "(default_transaction_read_only): writes "
		                    "would fail";
		pgs_pool_failover(c, "is read-only (the readiness probe)");
	}
	PQclear(r);
	return rc;
}

static int health_check(void *ud, vbx_health *report)
{
	pgs *s = ud;
	int64_t t0 = now_us();
	int64_t ms = s->cfg.timeout_ms < PGS_HEALTH_TIMEOUT_MS
	                     ? s->cfg.timeout_ms
	                     : PGS_HEALTH_TIMEOUT_MS;
	int rc;
	pgs_conn *c = NULL;
	const char *detail = NULL;
	char why[320];

	if (pgs_embedded_down(s)) {
		rc = VBX_EUNAVAIL;
		detail = "the embedded cluster died; restarting it";
	} else {
		c = pgs_acquire_within(s, ms, &rc);
	}
	if (c) {
		rc = probe(c, &detail, why, sizeof(why));
		pgs_release(s, c);
	} else if (!detail) {
		char err[256];
		pgs_pool_connect_error(s, err, sizeof(err));
		snprintf(why, sizeof(why),
		         "cannot connect to a writable database%s%s",
		         err[0] ? ": " : "", err);
		detail = why;
	}
	vbx_health_add(report, "postgres", rc, now_us() - t0, detail);
	return VBX_OK;
}

/* ---- config ---- */

static int read_config(pgs *s, const vbx_config *cfg)
{
	pgs_config *k = &s->cfg;
	const char *conninfo = NULL;
	long long pool = 8;
	int rc = VBX_OK;

	/* Read every key even after an error, so all are reported. */
	if (vbx_cfg_string(cfg, "conninfo", NULL, &conninfo) != VBX_OK)
		rc = VBX_EINVAL;
	/* A worker holds one connection for the length of a hook, so one
	 * per worker: none waits for a connection, and PostgreSQL does not
	 * switch between more backends than can run (bench/README.md). */
	if (vbx_cfg_int_derived(cfg, "pool", 1, 256, vbx_worker_count(s->self),
	                        "server.workers", &pool) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration_shown(cfg, "statement_timeout", "5s", 0,
	                           24 * 3600 * 1000LL,
	                           &k->statement_timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration_shown(cfg, "connect_timeout", "5s", 100,
	                           300 * 1000LL,
	                           &k->connect_timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration_shown(cfg, "acquire_timeout", "5s", 0,
	                           300 * 1000LL,
	                           &k->acquire_timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	/* The deadline of one store call: what a request that needs the
	 * store waits at most when the database hangs (then 503). */
	if (vbx_cfg_duration_shown(cfg, "timeout", "5s", 100, 3600 * 1000LL,
	                           &k->timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_secret(cfg, "secrets_key", 0, &k->secrets_key) != VBX_OK)
		rc = VBX_EINVAL;
	if (rc != VBX_OK)
		return rc;
	if (conninfo && !conninfo[0])
		return vbx_cfg_error(cfg, "conninfo",
		                     "empty; remove it to use the embedded "
		                     "cluster");
	if (conninfo && strlen(conninfo) >= PGS_CONNINFO_MAX)
		return vbx_cfg_error(cfg, "conninfo", "longer than %d bytes",
		                     PGS_CONNINFO_MAX - 1);
	if (conninfo) {
		pgs_hosts h;
		char err[256];
		rc = pgs_hosts_parse(conninfo, &h, err, sizeof(err));
		if (rc == VBX_EINVAL)
			return vbx_cfg_error(cfg, "conninfo", "%s", err);
		if (rc != VBX_OK)
			return rc;
	}
	k->pool_size = (int)pool;
	if (conninfo && !(k->conninfo = strdup(conninfo)))
		return VBX_ENOMEM;
	return VBX_OK;
}

/* The secrets keyring must parse: a bad one is the block's error, with
 * its line, rather than a failure of init or a refused reload later. */
static int check_secrets_key(const pgs *s, const vbx_config *cfg)
{
	const char *file = NULL;
	pgs_keyring *k = NULL;
	char err[256];
	int rc;

	if (!s->cfg.secrets_key)
		return VBX_OK;
	rc = pgs_keyring_parse(s->cfg.secrets_key, strlen(s->cfg.secrets_key),
	                       &k, err, sizeof(err));
	pgs_keyring_free(k);
	if (rc != VBX_EINVAL)
		return rc;
	vbx_cfg_string(cfg, "secrets_key_file", NULL, &file);
	return vbx_cfg_error(cfg, file ? "secrets_key_file" : "secrets_key",
	                     "%s", err);
}

/* Every key of the block, for init and validate alike. */
static int parse_config(pgs *s, const vbx_config *cfg)
{
	int rc = read_config(s, cfg);
	int erc = pgs_embedded_configure(s, cfg); /* its keys, always */
	if (rc == VBX_OK)
		rc = erc;
	return rc == VBX_OK ? check_secrets_key(s, cfg) : rc;
}

static void wipe_free(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

static void pgs_free(pgs *s)
{
	pgs_metrics_fini(s);
	pgs_pool_fini(s);
	pgs_targets_free(&s->targets);
	pgs_embedded_fini(s);
	pgs_crypto_fini(s);
	wipe_free(s->cfg.secrets_key);
	free(s->cfg.conninfo);
	free(s);
}

/* ---- life cycle ---- */

static int register_hooks(pgs *s)
{
	int (*const reg[])(pgs *) = {
	        pgs_users_register, pgs_tokens_register,   pgs_audit_register,
	        pgs_teams_register, pgs_projects_register, pgs_dump_register,
	        pgs_envs_register,  pgs_envvars_register,
	};

	for (size_t i = 0; i < sizeof(reg) / sizeof(reg[0]); i++) {
		int rc = reg[i](s);
		if (rc != VBX_OK)
			return rc;
	}
	return vbx_hook_health_check_register(s->self, health_check, s,
	                                      VBX_PRIO_MIDDLE);
}

static int pgs_init(vbx_plugin *self, const vbx_config *cfg)
{
	pgs *s = calloc(1, sizeof(*s));

	if (!s)
		return VBX_ENOMEM;
	s->self = self;
	int rc = parse_config(s, cfg);
	if (rc == VBX_OK)
		rc = pgs_crypto_init(s);
	if (rc == VBX_OK)
		rc = pgs_pool_init(s);
	if (rc == VBX_OK)
		rc = register_hooks(s);
	if (rc == VBX_OK)
		rc = pgs_metrics_init(s);
	if (rc != VBX_OK) {
		if (rc != VBX_EINVAL)
			vbx_log_error(self, "postgres: init failed: %s",
			              vbx_strerror(self, rc));
		pgs_free(s);
		return rc;
	}
	vbx_plugin_set_data(self, s);
	return VBX_OK;
}

/* The descriptor's validate: parse_config into a scratch state that is
 * thrown away; the running pool and keys are not touched. */
static int pgs_validate(vbx_plugin *self, const vbx_config *cfg)
{
	pgs *s = calloc(1, sizeof(*s));

	if (!s)
		return VBX_ENOMEM;
	s->self = self; /* for the host's worker count; nothing runs */
	int rc = parse_config(s, cfg);
	pgs_free(s);
	return rc;
}

static int start_embedded(pgs *s)
{
	char conninfo[PGS_CONNINFO_MAX];
	int rc = pgs_embedded_start(s, conninfo, sizeof(conninfo));

	if (rc != VBX_OK) {
		vbx_log_error(s->self,
		              "postgres: no conninfo configured and the "
		              "embedded cluster did not start");
		return rc;
	}
	free(s->cfg.conninfo);
	s->cfg.conninfo = strdup(conninfo);
	if (!s->cfg.conninfo)
		return VBX_ENOMEM;
	s->cfg.embedded = true;
	return VBX_OK;
}

/* Several hosts without target_session_attrs=read-write: libpq takes the
 * first that answers, a standby included, and writes fail on it. */
static void check_hosts(const pgs *s)
{
	pgs_hosts h;
	char err[256];

	if (s->cfg.embedded ||
	    pgs_hosts_parse(s->cfg.conninfo, &h, err, sizeof(err)) != VBX_OK ||
	    h.count < 2)
		return;
	if (h.read_write)
		vbx_log_info(s->self,
		             "postgres: %d hosts in conninfo with "
		             "target_session_attrs=%s: a failover is followed "
		             "without a restart",
		             h.count, h.attrs);
	else
		vbx_log_warn(s->self,
		             "postgres: conninfo lists %d hosts without "
		             "target_session_attrs=read-write (%s): libpq "
		             "takes the first that answers, a standby too, "
		             "and writes fail there; add "
		             "target_session_attrs=read-write to "
		             "plugins.postgres-store.conninfo",
		             h.count, h.attrs[0] ? h.attrs : "absent");
}

static int pgs_start(vbx_plugin *self)
{
	pgs *s = vbx_plugin_data(self);
	int rc = VBX_OK;

	/* The pool opens only once the conninfo is final: a plugin that runs
	 * store hooks before this start returns (the platform's first
	 * reconcile pass) gets VBX_EUNAVAIL, not a connection to the
	 * default server nor a conninfo freed under it. */
	if (!s->cfg.conninfo || s->cfg.embedded)
		rc = start_embedded(s);
	else
		check_hosts(s);
	if (rc == VBX_OK)
		rc = pgs_targets_make(s->cfg.conninfo, &s->targets);
	if (rc == VBX_OK) {
		pthread_mutex_lock(&s->pool.lock);
		s->pool.closing = false;
		pthread_mutex_unlock(&s->pool.lock);
		rc = pgs_migrate(s);
	}
	if (rc != VBX_OK) {
		vbx_log_error(self, "postgres: start failed: %s",
		              vbx_strerror(self, rc));
		pgs_embedded_stop(s);
	}
	return rc;
}

/* Refuse new acquires and close every idle connection; a connection still
 * held by a late worker is closed by fini. */
static void pgs_stop(vbx_plugin *self)
{
	pgs *s = vbx_plugin_data(self);
	pgs_pool *p = &s->pool;

	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->freed);
	for (int i = 0; i < p->size; i++) {
		pgs_conn *c = &p->conns[i];
		if (!c->busy && c->pg) {
			PQfinish(c->pg);
			c->pg = NULL;
			c->nprepared = 0;
		}
	}
	pthread_mutex_unlock(&p->lock);
	pgs_embedded_stop(s);
}

static void pgs_fini(vbx_plugin *self)
{
	pgs *s = vbx_plugin_data(self);

	if (!s)
		return;
	vbx_plugin_set_data(self, NULL);
	pgs_free(s);
}

static const char *const pgs_provides[] = {"store", NULL};

VBX_PLUGIN(.name = "postgres-store", .version = "0.1.0",
           .description = "users, teams, projects, environments and audit in "
                          "PostgreSQL",
           .provides = pgs_provides, .init = pgs_init, .start = pgs_start,
           .stop = pgs_stop, .fini = pgs_fini, .validate = pgs_validate);
