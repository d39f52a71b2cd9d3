/* SPDX-License-Identifier: Apache-2.0 */
/*
 * watch.c - keep the store's environment statuses in agreement with the
 * engine.
 *
 * Two threads:
 *   - the event follower streams GET /events (container events of managed
 *     containers) and moves a running environment to stopped or error
 *     within moments of its container dying or being removed. When the
 *     engine goes away it retries with a backoff (0.5 s doubling to 5 s)
 *     and asks for a reconcile pass once it is back, for what it missed.
 *   - the timer runs a reconcile pass at start and every
 *     reconcile_interval: environments in running, starting or stopping
 *     are checked against their containers (gone, exited, stuck in a
 *     phase past DKR_PHASE_TIMEOUT_MS), and containers with VibeBox's
 *     labels whose environment no longer exists are removed. Between
 *     passes it stops environments idle for idle_timeout.
 *
 * Every change is a compare-and-set in the store (store_env_transition),
 * so the API and the watcher never overwrite each other: whoever loses
 * gets VBX_ESTATE and leaves it. Every change publishes env_status.
 *
 * With several replicas each one runs these passes; the transitions are
 * safe to race, but the work is repeated. A single-runner lock (Redis,
 * with a TTL) is a later issue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000
#define RECHECK_MS 2000 /* a pass soon after an event left a doubt */
#define IDLE_STOP_S 10  /* docker stop's grace period for idle stops */
#define OOM_RING 16     /* containers seen in an oom event lately */
#define ENV_ALL_ACTIVE (VBX_ENV_RUNNING | VBX_ENV_STARTING | VBX_ENV_STOPPING)

struct dkr_watch {
	dkr *d;
	vbx_hook *env_get, *env_list, *env_transition;
	vbx_event *env_status;
	CURLM *multi; /* the event stream's; woken by dkr_watch_stop */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* under lock; also read atomically below */
	atomic_bool stopping;
	bool pass_now;       /* under lock: the follower asks for a pass */
	int64_t pass_due_ms; /* under lock: 0, or a recheck time */

	pthread_t events_thread, timer_thread;
	bool events_running, timer_running;

	/* The follower's own state (its thread only). */
	dkr_jsplit split;
	char oom[OOM_RING][VBX_CONTAINER_ID_LEN];
	unsigned oom_next;
	long http_status;
	char err[256]; /* the body of an error answer */
	size_t err_len;

	/* The timer's (its thread only): log a failing pass once. */
	bool store_down, engine_down;
};

/* ---- time ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec abs_after(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* ---- the stream splitter (pure) ---- */

void dkr_jsplit_reset(dkr_jsplit *s)
{
	s->len = 0;
	s->depth = 0;
	s->in_str = s->esc = s->skip = false;
}

void dkr_jsplit_free(dkr_jsplit *s)
{
	free(s->buf);
	*s = (dkr_jsplit){0};
}

static int jsplit_push(dkr_jsplit *s, char ch)
{
	if (s->len + 1 >= s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		char *nb = realloc(s->buf, ncap);
		if (!nb)
			return VBX_ENOMEM;
		s->buf = nb;
		s->cap = ncap;
	}
	s->buf[s->len++] = ch;
	return VBX_OK;
}

/* Drop the object being collected; resynchronise at the next line. */
static void jsplit_drop(dkr_jsplit *s, bool to_line_end)
{
	dkr_jsplit_reset(s);
	s->skip = to_line_end;
	s->dropped++;
}

/* Track strings and nesting of one byte inside an object. Returns true
 * when the byte closed the object. */
static bool jsplit_track(dkr_jsplit *s, char ch)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (ch == '\\')
			s->esc = true;
		else if (ch == '"')
			s->in_str = false;
		return false;
	}
	if (ch == '"')
		s->in_str = true;
	else if (ch == '{' || ch == '[')
		s->depth++;
	else if (ch == '}' || ch == ']')
		s->depth--;
	return s->depth == 0;
}

