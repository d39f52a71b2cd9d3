/* SPDX-License-Identifier: Apache-2.0 */
/*
 * term.c - the frames of vibebox.terminal.v1, the pump thread that moves
 * the bytes of every stream, and terminal sessions (term.h).
 *
 * A session is one exec stream, a ring of its output and the viewers
 * (sockets) attached to it. Output offsets are u64 counts of bytes since
 * the process started. The pump reads the process only while
 * head - floor < window, where floor is the lowest offset an attached
 * viewer acknowledged (or, with none attached, the last viewer's): the
 * slowest viewer slows the process, and since the ring holds at least a
 * window, it still has every byte a resume from an acknowledged offset
 * needs.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "term.h"

/* ---- frames ---- */

void vbx__term_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

uint64_t vbx__term_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int frame_resize(const unsigned char *b, size_t len,
                        vbx__term_frame *out, const char **why)
{
	if (len != 5) {
		*why = "a resize frame is 5 bytes: 0x01, u16 cols, u16 rows";
		return 1002;
	}
	out->cols = (unsigned)b[1] << 8 | b[2];
	out->rows = (unsigned)b[3] << 8 | b[4];
	if (out->cols < 1 || out->cols > VBX__TERM_SIZE_MAX || out->rows < 1 ||
	    out->rows > VBX__TERM_SIZE_MAX) {
		*why = "resize: cols and rows must be 1..1000";
		return 1007;
	}
	return 0;
}

int vbx__term_frame_parse(const void *buf, size_t len, vbx__term_frame *out,
                          const char **why)
{
	const unsigned char *b = buf;
	memset(out, 0, sizeof(*out));
	*why = "";
	if (len == 0) {
		*why = "an empty frame; the first byte is the frame type";
		return 1002;
	}
	out->type = b[0];
	switch (b[0]) {
	case VBX__TERM_INPUT:
		out->data = b + 1;
		out->len = len - 1;
		return 0;
	case VBX__TERM_RESIZE:
		return frame_resize(b, len, out, why);
	case VBX__TERM_ACK:
		if (len != 9) {
			*why = "an ack frame is 9 bytes: 0x02, u64 offset";
			return 1002;
		}
		out->ack = vbx__term_get_u64(b + 1);
		return 0;
	default:
		*why = "unknown frame type; a client sends 0x00 input, "
		       "0x01 resize, 0x02 ack";
		return 1002;
	}
}

/* ---- the pump ---- */

struct vbx__pump {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when busy drops to 0 */
	pthread_t thread;
	bool started, stop, wake_pending;
	int busy; /* todo tasks running on workers */
	int epfd, evfd;
	vbx__pump_src *srcs;
};

int64_t vbx__pump_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

vbx__pump *vbx__pump_new(void)
{
	vbx__pump *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (p->epfd < 0 || p->evfd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) != 0) {
		vbx__error("terminal pump: cannot set up epoll: %s",
		           strerror(errno));
		if (p->epfd >= 0)
			close(p->epfd);
		if (p->evfd >= 0)
			close(p->evfd);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	return p;
}

void vbx__pump_lock(vbx__pump *p)
{
	pthread_mutex_lock(&p->lock);
}

void vbx__pump_unlock(vbx__pump *p)
{
	pthread_mutex_unlock(&p->lock);
}

