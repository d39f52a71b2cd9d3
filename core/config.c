/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - load vibeboxd.conf (libconfig syntax) and validate the core's
 * part of it: server, log, plugin_path (or plugin_dir), state_dir, events,
 * and the plugins list, whose `config` groups become the plugins' read-only
 * blocks.
 *
 * The core reads its own sections through the same getters the plugins
 * use (cfgval.c), on a temporary block per section, so its messages and
 * its unknown-key check are the plugins' too. Every problem is collected,
 * not just the first: `vibeboxd -t` shows them all at once.
 *
 * Integers: libconfig 1.5 silently wraps a decimal integer beyond 32 bits
 * unless it has the L suffix (4294967304 reads as 8). Nothing after the
 * parser can see that, which is one more reason sizes and durations are
 * best written as strings ("4GiB", "30s"), which are overflow-checked.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

#ifndef VBX_PLUGIN_DIR
#define VBX_PLUGIN_DIR "/usr/local/lib/vibebox/plugins"
#endif
#ifndef VBX_STATE_DIR
#define VBX_STATE_DIR "/var/lib/vibebox"
#endif

#define DEFAULT_LISTEN "0.0.0.0:3000"
#define LISTEN_FORM "\"host:port\" (IPv6 in brackets: \"[::1]:3000\")"
#define PROXY_WORD "proxy_protocol"

#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_DAY (24 * 60 * MS_PER_MINUTE)

/* What one load carries around: the config being built and whether any
 * part of it failed (an error message, or memory). */
typedef struct loader {
	vbx__conf *conf;
	vbx__errors *errs;
	bool failed;
} loader;

/* Note the result of a getter or a check; true when it passed. */
static bool ok(loader *ld, int rc)
{
	if (rc != VBX_OK)
		ld->failed = true;
	return rc == VBX_OK;
}

/* ---- blocks ---- */

static const char *file_of(const config_setting_t *s, const char *dflt)
{
	return s && config_setting_source_file(s)
	               ? config_setting_source_file(s)
	               : dflt;
}

static int block_init(vbx_config *b, const config_setting_t *group,
                      const char *file, int line, const char *path,
                      vbx__errors *errs)
{
	memset(b, 0, sizeof(*b));
	b->head.host = &vbx__host;
	b->group = group;
	b->file = file;
	b->line = line;
	b->errs = errs;
	b->path = strdup(path);
	return b->path ? VBX_OK : VBX_ENOMEM;
}

/* Free what b owns, not b itself. */
static void block_release(vbx_config *b)
{
	for (size_t i = 0; i < b->nknown; i++)
		free(b->known[i]);
	free(b->known);
	for (size_t i = 0; i < b->nstrings; i++)
		free(b->strings_cache[i]);
	free(b->strings_cache);
	vbx__shown_free(&b->shown);
	free(b->path);
	memset(b, 0, sizeof(*b));
}

static bool block_knows(const vbx_config *b, const char *key)
{
	for (size_t i = 0; i < b->nknown; i++)
		if (strcmp(b->known[i], key) == 0)
			return true;
	return false;
}

/* Did a getter ask for a key below the group `prefix` (a dotted key
 * "prefix.name")? */
static bool block_knows_below(const vbx_config *b, const char *prefix,
                              size_t plen)
{
	for (size_t i = 0; i < b->nknown; i++)
		if (strncmp(b->known[i], prefix, plen) == 0 &&
		    b->known[i][plen] == '.')
			return true;
	return false;
}

/* Did a getter ask for a key below an element of the list at prefix
 * ("prefix.0.name")? */
static bool knows_index(const vbx_config *b, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < b->nknown; i++)
		if (strncmp(b->known[i], prefix, plen) == 0 &&
		    b->known[i][plen] == '.' && b->known[i][plen + 1] >= '0' &&
		    b->known[i][plen + 1] <= '9')
			return true;
	return false;
}

static size_t report_unknown_in(const vbx_config *b,
                                const config_setting_t *group,
                                const char *prefix);

/* The unknown keys of a list of groups that a getter reached into with
 * indexed keys ("list.0.name"), element by element. */
