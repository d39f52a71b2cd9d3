/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logstream.c - /api/v1/environments/{id}/logs/stream, subprotocol
 * vibebox.logs.v1: the container's stdout and stderr, the last `tail`
 * lines then followed, one JSON text frame per line:
 *
 *     {"stream":"stdout","time":"2026-11-27T12:04:51.123456789Z",
 *      "line":"listening on :8080"}
 *
 * The stream is read on the daemon's pump thread (stream.h). Each channel has
 * a line buffer; a partial line waits for its newline, a line over 64 KiB
 * is sent in 64 KiB pieces. When the socket's queue is full (VBX_EAGAIN)
 * the stream is not read until the drain callback, so a slow client
 * slows the engine's stream, not the daemon's memory. At the end of the
 * logs (the container stopped) the socket closes with 1000.
 *
 * A stream costs an engine connection and two line buffers, so one user
 * may follow logs.max_streams_per_user at once and the instance
 * logs.max_streams (4429 and 4503 past them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envs.h"
#include "term.h"

#define READ_CHUNK (16u << 10)
#define LINE_BUF (VBX__LOG_LINE_MAX + READ_CHUNK)
#define TAIL_MAX 100000

static vbx_hook *h_logs;

/* ---- how many streams: per user and in all ---- */

typedef struct logs_owner {
	struct logs_owner *next;
	char id[VBX__OWNER_LEN]; /* a user id, "" for none */
	int n;
} logs_owner;

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static vbx__logs_limits logs_lim = {256, 8};
static logs_owner *owners; /* those with a stream open */
static int streams_open;

static logs_owner **owner_find(const char *id)
{
	logs_owner **o = &owners;
	while (*o && strcmp((*o)->id, id) != 0)
		o = &(*o)->next;
	return o;
}

/* Take a stream's slot for user id: 0, or the close code to refuse with
 * (4429: the user's cap, 4503: the instance's or out of memory). */
static int slot_take(const char *id)
{
	int code = 0;
	pthread_mutex_lock(&slots_lock);
	logs_owner **o = owner_find(id);
	if (streams_open >= logs_lim.max_streams)
		code = 4503;
	else if (*o && (*o)->n >= logs_lim.max_per_user)
		code = 4429;
	else if (!*o && (*o = calloc(1, sizeof(**o))) == NULL)
		code = 4503;
	if (!code) {
		snprintf((*o)->id, sizeof((*o)->id), "%s", id);
		(*o)->n++;
		streams_open++;
	}
	pthread_mutex_unlock(&slots_lock);
	return code;
}

static void slot_give(const char *id)
{
	pthread_mutex_lock(&slots_lock);
	logs_owner **o = owner_find(id), *gone = *o;
	if (gone) {
		streams_open--;
		if (--gone->n == 0) {
			*o = gone->next;
			free(gone);
		}
	}
	pthread_mutex_unlock(&slots_lock);
}

static int slot_refuse(vbx_ws *ws, int code)
{
	vbx_ws_close(ws, code,
	             code == 4429 ? "you follow too many log streams "
	                            "(logs.max_streams_per_user); close one"
	                          : "too many log streams (logs.max_streams); "
	                            "try again later");
	return VBX_EAGAIN;
}

/* ---- following the stream ---- */

typedef struct line_buf {
	char buf[LINE_BUF];
	size_t start, len; /* pending bytes are buf[start, start + len) */
} line_buf;

typedef struct log_follow {
	vbx_pump_src src; /* first */
	vbx_ws *ws;
	bool gone;    /* the socket's close callback came: free f */
	bool dead;    /* the socket is closing: stop moving bytes */
	bool blocked; /* its queue is full: wait for drain */
	bool eof, closed_ws;
	char owner[VBX__OWNER_LEN]; /* whose slot it holds */
	line_buf ch[2];             /* stdout, stderr */
} log_follow;

/* Now as RFC 3339 with nanoseconds, as the engine stamps its lines: the
 * SDK's form with milliseconds, the fraction then widened. len is at
 * least VBX_TIME_LEN + 6. */
static void now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (vbx_time_format((int64_t)ts.tv_sec * 1000, buf, len) == VBX_OK)
		snprintf(buf + 19, len - 19, ".%09ldZ", ts.tv_nsec);
}

/* Send one line; false when the socket cannot take it now. */
static bool send_line(log_follow *f, int channel, const char *line, size_t len)
{
	char now[48];
	now_rfc3339(now, sizeof(now));
	size_t n = 0;
	char *json = vbx__logline_json(channel, line, len, now, &n);
	if (!json)
		return false;
	int rc = vbx_ws_send(f->ws, json, n, 0);
	free(json);
	if (rc == VBX_EAGAIN) {
		f->blocked = true;
		return false;
	}
	if (rc != VBX_OK)
		f->dead = true; /* closing: its close callback follows */
	return rc == VBX_OK;
}

