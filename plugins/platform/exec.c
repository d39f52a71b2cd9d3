/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec.c - /api/v1/environments/{id}/exec, subprotocol vibebox.exec.v1
 * (docs/exec-protocol.md): one command without a TTY per socket.
 *
 * open (a worker) authorizes "exec" like the terminal, checks that the
 * environment runs and sends hello. The client's start frame hands the
 * runtime_exec_pipe call to a worker; its stream then lives on the
 * terminal's pump, read only while the client is less than a window
 * behind (flow.h), so a slow reader slows the command and the daemon
 * holds at most one frame of it. stdin has the same window the other way:
 * a client sends at most `window` bytes past the last stdin-ack, which
 * the server sends as the command takes them. (Pausing the socket on a
 * full stdin queue instead would also stop the acks of output, and a
 * command like cat, blocked on its output, would never read again.)
 * stdin-close becomes the stream's half-close once every queued byte
 * went in.
 *
 * A session is shared by the socket, the worker that starts its command
 * and the pump; `refs` counts them under the pump's lock, and the last
 * one frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "exec.h"
#include "flow.h"
#include "inq.h"
#include "term.h"

#define EXEC_CHUNK (16u << 10)   /* output bytes per frame, at most */
#define EXEC_HDR 9u              /* type + u64 offset */
#define EXEC_BUDGET (256u << 10) /* read per service, then others run */

static vbx_hook *h_exec_pipe, *h_env_touch;
static uint64_t exec_window;

typedef struct exec_sess {
	vbx_pump_src src; /* first */
	vbx_pump *pump;
	int refs;
	vbx_ws *ws; /* NULL once the socket closed */
	char container_id[VBX_CONTAINER_ID_LEN];
	vbx__exec_start start; /* the worker's until the stream runs */
	char argv0[96];
	bool started, added, dead;
	/* output: offsets count stdout and stderr bytes together */
	uint64_t window, head, sent, acked;
	unsigned char frame[EXEC_HDR + EXEC_CHUNK];
	size_t frame_len; /* a frame the socket did not take yet */
	bool blocked;     /* its queue is full: wait for drain */
	/* stdin */
	vbx__inq in;
	uint64_t in_total; /* stdin bytes received */
	uint64_t in_done;  /* of them written to the command */
	uint64_t in_acked; /* the last stdin-ack sent */
	bool in_eof, in_closed;
	/* the end */
	bool eof, exited, exit_sent;
	int exit_code;
	char reason[96];
	vbx__term_audit audit;
	int64_t touched_at; /* pump clock: the last activity recorded */
} exec_sess;

static void sess_release(exec_sess *s)
{
	vbx_pump_lock(s->pump);
	int n = --s->refs;
	vbx_pump_unlock(s->pump);
	if (n)
		return;
	vbx__exec_start_free(&s->start);
	vbx__inq_free(&s->in);
	free(s);
}

/* ---- the pump's side (its thread, lock held) ---- */

/* The pending output frame into the socket; false when it must wait. */
static bool sess_flush(exec_sess *s)
{
	if (!s->frame_len)
		return true;
	if (s->blocked || s->dead || !s->ws)
		return false;
	int rc = vbx_ws_send(s->ws, s->frame, s->frame_len, 1);
	if (rc == VBX_EAGAIN) {
		s->blocked = true;
		return false;
	}
	if (rc != VBX_OK) {
		s->dead = true; /* closing: its close callback comes */
		return false;
	}
	s->sent += s->frame_len - EXEC_HDR;
	s->frame_len = 0;
	return true;
}

