/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the auth plugin: its descriptor, its configuration, the
 * authenticate hook, and small helpers the other files share (the clock,
 * the audit log).
 *
 * It provides "authn" and "authz" and requires a "store": users, keys,
 * refresh tokens, memberships and the audit log live there, so several
 * replicas share them. With a cache provider (redis-cache) the rate
 * limits and the users read to authenticate are shared too; without
 * one, or while it is down, they are this process's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth.h"

#define LIMITER_KEYS 65536 /* windows kept per limiter, at most */

/* OWASP's floor for Argon2id (m=19 MiB, t=2, p=1). */
#define OWASP_M_KIB 19456u

int64_t auth_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void auth_audit(auth *a, const char *actor, const char *action,
                const char *target_type, const char *target_id,
                const char *client, const char *detail)
{
	vbx_audit row = {0};

	snprintf(row.actor_id, sizeof(row.actor_id), "%s", actor ? actor : "");
	snprintf(row.action, sizeof(row.action), "%s", action);
	snprintf(row.target_type, sizeof(row.target_type), "%s",
	         target_type ? target_type : "");
	snprintf(row.target_id, sizeof(row.target_id), "%s",
	         target_id ? target_id : "");
	snprintf(row.client, sizeof(row.client), "%s", client ? client : "");
	snprintf(row.detail, sizeof(row.detail), "%s", detail ? detail : "");
	int rc = vbx_hook_store_audit_add_run(a->st.audit_add, &row);
	if (rc != VBX_OK)
		vbx_log_warn(a->self, "audit row %s not written: %s", action,
		             vbx_strerror(a->self, rc));
}

/* ---- authenticate ---- */

static int jwt_principal(auth *a, const char *bearer, vbx_principal *out)
{
	auth_claims c;

	int rc = auth_jwt_verify_cached(auth_keys(a), bearer,
	                                auth_now_ms() / 1000, &c);
	if (rc != VBX_OK)
		return rc;
	/* A logged-in user's token carries every scope. */
	return auth_principal_for(
	        a, c.sub, VBX_SCOPE_READ | VBX_SCOPE_WRITE | VBX_SCOPE_ADMIN, 0,
	        out);
}

int auth_authenticate(void *ud, const char *bearer, const char *client_addr,
                      vbx_principal *out)
{
	auth *a = ud;

	if (strncmp(bearer, AUTH_KEY_PREFIX, 4) == 0)
		return auth_count_attempt(
		        AUTH_METHOD_API_KEY,
		        auth_key_authenticate(a, bearer, out));
	/* A refresh token is ours, but no access token: invalid. */
	if (strncmp(bearer, AUTH_REFRESH_PREFIX, 4) == 0)
		return auth_count_attempt(AUTH_METHOD_TOKEN, VBX_EUNAUTH);
	if (strncmp(bearer, AUTH_TICKET_PREFIX, 4) == 0)
		return auth_count_attempt(
		        AUTH_METHOD_TICKET,
		        auth_ticket_authenticate(a, bearer, out));
	return auth_count_attempt(AUTH_METHOD_TOKEN,
	                          jwt_principal(a, bearer, out));
}

/* ---- configuration ---- */

static int read_registration(auth *a, const vbx_config *cfg)
{
	const char *s;
	int rc = vbx_cfg_string(cfg, "registration", "first-user", &s);
	if (rc != VBX_OK)
		return rc;
	if (strcmp(s, "first-user") == 0)
		a->registration = AUTH_REG_FIRST_USER;
	else if (strcmp(s, "open") == 0)
		a->registration = AUTH_REG_OPEN;
	else if (strcmp(s, "closed") == 0)
		a->registration = AUTH_REG_CLOSED;
	else
		return vbx_cfg_error(cfg, "registration",
		                     "expected \"first-user\", \"open\" or "
		                     "\"closed\", got \"%s\"",
		                     s);
	return VBX_OK;
}

static int read_argon2(auth *a, const vbx_config *cfg)
{
	uint64_t mem;
	long long t, p;
	int rc = vbx_cfg_size(cfg, "argon2_memory", "19MiB", 64 * 1024,
	                      (uint64_t)4 << 30, &mem);
	rc = rc ? rc : vbx_cfg_int(cfg, "argon2_iterations", 1, 64, 2, &t);
	rc = rc ? rc : vbx_cfg_int(cfg, "argon2_parallelism", 1, 16, 1, &p);
	if (rc != VBX_OK)
		return rc;
	a->argon2.m_kib = (uint32_t)(mem / 1024);
	a->argon2.t = (uint32_t)t;
	a->argon2.p = (uint32_t)p;
	if (a->argon2.m_kib < 8 * a->argon2.p)
		return vbx_cfg_error(cfg, "argon2_memory",
		                     "must be at least 8 KiB per lane "
		                     "(argon2_parallelism)");
	if (a->argon2.m_kib < OWASP_M_KIB && a->self) /* not in validate */
		vbx_log_warn(
		        a->self,
		        "argon2_memory below 19MiB is weaker than OWASP's "
		        "recommendation for Argon2id; use it for tests only");
	return VBX_OK;
}

