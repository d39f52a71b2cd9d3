/* SPDX-License-Identifier: Apache-2.0 */
/*
 * watch.c - report what happens to this installation's containers.
 *
 * One thread, the event follower, streams GET /events (container events
 * of the containers this installation owns) and turns them into the
 * runtime's fact events (vibebox/runtime.h): runtime_container_exited
 * (die, stop; the container inspected right after, with the oom flag of
 * an oom event seen before it), runtime_container_vanished (destroy) and
 * runtime_engine_state (the stream lost, or back after an outage). When
 * the engine goes away it retries with a backoff (0.5 s doubling to 5 s).
 *
 * What a fact means for an environment (its status, the reconcile pass,
 * stuck phases, idle stops) is the platform plugin's policy
 * (plugins/platform/lifecycle.c), not this plugin's: a runtime reports
 * facts only.
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
#define OOM_RING 16 /* containers seen in an oom event lately */

struct dkr_watch {
	dkr *d;
	vbx_event *exited, *vanished, *engine; /* the fact events */
	CURLM *multi; /* the event stream's; woken by dkr_watch_stop */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* under lock; also read atomically below */
	atomic_bool stopping;

	pthread_t events_thread;
	bool events_running;

	/* The follower's own state (its thread only). */
	dkr_jsplit split;
	char oom[OOM_RING][VBX_CONTAINER_ID_LEN];
	unsigned oom_next;
	long http_status;
	char err[256]; /* the body of an error answer */
	size_t err_len;
};

/* ---- time ---- */

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

/* ---- facts ---- */

static vbx_plugin *plug(const struct dkr_watch *w)
{
	return w->d->plugin;
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

/* The container's state after a die or stop event: the engine's word,
 * or what the event says when the container is gone already. */
static void event_state(struct dkr_watch *w, const dkr_event *ev,
                        vbx_container_state *c)
{
	*c = (vbx_container_state){0};
	if (dkr_inspect(w->d, ev->container_id, c) == VBX_OK) {
		c->oom_killed = c->oom_killed || oom_seen(w, ev->container_id);
		return;
	}
	*c = (vbx_container_state){.exit_code = ev->exit_code,
	                           .oom_killed = oom_seen(w, ev->container_id)};
	snprintf(c->id, sizeof(c->id), "%s", ev->container_id);
	snprintf(c->status, sizeof(c->status), "exited");
	if (c->exit_code < 0)
		c->exit_code = 0; /* a stop event carries none */
}

static void published(struct dkr_watch *w, const char *what, int rc)
{
	if (rc != VBX_OK)
		vbx_log_warn(plug(w), "could not publish %s: %s", what,
		             vbx_strerror(plug(w), rc));
}

static void publish_exited(struct dkr_watch *w, const dkr_event *ev)
{
	vbx_container_state c;
	event_state(w, ev, &c);
	vbx_runtime_container_exited x = {
	        .version = 1,
	        .running = c.running,
	        .oom_killed = c.oom_killed,
	        .exit_code = c.exit_code,
	        .started_at = c.started_at,
	        .finished_at = c.finished_at,
	        .at_ms = ev->at_ms ? ev->at_ms : dkr_unix_ms(),
	};
	snprintf(x.env_id, sizeof(x.env_id), "%s", ev->env_id);
	dkr_route_ext_id(w->d, ev->container_id, x.container_id);
	snprintf(x.status, sizeof(x.status), "%s", c.status);
	published(w, "runtime_container_exited",
	          w->exited ? vbx_event_runtime_container_exited_publish(
	                              w->exited, &x)
	                    : VBX_EUNAVAIL);
}

static void publish_vanished(struct dkr_watch *w, const dkr_event *ev)
{
	vbx_runtime_container_vanished x = {
	        .version = 1, .at_ms = ev->at_ms ? ev->at_ms : dkr_unix_ms()};
	snprintf(x.env_id, sizeof(x.env_id), "%s", ev->env_id);
	dkr_route_ext_id(w->d, ev->container_id, x.container_id);
	published(w, "runtime_container_vanished",
	          w->vanished ? vbx_event_runtime_container_vanished_publish(
	                                w->vanished, &x)
	                      : VBX_EUNAVAIL);
}

static void publish_engine(struct dkr_watch *w, bool reachable, const char *why)
{
	vbx_runtime_engine_state x = {
	        .version = 2, .reachable = reachable, .at_ms = dkr_unix_ms()};
	snprintf(x.why, sizeof(x.why), "%s", why);
	snprintf(x.engine, sizeof(x.engine), "%s", w->d->name);
	published(w, "runtime_engine_state",
	          w->engine ? vbx_event_runtime_engine_state_publish(w->engine,
	                                                             &x)
	                    : VBX_EUNAVAIL);
}

static void on_event(struct dkr_watch *w, const dkr_event *ev)
{
	if (ev->action == DKR_EV_OOM)
		oom_remember(w, ev->container_id); /* a die follows */
	else if (ev->action == DKR_EV_DESTROY)
		publish_vanished(w, ev);
	else
		publish_exited(w, ev);
}

/* ---- the event follower ---- */

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
 * since the last connection (it failed or ended); runtime_engine_state
 * says so once connected. Returns true when the engine answered, so
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
		dkr_engine_set(w->d, true, "");
		if (*missed) {
			vbx_log_info(plug(w), "following the engine's events "
			                      "again");
			publish_engine(w, true, "");
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
		dkr_engine_set(w->d, false, why);
		if (!warned) {
			vbx_log_warn(plug(w),
			             "lost the engine's event stream (%s); "
			             "retrying",
			             why);
			publish_engine(w, false, why);
		}
		warned = true;
		if (!nap(w, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
		                                       : backoff * 2;
	}
	return NULL;
}

/* ---- start and stop ---- */

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
	return w->multi ? VBX_OK : VBX_ENOMEM;
}

int dkr_watch_events(dkr *d)
{
	vbx_plugin *p = d->plugin;
	d->ev_exited = vbx_event_runtime_container_exited_get(p);
	d->ev_vanished = vbx_event_runtime_container_vanished_get(p);
	d->ev_engine = vbx_event_runtime_engine_state_get(p);
	if (d->ev_exited && d->ev_vanished && d->ev_engine)
		return VBX_OK;
	vbx_log_error(p, "the runtime_* events are declared with other "
	                 "payloads than this plugin's; rebuild the plugins "
	                 "against this SDK");
	return VBX_ESIGNATURE;
}

int dkr_watch_start(dkr *d)
{
	struct dkr_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return VBX_ENOMEM;
	w->d = d;
	w->exited = d->ev_exited;
	w->vanished = d->ev_vanished;
	w->engine = d->ev_engine;
	int rc = watch_init(w);
	if (rc != VBX_OK) {
		watch_free(w);
		return rc;
	}
	d->watch = w;
	int err = pthread_create(&w->events_thread, NULL, events_main, w);
	w->events_running = err == 0;
	if (err) {
		vbx_log_error(d->plugin,
		              "watch: could not start a thread: %s; the "
		              "containers' exits would not be reported",
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
	d->watch = NULL;
	watch_free(w);
}
