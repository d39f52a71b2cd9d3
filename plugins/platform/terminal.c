/* SPDX-License-Identifier: Apache-2.0 */
/*
 * terminal.c - /api/v1/environments/{id}/terminal, subprotocol
 * vibebox.terminal.v1 (docs/terminal-protocol.md): a WebSocket per viewer
 * of a terminal session of term.c.
 *
 * open (a worker) authorizes "exec", checks that the environment runs,
 * then joins the session named by ?session= or starts the image's shell
 * with runtime_exec. Each open after authentication and each close leave
 * an audit row (audit.h). The socket's callbacks (service thread) only hand
 * frames to the session manager, which never blocks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "term.h"

static vbx__term_limits term_lim;
static vbx_hook *h_exec, *h_env_get, *h_env_touch;

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static vbx_pump *shared_pump;
static vbx__term *shared_term;

/* ---- what both WebSocket routes of environments share ---- */

const char *vbx__ws_env_id(vbx_ws *ws)
{
	const char *id = vbx_ws_param(ws, "id");
	if (id && vbx_uuid_ok(id))
		return id;
	vbx_ws_close(ws, 4404, "environment not found");
	return NULL;
}

static int authorize_fail(vbx_ws *ws, int rc, const char *action)
{
	if (rc == VBX_EUNAVAIL) {
		vbx_ws_close(ws, 4503,
		             "authorization is unavailable; "
		             "try again later");
		return rc;
	}
	vbx_log_error(vbx__platform,
	              "WebSocket %s: the authorize hook failed on \"%s\": %s",
	              vbx_ws_param(ws, "id"), action,
	              vbx_strerror(vbx__platform, rc));
	vbx_ws_close(ws, 4500, "authorization failed; see the daemon's log");
	return VBX_ERR;
}

int vbx__ws_env_authorize(vbx_ws *ws, const char *action, const char *id)
{
	if (!vbx__api.authorize || vbx__api.authorize->count == 0) {
		vbx_ws_close(ws, 4503,
		             "no plugin provides the \"authz\" "
		             "capability");
		return VBX_EUNAVAIL;
	}
	const vbx_resource res = {"environment", id};
	const char *failed;
	/* one run of the hook tells 4404 from 4403 */
	int rc = vbx_authorize_verdict_row(vbx__platform, vbx_ws_principal(ws),
	                                   action, &res, NULL, &failed);
	if (rc == VBX_OK)
		return VBX_OK;
	if (rc == VBX_ENOTFOUND) {
		vbx_ws_close(ws, 4404, "environment not found");
		return rc;
	}
	if (rc != VBX_EDENIED)
		return authorize_fail(ws, rc, failed);
	vbx_ws_close(ws, 4403,
	             strcmp(action, "exec") == 0
	                     ? "you may not open a terminal in "
	                       "this environment (developer role "
	                       "needed)"
	                     : "forbidden");
	return VBX_EDENIED;
}

int vbx__ws_env_recheck(vbx_ws *ws, const char *action)
{
	const char *id = vbx_ws_param(ws, "id");
	const char *failed;
	if (!vbx__api.authorize || vbx__api.authorize->count == 0)
		return VBX_EUNAVAIL;
	const vbx_resource res = {"environment", id};
	return vbx_authorize_verdict_row(vbx__platform, vbx_ws_principal(ws),
	                                 action, &res, NULL, &failed);
}

int vbx__ws_env_get(vbx_ws *ws, const char *id, vbx_env *out)
{
	int rc = h_env_get ? vbx_hook_store_env_get_run(h_env_get, id, out)
	                   : VBX_EUNAVAIL;
	if (rc == VBX_OK)
		return VBX_OK;
	if (rc == VBX_ENOTFOUND)
		vbx_ws_close(ws, 4404, "environment not found");
	else if (rc == VBX_EUNAVAIL)
		vbx_ws_close(ws, 4503,
		             "the store is unavailable; try again "
		             "later");
	else
		vbx_ws_close(ws, 4500,
		             "reading the environment failed; see "
		             "the daemon's log");
	return rc;
}

