/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health.c - /health/live (the daemon answers), /health/startup (every
 * plugin started) and /health/ready (every check of every plugin passes,
 * and the daemon is not draining).
 *
 * The plugins' checks run on a thread of their own, one run at a time,
 * and /health/ready waits for that run at most health.timeout: a check
 * that hangs (a stopped database) makes readiness fail in time instead
 * of hanging the probe and pinning a worker. Requests that arrive while
 * a run is under way wait for that run rather than start another, so a
 * hung check costs one thread, not one per probe.
 */
#include "vbx_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "coremetrics.h"
#include "daemon.h"
#include "server.h"

#define HEALTH_TIMEOUT_DEFAULT_MS 3000

struct vbx_health {
	struct vbx_object_head head;
	cJSON *checks;
	bool failed;   /* a check failed: 503 */
	bool degraded; /* a check is degraded: still 200 */
};

static atomic_bool started;
static vbx__server **the_server;

void vbx__health_set_started(bool on)
{
	atomic_store(&started, on);
}

void vbx__health_add(vbx_health *h, const char *name, int status,
                     int64_t latency_us, const char *detail)
{
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return;
	cJSON_AddStringToObject(c, "name", name ? name : "?");
	bool degraded = status == VBX_HEALTH_DEGRADED;
	cJSON_AddStringToObject(c, "status",
	                        status == VBX_OK ? "ok"
	                        : degraded       ? "degraded"
	                                         : "fail");
	cJSON_AddNumberToObject(c, "latencyMs", (double)latency_us / 1000.0);
	if (detail)
		cJSON_AddStringToObject(c, "detail", detail);
	else if (status != VBX_OK && !degraded)
		cJSON_AddStringToObject(c, "detail", vbx__strerror(status));
	cJSON_AddItemToArray(h->checks, c);
	if (degraded)
		h->degraded = true;
	else if (status != VBX_OK)
		h->failed = true;
}

static int live(void *ud, vbx_request *r)
{
	static const char body[] = "{\"status\":\"ok\"}";
	return vbx__respond(r, 200, "application/json", body, sizeof(body) - 1);
}

static int startup(void *ud, vbx_request *r)
{
	static const char ok[] = "{\"status\":\"started\"}";
	static const char wait[] = "{\"status\":\"starting\"}";
	if (atomic_load(&started))
		return vbx__respond(r, 200, "application/json", ok,
		                    sizeof(ok) - 1);
	return vbx__respond(r, 503, "application/json", wait, sizeof(wait) - 1);
}

/* The bridge's totals, when it runs; "" otherwise. */
static void bridge_detail(char *buf, size_t len, bool full)
{
	vbx__bridge_stats bs;
	vbx__bridge_stats_get(&bs);
	buf[0] = '\0';
	if (!bs.active)
		return;
	snprintf(buf, len,
	         "%sbridge%s: %llu out, %llu in, %llu dropped out, %llu "
	         "dropped in, %llu undecodable",
	         full ? "the event queue is full; " : "",
	         bs.listening ? ""
	                      : " not subscribed yet (other replicas' "
	                        "events do not reach this one)",
	         (unsigned long long)bs.out, (unsigned long long)bs.in,
	         (unsigned long long)(bs.out_overflow + bs.out_unavailable +
	                              bs.out_invalid),
	         (unsigned long long)(bs.in_unknown + bs.in_mismatch +
	                              bs.in_dropped),
	         (unsigned long long)bs.decode_errors);
}

/* The core's own check: the event dispatcher keeps up; with a bridge,
 * it is degraded until the cache provider has subscribed it (until then
 * other replicas' events do not reach this one). */
static void check_events(vbx_health *h)
{
	vbx__event_stats st;
	vbx__bridge_stats bs;
	char detail[320];
	int64_t t0 = vbx__now_ns();
	vbx__events_stats(&st);
	vbx__bridge_stats_get(&bs);
	bool full = st.queue_cap && st.queue_len >= st.queue_cap;
	bool deaf = bs.active && !bs.listening;
	bridge_detail(detail, sizeof(detail), full);
	int status = full ? VBX_EAGAIN : deaf ? VBX_HEALTH_DEGRADED : VBX_OK;
	vbx__health_add(h, "events", status, (vbx__now_ns() - t0) / 1000,
	                detail[0] ? detail
	                : full    ? "the event queue is full"
	                          : NULL);
}

/* The run of the plugins' checks: the last finished run's result, and
 * whether one is under way. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool running;
	uint64_t started, finished; /* runs started and finished */
	cJSON *checks;              /* of the last finished run */
	bool failed, degraded;
} probe = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void *probe_main(void *arg)
{
	vbx_health *h = arg;
	int rc = vbx_hook_health_check_run(vbx__cat.health_check, h);

	pthread_mutex_lock(&probe.lock);
	cJSON_Delete(probe.checks);
	probe.checks = h->checks;
	probe.failed = h->failed || rc != VBX_OK;
	probe.degraded = h->degraded;
	probe.finished++;
	probe.running = false;
	pthread_cond_broadcast(&probe.done);
	pthread_mutex_unlock(&probe.lock);
	free(h);
	return NULL;
}

/* Start a run unless one is under way; the run to wait for, 0 when none
 * could start. Under lock. */