static size_t report_unknown_list(const vbx_config *b,
                                  const config_setting_t *list,
                                  const char *prefix)
{
	size_t n = 0;
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *s =
		        config_setting_get_elem(list, (unsigned)i);
		char key[512];
		snprintf(key, sizeof(key), "%s.%d", prefix, i);
		if (!config_setting_is_group(s)) {
			vbx__cfg_report(b, s, key, "expected a group { ... }");
			n++;
		} else if (!block_knows_below(b, key, strlen(key))) {
			vbx__cfg_report(b, s, key, "unexpected entry");
			n++;
		} else {
			n += report_unknown_in(b, s, key);
		}
	}
	return n;
}

/* The unknown keys of group (whose path below b is prefix, "" at the
 * top): a group that a getter reached into with dotted keys is checked
 * member by member, and so is a list of groups it indexed. */
static size_t report_unknown_in(const vbx_config *b,
                                const config_setting_t *group,
                                const char *prefix)
{
	size_t n = 0;

	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s =
		        config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		char key[512];
		if (!name)
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
		         name);
		if (block_knows(b, key))
			continue;
		if (!block_knows_below(b, key, strlen(key))) {
			vbx__cfg_report(b, s, key, "unknown key");
			n++;
		} else if (config_setting_is_list(s) && knows_index(b, key)) {
			n += report_unknown_list(b, s, key);
		} else if (!config_setting_is_group(s)) {
			vbx__cfg_report(b, s, key, "expected a group { ... }");
			n++;
		} else {
			n += report_unknown_in(b, s, key);
		}
	}
	return n;
}

/* An error for each key of b that no getter asked for; their number. */
static size_t report_unknown(const vbx_config *b)
{
	return b->group ? report_unknown_in(b, b->group, "") : 0;
}

/* The setting at key of b, which becomes known; NULL when absent. */
static const config_setting_t *lookup(vbx_config *b, const char *key)
{
	vbx__config_mark_known(b, key);
	return b->group ? config_setting_get_member(b->group, key) : NULL;
}

static int expected(const vbx_config *b, const config_setting_t *s,
                    const char *key, const char *what)
{
	char got[128];
	return vbx__cfg_report(b, s, key, "expected %s, got %s", what,
	                       vbx__cfg_describe(s, got, sizeof(got)));
}

/* The block of the root's section `name`; an empty one when absent. */
static int open_section(loader *ld, vbx_config *root, const char *name,
                        vbx_config *b)
{
	const config_setting_t *s = lookup(root, name);

	if (s && !config_setting_is_group(s)) {
		ld->failed = true;
		expected(root, s, name, "a group { ... }");
		s = NULL;
	}
	return block_init(b, s, file_of(s, root->file),
	                  s ? (int)config_setting_source_line(s) : root->line,
	                  name, root->errs);
}

/* ---- server.listen ---- */

enum { LISTEN_OK, LISTEN_BAD_FORM, LISTEN_BAD_PORT };

static bool host_char(char ch, bool bracketed)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_')
		return true;
	/* An IPv6 address, with perhaps a zone: "[fe80::1%eth0]". */
	return bracketed && (ch == ':' || ch == '%');
}

/* Split "host:port" or "[v6]:port"; the host keeps no brackets. */
static int parse_listen(const char *s, vbx__listen *out)
{
	bool bracketed = s[0] == '[';
	const char *host = s + bracketed;
	const char *end = bracketed ? strchr(host, ']') : strrchr(s, ':');
	size_t len;
	long port = 0;

	if (!end || (bracketed && end[1] != ':'))
		return LISTEN_BAD_FORM;
	len = (size_t)(end - host);
	if (len == 0 || len >= sizeof(out->host))
		return LISTEN_BAD_FORM;
	for (size_t i = 0; i < len; i++)
		if (!host_char(host[i], bracketed))
			return LISTEN_BAD_FORM;
	const char *p = end + 1 + bracketed;
	if (!*p)
		return LISTEN_BAD_FORM;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return LISTEN_BAD_FORM;
		if (port <= 65535)
			port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return LISTEN_BAD_PORT;
	memcpy(out->host, host, len);
	out->host[len] = '\0';
	out->port = (int)port;
	return LISTEN_OK;
}