/* ---- the shared pump and session manager ---- */

static void touch_task(void *ud)
{
	char *id = ud;
	if (h_env_touch)
		vbx_hook_store_env_touch_run(h_env_touch, id);
	free(id);
}

/* Lock held (term.h): hand the store call to a worker. */
static void on_activity(void *ud, const char *env_id)
{
	char *id = strdup(env_id);
	if (id && vbx_work_submit(vbx__platform, touch_task, id) != VBX_OK)
		free(id);
}

vbx_pump *vbx__terminal_pump(void)
{
	pthread_mutex_lock(&shared_lock);
	vbx_pump *p = shared_pump;
	pthread_mutex_unlock(&shared_lock);
	return p;
}

static vbx__term *terminal_sessions(void)
{
	vbx_pump *p = vbx__terminal_pump();
	pthread_mutex_lock(&shared_lock);
	if (p && !shared_term)
		shared_term = vbx__term_new(p, &term_lim, on_activity, NULL);
	vbx__term *t = shared_term;
	pthread_mutex_unlock(&shared_lock);
	return t;
}

void vbx__terminal_shutdown(void)
{
	pthread_mutex_lock(&shared_lock);
	vbx_pump_free(vbx__platform, shared_pump);
	vbx__term_free(shared_term);
	shared_pump = NULL;
	shared_term = NULL;
	pthread_mutex_unlock(&shared_lock);
}

/* ---- viewers are WebSockets ---- */

static int sink_send(void *sink, const void *data, size_t len, int binary)
{
	return vbx_ws_send(sink, data, len, binary);
}

static void sink_close(void *sink, int code, const char *reason)
{
	vbx_ws_close(sink, code, reason);
}

static void sink_pause(void *sink, int paused)
{
	vbx_ws_pause(sink, paused);
}

static void sink_release(void *sink)
{
	vbx_ws_unref(sink);
}

static const vbx__term_sink_ops ws_sink = {
        .send = sink_send,
        .close = sink_close,
        .pause = sink_pause,
        .release = sink_release,
};

/* ---- the query ---- */

/* Decimal digits only, at most max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

typedef struct term_query {
	vbx__term_start start;
	unsigned cols, rows;
} term_query;

static bool parse_size(vbx_ws *ws, const char *name, unsigned *out)
{
	const char *s = vbx_ws_query(ws, name);
	uint64_t v = 0;
	*out = 0;
	if (!s)
		return true;
	if (!parse_u64(s, VBX__TERM_SIZE_MAX, &v) || v < 1)
		return false;
	*out = (unsigned)v;
	return true;
}

static int parse_query(vbx_ws *ws, term_query *q)
{
	memset(q, 0, sizeof(*q));
	if (!parse_size(ws, "cols", &q->cols) ||
	    !parse_size(ws, "rows", &q->rows)) {
		vbx_ws_close(ws, 4400, "cols and rows must be 1..1000");
		return VBX_EINVAL;
	}
	q->start.session = vbx_ws_query(ws, "session");
	if (q->start.session && !vbx_uuid_ok(q->start.session)) {
		vbx_ws_close(ws, 4400, "session must be a session id (UUID)");
		return VBX_EINVAL;
	}
	const char *off = vbx_ws_query(ws, "offset");
	if (off && !q->start.session) {
		vbx_ws_close(ws, 4400, "offset needs session");
		return VBX_EINVAL;
	}
	if (off && !parse_u64(off, UINT64_MAX, &q->start.offset)) {
		vbx_ws_close(ws, 4400, "offset must be a decimal byte offset");
		return VBX_EINVAL;
	}
	q->start.has_offset = off != NULL;
	return VBX_OK;
}

/* ---- open ---- */

static int exec_fail(vbx_ws *ws, int rc)
{
	switch (rc) {
	case VBX_ESTATE:
	case VBX_ENOTFOUND:
		vbx_ws_close(ws, 4409,
		             "the environment's container is not "
		             "running; start it first");
		break;
	case VBX_EUNAVAIL:
		vbx_ws_close(ws, 4503,
		             "the runtime is unavailable (no "
		             "runtime plugin, or its engine is "
		             "down)");
		break;
	default:
		vbx_ws_close(ws, 4500,
		             "starting the shell failed; see the "
		             "daemon's log");
	}
	return rc;
}