int dkr_jsplit_feed(dkr_jsplit *s, const char *in, size_t n,
                    dkr_jsplit_fn *each, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (s->skip) {
			s->skip = ch != '\n';
			continue;
		}
		if (s->depth == 0 && ch != '{')
			continue; /* whitespace, or junk between objects */
		/* JSON escapes control characters in strings and the engine
		 * writes one object a line: a newline in a string is a
		 * broken object, and the next line starts afresh. */
		if (s->in_str && ch == '\n') {
			jsplit_drop(s, false);
			continue;
		}
		if (s->len + 1 >= DKR_EVENT_MAX) {
			jsplit_drop(s, ch != '\n');
			continue;
		}
		if (jsplit_push(s, ch) != VBX_OK)
			return VBX_ENOMEM;
		if (jsplit_track(s, ch)) {
			s->buf[s->len] = '\0';
			each(ctx, s->buf, s->len);
			s->len = 0;
		}
	}
	return VBX_OK;
}

/* ---- events (pure) ---- */

static int action_of(const char *a)
{
	static const struct {
		const char *name;
		int action;
	} map[] = {{"die", DKR_EV_DIE},
	           {"oom", DKR_EV_OOM},
	           {"stop", DKR_EV_STOP},
	           {"destroy", DKR_EV_DESTROY}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(a, map[i].name) == 0)
			return map[i].action;
	return 0;
}

static bool is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];
		if (dash ? c != '-'
		         : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		             (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[36] == '\0';
}

static bool is_container_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= VBX_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "137" -> 137; -1 for anything that is not a small decimal. */
static int exit_code_of(const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);
	if (!s || !*s)
		return -1;
	errno = 0;
	char *end;
	long n = strtol(s, &end, 10);
	if (errno || *end || n < 0 || n > 65535)
		return -1;
	return (int)n;
}

static int64_t time_of(const cJSON *root)
{
	const cJSON *nano = cJSON_GetObjectItemCaseSensitive(root, "timeNano");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "time");
	if (cJSON_IsNumber(nano) && nano->valuedouble > 0 &&
	    nano->valuedouble < 1e19)
		return (int64_t)(nano->valuedouble / 1e6);
	if (cJSON_IsNumber(sec) && sec->valuedouble > 0 &&
	    sec->valuedouble < 1e12)
		return (int64_t)sec->valuedouble * 1000;
	return 0;
}

/* The parts of a parsed event; VBX_DECLINED when it is not ours. */
static int event_fill(const cJSON *root, dkr_event *out)
{
	const char *type = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(root, "Type"));
	const char *act = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(root, "Action"));
	const cJSON *actor = cJSON_GetObjectItemCaseSensitive(root, "Actor");
	const cJSON *attrs =
	        cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
	const char *id = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(actor, "ID"));

	if (!type || !act)
		return VBX_EINVAL;
	if (strcmp(type, "container") != 0 || !(out->action = action_of(act)))
		return VBX_DECLINED;
	if (!id || !is_container_id(id) || (attrs && !cJSON_IsObject(attrs)))
		return VBX_EINVAL;
	const char *env = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(attrs, DKR_LABEL_ENV));
	if (!env || !is_uuid(env))
		return VBX_DECLINED; /* not one of ours: nothing to update */
	strcpy(out->container_id, id);
	strcpy(out->env_id, env);
	out->exit_code = exit_code_of(
	        cJSON_GetObjectItemCaseSensitive(attrs, "exitCode"));
	out->at_ms = time_of(root);
	return VBX_OK;
}

int dkr_event_parse(const char *json, size_t len, dkr_event *out)
{
	*out = (dkr_event){.exit_code = -1};
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root)
		return VBX_EINVAL;
	int rc = cJSON_IsObject(root) ? event_fill(root, out) : VBX_EINVAL;
	cJSON_Delete(root);
	if (rc != VBX_OK)
		*out = (dkr_event){.exit_code = -1};
	return rc;
}

/* ---- decisions (pure) ---- */

