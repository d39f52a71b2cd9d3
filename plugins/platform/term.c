/* SPDX-License-Identifier: Apache-2.0 */
/*
 * term.c - the frames of vibebox.terminal.v1 and terminal sessions
 * (term.h), on the stream pump of <vibebox/stream.h>.
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
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "metrics.h"
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
	vbx_pump_src src; /* first */
	vbx__term *term;
	term_session *next, *prev;
	bool linked;
	char id[VBX_UUID_LEN];
	char env_id[VBX_ID_LEN];
	char owner[VBX__OWNER_LEN]; /* the user who started it; "" for none */
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

/* A slot taken for a session whose stream is being made. */
typedef struct term_resv {
	struct term_resv *next;
	char owner[VBX__OWNER_LEN];
	char env_id[VBX_ID_LEN];
} term_resv;

struct vbx__term {
	vbx_pump *pump;
	vbx__term_limits lim;
	vbx__term_activity_fn *activity;
	void *activity_ud;
	term_session *sessions;
	int nsessions, reserved;
	term_resv *resv; /* reserved of them */
};

vbx__term *vbx__term_new(vbx_pump *pump, const vbx__term_limits *lim,
                         vbx__term_activity_fn *activity, void *ud)
{
	vbx__term *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pump = pump;
	t->lim = *lim;
	if (t->lim.buffer < t->lim.window)
		t->lim.buffer = t->lim.window;
	if (t->lim.max_per_user <= 0 ||
	    t->lim.max_per_user > t->lim.max_sessions)
		t->lim.max_per_user = t->lim.max_sessions;
	if (t->lim.max_per_env <= 0 || t->lim.max_per_env > t->lim.max_sessions)
		t->lim.max_per_env = t->lim.max_sessions;
	t->activity = activity;
	t->activity_ud = ud;
	return t;
}

void vbx__term_free(vbx__term *t)
{
	if (!t)
		return;
	for (term_resv *r = t->resv, *next; r; r = next) {
		next = r->next;
		free(r);
	}
	free(t);
}

int vbx__term_count(vbx__term *t)
{
	vbx_pump_lock(t->pump);
	int n = t->nsessions;
	vbx_pump_unlock(t->pump);
	return n;
}

static term_session *session_of(vbx_pump_src *src)
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
	vbx_gauge_dec(vbx__pm.term_sessions);
}

/* ---- slots: the caps, and reclaiming lingering sessions ---- */

static bool owned_by(const char *owner, const char *who)
{
	return strcmp(owner, who ? who : "") == 0;
}

/* The first cap that one more session of owner on env_id would pass. */
static int cap_reached(const vbx__term *t, const char *owner,
                       const char *env_id)
{
	int mine = 0, here = 0;
	for (const term_session *s = t->sessions; s; s = s->next) {
		mine += owned_by(s->owner, owner);
		here += strcmp(s->env_id, env_id) == 0;
	}
	for (const term_resv *r = t->resv; r; r = r->next) {
		mine += owned_by(r->owner, owner);
		here += strcmp(r->env_id, env_id) == 0;
	}
	if (mine >= t->lim.max_per_user)
		return VBX__TERM_FULL_USER;
	if (here >= t->lim.max_per_env)
		return VBX__TERM_FULL_ENV;
	if (t->nsessions + t->reserved >= t->lim.max_sessions)
		return VBX__TERM_FULL_INSTANCE;
	return 0;
}

/* owner's session without a socket whose last one left first; for the
 * environment's cap, one on env_id. */
static term_session *reclaimable(vbx__term *t, const char *owner,
                                 const char *env_id)
{
	term_session *best = NULL;
	for (term_session *s = t->sessions; s; s = s->next)
		if (!s->viewers && owned_by(s->owner, owner) &&
		    (!env_id || strcmp(s->env_id, env_id) == 0) &&
		    (!best || s->linger_at < best->linger_at))
			best = s;
	return best;
}

/* End s as if its linger time had passed: out of the list (and the
 * counts) now, freed by the pump's thread, which owns its stream. */
static void reclaim(term_session *s)
{
	session_unlink(s);
	s->linger_at = INT64_MIN;
	vbx_pump_kick(&s->src);
}

/* Reclaim owner's lingering sessions while a cap is reached; the lock is
 * held. Returns the cap still reached (0: none); *n counts reclaims. */
static int make_room(vbx__term *t, const char *owner, const char *env_id,
                     int *n)
{
	int cap;
	term_session *s;
	while ((cap = cap_reached(t, owner, env_id)) != 0) {
		s = reclaimable(t, owner,
		                cap == VBX__TERM_FULL_ENV ? env_id : NULL);
		if (!s)
			return cap;
		reclaim(s);
		++*n;
	}
	return 0;
}