/* A cap refused a new session: the caller's own (4429: close or end a
 * session) or everyone's (4503: try later). */
static int reserve_fail(vbx_ws *ws, int rc, enum vbx__term_full full)
{
	if (rc == VBX_ENOMEM)
		vbx_ws_close(ws, 4500, "out of memory");
	else if (full == VBX__TERM_FULL_USER)
		vbx_ws_close(ws, 4429,
		             "you have too many terminal sessions open "
		             "(terminal.max_sessions_per_user); close one");
	else if (full == VBX__TERM_FULL_ENV)
		vbx_ws_close(ws, 4429,
		             "this environment has too many terminal "
		             "sessions (terminal.max_sessions_per_env); close "
		             "one");
	else
		vbx_ws_close(ws, 4503,
		             "too many terminal sessions "
		             "(terminal.max_sessions); try again "
		             "later");
	return rc;
}

/* A new session: take a slot, start the shell, attach. */
static int open_new(vbx_ws *ws, vbx__term *t, const vbx_env *env, term_query *q,
                    vbx__term_viewer **v)
{
	const vbx_principal *who = vbx_ws_principal(ws);
	enum vbx__term_full full = VBX__TERM_FULL_INSTANCE;
	q->start.owner = who ? who->user_id : "";
	int rc = vbx__term_reserve(t, q->start.owner, env->id, &full);
	if (rc != VBX_OK)
		return reserve_fail(ws, rc, full);
	vbx_exec_spec spec = {.argv = NULL, .cols = q->cols, .rows = q->rows};
	vbx_stream *st = NULL;
	rc = vbx_hook_runtime_exec_run(h_exec, env->container_id, &spec, &st);
	if (rc != VBX_OK || !st) {
		vbx__term_unreserve(t, q->start.owner, env->id);
		if (rc == VBX_OK)
			rc = VBX_ERR;
		vbx_log_info(vbx__platform,
		             "terminal for environment %s: runtime_exec: %s",
		             env->id, vbx_strerror(vbx__platform, rc));
		return exec_fail(ws, rc);
	}
	vbx_ws_ref(ws);
	rc = vbx__term_attach(t, env->id, &q->start, st, &ws_sink, ws, v);
	if (rc != VBX_OK) {
		vbx_ws_unref(ws);
		st->ops->close(st, NULL);
		vbx_ws_close(ws, 4500, "the terminal session could not start");
	}
	return rc;
}

static int open_existing(vbx_ws *ws, vbx__term *t, const vbx_env *env,
                         const term_query *q, vbx__term_viewer **v)
{
	vbx_ws_ref(ws);
	int rc = vbx__term_attach(t, env->id, &q->start, NULL, &ws_sink, ws, v);
	if (rc == VBX_OK)
		return VBX_OK;
	vbx_ws_unref(ws);
	if (rc == VBX_ENOTFOUND)
		vbx_ws_close(ws, 4404,
		             "no such terminal session (it ended "
		             "or its linger time passed)");
	else if (rc == VBX_EINVAL)
		vbx_ws_close(ws, 4400,
		             "offset is beyond the session's "
		             "output");
	else
		vbx_ws_close(ws, 4500, "attaching failed");
	return rc;
}

/* What a terminal socket keeps (its data): the viewer, and what its
 * audit row of close needs. */
typedef struct term_socket {
	vbx__term_viewer *v;
	vbx__term_audit audit;
} term_socket;

