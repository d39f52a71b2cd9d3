/* SPDX-License-Identifier: Apache-2.0 */
/*
 * docker.h - the docker-runtime plugin's internal interfaces, shared by
 * its files:
 *
 *   plugin.c      entry, config, hook registration, health check
 *   client.c      the Engine API over libcurl: endpoint, TLS, version
 *   containers.c  create/start/stop/restart/remove/inspect/ports/stats/list
 *   images.c      the images allow-list, keep_command and pulls
 *   labels.c      what this installation owns (labels, filters)
 *   stream.c      exec with a TTY and logs, as vbx_stream objects
 *   shell.c       the login shell a terminal opens, per container
 *   passwd.c      the tar and passwd parsers shell.c uses
 *   workspace.c   the environment's workspace volume: where, whose
 *   leftovers.c   networks and volumes: listing, purging, keeping
 *   frame.c       the engine's stdout/stderr multiplexing framing
 *   watch.c       the engine's event stream, turned into fact events
 *   firewall.c    block_host: the iptables rules that keep environments
 *                 away from the host's own services
 *   engines.c     several engines: their config, watchers, health check
 *   engine.c      one engine's state (up, down) and the ids naming it
 *   route.c       the runtime hooks, each sent to its container's engine
 *   place.c       where a new environment goes: the choice, pure
 *   api.c         GET /api/v1/x/docker-runtime/engines
 *
 * Engines: the plugin's state is a dkr; with one `endpoint` it is the
 * engine itself (eng[0] is the plugin's dkr, named "default"); with an
 * `engines` list each engine is a dkr of its own (eng[i]) that shares the
 * plugin's settings but has its endpoint, client and event watcher. The
 * functions of the other files take the engine's dkr and its own
 * container ids; route.c turns the ids the platform stores into
 * (engine, id): with several engines they read "<engine>/<id>".
 *
 * Containers carry the labels io.vibebox.managed=true,
 * io.vibebox.environment=<env id> and io.vibebox.project=<project id>;
 * each lives on a network of its own; both are named vbx-<env id>. The
 * environment's workspace volume, vbx-<env id>-workspace, has the same
 * labels.
 */
#ifndef DKR_DOCKER_H
#define DKR_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include <vibebox/vibebox.h>
#include <vibebox/runtime.h>

#define DKR_LABEL_MANAGED "io.vibebox.managed"
#define DKR_LABEL_ENV "io.vibebox.environment"
#define DKR_LABEL_PROJECT "io.vibebox.project"
/* The installation (store_instance_id): installations sharing one engine
 * never touch each other's containers. */
#define DKR_LABEL_INSTANCE "io.vibebox.instance"
#define DKR_NAME_PREFIX "vbx-"
/* What a container reserves on its engine (place.c): its limits. */
#define DKR_LABEL_CPUS "io.vibebox.cpus"         /* cores, "1.50" */
#define DKR_LABEL_MEMORY "io.vibebox.memory-mib" /* MiB, "2048" */

#define DKR_ENGINES_MAX 32
#define DKR_ENGINE_NAME_MAX 24 /* characters of an engine's name */

/* The plugin's config block (docs/admin-guide.md lists every key). */
typedef struct dkr_conf {
	char *endpoint;        /* unix:///var/run/docker.sock or tcp://h:p */
	char *tls_ca;          /* tls_ca_file; NULL: plain HTTP over tcp:// */
	char *tls_cert;        /* tls_cert_file */
	char *tls_key;         /* tls_key_file */
	char *publish_address; /* default 127.0.0.1 */
	const char *const *images; /* allow-list patterns (fnmatch) */
	size_t n_images;
	/* images whose own command runs instead of the keep-alive */
	const char *const *keep_command;
	size_t n_keep_command;
	/* workspace.paths: "IMAGE-PATTERN=/path" (workspace.c) */
	const char *const *ws_paths;
	size_t n_ws_paths;
	uint64_t ws_size;         /* workspace.size in bytes; 0: no limit */
	const char *const *shell; /* after the login shell; default sh */
	size_t n_shell;
	char *user;         /* "" : the image's user */
	bool read_only;     /* read-only root filesystem (+ tmpfs /tmp) */
	bool block_host;    /* default true: firewall.c */
	int pids_limit;     /* default 512 */
	int64_t request_ms; /* request_timeout, default 30s */
	int64_t pull_ms;    /* pull_timeout, default 10m */
} dkr_conf;