/* Parse one address of setting s and append it to conf->listen, which
 * has room for it. */
static void add_listen(loader *ld, vbx_config *b, const config_setting_t *s,
                       const char *key, const char *text)
{
	vbx__conf *conf = ld->conf;
	vbx__listen l;
	char got[128], addr[320];
	/* "host:port", then perhaps " proxy_protocol" */
	size_t alen = strcspn(text, " \t");
	const char *rest = text + alen;
	rest += strspn(rest, " \t");
	if (*rest && (alen >= sizeof(addr) || strcmp(rest, PROXY_WORD) != 0)) {
		ok(ld,
		   expected(b, s, key,
		            "\"host:port\" or \"host:port " PROXY_WORD "\""));
		return;
	}
	if (*rest) {
		memcpy(addr, text, alen);
		addr[alen] = '\0';
		text = addr;
	}

	switch (parse_listen(text, &l)) {
	case LISTEN_BAD_FORM:
		ok(ld, expected(b, s, key, LISTEN_FORM));
		return;
	case LISTEN_BAD_PORT:
		ok(ld, vbx__cfg_report(b, s, key,
		                       "expected a port 1..65535, got %s",
		                       vbx__cfg_describe(s, got, sizeof(got))));
		return;
	}
	for (size_t i = 0; i < conf->nlisten; i++) {
		if (strcmp(conf->listen[i].host, l.host) == 0 &&
		    conf->listen[i].port == l.port) {
			ok(ld, vbx__cfg_report(
			               b, s, key, "%s is listed twice",
			               vbx__cfg_describe(s, got, sizeof(got))));
			return;
		}
	}
	l.proxy_protocol = *rest != '\0';
	conf->listen[conf->nlisten++] = l;
}

static void load_listen_list(loader *ld, vbx_config *b,
                             const config_setting_t *s)
{
	int n = config_setting_length(s);

	if (n == 0) {
		ok(ld, expected(b, s, "listen", "at least one " LISTEN_FORM));
		return;
	}
	ld->conf->listen = calloc((size_t)n, sizeof(*ld->conf->listen));
	if (!ok(ld, ld->conf->listen ? VBX_OK : VBX_ENOMEM))
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
		        config_setting_get_elem(s, (unsigned)i);
		char key[32];
		snprintf(key, sizeof(key), "listen[%d]", i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			ok(ld, expected(b, e, key, LISTEN_FORM));
		else
			add_listen(ld, b, e, key, config_setting_get_string(e));
	}
}

static void load_listen(loader *ld, vbx_config *b)
{
	const config_setting_t *s = lookup(b, "listen");

	if (s && (config_setting_is_list(s) || config_setting_is_array(s))) {
		load_listen_list(ld, b, s);
		return;
	}
	if (s && config_setting_type(s) != CONFIG_TYPE_STRING) {
		ok(ld, expected(b, s, "listen",
		                LISTEN_FORM " or a list of such strings"));
		return;
	}
	ld->conf->listen = calloc(1, sizeof(*ld->conf->listen));
	if (!ok(ld, ld->conf->listen ? VBX_OK : VBX_ENOMEM))
		return;
	if (s) {
		add_listen(ld, b, s, "listen", config_setting_get_string(s));
	} else {
		parse_listen(DEFAULT_LISTEN, &ld->conf->listen[0]);
		ld->conf->nlisten = 1;
	}
}

/* ---- server.trusted_proxies ---- */

#define TRUSTED_MAX 1024