/* Send the complete lines of one channel (all of it when flush). */
static void emit_lines(log_follow *f, int idx, bool flush)
{
	line_buf *b = &f->ch[idx];
	while (b->len && !f->blocked && !f->dead) {
		const char *p = b->buf + b->start;
		const char *nl = memchr(p, '\n', b->len);
		size_t line = nl ? (size_t)(nl - p) : b->len;
		size_t used = nl ? line + 1 : line;
		if (line > VBX__LOG_LINE_MAX)
			line = used = VBX__LOG_LINE_MAX;
		else if (!nl && line < VBX__LOG_LINE_MAX && !flush)
			break; /* a partial line waits for its newline */
		if (!send_line(f,
		               idx == 0 ? VBX_STREAM_STDOUT : VBX_STREAM_STDERR,
		               p, line))
			return;
		b->start += used;
		b->len -= used;
	}
	if (!b->len)
		b->start = 0;
}

static void compact(line_buf *b)
{
	if (b->start) {
		memmove(b->buf, b->buf + b->start, b->len);
		b->start = 0;
	}
}

static unsigned follow_read(log_follow *f)
{
	vbx_stream *st = f->src.stream;
	size_t budget = 256u << 10;
	while (!f->blocked && !f->dead && budget) {
		/* after emit_lines each buffer holds less than a line's cap,
		 * so a chunk fits whichever channel it belongs to */
		char tmp[READ_CHUNK];
		int channel = VBX_STREAM_STDOUT;
		ssize_t r = st->ops->read(st, tmp, sizeof(tmp), &channel);
		if (r == VBX_EAGAIN)
			return VBX_PUMP_READ;
		if (r <= 0) {
			if (r < 0)
				vbx_log_info(
				        vbx__platform, "logs stream: read: %s",
				        vbx_strerror(vbx__platform, (int)r));
			f->eof = true;
			return VBX_PUMP_CLOSE;
		}
		int idx = channel == VBX_STREAM_STDERR ? 1 : 0;
		line_buf *b = &f->ch[idx];
		compact(b);
		memcpy(b->buf + b->len, tmp, (size_t)r);
		b->len += (size_t)r;
		budget -= (size_t)r < budget ? (size_t)r : budget;
		emit_lines(f, idx, false);
	}
	return f->blocked || f->dead ? 0 : VBX_PUMP_AGAIN;
}

static unsigned follow_service(vbx_pump_src *src, unsigned ready, int64_t now,
                               int64_t *deadline)
{
	log_follow *f = (log_follow *)src;
	if (f->gone)
		return VBX_PUMP_FREE;
	if (f->dead)
		return src->stream ? VBX_PUMP_CLOSE : 0;
	bool end = f->eof && !src->stream;
	emit_lines(f, 0, end);
	emit_lines(f, 1, end);
	if (f->blocked || f->dead)
		return f->dead && src->stream ? VBX_PUMP_CLOSE : 0;
	if (end) {
		if (!f->closed_ws) {
			f->closed_ws = true;
			vbx_ws_close(f->ws, 1000, "end of the logs");
		}
		return 0; /* freed when the close callback comes */
	}
	if (f->eof)
		return 0;
	return follow_read(f);
}

static void follow_closed(vbx_pump_src *src, int rc, int exit_code)
{
}

static void follow_blocking(vbx_pump_src *src)
{
}

static void follow_free(vbx_pump_src *src)
{
	log_follow *f = (log_follow *)src;
	slot_give(f->owner);
	vbx_ws_unref(f->ws);
	free(f);
}

static const vbx_pump_ops follow_ops = {
        .service = follow_service,
        .blocking = follow_blocking,
        .closed = follow_closed,
        .free = follow_free,
};

/* ---- the query ---- */