int vbx__term_reserve(vbx__term *t, const char *owner, const char *env_id,
                      enum vbx__term_full *full)
{
	term_resv *r = calloc(1, sizeof(*r));
	if (!r)
		return VBX_ENOMEM;
	snprintf(r->owner, sizeof(r->owner), "%s", owner ? owner : "");
	snprintf(r->env_id, sizeof(r->env_id), "%s", env_id);
	int reclaimed = 0;
	vbx_pump_lock(t->pump);
	int cap = make_room(t, owner, env_id, &reclaimed);
	if (!cap) {
		r->next = t->resv;
		t->resv = r;
		t->reserved++;
	}
	vbx_pump_unlock(t->pump);
	if (reclaimed)
		vbx_log_info(vbx__platform,
		             "user %s opened a terminal on environment %s over "
		             "a session cap: %d of their sessions without a "
		             "socket reclaimed",
		             owner && owner[0] ? owner : "(none)", env_id,
		             reclaimed);
	if (!cap)
		return VBX_OK;
	free(r);
	if (full)
		*full = (enum vbx__term_full)cap;
	return VBX_EAGAIN;
}

/* Drop one reservation of owner on env_id; the lock is held. */
static void unreserve_locked(vbx__term *t, const char *owner,
                             const char *env_id)
{
	for (term_resv **pr = &t->resv; *pr; pr = &(*pr)->next) {
		term_resv *r = *pr;
		if (owned_by(r->owner, owner) &&
		    strcmp(r->env_id, env_id) == 0) {
			*pr = r->next;
			free(r);
			t->reserved--;
			return;
		}
	}
}

void vbx__term_unreserve(vbx__term *t, const char *owner, const char *env_id)
{
	vbx_pump_lock(t->pump);
	unreserve_locked(t, owner, env_id);
	vbx_pump_unlock(t->pump);
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
			return VBX_PUMP_AGAIN;
		int channel = VBX_STREAM_STDOUT;
		ssize_t r =
		        st->ops->read(st, s->ring + pos, (size_t)n, &channel);
		if (r == VBX_EAGAIN)
			return VBX_PUMP_READ;
		if (r <= 0) {
			s->eof = true;
			snprintf(s->reason, sizeof(s->reason), "%s",
			         r == 0 ? "the process exited"
			                : "the terminal stream failed");
			if (r < 0)
				vbx_log_warn(
				        vbx__platform,
				        "terminal session %s: read: %s", s->id,
				        vbx_strerror(vbx__platform, (int)r));
			return VBX_PUMP_CLOSE;
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
			vbx_log_warn(vbx__platform,
			             "terminal session %s: input dropped: %s",
			             s->id,
			             vbx_strerror(vbx__platform, (int)r));
			s->in_off = s->in_len;
			break;
		}
		s->in_off += (size_t)r;
		s->traffic = true;
		vbx_counter_add(vbx__pm.term_bytes_in, (uint64_t)r);
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
		vbx_counter_add(vbx__pm.term_bytes_out, n);
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

static unsigned session_service(vbx_pump_src *src, unsigned ready, int64_t now,
                                int64_t *deadline)
{
	term_session *s = session_of(src);
	unsigned req = 0;
	bool input_waits = false;
	if (src->stream && !s->eof) {
		/* a resize applies before the input typed after it */
		if (s->resize_pending)
			req |= VBX_PUMP_BLOCKING;
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
		return VBX_PUMP_FREE;
	}
	if (!*deadline || s->linger_at < *deadline)
		*deadline = s->linger_at;
	return req;
}

static void session_blocking(vbx_pump_src *src)
{
	term_session *s = session_of(src);
	vbx_pump_lock(src->pump);
	unsigned cols = s->cols, rows = s->rows;
	bool want = s->resize_pending;
	s->resize_pending = false;
	vbx_stream *st = src->stream;
	vbx_pump_unlock(src->pump);
	if (!want || !st)
		return;
	int rc = st->ops->resize(st, cols, rows);
	if (rc != VBX_OK)
		vbx_log_debug(vbx__platform,
		              "terminal session %s: resize to %ux%u: %s", s->id,
		              cols, rows, vbx_strerror(vbx__platform, rc));
}

static void session_closed(vbx_pump_src *src, int rc, int exit_code)
{
	term_session *s = session_of(src);
	s->exited = true;
	s->exit_code = exit_code;
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform,
		             "terminal session %s: closing the stream: %s",
		             s->id, vbx_strerror(vbx__platform, rc));
	if (exit_code < 0 && strcmp(s->reason, "the process exited") == 0)
		snprintf(s->reason, sizeof(s->reason),
		         "the process ended; its exit status is unknown");
}

static void viewer_free(vbx__term_viewer *v)
{
	v->ops->release(v->sink);
	free(v);
}

static void session_free(vbx_pump_src *src)
{
	term_session *s = session_of(src);
	vbx_pump *p = s->term->pump;
	vbx_pump_lock(p);
	session_unlink(s);
	vbx__term_viewer *v = s->viewers;
	s->viewers = NULL;
	vbx_pump_unlock(p);
	while (v) {
		vbx__term_viewer *next = v->next;
		viewer_free(v);
		v = next;
	}
	free(s->ring);
	free(s->in);
	free(s);
}