static void load_trusted(loader *ld, vbx_config *b)
{
	const config_setting_t *s = lookup(b, "trusted_proxies");
	if (!s)
		return;
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		ok(ld,
		   expected(b, s, "trusted_proxies",
		            "a list of CIDR blocks such as [\"10.0.0.0/8\", "
		            "\"::1/128\"]"));
		return;
	}
	int n = config_setting_length(s);
	if (n > TRUSTED_MAX) {
		ok(ld, vbx__cfg_report(b, s, "trusted_proxies",
		                       "at most %d blocks, got %d", TRUSTED_MAX,
		                       n));
		return;
	}
	vbx__conf *conf = ld->conf;
	conf->trusted = n ? calloc((size_t)n, sizeof(*conf->trusted)) : NULL;
	if (!ok(ld, conf->trusted || !n ? VBX_OK : VBX_ENOMEM))
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
		        config_setting_get_elem(s, (unsigned)i);
		char key[48], why[160], got[128];
		snprintf(key, sizeof(key), "trusted_proxies[%d]", i);
		const char *text = config_setting_type(e) == CONFIG_TYPE_STRING
		                           ? config_setting_get_string(e)
		                           : NULL;
		if (!text) {
			ok(ld, expected(b, e, key,
			                "a CIDR block such as \"10.0.0.0/8\""));
			continue;
		}
		if (!vbx__cidr_parse(text, &conf->trusted[conf->ntrusted], why,
		                     sizeof(why))) {
			ok(ld, vbx__cfg_report(
			               b, e, key, "%s, got %s", why,
			               vbx__cfg_describe(e, got, sizeof(got))));
			continue;
		}
		conf->ntrusted++;
	}
}

/* A proxy_protocol listener takes connections from trusted peers only:
 * with none, it could take none. */
static void check_proxy_listeners(loader *ld, vbx_config *b)
{
	const vbx__conf *conf = ld->conf;
	for (size_t i = 0; i < conf->nlisten; i++) {
		if (!conf->listen[i].proxy_protocol || conf->ntrusted)
			continue;
		ok(ld, vbx__cfg_report(
		               b, vbx__cfg_lookup(b->group, "listen"), "listen",
		               "%s:%d is a proxy_protocol listener, which only "
		               "takes connections from server.trusted_proxies; "
		               "list the load balancer's address there",
		               conf->listen[i].host, conf->listen[i].port));
		return;
	}
}

/* ---- the core's sections ---- */

static void load_server(loader *ld, vbx_config *b)
{
	vbx__conf *conf = ld->conf;
	long long workers;

	load_listen(ld, b);
	ok(ld, vbx__cfg_int_derived(b, "workers", 1, 1024,
	                            vbx__workers_for_cpus(vbx__cpu_count()),
	                            "2 per CPU, 4..32", &workers));
	conf->workers = (int)workers;
	ok(ld, vbx__cfg_size(b, "max_body", "1MiB", 1024, UINT64_C(1) << 30,
	                     &conf->max_body));
	ok(ld, vbx__cfg_duration(b, "shutdown_timeout", "30s", 0, MS_PER_DAY,
	                         &conf->shutdown_timeout_ms));
	ok(ld, vbx__cfg_duration(b, "drain_delay", "0s", 0, 10 * MS_PER_MINUTE,
	                         &conf->drain_delay_ms));
	ok(ld, vbx__cfg_size(b, "ws_queue", "1MiB", 1024, UINT64_C(1) << 30,
	                     &conf->ws_queue));
	load_trusted(ld, b);
	check_proxy_listeners(ld, b);
}

/* A string that must be one of names (NULL-terminated); *out its index. */
static void load_choice(loader *ld, vbx_config *b, const char *key,
                        const char *const *names, const char *what, int dflt,
                        int *out)
{
	const config_setting_t *s = lookup(b, key);
	const char *v = NULL;

	*out = dflt;
	if (!ok(ld, vbx__cfg_string(b, key, NULL, &v)) || !v)
		return;
	for (int i = 0; names[i]; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return;
		}
	}
	ok(ld, expected(b, s, key, what));
}

static void load_log(loader *ld, vbx_config *b)
{
	static const char *const levels[] = {"error", "warn", "info", "debug",
	                                     NULL};
	static const char *const formats[] = {"text", "json", NULL};
	int json, access;

	load_choice(ld, b, "level", levels,
	            "one of \"error\", \"warn\", \"info\", \"debug\"",
	            VBX_LOG_INFO, &ld->conf->log_level);
	load_choice(ld, b, "format", formats, "\"json\" or \"text\"", 1, &json);
	ld->conf->log_json = json == 1;
	ok(ld, vbx__cfg_bool(b, "access", 1, &access));
	ld->conf->log_access = access != 0;
}

