/* SPDX-License-Identifier: Apache-2.0 */
/*
 * embedded.c - run a private PostgreSQL cluster under state_dir/postgres
 * when no conninfo is configured. See embedded.h.
 *
 * Layout of state_dir/postgres (owned by the cluster's user, mode 0700):
 *   data/         the cluster (initdb'd into data.new, then renamed, so
 *                 that a half-made cluster is never taken for a good one)
 *   run/          the Unix socket; the only way in (listen_addresses = '')
 *   startup.log   what the server said before its own logging started
 *   data/log/     the server's logs, one file per weekday, overwritten
 *
 * The tools run as child processes without a shell, as the cluster's user
 * when vibeboxd is root, with the daemon's signal mask and ignored signals
 * reset and no file descriptor of the daemon's inherited.
 *
 * state_dir/postgres/vibeboxd.lock is flock()ed by the daemon that runs
 * the cluster, for as long as it runs it: a second daemon on the same
 * state_dir refuses to start, and a cluster found running while nobody
 * holds the lock is an orphan of a daemon that died (SIGKILL), stopped
 * before the start. A supervisor thread restarts a cluster whose
 * postmaster dies, with backoff.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embedded.h"
#include "pg.h"

#define PGS_EMB_PORT "5432"
#define PGS_EMB_DB "vibebox"
#define PGS_EMB_ROLE "vibebox"
#define PGS_EMB_WAIT_S "60"
/* Stopping: fast first, then immediate, each waited for this long, so
 * that a stuck (SIGSTOPped) cluster cannot hang the daemon's shutdown. */
#define PGS_EMB_STOP_FAST_S "20"
#define PGS_EMB_STOP_NOW_S "10"
/* Restarts of a dead cluster back off from 1 s to this. */
#define PGS_EMB_BACKOFF_MAX_S 30
#define PGS_EMB_MAX_GROUPS 64
#define PGS_TOOL_OUT 2048 /* the tail of a tool's output we keep */

struct pgs_embedded {
	char *user_cfg;   /* embedded_user, or NULL */
	char *bindir_cfg; /* embedded_bindir, or NULL */

	char bindir[PATH_MAX - 64]; /* room for /pg_ctl */
	char dir[PATH_MAX];         /* state_dir/postgres */
	char data[PATH_MAX];        /* .../data */
	char run[PATH_MAX];         /* .../run */

	bool as_other; /* drop to uid/gid in the children */
	char user[64];
	uid_t uid;
	gid_t gid;
	gid_t groups[PGS_EMB_MAX_GROUPS];
	int ngroups;

	int lock_fd; /* vibeboxd.lock, flock()ed while we run the cluster */

	/* The supervisor; lock guards what follows and stopping. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t supervisor;
	bool supervising; /* the thread runs */
	bool stopping;    /* it is asked to end */
	bool down;        /* the postmaster died and is not back yet */
	pid_t postmaster; /* its pid, from postmaster.pid at start */

	bool running; /* started by us and not stopped yet */
};

/* ---- configuration ---- */

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int pgs_embedded_configure(pgs *s, const vbx_config *cfg)
{
	const char *user = NULL, *bindir = NULL;
	struct pgs_embedded *e;

	if (vbx_cfg_string(cfg, "embedded_user", NULL, &user) ||
	    vbx_cfg_string(cfg, "embedded_bindir", NULL, &bindir))
		return VBX_EINVAL;
	if (bindir && *bindir && bindir[0] != '/')
		return vbx_cfg_error(cfg, "embedded_bindir",
		                     "expected an absolute path, got \"%s\"",
		                     bindir);
	e = calloc(1, sizeof(*e));
	if (!e)
		return VBX_ENOMEM;
	e->lock_fd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	e->user_cfg = dup_or_null(user);
	e->bindir_cfg = dup_or_null(bindir);
	if ((user && *user && !e->user_cfg) ||
	    (bindir && *bindir && !e->bindir_cfg)) {
		free(e->user_cfg);
		free(e->bindir_cfg);
		pthread_mutex_destroy(&e->lock);
		pthread_cond_destroy(&e->wake);
		free(e);
		return VBX_ENOMEM;
	}
	s->embedded = e;
	return VBX_OK;
}

/* ---- finding the binaries and the user ---- */

static bool is_executable(const char *dir, const char *tool)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, tool);

	return n > 0 && (size_t)n < sizeof(path) && access(path, X_OK) == 0;
}

/* The version number in /usr/lib/postgresql/<N>/bin, or -1. */
static long dir_version(const char *path)
{
	const char *v = path + strlen("/usr/lib/postgresql/");
	char *end;
	long n = strtol(v, &end, 10);

	return end != v && *end == '/' ? n : -1;
}