static void verdict(dkr_verdict *v, unsigned from, const char *to, bool clear,
                    const char *reason)
{
	v->from = from;
	v->to = to;
	v->clear_container = clear;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

/* A container that is not running: stopped when it exited cleanly. */
static void exited(dkr_verdict *v, unsigned from, const vbx_container_state *c)
{
	if (strcmp(c->status, "created") == 0) {
		verdict(v, from, "error", false,
		        "the container was created but never started");
		return;
	}
	bool clean = c->exit_code == 0 && !c->oom_killed;
	v->from = from;
	v->to = clean ? "stopped" : "error";
	v->clear_container = false;
	snprintf(v->reason, sizeof(v->reason),
	         "the container exited with code %d%s", c->exit_code,
	         c->oom_killed ? " (killed: out of memory)" : "");
}

static bool judge_running(const vbx_env *e, int rc,
                          const vbx_container_state *c, dkr_verdict *v)
{
	if (rc == VBX_ENOTFOUND || !e->container_id[0])
		verdict(v, VBX_ENV_RUNNING, "error", true,
		        "the container was removed outside VibeBox");
	else if (rc == VBX_OK && !c->running)
		exited(v, VBX_ENV_RUNNING, c);
	return v->from != 0;
}

/*
 * Starting: the API is creating and starting the container, and a
 * restart removes the previous one meanwhile, so only a container started
 * during this phase that has exited already says the start failed.
 */
static bool judge_starting(const vbx_env *e, int rc,
                           const vbx_container_state *c, int64_t now,
                           bool timeouts, dkr_verdict *v)
{
	bool ok = rc == VBX_OK && c;
	if (ok && !c->running && c->started_at > 0 &&
	    c->started_at >= e->status_at)
		exited(v, VBX_ENV_STARTING, c);
	else if (timeouts && now - e->status_at > DKR_PHASE_TIMEOUT_MS)
		verdict(v, VBX_ENV_STARTING,
		        ok && c->running ? "running" : "error", false,
		        ok && c->running ? "" : "timed out while starting");
	return v->from != 0;
}

/* Stopping: the API is stopping it; only a phase past its time matters.
 * A container found stopped by then did stop. */
static bool judge_stopping(const vbx_env *e, int rc,
                           const vbx_container_state *c, int64_t now,
                           bool timeouts, dkr_verdict *v)
{
	if (!timeouts || now - e->status_at <= DKR_PHASE_TIMEOUT_MS)
		return false;
	if (rc == VBX_OK && c && !c->running)
		verdict(v, VBX_ENV_STOPPING, "stopped", false, "");
	else if (rc == VBX_ENOTFOUND)
		verdict(v, VBX_ENV_STOPPING, "error", true,
		        "the container was removed outside VibeBox");
	else
		verdict(v, VBX_ENV_STOPPING, "error", false,
		        "timed out while stopping");
	return true;
}

bool dkr_watch_judge(const vbx_env *e, int inspect_rc,
                     const vbx_container_state *c, int64_t now_ms,
                     bool timeouts, dkr_verdict *out)
{
	*out = (dkr_verdict){0};
	if (inspect_rc == VBX_OK && !c)
		return false;
	if (inspect_rc != VBX_OK && inspect_rc != VBX_ENOTFOUND)
		return false; /* the engine did not say: decide nothing */
	switch (vbx_env_status_bit(e->status)) {
	case VBX_ENV_RUNNING:
		return judge_running(e, inspect_rc, c, out);
	case VBX_ENV_STARTING:
		return judge_starting(e, inspect_rc, c, now_ms, timeouts, out);
	case VBX_ENV_STOPPING:
		return judge_stopping(e, inspect_rc, c, now_ms, timeouts, out);
	default:
		return false;
	}
}

/* "90 seconds", "1 minute", "4 hours": the largest whole unit. */
static void duration_text(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	const char *unit = "second";
	int64_t n = s;
	if (s >= 3600 && s % 3600 == 0)
		unit = "hour", n = s / 3600;
	else if (s >= 60 && s % 60 == 0)
		unit = "minute", n = s / 60;
	snprintf(buf, len, "%lld %s%s", (long long)n, unit, n == 1 ? "" : "s");
}

bool dkr_watch_idle(const vbx_env *e, int64_t idle_ms, int64_t now_ms,
                    char *reason, size_t len)
{
	if (idle_ms <= 0 || vbx_env_status_bit(e->status) != VBX_ENV_RUNNING)
		return false;
	int64_t last =
	        e->active_at > e->started_at ? e->active_at : e->started_at;
	if (last <= 0)
		last = e->status_at;
	if (now_ms - last < idle_ms)
		return false;
	char d[48];
	duration_text(idle_ms, d, sizeof(d));
	snprintf(reason, len, "stopped after %s without activity", d);
	return true;
}

/* ---- applying decisions ---- */

static vbx_plugin *plug(const struct dkr_watch *w)
{
	return w->d->plugin;
}

static void publish(struct dkr_watch *w, const vbx_env *e)
{
	vbx_env_status_event ev = {
	        .version = 1, .at_ms = e->status_at ? e->status_at : now_ms()};
	snprintf(ev.env_id, sizeof(ev.env_id), "%s", e->id);
	snprintf(ev.project_id, sizeof(ev.project_id), "%s", e->project_id);
	snprintf(ev.status, sizeof(ev.status), "%s", e->status);
	snprintf(ev.reason, sizeof(ev.reason), "%s", e->status_reason);
	int rc = w->env_status
	                 ? vbx_event_env_status_publish(w->env_status, &ev)
	                 : VBX_EUNAVAIL;
	if (rc != VBX_OK)
		vbx_log_warn(plug(w),
		             "environment %s: could not publish its status "
		             "change to %s: %s",
		             e->id, e->status, vbx_strerror(plug(w), rc));
}

/* store_env_transition and env_status. Returns the store's answer. */
static int transition(struct dkr_watch *w, const char *id, unsigned from,
                      const char *to, const char *reason, bool clear,
                      vbx_env *after)
{
	int rc = vbx_hook_store_env_transition_run(w->env_transition, id, from,
	                                           to, reason,
	                                           clear ? "" : NULL, after);
	if (rc == VBX_OK) {
		vbx_log_info(plug(w), "environment %s is now %s%s%s", id, to,
		             reason[0] ? ": " : "", reason);
		publish(w, after);
	} else if (rc == VBX_ESTATE) {
		vbx_log_debug(plug(w),
		              "environment %s changed meanwhile; not moving it "
		              "to %s",
		              id, to);
	} else {
		vbx_log_warn(plug(w),
		             "environment %s: could not record its status %s "
		             "(%s): %s",
		             id, to, reason, vbx_strerror(plug(w), rc));
	}
	return rc;
}

static int apply(struct dkr_watch *w, const vbx_env *e, const dkr_verdict *v)
{
	vbx_env after;
	return transition(w, e->id, v->from, v->to, v->reason,
	                  v->clear_container, &after);
}

/* ---- the event follower ---- */

static bool same_container(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	return n >= 12 && strncmp(a, b, n) == 0;
}

static void oom_remember(struct dkr_watch *w, const char *id)
{
	snprintf(w->oom[w->oom_next], sizeof(w->oom[0]), "%s", id);
	w->oom_next = (w->oom_next + 1) % OOM_RING;
}

static bool oom_seen(const struct dkr_watch *w, const char *id)
{
	for (int i = 0; i < OOM_RING; i++)
		if (w->oom[i][0] && strcmp(w->oom[i], id) == 0)
			return true;
	return false;
}

/* Ask the timer for a pass at the latest in ms. */
static void pass_soon(struct dkr_watch *w, int64_t ms)
{
	pthread_mutex_lock(&w->lock);
	int64_t due = now_ms() + ms;
	if (ms == 0)
		w->pass_now = true;
	else if (!w->pass_due_ms || due < w->pass_due_ms)
		w->pass_due_ms = due;
	pthread_cond_broadcast(
	        &w->cond); /* the timer, not a napping follower */
	pthread_mutex_unlock(&w->lock);
}

/* The container's state after a die or stop event: the engine's word,
 * or what the event says when the container is gone already. */
static int event_state(struct dkr_watch *w, const dkr_event *ev,
                       vbx_container_state *c)
{
	*c = (vbx_container_state){0};
	if (ev->action != DKR_EV_DESTROY &&
	    dkr_inspect(w->d, ev->container_id, c) == VBX_OK) {
		c->oom_killed = c->oom_killed || oom_seen(w, ev->container_id);
		return VBX_OK;
	}
	*c = (vbx_container_state){.exit_code = ev->exit_code,
	                           .oom_killed = oom_seen(w, ev->container_id)};
	snprintf(c->id, sizeof(c->id), "%s", ev->container_id);
	if (ev->action == DKR_EV_DESTROY)
		return VBX_ENOTFOUND;
	snprintf(c->status, sizeof(c->status), "exited");
	if (c->exit_code < 0)
		c->exit_code = 0; /* a stop event carries none */
	return VBX_OK;
}

/* A stopped or errored environment whose container was removed behind
 * our back forgets it, so that its next start creates a new one. */
static void forget_container(struct dkr_watch *w, const vbx_env *e)
{
	unsigned bit = vbx_env_status_bit(e->status);
	if (bit != VBX_ENV_STOPPED && bit != VBX_ENV_ERROR)
		return;
	vbx_env after;
	transition(w, e->id, bit, e->status, e->status_reason, true, &after);
}

static void on_event(struct dkr_watch *w, const dkr_event *ev)
{
	if (ev->action == DKR_EV_OOM) {
		oom_remember(w, ev->container_id);
		return; /* a die follows when the main process was killed */
	}
	vbx_env e;
	int rc = vbx_hook_store_env_get_run(w->env_get, ev->env_id, &e);
	if (rc == VBX_ENOTFOUND)
		return; /* an orphan: the reconcile pass removes it */
	if (rc != VBX_OK) {
		vbx_log_warn(plug(w),
		             "environment %s: could not read it after an "
		             "event of its container %.12s: %s; the next "
		             "reconcile pass will check it",
		             ev->env_id, ev->container_id,
		             vbx_strerror(plug(w), rc));
		return;
	}
	if (!same_container(e.container_id, ev->container_id))
		return; /* an earlier container of it, removed by a restart */
	if (ev->action == DKR_EV_DESTROY) {
		unsigned bit = vbx_env_status_bit(e.status);
		if (bit == VBX_ENV_STOPPED || bit == VBX_ENV_ERROR) {
			forget_container(w, &e);
			return;
		}
	}
	vbx_container_state c;
	rc = event_state(w, ev, &c);
	dkr_verdict v;
	if (dkr_watch_judge(&e, rc, &c, now_ms(), false, &v))
		apply(w, &e, &v);
	else if (vbx_env_status_bit(e.status) == VBX_ENV_STARTING)
		pass_soon(w, RECHECK_MS); /* did the start survive it? */
}

static void on_object(void *ctx, const char *obj, size_t len)
{
	struct dkr_watch *w = ctx;
	dkr_event ev;
	int rc = dkr_event_parse(obj, len, &ev);
	if (rc == VBX_OK)
		on_event(w, &ev);
	else if (rc == VBX_EINVAL)
		vbx_log_debug(plug(w),
		              "skipped a malformed engine event: %.200s", obj);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct dkr_watch *w = ud;
	size_t len = size * n;
	if (w->http_status != 200) {
		size_t room = sizeof(w->err) - 1 - w->err_len;
		size_t k = len < room ? len : room;
		memcpy(w->err + w->err_len, p, k);
		w->err_len += k;
		w->err[w->err_len] = '\0';
		return len;
	}
	if (dkr_jsplit_feed(&w->split, p, len, on_object, w) != VBX_OK)
		return 0; /* out of memory: drop the stream, reconnect */
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct dkr_watch *w = ud;
	size_t len = size * n;
	int code;
	/* Each response's status line; the last one counts. */
	if (len > 12 && strncmp(p, "HTTP/", 5) == 0 &&
	    sscanf(p, "HTTP/%*s %3d", &code) == 1)
		w->http_status = code;
	return len;
}

static CURL *events_handle(struct dkr_watch *w)
{
	char filter[512], path[600], vpath[700], url[1024];
	if (!dkr_owned_filter(w->d, "container", filter, sizeof(filter)))
		return NULL;
	CURL *c = dkr_easy(w->d);
	if (!c)
		return NULL;
	snprintf(path, sizeof(path), "/events?filters=%s", filter);
	snprintf(url, sizeof(url), "%s%s", w->d->base_url,
	         dkr_path(w->d, path, vpath, sizeof(vpath)));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L); /* it never ends */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
	return c;
}