static unsigned sess_read(exec_sess *s)
{
	vbx_stream *st = s->src.stream;
	size_t budget = EXEC_BUDGET;
	for (;;) {
		if (!sess_flush(s))
			return 0; /* drain kicks */
		uint64_t n = vbx__flow_room(s->head, s->acked, s->window);
		if (n == 0)
			return 0; /* an ack kicks */
		if (n > EXEC_CHUNK)
			n = EXEC_CHUNK;
		if (budget == 0)
			return VBX_PUMP_AGAIN;
		int ch = VBX_STREAM_STDOUT;
		ssize_t r =
		        st->ops->read(st, s->frame + EXEC_HDR, (size_t)n, &ch);
		if (r == VBX_EAGAIN)
			return VBX_PUMP_READ;
		if (r <= 0) {
			s->eof = true;
			snprintf(s->reason, sizeof(s->reason), "%s",
			         r == 0 ? "the process exited"
			                : "the exec stream failed");
			if (r < 0)
				vbx_log_warn(
				        vbx__platform,
				        "exec in environment %s: read: %s",
				        s->audit.env_id,
				        vbx_strerror(vbx__platform, (int)r));
			return VBX_PUMP_CLOSE;
		}
		s->frame[0] = ch == VBX_STREAM_STDERR ? VBX__EXEC_STDERR
		                                      : VBX__EXEC_STDOUT;
		vbx__term_put_u64(s->frame + 1, s->head);
		s->frame_len = EXEC_HDR + (size_t)r;
		s->head += (uint64_t)r;
		budget = budget > (size_t)r ? budget - (size_t)r : 0;
	}
}

/* Queued stdin into the stream, then its half-close. The stream's fd()
 * only promises POLLIN, so what it cannot take now is retried on a short
 * timer (as the terminal does). Returns whether input still waits. */
static bool sess_write(exec_sess *s)
{
	vbx_stream *st = s->src.stream;
	uint64_t before = vbx__inq_pending(&s->in), wrote = 0;
	int rc = vbx__inq_write(&s->in, st, &wrote);
	/* dropped bytes left the queue too: they free the client's window */
	s->in_done += rc == VBX_OK || rc == VBX_EAGAIN ? wrote : before;
	if (rc == VBX_EAGAIN)
		return true;
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform,
		             "exec in environment %s: stdin dropped: %s",
		             s->audit.env_id, vbx_strerror(vbx__platform, rc));
	if (s->in_eof && !s->in_closed) {
		ssize_t r = st->ops->write(st, NULL, 0);
		if (r == VBX_EAGAIN)
			return true;
		s->in_closed = true;
		if (r < 0)
			vbx_log_warn(
			        vbx__platform,
			        "exec in environment %s: closing stdin: %s",
			        s->audit.env_id,
			        vbx_strerror(vbx__platform, (int)r));
	}
	return false;
}

/* Tell the client how much stdin the command took: when its queue ran
 * dry, or a quarter window went in (fewer frames, the window still
 * flows). */
static void sess_stdin_ack(exec_sess *s)
{
	unsigned char f[9];
	bool dry = vbx__inq_pending(&s->in) == 0;
	if (s->in_acked == s->in_done || s->blocked || s->dead || !s->ws ||
	    (!dry && s->in_done - s->in_acked < s->window / 4))
		return;
	f[0] = VBX__EXEC_STDIN_ACK;
	vbx__term_put_u64(f + 1, s->in_done);
	int rc = vbx_ws_send(s->ws, f, sizeof(f), 1);
	if (rc == VBX_EAGAIN)
		s->blocked = true;
	else if (rc != VBX_OK)
		s->dead = true;
	else
		s->in_acked = s->in_done;
}

static void sess_exit(exec_sess *s)
{
	char json[192];
	if (s->exit_sent || s->frame_len || s->dead || !s->ws)
		return;
	int n = snprintf(json + 1, sizeof(json) - 1,
	                 "{\"code\":%d,\"reason\":\"%s\"}", s->exit_code,
	                 s->reason);
	json[0] = (char)VBX__EXEC_EXIT;
	if (n < 0 || (size_t)n >= sizeof(json) - 1)
		n = 0;
	int rc = vbx_ws_send(s->ws, json, (size_t)n + 1, 1);
	if (rc == VBX_EAGAIN) {
		s->blocked = true;
		return;
	}
	s->exit_sent = true;
	vbx_ws_close(s->ws, 1000, "process exited");
}

