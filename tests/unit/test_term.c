/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_term.c - terminal sessions (plugins/platform/term.c, on the
 * core's stream pump) without Docker: the
 * streams are a socketpair (the test plays the process) or a real pty
 * running /bin/sh, the viewers are recorders standing in for WebSockets.
 * Also the frame parser with broken frames, and the JSON of log lines.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pump.h"
#include "term.h"

/* plugin.c's: the plugin term.c logs as. */
vbx_plugin *vbx__platform;

#define ENV_ID "11111111-2222-4333-8444-555555555555"
#define OTHER_ENV "11111111-2222-4333-8444-666666666666"

/* ---- a stream over a descriptor ---- */

static int streams_closed;
static pthread_mutex_t closed_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct fd_stream {
	vbx_stream base;
	int fd;
	pid_t pid; /* a pty's shell, 0 for a socketpair */
	unsigned cols, rows;
} fd_stream;

static int fs_fd(vbx_stream *s)
{
	return ((fd_stream *)s)->fd;
}

static ssize_t fs_read(vbx_stream *s, void *buf, size_t len, int *channel)
{
	fd_stream *f = (fd_stream *)s;
	*channel = VBX_STREAM_STDOUT;
	ssize_t r = read(f->fd, buf, len);
	if (r >= 0)
		return r;
	if (errno == EAGAIN)
		return VBX_EAGAIN;
	return errno == EIO ? 0 : VBX_ERR; /* EIO: the pty's shell left */
}

static ssize_t fs_write(vbx_stream *s, const void *buf, size_t len)
{
	ssize_t r = write(((fd_stream *)s)->fd, buf, len);
	if (r >= 0)
		return r;
	return errno == EAGAIN ? VBX_EAGAIN : VBX_ERR;
}

static int fs_resize(vbx_stream *s, unsigned cols, unsigned rows)
{
	fd_stream *f = (fd_stream *)s;
	struct winsize ws = {.ws_col = (unsigned short)cols,
	                     .ws_row = (unsigned short)rows};
	f->cols = cols;
	f->rows = rows;
	return f->pid && ioctl(f->fd, TIOCSWINSZ, &ws) != 0 ? VBX_ERR : VBX_OK;
}

static int fs_close(vbx_stream *s, int *exit_code)
{
	fd_stream *f = (fd_stream *)s;
	int code = -1, st;
	close(f->fd);
	if (f->pid && waitpid(f->pid, &st, 0) == f->pid && WIFEXITED(st))
		code = WEXITSTATUS(st);
	if (exit_code)
		*exit_code = code;
	free(f);
	pthread_mutex_lock(&closed_lock);
	streams_closed++;
	pthread_mutex_unlock(&closed_lock);
	return VBX_OK;
}

static const vbx_stream_ops fs_ops = {
        .fd = fs_fd,
        .read = fs_read,
        .write = fs_write,
        .resize = fs_resize,
        .close = fs_close,
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A stream whose "process" is the test: it writes output to *peer. */
static vbx_stream *pair_stream(int *peer)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd_stream *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->base.ops = &fs_ops;
	f->fd = sv[0];
	set_nonblock(sv[0]);
	*peer = sv[1];
	return &f->base;
}

/* A stream of /bin/sh on a pty. */
static vbx_stream *shell_stream(void)
{
	int master;
	struct winsize ws = {.ws_col = 80, .ws_row = 24};
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("PS1", "$ ", 1);
		execl("/bin/sh", "sh", (char *)NULL);
		_exit(127);
	}
	fd_stream *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->base.ops = &fs_ops;
	f->fd = master;
	f->pid = pid;
	set_nonblock(master);
	return &f->base;
}

/* ---- a viewer that records its frames ---- */

typedef struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	vbx__term_viewer *v;
	int nhello;
	char hello[256];
	uint64_t start, next; /* hello's offset; the next offset expected */
	uint64_t acked;       /* what the test acknowledged */
	unsigned char *out;   /* output since start */
	size_t out_len, out_cap;
	bool bad_offset, bad_order;
	bool got_exit;
	char exit_json[256];
	int close_code;
	char close_reason[128];
	int paused, pause_calls;
	bool released;
	size_t queued, cap; /* cap > 0: a send queue that fills */
	bool want_drain;
} rec;