static void load_events(loader *ld, vbx_config *b)
{
	static const char *const overflows[] = {"drop", "block", NULL};
	long long queue;

	ok(ld, vbx__cfg_int(b, "queue", 16, 1048576, 1024, &queue));
	ld->conf->event_queue = (int)queue;
	load_choice(ld, b, "overflow", overflows, "\"drop\" or \"block\"",
	            VBX__OVERFLOW_DROP, &ld->conf->event_overflow);
}

static void load_health(loader *ld, vbx_config *b)
{
	/* How long /health/ready waits for the plugins' checks: a check that
	 * hangs (a stopped database) must not hang the probe. */
	ok(ld,
	   vbx__cfg_duration_shown(b, "timeout", "3s", 100, 10 * MS_PER_MINUTE,
	                           &ld->conf->health_timeout_ms));
}

/* A section that moved to a plugin's block: an error that says where. */
static void moved(loader *ld, vbx_config *root, const char *key,
                  const char *plugin)
{
	const config_setting_t *s = lookup(root, key);
	if (s)
		ok(ld,
		   vbx__cfg_report(root, s, key,
		                   "moved to the %s plugin's config: "
		                   "plugins = ( { name = \"%s\"; config = { "
		                   "%s = { ... }; }; } )",
		                   plugin, plugin, key));
}

/* A directory setting at the top level, as a copy. */
static char *load_dir(loader *ld, vbx_config *root, const char *key,
                      const char *dflt)
{
	const char *v = dflt;

	if (ok(ld, vbx__cfg_string(root, key, dflt, &v)) && !*v)
		ok(ld, expected(root, lookup(root, key), key,
		                "the path of a directory"));
	char *dup = strdup(v);
	ok(ld, dup ? VBX_OK : VBX_ENOMEM);
	return dup;
}

/* Append a copy of dir to conf->plugin_path, which has room. */
static void add_plugin_dir(loader *ld, const char *dir)
{
	vbx__conf *conf = ld->conf;
	char *dup = strdup(dir);
	if (ok(ld, dup ? VBX_OK : VBX_ENOMEM))
		conf->plugin_path[conf->nplugin_path++] = dup;
}

/* plugin_path: a list of directories; or an error, NULL. */
static const char *const *load_path_list(loader *ld, vbx_config *root,
                                         const config_setting_t *s, size_t *n)
{
	const char *const *dirs = NULL;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		ok(ld, expected(root, s, "plugin_path",
		                "a list of directories [ \"/a\", \"/b\" ]"));
		return NULL;
	}
	if (!ok(ld, vbx__cfg_strings(root, "plugin_path", &dirs, n)))
		return NULL;
	if (*n == 0) {
		ok(ld,
		   expected(root, s, "plugin_path", "at least one directory"));
		return NULL;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!*dirs[i]) {
			ok(ld, vbx__cfg_report(root, s, "plugin_path",
			                       "element %zu is empty; expected "
			                       "the path of a directory",
			                       i));
			return NULL;
		}
	}
	return dirs;
}

/*
 * Where plugins are looked up: plugin_path, a list of directories
 * searched in order (a local directory before the packaged one), or
 * plugin_dir, one directory, or the build's default. Both keys at once is
 * an error naming both.
 */
static void load_plugin_path(loader *ld, vbx_config *root)
{
	vbx__conf *conf = ld->conf;
	const config_setting_t *path = lookup(root, "plugin_path");
	const config_setting_t *dir = lookup(root, "plugin_dir");
	const char *const *dirs = NULL;
	size_t n = 1;

	conf->plugin_path_key = path ? "plugin_path" : "plugin_dir";
	if (path && dir) {
		ok(ld, vbx__cfg_report(root, path, "plugin_path",
		                       "plugin_path and plugin_dir (line %d) "
		                       "are both set; keep one: plugin_path "
		                       "lists directories searched in order, "
		                       "plugin_dir names one",
		                       (int)config_setting_source_line(dir)));
		return;
	}
	if (path && !(dirs = load_path_list(ld, root, path, &n)))
		return;
	conf->plugin_path = calloc(n + 1, sizeof(*conf->plugin_path));
	if (!ok(ld, conf->plugin_path ? VBX_OK : VBX_ENOMEM))
		return;
	if (dirs) {
		for (size_t i = 0; i < n; i++)
			add_plugin_dir(ld, dirs[i]);
		return;
	}
	char *one = load_dir(ld, root, "plugin_dir", VBX_PLUGIN_DIR);
	if (one)
		add_plugin_dir(ld, one);
	free(one);
}