static void touch_task(void *ud)
{
	char *id = ud;
	if (h_env_touch)
		vbx_hook_store_env_touch_run(h_env_touch, id);
	free(id);
}

/* A running command is activity, as a terminal is: the idle policy
 * (environments.idle_timeout) must not stop a long build under it. The
 * store call goes to a worker; the lock is held here. */
static void sess_touch(exec_sess *s, int64_t now)
{
	if (now - s->touched_at < VBX__TERM_TOUCH_MS)
		return;
	s->touched_at = now;
	char *id = strdup(s->audit.env_id);
	if (id && vbx_work_submit(vbx__platform, touch_task, id) != VBX_OK)
		free(id);
}

static unsigned sess_service(vbx_pump_src *src, unsigned ready, int64_t now,
                             int64_t *deadline)
{
	exec_sess *s = (exec_sess *)src;
	unsigned req = 0;
	(void)ready;
	if (!s->ws)
		return VBX_PUMP_FREE; /* the socket is gone */
	sess_touch(s, now);
	if (src->stream && !s->eof) {
		if (sess_write(s))
			*deadline = now + VBX__TERM_WRITE_RETRY_MS;
		sess_stdin_ack(s);
		req |= sess_read(s);
	} else {
		sess_flush(s);
	}
	if (s->exited)
		sess_exit(s);
	/* a quiet command is serviced anyway, for its next touch */
	int64_t touch = s->touched_at + VBX__TERM_TOUCH_MS;
	if (src->stream && (!*deadline || touch < *deadline))
		*deadline = touch;
	return req;
}

static void sess_closed(vbx_pump_src *src, int rc, int exit_code)
{
	exec_sess *s = (exec_sess *)src;
	s->exited = true;
	s->exit_code = exit_code;
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform,
		             "exec in environment %s: closing the stream: %s",
		             s->audit.env_id, vbx_strerror(vbx__platform, rc));
	if (exit_code < 0 && strcmp(s->reason, "the process exited") == 0)
		snprintf(s->reason, sizeof(s->reason),
		         "the process ended; its exit status is unknown");
}

static void sess_free(vbx_pump_src *src)
{
	sess_release((exec_sess *)src);
}

static const vbx_pump_ops sess_ops = {
        .service = sess_service,
        .closed = sess_closed,
        .free = sess_free,
};

/* ---- starting the command (a worker) ---- */

/* The command could not start: say why in an error frame, then close. */
static void start_fail(exec_sess *s, int rc)
{
	int code = 4500;
	const char *msg = "starting the command failed; see the daemon's log";
	if (rc == VBX_ESTATE || rc == VBX_ENOTFOUND) {
		code = 4409;
		msg = "the environment's container is not running; start it "
		      "first";
	} else if (rc == VBX_EUNAVAIL) {
		code = 4503;
		msg = "the runtime is unavailable (no runtime plugin, or its "
		      "engine is down)";
	} else if (rc == VBX_EINVAL) {
		code = 4400;
		msg = "the runtime refused the command";
	}
	char json[192];
	int n = snprintf(json + 1, sizeof(json) - 1, "{\"message\":\"%s\"}",
	                 msg);
	json[0] = (char)VBX__EXEC_ERROR;
	vbx_pump_lock(s->pump);
	if (s->ws) {
		vbx_ws_send(s->ws, json, (size_t)n + 1, 1);
		vbx_ws_close(s->ws, code, msg);
	}
	vbx_pump_unlock(s->pump);
}