static uint64_t json_u64(const char *json, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(json, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : UINT64_MAX;
}

static void rec_output(rec *r, const unsigned char *b, size_t len)
{
	uint64_t off = vbx__term_get_u64(b + 1);
	size_t n = len - VBX__TERM_OUTPUT_HDR;
	if (!r->nhello || r->got_exit)
		r->bad_order = true;
	if (off != r->next)
		r->bad_offset = true;
	if (r->out_len + n > r->out_cap) {
		r->out_cap = (r->out_len + n) * 2;
		r->out = realloc(r->out, r->out_cap);
		assert_non_null(r->out);
	}
	memcpy(r->out + r->out_len, b + VBX__TERM_OUTPUT_HDR, n);
	r->out_len += n;
	r->next += n;
}

static int rec_send(void *sink, const void *data, size_t len, int binary)
{
	rec *r = sink;
	const unsigned char *b = data;
	int rc = VBX_OK;
	pthread_mutex_lock(&r->lock);
	if (r->cap && r->queued && r->queued + len > r->cap) {
		r->want_drain = true;
		rc = VBX_EAGAIN;
	} else if (r->close_code) {
		rc = VBX_ESTATE;
	} else {
		r->queued += len;
		if (!binary || len == 0)
			r->bad_order = true;
		else if (b[0] == VBX__TERM_HELLO) {
			snprintf(r->hello, sizeof(r->hello), "%.*s",
			         (int)len - 1, (const char *)b + 1);
			r->nhello++;
			r->start = r->next = json_u64(r->hello, "offset");
			r->acked = r->start;
		} else if (b[0] == VBX__TERM_OUTPUT && len > 9) {
			rec_output(r, b, len);
		} else if (b[0] == VBX__TERM_EXIT) {
			snprintf(r->exit_json, sizeof(r->exit_json), "%.*s",
			         (int)len - 1, (const char *)b + 1);
			r->got_exit = true;
		} else {
			r->bad_order = true;
		}
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void rec_close(void *sink, int code, const char *reason)
{
	rec *r = sink;
	pthread_mutex_lock(&r->lock);
	if (!r->close_code) {
		r->close_code = code;
		snprintf(r->close_reason, sizeof(r->close_reason), "%s",
		         reason);
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void rec_pause(void *sink, int paused)
{
	rec *r = sink;
	pthread_mutex_lock(&r->lock);
	r->paused = paused;
	r->pause_calls++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void rec_release(void *sink)
{
	rec *r = sink;
	pthread_mutex_lock(&r->lock);
	r->released = true;
	pthread_mutex_unlock(&r->lock);
}

static const vbx__term_sink_ops rec_ops = {
        .send = rec_send,
        .close = rec_close,
        .pause = rec_pause,
        .release = rec_release,
};

static rec *rec_new(size_t cap)
{
	rec *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->cap = cap;
	return r;
}

static void rec_free(rec *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->out);
	free(r);
}

/* ---- the test's side of the protocol ---- */

static int send_frame(rec *r, const void *b, size_t len)
{
	return vbx__term_message(r->v, b, len, 1);
}

static int send_ack(rec *r, uint64_t off)
{
	unsigned char b[9] = {VBX__TERM_ACK};
	vbx__term_put_u64(b + 1, off);
	pthread_mutex_lock(&r->lock);
	r->acked = off;
	pthread_mutex_unlock(&r->lock);
	return send_frame(r, b, sizeof(b));
}

static int send_input(rec *r, const char *s)
{
	size_t n = strlen(s);
	unsigned char *b = malloc(n + 1);
	assert_non_null(b);
	b[0] = VBX__TERM_INPUT;
	memcpy(b + 1, s, n);
	int rc = send_frame(r, b, n + 1);
	free(b);
	return rc;
}

/* Empty the recorder's queue as a socket would; drain when it was full. */
static void consume(rec *r)
{
	pthread_mutex_lock(&r->lock);
	bool drain = r->want_drain;
	r->want_drain = false;
	r->queued = 0;
	pthread_mutex_unlock(&r->lock);
	if (drain && r->v)
		vbx__term_drain(r->v);
}

typedef bool rec_pred(rec *r, const void *arg);

/* Wait up to ms for pred (checked under the recorder's lock), consuming
 * and, with autoack, acknowledging everything received. */
static bool wait_for(rec *r, rec_pred *pred, const void *arg, bool autoack,
                     int ms)
{
	int64_t end = vbx__pump_now_ms() + ms;
	for (;;) {
		consume(r);
		pthread_mutex_lock(&r->lock);
		uint64_t next = r->next, acked = r->acked;
		bool ok = pred(r, arg), closed = r->close_code != 0;
		pthread_mutex_unlock(&r->lock);
		if (ok)
			return true;
		if (autoack && next > acked && !closed)
			send_ack(r, next);
		if (vbx__pump_now_ms() >= end)
			return false;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&r->lock);
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		pthread_mutex_unlock(&r->lock);
	}
}

static bool has_bytes(rec *r, const void *arg)
{
	return r->out_len >= *(const size_t *)arg;
}

static bool has_text(rec *r, const void *arg)
{
	return r->out_len &&
	       memmem(r->out, r->out_len, arg, strlen(arg)) != NULL;
}

static bool has_exit(rec *r, const void *arg)
{
	return r->got_exit && r->close_code != 0;
}

static bool is_paused(rec *r, const void *arg)
{
	return r->paused == *(const int *)arg && r->pause_calls > 0;
}

static bool always(rec *r, const void *arg)
{
	return false;
}

/* Let the pump run for ms while the recorder consumes (no acks). */
static void settle(rec *r, int ms)
{
	wait_for(r, always, NULL, false, ms);
}

static unsigned char pattern(uint64_t i)
{
	return (unsigned char)(i * 7 % 251);
}

static void write_pattern(int fd, uint64_t from, size_t n)
{
	unsigned char buf[4096];
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(from + i);
		ssize_t w = write(fd, buf, k);
		assert_true(w > 0);
		from += (size_t)w;
		n -= (size_t)w;
	}
}

static void check_pattern(const rec *r, size_t n)
{
	assert_true(r->out_len >= n);
	for (size_t i = 0; i < n; i++)
		if (r->out[i] != pattern(r->start + i))
			fail_msg("byte %zu (offset %llu) differs", i,
			         (unsigned long long)(r->start + i));
}

/* ---- fixtures ---- */

typedef struct fix {
	vbx_pump *pump;
	vbx__term *term;
	int activity;
} fix;

static void on_activity(void *ud, const char *env_id)
{
	((fix *)ud)->activity++;
}

static fix *fix_new_lim(const vbx__term_limits *lim)
{
	fix *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->pump = vbx__pump_new();
	assert_non_null(f->pump);
	f->term = vbx__term_new(f->pump, lim, on_activity, f);
	assert_non_null(f->term);
	return f;
}

static fix *fix_new(uint64_t window, uint64_t buffer, int64_t linger_ms,
                    int max)
{
	vbx__term_limits lim = {.window = window,
	                        .buffer = buffer,
	                        .linger_ms = linger_ms,
	                        .max_sessions = max};
	return fix_new_lim(&lim);
}

/* Long linger, room on the instance, the given shares. */
static fix *fix_shares(int per_user, int per_env)
{
	vbx__term_limits lim = {.window = 4096,
	                        .buffer = 8192,
	                        .linger_ms = 600000,
	                        .max_sessions = 100,
	                        .max_per_user = per_user,
	                        .max_per_env = per_env};
	return fix_new_lim(&lim);
}

static void fix_free(fix *f)
{
	vbx__pump_free(f->pump);
	vbx__term_free(f->term);
	free(f);
}

#define ANN "aaaaaaaa-0000-4000-8000-000000000001"
#define BOB "bbbbbbbb-0000-4000-8000-000000000002"

/* A new session of owner on env, with its reservation; VBX_OK or the
 * reservation's refusal (*full says which cap). */
static int open_as(fix *f, rec *r, vbx_stream *st, const char *owner,
                   const char *env, enum vbx__term_full *full)
{
	vbx__term_start start = {.owner = owner};
	int rc = vbx__term_reserve(f->term, owner, env, full);
	if (rc != VBX_OK) {
		st->ops->close(st,
		               NULL); /* refused: the stream is still ours */
		return rc;
	}
	assert_int_equal(
	        vbx__term_attach(f->term, env, &start, st, &rec_ops, r, &r->v),
	        VBX_OK);
	return VBX_OK;
}

static void attach_new(fix *f, rec *r, vbx_stream *st)
{
	assert_int_equal(open_as(f, r, st, ANN, ENV_ID, NULL), VBX_OK);
}

static int attach_to(fix *f, rec *r, const char *sid, bool has_offset,
                     uint64_t offset)
{
	vbx__term_start start = {
	        .session = sid, .has_offset = has_offset, .offset = offset};
	return vbx__term_attach(f->term, ENV_ID, &start, NULL, &rec_ops, r,
	                        &r->v);
}

static void detach(rec *r)
{
	vbx__term_detach(r->v);
	r->v = NULL;
	assert_true(r->released);
}

/* ---- frames ---- */

static void test_frame_parse(void **state)
{
	vbx__term_frame f;
	const char *why;
	const unsigned char in[] = {0x00, 'l', 's', '\n'};
	assert_int_equal(vbx__term_frame_parse(in, sizeof(in), &f, &why), 0);
	assert_int_equal(f.type, VBX__TERM_INPUT);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.data, "ls\n", 3);

	const unsigned char empty_in[] = {0x00};
	assert_int_equal(vbx__term_frame_parse(empty_in, 1, &f, &why), 0);
	assert_int_equal(f.len, 0);

	const unsigned char rs[] = {0x01, 0x00, 0x78, 0x00, 0x28};
	assert_int_equal(vbx__term_frame_parse(rs, sizeof(rs), &f, &why), 0);
	assert_int_equal(f.cols, 120);
	assert_int_equal(f.rows, 40);

	const unsigned char ack[] = {0x02, 0, 0, 0, 1, 0, 0, 0, 2};
	assert_int_equal(vbx__term_frame_parse(ack, sizeof(ack), &f, &why), 0);
	assert_true(f.ack == ((uint64_t)1 << 32 | 2));
}

static void test_frame_parse_broken(void **state)
{
	vbx__term_frame f;
	const char *why = NULL;
	static const struct {
		unsigned char b[12];
		size_t len;
		int code;
	} cases[] = {
	        {{0}, 0, 1002},                         /* empty */
	        {{0x03}, 1, 1002},                      /* unknown */
	        {{0x80, 1, 2}, 3, 1002},                /* a server's */
	        {{0xff}, 1, 1002},                      /* unknown */
	        {{0x01, 0, 80, 0}, 4, 1002},            /* short resize */
	        {{0x01, 0, 80, 0, 24, 0}, 6, 1002},     /* long resize */
	        {{0x01}, 1, 1002},                      /* bare resize */
	        {{0x01, 0, 0, 0, 24}, 5, 1007},         /* 0 cols */
	        {{0x01, 0, 80, 0, 0}, 5, 1007},         /* 0 rows */
	        {{0x01, 0x03, 0xe9, 0, 24}, 5, 1007},   /* 1001 cols */
	        {{0x01, 0, 80, 0xff, 0xff}, 5, 1007},   /* 65535 rows */
	        {{0x02, 0, 0, 0, 0, 0, 0, 1}, 8, 1002}, /* short ack */
	        {{0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 10, 1002}, /* long ack */
	        {{0x02}, 1, 1002},                             /* bare ack */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		int code = vbx__term_frame_parse(cases[i].b, cases[i].len, &f,
		                                 &why);
		if (code != cases[i].code)
			fail_msg("case %zu: got %d, want %d", i, code,
			         cases[i].code);
		assert_non_null(why);
		assert_true(strlen(why) > 0);
	}
	/* the largest size is fine */
	const unsigned char max[] = {0x01, 0x03, 0xe8, 0x03, 0xe8};
	assert_int_equal(vbx__term_frame_parse(max, 5, &f, &why), 0);
	assert_int_equal(f.cols, 1000);
}

static void test_u64(void **state)
{
	unsigned char b[8];
	vbx__term_put_u64(b, UINT64_C(0x0102030405060708));
	const unsigned char want[] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(b, want, 8);
	assert_true(vbx__term_get_u64(b) == UINT64_C(0x0102030405060708));
	vbx__term_put_u64(b, UINT64_MAX);
	assert_true(vbx__term_get_u64(b) == UINT64_MAX);
}

/* ---- sessions ---- */

typedef struct writer {
	int fd;
	size_t n;
} writer;

static void *writer_main(void *arg)
{
	writer *w = arg;
	write_pattern(w->fd, 0, w->n);
	return NULL;
}

/* 1 MB through a ring of 8 KiB: it wraps again and again, every byte
 * arrives in order, and a send queue that fills (VBX_EAGAIN) resumes on
 * drain. */
static void test_ring_wrap(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *r = rec_new(5000);
	int peer;
	attach_new(f, r, pair_stream(&peer));
	assert_int_equal(r->nhello, 1);
	assert_true(strstr(r->hello, "\"window\":4096") != NULL);
	assert_null(strstr(r->hello, "gap"));
	writer w = {peer, 1000000};
	pthread_t th;
	pthread_create(&th, NULL, writer_main, &w);
	size_t want = w.n;
	assert_true(wait_for(r, has_bytes, &want, true, 20000));
	pthread_join(th, NULL);
	assert_false(r->bad_offset);
	assert_false(r->bad_order);
	assert_int_equal(r->out_len, want);
	check_pattern(r, want);
	detach(r);
	close(peer);
	fix_free(f);
	rec_free(r);
}

/* Without acks the viewer gets one window and the process is not read
 * any further; each ack lets one more window through. */
static void test_window_pause_resume(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *r = rec_new(0);
	int peer;
	vbx_stream *st = pair_stream(&peer);
	int fd = ((fd_stream *)st)->fd;
	attach_new(f, r, st);
	write_pattern(peer, 0, 16384);
	size_t want = 4096;
	assert_true(wait_for(r, has_bytes, &want, false, 5000));
	settle(r, 200);
	assert_int_equal(r->out_len, 4096);
	int unread = 0;
	assert_int_equal(ioctl(fd, FIONREAD, &unread), 0);
	assert_int_equal(unread, 16384 - 4096);

	assert_int_equal(send_ack(r, 4096), 0);
	want = 8192;
	assert_true(wait_for(r, has_bytes, &want, false, 5000));
	settle(r, 200);
	assert_int_equal(r->out_len, 8192);

	want = 16384;
	assert_true(wait_for(r, has_bytes, &want, true, 5000));
	check_pattern(r, want);
	assert_false(r->bad_offset);
	detach(r);
	close(peer);
	fix_free(f);
	rec_free(r);
}

/* Two viewers see the same bytes; the one that does not ack holds the
 * process back for both. */
static void test_two_viewers(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *a = rec_new(0), *b = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	assert_int_equal(attach_to(f, b, sid, false, 0), VBX_OK);
	assert_int_equal(b->nhello, 1);
	assert_true(strstr(b->hello, sid) != NULL);
	write_pattern(peer, 0, 10000);
	size_t want = 4096;
	assert_true(wait_for(a, has_bytes, &want, true, 5000));
	settle(a, 200); /* a acks, b does not */
	assert_int_equal(a->out_len, 4096);
	assert_int_equal(b->out_len, 4096);
	want = 10000;
	for (int i = 0; i < 400 && (a->out_len < want || b->out_len < want);
	     i++) {
		wait_for(a, has_bytes, &want, true, 10);
		wait_for(b, has_bytes, &want, true, 10);
	}
	assert_int_equal(a->out_len, want);
	assert_int_equal(b->out_len, want);
	assert_memory_equal(a->out, b->out, want);
	check_pattern(a, want);
	detach(a);
	detach(b);
	close(peer);
	fix_free(f);
	rec_free(a);
	rec_free(b);
}

/* A viewer joining behind the others gets one window, then waits for
 * its own acks. */
static void test_joining_viewer_window(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *a = rec_new(0), *b = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	write_pattern(peer, 0, 8000);
	size_t want = 8000;
	assert_true(wait_for(a, has_bytes, &want, true, 5000));
	assert_int_equal(attach_to(f, b, sid, true, 0), VBX_OK);
	assert_null(strstr(b->hello, "gap"));
	want = 4096;
	assert_true(wait_for(b, has_bytes, &want, false, 5000));
	settle(b, 200);
	assert_int_equal(b->out_len, 4096);
	want = 8000;
	assert_true(wait_for(b, has_bytes, &want, true, 5000));
	check_pattern(b, want);
	detach(a);
	detach(b);
	close(peer);
	fix_free(f);
	rec_free(a);
	rec_free(b);
}

/* A viewer that left comes back at the offset it acked and gets exactly
 * the bytes after it: while nobody watches, the process is read no more
 * than a window past that ack, so a ring of one window still has them. */
static void test_resume_without_gap(void **state)
{
	fix *f = fix_new(4096, 4096, 10000, 4);
	rec *a = rec_new(0), *b = rec_new(0), *c = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	write_pattern(peer, 0, 3000);
	size_t want = 3000;
	assert_true(wait_for(a, has_bytes, &want, false, 5000));
	assert_int_equal(send_ack(a, 1000), 0);
	detach(a);

	/* the process goes on while nobody watches */
	write_pattern(peer, 3000, 5000);
	settle(b, 100);
	assert_int_equal(attach_to(f, b, sid, true, 1000), VBX_OK);
	assert_int_equal(json_u64(b->hello, "offset"), 1000);
	assert_null(strstr(b->hello, "gap"));
	want = 7000;
	assert_true(wait_for(b, has_bytes, &want, true, 5000));
	settle(b, 100);
	assert_int_equal(b->out_len, 7000);
	check_pattern(b, want);
	assert_false(b->bad_offset);

	/* from an offset it had received but not acked */
	assert_int_equal(attach_to(f, c, sid, true, 7500), VBX_OK);
	assert_int_equal(json_u64(c->hello, "offset"), 7500);
	want = 500;
	assert_true(wait_for(c, has_bytes, &want, true, 5000));
	check_pattern(c, want);
	detach(b);
	detach(c);
	close(peer);
	fix_free(f);
	rec_free(a);
	rec_free(b);
	rec_free(c);
}

/* Bytes older than the ring are gone: the hello says how many. */
static void test_resume_with_gap(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *a = rec_new(0), *b = rec_new(0), *c = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	write_pattern(peer, 0, 20000);
	size_t want = 20000;
	assert_true(wait_for(a, has_bytes, &want, true, 5000));
	detach(a);
	assert_int_equal(attach_to(f, b, sid, true, 0), VBX_OK);
	assert_int_equal(json_u64(b->hello, "offset"), 20000 - 8192);
	assert_int_equal(json_u64(b->hello, "gap"), 20000 - 8192);
	want = 8192;
	assert_true(wait_for(b, has_bytes, &want, true, 5000));
	settle(b, 100);
	assert_int_equal(b->out_len, 8192);
	check_pattern(b, want);

	/* no offset: from the oldest byte kept, and no gap reported */
	assert_int_equal(attach_to(f, c, sid, false, 0), VBX_OK);
	assert_int_equal(json_u64(c->hello, "offset"), 20000 - 8192);
	assert_null(strstr(c->hello, "gap"));

	/* an offset beyond the output, an unknown session, another env */
	rec *d = rec_new(0);
	assert_int_equal(attach_to(f, d, sid, true, 20001), VBX_EINVAL);
	assert_int_equal(attach_to(f, d, "00000000-0000-4000-8000-000000000000",
	                           false, 0),
	                 VBX_ENOTFOUND);
	vbx__term_start start = {.session = sid};
	assert_int_equal(vbx__term_attach(f->term, OTHER_ENV, &start, NULL,
	                                  &rec_ops, d, &d->v),
	                 VBX_ENOTFOUND);
	assert_int_equal(d->nhello, 0);
	detach(b);
	detach(c);
	close(peer);
	fix_free(f);
	rec_free(a);
	rec_free(b);
	rec_free(c);
	rec_free(d);
}

/* A real shell: input is echoed, resize reaches the TTY, `exit 3` ends the
 * session with an exit frame carrying 3 and a close 1000. */
static void test_shell_exit_code(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *r = rec_new(0);
	attach_new(f, r, shell_stream());
	assert_int_equal(send_input(r, "echo he''llo\n"), 0);
	assert_true(wait_for(r, has_text, "hello", true, 5000));
	const unsigned char rs[] = {0x01, 0x00, 100, 0x00, 40};
	assert_int_equal(send_frame(r, rs, sizeof(rs)), 0);
	assert_int_equal(send_input(r, "stty size\n"), 0);
	assert_true(wait_for(r, has_text, "40 100", true, 5000));
	assert_int_equal(send_input(r, "exit 3\n"), 0);
	assert_true(wait_for(r, has_exit, NULL, true, 5000));
	assert_int_equal(json_u64(r->exit_json, "code"), 3);
	assert_int_equal(r->close_code, 1000);
	assert_false(r->bad_order);
	assert_true(f->activity == 0); /* once a minute at most */
	detach(r);
	/* exit delivered and no viewer left: the session ends */
	for (int i = 0; i < 200 && vbx__term_count(f->term); i++)
		usleep(5000);
	assert_int_equal(vbx__term_count(f->term), 0);
	fix_free(f);
	rec_free(r);
}

/* A viewer that dropped before the exit frame gets it on resume. */
static void test_exit_after_drop(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *a = rec_new(0), *b = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	detach(a);
	write_pattern(peer, 0, 100);
	close(peer); /* the process ends */
	settle(b, 100);
	assert_int_equal(vbx__term_count(f->term), 1);
	assert_int_equal(attach_to(f, b, sid, true, 0), VBX_OK);
	assert_true(wait_for(b, has_exit, NULL, true, 5000));
	assert_int_equal(b->out_len, 100);
	assert_true(json_u64(b->exit_json, "code") == (uint64_t)-1 ||
	            strstr(b->exit_json, "\"code\":-1") != NULL);
	detach(b);
	fix_free(f);
	rec_free(a);
	rec_free(b);
}

/* Input the process does not read fills a bounded queue, then the
 * viewer's socket is paused until the process reads again. */
static void test_input_backpressure(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 4);
	rec *r = rec_new(0);
	int peer;
	attach_new(f, r, pair_stream(&peer));
	static char chunk[16385];
	memset(chunk, 'i', sizeof(chunk) - 1);
	size_t sent = 0;
	int one = 1, zero = 0;
	while (sent < (64u << 20) && !r->paused) {
		assert_int_equal(send_input(r, chunk), 0);
		sent += sizeof(chunk) - 1;
		settle(r, 1);
	}
	assert_true(wait_for(r, is_paused, &one, false, 1000));
	size_t got = 0;
	char buf[65536];
	set_nonblock(peer);
	int64_t end = vbx__pump_now_ms() + 10000;
	while (got < sent && vbx__pump_now_ms() < end) {
		ssize_t n = read(peer, buf, sizeof(buf));
		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	assert_int_equal(got, sent);
	assert_true(wait_for(r, is_paused, &zero, false, 1000));
	detach(r);
	close(peer);
	fix_free(f);
	rec_free(r);
}

/* Broken client frames close the viewer's socket with a reason. */
static void test_broken_frames_close(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 8);
	rec *a = rec_new(0);
	int peer;
	char sid[37];
	attach_new(f, a, pair_stream(&peer));
	vbx__term_session_id(a->v, sid);
	write_pattern(peer, 0, 100);
	size_t want = 100;
	assert_true(wait_for(a, has_bytes, &want, false, 5000));

	struct {
		const unsigned char *b;
		size_t len;
		int binary, code;
		const char *reason;
	} cases[] = {
	        {(const unsigned char *)"\x00hi", 3, 0, 1003, "text"},
	        {(const unsigned char *)"\x07", 1, 1, 1002, "unknown"},
	        {(const unsigned char *)"", 0, 1, 1002, "empty"},
	        {(const unsigned char *)"\x01\x00\x50", 3, 1, 1002, "resize"},
	        {(const unsigned char *)"\x02\x00", 2, 1, 1002, "ack"},
	        {(const unsigned char *)"\x02\0\0\0\0\0\0\0\x65", 9, 1, 1007,
	         "beyond"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rec *r = rec_new(0);
		assert_int_equal(attach_to(f, r, sid, true, 0), VBX_OK);
		assert_true(wait_for(r, has_bytes, &want, false, 5000));
		int code = vbx__term_message(r->v, cases[i].b, cases[i].len,
		                             cases[i].binary);
		if (code != cases[i].code || r->close_code != code)
			fail_msg("case %zu: code %d, closed %d, want %d", i,
			         code, r->close_code, cases[i].code);
		assert_non_null(strstr(r->close_reason, cases[i].reason));
		/* later frames of a closed viewer are ignored */
		assert_int_equal(send_ack(r, 0), 0);
		detach(r);
		rec_free(r);
	}
	/* an ack going backwards */
	assert_int_equal(send_ack(a, 60), 0);
	assert_int_equal(send_ack(a, 60), 0); /* the same again is fine */
	assert_int_equal(send_ack(a, 50), 1007);
	assert_int_equal(a->close_code, 1007);
	assert_non_null(strstr(a->close_reason, "backwards"));
	detach(a);
	close(peer);
	fix_free(f);
	rec_free(a);
}

/* A session without sockets lives `linger`, then its stream is closed. */
static void test_linger_then_close(void **state)
{
	fix *f = fix_new(4096, 8192, 100, 4);
	rec *r = rec_new(0), *b = rec_new(0);
	int peer;
	char sid[37];
	pthread_mutex_lock(&closed_lock);
	int before = streams_closed;
	pthread_mutex_unlock(&closed_lock);
	attach_new(f, r, pair_stream(&peer));
	vbx__term_session_id(r->v, sid);
	detach(r);
	assert_int_equal(vbx__term_count(f->term), 1);
	for (int i = 0; i < 400 && vbx__term_count(f->term); i++)
		usleep(5000);
	assert_int_equal(vbx__term_count(f->term), 0);
	pthread_mutex_lock(&closed_lock);
	assert_int_equal(streams_closed, before + 1);
	pthread_mutex_unlock(&closed_lock);
	assert_int_equal(attach_to(f, b, sid, true, 0), VBX_ENOTFOUND);
	close(peer);
	fix_free(f);
	rec_free(r);
	rec_free(b);
}

static void test_max_sessions(void **state)
{
	fix *f = fix_new(4096, 8192, 10000, 2);
	rec *r = rec_new(0);
	int peer;
	enum vbx__term_full full = 0;
	attach_new(f, r, pair_stream(&peer)); /* one session */
	assert_int_equal(vbx__term_reserve(f->term, BOB, OTHER_ENV, NULL),
	                 VBX_OK);
	assert_int_equal(vbx__term_reserve(f->term, BOB, OTHER_ENV, &full),
	                 VBX_EAGAIN);
	assert_int_equal(full, VBX__TERM_FULL_INSTANCE);
	vbx__term_unreserve(f->term, BOB, OTHER_ENV);
	assert_int_equal(vbx__term_reserve(f->term, BOB, OTHER_ENV, NULL),
	                 VBX_OK);
	vbx__term_unreserve(f->term, BOB, OTHER_ENV);
	/* freeing the pump with a viewer attached releases it */
	fix_free(f);
	assert_true(r->released);
	close(peer);
	rec_free(r);
}

static int closed_streams(void)
{
	pthread_mutex_lock(&closed_lock);
	int n = streams_closed;
	pthread_mutex_unlock(&closed_lock);
	return n;
}

/* The per-user cap: another user still gets in; the owner's next session
 * reclaims the owner's session whose socket left first, and only one
 * without a socket. */
static void test_per_user_cap_and_reclaim(void **state)
{
	fix *f = fix_shares(3, 0);
	rec *a[4], *b = rec_new(0), *c = rec_new(0);
	int peer[6];
	char first[37], second[37];
	enum vbx__term_full full = 0;
	for (int i = 0; i < 3; i++) {
		a[i] = rec_new(0);
		assert_int_equal(open_as(f, a[i], pair_stream(&peer[i]), ANN,
		                         ENV_ID, NULL),
		                 VBX_OK);
	}
	a[3] = rec_new(0);
	assert_int_equal(
	        open_as(f, a[3], pair_stream(&peer[3]), ANN, ENV_ID, &full),
	        VBX_EAGAIN); /* all three have a socket */
	assert_int_equal(full, VBX__TERM_FULL_USER);
	assert_int_equal(
	        open_as(f, b, pair_stream(&peer[4]), BOB, ENV_ID, NULL),
	        VBX_OK);
	/* Ann drops two sockets, the second first: it goes first. */
	vbx__term_session_id(a[1]->v, second);
	vbx__term_session_id(a[0]->v, first);
	detach(a[1]);
	usleep(2000);
	detach(a[0]);
	int before = closed_streams();
	assert_int_equal(
	        open_as(f, c, pair_stream(&peer[5]), ANN, ENV_ID, NULL),
	        VBX_OK);
	assert_int_equal(vbx__term_count(f->term), 4);
	for (int i = 0; i < 400 && closed_streams() == before; i++)
		usleep(5000);
	assert_int_equal(closed_streams(), before + 1);
	rec *probe = rec_new(0);
	assert_int_equal(attach_to(f, probe, second, false, 0), VBX_ENOTFOUND);
	assert_int_equal(attach_to(f, probe, first, false, 0), VBX_OK);
	detach(probe);
	fix_free(f);
	for (int i = 0; i < 6; i++)
		close(peer[i]);
	for (int i = 0; i < 4; i++)
		rec_free(a[i]);
	rec_free(b);
	rec_free(c);
	rec_free(probe);
}

/* The per-environment cap: another environment still has room; only the
 * opener's own lingering session on that environment is reclaimed. */
static void test_per_env_cap(void **state)
{
	fix *f = fix_shares(0, 2);
	rec *r[5];
	int peer[5];
	enum vbx__term_full full = 0;
	for (int i = 0; i < 5; i++)
		r[i] = rec_new(0);
	assert_int_equal(
	        open_as(f, r[0], pair_stream(&peer[0]), ANN, ENV_ID, NULL),
	        VBX_OK);
	assert_int_equal(
	        open_as(f, r[1], pair_stream(&peer[1]), BOB, ENV_ID, NULL),
	        VBX_OK);
	detach(r[1]); /* Bob's lingers: Ann may not take it */
	assert_int_equal(
	        open_as(f, r[2], pair_stream(&peer[2]), ANN, ENV_ID, &full),
	        VBX_EAGAIN);
	assert_int_equal(full, VBX__TERM_FULL_ENV);
	assert_int_equal(
	        open_as(f, r[2], pair_stream(&peer[2]), ANN, OTHER_ENV, NULL),
	        VBX_OK);
	detach(r[2]); /* Ann's lingers on the other environment: kept */
	assert_int_equal(
	        open_as(f, r[3], pair_stream(&peer[3]), BOB, ENV_ID, NULL),
	        VBX_OK); /* Bob's own lingering one made room */
	assert_int_equal(vbx__term_count(f->term), 3);
	fix_free(f);
	for (int i = 0; i < 4; i++)
		close(peer[i]);
	for (int i = 0; i < 5; i++)
		rec_free(r[i]);
}

/* ---- log lines ---- */

static void check_line(int channel, const char *line, size_t len,
                       const char *want)
{
	size_t n = 0;
	char *j = vbx__logline_json(channel, line, len,
	                            "2026-01-01T00:00:00.000000000Z", &n);
	assert_non_null(j);
	assert_int_equal(n, strlen(j));
	assert_string_equal(j, want);
	free(j);
}

static void test_logline_json(void **state)
{
	check_line(VBX_STREAM_STDOUT, "hello", 5,
	           "{\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00."
	           "000000000Z\",\"line\":\"hello\"}");
	const char *ts = "2026-11-27T12:04:51.123456789Z listening\r";
	check_line(VBX_STREAM_STDERR, ts, strlen(ts),
	           "{\"stream\":\"stderr\",\"time\":\"2026-11-27T12:04:51."
	           "123456789Z\",\"line\":\"listening\"}");
	const char odd[] = "a\"b\\c\td\x01\xff\xc3\xa9\xe2\x82"
	                   "\xed\xa0\x80\xf0\x9f\x98\x80";
	check_line(VBX_STREAM_STDOUT, odd, sizeof(odd) - 1,
	           "{\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00."
	           "000000000Z\",\"line\":\"a\\\"b\\\\c\\u0009d\\u0001"
	           "\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
	           "\xf0\x9f\x98\x80\"}");
	const char nul[] = {'a', 0, 'b'};
	check_line(VBX_STREAM_STDOUT, nul, 3,
	           "{\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00."
	           "000000000Z\",\"line\":\"a\\u0000b\"}");
	/* not a time: kept in the line */
	check_line(VBX_STREAM_STDOUT, "2026-11-27 not a time", 21,
	           "{\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00."
	           "000000000Z\",\"line\":\"2026-11-27 not a time\"}");
	check_line(VBX_STREAM_STDOUT, "", 0,
	           "{\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00."
	           "000000000Z\",\"line\":\"\"}");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	vbx__platform = vbx__core_plugin(); /* logs as the core */
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_parse),
	        cmocka_unit_test(test_frame_parse_broken),
	        cmocka_unit_test(test_u64),
	        cmocka_unit_test(test_ring_wrap),
	        cmocka_unit_test(test_window_pause_resume),
	        cmocka_unit_test(test_two_viewers),
	        cmocka_unit_test(test_joining_viewer_window),
	        cmocka_unit_test(test_resume_without_gap),
	        cmocka_unit_test(test_resume_with_gap),
	        cmocka_unit_test(test_shell_exit_code),
	        cmocka_unit_test(test_exit_after_drop),
	        cmocka_unit_test(test_input_backpressure),
	        cmocka_unit_test(test_broken_frames_close),
	        cmocka_unit_test(test_linger_then_close),
	        cmocka_unit_test(test_max_sessions),
	        cmocka_unit_test(test_per_user_cap_and_reclaim),
	        cmocka_unit_test(test_per_env_cap),
	        cmocka_unit_test(test_logline_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
