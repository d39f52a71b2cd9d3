/* SPDX-License-Identifier: Apache-2.0 */
/*
 * firewall.c - block_host: environments must not reach services that
 * listen on the host's own addresses (a 0.0.0.0 listener is reachable
 * through the network's gateway otherwise).
 *
 * Every environment network's Linux bridge is named "vbx-" and 11 hex
 * digits of its environment id (dkr_bridge_name), so one fixed set of
 * rules covers all of them, however many come and go:
 *
 *   -I INPUT -i vbx-+ -j VIBEBOX-HOST
 *   VIBEBOX-HOST: established/related  RETURN  (answers to the host:
 *                                              docker-proxy, exec)
 *                 udp, tcp port 53     RETURN  (a DNS server on the host)
 *                 everything else      REJECT  (refused at once)
 *
 * A container's traffic to the host's own addresses is delivered locally,
 * so it crosses INPUT, not FORWARD (where Docker's DOCKER-USER chain is);
 * its outbound traffic (FORWARD) and the traffic inside its namespace
 * (Docker's embedded DNS at 127.0.0.11) are untouched. Docker never
 * touches INPUT or this chain, so an engine restart keeps them.
 *
 * The rules are made at the plugin's start when the engine is local (a
 * unix:// endpoint), by running iptables with an argument vector (no
 * shell) found at a fixed absolute path. They are checked first and
 * changed only when they differ, so starting again changes nothing; they
 * stay when the daemon stops (the containers keep running), and
 * block_host = false removes them at the next start. A remote engine's
 * host is out of reach: the README lists the same rules for its admin.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "docker.h"

#define FW_CHAIN "VIBEBOX-HOST"
#define FW_IFACES DKR_NAME_PREFIX "+" /* every bridge named vbx-... */
#define FW_OUT_MAX 1024               /* what a command prints, kept */
#define FW_ARGS_MAX 16

extern char **environ;

/* Where iptables is; the first that can be run wins. Never $PATH: the
 * daemon's environment must not choose what runs as root. */
static const char *const iptables_paths[] = {
        "/usr/sbin/iptables",
        "/sbin/iptables",
        "/usr/bin/iptables",
        "/bin/iptables",
};

/* The chain's rules, in order, after "-A VIBEBOX-HOST". */
static const char *const *const chain_rules[] = {
        (const char *const[]){"-m", "conntrack", "--ctstate",
                              "RELATED,ESTABLISHED", "-j", "RETURN", NULL},
        (const char *const[]){"-p", "udp", "-m", "udp", "--dport", "53", "-j",
                              "RETURN", NULL},
        (const char *const[]){"-p", "tcp", "-m", "tcp", "--dport", "53", "-j",
                              "RETURN", NULL},
        (const char *const[]){"-j", "REJECT", "--reject-with",
                              "icmp-port-unreachable", NULL},
};
#define N_RULES (sizeof(chain_rules) / sizeof(*chain_rules))

static const char *const jump[] = {"INPUT", "-i",     FW_IFACES,
                                   "-j",    FW_CHAIN, NULL};

/* ---- pure ---- */

int dkr_bridge_name(const char *env_id, char out[DKR_BRIDGE_NAME_LEN])
{
	size_t n = strlen(DKR_NAME_PREFIX);
	memcpy(out, DKR_NAME_PREFIX, n);
	for (const char *p = env_id; *p && n < DKR_BRIDGE_NAME_LEN - 1; p++) {
		if (*p == '-')
			continue;
		if (!strchr("0123456789abcdef", *p))
			break;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n == DKR_BRIDGE_NAME_LEN - 1 ? VBX_OK : VBX_EINVAL;
}

size_t dkr_fw_expected(char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "-N " FW_CHAIN "\n");
	for (size_t i = 0; i < N_RULES && used < len; i++) {
		used += (size_t)snprintf(out + used, len - used,
		                         "-A " FW_CHAIN);
		for (const char *const *a = chain_rules[i]; *a && used < len;
		     a++)
			used += (size_t)snprintf(out + used, len - used, " %s",
			                         *a);
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "\n");
	}
	return used;
}

/* ---- running iptables ---- */

typedef struct fw {
	dkr *d;
	const char *path; /* iptables */
	char out[FW_OUT_MAX];
	char cmd[256]; /* the last command, for messages */
} fw;

static const char *find_iptables(void)
{
	for (size_t i = 0; i < sizeof(iptables_paths) / sizeof(*iptables_paths);
	     i++)
		if (access(iptables_paths[i], X_OK) == 0)
			return iptables_paths[i];
	return NULL;
}

/* "path -w op a b c" into f->cmd; argv for posix_spawn into argv. */
static void build_argv(fw *f, const char *op, const char *const *args,
                       const char *argv[FW_ARGS_MAX])
{
	size_t n = 0, used;
	argv[n++] = f->path;
	argv[n++] = "-w"; /* wait for the xtables lock, never fail on it */
	argv[n++] = op;
	for (; args && *args && n < FW_ARGS_MAX - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	used = (size_t)snprintf(f->cmd, sizeof(f->cmd), "%s", f->path);
	for (size_t i = 1; argv[i] && used < sizeof(f->cmd); i++)
		used += (size_t)snprintf(f->cmd + used, sizeof(f->cmd) - used,
		                         " %s", argv[i]);
}

/* Read everything the child prints into f->out (the first bytes). */
static void read_all(fw *f, int fd)
{
	size_t have = 0;
	char buf[512];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		size_t add = (size_t)n < sizeof(f->out) - 1 - have
		                     ? (size_t)n
		                     : sizeof(f->out) - 1 - have;
		memcpy(f->out + have, buf, add);
		have += add;
	}
	f->out[have] = '\0';
}