static void start_task(void *ud)
{
	exec_sess *s = ud;
	vbx_exec_spec spec = {
	        .argv = (const char *const *)s->start.argv,
	        .variables = (const char *const *)s->start.env,
	        .n_variables = s->start.envc,
	};
	vbx_stream *st = NULL;
	int rc = vbx_hook_runtime_exec_pipe_run(h_exec_pipe, s->container_id,
	                                        &spec, &st);
	if (rc == VBX_OK && !st)
		rc = VBX_ERR;
	vbx__exec_audit_start(&s->audit, s->argv0, s->start.argc, rc);
	if (rc != VBX_OK) {
		vbx_log_info(vbx__platform,
		             "exec in environment %s: runtime_exec_pipe: %s",
		             s->audit.env_id, vbx_strerror(vbx__platform, rc));
		start_fail(s, rc);
		sess_release(s);
		return;
	}
	/* the worker's reference becomes the pump's */
	if (vbx_pump_add(s->pump, &s->src, &sess_ops, st) != VBX_OK) {
		st->ops->close(st, NULL);
		start_fail(s, VBX_ERR);
		sess_release(s);
		return;
	}
	vbx_pump_lock(s->pump);
	s->touched_at = INT64_MIN / 2; /* record the start at once */
	s->added = true;
	vbx_pump_kick(&s->src); /* what came before `added` was set */
	vbx_pump_unlock(s->pump);
}

/* ---- the socket (service thread) ---- */

/* A start frame: take the command and hand it to a worker. */
static int on_start(exec_sess *s, const vbx__exec_frame *f, const char **why)
{
	vbx__exec_start st;
	if (s->started) {
		*why = "a second start frame";
		return 1002;
	}
	int code = vbx__exec_start_parse(f->data, f->len, &st, why);
	if (code)
		return code;
	s->start = st;
	s->started = true;
	snprintf(s->argv0, sizeof(s->argv0), "%s", st.argv[0]);
	s->refs++; /* the worker's */
	if (vbx_work_submit(vbx__platform, start_task, s) != VBX_OK) {
		s->refs--;
		*why = "the daemon is stopping";
		return 1001;
	}
	return 0;
}

static int apply_frame(exec_sess *s, const vbx__exec_frame *f, const char **why)
{
	if (f->type == VBX__EXEC_START)
		return on_start(s, f, why);
	if (!s->started) {
		*why = "the first frame must be start (0x03)";
		return 1002;
	}
	switch (f->type) {
	case VBX__EXEC_STDIN:
	case VBX__EXEC_STDIN_CLOSE:
		if (s->in_eof) {
			*why = "stdin was closed already";
			return 1002;
		}
		s->in_eof = f->type == VBX__EXEC_STDIN_CLOSE;
		if (s->in_total + f->len - s->in_done > s->window) {
			*why = "stdin beyond the window: wait for stdin-ack";
			return 1008;
		}
		s->in_total += f->len;
		if (f->len &&
		    vbx__inq_push(&s->in, f->data, f->len) != VBX_OK) {
			*why = "out of memory";
			return 1011;
		}
		return 0;
	default:
		return vbx__flow_ack(&s->acked, s->sent, f->ack, why);
	}
}

static void exec_message(void *ud, vbx_ws *ws, const void *data, size_t len,
                         int binary)
{
	exec_sess *s = vbx_ws_data(ws);
	vbx__exec_frame f;
	const char *why = "text frames are not part of vibebox.exec.v1";
	(void)ud;
	if (!s)
		return;
	int code = binary ? vbx__exec_frame_parse(data, len, &f, &why) : 1003;
	vbx_pump_lock(s->pump);
	if (!code && !s->dead)
		code = apply_frame(s, &f, &why);
	if (code) {
		s->dead = true;
		vbx_ws_close(ws, code, why);
	} else if (s->added) {
		vbx_pump_kick(&s->src);
	}
	vbx_pump_unlock(s->pump);
}

static void exec_drain(void *ud, vbx_ws *ws)
{
	exec_sess *s = vbx_ws_data(ws);
	(void)ud;
	if (!s)
		return;
	vbx_pump_lock(s->pump);
	s->blocked = false;
	if (s->added)
		vbx_pump_kick(&s->src);
	vbx_pump_unlock(s->pump);
}