typedef struct dkr dkr;

/* The plugin's state; one per process. */
struct dkr {
	vbx_plugin *plugin;
	dkr_conf conf;
	char *unix_path;  /* the socket for unix://, else NULL */
	char *base_url;   /* "http://localhost" or "http(s)://host:port" */
	char version[16]; /* negotiated API version, "1.41"; "" until known */
	struct dkr_watch *watch;                        /* watch.c */
	vbx_event *ev_exited, *ev_vanished, *ev_engine; /* runtime_* */
	struct dkr_client *client; /* client.c: handle pool, version lock */
	char instance[VBX_ID_LEN]; /* store_instance_id, read at start */

	/* ---- engines (engines.c) ---- */
	char name[DKR_ENGINE_NAME_MAX + 1]; /* "default" for `endpoint` */
	double cpus;                        /* capacity; 0: not limited */
	uint64_t memory;                    /* bytes; 0: not limited */
	const char *const *eng_images; /* this engine's patterns; NULL: any */
	size_t n_eng_images;
	bool child;      /* an engine of the list: conf is borrowed but for
	                    endpoint and tls_*, which are its own */
	bool prefix_ids; /* container ids read "<name>/<id>" */
	dkr **eng;       /* the plugin's dkr: its engines, n_eng of them */
	size_t n_eng;
	struct dkr_state *state; /* up or down, since when, why */
};

/* The one instance, set by plugin.c at init. */
extern dkr *dkr_self;

/* The wall clock in Unix ms (timestamps of states, stats and events). */
static inline int64_t dkr_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- client.c ---- */

/* A buffered answer of the engine. body is NUL-terminated, malloc'd. */
typedef struct dkr_resp {
	long status; /* HTTP status; 0 when the engine did not answer */
	char *body;
	size_t len;
} dkr_resp;

/*
 * Parse conf->endpoint into d->unix_path/base_url. Returns VBX_OK or
 * VBX_EINVAL with a message naming plugins.docker-runtime.endpoint.
 */
int dkr_client_init(dkr *d);
void dkr_client_fini(dkr *d);

/*
 * One request: method, path below the version prefix ("/containers/json"),
 * an optional JSON body (borrowed). Negotiates the API version on first
 * use and again after the engine was unreachable. Returns VBX_OK with
 * out->status set (any HTTP status), or VBX_EUNAVAIL when the engine did
 * not answer (out->status 0), VBX_ETIMEDOUT when it did not answer within
 * timeout_ms; then out->body holds curl's reason. The caller frees with
 * dkr_resp_free() in every case.
 */
int dkr_request(dkr *d, const char *method, const char *path, const cJSON *body,
                int64_t timeout_ms, dkr_resp *out);
/* The same with path sent as it is: no version prefix, no negotiation
 * ("/_ping", "/version"). */
int dkr_request_raw(dkr *d, const char *method, const char *path,
                    const cJSON *body, int64_t timeout_ms, dkr_resp *out);
void dkr_resp_free(dkr_resp *r);

/*
 * Map an answer to a result code and, unless it is VBX_OK, write
 * "<what>: <engine message>" into why (may be NULL): 2xx and 304 VBX_OK,
 * 404 VBX_ENOTFOUND, 409 VBX_ESTATE, other 4xx VBX_EINVAL, 5xx VBX_ERR,
 * no answer VBX_EUNAVAIL.
 */
int dkr_status_rc(const dkr_resp *r, const char *what, char *why,
                  size_t why_len);

/* The negotiated API version ("1.41"), "" while unknown. */
void dkr_api_version(dkr *d, char out[16]);

/*
 * Parse an endpoint: "unix:///abs/path" or "tcp://host[:port]" (host a
 * name, an IPv4 address or a [bracketed] IPv6 one; port 2375, or 2376
 * with tls). Sets *unix_path (malloc'd, NULL for tcp) and *base_url
 * (malloc'd). Returns VBX_OK, or VBX_EINVAL with the reason in err.
 * Pure: no I/O, for the fuzz target.
 */