/* The highest /usr/lib/postgresql/N/bin with both tools, into dir. */
static bool highest_bindir(const char *tool, const char *tool2, char *dir,
                           size_t len)
{
	glob_t g;
	long best = -1;

	if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		long v = dir_version(g.gl_pathv[i]);

		if (v > best && strlen(g.gl_pathv[i]) < len &&
		    is_executable(g.gl_pathv[i], tool) &&
		    is_executable(g.gl_pathv[i], tool2)) {
			best = v;
			snprintf(dir, len, "%s", g.gl_pathv[i]);
		}
	}
	globfree(&g);
	return best >= 0;
}

static int find_bindir(pgs *s, struct pgs_embedded *e)
{
	if (e->bindir_cfg) {
		if (strlen(e->bindir_cfg) >= sizeof(e->bindir) ||
		    !is_executable(e->bindir_cfg, "pg_ctl") ||
		    !is_executable(e->bindir_cfg, "initdb")) {
			vbx_log_error(s->self,
			              "embedded_bindir %s has no executable "
			              "initdb and pg_ctl; point it at "
			              "PostgreSQL's bin directory",
			              e->bindir_cfg);
			return VBX_ERR;
		}
		snprintf(e->bindir, sizeof(e->bindir), "%s", e->bindir_cfg);
		return VBX_OK;
	}
	if (!highest_bindir("pg_ctl", "initdb", e->bindir, sizeof(e->bindir))) {
		vbx_log_error(
		        s->self,
		        "no PostgreSQL server in /usr/lib/postgresql/*/bin "
		        "for the embedded cluster; install one "
		        "(postgresql), set embedded_bindir, or set "
		        "conninfo to use a server of your own");
		return VBX_ERR;
	}
	return VBX_OK;
}

/* When root, the cluster runs as embedded_user, else "postgres", else
 * "vibebox": PostgreSQL refuses to run as root. */
static int resolve_user(pgs *s, struct pgs_embedded *e)
{
	static const char *const fallbacks[] = {"postgres", "vibebox"};
	struct passwd *pw = NULL;

	if (geteuid() != 0) {
		e->as_other = false;
		return VBX_OK;
	}
	if (e->user_cfg) {
		pw = getpwnam(e->user_cfg);
	} else {
		for (size_t i = 0; !pw && i < 2; i++)
			pw = getpwnam(fallbacks[i]);
	}
	if (!pw || pw->pw_uid == 0) {
		vbx_log_error(
		        s->self,
		        "vibeboxd runs as root and PostgreSQL refuses to: "
		        "%s%s%s; set embedded_user to an existing "
		        "non-root system user",
		        e->user_cfg ? "embedded_user " : "",
		        e->user_cfg ? e->user_cfg
		                    : "neither user postgres nor vibebox "
		                      "exists",
		        e->user_cfg ? (pw ? " is root" : " does not exist")
		                    : "");
		return VBX_ERR;
	}
	e->as_other = true;
	snprintf(e->user, sizeof(e->user), "%s", pw->pw_name);
	e->uid = pw->pw_uid;
	e->gid = pw->pw_gid;
	e->ngroups = PGS_EMB_MAX_GROUPS;
	if (getgrouplist(pw->pw_name, pw->pw_gid, e->groups, &e->ngroups) < 0)
		e->ngroups = 1, e->groups[0] = pw->pw_gid;
	return VBX_OK;
}

/* ---- running a tool ---- */

/* In the child: the signal state of a fresh process. The daemon blocks
 * and ignores signals the server needs (SIGINT stops it, SIGPIPE). */
static void child_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_close_fds(void)
{
	if (close_range(3, ~0u, 0) == 0)
		return;
	for (int fd = 3; fd < 65536; fd++)
		close(fd);
}

static _Noreturn void child_fail(const char *what, const char *arg)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s %s: %s\n", what, arg,
	                 strerror(errno));

	if (n > 0)
		(void)!write(2, msg,
		             (size_t)n < sizeof(msg) ? (size_t)n
		                                     : sizeof(msg) - 1);
	_exit(127);
}

/* Put the tool's stdin, stdout and stderr in place. The caller's fds are
 * first moved above 2, so that none is overwritten before it is used. */
