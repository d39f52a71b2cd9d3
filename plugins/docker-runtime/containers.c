/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers.c - the runtime hook handlers for containers: create, start,
 * stop, restart, remove, inspect, ports, stats, list and ping, and the
 * pure parsers of the engine's JSON that they use.
 *
 * A container is confined the same way whatever its image: every
 * capability dropped but a few, no new privileges, an init that reaps
 * zombies, a keep-alive instead of the image's command (unless
 * keep_command names the image), a pids limit, CPU and memory limits without
 * swap, a network of its own, ports published on publish_address only, and
 * nothing from the host mounted (never the Docker socket).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker.h"

#define NAME_MAX_LEN (sizeof(DKR_NAME_PREFIX) + VBX_ID_LEN)
#define MIB (1024.0 * 1024.0)

/* The capabilities a development container keeps; everything else is
 * dropped. Each is here because ordinary development work needs it. */
static const char *const cap_add[] = {
        "CHOWN",        /* package managers and tar chown files they
                           unpack as root */
        "DAC_OVERRIDE", /* root may write files that it does not own in
                           the image, as in a normal root shell */
        "FOWNER",       /* chmod/utime on files owned by other users
                           (installing into /usr/local, fixing modes) */
        "SETUID",       /* su, sudo and daemons that drop to a user */
        "SETGID",       /* the group half of the same */
        "KILL",         /* signal processes of another uid inside the
                           container (stop a service started as a user) */
};

/*
 * What a container runs unless its image matches keep_command: images
 * such as debian, ubuntu, node or python default to a shell or an
 * interpreter that exits at once without a TTY, so the environment would
 * stop a second after it starts. The keep-alive uses only sh, sleep and
 * wait (busybox has them too) and, under the init (tini passes SIGTERM
 * on), ends at once on SIGTERM: `wait` returns to run the trap, where a
 * foreground sleep would hold it back.
 */
static const char *const keep_alive[] = {
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM INT HUP; "
        "while :; do sleep 3600 & wait $!; done "
        "# vibebox keep-alive; see plugins.docker-runtime.keep_command",
};

/* ---- small helpers ---- */

bool dkr_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || !isalnum((unsigned char)id[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i]))
			return false;
	return true;
}

static void copy_str(char *dst, size_t len, const cJSON *s)
{
	snprintf(dst, len, "%s", cJSON_IsString(s) ? s->valuestring : "");
}

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A non-negative JSON number as u64; 0 when absent or not a number. */
static uint64_t get_u64(const cJSON *o, const char *key)
{
	const cJSON *n = get(o, key);
	if (!cJSON_IsNumber(n) || !(n->valuedouble > 0))
		return 0;
	if (n->valuedouble >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)n->valuedouble;
}

/* A time field of o into *ms; 0 when absent or unreadable. */
static void get_time(const cJSON *o, const char *key, int64_t *ms)
{
	const char *s = cJSON_GetStringValue(get(o, key));
	if (!s || dkr_time_parse(s, ms) != VBX_OK)
		*ms = 0;
}

int dkr_simple(dkr *d, const char *method, const char *path, int64_t timeout_ms,
               long ok2, const char *what, char *why, size_t why_len)
{
	dkr_resp r;
	int rc = dkr_request(d, method, path, NULL, timeout_ms, &r);
	int st = rc == VBX_OK && r.status == ok2
	                 ? VBX_OK
	                 : dkr_status_rc(&r, what, why, why_len);
	dkr_resp_free(&r);
	return rc == VBX_OK ? st : rc;
}

/* ---- parsers (pure) ---- */

int dkr_parse_inspect(const cJSON *j, vbx_container_state *out)
{
	memset(out, 0, sizeof(*out));
	const cJSON *st = get(j, "State");
	if (!cJSON_IsString(get(j, "Id")) || !cJSON_IsObject(st))
		return VBX_EINVAL;
	copy_str(out->id, sizeof(out->id), get(j, "Id"));
	copy_str(out->env_id, sizeof(out->env_id),
	         get(get(get(j, "Config"), "Labels"), DKR_LABEL_ENV));
	copy_str(out->status, sizeof(out->status), get(st, "Status"));
	out->running = cJSON_IsTrue(get(st, "Running"));
	out->oom_killed = cJSON_IsTrue(get(st, "OOMKilled"));
	const cJSON *code = get(st, "ExitCode");
	if (cJSON_IsNumber(code) && code->valuedouble > -1e9 &&
	    code->valuedouble < 1e9)
		out->exit_code = (int)code->valuedouble;
	copy_str(out->error, sizeof(out->error), get(st, "Error"));
	get_time(st, "StartedAt", &out->started_at);
	get_time(st, "FinishedAt", &out->finished_at);
	return VBX_OK;
}