int dkr_endpoint_parse(const char *endpoint, bool tls, char **unix_path,
                       char **base_url, char *err, size_t err_len);

/*
 * An RFC 3339 time ("2024-05-01T10:00:00.123456789Z", "...+02:00"; the
 * forms of vbx_time_parse()) into Unix ms. Docker's zero time
 * "0001-01-01T00:00:00Z" (and any time before 1970) gives 0. s may be
 * NULL. Returns VBX_OK or VBX_EINVAL. Pure.
 */
int dkr_time_parse(const char *s, int64_t *ms);

/* The engine's "message" of an error answer, or the status text. */
const char *dkr_resp_message(const dkr_resp *r, char *buf, size_t len);

/* A curl handle set up for the endpoint (socket path, TLS files), for
 * streams and long-lived requests. The caller cleans it up. */
CURL *dkr_easy(dkr *d);

/* "/v1.41" + path into buf; the negotiated version prefix. */
const char *dkr_path(dkr *d, const char *path, char *buf, size_t len);

/* ---- containers.c: the runtime hook handlers (signatures of runtime.h) */

int dkr_create(void *ud, const vbx_container_spec *spec, char *id, char *why,
               size_t why_len);
int dkr_start(void *ud, const char *id, char *why, size_t why_len);
int dkr_stop(void *ud, const char *id, int timeout_s);
int dkr_restart(void *ud, const char *id, int timeout_s, char *why,
                size_t why_len);
int dkr_remove(void *ud, const char *id);
int dkr_inspect(void *ud, const char *id, vbx_container_state *out);
int dkr_ports(void *ud, const char *id, vbx_env_port_each_fn *each, void *ctx);
int dkr_stats(void *ud, const char *id, vbx_container_stats *out);
int dkr_list(void *ud, vbx_container_each_fn *each, void *ctx);
int dkr_ping(void *ud, char *why, size_t why_len);

/* A container id or name (or an environment id in one): what the engine
 * accepts, nothing that could change the request path or query. */
bool dkr_id_valid(const char *id);

/* A request whose answer only matters by its status. ok2 is one more
 * status that counts as success (0 for none); why as dkr_status_rc. */
int dkr_simple(dkr *d, const char *method, const char *path, int64_t timeout_ms,
               long ok2, const char *what, char *why, size_t why_len);

/*
 * Pure parsers of the engine's JSON, for the fuzz target. Each returns
 * VBX_OK or VBX_EINVAL (not the expected shape); missing optional fields
 * are left zero.
 */
/* GET /containers/{id}/json into a state. */
int dkr_parse_inspect(const cJSON *j, vbx_container_state *out);
/* NetworkSettings.Ports of an inspect answer: one row per published
 * port; each returns non-zero to stop (then that value is returned). */
int dkr_parse_ports(const cJSON *inspect, vbx_env_port_each_fn *each,
                    void *ctx);
/* GET /containers/{id}/stats?stream=false into a sample. */
int dkr_parse_stats(const cJSON *j, vbx_container_stats *out);
/* One element of GET /containers/json into a state. */
int dkr_parse_list_item(const cJSON *j, vbx_container_state *out);

/* ---- labels.c ---- */

/*
 * The engine's `filters` query value selecting what this installation
 * owns (the managed and instance labels), plus `type` when it is not NULL
 * ("container" for events), URL-encoded into buf. Returns buf, or NULL
 * when it does not fit.
 */
const char *dkr_owned_filter(const dkr *d, const char *type, char *buf,
                             size_t len);

/* s[0..n) URL-encoded into buf (len bytes with the NUL). Returns buf,
 * or NULL when it does not fit or memory ran out. */
const char *dkr_url_escape(const char *s, size_t n, char *buf, size_t len);

/* Does a container's Labels object say this installation owns it? */
bool dkr_labels_owned(const dkr *d, const cJSON *labels);

/* Add the Labels object of what env owns (container, network, volume):
 * managed, instance, environment and project. false: out of memory. */
bool dkr_add_labels(const dkr *d, cJSON *o, const vbx_env *env);

