/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rc.h - the redis-cache plugin's internals: its settings, the parsed
 * server address, one connection (the RESP transport over TCP, a Unix
 * socket or TLS, with deadlines) and the pool of them.
 */
#ifndef VBX_REDIS_CACHE_RC_H
#define VBX_REDIS_CACHE_RC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <vibebox/cache.h>
#include <vibebox/config.h>
#include <vibebox/log.h>

#define RC_HOST_MAX 256
#define RC_PATH_MAX 108 /* sun_path */
#define RC_USER_MAX 128
#define RC_SENTINELS_MAX 16
#define RC_PREFIX_MAX 64
#define RC_ERR_MAX 256

/* Where a server is: TCP host and port, or a Unix socket path. */
typedef struct rc_addr {
	char host[RC_HOST_MAX]; /* "" for a Unix socket */
	int port;
	char path[RC_PATH_MAX]; /* Unix socket, or "" */
} rc_addr;

/* What the url says (url.c). */
typedef struct rc_url {
	rc_addr addr;
	bool tls;               /* rediss:// */
	char user[RC_USER_MAX]; /* ACL user, or "" */
	int db;                 /* SELECT n; 0 by default */
} rc_url;

/*
 * Parse a url: redis://[user@]host[:port][/db], rediss://..., or
 * unix:///path[?db=N]. host may be an [IPv6] literal. A password in the
 * url is refused. Returns VBX_OK, or VBX_EINVAL with a reason in err
 * (errlen bytes). Pure: no allocation, any input.
 */
int rc_url_parse(const char *s, rc_url *out, char *err, size_t errlen);

/* Parse "host:port" (a sentinel) into addr. Returns VBX_OK or VBX_EINVAL
 * with a reason in err. */
int rc_hostport_parse(const char *s, rc_addr *out, char *err, size_t errlen);

/* The settings of the block (config.c). */
typedef struct rc_settings {
	rc_url url;
	char *password; /* from password / password_file; wiped and freed */
	char *tls_ca_file, *tls_cert_file, *tls_key_file;
	bool tls_verify;
	char *tls_server_name; /* SNI and the name checked; default host */
	rc_addr sentinels[RC_SENTINELS_MAX];
	size_t nsentinels;
	char *master_name;
	int pool;
	int64_t timeout_ms, connect_timeout_ms;
	int64_t backoff_min_ms, backoff_max_ms;
	char prefix[RC_PREFIX_MAX];
	bool required;
} rc_settings;

/* Read every key of the block into *s (zeroed by the caller). Returns
 * VBX_OK or VBX_EINVAL after recording each problem; VBX_ENOMEM. */
int rc_settings_parse(const vbx_config *cfg, rc_settings *s);
void rc_settings_free(rc_settings *s);

/* ---- one connection (conn.c) ---- */

typedef struct rc_conn rc_conn;
struct rc_tls;

/* Unix ms on the monotonic clock, for deadlines. */
int64_t rc_now_ms(void);

/*
 * Open a connection to addr within deadline (monotonic ms): TCP or Unix,
 * then TLS when tls is given. No command is sent. Returns the connection
 * or NULL with the reason in err.
 */
rc_conn *rc_conn_open(const rc_addr *addr, struct rc_tls *tls, int64_t deadline,
                      char *err, size_t errlen);
void rc_conn_close(rc_conn *c);

/* Send one command (argc arguments with their lengths). Returns VBX_OK or
 * VBX_EUNAVAIL (I/O error or deadline; err says which). */
int rc_conn_send(rc_conn *c, int argc, const char **argv, const size_t *lens,
                 int64_t deadline, char *err, size_t errlen);

/*
 * Read one reply (caller frees with freeReplyObject) by deadline.
 * Returns VBX_OK; VBX_ETIMEDOUT (no whole reply in time: a part read
 * stays buffered, so a subscriber may simply read again; a caller that
 * waits for a command's answer must close the connection); VBX_EUNAVAIL
 * (I/O or protocol error, or closed; err says which).
 */
int rc_conn_read(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                 size_t errlen);

/* Wait for events (POLLIN/POLLOUT) on fd by deadline: VBX_OK,
 * VBX_ETIMEDOUT or VBX_EUNAVAIL. */
int rc_wait_fd(int fd, short events, int64_t deadline);

/* Whether the last failure was the server closing the connection before
 * any byte of the reply (the command may then be sent again). */
bool rc_conn_fresh_close(const rc_conn *c);

/* The file descriptor, for poll. */
int rc_conn_fd(const rc_conn *c);

/* Send and read: one round trip. Returns as rc_conn_read, VBX_ETIMEDOUT
 * included (then the connection must be closed). */
int rc_conn_call(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                 size_t errlen, int argc, const char **argv,
                 const size_t *lens);

/* The same with NUL-terminated string arguments, NULL-terminated. */
int rc_conn_callv(rc_conn *c, redisReply **out, int64_t deadline, char *err,
                  size_t errlen, const char *arg0, ...);

/* ---- TLS (tls.c) ---- */

struct ssl_st;

/* An OpenSSL client context made from the settings; NULL with err. */
struct rc_tls *rc_tls_new(const rc_settings *s, char *err, size_t errlen);
void rc_tls_free(struct rc_tls *t);