/* "8080/tcp" into a port row; false when it is not one. */
static bool port_key(const char *key, vbx_env_port *p)
{
	char proto[8];
	int port, used = 0;
	if (sscanf(key, "%5d/%7[a-z]%n", &port, proto, &used) != 2 ||
	    key[used] != '\0' || port < 1 || port > 65535 ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
		return false;
	p->port = port;
	memcpy(p->protocol, proto, 4); /* "tcp" or "udp" and the NUL */
	return true;
}

/* The first usable HostPort of a binding list; 0 for none. */
static int host_port(const cJSON *bindings)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, bindings)
	{
		const char *s = cJSON_GetStringValue(get(b, "HostPort"));
		char *end;
		long v = s && *s ? strtol(s, &end, 10) : 0;
		if (s && *s && *end == '\0' && v >= 1 && v <= 65535)
			return (int)v;
	}
	return 0;
}

int dkr_parse_ports(const cJSON *inspect, vbx_env_port_each_fn *each, void *ctx)
{
	const cJSON *ports = get(get(inspect, "NetworkSettings"), "Ports");
	const cJSON *it;
	if (!cJSON_IsObject(inspect))
		return VBX_EINVAL;
	if (!cJSON_IsObject(ports))
		return VBX_OK; /* null while the container is not running */
	cJSON_ArrayForEach(it, ports)
	{
		vbx_env_port p = {0};
		if (!it->string || !port_key(it->string, &p) ||
		    !cJSON_IsArray(it))
			continue;
		p.host_port = host_port(it);
		if (p.host_port == 0)
			continue;
		int stop = each(ctx, &p);
		if (stop)
			return stop;
	}
	return VBX_OK;
}

/* Memory in use as `docker stats` counts it: without the page cache that
 * the kernel can drop (inactive files; "cache" on old engines). */
static uint64_t memory_used(const cJSON *mem)
{
	uint64_t usage = get_u64(mem, "usage");
	const cJSON *st = get(mem, "stats");
	uint64_t cache;
	if (get(st, "total_inactive_file")) /* cgroup v1 */
		cache = get_u64(st, "total_inactive_file");
	else if (get(st, "inactive_file")) /* cgroup v2 */
		cache = get_u64(st, "inactive_file");
	else
		cache = get_u64(st, "cache");
	return cache < usage ? usage - cache : usage;
}

static double cpu_percent(const cJSON *j)
{
	const cJSON *cpu = get(j, "cpu_stats"), *pre = get(j, "precpu_stats");
	double used = (double)get_u64(get(cpu, "cpu_usage"), "total_usage") -
	              (double)get_u64(get(pre, "cpu_usage"), "total_usage");
	double sys = (double)get_u64(cpu, "system_cpu_usage") -
	             (double)get_u64(pre, "system_cpu_usage");
	double cpus = (double)get_u64(cpu, "online_cpus");
	if (cpus == 0)
		cpus = cJSON_GetArraySize(
		        get(get(cpu, "cpu_usage"), "percpu_usage"));
	if (cpus == 0)
		cpus = 1;
	if (!(used > 0) || !(sys > 0))
		return 0;
	return used / sys * cpus * 100.0;
}

int dkr_parse_stats(const cJSON *j, vbx_container_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(j))
		return VBX_EINVAL;
	out->cpu_percent = cpu_percent(j);
	const cJSON *mem = get(j, "memory_stats");
	out->memory_bytes = memory_used(mem);
	out->memory_limit_bytes = get_u64(mem, "limit");
	out->pids = get_u64(get(j, "pids_stats"), "current");
	const cJSON *nets = get(j, "networks"), *net;
	if (!cJSON_IsObject(nets))
		nets = NULL;
	cJSON_ArrayForEach(net, nets)
	{
		out->net_rx_bytes += get_u64(net, "rx_bytes");
		out->net_tx_bytes += get_u64(net, "tx_bytes");
	}
	get_time(j, "read", &out->at);
	return VBX_OK;
}