/* ---- workspace.c: the environment's workspace volume ---- */

#define DKR_WS_SUFFIX "-workspace" /* vbx-<env id>-workspace */
#define DKR_WS_PATH_MAX 200
/* The label of a keeper container (leftovers.c): the kept volume. */
#define DKR_LABEL_KEPT "io.vibebox.kept-workspace"
/* The label of a probe (workspace.c), which uses no network. */
#define DKR_LABEL_PROBE "io.vibebox.workspace-probe"

/* What one create mounts. */
typedef struct dkr_ws {
	char volume[sizeof(DKR_NAME_PREFIX) + VBX_ID_LEN + 16];
	char path[DKR_WS_PATH_MAX]; /* where it is mounted */
	long uid, gid; /* give the volume's root to them; -1: leave it */
	bool fresh;    /* this create made the volume */
} dkr_ws;

/* The volume's name, vbx-<env id>-workspace, into out. */
void dkr_ws_name(const char *env_id, char *out, size_t len);
/* Is entry a workspace.paths entry, "IMAGE-PATTERN=/abs/path"? Pure. */
bool dkr_ws_path_ok(const char *entry);
/* The path of the first workspace.paths entry whose pattern matches
 * image, into out; false when none does. Pure. */
bool dkr_ws_path_for(const dkr_conf *c, const char *image, char *out,
                     size_t len);
/*
 * Before the container of env is created: make its volume unless it
 * exists (refusing one that is not this installation's: VBX_EDENIED),
 * and decide where it goes and whom it belongs to (workspace.c's
 * comment). why as dkr_create's.
 */
int dkr_ws_prepare(dkr *d, const vbx_env *env, dkr_ws *ws, char *why,
                   size_t why_len);
/* Add the mount to a create body's HostConfig. false: out of memory. */
bool dkr_ws_mount(const dkr_ws *ws, cJSON *host);
/* After container id is created: give a fresh volume's root to the user
 * when dkr_ws_prepare said so. */
int dkr_ws_finish(dkr *d, const dkr_ws *ws, const char *id, char *why,
                  size_t why_len);

/* ---- leftovers.c: the runtime_leftovers, runtime_env_purge and
 * runtime_workspace_keep hooks (signatures of runtime.h) ---- */

int dkr_leftovers(void *ud, vbx_runtime_leftover_fn *each, void *ctx);
int dkr_env_purge(void *ud, const char *env_id, unsigned what, char *why,
                  size_t why_len);
int dkr_ws_keep(void *ud, const vbx_env *env, char *why, size_t why_len);

/* ---- images.c ---- */

/* Does image match one of n fnmatch patterns? A bare name ("debian")
 * also matches as "debian:latest", which is what the engine runs. */
bool dkr_image_match(const char *const *pats, size_t n, const char *image);
/* Is image allowed by conf->images? */
bool dkr_image_allowed(const dkr_conf *c, const char *image);
/*
 * The runtime_image_check hook, and the first step of every create: a
 * valid image reference that conf->images allows. VBX_OK, VBX_EINVAL
 * (not a reference) or VBX_EDENIED; then why names the image, the
 * setting plugins.docker-runtime.images and the patterns it allows.
 * Reads the config only: no request to the engine.
 */
int dkr_image_check(void *ud, const char *image, char *why, size_t why_len);
/* Make sure the image is present, pulling it when missing. VBX_EDENIED,
 * VBX_ENOTFOUND (pull failed; why says what the engine said). */
int dkr_image_ensure(dkr *d, const char *image, char *why, size_t why_len);
/*
 * The first "error" of a pull's JSON stream (concatenated objects) into
 * msg. Returns true when there was one. Pure.
 */
bool dkr_pull_error(const char *body, size_t len, char *msg, size_t msg_len);

/* ---- stream.c ---- */

int dkr_logs(void *ud, const char *id, const vbx_logs_opts *opts,
             vbx_stream **out);
int dkr_exec(void *ud, const char *id, const vbx_exec_spec *spec,
             vbx_stream **out);

/* ---- shell.c, passwd.c: the shell a terminal opens ---- */

#define DKR_SHELL_MAX 256 /* the longest login shell path, with its NUL */

