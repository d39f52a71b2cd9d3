/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/runtime.h - the catalog of runtime hooks: containers for
 * environments, their logs and stats, and interactive exec sessions.
 *
 * Every runtime hook is PROVIDER (docker-runtime provides them) and returns
 * VBX_EUNAVAIL when no runtime is loaded or the engine does not answer,
 * except runtime_image_check (VBX_OK without a runtime). Every hook but
 * runtime_image_check may block (it talks to the engine); call them from
 * workers or threads of your own. Hooks that can fail for a reason a user
 * should read take `why` (why_len bytes, may be NULL) and write one line into
 * it, e.g. "pull of vibebox/x:1 failed: manifest unknown".
 *
 * Common returns: VBX_OK; VBX_ENOTFOUND (no such container or image);
 * VBX_EDENIED (the image is not allowed); VBX_EINVAL (the engine refused
 * the request); VBX_ETIMEDOUT; VBX_EUNAVAIL (no runtime, engine down).
 */
#ifndef VIBEBOX_RUNTIME_H
#define VIBEBOX_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include <vibebox/catalog.h>
#include <vibebox/store.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VBX_CONTAINER_ID_LEN 72

/* ---- streams: exec sessions and followed logs ---- */

/* Channels of stream data. */
#define VBX_STREAM_STDOUT 1
#define VBX_STREAM_STDERR 2

typedef struct vbx_stream vbx_stream;

/*
 * The operations of a stream; the runtime that made it implements them.
 * A stream is used by one thread at a time. The caller polls fd() for
 * POLLIN and then calls read() until it returns VBX_EAGAIN (data may be
 * buffered above the socket, in TLS for instance), or 0 at the end.
 */
typedef struct vbx_stream_ops {
	/* The descriptor to poll for readability; valid until close. */
	int (*fd)(vbx_stream *s);
	/*
	 * Read up to len bytes of one channel into buf without blocking;
	 * *channel gets VBX_STREAM_STDOUT or VBX_STREAM_STDERR (a TTY exec
	 * is all stdout). Returns the byte count, 0 at the end of the
	 * stream, VBX_EAGAIN when nothing is ready, or another error.
	 */
	ssize_t (*read)(vbx_stream *s, void *buf, size_t len, int *channel);
	/*
	 * Write up to len bytes of input without blocking. Returns the
	 * count written (maybe fewer than len), VBX_EAGAIN, or an error;
	 * VBX_EINVAL for a stream with no input (logs).
	 */
	ssize_t (*write)(vbx_stream *s, const void *buf, size_t len);
	/* Set the TTY size of an exec; VBX_EINVAL for logs. May block. */
	int (*resize)(vbx_stream *s, unsigned cols, unsigned rows);
	/*
	 * Close and free the stream. For an exec, *exit_code (may be NULL)
	 * gets the process's exit status, or -1 when it is unknown (the
	 * process still runs, or the engine is gone). May block.
	 */
	int (*close)(vbx_stream *s, int *exit_code);
} vbx_stream_ops;

/* A stream is any struct whose first member is this. */
struct vbx_stream {
	const vbx_stream_ops *ops;
};

/* ---- containers ---- */

/* What to create for an environment. Strings belong to the caller. */
typedef struct vbx_container_spec {
	const vbx_env *env;           /* id, project_id, slug, image, limits */
	const char *const *variables; /* "KEY=value", n_variables of them */
	size_t n_variables;
	const vbx_env_port *ports; /* to publish on publish_address */
	size_t n_ports;
} vbx_container_spec;

/* What the engine says about a container. */
typedef struct vbx_container_state {
	char id[VBX_CONTAINER_ID_LEN];
	char env_id[VBX_ID_LEN]; /* from its io.vibebox.environment label */
	char status[16];         /* created running paused restarting
	                            exited dead removing */
	bool running;
	bool oom_killed;
	int exit_code;
	char error[256];     /* the engine's error text, "" for none */
	int64_t started_at;  /* Unix ms, 0 when never */
	int64_t finished_at; /* Unix ms, 0 when never */
} vbx_container_state;

/* A sample of a running container's usage. */
typedef struct vbx_container_stats {
	double cpu_percent; /* of one core: 200.0 is two cores busy */
	uint64_t memory_bytes;
	uint64_t memory_limit_bytes;
	uint64_t pids;
	uint64_t net_rx_bytes;
	uint64_t net_tx_bytes;
	int64_t at; /* Unix ms */
} vbx_container_stats;