static int spawn(fw *f, const char *const *argv, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* A fresh process's signals: the daemon blocks and ignores some. */
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	                                      POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	int err = posix_spawn(pid, f->path, &fa, &at, (char *const *)argv,
	                      environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return err;
}

/* Run iptables op args; its exit status (0 success), or -1 when it could
 * not run. f->out gets what it printed (one line), or why it failed. */
static int run(fw *f, const char *op, const char *const *args)
{
	const char *argv[FW_ARGS_MAX];
	int fds[2], status;
	pid_t pid;
	build_argv(f, op, args, argv);
	f->out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(f->out, sizeof(f->out), "pipe: %s", strerror(errno));
		return -1;
	}
	int err = spawn(f, argv, fds[1], &pid);
	close(fds[1]);
	if (err) {
		close(fds[0]);
		snprintf(f->out, sizeof(f->out), "cannot run it: %s",
		         strerror(err));
		return -1;
	}
	read_all(f, fds[0]);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The output on one line, for the log. */
static const char *one_line(fw *f)
{
	for (char *p = f->out; (p = strchr(p, '\n'));)
		*p = p[1] ? ' ' : '\0';
	return f->out[0] ? f->out : "no output";
}

static int failed(fw *f, int code)
{
	vbx_log_error(f->d->plugin,
	              "block_host: `%s` failed (exit %d): %s; environments "
	              "can reach services on this host. Run the daemon with "
	              "CAP_NET_ADMIN, or install the rules of "
	              "plugins/docker-runtime/README.md (\"Blocking the "
	              "host\") yourself",
	              f->cmd, code, one_line(f));
	return VBX_ERR;
}

/* ---- install and remove ---- */

static int make_chain(fw *f)
{
	int code = run(f, "-N", (const char *const[]){FW_CHAIN, NULL});
	if (code != 0 && code != 1) /* 1: it exists */
		return failed(f, code);
	code = run(f, "-F", (const char *const[]){FW_CHAIN, NULL});
	for (size_t i = 0; code == 0 && i < N_RULES; i++) {
		const char *args[FW_ARGS_MAX] = {FW_CHAIN};
		for (size_t k = 0; chain_rules[i][k] && k + 2 < FW_ARGS_MAX;
		     k++)
			args[k + 1] = chain_rules[i][k];
		code = run(f, "-A", args);
	}
	return code == 0 ? VBX_OK : failed(f, code);
}

static int install(fw *f)
{
	char want[FW_OUT_MAX];
	dkr_fw_expected(want, sizeof(want));
	int code = run(f, "-S", (const char *const[]){FW_CHAIN, NULL});
	if (code != 0 && code != 1) /* 1: no such chain yet */
		return failed(f, code);
	bool same = code == 0 && strcmp(f->out, want) == 0;
	if (!same && make_chain(f) != VBX_OK)
		return VBX_ERR;
	if (run(f, "-C", jump) != 0) {
		code = run(f, "-I",
		           (const char *const[]){"INPUT", "1", "-i", FW_IFACES,
		                                 "-j", FW_CHAIN, NULL});
		if (code != 0)
			return failed(f, code);
	}
	vbx_log_info(f->d->plugin,
	             "block_host: traffic from environments (bridges %s) to "
	             "this host is refused but for answers and DNS "
	             "(iptables chain %s%s)",
	             FW_IFACES, FW_CHAIN, same ? ", as it was" : "");
	return VBX_OK;
}

/* block_host = false: take away what an earlier start installed. */
static void uninstall(fw *f)
{
	if (run(f, "-S", (const char *const[]){FW_CHAIN, NULL}) != 0)
		return; /* none, or not ours to look at */
	for (int i = 0; i < 16 && run(f, "-D", jump) == 0; i++)
		;
	int code = run(f, "-F", (const char *const[]){FW_CHAIN, NULL});
	code = code ? code
	            : run(f, "-X", (const char *const[]){FW_CHAIN, NULL});
	if (code != 0)
		vbx_log_warn(f->d->plugin,
		             "block_host = false: `%s` failed (exit %d): %s; "
		             "remove the chain %s by hand",
		             f->cmd, code, one_line(f), FW_CHAIN);
	else
		vbx_log_info(f->d->plugin,
		             "block_host = false: removed the iptables chain "
		             "%s; environments can reach this host",
		             FW_CHAIN);
}

int dkr_firewall_apply(dkr *d)
{
	fw f = {.d = d};
	if (!d->unix_path) {
		if (d->conf.block_host)
			vbx_log_info(d->plugin,
			             "block_host: the engine at %s is remote; "
			             "install the rules of "
			             "plugins/docker-runtime/README.md "
			             "(\"Blocking the host\") on its host",
			             d->conf.endpoint);
		return VBX_OK;
	}
	f.path = find_iptables();
	if (!f.path) {
		if (d->conf.block_host)
			vbx_log_error(
			        d->plugin,
			        "block_host: no iptables in /usr/sbin, "
			        "/sbin, /usr/bin or /bin; environments can "
			        "reach services on this host. Install "
			        "iptables (apt-get install iptables)");
		return d->conf.block_host ? VBX_ENOTFOUND : VBX_OK;
	}
	if (!d->conf.block_host) {
		uninstall(&f);
		return VBX_OK;
	}
	return install(&f);
}