/*
 * The login shell of the user an exec in container id runs as (the
 * configured user, else the container's, else root) from the
 * container's /etc/passwd, into out (len bytes; DKR_SHELL_MAX is
 * enough); "" when there is none: no such file (after 4 symlinks at
 * most), no entry, a no-login shell, an engine that did not answer.
 * Remembered per container for a minute; a miss costs one or two
 * requests to the engine. Any thread.
 */
void dkr_login_shell(dkr *d, const char *id, char *out, size_t len);

/* A member of a tar archive. */
typedef struct dkr_tar_member {
	char type;        /* '0' a regular file, '2' a symbolic link */
	const char *data; /* a file's bytes, inside the archive */
	size_t len;
	char link[101]; /* a link's target */
} dkr_tar_member;

/*
 * The first regular file or symbolic link of the tar archive of n bytes
 * at tar (what the archive endpoint sends for one path); pax and GNU
 * long-name records and other members before it are skipped. Returns
 * VBX_OK, VBX_ENOTFOUND (the archive ends first) or VBX_EINVAL (not a
 * tar archive: a bad header checksum or size, a member past the end).
 * out->data points into tar. Pure.
 */
int dkr_tar_first(const char *tar, size_t n, dkr_tar_member *out);

/*
 * The login shell of user ("name" or "uid", either with ":group") in
 * the passwd file text of n bytes (not NUL-terminated; any bytes): the
 * seventh field of its first entry, matched by name, or by uid when user
 * is a number. Returns VBX_OK with the shell in out, or VBX_ENOTFOUND
 * (no entry; a shell that is not an absolute path of visible ASCII
 * shorter than out_len, or ends in /nologin or /false), out then "".
 * Pure.
 */
int dkr_passwd_shell(const char *text, size_t n, const char *user, char *out,
                     size_t out_len);

/* One user's entry of a passwd file (dkr_passwd_home). */
typedef struct dkr_passwd_entry {
	long uid, gid;              /* -1 when not found */
	char home[DKR_WS_PATH_MAX]; /* an absolute path other than "/" */
} dkr_passwd_entry;

/*
 * The entry of user ("name" or "uid", either with ":group") in the
 * passwd file text of n bytes (any bytes): its first entry, as
 * dkr_passwd_shell finds it. Returns VBX_OK, or VBX_ENOTFOUND (no entry;
 * an entry whose uid or gid is not a number below 2^31, or whose home is
 * not an absolute path of visible ASCII other than "/" that fits); out
 * then has uid -1 and home "". Pure.
 */
int dkr_passwd_home(const char *text, size_t n, const char *user,
                    dkr_passwd_entry *out);

#define DKR_TAR_DIR_LEN (3 * 512) /* a header and the end-of-archive */

/*
 * A tar archive of one directory entry: name (relative, no trailing
 * slash, at most 98 bytes) owned by uid:gid with mode, for the engine's
 * archive upload (which makes the directory and gives
 * it that owner). VBX_EINVAL when name or an id does not fit. Pure.
 */
int dkr_tar_dir(const char *name, long uid, long gid, unsigned mode,
                char out[DKR_TAR_DIR_LEN]);

/*
 * The text of the passwd file of container id (created or running), at
 * /etc/passwd after symbolic links (4 at most), into *text (malloc'd,
 * the caller frees) and *len. VBX_OK, VBX_ENOTFOUND (no such file),
 * VBX_EINVAL (not a tar answer), or the engine's failure. shell.c.
 */
int dkr_passwd_fetch(dkr *d, const char *id, char **text, size_t *len);

/* ---- frame.c: the engine's multiplexed stream framing ----
 * Each frame: 1 byte stream (0 stdin, 1 stdout, 2 stderr), 3 zero bytes,
 * a big-endian u32 length, then that many bytes. */

typedef struct dkr_demux {
	unsigned char hdr[8];
	size_t hdr_have; /* header bytes collected */
	uint32_t left;   /* payload bytes left in the current frame */
	int channel;     /* of the current frame */
} dkr_demux;

/*
 * Feed n bytes at in; calls out(ctx, channel, bytes, len) for each run of
 * payload. Returns VBX_OK, or VBX_EINVAL on a malformed header (a stream
 * byte other than 0..2 or non-zero padding); the demuxer is then stuck.
 */