int dkr_parse_list_item(const cJSON *j, vbx_container_state *out)
{
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsString(get(j, "Id")))
		return VBX_EINVAL;
	copy_str(out->id, sizeof(out->id), get(j, "Id"));
	copy_str(out->env_id, sizeof(out->env_id),
	         get(get(j, "Labels"), DKR_LABEL_ENV));
	copy_str(out->status, sizeof(out->status), get(j, "State"));
	out->running = strcmp(out->status, "running") == 0;
	/* The list tells the exit code only in its text: "Exited (137) 2
	 * minutes ago". */
	const char *text = cJSON_GetStringValue(get(j, "Status"));
	int code;
	if (text && sscanf(text, "Exited (%d)", &code) == 1)
		out->exit_code = code;
	return VBX_OK;
}

/* ---- create ---- */

static bool add_strings(cJSON *o, const char *key, const char *const *v,
                        size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return a != NULL;
}

/* Env: only "KEY=value" entries; a bare "KEY" would mean something else
 * to the engine. */
static int check_variables(const vbx_container_spec *spec, char *why,
                           size_t why_len)
{
	for (size_t i = 0; i < spec->n_variables; i++) {
		const char *v = spec->variables[i];
		if (!v || v[0] == '=' || !strchr(v, '=')) {
			snprintf(why, why_len,
			         "variable %zu of the environment is not "
			         "KEY=value",
			         i + 1);
			return VBX_EINVAL;
		}
	}
	return VBX_OK;
}

/* ExposedPorts in cfg and PortBindings in host, each on publish_address
 * with HostPort "" so that the engine picks a free one. */
static bool add_ports(dkr *d, const vbx_container_spec *spec, cJSON *cfg,
                      cJSON *host)
{
	cJSON *exposed = cJSON_AddObjectToObject(cfg, "ExposedPorts");
	cJSON *bind = cJSON_AddObjectToObject(host, "PortBindings");
	if (!exposed || !bind)
		return false;
	for (size_t i = 0; i < spec->n_ports; i++) {
		const vbx_env_port *p = &spec->ports[i];
		char key[16];
		snprintf(key, sizeof(key), "%d/%s", p->port, p->protocol);
		cJSON *list = cJSON_AddArrayToObject(bind, key);
		cJSON *one = cJSON_CreateObject();
		bool ok = cJSON_AddObjectToObject(exposed, key) && list &&
		          one &&
		          cJSON_AddStringToObject(one, "HostIp",
		                                  d->conf.publish_address) &&
		          cJSON_AddStringToObject(one, "HostPort", "") &&
		          cJSON_AddItemToArray(list, one);
		if (!ok) {
			cJSON_Delete(one); /* not in the list: still ours */
			return false;
		}
	}
	return true;
}

static int check_ports(const vbx_container_spec *spec, char *why,
                       size_t why_len)
{
	for (size_t i = 0; i < spec->n_ports; i++) {
		const vbx_env_port *p = &spec->ports[i];
		if (p->port < 1 || p->port > 65535 ||
		    (strcmp(p->protocol, "tcp") != 0 &&
		     strcmp(p->protocol, "udp") != 0)) {
			snprintf(why, why_len,
			         "port %d/%.3s is not a port 1..65535 of tcp "
			         "or udp",
			         p->port, p->protocol);
			return VBX_EINVAL;
		}
	}
	return VBX_OK;
}

/* Cores as whole nano-CPUs; the core bounds cpu_limit, this bounds the
 * conversion (1e6 cores) so that the cast cannot overflow. */
static double nano_cpus(double cores)
{
	if (!(cores < 1e6))
		cores = 1e6;
	return (double)(int64_t)(cores * 1e9 + 0.5);
}

static bool add_limits(cJSON *host, const vbx_env *env)
{
	if (env->cpu_limit > 0 &&
	    !cJSON_AddNumberToObject(host, "NanoCpus",
	                             nano_cpus(env->cpu_limit)))
		return false;
	if (env->memory_limit > 0) {
		double bytes = (double)env->memory_limit * MIB;
		/* MemorySwap = Memory: no swap on top of the limit. */
		if (!cJSON_AddNumberToObject(host, "Memory", bytes) ||
		    !cJSON_AddNumberToObject(host, "MemorySwap", bytes))
			return false;
	}
	return true;
}