static bool child_fds(const pgs_tool *t, int err)
{
	int null = open("/dev/null", O_RDWR);
	int in = t->in_fd >= 0 ? fcntl(t->in_fd, F_DUPFD, 3) : null;
	int out = t->out_fd >= 0 ? fcntl(t->out_fd, F_DUPFD, 3) : err;

	err = fcntl(err, F_DUPFD, 3);
	return null >= 0 && in >= 0 && out >= 0 && err >= 0 &&
	       dup2(in, 0) >= 0 && dup2(out, 1) >= 0 && dup2(err, 2) >= 0;
}

/* Only async-signal-safe calls between fork and exec. */
static _Noreturn void child_exec(const pgs_tool *t, int err)
{
	if (!child_fds(t, err))
		_exit(127);
	child_close_fds();
	child_reset_signals();
	setsid();
	if (t->as_other) {
		if (setgroups((size_t)t->ngroups, t->groups) < 0 ||
		    setgid(t->gid) < 0 || setuid(t->uid) < 0)
			child_fail("cannot become user", t->user);
	}
	if (t->cwd && chdir(t->cwd) < 0)
		child_fail("cannot enter", t->cwd);
	if (t->envp)
		execve(t->argv[0], t->argv, t->envp);
	else
		execv(t->argv[0], t->argv);
	child_fail("cannot run", t->argv[0]);
}

/* Append what fd gives to out, keeping the last out_len - 1 bytes. */
static void read_tail(int fd, char *out, size_t out_len)
{
	size_t have = 0, room = out_len - 1;
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		size_t add = (size_t)n;

		if (add >= room) {
			memcpy(out, buf + add - room, room);
			have = room;
			continue;
		}
		if (have + add > room) {
			memmove(out, out + (have + add - room), room - add);
			have = room - add;
		}
		memcpy(out + have, buf, add);
		have += add;
	}
	out[have] = '\0';
	/* One line in the daemon's log: newlines become '|'. */
	for (char *p = out; (p = strchr(p, '\n'));)
		*p = p[1] ? '|' : '\0';
}

int pgs_tool_run(const pgs_tool *t, char *out, size_t out_len)
{
	int fds[2], status;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(out, out_len, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0)
		child_exec(t, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		snprintf(out, out_len, "fork: %s", strerror(errno));
		close(fds[0]);
		return -1;
	}
	read_tail(fds[0], out, out_len);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(status) && !out[0])
		snprintf(out, out_len, "killed by signal %d", WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run a cluster tool as the cluster's user, in state_dir/postgres. */
static int run_tool(const struct pgs_embedded *e, char *const argv[], char *out,
                    size_t out_len)
{
	pgs_tool t = {.argv = argv,
	              .in_fd = -1,
	              .out_fd = -1,
	              .cwd = e->dir,
	              .as_other = e->as_other,
	              .user = e->user,
	              .uid = e->uid,
	              .gid = e->gid,
	              .groups = e->groups,
	              .ngroups = e->ngroups};

	return pgs_tool_run(&t, out, out_len);
}

static void tool_path(const struct pgs_embedded *e, const char *tool,
                      char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/%s", e->bindir, tool);
}

/* An executable named tool in a directory of $PATH, into path. */
static bool search_path(const char *tool, char *path, size_t len)
{
	const char *dirs = getenv("PATH");

	for (const char *d = dirs ? dirs : "/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");
		int w = snprintf(path, len, "%.*s/%s", (int)n, d, tool);

		if (n && w > 0 && (size_t)w < len && access(path, X_OK) == 0)
			return true;
		d += n + (d[n] == ':');
	}
	return false;
}

int pgs_tool_path(pgs *s, const char *tool, char *path, size_t len)
{
	const struct pgs_embedded *e = s->embedded;
	char dir[PATH_MAX];
	const char *from = NULL;

	if (e && e->bindir[0])
		from = e->bindir; /* the running cluster's own */
	else if (e && e->bindir_cfg)
		from = e->bindir_cfg;
	else if (highest_bindir(tool, tool, dir, sizeof(dir)))
		from = dir;
	if (from) {
		int w = snprintf(path, len, "%s/%s", from, tool);
		return w > 0 && (size_t)w < len && access(path, X_OK) == 0
		               ? VBX_OK
		               : VBX_ENOTFOUND;
	}
	return search_path(tool, path, len) ? VBX_OK : VBX_ENOTFOUND;
}

/* ---- the directories ---- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
	return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

static uid_t owner_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
}

/* Give the tree to the cluster's user: the first time, and after
 * embedded_user changed. nftw's callback has no user data, hence the
 * statics; this runs in start only, on one thread. */
