/* SPDX-License-Identifier: Apache-2.0 */
/*
 * embedded.h - a private PostgreSQL cluster for a daemon configured
 * without a conninfo.
 *
 * The cluster lives in state_dir/postgres (data in .../data, the Unix
 * socket in .../run), listens on no TCP address, and is created (initdb)
 * on first use. Config keys of the plugin block, read by
 * pgs_embedded_configure():
 *
 *   embedded_user    the system user that runs the cluster when vibeboxd
 *                    runs as root (PostgreSQL refuses root). Default
 *                    "postgres" when that user exists, else "vibebox".
 *                    Ignored when vibeboxd is not root: the cluster then
 *                    runs as the daemon's own user.
 *   embedded_bindir  where initdb, pg_ctl and postgres are, and the
 *                    pg_dump and pg_restore of store_dump/store_restore.
 *                    Default: the highest version under
 *                    /usr/lib/postgresql/ * /bin (then $PATH for pg_dump
 *                    and pg_restore).
 *
 * Connections use the database "vibebox" as the role "vibebox".
 */
#ifndef PGS_EMBEDDED_H
#define PGS_EMBEDDED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <vibebox/config.h>

struct pgs;

/*
 * Read embedded_user and embedded_bindir from the plugin's block into
 * s->embedded (allocated). Call from init whether or not a conninfo is
 * configured, so that the keys are known. VBX_OK, VBX_EINVAL (recorded
 * with vbx_cfg_error) or VBX_ENOMEM.
 */
int pgs_embedded_configure(struct pgs *s, const vbx_config *cfg);

/*
 * Lock state_dir/postgres/vibeboxd.lock (VBX_ERR, naming the state_dir,
 * when another live daemon holds it), create the cluster when it does not
 * exist yet, stop an orphaned cluster of this directory (one left running
 * by a daemon killed with SIGKILL), start it, wait until it accepts
 * connections, create the role and database "vibebox" when missing, and
 * write a libpq conninfo for it into conninfo (len bytes). Then a thread
 * supervises the postmaster: when it dies, the cluster is started again
 * (each restart logged), backing off from 1 s to 30 s. Call from start. Each
 * step is logged; a failure names the step, the command and its output. VBX_OK
 * or VBX_ERR (VBX_EINVAL: not configured).
 */
int pgs_embedded_start(struct pgs *s, char *conninfo, size_t len);

/* Stop the supervisor, then the cluster if this process started it
 * (pg_ctl stop -m fast, then -m immediate, each bounded), and give up the
 * lock of state_dir/postgres. Safe to call more than once. Call from
 * stop. */
void pgs_embedded_stop(struct pgs *s);

/* True while the cluster's postmaster is dead and the supervisor has not
 * started it again (readiness fails meanwhile). */
bool pgs_embedded_down(struct pgs *s);

/* Stop if needed and free s->embedded; safe when NULL. Call from fini. */
void pgs_embedded_fini(struct pgs *s);

/* ---- running PostgreSQL's tools (also for dump.c) ---- */

/* How to run one tool: fork, exec, no shell. */
typedef struct pgs_tool {
	char *const *argv; /* argv[0] a full path */
	char *const *envp; /* NULL: the daemon's environment */
	int in_fd;         /* the tool's stdin; -1: /dev/null */
	int out_fd;        /* its stdout; -1: into out, with stderr */
	const char *cwd;   /* NULL: the daemon's */
	bool as_other;     /* run as uid/gid/groups (the daemon is root) */
	const char *user;  /* their name, for messages */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
} pgs_tool;

/*
 * Run t to completion: the child gets a fresh signal state, its own
 * session and no file descriptor of the daemon's besides in_fd and out_fd.
 * The last out_len - 1 bytes of its stderr (and stdout when out_fd is -1)
 * go into out as one line (newlines become '|'). Returns the exit status,
 * or -1 when it could not run or died of a signal (out says why).
 */
int pgs_tool_run(const pgs_tool *t, char *out, size_t out_len);

/*
 * The full path of a PostgreSQL tool ("pg_dump"): in embedded_bindir when
 * set, else in the highest /usr/lib/postgresql/N/bin, else in $PATH.
 * VBX_OK or VBX_ENOTFOUND.
 */
int pgs_tool_path(struct pgs *s, const char *tool, char *path, size_t len);

#endif