static cJSON *host_config(dkr *d, const vbx_container_spec *spec, cJSON *cfg,
                          const char *net, const dkr_ws *ws)
{
	static const char *const drop_all[] = {"ALL"};
	static const char *const no_new_privs[] = {"no-new-privileges"};
	cJSON *h = cJSON_AddObjectToObject(cfg, "HostConfig");
	cJSON *rp = cJSON_AddObjectToObject(h, "RestartPolicy");
	bool ok =
	        h && rp && cJSON_AddStringToObject(rp, "Name", "no") &&
	        add_limits(h, spec->env) &&
	        cJSON_AddNumberToObject(h, "PidsLimit", d->conf.pids_limit) &&
	        add_strings(h, "CapDrop", drop_all, 1) &&
	        add_strings(h, "CapAdd", cap_add,
	                    sizeof(cap_add) / sizeof(*cap_add)) &&
	        add_strings(h, "SecurityOpt", no_new_privs, 1) &&
	        cJSON_AddFalseToObject(h, "Privileged") &&
	        cJSON_AddTrueToObject(h, "Init") &&
	        cJSON_AddBoolToObject(h, "ReadonlyRootfs", d->conf.read_only) &&
	        cJSON_AddStringToObject(h, "NetworkMode", net) &&
	        add_ports(d, spec, cfg, h) && dkr_ws_mount(ws, h);
	if (ok && d->conf.read_only) {
		/* A read-only root still needs a scratch /tmp. */
		cJSON *t = cJSON_AddObjectToObject(h, "Tmpfs");
		ok = t && cJSON_AddStringToObject(t, "/tmp",
		                                  "rw,nosuid,nodev,mode=1777");
	}
	return ok ? h : NULL;
}

/* The hostname: the environment's slug when it is a valid one. */
static bool add_hostname(cJSON *cfg, const char *slug)
{
	size_t n = strlen(slug);
	if (n == 0 || n > 63 || slug[0] == '-')
		return true;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)slug[i]) && slug[i] != '-')
			return true;
	return cJSON_AddStringToObject(cfg, "Hostname", slug) != NULL;
}

/* The keep-alive as the entrypoint: the engine then takes no command
 * from the image either (an image's entrypoint, such as node's
 * docker-entrypoint.sh, would run it with the keep-alive as arguments). */
static bool add_command(const dkr *d, cJSON *cfg, const char *image)
{
	if (dkr_image_match(d->conf.keep_command, d->conf.n_keep_command,
	                    image))
		return true;
	return add_strings(cfg, "Entrypoint", keep_alive,
	                   sizeof(keep_alive) / sizeof(*keep_alive));
}

/* What the container reserves on its engine (place.c). */
static bool add_limit_labels(cJSON *cfg, const vbx_env *env)
{
	char cpus[32], mem[32];
	cJSON *l = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");
	snprintf(cpus, sizeof(cpus), "%.2f",
	         env->cpu_limit > 0 ? env->cpu_limit : 0.0);
	snprintf(mem, sizeof(mem), "%d",
	         env->memory_limit > 0 ? env->memory_limit : 0);
	return l && cJSON_AddStringToObject(l, DKR_LABEL_CPUS, cpus) &&
	       cJSON_AddStringToObject(l, DKR_LABEL_MEMORY, mem);
}

static cJSON *create_body(dkr *d, const vbx_container_spec *spec,
                          const char *net, const dkr_ws *ws)
{
	cJSON *cfg = cJSON_CreateObject();
	bool ok = cfg &&
	          cJSON_AddStringToObject(cfg, "Image", spec->env->image) &&
	          add_command(d, cfg, spec->env->image) &&
	          add_strings(cfg, "Env", spec->variables, spec->n_variables) &&
	          dkr_add_labels(d, cfg, spec->env) &&
	          add_limit_labels(cfg, spec->env) &&
	          add_hostname(cfg, spec->env->slug) &&
	          cJSON_AddFalseToObject(cfg, "Tty") &&
	          cJSON_AddFalseToObject(cfg, "OpenStdin") &&
	          cJSON_AddFalseToObject(cfg, "AttachStdin") &&
	          (!d->conf.user[0] ||
	           cJSON_AddStringToObject(cfg, "User", d->conf.user)) &&
	          host_config(d, spec, cfg, net, ws);
	if (!ok) {
		cJSON_Delete(cfg);
		return NULL;
	}
	return cfg;
}