static int chown_tree(pgs *s, const struct pgs_embedded *e)
{
	uid_t data_owner = owner_of(e->data);

	if (!e->as_other || (owner_of(e->dir) == e->uid &&
	                     (data_owner == e->uid || data_owner == (uid_t)-1)))
		return VBX_OK;
	vbx_log_info(s->self, "embedded postgres: giving %s to user %s", e->dir,
	             e->user);
	chown_uid = e->uid;
	chown_gid = e->gid;
	if (nftw(e->dir, chown_one, 16, FTW_PHYS) != 0) {
		vbx_log_error(s->self, "embedded postgres: chown %s to %s: %s",
		              e->dir, e->user, strerror(errno));
		return VBX_ERR;
	}
	return VBX_OK;
}

static int make_dir(pgs *s, const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		vbx_log_error(s->self, "embedded postgres: mkdir %s: %s", path,
		              strerror(errno));
		return VBX_ERR;
	}
	return VBX_OK;
}

static int set_paths(pgs *s, struct pgs_embedded *e)
{
	const char *state = vbx_state_dir(s->self);
	/* sockaddr_un.sun_path holds 108 bytes with its NUL */
	const size_t sock_max = 107 - strlen("/.s.PGSQL." PGS_EMB_PORT);

	if (!state || !*state) {
		vbx_log_error(s->self, "embedded postgres needs state_dir");
		return VBX_ERR;
	}
	if ((size_t)snprintf(e->dir, sizeof(e->dir), "%s/postgres", state) >=
	            sizeof(e->dir) ||
	    (size_t)snprintf(e->data, sizeof(e->data), "%s/data", e->dir) >=
	            sizeof(e->data) ||
	    (size_t)snprintf(e->run, sizeof(e->run), "%s/run", e->dir) >=
	            sizeof(e->run) ||
	    strlen(e->run) > sock_max) {
		vbx_log_error(s->self,
		              "state_dir %s is too long for the embedded "
		              "cluster's Unix socket (at most %zu characters "
		              "for %s/postgres/run); use a shorter state_dir",
		              state, sock_max - strlen("/postgres/run"), state);
		return VBX_ERR;
	}
	/* pg_ctl hands the data path to /bin/sh in double quotes. */
	if (strpbrk(e->dir, "\"$`\\")) {
		vbx_log_error(s->self,
		              "state_dir %s holds a character the embedded "
		              "cluster cannot use (\" $ ` \\); rename it",
		              state);
		return VBX_ERR;
	}
	return VBX_OK;
}

static int prepare_dirs(pgs *s, struct pgs_embedded *e)
{
	const char *state = vbx_state_dir(s->self);

	if (make_dir(s, state, 0755) || make_dir(s, e->dir, 0700) ||
	    make_dir(s, e->run, 0700))
		return VBX_ERR;
	return chown_tree(s, e);
}

/* The first directory on the way to path that uid/gid may not search,
 * into out; "" when none is found (then something else is wrong). */
static void blocking_dir(const struct pgs_embedded *e, const char *path,
                         char *out, size_t len)
{
	char dir[PATH_MAX];
	struct stat st;

	out[0] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *slash = dir; (slash = strchr(slash + 1, '/'));) {
		*slash = '\0';
		if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH) &&
		    !(st.st_uid == e->uid && (st.st_mode & S_IXUSR)) &&
		    !(st.st_gid == e->gid && (st.st_mode & S_IXGRP))) {
			snprintf(out, len, "%s", dir);
			return;
		}
		*slash = '/';
	}
}

/* The cluster's user must reach state_dir/postgres: a root-only state_dir
 * (mode 0700) does not let it in. Checked as that user, in a child. */
static int check_access(pgs *s, const struct pgs_embedded *e)
{
	char out[PGS_TOOL_OUT], pg_ctl[PATH_MAX], blocker[PATH_MAX];
	char *argv[] = {pg_ctl, (char *)"--version", NULL};

	tool_path(e, "pg_ctl", pg_ctl);
	if (run_tool(e, argv, out, sizeof(out)) == 0) {
		vbx_log_info(s->self, "embedded postgres: %s in %s, as user %s",
		             out, e->bindir,
		             e->as_other ? e->user : "of vibeboxd");
		return VBX_OK;
	}
	blocking_dir(e, e->dir, blocker, sizeof(blocker));
	if (e->as_other && blocker[0])
		vbx_log_error(
		        s->self,
		        "embedded postgres: user %s cannot reach %s (%s); "
		        "let it search %s (chmod o+x %s), or choose "
		        "another state_dir",
		        e->user, e->dir, out, blocker, blocker);
	else
		vbx_log_error(s->self,
		              "embedded postgres: %s --version failed "
		              "as user %s: %s",
		              pg_ctl, e->as_other ? e->user : "of vibeboxd",
		              out);
	return VBX_ERR;
}