/* The TLS handshake on a connected fd (non-blocking) by deadline,
 * checking the certificate against tls_server_name or host. Returns the
 * session or NULL with err. */
struct ssl_st *rc_tls_handshake(struct rc_tls *t, int fd, const char *host,
                                int64_t deadline, char *err, size_t errlen);

/* ---- the plugin's state ---- */

typedef struct rc_slot {
	rc_conn *conn; /* NULL until connected */
	uint64_t epoch;
	bool busy;
	bool fresh; /* opened by this acquire: a failure is not a stale one */
} rc_slot;

typedef struct rc_sub {
	char channel[VBX_CACHE_KEY_MAX + RC_PREFIX_MAX];
	vbx_cache_message_fn *fn;
	void *arg;
	struct rc_sub *next;
} rc_sub;

typedef struct rcache {
	vbx_plugin *self;
	rc_settings cfg;
	struct rc_tls *tls;

	pthread_mutex_t lock;
	pthread_cond_t freed;
	rc_slot *slots;
	bool stopping;
	/* The outage: while down, calls fail fast until next_try. */
	bool down;
	int64_t next_try, backoff_ms;
	char down_reason[RC_ERR_MAX];
	/* The master in use; epoch grows when it changes (sentinel). */
	rc_addr master;
	bool resolve; /* ask the sentinels before the next connect */
	uint64_t epoch;

	/* pub/sub (pubsub.c) */
	rc_sub *subs; /* under lock */
	size_t nsubs;
	pthread_t sub_thread, watch_thread;
	bool sub_running, watch_running;
} rcache;

/* ---- the pool (pool.c) ---- */

int rc_pool_init(rcache *r);
void rc_pool_fini(rcache *r);

/*
 * Take a connection, connected to the current master, within the command
 * timeout; fail fast (VBX_EUNAVAIL) during an outage until its next try.
 * Returns the slot or NULL (*rc set to VBX_EUNAVAIL).
 */
rc_slot *rc_acquire(rcache *r, int64_t deadline, int *rc_out);
/* Give it back; failed: the call broke it (closed, outage noted with
 * why). */
void rc_release(rcache *r, rc_slot *s, bool failed, const char *why);

/* Connect to the master (asking the sentinels when configured), AUTH,
 * SELECT, check ROLE. Returns a connection or NULL with err. */
rc_conn *rc_connect_master(rcache *r, int64_t deadline, char *err,
                           size_t errlen);

/* Record a failure / a success for the outage state and the log. */
void rc_note_failure(rcache *r, const char *why);
void rc_note_success(rcache *r);
/* A READONLY reply or a +switch-master: find the master again. */
void rc_need_resolve(rcache *r);
/* The address for log lines ("127.0.0.1:6379", "/run/redis.sock"). */
void rc_addr_str(const rc_addr *a, char *buf, size_t len);

/*
 * Run one command on a pooled connection with the command timeout.
 * Returns VBX_OK with *out (free with freeReplyObject), or VBX_EUNAVAIL.
 * An error reply is returned as VBX_OK with type REDIS_REPLY_ERROR,
 * except READONLY, which triggers a re-resolve and answers VBX_EUNAVAIL.
 */
int rc_command(rcache *r, redisReply **out, int argc, const char **argv,
               const size_t *lens);

/* prefix + key into buf (VBX_CACHE_KEY_MAX + RC_PREFIX_MAX); VBX_EINVAL
 * for a bad key (empty, too long, a space or control character). */
int rc_key(const rcache *r, const char *key, const char *suffix, char *buf,
           size_t len);

/* ---- Lua scripts (script.c) ---- */

typedef struct rc_script {
	const char *text;
	char sha[41];
} rc_script;

/* Remember text (static) and its SHA1. Returns VBX_OK or VBX_ERR. */
int rc_script_init(rc_script *s, const char *text);

/*
 * Run a script with rc_command: argv[0] and argv[1] are filled here
 * (EVALSHA sha, or EVAL text when the server answers NOSCRIPT), the rest
 * is numkeys, keys and arguments with their lens. Returns as rc_command.
 */
int rc_eval(rcache *r, const rc_script *s, redisReply **out, int argc,
            const char **argv, size_t *lens);

/* Warn that a script's reply is not one it returns (what: "lock" or
 * "rate", key: its key), with the server's error text when it sent one.
 * Borrows its arguments. */
void rc_warn_reply(rcache *r, const char *what, const char *key,
                   const redisReply *rep);

/* ---- the hooks ---- */

int rc_kv_register(rcache *r);
int rc_rate_register(rcache *r);
int rc_lock_register(rcache *r);
int rc_pubsub_register(rcache *r);
int rc_pubsub_start(rcache *r);
void rc_pubsub_stop(rcache *r);
void rc_pubsub_free(rcache *r);

/* ---- sentinel (sentinel.c) ---- */

/* Ask the sentinels, in order, for the master's address. Returns VBX_OK
 * or VBX_EUNAVAIL with err. */
int rc_sentinel_master(rcache *r, rc_addr *out, int64_t deadline, char *err,
                       size_t errlen);
/* The thread that follows +switch-master on a sentinel. */
int rc_sentinel_watch_start(rcache *r);
void rc_sentinel_watch_stop(rcache *r);

#endif