/* The Linux bridge named for block_host's rules (firewall.c); an id
 * that makes no such name keeps Docker's br-<id> (and no rule matches). */
static bool add_bridge_name(cJSON *b, const vbx_env *env)
{
	char br[DKR_BRIDGE_NAME_LEN];
	if (dkr_bridge_name(env->id, br) != VBX_OK)
		return true;
	cJSON *o = cJSON_AddObjectToObject(b, "Options");
	return o &&
	       cJSON_AddStringToObject(o, "com.docker.network.bridge.name", br);
}

/* The environment's network; *created tells whether this call made it. */
static int network_ensure(dkr *d, const vbx_env *env, const char *net,
                          bool *created, char *why, size_t why_len)
{
	cJSON *b = cJSON_CreateObject();
	*created = false;
	if (!b || !cJSON_AddStringToObject(b, "Name", net) ||
	    !cJSON_AddTrueToObject(b, "CheckDuplicate") ||
	    !cJSON_AddStringToObject(b, "Driver", "bridge") ||
	    !add_bridge_name(b, env) || !dkr_add_labels(d, b, env)) {
		cJSON_Delete(b);
		return VBX_ENOMEM;
	}
	dkr_resp r;
	int rc = dkr_request(d, "POST", "/networks/create", b,
	                     d->conf.request_ms, &r);
	cJSON_Delete(b);
	if (rc == VBX_OK && r.status == 409)
		rc = VBX_OK; /* it exists: ours from an earlier create */
	else if (rc == VBX_OK)
		rc = dkr_status_rc(&r, "creating the network", why, why_len);
	else
		dkr_status_rc(&r, "creating the network", why, why_len);
	*created = rc == VBX_OK && r.status == 201;
	dkr_resp_free(&r);
	return rc;
}

static void network_remove(dkr *d, const char *net)
{
	char path[64 + NAME_MAX_LEN], why[256] = "";
	snprintf(path, sizeof(path), "/networks/%s", net);
	int rc = dkr_simple(d, "DELETE", path, d->conf.request_ms, 404,
	                    "removing the network", why, sizeof(why));
	if (rc != VBX_OK && d->plugin)
		vbx_log_warn(d->plugin, "network %s left behind: %s", net, why);
}

/* POST /containers/create; VBX_ESTATE on a name conflict. */
static int create_once(dkr *d, const cJSON *body, const char *name, char *id,
                       char *why, size_t why_len)
{
	char path[64 + NAME_MAX_LEN];
	dkr_resp r;
	snprintf(path, sizeof(path), "/containers/create?name=%s", name);
	int rc = dkr_request(d, "POST", path, body, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "creating the container", why, why_len);
	if (rc == VBX_OK)
		rc = st;
	if (rc == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		const char *cid = cJSON_GetStringValue(get(j, "Id"));
		if (cid && strlen(cid) < VBX_CONTAINER_ID_LEN)
			snprintf(id, VBX_CONTAINER_ID_LEN, "%s", cid);
		else
			rc = VBX_ERR;
		if (rc != VBX_OK)
			snprintf(why, why_len,
			         "creating the container: the engine's answer "
			         "has no container id");
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
	return rc;
}

static int create_container(dkr *d, const vbx_container_spec *spec,
                            const char *name, const dkr_ws *ws, char *id,
                            char *why, size_t why_len)
{
	cJSON *body = create_body(d, spec, name, ws);
	if (!body)
		return VBX_ENOMEM;
	int rc = create_once(d, body, name, id, why, why_len);
	if (rc == VBX_ESTATE) {
		/* A container of that name is left from an earlier run of
		 * this environment: replace it, once. */
		char path[64 + NAME_MAX_LEN];
		snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
		         name);
		rc = dkr_simple(d, "DELETE", path, d->conf.request_ms, 404,
		                "removing the old container", why, why_len);
		if (rc == VBX_OK)
			rc = create_once(d, body, name, id, why, why_len);
	}
	cJSON_Delete(body);
	return rc;
}

static int check_spec(const vbx_container_spec *spec, char *why, size_t why_len)
{
	if (!dkr_id_valid(spec->env->id)) {
		snprintf(why, why_len, "environment id \"%.40s\" is not valid",
		         spec->env->id);
		return VBX_EINVAL;
	}
	int rc = check_variables(spec, why, why_len);
	return rc ? rc : check_ports(spec, why, why_len);
}