int dkr_demux_feed(dkr_demux *m, const void *in, size_t n,
                   void (*out)(void *ctx, int channel, const char *p,
                               size_t len),
                   void *ctx);

/* ---- frame.c: the HTTP/1.1 framing of stream.c's raw connections ---- */

#define DKR_HEAD_MAX 16384 /* the longest response head accepted */

/* A response head. */
typedef struct dkr_head {
	int status;             /* 100..599 */
	bool chunked;           /* Transfer-Encoding ends in chunked */
	int64_t content_length; /* -1 when absent */
} dkr_head;

/*
 * Parse the response head at the front of buf (n bytes, not
 * NUL-terminated). Returns its length (the body starts there), 0 while it
 * is incomplete, VBX_EINVAL when it is malformed or longer than
 * DKR_HEAD_MAX.
 */
ssize_t dkr_head_parse(const char *buf, size_t n, dkr_head *h);

/* An incremental decoder of a chunked body; zero it to start. */
typedef struct dkr_chunked {
	int state;
	uint64_t left; /* data bytes left in the current chunk */
	size_t line;   /* bytes of the current size or trailer line */
} dkr_chunked;

/*
 * Decode the next n bytes of a chunked body in place: its data bytes move
 * to the front of buf. Returns their count, or VBX_EINVAL on malformed
 * framing (the decoder is then stuck). Bytes after the last chunk and its
 * trailers are ignored; dkr_chunked_done() tells when those were read.
 */
ssize_t dkr_chunked_decode(dkr_chunked *c, char *buf, size_t n);
bool dkr_chunked_done(const dkr_chunked *c);

/* ---- watch.c ---- */

/* Get the fact events' handles into d (init). VBX_OK, or VBX_ESIGNATURE
 * (logged) when another plugin declared them with other payloads. */
int dkr_watch_events(dkr *d);
/* Start/stop the event follower thread. */
int dkr_watch_start(dkr *d);
void dkr_watch_stop(dkr *d);

/* The pure parts of watch.c, for its unit tests and fuzz target. */

/* Cuts the engine's event stream (JSON objects, split across reads or
 * several per read) into whole objects. Zero-initialise it. */
typedef struct dkr_jsplit {
	char *buf; /* the object being collected */
	size_t len, cap;
	size_t depth; /* of { and [ inside the object; 0: between objects */
	bool in_str, esc;
	bool skip; /* dropping the rest of a line after a broken object */
	uint64_t dropped; /* objects dropped as too long or broken */
} dkr_jsplit;

#define DKR_EVENT_MAX 65536 /* longer objects are dropped */

typedef void dkr_jsplit_fn(void *ctx, const char *obj, size_t len);

/* Feed n bytes; calls each(ctx, obj, len) for every complete top-level
 * object (obj NUL-terminated, valid during the call). Bytes between
 * objects are skipped; a raw newline inside an unfinished object or an
 * object past DKR_EVENT_MAX drops it. VBX_OK or VBX_ENOMEM. */
int dkr_jsplit_feed(dkr_jsplit *s, const char *in, size_t n,
                    dkr_jsplit_fn *each, void *ctx);
/* Forget a partial object (the stream ended); keeps the buffer. */
void dkr_jsplit_reset(dkr_jsplit *s);
void dkr_jsplit_free(dkr_jsplit *s);

/* One container event of interest. */
enum { DKR_EV_DIE = 1, DKR_EV_OOM, DKR_EV_STOP, DKR_EV_DESTROY };
typedef struct dkr_event {
	int action; /* DKR_EV_* */
	char container_id[VBX_CONTAINER_ID_LEN];
	char env_id[VBX_ID_LEN]; /* io.vibebox.environment */
	int exit_code;           /* -1 when the event has none */
	int64_t at_ms;           /* 0 when the event has none */
} dkr_event;

/* Parse one object of the stream. VBX_OK: an event of interest in *out;
 * VBX_DECLINED: well-formed but not for us (another type or action, no
 * environment label); VBX_EINVAL: not a valid event. */