/* ---- creating the cluster ---- */

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int init_cluster(pgs *s, struct pgs_embedded *e)
{
	char version[PATH_MAX + 16], fresh[PATH_MAX + 16], initdb[PATH_MAX];
	char out[PGS_TOOL_OUT];
	char *argv[] = {initdb,
	                "-D",
	                fresh,
	                "-U",
	                PGS_EMB_ROLE,
	                "-E",
	                "UTF8",
	                "--no-locale",
	                "--auth-local=trust",
	                "--auth-host=reject",
	                NULL};

	snprintf(version, sizeof(version), "%s/PG_VERSION", e->data);
	if (access(version, F_OK) == 0)
		return VBX_OK;
	if (access(e->data, F_OK) == 0) {
		vbx_log_error(s->self,
		              "embedded postgres: %s exists but holds no "
		              "PG_VERSION, so it is no cluster; move it away "
		              "and vibeboxd makes a new one",
		              e->data);
		return VBX_ERR;
	}
	/* A cluster that initdb left half made (a crash) is thrown away. */
	snprintf(fresh, sizeof(fresh), "%s/data.new", e->dir);
	if (access(fresh, F_OK) == 0 &&
	    nftw(fresh, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		vbx_log_warn(s->self, "embedded postgres: cannot remove %s: %s",
		             fresh, strerror(errno));
	tool_path(e, "initdb", initdb);
	vbx_log_info(s->self, "embedded postgres: creating a cluster in %s",
	             e->data);
	if (run_tool(e, argv, out, sizeof(out)) != 0) {
		vbx_log_error(s->self,
		              "embedded postgres: initdb -D %s failed: "
		              "%s",
		              fresh, out);
		return VBX_ERR;
	}
	if (rename(fresh, e->data) < 0) {
		vbx_log_error(s->self, "embedded postgres: rename %s to %s: %s",
		              fresh, e->data, strerror(errno));
		return VBX_ERR;
	}
	return VBX_OK;
}

/* The settings that make the cluster private, rewritten at every start
 * (state_dir may have moved) and included last by postgresql.conf. */
static int write_settings_file(const struct pgs_embedded *e, FILE *f)
{
	fprintf(f, "# Written by vibeboxd at every start; settings here win "
	           "over postgresql.conf.\n"
	           "listen_addresses = ''\n"
	           "port = " PGS_EMB_PORT "\n"
	           "unix_socket_directories = '");
	for (const char *p = e->run; *p; p++)
		fprintf(f, *p == '\'' ? "''" : "%c", *p);
	fprintf(f, "'\n"
	           "unix_socket_permissions = 0700\n"
	           "logging_collector = on\n"
	           "log_directory = 'log'\n"
	           "log_filename = 'postgresql-%%a.log'\n"
	           "log_truncate_on_rotation = on\n"
	           "log_rotation_age = '1d'\n"
	           "log_rotation_size = 0\n");
	return ferror(f) ? VBX_ERR : VBX_OK;
}

static const char include_line[] = "include_if_exists = 'vibebox.conf'\n";

/* Append the include line to postgresql.conf unless it is there. */
static int include_settings(pgs *s, const struct pgs_embedded *e)
{
	char path[PATH_MAX + 32], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/postgresql.conf", e->data);
	f = fopen(path, "a+e");
	if (!f) {
		vbx_log_error(s->self, "embedded postgres: %s: %s", path,
		              strerror(errno));
		return VBX_ERR;
	}
	while (!found && fgets(line, sizeof(line), f))
		found = strcmp(line, include_line) == 0;
	if (!found)
		fputs(include_line, f);
	if (fclose(f) != 0) {
		vbx_log_error(s->self, "embedded postgres: writing %s: %s",
		              path, strerror(errno));
		return VBX_ERR;
	}
	return VBX_OK;
}

static int write_settings(pgs *s, const struct pgs_embedded *e)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	int fd, rc;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vibebox.conf", e->data);
	snprintf(tmp, sizeof(tmp), "%s/vibebox.conf.tmp", e->data);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && e->as_other && fchown(fd, e->uid, e->gid) < 0) {
		close(fd);
		fd = -1;
	}
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		vbx_log_error(s->self, "embedded postgres: %s: %s", tmp,
		              strerror(errno));
		if (fd >= 0)
			close(fd);
		return VBX_ERR;
	}
	rc = write_settings_file(e, f);
	if (fclose(f) != 0 || rc != VBX_OK || rename(tmp, path) < 0) {
		vbx_log_error(s->self, "embedded postgres: writing %s: %s",
		              path, strerror(errno));
		return VBX_ERR;
	}
	return include_settings(s, e);
}