static void pump_wake(vbx__pump *p)
{
	if (p->wake_pending)
		return;
	p->wake_pending = true;
	uint64_t one = 1;
	if (write(p->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vbx__error("terminal pump: eventfd write: %s", strerror(errno));
}

void vbx__pump_kick(vbx__pump_src *src)
{
	src->kicked = true;
	pump_wake(src->pump);
}

/* Register the stream's descriptor for exactly `want` (READ/WRITE). A
 * descriptor polled for nothing is removed, since epoll would report its
 * hang-up over and over. */
static void pump_poll(vbx__pump *p, vbx__pump_src *src, unsigned want)
{
	if (!src->stream || src->fd < 0 || want == src->polled)
		return;
	struct epoll_event ev = {.data.ptr = src};
	if (want & VBX__PUMP_READ)
		ev.events |= EPOLLIN;
	if (want & VBX__PUMP_WRITE)
		ev.events |= EPOLLOUT;
	int op = !want             ? EPOLL_CTL_DEL
	         : src->registered ? EPOLL_CTL_MOD
	                           : EPOLL_CTL_ADD;
	if (epoll_ctl(p->epfd, op, src->fd, &ev) != 0) {
		vbx__error("terminal pump: epoll_ctl on descriptor %d: %s",
		           src->fd, strerror(errno));
		src->kicked = true; /* poll by servicing again */
		return;
	}
	src->registered = want != 0;
	src->polled = want;
}

/* Service every source that is due; queue what needs the lock dropped. */
static vbx__pump_src *pump_service_all(vbx__pump *p, int64_t now)
{
	vbx__pump_src *todo = NULL, **tail = &todo;
	for (vbx__pump_src *s = p->srcs; s; s = s->next) {
		bool due = s->kicked || s->ready ||
		           (s->deadline_ms && s->deadline_ms <= now);
		if (s->freeing || s->busy || !due)
			continue;
		unsigned ready = s->ready;
		s->ready = 0;
		s->kicked = false;
		int64_t deadline = 0;
		unsigned req = s->ops->service(s, ready, now, &deadline);
		s->deadline_ms = deadline;
		if (req & VBX__PUMP_AGAIN)
			s->kicked = true;
		unsigned todo_req = req & (VBX__PUMP_BLOCKING |
		                           VBX__PUMP_CLOSE | VBX__PUMP_FREE);
		/* Nothing is polled while a worker has the source: its
		 * readable descriptor would wake the pump over and over. */
		pump_poll(p, s,
		          todo_req ? 0
		                   : req & (VBX__PUMP_READ | VBX__PUMP_WRITE));
		if (todo_req) {
			s->todo = todo_req;
			s->busy = true;
			s->freeing = (todo_req & VBX__PUMP_FREE) != 0;
			s->todo_next = NULL;
			*tail = s;
			tail = &s->todo_next;
		}
	}
	return todo;
}

static void pump_unlink(vbx__pump *p, vbx__pump_src *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		p->srcs = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

/*
 * One source's todo: lock held on entry and exit, dropped around each
 * blocking step (closing an exec stream waits for its exit code, a resize
 * is a request to the engine).
 */
static void pump_run_todo(vbx__pump *p, vbx__pump_src *s)
{
	unsigned req = s->todo;
	vbx_stream *st =
	        (req & (VBX__PUMP_CLOSE | VBX__PUMP_FREE)) ? s->stream : NULL;
	pthread_mutex_unlock(&p->lock);
	if (req & VBX__PUMP_BLOCKING)
		s->ops->blocking(s);
	int rc = VBX_OK, code = -1;
	if (st)
		rc = st->ops->close(st, &code);
	pthread_mutex_lock(&p->lock);
	s->busy = false;
	s->kicked = true; /* what waited for it may go on */
	if (st) {
		s->stream = NULL;
		s->fd = -1;
		if (!(req & VBX__PUMP_FREE))
			s->ops->closed(s, rc, code);
	}
	if (req & VBX__PUMP_FREE) {
		pump_unlink(p, s);
		pthread_mutex_unlock(&p->lock);
		s->ops->free(s);
		pthread_mutex_lock(&p->lock);
	}
}

/* A todo on a worker, so that one slow stream does not stall the bytes of
 * every other session on the pump thread. */
static void pump_todo_task(void *ud)
{
	vbx__pump_src *s = ud;
	vbx__pump *p = s->pump;

	pthread_mutex_lock(&p->lock);
	pump_run_todo(p, s);
	if (--p->busy == 0)
		pthread_cond_broadcast(&p->idle);
	pump_wake(p);
	pthread_mutex_unlock(&p->lock);
}

/* Lock held. Hand each todo to a worker; without workers (unit tests,
 * shutdown) run it here. */
static void pump_do_todo(vbx__pump *p, vbx__pump_src *todo)
{
	while (todo) {
		vbx__pump_src *s = todo;
		todo = s->todo_next;
		p->busy++;
		if (vbx__workers_submit(pump_todo_task, s) == VBX_OK)
			continue;
		p->busy--;
		pump_run_todo(p, s);
	}
}

static int pump_timeout(vbx__pump *p, int64_t now)
{
	int64_t next = -1;
	for (vbx__pump_src *s = p->srcs; s; s = s->next) {
		if (s->kicked)
			return 0;
		if (s->deadline_ms && (next < 0 || s->deadline_ms < next))
			next = s->deadline_ms;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

static void pump_mark_ready(vbx__pump *p, const struct epoll_event *ev)
{
	vbx__pump_src *s = ev->data.ptr;
	if (!s) {
		uint64_t n;
		if (read(p->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			vbx__error("terminal pump: eventfd read: %s",
			           strerror(errno));
		p->wake_pending = false;
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		s->ready |= VBX__PUMP_READ;
	if (ev->events & (EPOLLOUT | EPOLLERR))
		s->ready |= VBX__PUMP_WRITE;
}

static void *pump_main(void *arg)
{
	vbx__pump *p = arg;
	struct epoll_event evs[64];
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int64_t now = vbx__pump_now_ms();
		pump_do_todo(p, pump_service_all(p, now));
		if (p->stop)
			break;
		int timeout = pump_timeout(p, vbx__pump_now_ms());
		pthread_mutex_unlock(&p->lock);
		int n = epoll_wait(p->epfd, evs, 64, timeout);
		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < n; i++)
			pump_mark_ready(p, &evs[i]);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int vbx__pump_add(vbx__pump *p, vbx__pump_src *src,
                  const vbx__pump_src_ops *ops, vbx_stream *stream)
{
	pthread_mutex_lock(&p->lock);
	if (p->stop) {
		pthread_mutex_unlock(&p->lock);
		return VBX_ERR;
	}
	if (!p->started) {
		if (pthread_create(&p->thread, NULL, pump_main, p) != 0) {
			pthread_mutex_unlock(&p->lock);
			vbx__error("terminal pump: cannot start its thread");
			return VBX_ERR;
		}
		p->started = true;
	}
	src->ops = ops;
	src->pump = p;
	src->stream = stream;
	src->fd = stream->ops->fd(stream);
	src->polled = src->ready = 0;
	src->registered = src->freeing = false;
	src->deadline_ms = 0;
	src->prev = NULL;
	src->next = p->srcs;
	if (p->srcs)
		p->srcs->prev = src;
	p->srcs = src;
	vbx__pump_kick(src);
	pthread_mutex_unlock(&p->lock);
	return VBX_OK;
}

void vbx__pump_free(vbx__pump *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pump_wake(p);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	pthread_mutex_lock(&p->lock);
	while (p->busy > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	while (p->srcs) {
		vbx__pump_src *s = p->srcs;
		pump_unlink(p, s);
		if (s->stream) {
			s->stream->ops->close(s->stream, NULL);
			s->stream = NULL;
		}
		s->ops->free(s);
	}
	close(p->epfd);
	close(p->evfd);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- terminal sessions ---- */

typedef struct term_session term_session;

struct vbx__term_viewer {
	term_session *s;
	vbx__term_viewer *next;
	const vbx__term_sink_ops *ops;
	void *sink;
	uint64_t sent;  /* the offset of the next byte to send */
	uint64_t acked; /* what the client says it consumed */
	bool blocked;   /* the send queue is full: wait for drain */
	bool rx_paused, exit_sent, closed;
};

struct term_session {
	vbx__pump_src src; /* first */
	vbx__term *term;
	term_session *next, *prev;
	bool linked;
	char id[37];
	char env_id[VBX_ID_LEN];
	uint64_t window, cap;
	int64_t linger_ms;
	unsigned char *ring;
	uint64_t head;       /* output bytes read so far */
	uint64_t idle_floor; /* the floor while no viewer is attached */
	vbx__term_viewer *viewers;
	int nviewers;
	unsigned char *in; /* input waiting for the process */
	size_t in_off, in_len, in_cap;
	bool resize_pending;
	unsigned cols, rows;
	bool eof, exited, exit_delivered;
	int exit_code;
	char reason[160];
	int64_t linger_at, touched_at;
	bool traffic;
};

struct vbx__term {
	vbx__pump *pump;
	vbx__term_limits lim;
	vbx__term_activity_fn *activity;
	void *activity_ud;
	term_session *sessions;
	int nsessions, reserved;
};

vbx__term *vbx__term_new(vbx__pump *pump, const vbx__term_limits *lim,
                         vbx__term_activity_fn *activity, void *ud)
{
	vbx__term *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pump = pump;
	t->lim = *lim;
	if (t->lim.buffer < t->lim.window)
		t->lim.buffer = t->lim.window;
	t->activity = activity;
	t->activity_ud = ud;
	return t;
}

void vbx__term_free(vbx__term *t)
{
	free(t);
}

int vbx__term_reserve(vbx__term *t)
{
	vbx__pump_lock(t->pump);
	int rc = VBX_EAGAIN;
	if (t->nsessions + t->reserved < t->lim.max_sessions) {
		t->reserved++;
		rc = VBX_OK;
	}
	vbx__pump_unlock(t->pump);
	return rc;
}

void vbx__term_unreserve(vbx__term *t)
{
	vbx__pump_lock(t->pump);
	if (t->reserved > 0)
		t->reserved--;
	vbx__pump_unlock(t->pump);
}

int vbx__term_count(vbx__term *t)
{
	vbx__pump_lock(t->pump);
	int n = t->nsessions;
	vbx__pump_unlock(t->pump);
	return n;
}

static term_session *session_of(vbx__pump_src *src)
{
	return (term_session *)src;
}

static uint64_t session_tail(const term_session *s)
{
	return s->head > s->cap ? s->head - s->cap : 0;
}

static uint64_t session_floor(const term_session *s)
{
	if (!s->viewers)
		return s->idle_floor;
	uint64_t f = UINT64_MAX;
	for (const vbx__term_viewer *v = s->viewers; v; v = v->next)
		if (v->acked < f)
			f = v->acked;
	return f;
}

static void session_unlink(term_session *s)
{
	if (!s->linked)
		return;
	vbx__term *t = s->term;
	if (s->prev)
		s->prev->next = s->next;
	else
		t->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->linked = false;
	t->nsessions--;
}

/* ---- output ---- */

/* Read what the window allows into the ring. */
static unsigned session_read(term_session *s)
{
	vbx_stream *st = s->src.stream;
	uint64_t floor = session_floor(s);
	size_t budget = 256u << 10; /* then let other sessions run */
	for (;;) {
		uint64_t used = s->head - floor;
		if (used >= s->window)
			return 0; /* wait for an ack */
		uint64_t pos = s->head % s->cap;
		uint64_t n = s->window - used;
		if (n > s->cap - pos)
			n = s->cap - pos;
		if (n > 64u << 10)
			n = 64u << 10;
		if (n > budget)
			n = budget;
		if (n == 0)
			return VBX__PUMP_AGAIN;
		int channel = VBX_STREAM_STDOUT;
		ssize_t r =
		        st->ops->read(st, s->ring + pos, (size_t)n, &channel);
		if (r == VBX_EAGAIN)
			return VBX__PUMP_READ;
		if (r <= 0) {
			s->eof = true;
			snprintf(s->reason, sizeof(s->reason), "%s",
			         r == 0 ? "the process exited"
			                : "the terminal stream failed");
			if (r < 0)
				vbx__warn("terminal session %s: read: %s",
				          s->id, vbx__strerror((int)r));
			return VBX__PUMP_CLOSE;
		}
		s->head += (uint64_t)r;
		budget -= (size_t)r;
		s->traffic = true;
	}
}

static void viewers_unpause(term_session *s)
{
	for (vbx__term_viewer *v = s->viewers; v; v = v->next) {
		if (v->rx_paused) {
			v->rx_paused = false;
			v->ops->pause(v->sink, 0);
		}
	}
}

/*
 * Write queued input. The stream's descriptor only promises POLLIN (a
 * runtime's fd() may be an epoll set, which never reports POLLOUT), so
 * input the stream cannot take now is retried on a short timer. Returns
 * whether input is still waiting.
 */
static bool session_write(term_session *s)
{
	vbx_stream *st = s->src.stream;
	while (s->in_off < s->in_len) {
		ssize_t r = st->ops->write(st, s->in + s->in_off,
		                           s->in_len - s->in_off);
		if (r == VBX_EAGAIN)
			return true;
		if (r < 0) {
			vbx__warn("terminal session %s: input dropped: %s",
			          s->id, vbx__strerror((int)r));
			s->in_off = s->in_len;
			break;
		}
		s->in_off += (size_t)r;
		s->traffic = true;
	}
	s->in_off = s->in_len = 0;
	viewers_unpause(s);
	return false;
}

static int viewer_send(vbx__term_viewer *v, const void *buf, size_t len,
                       int binary)
{
	int rc = v->ops->send(v->sink, buf, len, binary);
	if (rc == VBX_EAGAIN)
		v->blocked = true;
	else if (rc != VBX_OK)
		v->closed = true; /* its socket is closing */
	return rc;
}

/* Send output frames while the client's window and queue allow. */
static void viewer_output(term_session *s, vbx__term_viewer *v)
{
	unsigned char frame[VBX__TERM_OUTPUT_HDR + VBX__TERM_CHUNK];
	while (!v->closed && !v->blocked && v->sent < s->head) {
		uint64_t limit = v->acked + s->window;
		if (v->sent >= limit)
			return;
		uint64_t n = s->head - v->sent;
		if (n > limit - v->sent)
			n = limit - v->sent;
		if (n > VBX__TERM_CHUNK)
			n = VBX__TERM_CHUNK;
		uint64_t pos = v->sent % s->cap;
		uint64_t first = n < s->cap - pos ? n : s->cap - pos;
		frame[0] = VBX__TERM_OUTPUT;
		vbx__term_put_u64(frame + 1, v->sent);
		memcpy(frame + VBX__TERM_OUTPUT_HDR, s->ring + pos, first);
		memcpy(frame + VBX__TERM_OUTPUT_HDR + first, s->ring,
		       n - first);
		if (viewer_send(v, frame, VBX__TERM_OUTPUT_HDR + n, 1) !=
		    VBX_OK)
			return;
		v->sent += n;
	}
}

static void viewer_exit(term_session *s, vbx__term_viewer *v)
{
	if (v->closed || v->blocked || v->exit_sent || v->sent != s->head)
		return;
	char json[256];
	int n = snprintf(json + 1, sizeof(json) - 1,
	                 "{\"code\":%d,\"reason\":\"%s\"}", s->exit_code,
	                 s->reason);
	json[0] = (char)VBX__TERM_EXIT;
	if (n < 0 || (size_t)n >= sizeof(json) - 1)
		n = 0;
	if (viewer_send(v, json, (size_t)n + 1, 1) != VBX_OK)
		return;
	v->exit_sent = true;
	s->exit_delivered = true;
	v->ops->close(v->sink, 1000, "process exited");
}

static void session_fan_out(term_session *s)
{
	for (vbx__term_viewer *v = s->viewers; v; v = v->next) {
		viewer_output(s, v);
		if (s->exited)
			viewer_exit(s, v);
	}
}

static unsigned session_service(vbx__pump_src *src, unsigned ready, int64_t now,
                                int64_t *deadline)
{
	term_session *s = session_of(src);
	unsigned req = 0;
	bool input_waits = false;
	if (src->stream && !s->eof) {
		/* a resize applies before the input typed after it */
		if (s->resize_pending)
			req |= VBX__PUMP_BLOCKING;
		else
			input_waits = session_write(s);
		req |= session_read(s);
	}
	session_fan_out(s);
	if (s->traffic && s->viewers &&
	    now - s->touched_at >= VBX__TERM_TOUCH_MS) {
		s->traffic = false;
		s->touched_at = now;
		if (s->term->activity)
			s->term->activity(s->term->activity_ud, s->env_id);
	}
	if (input_waits && !s->eof)
		*deadline = now + VBX__TERM_WRITE_RETRY_MS;
	if (s->viewers)
		return req;
	if ((s->exited && s->exit_delivered) || now >= s->linger_at) {
		session_unlink(s);
		return VBX__PUMP_FREE;
	}
	if (!*deadline || s->linger_at < *deadline)
		*deadline = s->linger_at;
	return req;
}

static void session_blocking(vbx__pump_src *src)
{
	term_session *s = session_of(src);
	vbx__pump_lock(src->pump);
	unsigned cols = s->cols, rows = s->rows;
	bool want = s->resize_pending;
	s->resize_pending = false;
	vbx_stream *st = src->stream;
	vbx__pump_unlock(src->pump);
	if (!want || !st)
		return;
	int rc = st->ops->resize(st, cols, rows);
	if (rc != VBX_OK)
		vbx__debug("terminal session %s: resize to %ux%u: %s", s->id,
		           cols, rows, vbx__strerror(rc));
}

static void session_closed(vbx__pump_src *src, int rc, int exit_code)
{
	term_session *s = session_of(src);
	s->exited = true;
	s->exit_code = exit_code;
	if (rc != VBX_OK)
		vbx__warn("terminal session %s: closing the stream: %s", s->id,
		          vbx__strerror(rc));
	if (exit_code < 0 && strcmp(s->reason, "the process exited") == 0)
		snprintf(s->reason, sizeof(s->reason),
		         "the process ended; its exit status is unknown");
}

static void viewer_free(vbx__term_viewer *v)
{
	v->ops->release(v->sink);
	free(v);
}

static void session_free(vbx__pump_src *src)
{
	term_session *s = session_of(src);
	vbx__pump *p = s->term->pump;
	vbx__pump_lock(p);
	session_unlink(s);
	vbx__term_viewer *v = s->viewers;
	s->viewers = NULL;
	vbx__pump_unlock(p);
	while (v) {
		vbx__term_viewer *next = v->next;
		viewer_free(v);
		v = next;
	}
	free(s->ring);
	free(s->in);
	free(s);
}

static const vbx__pump_src_ops session_ops = {
        .service = session_service,
        .blocking = session_blocking,
        .closed = session_closed,
        .free = session_free,
};

/* ---- attaching ---- */

static void uuid_new(char *out)
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		/* never on Linux >= 3.17 with 16 bytes; still unique enough */
		uint64_t t = (uint64_t)vbx__pump_now_ms() ^ (uint64_t)getpid();
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(t >> (i % 8 * 8)) ^
			       (unsigned char)i;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
}

static term_session *session_new(vbx__term *t, const char *env_id)
{
	term_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ring = malloc(t->lim.buffer);
	if (!s->ring) {
		free(s);
		return NULL;
	}
	s->term = t;
	s->window = t->lim.window;
	s->cap = t->lim.buffer;
	s->linger_ms = t->lim.linger_ms;
	s->exit_code = -1;
	s->touched_at = vbx__pump_now_ms();
	s->linger_at = s->touched_at + s->linger_ms;
	snprintf(s->env_id, sizeof(s->env_id), "%s", env_id);
	uuid_new(s->id);
	return s;
}

static void send_hello(term_session *s, vbx__term_viewer *v, uint64_t gap)
{
	char json[192];
	int n = snprintf(json + 1, sizeof(json) - 1,
	                 "{\"session\":\"%s\",\"offset\":%llu,\"window\":%llu",
	                 s->id, (unsigned long long)v->sent,
	                 (unsigned long long)s->window);
	if (gap)
		n += snprintf(json + 1 + n, sizeof(json) - 1 - (size_t)n,
		              ",\"gap\":%llu", (unsigned long long)gap);
	n += snprintf(json + 1 + n, sizeof(json) - 1 - (size_t)n, "}");
	json[0] = (char)VBX__TERM_HELLO;
	viewer_send(v, json, (size_t)n + 1, 1);
}

static void viewer_link(term_session *s, vbx__term_viewer *v)
{
	v->s = s;
	v->next = s->viewers;
	s->viewers = v;
	s->nviewers++;
}

static int attach_new(vbx__term *t, const char *env_id, vbx_stream *stream,
                      vbx__term_viewer *v)
{
	term_session *s = session_new(t, env_id);
	if (!s)
		return VBX_ENOMEM;
	/* nobody else sees s yet: hello goes first without the lock */
	viewer_link(s, v);
	send_hello(s, v, 0);
	vbx__pump_lock(t->pump);
	s->next = t->sessions;
	s->prev = NULL;
	if (t->sessions)
		t->sessions->prev = s;
	t->sessions = s;
	s->linked = true;
	t->nsessions++;
	if (t->reserved > 0)
		t->reserved--;
	vbx__pump_unlock(t->pump);
	if (vbx__pump_add(t->pump, &s->src, &session_ops, stream) != VBX_OK) {
		vbx__pump_lock(t->pump);
		session_unlink(s);
		vbx__pump_unlock(t->pump);
		free(s->ring);
		free(s);
		return VBX_ERR;
	}
	return VBX_OK;
}

static term_session *session_find(vbx__term *t, const char *id,
                                  const char *env_id)
{
	for (term_session *s = t->sessions; s; s = s->next)
		if (strcmp(s->id, id) == 0 && strcmp(s->env_id, env_id) == 0)
			return s;
	return NULL;
}

static int attach_existing(vbx__term *t, const char *env_id,
                           const vbx__term_start *start, vbx__term_viewer *v)
{
	vbx__pump_lock(t->pump);
	term_session *s = session_find(t, start->session, env_id);
	if (!s) {
		vbx__pump_unlock(t->pump);
		return VBX_ENOTFOUND;
	}
	uint64_t tail = session_tail(s), from = tail, gap = 0;
	if (start->has_offset) {
		if (start->offset > s->head) {
			vbx__pump_unlock(t->pump);
			return VBX_EINVAL;
		}
		from = start->offset > tail ? start->offset : tail;
		gap = from - start->offset;
	}
	v->sent = v->acked = from;
	viewer_link(s, v);
	send_hello(s, v, gap);
	vbx__pump_kick(&s->src);
	vbx__pump_unlock(t->pump);
	return VBX_OK;
}

int vbx__term_attach(vbx__term *t, const char *env_id,
                     const vbx__term_start *start, vbx_stream *stream,
                     const vbx__term_sink_ops *ops, void *sink,
                     vbx__term_viewer **out)
{
	vbx__term_viewer *v = calloc(1, sizeof(*v));
	if (!v)
		return VBX_ENOMEM;
	v->ops = ops;
	v->sink = sink;
	int rc = start->session ? attach_existing(t, env_id, start, v)
	                        : attach_new(t, env_id, stream, v);
	if (rc != VBX_OK) {
		free(v);
		return rc;
	}
	*out = v;
	return VBX_OK;
}

void vbx__term_session_id(vbx__term_viewer *v, char *id)
{
	snprintf(id, 37, "%s", v->s->id);
}

/* ---- what viewers do (service thread) ---- */

static void viewer_fail(vbx__term_viewer *v, int code, const char *why)
{
	v->closed = true;
	v->ops->close(v->sink, code, why);
}

static int session_input(term_session *s, vbx__term_viewer *v,
                         const unsigned char *data, size_t len)
{
	if (s->eof || !len)
		return VBX_OK;
	if (s->in_off) {
		memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
		s->in_len -= s->in_off;
		s->in_off = 0;
	}
	if (s->in_len + len > s->in_cap) {
		size_t cap = s->in_cap ? s->in_cap : 4096;
		while (cap < s->in_len + len)
			cap *= 2;
		unsigned char *b = realloc(s->in, cap);
		if (!b)
			return VBX_ENOMEM;
		s->in = b;
		s->in_cap = cap;
	}
	memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	if (s->in_len >= VBX__TERM_INPUT_MAX && !v->rx_paused) {
		/* the process is not reading: stop reading its client */
		v->rx_paused = true;
		v->ops->pause(v->sink, 1);
	}
	return VBX_OK;
}

static int viewer_ack(vbx__term_viewer *v, uint64_t off, const char **why)
{
	if (off < v->acked) {
		*why = "ack went backwards";
		return 1007;
	}
	if (off > v->sent) {
		*why = "ack beyond the output sent";
		return 1007;
	}
	v->acked = off;
	return 0;
}

static int apply_frame(vbx__term_viewer *v, const vbx__term_frame *f,
                       const char **why)
{
	term_session *s = v->s;
	switch (f->type) {
	case VBX__TERM_INPUT:
		if (session_input(s, v, f->data, f->len) != VBX_OK) {
			*why = "out of memory";
			return 1011;
		}
		return 0;
	case VBX__TERM_RESIZE:
		s->cols = f->cols;
		s->rows = f->rows;
		s->resize_pending = true;
		return 0;
	default:
		return viewer_ack(v, f->ack, why);
	}
}

int vbx__term_message(vbx__term_viewer *v, const void *data, size_t len,
                      int binary)
{
	vbx__term_frame f;
	const char *why = "text frames are not part of vibebox.terminal.v1";
	int code = binary ? vbx__term_frame_parse(data, len, &f, &why) : 1003;
	vbx__pump *p = v->s->term->pump;
	vbx__pump_lock(p);
	if (v->closed) {
		vbx__pump_unlock(p);
		return 0;
	}
	if (!code)
		code = apply_frame(v, &f, &why);
	if (code)
		viewer_fail(v, code, why);
	else
		vbx__pump_kick(&v->s->src);
	vbx__pump_unlock(p);
	return code;
}

void vbx__term_drain(vbx__term_viewer *v)
{
	vbx__pump *p = v->s->term->pump;
	vbx__pump_lock(p);
	v->blocked = false;
	vbx__pump_kick(&v->s->src);
	vbx__pump_unlock(p);
}

void vbx__term_detach(vbx__term_viewer *v)
{
	term_session *s = v->s;
	vbx__pump *p = s->term->pump;
	vbx__pump_lock(p);
	for (vbx__term_viewer **i = &s->viewers; *i; i = &(*i)->next) {
		if (*i == v) {
			*i = v->next;
			break;
		}
	}
	if (--s->nviewers == 0) {
		s->idle_floor = v->acked;
		s->linger_at = vbx__pump_now_ms() + s->linger_ms;
	}
	if (v->rx_paused)
		v->ops->pause(v->sink, 0);
	vbx__pump_kick(&s->src);
	vbx__pump_unlock(p);
	viewer_free(v);
}