/*
 * At most hash_concurrency password hashes at once; the others wait in
 * turn (password.c). Each takes argon2_memory and a core for its time,
 * so more than one per CPU only adds memory, not logins per second.
 */
static int read_hash_concurrency(auth *a, vbx_plugin *self,
                                 const vbx_config *cfg)
{
	long long n;
	int rc = vbx_cfg_int_derived(cfg, "hash_concurrency", 1, 256,
	                             vbx_cpu_count(self), "1 per CPU", &n);
	if (rc == VBX_OK)
		a->hash_concurrency = (unsigned)n;
	return rc;
}

/* A new ring from the config's jwt_secret (or jwt_secret_file) into *out
 * (free with free_keys); errors are the config's, naming the key. */
static int load_keys(const vbx_config *cfg, auth_keyring **out)
{
	char *text = NULL, err[256];
	auth_keyring *kr = calloc(1, sizeof(*kr));
	int rc = kr ? vbx_cfg_secret(cfg, "jwt_secret", VBX_REQUIRED, &text)
	            : VBX_ENOMEM;
	if (rc == VBX_OK) {
		rc = auth_keyring_parse(text, kr, err, sizeof(err));
		OPENSSL_cleanse(text, strlen(text));
		free(text);
		if (rc != VBX_OK)
			rc = vbx_cfg_error(cfg, "jwt_secret", "%s", err);
		else
			rc = auth_keyring_prepare(kr);
	}
	if (rc != VBX_OK && kr) {
		auth_keyring_wipe(kr);
		free(kr);
		kr = NULL;
	}
	*out = kr;
	return rc;
}

static void free_keys(auth_keyring *kr)
{
	while (kr) {
		auth_keyring *older = kr->older;
		auth_keyring_wipe(kr);
		free(kr);
		kr = older;
	}
}

const auth_keyring *auth_keys(auth *a)
{
	return atomic_load_explicit(&a->keys, memory_order_acquire);
}

static int read_keys(auth *a, const vbx_config *cfg)
{
	auth_keyring *kr = NULL;
	int rc = load_keys(cfg, &kr);
	atomic_init(&a->keys, kr);
	return rc;
}

/*
 * SIGHUP: read hash_concurrency and the keys again, so that a rotation
 * (a new first line in the key file, the old key kept below it until
 * access_ttl has passed) needs no restart. A broken secret keeps the
 * running keys.
 */
static void on_config_reload(void *ud, const vbx_config_reload_event *ev)
{
	auth *a = ud;
	auth_keyring *kr;

	if (read_hash_concurrency(a, a->self, vbx_plugin_config(a->self)) ==
	    VBX_OK)
		auth_password_concurrency(a->hash_concurrency);
	if (load_keys(vbx_plugin_config(a->self), &kr) != VBX_OK) {
		vbx_log_error(a->self,
		              "configuration generation %u: jwt_secret is not "
		              "usable (above); keeping the signing keys in use",
		              ev->generation);
		return;
	}
	kr->older = atomic_load(&a->keys);
	atomic_store_explicit(&a->keys, kr, memory_order_release);
	vbx_log_info(a->self, "signing keys reloaded: %zu, new tokens use %s",
	             kr->count, kr->keys[0].kid);
}

static int read_limit(const vbx_config *cfg, const char *key, const char *dflt,
                      long *n, int64_t *period)
{
	const char *s;
	int rc = vbx_cfg_string(cfg, key, dflt, &s);
	if (rc != VBX_OK)
		return rc;
	if (auth_limit_parse(s, n, period) != VBX_OK)
		return vbx_cfg_error(cfg, key,
		                     "expected \"N/period\" such as \"10/15m\" "
		                     "(N 1..1000000, period in s, m, h or d), "
		                     "got \"%s\"",
		                     s);
	return VBX_OK;
}

static int new_limiter(const vbx_config *cfg, const char *key, const char *dflt,
                       auth_limiter **out)
{
	long n;
	int64_t period;
	int rc = read_limit(cfg, key, dflt, &n, &period);
	if (rc != VBX_OK)
		return rc;
	*out = auth_limiter_new(n, period, LIMITER_KEYS);
	return *out ? VBX_OK : VBX_ENOMEM;
}

/* login_limit keeps its name and "N/period" form; since it counts per
 * account and address together, an old config means what it meant for
 * the one address that failed, and no longer locks out anyone else. */