typedef int vbx_container_each_fn(void *ctx, const vbx_container_state *c);

/*
 * runtime_create(spec, id, why, why_len): create (not start) the
 * environment's container and its network, pulling the image when it is
 * missing, with the environment's workspace mounted (created when it
 * does not exist yet, reused when it does); id (VBX_CONTAINER_ID_LEN bytes)
 * gets the container id. VBX_EDENIED: the image is not allowed. VBX_ENOTFOUND:
 * the pull failed.
 */
VBX_HOOK_DECLARE(runtime_create, PROVIDER, VBX_EUNAVAIL,
                 (const vbx_container_spec *spec, char *id, char *why,
                  size_t why_len),
                 (spec, id, why, why_len))

/*
 * runtime_image_check(image, why, why_len): may an environment use image?
 * Answered from the runtime's config alone (its allow-list), without
 * blocking, so that the API refuses an image when an environment is
 * created or changed rather than when it starts; runtime_create checks
 * again with the same code. VBX_OK: allowed. VBX_EDENIED: not allowed;
 * why names the setting and what it allows, e.g. "image busybox:1 is not
 * allowed by plugins.docker-runtime.images; allowed: debian:*, ubuntu:*".
 * VBX_EINVAL: not an image reference. No runtime loaded:
 * VBX_OK (nothing to check against; starting then answers VBX_EUNAVAIL).
 */
VBX_HOOK_DECLARE(runtime_image_check, PROVIDER, VBX_OK,
                 (const char *image, char *why, size_t why_len),
                 (image, why, why_len))

/* runtime_start(id, why, why_len): start a created or stopped container. */
VBX_HOOK_DECLARE(runtime_start, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, char *why, size_t why_len),
                 (id, why, why_len))

/* runtime_stop(id, timeout_s): SIGTERM, then SIGKILL after timeout_s.
 * VBX_OK when it was stopped already. */
VBX_HOOK_DECLARE(runtime_stop, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, int timeout_s), (id, timeout_s))

/* runtime_restart(id, timeout_s, why, why_len): stop then start. */
VBX_HOOK_DECLARE(runtime_restart, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, int timeout_s, char *why, size_t why_len),
                 (id, timeout_s, why, why_len))

/* runtime_remove(id): remove the container (forced) and its network,
 * but not its environment's workspace (runtime_env_purge does).
 * VBX_OK when it was gone already. */
VBX_HOOK_DECLARE(runtime_remove, PROVIDER, VBX_EUNAVAIL, (const char *id), (id))

/* runtime_inspect(id, out): the container's state. VBX_ENOTFOUND. */
VBX_HOOK_DECLARE(runtime_inspect, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_container_state *out), (id, out))

/*
 * runtime_ports(id, each, ctx): the container's published ports as
 * vbx_env_port rows with host_port filled; each returns non-zero to stop.
 */
VBX_HOOK_DECLARE(runtime_ports, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_env_port_each_fn *each, void *ctx),
                 (id, each, ctx))

/* runtime_stats(id, out): one usage sample (takes about a second).
 * VBX_ESTATE when the container is not running. */
VBX_HOOK_DECLARE(runtime_stats, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, vbx_container_stats *out), (id, out))

/* runtime_list(each, ctx): every container this installation owns (by
 * label), running or not, including ones no environment knows any more;
 * each row has env_id (its environment label) and its state. The
 * platform's reconcile pass compares it with the store and removes the
 * orphans through runtime_remove. */
VBX_HOOK_DECLARE(runtime_list, PROVIDER, VBX_EUNAVAIL,
                 (vbx_container_each_fn * each, void *ctx), (each, ctx))

/* runtime_ping(why, why_len): VBX_OK when the engine answers; else why
 * says what failed. (A hook needs one parameter at least: VBX_HOOK_DECLARE
 * cannot declare an empty list.) */
VBX_HOOK_DECLARE(runtime_ping, PROVIDER, VBX_EUNAVAIL,
                 (char *why, size_t why_len), (why, why_len))

/* Which logs to read. */
typedef struct vbx_logs_opts {
	int tail;        /* the last `tail` lines; -1 for all */
	int64_t since;   /* Unix seconds; 0 for the beginning */
	bool follow;     /* keep the stream open for new lines */
	bool timestamps; /* prefix each line with an RFC 3339 time and " " */
} vbx_logs_opts;