static bool digits(const char *s, long long max, long long *out)
{
	long long v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static int parse_logs_query(vbx_ws *ws, vbx_logs_opts *o)
{
	const char *tail = vbx_ws_query(ws, "tail");
	const char *since = vbx_ws_query(ws, "since");
	long long v = 100;
	*o = (vbx_logs_opts){.tail = 100, .follow = true, .timestamps = true};
	if (tail && strcmp(tail, "all") == 0)
		v = -1;
	else if (tail && !digits(tail, TAIL_MAX, &v)) {
		vbx_ws_close(ws, 4400, "tail must be 0..100000 or \"all\"");
		return VBX_EINVAL;
	}
	o->tail = (int)v;
	/* The same ?since= as GET .../logs (envparse.c). */
	if (since && vbx__env_since_parse(since, &o->since) != VBX_OK) {
		vbx_ws_close(ws, 4400,
		             "since must be Unix seconds or an "
		             "RFC 3339 time");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

/* ---- the route ---- */

static int logs_fail(vbx_ws *ws, int rc)
{
	if (rc == VBX_ENOTFOUND)
		vbx_ws_close(ws, 4409,
		             "the environment's container is gone; "
		             "start the environment");
	else if (rc == VBX_EUNAVAIL)
		vbx_ws_close(ws, 4503,
		             "the runtime is unavailable (no "
		             "runtime plugin, or its engine is "
		             "down)");
	else
		vbx_ws_close(ws, 4500,
		             "reading the logs failed; see the "
		             "daemon's log");
	return rc;
}

/* Follow st for ws; owner's slot passes to the follower (freed with it)
 * or is given back on failure. */
static int start_follow(vbx_ws *ws, vbx_stream *st, const char *owner)
{
	vbx_pump *p = vbx__terminal_pump();
	log_follow *f = p ? calloc(1, sizeof(*f)) : NULL;
	if (!f) {
		slot_give(owner);
		st->ops->close(st, NULL);
		vbx_ws_close(ws, 4500, "out of memory");
		return VBX_ENOMEM;
	}
	vbx_ws_ref(ws);
	f->ws = ws;
	snprintf(f->owner, sizeof(f->owner), "%s", owner);
	vbx_ws_set_data(ws, f);
	if (vbx_pump_add(p, &f->src, &follow_ops, st) != VBX_OK) {
		vbx_ws_set_data(ws, NULL);
		vbx_ws_unref(ws);
		free(f);
		slot_give(owner);
		st->ops->close(st, NULL);
		vbx_ws_close(ws, 4500, "the logs could not be followed");
		return VBX_ERR;
	}
	return VBX_OK;
}

static int logs_open(void *ud, vbx_ws *ws)
{
	const char *id = vbx__ws_env_id(ws);
	vbx_logs_opts opts;
	vbx_env env;
	if (!id)
		return VBX_ENOTFOUND;
	int rc = vbx__ws_env_authorize(ws, "read", id);
	if (rc != VBX_OK || (rc = parse_logs_query(ws, &opts)) != VBX_OK ||
	    (rc = vbx__ws_env_get(ws, id, &env)) != VBX_OK)
		return rc;
	if (!env.container_id[0]) {
		vbx_ws_close(ws, 4409,
		             "the environment has no container "
		             "yet; start it first");
		return VBX_ESTATE;
	}
	const vbx_principal *who = vbx_ws_principal(ws);
	const char *owner = who ? who->user_id : "";
	int code = slot_take(owner);
	if (code)
		return slot_refuse(ws, code);
	vbx_stream *st = NULL;
	rc = vbx_hook_runtime_logs_run(h_logs, env.container_id, &opts, &st);
	if (rc != VBX_OK || !st) {
		slot_give(owner);
		return logs_fail(ws, rc == VBX_OK ? VBX_ERR : rc);
	}
	return start_follow(ws, st, owner);
}

static void logs_drain(void *ud, vbx_ws *ws)
{
	log_follow *f = vbx_ws_data(ws);
	if (!f)
		return;
	vbx_pump_lock(f->src.pump);
	f->blocked = false;
	vbx_pump_kick(&f->src);
	vbx_pump_unlock(f->src.pump);
}

static void logs_close(void *ud, vbx_ws *ws, int code)
{
	log_follow *f = vbx_ws_data(ws);
	vbx_ws_set_data(ws, NULL);
	if (!f)
		return;
	vbx_pump_lock(f->src.pump);
	f->gone = true;
	vbx_pump_kick(&f->src);
	vbx_pump_unlock(f->src.pump);
}

/* A worker, after a change of the principal's access: a viewer may
 * still read, a removed member may not. */
static int logs_recheck(void *ud, vbx_ws *ws)
{
	return vbx__ws_env_recheck(ws, "read");
}

static const vbx_ws_ops logs_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = logs_open,
        .drain = logs_drain,
        .close = logs_close,
        .recheck = logs_recheck,
};

void vbx__logs_ws_register(vbx_plugin *core, const vbx__logs_limits *lim)
{
	pthread_mutex_lock(&slots_lock);
	logs_lim = *lim;
	pthread_mutex_unlock(&slots_lock);
	h_logs = vbx_hook_runtime_logs_get(core);
	if (!h_logs) {
		vbx_log_error(
		        vbx__platform,
		        "runtime_logs is declared with another signature "
		        "than the daemon's; /api/v1/environments/{id}/logs/"
		        "stream is not served");
		return;
	}
	vbx_ws_route_add(core, "/api/v1/environments/{id}/logs/stream",
	                 "vibebox.logs.v1", 0, &logs_ops, NULL);
}