static int open_viewer(vbx_ws *ws, vbx__term_viewer **out, vbx_env *env,
                       bool *joined)
{
	const char *id = vbx__ws_env_id(ws);
	term_query q;
	if (!id)
		return VBX_ENOTFOUND;
	int rc = vbx__ws_env_authorize(ws, "exec", id);
	if (rc != VBX_OK)
		return rc;
	if ((rc = parse_query(ws, &q)) != VBX_OK ||
	    (rc = vbx__ws_env_get(ws, id, env)) != VBX_OK)
		return rc;
	if (strcmp(env->status, "running") != 0 || !env->container_id[0]) {
		char why[64];
		snprintf(why, sizeof(why),
		         "the environment is %s; start it "
		         "first",
		         env->status);
		vbx_ws_close(ws, 4409, why);
		return VBX_ESTATE;
	}
	vbx__term *t = terminal_sessions();
	if (!t) {
		vbx_ws_close(ws, 4500, "out of memory");
		return VBX_ENOMEM;
	}
	*joined = q.start.session != NULL;
	return *joined ? open_existing(ws, t, env, &q, out)
	               : open_new(ws, t, env, &q, out);
}

/* Every open after authentication leaves an audit row: terminal.open, or
 * terminal.refused with the reason. */
static int terminal_open(void *ud, vbx_ws *ws)
{
	vbx_env env;
	bool joined = false;
	char session[VBX_ID_LEN];
	term_socket *ts = calloc(1, sizeof(*ts));
	int rc = ts ? open_viewer(ws, &ts->v, &env, &joined) : VBX_ENOMEM;
	if (rc != VBX_OK) {
		free(ts); /* no viewer was attached */
		vbx__term_audit_refused(ws, rc);
		return rc;
	}
	vbx__term_session_id(ts->v, session);
	vbx__term_audit_begin(&ts->audit, ws, env.id, session);
	/* The viewer's acks and drains may come before open returns: set
	 * the data before the store write, and write from a copy, since
	 * close may free ts once it is set. */
	vbx__term_audit opened = ts->audit;
	vbx_ws_set_data(ws, ts);
	vbx__term_audit_open(&opened, joined);
	if (h_env_touch)
		vbx_hook_store_env_touch_run(h_env_touch, env.id);
	return VBX_OK;
}

/* ---- the service thread ---- */

static void terminal_message(void *ud, vbx_ws *ws, const void *data, size_t len,
                             int binary)
{
	term_socket *ts = vbx_ws_data(ws);
	if (ts)
		vbx__term_message(ts->v, data, len, binary);
}

static void terminal_drain(void *ud, vbx_ws *ws)
{
	term_socket *ts = vbx_ws_data(ws);
	if (ts)
		vbx__term_drain(ts->v);
}

static void terminal_close(void *ud, vbx_ws *ws, int code)
{
	term_socket *ts = vbx_ws_data(ws);
	vbx_ws_set_data(ws, NULL);
	if (!ts)
		return;
	vbx__term_detach(ts->v);
	vbx__term_audit_close(&ts->audit, code);
	free(ts);
}

/* A worker, after a change of the principal's access (principal_changed):
 * a member demoted to viewer or removed loses the shell at once. */
static int terminal_recheck(void *ud, vbx_ws *ws)
{
	return vbx__ws_env_recheck(ws, "exec");
}

static const vbx_ws_ops terminal_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = terminal_open,
        .message = terminal_message,
        .drain = terminal_drain,
        .close = terminal_close,
        .recheck = terminal_recheck,
};

int vbx__terminal_ws_register(vbx_plugin *self, const vbx__term_limits *lim)
{
	term_lim = *lim;
	h_exec = vbx_hook_runtime_exec_get(self);
	h_env_get = vbx_hook_store_env_get_get(self);
	h_env_touch = vbx_hook_store_env_touch_get(self);
	if (!h_exec || !h_env_get) {
		vbx_log_error(
		        self,
		        "the runtime or store hooks are declared with "
		        "other signatures than the platform's; "
		        "/api/v1/environments/{id}/terminal is not served "
		        "(rebuild the plugins against this SDK)");
		return VBX_OK;
	}
	pthread_mutex_lock(&shared_lock);
	if (!shared_pump)
		shared_pump = vbx_pump_new(self);
	pthread_mutex_unlock(&shared_lock);
	if (!shared_pump)
		return VBX_ENOMEM;
	return vbx_ws_route_add(self, "/api/v1/environments/{id}/terminal",
	                        "vibebox.terminal.v1", 0, &terminal_ops, NULL);
}