/* Read section `name` with fn, then call each key nobody read unknown. */
static void section(loader *ld, vbx_config *root, const char *name,
                    void (*fn)(loader *ld, vbx_config *b))
{
	vbx_config b;

	if (!ok(ld, open_section(ld, root, name, &b))) {
		block_release(&b);
		return;
	}
	fn(ld, &b);
	if (report_unknown(&b))
		ld->failed = true;
	vbx__shown_move(&b.shown, &ld->conf->shown);
	block_release(&b);
}

/* ---- plugins ---- */

bool vbx__plugin_name_valid(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return false;
	return true;
}

/* The name of entry block e, or NULL after an error. */
static const char *entry_name(loader *ld, vbx_config *e)
{
	const vbx__conf *conf = ld->conf;
	const config_setting_t *s = lookup(e, "name");
	const char *name = NULL;

	if (!ok(ld, vbx__cfg_string(e, "name", NULL, &name)))
		return NULL;
	if (!name) {
		ok(ld, vbx__cfg_report(e, NULL, "name",
		                       "required: the plugin's name, as in "
		                       "name = \"redis-cache\""));
		return NULL;
	}
	if (!vbx__plugin_name_valid(name)) {
		ok(ld,
		   expected(e, s, "name", "a plugin name of a-z, 0-9 and '-'"));
		return NULL;
	}
	for (size_t i = 0; i < conf->nplugins; i++) {
		const vbx__plugin_conf *p = &conf->plugins[i];
		if (strcmp(p->name, name) != 0)
			continue;
		if (strcmp(p->block->file, e->file) == 0)
			ok(ld, vbx__cfg_report(e, s, "name",
			                       "plugin \"%s\" is listed twice, "
			                       "first at line %d",
			                       name, p->line));
		else
			ok(ld, vbx__cfg_report(e, s, "name",
			                       "plugin \"%s\" is listed twice, "
			                       "first at %s:%d",
			                       name, p->block->file, p->line));
		return NULL;
	}
	return name;
}

/* The `config` group of entry block e; NULL when absent, empty or bad. */
static const config_setting_t *entry_config(loader *ld, vbx_config *e)
{
	const config_setting_t *s = lookup(e, "config");

	if (s && !config_setting_is_group(s)) {
		ok(ld, expected(e, s, "config", "a group { ... }"));
		return NULL;
	}
	return s && config_setting_length(s) > 0 ? s : NULL;
}

/* Append plugin `name` with its block; conf->plugins has room. */
static int add_plugin(vbx__conf *conf, const char *name,
                      const config_setting_t *entry,
                      const config_setting_t *group)
{
	vbx__plugin_conf *p = &conf->plugins[conf->nplugins];
	char *path = NULL;
	int rc = VBX_ENOMEM;

	p->line = (int)config_setting_source_line(entry);
	p->name = strdup(name);
	p->block = malloc(sizeof(*p->block));
	if (p->name && p->block && asprintf(&path, "plugins.%s", name) >= 0)
		rc = block_init(p->block, group, file_of(entry, conf->path),
		                p->line, path, NULL);
	free(path);
	if (rc != VBX_OK) {
		if (p->block)
			block_release(p->block);
		free(p->block);
		free(p->name);
		memset(p, 0, sizeof(*p));
		return rc;
	}
	conf->nplugins++;
	return VBX_OK;
}

/* One `{ name = ...; config = { ... }; }` of the plugins list. */
static void load_entry(loader *ld, vbx_config *root,
                       const config_setting_t *entry, int index)
{
	char path[32];
	vbx_config e;

	snprintf(path, sizeof(path), "plugins[%d]", index);
	if (!config_setting_is_group(entry)) {
		ok(ld,
		   expected(root, entry, path,
		            "a group { name = \"...\"; config = { ... }; }"));
		return;
	}
	if (!ok(ld, block_init(&e, entry, file_of(entry, root->file),
	                       (int)config_setting_source_line(entry), path,
	                       root->errs))) {
		block_release(&e);
		return;
	}
	const char *name = entry_name(ld, &e);
	const config_setting_t *group = entry_config(ld, &e);
	if (report_unknown(&e))
		ld->failed = true;
	/* Kept even when something else failed, to find later duplicates. */
	if (name)
		ok(ld, add_plugin(ld->conf, name, entry, group));
	block_release(&e);
}