int dkr_create(void *ud, const vbx_container_spec *spec, char *id, char *why,
               size_t why_len)
{
	dkr *d = ud;
	char name[NAME_MAX_LEN], scratch[8];
	bool net_created;
	dkr_ws ws;
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	why[0] = id[0] = '\0';
	int rc = check_spec(spec, why, why_len);
	rc = rc ? rc : dkr_image_ensure(d, spec->env->image, why, why_len);
	if (rc != VBX_OK)
		return rc;
	snprintf(name, sizeof(name), DKR_NAME_PREFIX "%s", spec->env->id);
	rc = network_ensure(d, spec->env, name, &net_created, why, why_len);
	if (rc != VBX_OK)
		return rc;
	rc = dkr_ws_prepare(d, spec->env, &ws, why, why_len);
	rc = rc ? rc : create_container(d, spec, name, &ws, id, why, why_len);
	if (rc == VBX_OK && (rc = dkr_ws_finish(d, &ws, id, why, why_len))) {
		dkr_remove(d, id); /* unusable: the user could not write */
		id[0] = '\0';
	}
	if (rc != VBX_OK && net_created)
		network_remove(d, name);
	if (rc == VBX_OK && d->plugin)
		vbx_log_info(d->plugin,
		             "created container %.12s (%s) of %s, workspace "
		             "%s at %s",
		             id, name, spec->env->image, ws.volume, ws.path);
	return rc;
}

/* ---- start, stop, restart, remove ---- */

static int bad_id(const char *id, char *why, size_t why_len)
{
	if (why && why_len)
		snprintf(why, why_len, "no container \"%.80s\"", id);
	return VBX_ENOTFOUND;
}

int dkr_start(void *ud, const char *id, char *why, size_t why_len)
{
	dkr *d = ud;
	char path[200];
	if (!dkr_id_valid(id))
		return bad_id(id, why, why_len);
	snprintf(path, sizeof(path), "/containers/%s/start", id);
	/* 304: started already. */
	return dkr_simple(d, "POST", path, d->conf.request_ms, 304,
	                  "starting the container", why, why_len);
}

int dkr_stop(void *ud, const char *id, int timeout_s)
{
	dkr *d = ud;
	char path[200], why[256] = "";
	if (!dkr_id_valid(id))
		return VBX_ENOTFOUND;
	if (timeout_s < 0)
		timeout_s = 0;
	snprintf(path, sizeof(path), "/containers/%s/stop?t=%d", id, timeout_s);
	int rc = dkr_simple(d, "POST", path,
	                    d->conf.request_ms + (int64_t)timeout_s * 1000, 304,
	                    "stopping the container", why, sizeof(why));
	if (rc != VBX_OK && rc != VBX_ENOTFOUND && d->plugin)
		vbx_log_warn(d->plugin, "container %.12s: %s", id, why);
	return rc;
}

int dkr_restart(void *ud, const char *id, int timeout_s, char *why,
                size_t why_len)
{
	dkr *d = ud;
	char path[200];
	if (!dkr_id_valid(id))
		return bad_id(id, why, why_len);
	if (timeout_s < 0)
		timeout_s = 0;
	snprintf(path, sizeof(path), "/containers/%s/restart?t=%d", id,
	         timeout_s);
	return dkr_simple(d, "POST", path,
	                  d->conf.request_ms + (int64_t)timeout_s * 1000, 0,
	                  "restarting the container", why, why_len);
}

/* GET /containers/{id}/json parsed; the caller deletes *out. */
static int inspect_json(dkr *d, const char *id, cJSON **out)
{
	char path[200];
	dkr_resp r;
	*out = NULL;
	if (!dkr_id_valid(id))
		return VBX_ENOTFOUND;
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	int rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "inspecting the container", NULL, 0);
	if (rc == VBX_OK)
		rc = st;
	if (rc == VBX_OK) {
		*out = cJSON_ParseWithLength(r.body, r.len);
		rc = *out ? VBX_OK : VBX_ERR;
	}
	dkr_resp_free(&r);
	return rc;
}