static void exec_close(void *ud, vbx_ws *ws, int code)
{
	exec_sess *s = vbx_ws_data(ws);
	(void)ud;
	vbx_ws_set_data(ws, NULL);
	if (!s)
		return;
	vbx_pump_lock(s->pump);
	s->ws = NULL;
	bool exited = s->exited;
	int exit_code = s->exit_code;
	if (s->added)
		vbx_pump_kick(&s->src); /* it frees itself */
	vbx_pump_unlock(s->pump);
	if (s->started)
		vbx__exec_audit_close(&s->audit, s->argv0,
		                      exited ? exit_code : -1, code);
	sess_release(s);
}

/* ---- open (a worker) ---- */

static int open_checks(vbx_ws *ws, vbx_env *env)
{
	const char *id = vbx__ws_env_id(ws);
	if (!id)
		return VBX_ENOTFOUND;
	int rc = vbx__ws_env_authorize(ws, "exec", id);
	if (rc == VBX_OK)
		rc = vbx__ws_env_get(ws, id, env);
	if (rc != VBX_OK)
		return rc;
	if (strcmp(env->status, "running") != 0 || !env->container_id[0]) {
		char why[64];
		snprintf(why, sizeof(why),
		         "the environment is %s; start it first", env->status);
		vbx_ws_close(ws, 4409, why);
		return VBX_ESTATE;
	}
	return VBX_OK;
}

static int exec_open(void *ud, vbx_ws *ws)
{
	vbx_env env;
	(void)ud;
	vbx_pump *pump = vbx__terminal_pump();
	int rc = pump ? open_checks(ws, &env) : VBX_EUNAVAIL;
	exec_sess *s = rc == VBX_OK ? calloc(1, sizeof(*s)) : NULL;
	if (rc == VBX_OK && !s) {
		vbx_ws_close(ws, 4500, "out of memory");
		rc = VBX_ENOMEM;
	}
	if (rc != VBX_OK) {
		if (!pump)
			vbx_ws_close(ws, 4503, "exec is not available");
		vbx__exec_audit_refused(ws, rc);
		return rc;
	}
	s->pump = pump;
	s->refs = 1; /* the socket's */
	s->ws = ws;
	s->window = exec_window;
	s->exit_code = -1;
	snprintf(s->container_id, sizeof(s->container_id), "%s",
	         env.container_id);
	vbx__term_audit_begin(&s->audit, ws, env.id, "");
	char hello[64];
	int n = snprintf(hello + 1, sizeof(hello) - 1, "{\"window\":%llu}",
	                 (unsigned long long)s->window);
	hello[0] = (char)VBX__EXEC_HELLO;
	vbx_ws_set_data(ws, s);
	vbx_ws_send(ws, hello, (size_t)n + 1, 1);
	return VBX_OK;
}

/* A worker, after a change of the principal's access: a member demoted
 * to viewer or removed loses the command at once (4403). */
static int exec_recheck(void *ud, vbx_ws *ws)
{
	(void)ud;
	return vbx__ws_env_recheck(ws, "exec");
}

static const vbx_ws_ops exec_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = exec_open,
        .message = exec_message,
        .drain = exec_drain,
        .close = exec_close,
        .recheck = exec_recheck,
};

int vbx__exec_ws_register(vbx_plugin *self, uint64_t window)
{
	exec_window = window;
	h_exec_pipe = vbx_hook_runtime_exec_pipe_get(self);
	h_env_touch = vbx_hook_store_env_touch_get(self);
	if (!h_exec_pipe) {
		vbx_log_error(self,
		              "runtime_exec_pipe is declared with another "
		              "signature than the platform's; "
		              "/api/v1/environments/{id}/exec is not served "
		              "(rebuild the plugins against this SDK)");
		return VBX_OK;
	}
	return vbx_ws_route_add(self, "/api/v1/environments/{id}/exec",
	                        "vibebox.exec.v1", 0, &exec_ops, NULL);
}