/* ---- starting, the database, stopping ---- */

/* Log the end of startup.log: why the server would not start. */
static void log_startup_tail(pgs *s, const struct pgs_embedded *e)
{
	char path[PATH_MAX + 16], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/startup.log", e->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end > (off_t)sizeof(buf) - 1)
		lseek(fd, end - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; (p = strchr(p, '\n'));)
		*p = p[1] ? '|' : '\0';
	vbx_log_error(s->self, "embedded postgres: %s says: %s", path, buf);
}

static int start_cluster(pgs *s, struct pgs_embedded *e)
{
	char pg_ctl[PATH_MAX], log[PATH_MAX + 16], out[PGS_TOOL_OUT];
	char *argv[] = {pg_ctl, "start", "-D",           e->data, "-l", log,
	                "-w",   "-t",    PGS_EMB_WAIT_S, "-s",    NULL};

	tool_path(e, "pg_ctl", pg_ctl);
	snprintf(log, sizeof(log), "%s/startup.log", e->dir);
	vbx_log_info(s->self, "embedded postgres: starting the cluster in %s",
	             e->data);
	if (run_tool(e, argv, out, sizeof(out)) != 0) {
		vbx_log_error(
		        s->self,
		        "embedded postgres: pg_ctl start -D %s failed: %s",
		        e->data, out);
		log_startup_tail(s, e);
		return VBX_ERR;
	}
	e->running = true;
	return VBX_OK;
}

static PGconn *connect_to(const struct pgs_embedded *e, const char *db)
{
	const char *const keys[] = {
	        "host", "port", "dbname", "user", "connect_timeout", NULL};
	const char *const values[] = {e->run,       PGS_EMB_PORT, db,
	                              PGS_EMB_ROLE, "10",         NULL};

	return PQconnectdbParams(keys, values, 0);
}