static void load_plugins(loader *ld, vbx_config *root)
{
	const config_setting_t *s = lookup(root, "plugins");

	if (!s)
		return;
	if (!config_setting_is_list(s)) {
		ok(ld, expected(root, s, "plugins",
		                "a list ( { name = \"...\"; }, ... )"));
		return;
	}
	int n = config_setting_length(s);
	ld->conf->plugins = calloc((size_t)n + 1, sizeof(*ld->conf->plugins));
	if (!ok(ld, ld->conf->plugins ? VBX_OK : VBX_ENOMEM))
		return;
	for (int i = 0; i < n; i++)
		load_entry(ld, root, config_setting_get_elem(s, (unsigned)i),
		           i);
}

/* ---- loading ---- */

static void load_tree(loader *ld)
{
	vbx__conf *conf = ld->conf;
	vbx_config root;

	if (!ok(ld, block_init(&root, config_root_setting(&conf->lc),
	                       conf->path, 1, "", ld->errs))) {
		block_release(&root);
		return;
	}
	section(ld, &root, "server", load_server);
	section(ld, &root, "log", load_log);
	load_plugin_path(ld, &root);
	conf->state_dir = load_dir(ld, &root, "state_dir", VBX_STATE_DIR);
	section(ld, &root, "events", load_events);
	section(ld, &root, "health", load_health);
	moved(ld, &root, "environments", "platform");
	moved(ld, &root, "terminal", "platform");
	load_plugins(ld, &root);
	if (report_unknown(&root))
		ld->failed = true;
	block_release(&root);
}

/* Hand errors collected without a list to the log. */
static void log_errors(vbx__errors *e)
{
	for (size_t i = 0; i < e->count; i++)
		vbx__error("%s", e->msgs[i]);
	vbx__errors_clear(e);
}

int vbx__conf_load_buffer(const char *text, const char *name, vbx__conf **out,
                          vbx__errors *errs)
{
	vbx__errors mine = {0};
	loader ld = {.errs = errs ? errs : &mine};
	vbx__conf *conf = calloc(1, sizeof(*conf));

	*out = NULL;
	if (!conf)
		return VBX_ENOMEM;
	config_init(&conf->lc);
	conf->generation = 1;
	conf->path = strdup(name);
	ld.conf = conf;
	if (!conf->path) {
		vbx__conf_free(conf);
		return VBX_ENOMEM;
	}
	if (!config_read_string(&conf->lc, text)) {
		const char *file = config_error_file(&conf->lc);
		vbx__errors_add(ld.errs, "%s:%d: %s", file ? file : name,
		                config_error_line(&conf->lc),
		                config_error_text(&conf->lc));
		ld.failed = true;
	} else {
		load_tree(&ld);
	}
	if (!errs)
		log_errors(&mine);
	if (ld.failed) {
		vbx__conf_free(conf);
		return VBX_EINVAL;
	}
	*out = conf;
	return VBX_OK;
}

/* The whole of file fd as a string; errno set on failure. */
static char *read_text(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(buf);
		errno = EISDIR;
		return NULL;
	}
	while (buf) {
		if (n + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += (size_t)r;
	}
	int saved = errno;
	free(buf);
	errno = saved ? saved : ENOMEM;
	return NULL;
}