static const vbx_pump_ops session_ops = {
        .service = session_service,
        .blocking = session_blocking,
        .closed = session_closed,
        .free = session_free,
};

/* ---- attaching ---- */

static void uuid_new(char out[VBX_UUID_LEN])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		/* never on Linux >= 3.17 with 16 bytes; still unique enough */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid();
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(t >> (i % 8 * 8)) ^
			       (unsigned char)i;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	vbx_uuid_from_bytes(b, out);
}

static term_session *session_new(vbx__term *t, const char *env_id,
                                 const char *owner)
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
	s->touched_at = vbx_pump_now_ms(t->pump);
	s->linger_at = s->touched_at + s->linger_ms;
	snprintf(s->env_id, sizeof(s->env_id), "%s", env_id);
	snprintf(s->owner, sizeof(s->owner), "%s", owner ? owner : "");
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

static int attach_new(vbx__term *t, const char *env_id, const char *owner,
                      vbx_stream *stream, vbx__term_viewer *v)
{
	term_session *s = session_new(t, env_id, owner);
	if (!s) {
		vbx__term_unreserve(t, owner, env_id);
		return VBX_ENOMEM;
	}
	/* nobody else sees s yet: hello goes first without the lock */
	viewer_link(s, v);
	send_hello(s, v, 0);
	vbx_pump_lock(t->pump);
	s->next = t->sessions;
	s->prev = NULL;
	if (t->sessions)
		t->sessions->prev = s;
	t->sessions = s;
	s->linked = true;
	t->nsessions++;
	vbx_gauge_inc(vbx__pm.term_sessions);
	unreserve_locked(t, owner, env_id);
	vbx_pump_unlock(t->pump);
	if (vbx_pump_add(t->pump, &s->src, &session_ops, stream) != VBX_OK) {
		vbx_pump_lock(t->pump);
		session_unlink(s);
		vbx_pump_unlock(t->pump);
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
	vbx_pump_lock(t->pump);
	term_session *s = session_find(t, start->session, env_id);
	if (!s) {
		vbx_pump_unlock(t->pump);
		return VBX_ENOTFOUND;
	}
	uint64_t tail = session_tail(s), from = tail, gap = 0;
	if (start->has_offset) {
		if (start->offset > s->head) {
			vbx_pump_unlock(t->pump);
			return VBX_EINVAL;
		}
		from = start->offset > tail ? start->offset : tail;
		gap = from - start->offset;
	}
	v->sent = v->acked = from;
	viewer_link(s, v);
	send_hello(s, v, gap);
	vbx_pump_kick(&s->src);
	vbx_pump_unlock(t->pump);
	return VBX_OK;
}

int vbx__term_attach(vbx__term *t, const char *env_id,
                     const vbx__term_start *start, vbx_stream *stream,
                     const vbx__term_sink_ops *ops, void *sink,
                     vbx__term_viewer **out)
{
	vbx__term_viewer *v = calloc(1, sizeof(*v));
	if (!v) {
		if (!start->session)
			vbx__term_unreserve(t, start->owner, env_id);
		return VBX_ENOMEM;
	}
	v->ops = ops;
	v->sink = sink;
	int rc = start->session
	                 ? attach_existing(t, env_id, start, v)
	                 : attach_new(t, env_id, start->owner, stream, v);
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
	vbx_pump *p = v->s->term->pump;
	vbx_pump_lock(p);
	if (v->closed) {
		vbx_pump_unlock(p);
		return 0;
	}
	if (!code)
		code = apply_frame(v, &f, &why);
	if (code)
		viewer_fail(v, code, why);
	else
		vbx_pump_kick(&v->s->src);
	vbx_pump_unlock(p);
	return code;
}

void vbx__term_drain(vbx__term_viewer *v)
{
	vbx_pump *p = v->s->term->pump;
	vbx_pump_lock(p);
	v->blocked = false;
	vbx_pump_kick(&v->s->src);
	vbx_pump_unlock(p);
}

void vbx__term_detach(vbx__term_viewer *v)
{
	term_session *s = v->s;
	vbx_pump *p = s->term->pump;
	vbx_pump_lock(p);
	for (vbx__term_viewer **i = &s->viewers; *i; i = &(*i)->next) {
		if (*i == v) {
			*i = v->next;
			break;
		}
	}
	if (--s->nviewers == 0) {
		s->idle_floor = v->acked;
		s->linger_at = vbx_pump_now_ms(s->term->pump) + s->linger_ms;
	}
	if (v->rx_paused)
		v->ops->pause(v->sink, 0);
	vbx_pump_kick(&s->src);
	vbx_pump_unlock(p);
	viewer_free(v);
}