int dkr_remove(void *ud, const char *id)
{
	dkr *d = ud;
	char path[200], why[256] = "", net[NAME_MAX_LEN] = "";
	cJSON *j;
	int rc = inspect_json(d, id, &j);
	if (rc == VBX_ENOTFOUND)
		return VBX_OK; /* gone already */
	if (rc != VBX_OK)
		return rc;
	const cJSON *labels = get(get(j, "Config"), "Labels");
	const char *env = cJSON_GetStringValue(get(labels, DKR_LABEL_ENV));
	bool ours = dkr_labels_owned(d, labels);
	if (env && dkr_id_valid(env))
		snprintf(net, sizeof(net), DKR_NAME_PREFIX "%s", env);
	cJSON_Delete(j);
	if (!ours) {
		if (d->plugin)
			vbx_log_warn(d->plugin,
			             "container %.12s is not this VibeBox's "
			             "(labels %s and %s=%s): not removed",
			             id, DKR_LABEL_MANAGED, DKR_LABEL_INSTANCE,
			             d->instance);
		return VBX_EDENIED;
	}
	snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", id);
	rc = dkr_simple(d, "DELETE", path, d->conf.request_ms, 404,
	                "removing the container", why, sizeof(why));
	if (rc != VBX_OK) {
		if (d->plugin)
			vbx_log_warn(d->plugin, "container %.12s: %s", id, why);
		return rc;
	}
	if (net[0])
		network_remove(d, net);
	return VBX_OK;
}

/* ---- inspect, ports, stats, list, ping ---- */

int dkr_inspect(void *ud, const char *id, vbx_container_state *out)
{
	cJSON *j;
	int rc = inspect_json(ud, id, &j);
	if (rc == VBX_OK)
		rc = dkr_parse_inspect(j, out) == VBX_OK ? VBX_OK : VBX_ERR;
	cJSON_Delete(j);
	return rc;
}

int dkr_ports(void *ud, const char *id, vbx_env_port_each_fn *each, void *ctx)
{
	cJSON *j;
	int rc = inspect_json(ud, id, &j);
	if (rc == VBX_OK)
		rc = dkr_parse_ports(j, each, ctx);
	cJSON_Delete(j);
	return rc;
}

int dkr_stats(void *ud, const char *id, vbx_container_stats *out)
{
	dkr *d = ud;
	vbx_container_state st;
	char path[200];
	dkr_resp r;
	memset(out, 0, sizeof(*out));
	int rc = dkr_inspect(d, id, &st);
	if (rc != VBX_OK)
		return rc;
	if (!st.running)
		return VBX_ESTATE;
	/* stream=false waits for a second sample to compute CPU use. */
	snprintf(path, sizeof(path), "/containers/%s/stats?stream=false", id);
	rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int status = dkr_status_rc(&r, "stats", NULL, 0);
	if (rc == VBX_OK)
		rc = status;
	if (rc == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		rc = dkr_parse_stats(j, out) == VBX_OK ? VBX_OK : VBX_ERR;
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
	if (rc == VBX_OK && out->at == 0)
		out->at = dkr_unix_ms();
	return rc;
}

static int list_each(const cJSON *arr, vbx_container_each_fn *each, void *ctx)
{
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return VBX_ERR;
	cJSON_ArrayForEach(it, arr)
	{
		vbx_container_state st;
		if (dkr_parse_list_item(it, &st) != VBX_OK)
			continue;
		int stop = each(ctx, &st);
		if (stop)
			return stop;
	}
	return VBX_OK;
}

int dkr_list(void *ud, vbx_container_each_fn *each, void *ctx)
{
	dkr *d = ud;
	dkr_resp r;
	char filter[512], path[600];
	if (!dkr_owned_filter(d, NULL, filter, sizeof(filter)))
		return VBX_EINVAL;
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s",
	         filter);
	int rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "listing containers", NULL, 0);
	if (rc == VBX_OK)
		rc = st;
	if (rc == VBX_OK) {
		cJSON *j = cJSON_ParseWithLength(r.body, r.len);
		rc = list_each(j, each, ctx);
		cJSON_Delete(j);
	}
	dkr_resp_free(&r);
	return rc;
}

int dkr_ping(void *ud, char *why, size_t why_len)
{
	dkr *d = ud;
	dkr_resp r;
	int rc = dkr_request_raw(d, "GET", "/_ping", NULL, d->conf.request_ms,
	                         &r);
	int st = dkr_status_rc(&r, "ping", why, why_len);
	if (rc == VBX_OK && st != VBX_OK)
		rc = VBX_EUNAVAIL;
	dkr_resp_free(&r);
	return rc;
}