int dkr_event_parse(const char *json, size_t len, dkr_event *out);

/* ---- engines.c ---- */

/*
 * Read the `engines` list of cfg into d->eng (children, not connected
 * yet); *n gets their number, 0 when the block has no list (then d is
 * the one engine). Every error names its key, as
 * plugins.docker-runtime.engines.1.endpoint.
 */
int dkr_engines_read(dkr *d, const vbx_config *cfg, size_t *n);
/* After the plugin's own keys: each engine gets the plugin's settings
 * and its client; with no list, d itself becomes the engine "default".
 * VBX_OK or what failed (logged). */
int dkr_engines_init(dkr *d);
/* Free the children (not d). */
void dkr_engines_free(dkr *d);
/* Start and stop every engine's watcher; start copies the installation
 * id into each. */
int dkr_engines_start(dkr *d);
void dkr_engines_stop(dkr *d);

/* ---- engine.c: one engine's state and ids ---- */

struct dkr_state *dkr_state_new(void); /* NULL: out of memory */
void dkr_state_free(struct dkr_state *s);

/* What the watcher knows of an engine. */
enum { DKR_ENGINE_UNKNOWN = 0, DKR_ENGINE_UP, DKR_ENGINE_DOWN };
/* Record e's state (watch.c); logs and returns true on a change. */
bool dkr_engine_set(dkr *e, bool up, const char *why);
/* e's state, and when it went down and why (why_len bytes, may be NULL).
 * Any thread. */
int dkr_engine_get(dkr *e, int64_t *since_ms, char *why, size_t why_len);
/* "engine NAME unreachable: WHY" into why when e is known to be down
 * (and only with several engines); returns VBX_EUNAVAIL then, else
 * VBX_OK. */
int dkr_engine_down(dkr *e, char *why, size_t why_len);
/* Add (add true) or take back what a container placed on e by this
 * process reserves until it is created (and its labels count). */
void dkr_engine_reserve(dkr *e, double cpus, uint64_t memory, bool add);
/* What is placed on e and not created yet. */
void dkr_engine_pending(dkr *e, double *cpus, uint64_t *memory);
/* The health_check hook: one "docker" check, VBX_OK while every engine
 * answers, VBX_HEALTH_DEGRADED while one does at least, else failed; its
 * detail lists every engine. */
int dkr_engines_health(void *ud, vbx_health *report);

/*
 * Split a container id as the platform stores it: "<engine>/<id>" gives
 * the engine named so (NULL when there is none) and *raw the id after the
 * slash; an id without a slash belongs to eng[0] (an environment created
 * before there were several engines). Pure.
 */
dkr *dkr_route_find(dkr *d, const char *id, const char **raw);
/* The id the platform stores for container raw of engine e, into out
 * (VBX_CONTAINER_ID_LEN bytes): raw itself with one engine, else
 * "<name>/" and as much of raw as fits (at least 40 hex digits, which
 * the engine takes as the whole id). Pure. */
void dkr_route_ext_id(const dkr *e, const char *raw, char *out);

/* ---- metrics.c: runtime_operations_total and its durations ---- */

/* The runtime hooks, as the label `operation` of the metrics. */
typedef enum dkr_op {
	DKR_OP_CREATE,
	DKR_OP_START,
	DKR_OP_STOP,
	DKR_OP_RESTART,
	DKR_OP_REMOVE,
	DKR_OP_INSPECT,
	DKR_OP_PORTS,
	DKR_OP_STATS,
	DKR_OP_LIST,
	DKR_OP_PING,
	DKR_OP_LOGS,
	DKR_OP_EXEC,
	DKR_OP_LEFTOVERS,
	DKR_OP_ENV_PURGE,
	DKR_OP_WORKSPACE_KEEP,
	DKR_OP_IMAGE_CHECK,
	DKR_OP_COUNT
} dkr_op;

/* Declare the families and resolve every series (at init). VBX_OK, or
 * VBX_ERR when the registry refused a family (it logged why). */
int dkr_metrics_init(vbx_plugin *p);
/* The start of a call, for dkr_op_end: monotonic ns (0 when metrics are
 * off: no clock is read). */
