/*
 * docker.h - the docker-runtime plugin's internal interfaces, shared by
 * its files:
 *
 *   plugin.c      entry, config, hook registration, health check
 *   client.c      the Engine API over libcurl: endpoint, TLS, version
 *   containers.c  create/start/stop/restart/remove/inspect/ports/stats/list
 *   images.c      the images allow-list and pulls
 *   stream.c      exec with a TTY and logs, as vbx_stream objects
 *   frame.c       the engine's stdout/stderr multiplexing framing
 *   watch.c       the engine's event stream, reconcile and idle stops
 *
 * Containers carry the labels io.vibebox.managed=true,
 * io.vibebox.environment=<env id> and io.vibebox.project=<project id>;
 * each lives on a network of its own; both are named vbx-<env id>.
 */
#ifndef DKR_DOCKER_H
#define DKR_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include <vibebox/vibebox.h>
#include <vibebox/runtime.h>

#define DKR_LABEL_MANAGED "io.vibebox.managed"
#define DKR_LABEL_ENV "io.vibebox.environment"
#define DKR_LABEL_PROJECT "io.vibebox.project"
#define DKR_NAME_PREFIX "vbx-"

/* The plugin's config block (docs/admin-guide.md lists every key). */
typedef struct dkr_conf {
	char *endpoint;        /* unix:///var/run/docker.sock or tcp://h:p */
	char *tls_ca;          /* tls_ca_file; NULL: plain HTTP over tcp:// */
	char *tls_cert;        /* tls_cert_file */
	char *tls_key;         /* tls_key_file */
	char *publish_address; /* default 127.0.0.1 */
	const char *const *images; /* allow-list patterns (fnmatch) */
	size_t n_images;
	const char *const *shell; /* tried in order; default bash, sh */
	size_t n_shell;
	char *user;           /* "" : the image's user */
	bool read_only;       /* read-only root filesystem (+ tmpfs /tmp) */
	int pids_limit;       /* default 512 */
	int64_t reconcile_ms; /* reconcile_interval, default 30s */
	int64_t idle_ms;      /* idle_timeout, default 4h; 0: never */
	int64_t request_ms;   /* request_timeout, default 30s */
	int64_t pull_ms;      /* pull_timeout, default 10m */
} dkr_conf;

typedef struct dkr dkr;

/* The plugin's state; one per process. */
struct dkr {
	vbx_plugin *plugin;
	dkr_conf conf;
	char *unix_path;  /* the socket for unix://, else NULL */
	char *base_url;   /* "http://localhost" or "http(s)://host:port" */
	char version[16]; /* negotiated API version, "1.41"; "" until known */
	struct dkr_watch *watch; /* watch.c */
	struct dkr_client *client; /* client.c: handle pool, version lock */
};

/* The one instance, set by plugin.c at init. */
extern dkr *dkr_self;

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
 * An RFC 3339 time ("2024-05-01T10:00:00.123456789Z", "...+02:00") into
 * Unix ms. Docker's zero time "0001-01-01T00:00:00Z" (and any time before
 * 1970) gives 0. Returns VBX_OK or VBX_EINVAL. Pure.
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
int dkr_ping(void *ud);

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

/* ---- images.c ---- */

/* Is image allowed by conf->images? */
bool dkr_image_allowed(const dkr_conf *c, const char *image);
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

/* ---- watch.c ---- */

/* Start/stop the event follower and the reconcile/idle timer thread. */
int dkr_watch_start(dkr *d);
void dkr_watch_stop(dkr *d);

#endif