static int read_login_limits(const vbx_config *cfg, const auth_cache *cache,
                             auth_login_guard **out)
{
	auth_login_limits l = {.max_keys = LIMITER_KEYS};
	int rc = read_limit(cfg, "login_limit", "10/15m", &l.pair_n,
	                    &l.pair_period_ms);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "login_backoff", "1m", 1000, 86400000,
	                           &l.backoff_ms);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "login_backoff_max", "1h", 1000,
	                           86400000, &l.backoff_max_ms);
	if (rc == VBX_OK && l.backoff_max_ms < l.backoff_ms)
		rc = vbx_cfg_error(cfg, "login_backoff_max",
		                   "must be at least login_backoff");
	rc = rc ? rc
	        : read_limit(cfg, "login_client_limit", "100/15m", &l.client_n,
	                     &l.client_period_ms);
	rc = rc ? rc
	        : read_limit(cfg, "login_account_limit", "50/15m", &l.account_n,
	                     &l.account_period_ms);
	if (rc != VBX_OK)
		return rc;
	l.cache = cache;
	*out = auth_login_guard_new(&l);
	return *out ? VBX_OK : VBX_ENOMEM;
}

/* 0 turns the cache off: every request reads its user. */
static int read_user_cache(auth *a, const vbx_config *cfg)
{
	int64_t ttl;
	int rc = vbx_cfg_duration(cfg, "user_cache", "2s", 0, 60000, &ttl);
	if (rc != VBX_OK || ttl == 0)
		return rc;
	a->users = auth_user_cache_new(ttl);
	return a->users ? VBX_OK : VBX_ENOMEM;
}

/* api_limit: "" (the default) is off. */
static int read_api_limit(auth *a, const vbx_config *cfg,
                          const auth_cache *cache)
{
	long n;
	int64_t period;
	const char *s;
	int rc = vbx_cfg_string(cfg, "api_limit", "", &s);
	if (rc != VBX_OK || !s[0])
		return rc;
	rc = read_limit(cfg, "api_limit", "", &n, &period);
	if (rc != VBX_OK)
		return rc;
	a->api = auth_limiter_new(n, period, LIMITER_KEYS);
	if (!a->api)
		return VBX_ENOMEM;
	if (cache)
		auth_limiter_share(a->api, cache, "api");
	return VBX_OK;
}

/* Read the whole block into a; apply nothing (validate runs it too,
 * with a->self NULL, so host calls take self). */
static int read_config(auth *a, vbx_plugin *self, const vbx_config *cfg)
{
	long long pmin = 8;
	int rc = read_registration(a, cfg);
	rc = rc ? rc : vbx_cfg_int(cfg, "password_min", 8, 128, 8, &pmin);
	rc = rc ? rc : read_argon2(a, cfg);
	rc = rc ? rc : read_hash_concurrency(a, self, cfg);
	rc = rc ? rc : read_keys(a, cfg);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "access_ttl", "15m", 10000, 86400000,
	                           &a->access_ttl_ms);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "refresh_ttl", "7d", 60000,
	                           366LL * 86400000, &a->refresh_ttl_ms);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "ws_ticket_ttl", "30s", 5000, 600000,
	                           &a->ws_ticket_ttl_ms);
	rc = rc ? rc : read_user_cache(a, cfg);
	rc = rc ? rc
	        : vbx_cfg_duration(cfg, "principal_cache", "30s", 0, 600000,
	                           &a->principal_cache_ms);
	/* Shared counts in init only: validate has no hooks to count with. */
	const auth_cache *cache = a->self ? &a->cache : NULL;
	rc = rc ? rc : read_login_limits(cfg, cache, &a->logins);
	rc = rc ? rc
	        : new_limiter(cfg, "register_limit", "5/1h",
	                      &a->register_client);
	if (rc == VBX_OK && cache)
		auth_limiter_share(a->register_client, cache, "register");
	rc = rc ? rc : read_api_limit(a, cfg, cache);
	a->password_min = (size_t)pmin;
	return rc;
}

/* ---- hooks and lifecycle ---- */