/*
 * runtime_logs(id, opts, out): open the container's logs as a stream;
 * stdout and stderr arrive on their channels, demultiplexed. The caller
 * owns *out and closes it with out->ops->close. VBX_ENOTFOUND.
 */
VBX_HOOK_DECLARE(runtime_logs, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, const vbx_logs_opts *opts, vbx_stream **out),
                 (id, opts, out))

/* An interactive command in a running container. */
typedef struct vbx_exec_spec {
	/* NULL: the user's login shell from the container's /etc/passwd,
	 * else the runtime's configured fallback (/bin/sh) */
	const char *const *argv;
	unsigned cols, rows;          /* first TTY size; 0: 80x24 */
	const char *const *variables; /* "KEY=value", may be NULL */
	size_t n_variables;
} vbx_exec_spec;

/*
 * runtime_exec(id, spec, out): run a command with a TTY in the container
 * and open its bidirectional stream. The caller owns *out. VBX_ESTATE: the
 * container is not running.
 */
VBX_HOOK_DECLARE(runtime_exec, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, const vbx_exec_spec *spec, vbx_stream **out),
                 (id, spec, out))

/* ---- 1.3 (exec): a command without a TTY ---- */

/*
 * runtime_exec_pipe(id, spec, out): run spec->argv (required, non-empty)
 * in the container without a TTY and open its stream: read() gives
 * stdout and stderr on their own channels (VBX_STREAM_STDOUT,
 * VBX_STREAM_STDERR), write() feeds stdin, and write(s, NULL, 0) closes
 * stdin (a half-close: the process reads EOF, its output still comes);
 * it returns 0 once done, VBX_EAGAIN to be retried, or an error. cols and
 * rows are ignored; resize() answers VBX_EINVAL. read() returns 0 once
 * the process ended and all its output was read; close() then gives its
 * exit code. The caller owns *out. VBX_ESTATE: the container is not
 * running; VBX_EINVAL: no argv, or the engine refused the command.
 */
VBX_HOOK_DECLARE(runtime_exec_pipe, PROVIDER, VBX_EUNAVAIL,
                 (const char *id, const vbx_exec_spec *spec, vbx_stream **out),
                 (id, spec, out))

/* ---- end of 1.3 (exec) ---- */

/* ---- 1.1 (workspace): an environment's network and workspace ---- */

/*
 * Besides its container, an environment owns a network and a workspace
 * (a volume that keeps the developer's files across restarts, changes of
 * settings or image, and a container removed behind VibeBox's back).
 * runtime_remove leaves the workspace alone: only these hooks remove it.
 */
#define VBX_RUNTIME_CONTAINERS 0x1u /* every container of the environment */
#define VBX_RUNTIME_NETWORK 0x2u    /* its network */
#define VBX_RUNTIME_WORKSPACE 0x4u  /* its workspace: the developer's files */

/* What the engine holds of one environment (runtime_leftovers). */
typedef struct vbx_runtime_leftover {
	char env_id[VBX_ID_LEN]; /* from the io.vibebox.environment label */
	unsigned have;           /* VBX_RUNTIME_* bits of what exists */
} vbx_runtime_leftover;

typedef int vbx_runtime_leftover_fn(void *ctx, const vbx_runtime_leftover *l);

/*
 * runtime_leftovers(each, ctx): every environment of this installation
 * (by label) that has a network or a workspace on the engine, with what
 * it has (VBX_RUNTIME_CONTAINERS: a container of it exists, in any
 * state). A kept workspace (runtime_workspace_keep) is not reported. The
 * row is valid during the call; each returns non-zero to stop (that value
 * is returned). The platform's reconcile pass removes, after a grace
 * period, the networks and workspaces of deleted environments and the
 * networks no container uses.
 */
VBX_HOOK_DECLARE(runtime_leftovers, PROVIDER, VBX_EUNAVAIL,
                 (vbx_runtime_leftover_fn * each, void *ctx), (each, ctx))

/*
 * runtime_env_purge(env_id, what, why, why_len): remove what
 * (VBX_RUNTIME_* bits) of the environment env_id that this installation
 * owns; VBX_OK when it is gone (or never was). Another installation's
 * resources are never touched. A kept workspace is not removed.
 * VBX_ESTATE: the network is still in use by a container.
 */
