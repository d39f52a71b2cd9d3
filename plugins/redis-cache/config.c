/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the plugins.redis-cache block, read by init and validate
 * alike (one parser, so a reload is checked as a start would be).
 */
#include <stdlib.h>
#include <string.h>

#include "rc.h"

static int read_url(const vbx_config *cfg, rc_settings *s)
{
	const char *url = NULL;
	char err[RC_ERR_MAX];

	if (vbx_cfg_string(cfg, "url", "redis://127.0.0.1:6379/0", &url) !=
	    VBX_OK)
		return VBX_EINVAL;
	if (rc_url_parse(url, &s->url, err, sizeof(err)) != VBX_OK)
		return vbx_cfg_error(cfg, "url", "%s", err);
	return VBX_OK;
}

static int dup_opt(const vbx_config *cfg, const char *key, char **out)
{
	const char *v = NULL;

	if (vbx_cfg_string(cfg, key, NULL, &v) != VBX_OK)
		return VBX_EINVAL;
	if (v && !v[0])
		return vbx_cfg_error(cfg, key, "empty; remove it instead");
	if (v && !(*out = strdup(v)))
		return VBX_ENOMEM;
	return VBX_OK;
}

static int read_tls(const vbx_config *cfg, rc_settings *s)
{
	int rc = VBX_OK, verify = 1;
	const char *const keys[] = {"tls_ca_file", "tls_cert_file",
	                            "tls_key_file", "tls_server_name"};
	char **outs[] = {&s->tls_ca_file, &s->tls_cert_file, &s->tls_key_file,
	                 &s->tls_server_name};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int krc = dup_opt(cfg, keys[i], outs[i]);
		if (krc != VBX_OK)
			rc = krc;
	}
	if (vbx_cfg_bool(cfg, "tls_verify", 1, &verify) != VBX_OK)
		rc = VBX_EINVAL;
	s->tls_verify = verify != 0;
	if (rc != VBX_OK)
		return rc;
	if (!s->tls_cert_file != !s->tls_key_file)
		return vbx_cfg_error(cfg,
		                     s->tls_cert_file ? "tls_key_file"
		                                      : "tls_cert_file",
		                     "tls_cert_file and tls_key_file go "
		                     "together (a client certificate)");
	if (!s->url.tls && (s->tls_ca_file || s->tls_cert_file))
		return vbx_cfg_error(cfg, "url",
		                     "TLS files are set but the url is not "
		                     "rediss://");
	return VBX_OK;
}

static int read_sentinels(const vbx_config *cfg, rc_settings *s)
{
	const char *const *list = NULL;
	size_t n = 0;
	char err[RC_ERR_MAX];
	int rc = VBX_OK;

	if (vbx_cfg_strings(cfg, "sentinels", &list, &n) != VBX_OK)
		rc = VBX_EINVAL;
	if (dup_opt(cfg, "master_name", &s->master_name) != VBX_OK)
		rc = VBX_EINVAL;
	if (rc != VBX_OK)
		return rc;
	if (n > RC_SENTINELS_MAX)
		return vbx_cfg_error(cfg, "sentinels", "at most %d sentinels",
		                     RC_SENTINELS_MAX);
	for (size_t i = 0; i < n; i++)
		if (rc_hostport_parse(list[i], &s->sentinels[i], err,
		                      sizeof(err)) != VBX_OK)
			return vbx_cfg_error(cfg, "sentinels", "\"%s\": %s",
			                     list[i], err);
	s->nsentinels = n;
	if (n && !s->master_name)
		return vbx_cfg_error(cfg, "master_name",
		                     "required with sentinels: the name the "
		                     "sentinels monitor");
	if (!n && s->master_name)
		return vbx_cfg_error(cfg, "sentinels",
		                     "master_name is set but no sentinels");
	if (n && s->url.addr.path[0])
		return vbx_cfg_error(cfg, "url",
		                     "a unix:// url cannot go with sentinels");
	return VBX_OK;
}

static int read_prefix(const vbx_config *cfg, rc_settings *s)
{
	const char *p = NULL;

	if (vbx_cfg_string(cfg, "prefix", "vibebox:", &p) != VBX_OK)
		return VBX_EINVAL;
	if (strlen(p) >= sizeof(s->prefix))
		return vbx_cfg_error(cfg, "prefix", "longer than %zu bytes",
		                     sizeof(s->prefix) - 1);
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return vbx_cfg_error(cfg, "prefix",
			                     "spaces and control characters "
			                     "are not allowed");
	strcpy(s->prefix, p);
	return VBX_OK;
}

static int read_numbers(const vbx_config *cfg, rc_settings *s)
{
	long long pool = 4;
	int req = 0, rc = VBX_OK;

	if (vbx_cfg_int(cfg, "pool", 1, 256, 4, &pool) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration_shown(cfg, "timeout", "500ms", 10, 60000,
	                           &s->timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration_shown(cfg, "connect_timeout", "1s", 10, 60000,
	                           &s->connect_timeout_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration(cfg, "reconnect_min", "100ms", 10, 60000,
	                     &s->backoff_min_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_duration(cfg, "reconnect_max", "5s", 10, 600000,
	                     &s->backoff_max_ms) != VBX_OK)
		rc = VBX_EINVAL;
	if (vbx_cfg_bool(cfg, "required", 0, &req) != VBX_OK)
		rc = VBX_EINVAL;
	s->pool = (int)pool;
	s->required = req != 0;
	if (rc == VBX_OK && s->backoff_max_ms < s->backoff_min_ms)
		return vbx_cfg_error(cfg, "reconnect_max",
		                     "shorter than reconnect_min");
	return rc;
}

int rc_settings_parse(const vbx_config *cfg, rc_settings *s)
{
	/* Every key is read even after an error, so that all are reported
	 * and none is taken for unknown. */
	int rcs[6];

	rcs[0] = read_url(cfg, s);
	rcs[1] = vbx_cfg_secret(cfg, "password", 0, &s->password);
	rcs[2] = read_tls(cfg, s);
	rcs[3] = read_sentinels(cfg, s);
	rcs[4] = read_prefix(cfg, s);
	rcs[5] = read_numbers(cfg, s);
	for (size_t i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++)
		if (rcs[i] != VBX_OK)
			return rcs[i] == VBX_ENOMEM ? VBX_ENOMEM : VBX_EINVAL;
	if (s->url.user[0] && !s->password)
		return vbx_cfg_error(cfg, "password_file",
		                     "the url names user \"%s\" but no "
		                     "password is set",
		                     s->url.user);
	return VBX_OK;
}

void rc_settings_free(rc_settings *s)
{
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->tls_ca_file);
	free(s->tls_cert_file);
	free(s->tls_key_file);
	free(s->tls_server_name);
	free(s->master_name);
	memset(s, 0, sizeof(*s));
}