uint64_t dkr_op_begin(void);
/* Count the call op that began at t0 and returned rc; returns rc, so that
 * a hook ends with `return dkr_op_end(op, t0, rc)`. Lock-free. */
int dkr_op_end(dkr_op op, uint64_t t0, int rc);

/* ---- route.c: the runtime hooks registered with the plugin's dkr ---- */

/* Register every runtime hook with d as its data. */
int dkr_route_register(dkr *d);

/* ---- api.c ---- */

/* Register GET /api/v1/x/docker-runtime/engines (instance admins): each
 * engine's name, endpoint, state (up, down, unknown), since, reason,
 * cpus and memory {capacity, reserved} and environments. */
int dkr_api_register(dkr *d);

/* ---- place.c ---- */

/* env's memoryLimit in bytes; 0 when it has none. */
static inline uint64_t dkr_env_memory(const vbx_env *env)
{
	return env->memory_limit > 0 ? (uint64_t)env->memory_limit << 20 : 0;
}

/* What the containers of this installation reserve on one engine. */
typedef struct dkr_usage {
	double cpus;     /* cores */
	uint64_t memory; /* bytes */
	size_t n;        /* containers */
} dkr_usage;

/*
 * Add up the limits of the containers in a GET /containers/json answer
 * (their DKR_LABEL_CPUS and DKR_LABEL_MEMORY labels; a container without
 * them reserves nothing). VBX_OK or VBX_EINVAL (not an array). Pure.
 */
int dkr_usage_parse(const cJSON *list, dkr_usage *out);
/* The usage of engine e, asking it within timeout_ms. VBX_OK or the
 * request's failure. */
int dkr_usage_get(dkr *e, int64_t timeout_ms, dkr_usage *out);

/* One engine as the placement sees it. */
typedef struct dkr_candidate {
	const char *name;
	bool up;       /* known down: false */
	bool image_ok; /* its images allow the environment's */
	double cpus;   /* capacity; 0: not limited */
	uint64_t memory;
	dkr_usage used;
} dkr_candidate;

/*
 * The engine with the most free capacity after placing cpus cores and
 * memory bytes: free is the smaller of the CPU and memory fractions left
 * (a dimension without a limit counts as 1); ties go to the first. An
 * engine that is down, does not allow the image or lacks room is
 * skipped. Returns its index, or -1 with why (why_len bytes) naming
 * each engine and why it was skipped. Pure.
 */
int dkr_place_pick(const dkr_candidate *c, size_t n, double cpus,
                   uint64_t memory, char *why, size_t why_len);

/* The engine for a new container of env (placement, or the engine that
 * holds its workspace). NULL with why when none can take it. When
 * *reserved comes back true, env's limits were added to the engine's
 * pending reservation (so that placements running at once in this
 * process see each other): the caller takes them back with
 * dkr_engine_reserve(..., false) once the create is over. */
dkr *dkr_place(dkr *d, const vbx_env *env, bool *reserved, char *why,
               size_t why_len);

/* ---- firewall.c ---- */

/* A Linux interface name: 15 characters and the NUL. */
#define DKR_BRIDGE_NAME_LEN 16

/*
 * The Linux bridge name of an environment's network: "vbx-" and the first
 * 11 hex digits of env_id (its dashes skipped), which the block_host rules
 * match as "vbx-+". VBX_OK, or VBX_EINVAL when env_id has fewer than 11
 * hex digits before anything else. Pure.
 */
int dkr_bridge_name(const char *env_id, char out[DKR_BRIDGE_NAME_LEN]);

/* The rules of the block_host chain as `iptables -S VIBEBOX-HOST` prints
 * them, into out (len bytes, always terminated); returns the length
 * written, or len or more when out was too small. Pure. */
size_t dkr_fw_expected(char *out, size_t len);

/*
 * At the plugin's start, for a local (unix://) engine: block_host true
 * installs the iptables rules (or finds them in place), false removes
 * them. A remote engine is left alone (logged). Failures are logged with
 * the command and what the admin can do; VBX_OK or the failure's code,
 * never fatal to the plugin (environments still work, unprotected).
 * Blocks for as long as iptables runs.
 */
int dkr_firewall_apply(dkr *d);

#endif