static int get_store_hooks(vbx_plugin *self, auth_store *st)
{
	st->user_create = vbx_hook_store_user_create_get(self);
	st->user_get = vbx_hook_store_user_get_get(self);
	st->user_by_email = vbx_hook_store_user_by_email_get(self);
	st->user_update = vbx_hook_store_user_update_get(self);
	st->user_list = vbx_hook_store_user_list_get(self);
	st->key_create = vbx_hook_store_key_create_get(self);
	st->key_use = vbx_hook_store_key_use_get(self);
	st->key_list = vbx_hook_store_key_list_get(self);
	st->key_revoke = vbx_hook_store_key_revoke_get(self);
	st->refresh_create = vbx_hook_store_refresh_create_get(self);
	st->refresh_use = vbx_hook_store_refresh_use_get(self);
	st->refresh_revoke_family =
	        vbx_hook_store_refresh_revoke_family_get(self);
	st->refresh_revoke_user = vbx_hook_store_refresh_revoke_user_get(self);
	st->member_get = vbx_hook_store_member_get_get(self);
	st->project_get = vbx_hook_store_project_get_get(self);
	st->audit_add = vbx_hook_store_audit_add_get(self);
	st->audit_list = vbx_hook_store_audit_list_get(self);
	st->env_get = vbx_hook_store_env_get_get(self);
	st->refresh_family_live = vbx_hook_store_refresh_family_live_get(self);

	vbx_hook *const *h = &st->user_create;
	for (size_t i = 0; i < sizeof(*st) / sizeof(*h); i++)
		if (!h[i]) {
			vbx_log_error(self,
			              "a store hook has another signature than "
			              "this plugin was built with: rebuild the "
			              "store plugin against the same SDK");
			return VBX_ESIGNATURE;
		}
	return VBX_OK;
}

static void auth_free(auth *a)
{
	if (!a)
		return;
	auth_login_guard_free(a->logins);
	auth_limiter_free(a->register_client);
	auth_limiter_free(a->api);
	auth_user_cache_free(a->users);
	free_keys(atomic_load(&a->keys));
	free(a);
}

/* The descriptor's validate: read_config, as init runs it, on a scratch
 * plugin state that is thrown away; nothing running is touched. */
static int auth_validate(vbx_plugin *self, const vbx_config *cfg)
{
	auth *a = calloc(1, sizeof(*a));
	if (!a)
		return VBX_ENOMEM;
	int rc = read_config(a, self, cfg);
	auth_free(a);
	return rc;
}

/* A hash of a random password, verified when the email is unknown so
 * that such a login takes as long as a wrong password. */
static int make_dummy_hash(auth *a)
{
	unsigned char raw[16];
	char pw[AUTH_B64_LEN(sizeof(raw))];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return VBX_ERR;
	auth_b64url_encode(raw, sizeof(raw), pw);
	int rc = auth_password_hash(&a->argon2, pw, a->dummy_hash);
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

static int register_all(auth *a)
{
	int rc = get_store_hooks(a->self, &a->st);
	rc = rc ? rc
	        : vbx_hook_authenticate_register(a->self, auth_authenticate, a,
	                                         VBX_PRIO_MIDDLE);
	rc = rc ? rc
	        : vbx_hook_authorize_register(a->self, auth_authorize, a,
	                                      VBX_PRIO_MIDDLE);
	rc = rc ? rc
	        : vbx_hook_principal_check_register(
	                  a->self, auth_principal_check, a, VBX_PRIO_MIDDLE);
	if (rc == VBX_OK &&
	    !(a->principal_changed = vbx_event_principal_changed_get(a->self)))
		rc = VBX_ESIGNATURE;
	rc = rc ? rc
	        : vbx_event_config_reload_subscribe(a->self, on_config_reload,
	                                            a);
	rc = rc ? rc : auth_principal_subscribe(a);
	if (rc == VBX_OK && a->api)
		rc = vbx_hook_request_admit_register(
		        a->self, auth_request_admit, a, VBX_PRIO_MIDDLE);
	return rc ? rc : auth_routes_add(a);
}

static int auth_init(vbx_plugin *self, const vbx_config *cfg)
{
	auth *a = calloc(1, sizeof(*a));
	if (!a)
		return VBX_ENOMEM;
	a->self = self;
	int rc = auth_cache_hooks(self, &a->cache);
	rc = rc ? rc : read_config(a, self, cfg);
	if (rc == VBX_OK)
		auth_password_concurrency(a->hash_concurrency);
	if (rc == VBX_OK && make_dummy_hash(a) != VBX_OK) {
		vbx_log_error(self, "cannot hash with Argon2id (memory?)");
		rc = VBX_ERR;
	}
	rc = rc ? rc : register_all(a);
	rc = rc ? rc : auth_metrics_init(self);
	if (rc != VBX_OK) {
		auth_free(a);
		return rc;
	}
	vbx_plugin_set_data(self, a);
	return VBX_OK;
}

static void auth_fini(vbx_plugin *self)
{
	auth_free(vbx_plugin_data(self));
	vbx_plugin_set_data(self, NULL);
}

static const char *const auth_provides[] = {"authn", "authz", NULL};
static const char *const auth_requires[] = {"store", NULL};

VBX_PLUGIN(.name = "auth", .version = "1.0.0",
           .description = "users, passwords, JWT access tokens, refresh "
                          "tokens, API keys and permissions",
           .provides = auth_provides, .requires = auth_requires,
           .init = auth_init, .validate = auth_validate, .fini = auth_fini);