/* Drive the transfer until it ends or dkr_watch_stop. *connected is set
 * once the engine answered 200. Returns curl's result. */
static CURLcode events_pump(struct dkr_watch *w, CURL *c, bool *connected)
{
	CURLcode res = CURLE_OK;
	int running = 1;
	while (running && !atomic_load(&w->stopping)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			return CURLE_RECV_ERROR;
		if (!*connected && w->http_status == 200) {
			*connected = true;
			return CURLE_AGAIN; /* let the caller note it */
		}
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	int left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(w->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c)
			res = m->data.result;
	return res;
}

/* One connection of the stream. *missed: events may have been lost
 * since the last connection (it failed or ended); a reconcile pass
 * catches up once connected. Returns true when the engine answered, so
 * that the caller resets its backoff. why gets the failure. */
static bool events_follow(struct dkr_watch *w, bool *missed, char *why,
                          size_t why_len)
{
	CURL *c = events_handle(w);
	if (!c) {
		snprintf(why, why_len, "could not set up a request");
		return false;
	}
	w->http_status = 0;
	w->err_len = 0;
	w->err[0] = '\0';
	dkr_jsplit_reset(&w->split);
	curl_multi_add_handle(w->multi, c);

	bool connected = false;
	CURLcode res = events_pump(w, c, &connected);
	if (res == CURLE_AGAIN) {
		if (*missed) {
			vbx_log_info(plug(w), "following the engine's events "
			                      "again; reconciling");
			pass_soon(w, 0);
		}
		*missed = false;
		res = events_pump(w, c, &connected);
	}
	if (w->http_status && w->http_status != 200)
		snprintf(why, why_len, "the engine answered %ld: %s",
		         w->http_status, w->err);
	else
		snprintf(why, why_len, "%s",
		         res == CURLE_OK ? "the stream ended"
		                         : curl_easy_strerror(res));
	curl_multi_remove_handle(w->multi, c);
	curl_easy_cleanup(c);
	return connected;
}

/* Sleep ms unless stopped. Returns false when stopping. */
static bool nap(struct dkr_watch *w, int64_t ms)
{
	struct timespec until = abs_after(ms);
	pthread_mutex_lock(&w->lock);
	while (!w->stop &&
	       pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
		;
	bool go_on = !w->stop;
	pthread_mutex_unlock(&w->lock);
	return go_on;
}

static void *events_main(void *arg)
{
	struct dkr_watch *w = arg;
	int64_t backoff = BACKOFF_MIN_MS;
	bool missed = false, warned = false;
	char why[320];

	while (!atomic_load(&w->stopping)) {
		bool answered = events_follow(w, &missed, why, sizeof(why));
		if (atomic_load(&w->stopping))
			break;
		missed = true;
		if (answered) {
			backoff = BACKOFF_MIN_MS;
			warned = false;
		}
		if (!warned)
			vbx_log_warn(plug(w),
			             "lost the engine's event stream (%s); "
			             "retrying, environments are reconciled "
			             "once it is back",
			             why);
		warned = true;
		if (!nap(w, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
		                                       : backoff * 2;
	}
	return NULL;
}

/* ---- the reconcile pass and idle stops ---- */

typedef struct env_rows {
	vbx_env *v;
	size_t n, cap;
} env_rows;

static int collect_env(void *ctx, const vbx_env *e)
{
	env_rows *r = ctx;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		vbx_env *nv = realloc(r->v, ncap * sizeof(*nv));
		if (!nv)
			return VBX_ENOMEM;
		r->v = nv;
		r->cap = ncap;
	}
	r->v[r->n++] = *e;
	return 0;
}

/* The environments in `mask`, copied out so that no store connection is
 * held while the engine is asked about them. */
static int list_envs(struct dkr_watch *w, unsigned mask, env_rows *out)
{
	*out = (env_rows){0};
	int rc = vbx_hook_store_env_list_run(w->env_list, NULL, NULL, mask,
	                                     NULL, collect_env, out, NULL);
	bool down = rc != VBX_OK;
	if (down && !w->store_down)
		vbx_log_warn(plug(w),
		             "reconcile: could not list the environments: %s; "
		             "retrying at the next pass",
		             vbx_strerror(plug(w), rc));
	else if (!down && w->store_down)
		vbx_log_info(plug(w), "reconcile: the store answers again");
	w->store_down = down;
	if (down) {
		free(out->v);
		*out = (env_rows){0};
	}
	return rc;
}

/* Log the engine's state changes once, not at every pass. */
static void engine_state(struct dkr_watch *w, bool down, const char *env_id,
                         int rc)
{
	if (down && !w->engine_down)
		vbx_log_warn(plug(w),
		             "reconcile: could not inspect the container of "
		             "environment %s: %s; retrying at the next pass",
		             env_id, vbx_strerror(plug(w), rc));
	w->engine_down = down;
}

/* Check one environment against its container. false: the engine is
 * down, end the pass. */
static bool reconcile_env(struct dkr_watch *w, const vbx_env *e)
{
	vbx_container_state c = {0};
	int rc = e->container_id[0] ? dkr_inspect(w->d, e->container_id, &c)
	                            : VBX_ENOTFOUND;
	if (rc != VBX_OK && rc != VBX_ENOTFOUND) {
		engine_state(w, true, e->id, rc);
		return false;
	}
	engine_state(w, false, e->id, rc);
	dkr_verdict v;
	if (dkr_watch_judge(e, rc, &c, now_ms(), true, &v))
		apply(w, e, &v);
	return true;
}

/* running -> stopping, stop the container, stopping -> stopped. */
static void idle_stop(struct dkr_watch *w, const vbx_env *listed)
{
	vbx_env e, after;
	char reason[128];
	/* Activity may have come since the list: look once more. */
	if (vbx_hook_store_env_get_run(w->env_get, listed->id, &e) != VBX_OK ||
	    !dkr_watch_idle(&e, w->d->conf.idle_ms, now_ms(), reason,
	                    sizeof(reason)))
		return;
	if (transition(w, e.id, VBX_ENV_RUNNING, "stopping", "", false,
	               &after) != VBX_OK)
		return;
	int rc = e.container_id[0] ? dkr_stop(w->d, e.container_id, IDLE_STOP_S)
	                           : VBX_OK;
	if (rc == VBX_OK || rc == VBX_ENOTFOUND) {
		transition(w, e.id, VBX_ENV_STOPPING, "stopped", reason,
		           rc == VBX_ENOTFOUND, &after);
		return;
	}
	char why[256];
	snprintf(why, sizeof(why), "could not stop the idle environment: %s",
	         vbx_strerror(plug(w), rc));
	vbx_log_warn(plug(w), "environment %s: %s", e.id, why);
	transition(w, e.id, VBX_ENV_STOPPING, "error", why, false, &after);
}

static void idle_pass(struct dkr_watch *w, const env_rows *rows)
{
	char reason[128];
	int64_t now = now_ms();
	for (size_t i = 0; i < rows->n && !atomic_load(&w->stopping); i++)
		if (dkr_watch_idle(&rows->v[i], w->d->conf.idle_ms, now, reason,
		                   sizeof(reason)))
			idle_stop(w, &rows->v[i]);
}

typedef struct box_rows {
	vbx_container_state *v;
	size_t n, cap;
} box_rows;

static int collect_box(void *ctx, const vbx_container_state *c)
{
	box_rows *r = ctx;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		vbx_container_state *nv = realloc(r->v, ncap * sizeof(*nv));
		if (!nv)
			return VBX_ENOMEM;
		r->v = nv;
		r->cap = ncap;
	}
	r->v[r->n++] = *c;
	return 0;
}

/* Remove one labelled container if its environment is gone. false: the
 * store is down, end the pass. */
static bool orphan_check(struct dkr_watch *w, const vbx_container_state *c)
{
	vbx_env e;
	if (!is_uuid(c->env_id))
		return true; /* not ours to judge */
	int rc = vbx_hook_store_env_get_run(w->env_get, c->env_id, &e);
	if (rc == VBX_EUNAVAIL)
		return false;
	if (rc != VBX_ENOTFOUND)
		return true;
	rc = dkr_remove(w->d, c->id);
	if (rc == VBX_OK)
		vbx_log_info(plug(w),
		             "removed container %.12s: its environment %s no "
		             "longer exists",
		             c->id, c->env_id);
	else
		vbx_log_warn(plug(w),
		             "could not remove container %.12s of the deleted "
		             "environment %s: %s",
		             c->id, c->env_id, vbx_strerror(plug(w), rc));
	return true;
}

static void orphan_pass(struct dkr_watch *w)
{
	box_rows rows = {0};
	int rc = dkr_list(w->d, collect_box, &rows);
	if (rc != VBX_OK) {
		vbx_log_debug(plug(w),
		              "reconcile: could not list containers: %s",
		              vbx_strerror(plug(w), rc));
	} else {
		for (size_t i = 0; i < rows.n && !atomic_load(&w->stopping);
		     i++)
			if (!orphan_check(w, &rows.v[i]))
				break;
	}
	free(rows.v);
}

/* full: the reconcile pass; else only the idle check. */
static void run_pass(struct dkr_watch *w, bool full)
{
	env_rows rows;
	if (list_envs(w, full ? ENV_ALL_ACTIVE : VBX_ENV_RUNNING, &rows) !=
	    VBX_OK)
		return;
	for (size_t i = 0; full && i < rows.n; i++)
		if (atomic_load(&w->stopping) || !reconcile_env(w, &rows.v[i]))
			break;
	free(rows.v);
	if (full && !w->engine_down && !atomic_load(&w->stopping))
		orphan_pass(w);
	/* Read again: the pass may have moved some. */
	if (w->d->conf.idle_ms > 0 && !atomic_load(&w->stopping) &&
	    list_envs(w, VBX_ENV_RUNNING, &rows) == VBX_OK) {
		idle_pass(w, &rows);
		free(rows.v);
	}
}

/* How often the timer wakes for idle checks: often enough to stop an
 * environment within a quarter of idle_timeout of its due time. */
static int64_t idle_every(const dkr_conf *c)
{
	int64_t every = c->idle_ms / 4;
	if (every < 1000)
		every = 1000;
	if (c->reconcile_ms > 0 && every > c->reconcile_ms)
		every = c->reconcile_ms;
	return every;
}

/* Wait for the next thing to do; false when stopping. *full says whether
 * a reconcile pass is due (else an idle check). */
static bool timer_wait(struct dkr_watch *w, int64_t next_pass,
                       int64_t next_idle, bool *full)
{
	pthread_mutex_lock(&w->lock);
	for (;;) {
		int64_t now = now_ms();
		int64_t due = next_pass;
		if (w->pass_due_ms && w->pass_due_ms < due)
			due = w->pass_due_ms;
		*full = w->pass_now || now >= due;
		if (w->stop || *full || now >= next_idle)
			break;
		int64_t until = due < next_idle ? due : next_idle;
		struct timespec ts = abs_after(until - now);
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	if (*full) {
		w->pass_now = false;
		w->pass_due_ms = 0;
	}
	bool go_on = !w->stop;
	pthread_mutex_unlock(&w->lock);
	return go_on;
}

static void *timer_main(void *arg)
{
	struct dkr_watch *w = arg;
	const dkr_conf *c = &w->d->conf;
	int64_t never = INT64_MAX / 2;
	int64_t next_pass = now_ms(); /* a pass at start-up */
	int64_t next_idle = c->idle_ms > 0 ? now_ms() + idle_every(c) : never;
	bool full;

	while (timer_wait(w, next_pass, next_idle, &full)) {
		run_pass(w, full);
		int64_t now = now_ms();
		if (full)
			next_pass = c->reconcile_ms > 0 ? now + c->reconcile_ms
			                                : never;
		if (c->idle_ms > 0)
			next_idle = now + idle_every(c);
	}
	return NULL;
}

/* ---- start and stop ---- */

static int watch_hooks(struct dkr_watch *w)
{
	vbx_plugin *p = plug(w);
	w->env_get = vbx_hook_store_env_get_get(p);
	w->env_list = vbx_hook_store_env_list_get(p);
	w->env_transition = vbx_hook_store_env_transition_get(p);
	w->env_status = vbx_event_env_status_get(p);
	if (!w->env_get || !w->env_list || !w->env_transition) {
		vbx_log_error(p, "watch: the store hooks for environments do "
		                 "not match this plugin's SDK; rebuild it");
		return VBX_ESIGNATURE;
	}
	return VBX_OK;
}

static void watch_free(struct dkr_watch *w)
{
	if (w->multi)
		curl_multi_cleanup(w->multi);
	dkr_jsplit_free(&w->split);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int watch_init(struct dkr_watch *w)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int err = pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err || pthread_mutex_init(&w->lock, NULL))
		return VBX_ENOMEM;
	w->multi = curl_multi_init();
	return w->multi ? watch_hooks(w) : VBX_ENOMEM;
}

int dkr_watch_start(dkr *d)
{
	struct dkr_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return VBX_ENOMEM;
	w->d = d;
	int rc = watch_init(w);
	if (rc != VBX_OK) {
		watch_free(w);
		return rc;
	}
	d->watch = w;
	int err = pthread_create(&w->timer_thread, NULL, timer_main, w);
	w->timer_running = err == 0;
	if (!err) {
		err = pthread_create(&w->events_thread, NULL, events_main, w);
		w->events_running = err == 0;
	}
	if (err) {
		vbx_log_error(d->plugin,
		              "watch: could not start a thread: %s; the "
		              "environments' statuses would not follow their "
		              "containers",
		              strerror(err));
		dkr_watch_stop(d);
		return VBX_ENOMEM;
	}
	return VBX_OK;
}

void dkr_watch_stop(dkr *d)
{
	struct dkr_watch *w = d->watch;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	atomic_store(&w->stopping, true);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	curl_multi_wakeup(w->multi);
	if (w->events_running)
		pthread_join(w->events_thread, NULL);
	if (w->timer_running)
		pthread_join(w->timer_thread, NULL);
	d->watch = NULL;
	watch_free(w);
}