static int ensure_database(pgs *s, const struct pgs_embedded *e)
{
	const char *const params[] = {PGS_EMB_DB};
	PGconn *pg = connect_to(e, "postgres");
	PGresult *r = NULL;
	int rc = VBX_ERR;

	if (PQstatus(pg) != CONNECTION_OK)
		goto out;
	r = PQexecParams(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1,
	                 NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto out;
	if (PQntuples(r) == 0) {
		PQclear(r);
		vbx_log_info(
		        s->self,
		        "embedded postgres: creating database " PGS_EMB_DB);
		r = PQexec(pg, "CREATE DATABASE " PGS_EMB_DB);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			goto out;
	}
	rc = VBX_OK;
out:
	if (rc != VBX_OK)
		vbx_log_error(s->self,
		              "embedded postgres: creating database " PGS_EMB_DB
		              " in %s: %s",
		              e->data, PQerrorMessage(pg));
	PQclear(r);
	PQfinish(pg);
	return rc;
}

/* host=... port=... dbname=vibebox user=vibebox, the socket directory
 * quoted when it holds a space, a quote or a backslash. */
static int write_conninfo(const struct pgs_embedded *e, char *out, size_t len)
{
	bool quote = strpbrk(e->run, " '\\") != NULL;
	char host[2 * PATH_MAX + 3];
	size_t n = 0;
	int w;

	if (quote)
		host[n++] = '\'';
	for (const char *p = e->run; *p; p++) {
		if (quote && (*p == '\'' || *p == '\\'))
			host[n++] = '\\';
		host[n++] = *p;
	}
	if (quote)
		host[n++] = '\'';
	host[n] = '\0';
	w = snprintf(out, len,
	             "host=%s port=" PGS_EMB_PORT " dbname=" PGS_EMB_DB
	             " user=" PGS_EMB_ROLE,
	             host);
	return w > 0 && (size_t)w < len ? VBX_OK : VBX_ERR;
}

/* ---- owning state_dir/postgres ---- */

/* Take vibeboxd.lock, or say which daemon holds it. The lock lives as
 * long as the file descriptor: a daemon that dies leaves it free. */
static int lock_dir(pgs *s, struct pgs_embedded *e)
{
	char path[PATH_MAX + 16], text[32] = "";
	int fd, n;

	snprintf(path, sizeof(path), "%s/vibeboxd.lock", e->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n)
			vbx_log_warn(s->self,
			             "embedded postgres: writing %s: %s", path,
			             strerror(errno));
		e->lock_fd = fd;
		return VBX_OK;
	}
	if (fd >= 0 && errno == EWOULDBLOCK) {
		ssize_t got = pread(fd, text, sizeof(text) - 1, 0);
		text[got > 0 ? strcspn(text, "\n") : 0] = '\0';
		vbx_log_error(s->self,
		              "state_dir %s is in use by another vibeboxd "
		              "(pid %s, holding %s) that runs its embedded "
		              "cluster; stop that daemon first, or give this "
		              "one another state_dir",
		              vbx_state_dir(s->self), text[0] ? text : "?",
		              path);
	} else {
		vbx_log_error(s->self, "embedded postgres: cannot lock %s: %s",
		              path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return VBX_ERR;
}

static void unlock_dir(struct pgs_embedded *e)
{
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	e->lock_fd = -1;
}

/* The pid in the first line of data/postmaster.pid, or 0. */
static pid_t read_postmaster(const struct pgs_embedded *e)
{
	char path[PATH_MAX + 32], line[32];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/postmaster.pid", e->data);
	f = fopen(path, "re");
	if (f) {
		if (fgets(line, sizeof(line), f))
			pid = strtol(line, NULL, 10);
		fclose(f);
	}
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/* /proc/PID/WHAT into buf, NUL-terminated; its length, or -1. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Is pid a live process (stopped counts, a zombie does not) whose
 * arguments name this data directory: a postmaster of our cluster, not
 * a process that reused a stale pid? */
static bool is_our_postmaster(const struct pgs_embedded *e, pid_t pid)
{
	char buf[PATH_MAX + 256];

	if (pid <= 0 || read_proc(pid, "stat", buf, sizeof(buf)) <= 0)
		return false;
	const char *state = strrchr(buf, ')');
	if (!state || state[1] != ' ' || state[2] == 'Z' || state[2] == 'X')
		return false;
	/* cmdline: the arguments, each ending in a NUL */
	ssize_t n = read_proc(pid, "cmdline", buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (strcmp(buf + i, e->data) == 0)
			return true;
	return false;
}

static int pg_ctl_stop(const struct pgs_embedded *e, const char *mode,
                       const char *secs, char *out, size_t len)
{
	char pg_ctl[PATH_MAX];
	char *argv[] = {pg_ctl,       "stop",       "-D", (char *)e->data,
	                "-m",         (char *)mode, "-w", "-t",
	                (char *)secs, "-s",         NULL};

	tool_path(e, "pg_ctl", pg_ctl);
	return run_tool(e, argv, out, len);
}

/* pg_ctl stop -m fast, then -m immediate: bounded, for a cluster that
 * does not answer (SIGSTOP) must not hang the daemon's shutdown. */
static int stop_cluster(pgs *s, const struct pgs_embedded *e)
{
	char out[PGS_TOOL_OUT];

	if (pg_ctl_stop(e, "fast", PGS_EMB_STOP_FAST_S, out, sizeof(out)) == 0)
		return VBX_OK;
	vbx_log_warn(s->self,
	             "embedded postgres: pg_ctl stop -m fast -D %s failed: "
	             "%s; trying -m immediate",
	             e->data, out);
	if (pg_ctl_stop(e, "immediate", PGS_EMB_STOP_NOW_S, out, sizeof(out)) ==
	    0)
		return VBX_OK;
	vbx_log_error(s->self,
	              "embedded postgres: pg_ctl stop -m immediate -D %s "
	              "failed: %s; the cluster may still run (stopped with "
	              "SIGSTOP?): the next start stops it as an orphan",
	              e->data, out);
	return VBX_ERR;
}

/* A cluster of this data directory running while we hold the lock was
 * left by a daemon that died: stop it, so that ours can start. */
static int stop_orphan(pgs *s, struct pgs_embedded *e)
{
	pid_t pid = read_postmaster(e);

	if (!is_our_postmaster(e, pid))
		return VBX_OK;
	vbx_log_warn(s->self,
	             "embedded postgres: the cluster in %s runs (postmaster "
	             "pid %ld) and no vibeboxd owns it: an orphan of a "
	             "daemon that died; stopping it",
	             e->data, (long)pid);
	if (stop_cluster(s, e) == VBX_OK)
		return VBX_OK;
	vbx_log_error(s->self,
	              "embedded postgres: cannot stop the orphaned cluster "
	              "(pid %ld); stop it by hand (pg_ctl stop -D %s) and "
	              "start vibeboxd again",
	              (long)pid, e->data);
	return VBX_ERR;
}

/* ---- supervising the cluster ---- */

/* Start the cluster again after its postmaster died. Not under lock. */
static bool restart(pgs *s, struct pgs_embedded *e, pid_t old, int attempt)
{
	vbx_log_warn(s->self,
	             "embedded postgres: the postmaster (pid %ld) is gone; "
	             "restarting the cluster in %s (attempt %d)",
	             (long)old, e->data, attempt);
	if (start_cluster(s, e) != VBX_OK)
		return false;
	vbx_log_info(s->self,
	             "embedded postgres: restarted the cluster (postmaster "
	             "pid %ld)",
	             (long)read_postmaster(e));
	return true;
}

/* Sleep secs on e->wake unless asked to stop. Under e->lock. */
static void nap(struct pgs_embedded *e, int secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	while (!e->stopping &&
	       pthread_cond_timedwait(&e->wake, &e->lock, &ts) != ETIMEDOUT)
		;
}

/* Every second: is the postmaster alive? If not, restart the cluster,
 * backing off from 1 s to PGS_EMB_BACKOFF_MAX_S between failures. */
static void *supervise(void *arg)
{
	pgs *s = arg;
	struct pgs_embedded *e = s->embedded;
	int backoff = 1, attempt = 0;

	pthread_mutex_lock(&e->lock);
	for (nap(e, 1); !e->stopping; nap(e, e->down ? backoff : 1)) {
		pid_t pm = e->postmaster;
		pthread_mutex_unlock(&e->lock);
		bool alive = is_our_postmaster(e, pm);
		bool back = !alive && restart(s, e, pm, ++attempt);
		pthread_mutex_lock(&e->lock);
		if (alive || back) {
			e->postmaster = back ? read_postmaster(e) : pm;
			e->down = false;
			backoff = 1;
			attempt = 0;
			continue;
		}
		if (attempt > 1)
			backoff = backoff * 2 > PGS_EMB_BACKOFF_MAX_S
			                  ? PGS_EMB_BACKOFF_MAX_S
			                  : backoff * 2;
		e->down = true;
		vbx_log_error(s->self,
		              "embedded postgres: the cluster did not start "
		              "again; next attempt in %d s",
		              backoff);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static void start_supervisor(pgs *s, struct pgs_embedded *e)
{
	e->postmaster = read_postmaster(e);
	e->stopping = e->down = false;
	if (pthread_create(&e->supervisor, NULL, supervise, s) == 0)
		e->supervising = true;
	else
		vbx_log_warn(s->self,
		             "embedded postgres: cannot start the supervisor "
		             "thread: a cluster that dies is not restarted");
}

static void stop_supervisor(struct pgs_embedded *e)
{
	if (!e->supervising)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->supervisor, NULL);
	e->supervising = false;
}

bool pgs_embedded_down(pgs *s)
{
	struct pgs_embedded *e = s->embedded;
	bool down = false;

	if (e && e->supervising) {
		pthread_mutex_lock(&e->lock);
		down = e->down;
		pthread_mutex_unlock(&e->lock);
	}
	return down;
}

/* ---- starting and stopping ---- */

int pgs_embedded_start(pgs *s, char *conninfo, size_t len)
{
	struct pgs_embedded *e = s->embedded;

	if (!e) {
		vbx_log_error(s->self,
		              "embedded postgres: not configured "
		              "(pgs_embedded_configure was not called)");
		return VBX_EINVAL;
	}
	if (e->running)
		return write_conninfo(e, conninfo, len);
	if (set_paths(s, e) || find_bindir(s, e) || resolve_user(s, e) ||
	    prepare_dirs(s, e) || lock_dir(s, e) || check_access(s, e) ||
	    init_cluster(s, e) || write_settings(s, e) || stop_orphan(s, e) ||
	    start_cluster(s, e)) {
		unlock_dir(e);
		return VBX_ERR;
	}
	if (ensure_database(s, e) || write_conninfo(e, conninfo, len)) {
		pgs_embedded_stop(s);
		return VBX_ERR;
	}
	start_supervisor(s, e);
	vbx_log_info(s->self, "embedded postgres: ready at %s", conninfo);
	return VBX_OK;
}

void pgs_embedded_stop(pgs *s)
{
	struct pgs_embedded *e = s->embedded;

	if (!e)
		return;
	stop_supervisor(e);
	if (e->running) {
		vbx_log_info(s->self,
		             "embedded postgres: stopping the cluster in %s",
		             e->data);
		if (stop_cluster(s, e) == VBX_OK)
			vbx_log_info(s->self, "embedded postgres: stopped");
		e->running = false;
	}
	unlock_dir(e);
}

void pgs_embedded_fini(pgs *s)
{
	struct pgs_embedded *e = s->embedded;

	if (!e)
		return;
	pgs_embedded_stop(s);
	free(e->user_cfg);
	free(e->bindir_cfg);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->wake);
	free(e);
	s->embedded = NULL;
}