int vbx__conf_load(const char *path, vbx__conf **out, vbx__errors *errs)
{
	vbx__errors mine = {0};
	vbx__errors *e = errs ? errs : &mine;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (fd >= 0) {
		text = read_text(fd, &len);
		int saved = errno;
		close(fd);
		errno = saved;
	}
	if (!text) {
		vbx__errors_add(e, "%s: cannot read: %s", path,
		                strerror(errno));
		rc = VBX_ENOTFOUND;
	} else if (memchr(text, '\0', len)) {
		/* libconfig would stop there silently; say so instead. */
		const char *nul = memchr(text, '\0', len);
		int line = 1;
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		vbx__errors_add(e, "%s:%d: a NUL byte; is this a text file?",
		                path, line);
		rc = VBX_EINVAL;
	} else {
		rc = vbx__conf_load_buffer(text, path, out, e);
	}
	free(text);
	if (!errs)
		log_errors(&mine);
	return rc;
}

void vbx__conf_free(vbx__conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nplugins; i++) {
		block_release(c->plugins[i].block);
		free(c->plugins[i].block);
		free(c->plugins[i].name);
	}
	free(c->plugins);
	free(c->listen);
	free(c->trusted);
	for (size_t i = 0; i < c->nplugin_path; i++)
		free(c->plugin_path[i]);
	free(c->plugin_path);
	free(c->state_dir);
	vbx__shown_free(&c->shown);
	config_destroy(&c->lc);
	free(c->path);
	free(c);
}

size_t vbx__config_check_unknown(const vbx_config *block, vbx__errors *errs)
{
	/* Report to errs, whatever list the block collects into. */
	vbx_config view = *block;
	view.errs = errs;
	return report_unknown(&view);
}

size_t vbx__conf_check_unknown(const vbx__conf *c, vbx__errors *errs)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nplugins; i++)
		n += vbx__config_check_unknown(c->plugins[i].block, errs);
	return n;
}

/* ---- comparing blocks ---- */

static bool setting_same(const config_setting_t *a, const config_setting_t *b);

/* The same members, by name, whatever their order. */
static bool group_same(const config_setting_t *a, const config_setting_t *b)
{
	int n = config_setting_length(a);

	if (n != config_setting_length(b))
		return false;
	for (int i = 0; i < n; i++) {
		const config_setting_t *m =
		        config_setting_get_elem(a, (unsigned)i);
		const char *name = config_setting_name(m);
		if (!name ||
		    !setting_same(m, config_setting_get_member(b, name)))
			return false;
	}
	return true;
}

/* The same elements in the same order. */
static bool list_same(const config_setting_t *a, const config_setting_t *b)
{
	int n = config_setting_length(a);

	if (n != config_setting_length(b))
		return false;
	for (int i = 0; i < n; i++)
		if (!setting_same(config_setting_get_elem(a, (unsigned)i),
		                  config_setting_get_elem(b, (unsigned)i)))
			return false;
	return true;
}

/* Same type and value; where each sits in the file does not count. */
static bool setting_same(const config_setting_t *a, const config_setting_t *b)
{
	if (!a || !b)
		return a == b;
	if (config_setting_type(a) != config_setting_type(b))
		return false;
	switch (config_setting_type(a)) {
	case CONFIG_TYPE_INT:
		return config_setting_get_int(a) == config_setting_get_int(b);
	case CONFIG_TYPE_INT64:
		return config_setting_get_int64(a) ==
		       config_setting_get_int64(b);
	case CONFIG_TYPE_FLOAT: {
		double x = config_setting_get_float(a);
		double y = config_setting_get_float(b);
		return memcmp(&x, &y, sizeof(x)) == 0;
	}
	case CONFIG_TYPE_BOOL:
		return config_setting_get_bool(a) == config_setting_get_bool(b);
	case CONFIG_TYPE_STRING:
		return strcmp(config_setting_get_string(a),
		              config_setting_get_string(b)) == 0;
	case CONFIG_TYPE_GROUP:
		return group_same(a, b);
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		return list_same(a, b);
	default:
		return true;
	}
}

bool vbx__config_same(const vbx_config *a, const vbx_config *b)
{
	const config_setting_t *ga = a ? a->group : NULL;
	const config_setting_t *gb = b ? b->group : NULL;

	/* An absent block and an empty one are the same: no keys. */
	if (ga && config_setting_length(ga) == 0)
		ga = NULL;
	if (gb && config_setting_length(gb) == 0)
		gb = NULL;
	if (!ga || !gb)
		return ga == gb;
	return group_same(ga, gb);
}