static uint64_t probe_start(void)
{
	if (probe.running)
		return probe.started;
	vbx_health *h = calloc(1, sizeof(*h));
	pthread_attr_t attr;
	pthread_t t;
	int rc = VBX_ENOMEM;

	if (h && (h->checks = cJSON_CreateArray())) {
		h->head.host = &vbx__host;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, probe_main, h) == 0 ? VBX_OK
		                                                   : VBX_ERR;
		pthread_attr_destroy(&attr);
	}
	if (rc != VBX_OK) {
		if (h)
			cJSON_Delete(h->checks);
		free(h);
		return 0;
	}
	probe.running = true;
	return ++probe.started;
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int64_t health_timeout_ms(void)
{
	const vbx__conf *c = vbx__conf_current();
	return c && c->health_timeout_ms > 0 ? c->health_timeout_ms
	                                     : HEALTH_TIMEOUT_DEFAULT_MS;
}

/* Add the plugins' checks to h: those of a run that finished within
 * health.timeout, else one failed check that says which wait ran out. */
static void plugin_checks(vbx_health *h)
{
	int64_t ms = health_timeout_ms(), t0 = vbx__now_ns();
	struct timespec deadline;
	bool done = false;

	deadline_in(&deadline, ms);
	pthread_mutex_lock(&probe.lock);
	uint64_t run = probe_start();
	while (run && !(done = probe.finished >= run))
		if (pthread_cond_timedwait(&probe.done, &probe.lock,
		                           &deadline) == ETIMEDOUT)
			break;
	done = run && probe.finished >= run;
	if (done) {
		cJSON *c;
		cJSON_ArrayForEach(c, probe.checks)
		{
			cJSON *copy = cJSON_Duplicate(c, true);
			if (copy)
				cJSON_AddItemToArray(h->checks, copy);
		}
		h->failed = h->failed || probe.failed;
		h->degraded = h->degraded || probe.degraded;
	}
	pthread_mutex_unlock(&probe.lock);
	if (!run)
		vbx__health_add(h, "checks", VBX_ERR, 0,
		                "cannot start a thread for the health checks");
	else if (!done)
		vbx__health_add(h, "checks", VBX_ETIMEDOUT,
		                (vbx__now_ns() - t0) / 1000,
		                "a plugin's health check did not answer within "
		                "health.timeout");
}

void vbx__health_shutdown(int64_t wait_ms)
{
	struct timespec deadline;

	deadline_in(&deadline, wait_ms);
	pthread_mutex_lock(&probe.lock);
	while (probe.running)
		if (pthread_cond_timedwait(&probe.done, &probe.lock,
		                           &deadline) == ETIMEDOUT)
			break;
	if (probe.running)
		vbx__warn("a plugin's health check still runs after %lld ms; "
		          "stopping the plugins anyway",
		          (long long)wait_ms);
	cJSON_Delete(probe.checks);
	probe.checks = NULL;
	pthread_mutex_unlock(&probe.lock);
}

/* When readiness was last computed (monotonic ns; 0: never). */
static _Atomic int64_t last_ready_ns;

/* health_ready and health_check_up{check}: a check is up unless it
 * failed (degraded still serves). While draining no check runs, and only
 * health_ready changes. */
static void note_metrics(const vbx_health *h, bool ready)
{
	const cJSON *c;

	atomic_store(&last_ready_ns, vbx__now_ns());
	vbx__health_metrics_ready(ready);
	cJSON_ArrayForEach(c, h->checks)
	{
		const char *name = cJSON_GetStringValue(
		        cJSON_GetObjectItemCaseSensitive(c, "name"));
		const char *st = cJSON_GetStringValue(
		        cJSON_GetObjectItemCaseSensitive(c, "status"));
		vbx__health_metrics_check(name, st && strcmp(st, "fail") != 0);
	}
}

/* Run the checks into h (unless draining); whether the daemon is ready.
 * *draining says why not when it is set. */
static bool compute(vbx_health *h, bool *draining)
{
	*draining =
	        the_server && *the_server && vbx__server_draining(*the_server);
	if (!*draining) {
		check_events(h);
		plugin_checks(h);
	}
	note_metrics(h, !(*draining || h->failed));
	return !(*draining || h->failed);
}

void vbx__health_metrics_refresh(int64_t max_age_ms)
{
	int64_t last = atomic_load(&last_ready_ns);
	/* Only where /health/ready exists (a daemon, not a bare registry
	 * in a unit test: its hooks are not there to run). */
	if (!the_server ||
	    (last && vbx__now_ns() - last < max_age_ms * 1000000))
		return;
	vbx_health h = {.head.host = &vbx__host, .checks = cJSON_CreateArray()};
	bool draining;
	if (h.checks)
		compute(&h, &draining);
	cJSON_Delete(h.checks);
}

static int ready(void *ud, vbx_request *r)
{
	vbx_health h = {.head.host = &vbx__host, .checks = cJSON_CreateArray()};
	cJSON *body = cJSON_CreateObject();
	bool draining;
	if (!h.checks || !body) {
		cJSON_Delete(h.checks);
		cJSON_Delete(body);
		return VBX_ENOMEM;
	}
	bool ok = compute(&h, &draining);
	const char *status = draining     ? "draining"
	                     : h.failed   ? "fail"
	                     : h.degraded ? "degraded"
	                                  : "ok";
	cJSON_AddStringToObject(body, "status", status);
	cJSON_AddItemToObject(body, "checks", h.checks);
	return vbx__respond_json(r, ok ? 200 : 503, body);
}

void vbx__health_register(vbx_plugin *core, vbx__server **server)
{
	the_server = server;
	vbx__route_add(core, "GET", "/health/live",
	               VBX_ROUTE_PUBLIC | VBX__ROUTE_INLINE, live, NULL);
	vbx__route_add(core, "GET", "/health/startup",
	               VBX_ROUTE_PUBLIC | VBX__ROUTE_INLINE, startup, NULL);
	vbx__route_add(core, "GET", "/health/ready", VBX_ROUTE_PUBLIC, ready,
	               NULL);
}
