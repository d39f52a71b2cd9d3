/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the plugins.web-console block, read by init, validate and a
 * reload alike, and the Content-Security-Policy it implies.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wc.h"

#ifndef WC_DEFAULT_ROOT
#define WC_DEFAULT_ROOT "/usr/share/vibebox/www"
#endif

/* Has the absolute path a ".." segment? */
static bool has_dotdot(const char *v)
{
	for (const char *p = strstr(v, "/.."); p; p = strstr(p + 1, "/.."))
		if (p[3] == '/' || p[3] == '\0')
			return true;
	return false;
}

/* A copy of a string key; relative keys must name a path inside root. */
static int read_path(const vbx_config *cfg, const char *key, const char *dflt,
                     bool relative, char **out)
{
	const char *v = NULL;
	if (vbx_cfg_string(cfg, key, dflt, &v) != VBX_OK)
		return VBX_EINVAL;
	if (relative && !wc_path_ok(v))
		return vbx_cfg_error(
		        cfg, key,
		        "\"%s\" must be a path inside root, such as "
		        "\"%s\" (no leading \"/\", no \".\" or "
		        "\"..\" or hidden segment)",
		        v, dflt);
	/* "/" would publish the whole file system */
	if (!relative && (v[0] != '/' || has_dotdot(v) || !v[strspn(v, "/")]))
		return vbx_cfg_error(
		        cfg, key,
		        "\"%s\" must be an absolute directory "
		        "other than \"/\", without \"..\", such as "
		        "\"%s\"",
		        v, WC_DEFAULT_ROOT);
	*out = strdup(v);
	return *out ? VBX_OK : VBX_ENOMEM;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* ":port" at p (or nothing); false when not that. */
static bool port_ok(const char *p)
{
	if (*p == '\0')
		return true;
	if (*p++ != ':' || *p == '\0')
		return false;
	long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535)
			return false;
	}
	return v > 0;
}

const char *wc_origin_check(const char *o)
{
	const char *p;
	if (strncmp(o, "https://", 8) == 0)
		p = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		p = o + 7;
	else
		return "must start with https:// or http://";
	if (*p == '[') { /* an IPv6 literal */
		const char *e = strchr(p, ']');
		if (!e || e == p + 1 ||
		    strspn(p + 1, "0123456789abcdefABCDEF:.") !=
		            (size_t)(e - p - 1))
			return "has a bad IPv6 address";
		p = e + 1;
	} else {
		const char *h = p;
		while (host_char(*p))
			p++;
		if (p == h)
			return "has no host";
	}
	if (!port_ok(p))
		return "must be scheme://host[:port] only, without a path, "
		       "query or trailing \"/\"";
	return NULL;
}

/* The policy. Scripts and styles from the console's own origin only (no
 * inline code: the built console needs none); the API and its WebSockets
 * on the same origin are 'self' (CSP 3 lets 'self' cover ws: and wss: of
 * the page's host); an API elsewhere is added with its ws(s) twin. */
char *wc_csp_build(const char *api)
{
	char extra[600] = "";
	if (api) {
		bool tls = strncmp(api, "https://", 8) == 0;
		snprintf(extra, sizeof(extra), " %s %s%s", api,
		         tls ? "wss://" : "ws://", api + (tls ? 8 : 7));
	}
	char *out = NULL;
	if (asprintf(&out,
	             "default-src 'self'; script-src 'self'; style-src 'self'; "
	             "img-src 'self' data:; font-src 'self'; "
	             "connect-src 'self'%s; frame-ancestors 'none'; "
	             "base-uri 'self'; form-action 'self'; object-src 'none'",
	             extra) < 0)
		return NULL;
	return out;
}

static int read_origin(const vbx_config *cfg, wc_settings *s)
{
	const char *v = NULL;
	if (vbx_cfg_string(cfg, "api_origin", NULL, &v) != VBX_OK)
		return VBX_EINVAL;
	if (v) {
		const char *why = strlen(v) > 255 ? "is longer than 255 bytes"
		                                  : wc_origin_check(v);
		if (why)
			return vbx_cfg_error(cfg, "api_origin",
			                     "\"%s\" %s (e.g. "
			                     "\"https://api.example.com\")",
			                     v, why);
		if (!(s->api_origin = strdup(v)))
			return VBX_ENOMEM;
	}
	s->csp = wc_csp_build(s->api_origin);
	return s->csp ? VBX_OK : VBX_ENOMEM;
}

int wc_settings_parse(const vbx_config *cfg, wc_settings *s)
{
	int rc = VBX_OK, krc;
	memset(s, 0, sizeof(*s));
#define KEEP(x)                                                                \
	do {                                                                   \
		if ((krc = (x)) != VBX_OK && rc != VBX_ENOMEM)                 \
			rc = krc;                                              \
	} while (0)
	KEEP(read_path(cfg, "root", WC_DEFAULT_ROOT, false, &s->root));
	KEEP(read_path(cfg, "index", "index.html", true, &s->index));
	KEEP(read_path(cfg, "assets", "assets", true, &s->assets));
	KEEP(read_origin(cfg, s));
	KEEP(vbx_cfg_size(cfg, "cache_max", "64MiB", 0, (uint64_t)1 << 32,
	                  &s->cache_max));
	KEEP(vbx_cfg_duration(cfg, "recheck", "2s", 100, 86400000,
	                      &s->recheck_ms));
#undef KEEP
	return rc;
}

void wc_settings_free(wc_settings *s)
{
	free(s->root);
	free(s->index);
	free(s->assets);
	free(s->api_origin);
	free(s->csp);
	memset(s, 0, sizeof(*s));
}