VBX_HOOK_DECLARE(runtime_env_purge, PROVIDER, VBX_EUNAVAIL,
                 (const char *env_id, unsigned what, char *why, size_t why_len),
                 (env_id, what, why, why_len))

/*
 * runtime_workspace_keep(env, why, why_len): keep env's workspace after
 * the environment is deleted: runtime_env_purge and runtime_leftovers
 * leave it alone from then on, and an admin reclaims it by hand (the
 * runtime's README says how). VBX_ENOTFOUND: it has no workspace.
 */
VBX_HOOK_DECLARE(runtime_workspace_keep, PROVIDER, VBX_EUNAVAIL,
                 (const vbx_env *env, char *why, size_t why_len),
                 (env, why, why_len))

/* ---- end of 1.1 (workspace) ---- */

/* ---- facts a runtime reports: events ---- */

/*
 * A runtime reports what happens to its containers as these events; the
 * platform plugin decides what that means for an environment (its
 * lifecycle policy: docs/plugin-guide.md, "What a runtime implements").
 * None is user-facing. A runtime publishes them from a thread of its own
 * (publish never blocks); subscribers must not block either, so they hand
 * the work to vbx_work_submit(). Strings are NUL-terminated.
 */

/*
 * runtime_container_exited - a container of an environment stopped (its
 * main process died, was stopped, or was killed). The state is what the
 * engine says right after the fact (inspected), or what the event said
 * when the engine could not be asked.
 */
typedef struct vbx_runtime_container_exited {
	uint32_t version;                        /* 1 */
	char env_id[VBX_ID_LEN];                 /* its environment */
	char container_id[VBX_CONTAINER_ID_LEN]; /* the one that exited */
	char status[16];     /* the engine's: exited, dead, running (it was
	                        restarted meanwhile), ... */
	bool running;        /* running again by the time it was inspected */
	bool oom_killed;     /* the kernel killed it for memory */
	int exit_code;       /* the main process's; 0 when unknown */
	int64_t started_at;  /* Unix ms of its last start, 0 when unknown */
	int64_t finished_at; /* Unix ms, 0 when unknown */
	int64_t at_ms;       /* when the runtime saw it; Unix ms */
} vbx_runtime_container_exited;
VBX_EVENT_DECLARE(runtime_container_exited, vbx_runtime_container_exited, NULL)

/*
 * runtime_container_vanished - a container of an environment was removed
 * (by VibeBox or behind its back: the subscriber compares container_id
 * with the environment's).
 */
typedef struct vbx_runtime_container_vanished {
	uint32_t version; /* 1 */
	char env_id[VBX_ID_LEN];
	char container_id[VBX_CONTAINER_ID_LEN];
	int64_t at_ms; /* Unix ms */
} vbx_runtime_container_vanished;
VBX_EVENT_DECLARE(runtime_container_vanished, vbx_runtime_container_vanished,
                  NULL)

/*
 * runtime_engine_state - the runtime lost or regained its engine (the
 * event stream broke, or came back). Published on each change, not
 * repeatedly. reachable true after an outage means events may have been
 * missed: a subscriber that keeps state in agreement with the engine
 * checks it again (the platform runs a reconcile pass).
 *
 * A runtime with several engines (ABI 1.2) publishes it per engine, with
 * its name, and while one is down answers the hooks about its containers
 * VBX_EUNAVAIL at once; runtime_inspect then writes into out->error a
 * reason that names it, "engine NAME unreachable: WHY" (the platform
 * records it as the environment's status reason, and checks again when
 * the engine is back).
 */
typedef struct vbx_runtime_engine_state {
	uint32_t version; /* 1; 2 since ABI 1.2 (engine) */
	bool reachable;
	char why[256]; /* what failed, "" when reachable */
	int64_t at_ms; /* Unix ms */
	/* ---- version 2 (ABI 1.2) ---- */
	/* The engine's name when the runtime has several ("node-b"; the
	 * one engine of a single endpoint is "default"). Read it only when
	 * version >= 2. */
	char engine[64];
} vbx_runtime_engine_state;
VBX_EVENT_DECLARE(runtime_engine_state, vbx_runtime_engine_state, NULL)

#ifdef __cplusplus
}
#endif
#endif
