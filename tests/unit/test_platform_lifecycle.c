/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_platform_lifecycle.c - the platform's environment lifecycle policy
 * (plugins/platform/lifecycle.c, lifejudge.c): the pure decisions, then
 * the policy at work in the built platform plugin, loaded into the fake
 * host next to a fake store and a fake runtime made of hooks registered
 * by the test (the runtime's facts arrive as the runtime_* events the
 * test publishes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <vibebox/testing.h>

#include "fakemetrics.h"
#include "poll.h"

#include "lifecycle.h"

#define ENV_A "11111111-1111-4111-8111-111111111111"
#define ENV_B "22222222-2222-4222-8222-222222222222"
#define ENV_C "33333333-3333-4333-8333-333333333333"
#define ENV_D "44444444-4444-4444-8444-444444444444"
#define ENV_GONE "55555555-5555-4555-8555-555555555555"
#define ENV_DOWN "66666666-6666-4666-8666-666666666666"
#define ENV_BAD "77777777-7777-4777-8777-777777777777"
#define CID_A "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
#define CID_B "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
#define CID_C "cccccccccccc0000000000000000000000000000000000000000000000000003"
#define CID_D "dddddddddddd0000000000000000000000000000000000000000000000000004"
#define CID_O "eeeeeeeeeeee0000000000000000000000000000000000000000000000000005"
#define CID_P "ffffffffffff0000000000000000000000000000000000000000000000000006"
#define CID_Q "abcdefabcdef0000000000000000000000000000000000000000000000000007"

static int64_t now_ms(void)
{
	return test_now_ms();
}

/* ---- decisions ---- */

static vbx_env env_in(const char *status, int64_t status_at)
{
	vbx_env e = {0};
	snprintf(e.id, sizeof(e.id), "%s", ENV_A);
	snprintf(e.status, sizeof(e.status), "%s", status);
	snprintf(e.container_id, sizeof(e.container_id), "%s", CID_A);
	e.status_at = status_at;
	e.started_at = status_at;
	return e;
}

static vbx_container_state box(bool running, int code, bool oom,
                               int64_t started_at)
{
	vbx_container_state c = {0};
	snprintf(c.id, sizeof(c.id), "%s", CID_A);
	snprintf(c.status, sizeof(c.status), "%s",
	         running ? "running" : "exited");
	c.running = running;
	c.exit_code = code;
	c.oom_killed = oom;
	c.started_at = started_at;
	return c;
}

#define NOW INT64_C(1700000000000)
#define MIN INT64_C(60000)

static void test_judge_running(void **state)
{
	vbx_env e = env_in("running", NOW - MIN);
	vbx_container_state c = box(true, 0, false, NOW - MIN);
	vbx__lc_verdict v;

	assert_false(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_true(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	assert_int_equal(v.from, VBX_ENV_RUNNING);
	assert_string_equal(v.to, "error");
	assert_true(v.clear_container);
	assert_string_equal(v.reason, "the container was removed outside "
	                              "VibeBox");

	c = box(false, 0, false, NOW - MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "stopped");
	assert_false(v.clear_container);
	assert_string_equal(v.reason, "the container exited with code 0");

	c = box(false, 137, false, NOW - MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 137");

	c = box(false, 137, true, NOW - MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 137 "
	                              "(killed: out of memory)");

	/* The engine did not answer: decide nothing. */
	assert_false(vbx__lc_judge(&e, VBX_EUNAVAIL, NULL, NOW, true, &v));
	assert_int_equal(v.from, 0);
	assert_false(vbx__lc_judge(&e, VBX_OK, NULL, NOW, true, &v));

	/* running without a container id at all */
	e.container_id[0] = '\0';
	assert_true(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	assert_string_equal(v.to, "error");
}

static void test_judge_starting(void **state)
{
	vbx_env e = env_in("starting", NOW - MIN);
	vbx_container_state c = box(true, 0, false, NOW - MIN / 2);
	vbx__lc_verdict v;

	/* in time: leave it to the API */
	assert_false(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_false(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	/* the previous container of a restart exits: not a failure */
	c = box(false, 137, false, NOW - 10 * MIN);
	assert_false(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	/* the container started in this phase exited: the start failed */
	c = box(false, 1, false, NOW - MIN / 2);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_int_equal(v.from, VBX_ENV_STARTING);
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 1");

	/* past the phase's time */
	int64_t late = NOW + VBX__LC_PHASE_TIMEOUT_MS;
	c = box(true, 0, false, NOW - MIN / 2);
	assert_false(vbx__lc_judge(&e, VBX_OK, &c, late, false, &v));
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.to, "running");
	assert_string_equal(v.reason, "");
	assert_true(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, late, true, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "timed out while starting");
	c = box(false, 0, false, 0);
	snprintf(c.status, sizeof(c.status), "created");
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.reason, "timed out while starting");
}

static void test_judge_stopping_and_others(void **state)
{
	vbx_env e = env_in("stopping", NOW - MIN);
	vbx_container_state c = box(true, 0, false, NOW - 5 * MIN);
	vbx__lc_verdict v;
	int64_t late = NOW + VBX__LC_PHASE_TIMEOUT_MS;

	assert_false(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_false(vbx__lc_judge(&e, VBX_OK, &c, late, false, &v));
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, late, true, &v));
	assert_int_equal(v.from, VBX_ENV_STOPPING);
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "timed out while stopping");
	c = box(false, 143, false, NOW - 5 * MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.to, "stopped");
	assert_true(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, late, true, &v));
	assert_string_equal(v.to, "error");
	assert_true(v.clear_container);

	static const char *const calm[] = {"stopped", "error", "bogus", ""};
	for (size_t i = 0; i < 4; i++) {
		e = env_in(calm[i], NOW - 10 * MIN);
		assert_false(
		        vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, late, true, &v));
		assert_int_equal(v.from, 0);
	}
}

/* One of several engines down: its active environments go to error
 * with the runtime's reason; when it answers again they follow their
 * containers. Other environments in error are not touched. */
static void test_judge_engine_down(void **state)
{
	static const char *const why = "engine node-b unreachable: "
	                               "Connection refused";
	vbx_container_state c = {0};
	vbx__lc_verdict v;
	snprintf(c.error, sizeof(c.error), "%s", why);

	static const char *const active[] = {"running", "starting", "stopping"};
	for (size_t i = 0; i < 3; i++) {
		vbx_env e = env_in(active[i], NOW - MIN);
		assert_true(vbx__lc_judge(&e, VBX_EUNAVAIL, &c, NOW, true, &v));
		assert_int_equal(v.from, vbx_env_status_bit(active[i]));
		assert_string_equal(v.to, "error");
		assert_false(v.clear_container);
		assert_string_equal(v.reason, why);
	}
	/* stopped, or in error already: nothing */
	vbx_env e = env_in("stopped", NOW - MIN);
	assert_false(vbx__lc_judge(&e, VBX_EUNAVAIL, &c, NOW, true, &v));
	e = env_in("error", NOW - MIN);
	snprintf(e.status_reason, sizeof(e.status_reason), "%s", why);
	assert_false(vbx__lc_judge(&e, VBX_EUNAVAIL, &c, NOW, true, &v));
	/* no reason from the runtime: decide nothing, as before */
	c.error[0] = '\0';
	e = env_in("running", NOW - MIN);
	assert_false(vbx__lc_judge(&e, VBX_EUNAVAIL, &c, NOW, true, &v));

	/* back: running again, stopped, exited badly, gone */
	e = env_in("error", NOW - MIN);
	snprintf(e.status_reason, sizeof(e.status_reason), "%s", why);
	c = box(true, 0, false, NOW - 5 * MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_int_equal(v.from, VBX_ENV_ERROR);
	assert_string_equal(v.to, "running");
	assert_string_equal(v.reason, "");
	c = box(false, 0, false, NOW - 5 * MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_string_equal(v.to, "stopped");
	c = box(false, 137, false, NOW - 5 * MIN);
	assert_true(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 137");
	assert_true(vbx__lc_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	assert_string_equal(v.to, "error");
	assert_true(v.clear_container);

	/* in error for another reason: not this rule's */
	snprintf(e.status_reason, sizeof(e.status_reason),
	         "the container exited with code 1");
	c = box(true, 0, false, NOW - 5 * MIN);
	assert_false(vbx__lc_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_true(vbx__lc_engine_reason(why));
	assert_false(vbx__lc_engine_reason("engine"));
	assert_false(vbx__lc_engine_reason("the engine unreachable"));
}

/* What of an environment's network and workspace is orphaned. */
static void test_orphaned(void **state)
{
	(void)state;
	const unsigned C = VBX_RUNTIME_CONTAINERS, N = VBX_RUNTIME_NETWORK,
	               W = VBX_RUNTIME_WORKSPACE;
	vbx_runtime_leftover l = {.have = C | N | W};
	snprintf(l.env_id, sizeof(l.env_id), "%s", ENV_A);
	/* deleted: its network and workspace, whatever else is there */
	assert_int_equal(vbx__lc_orphaned(&l, VBX_ENOTFOUND, NULL), N | W);
	l.have = W;
	assert_int_equal(vbx__lc_orphaned(&l, VBX_ENOTFOUND, NULL), W);
	/* the store did not answer: nothing */
	assert_int_equal(vbx__lc_orphaned(&l, VBX_EUNAVAIL, NULL), 0);
	/* live and at rest: only a network no container uses */
	const char *rest[] = {"stopped", "error"};
	for (size_t i = 0; i < 2; i++) {
		vbx_env e = env_in(rest[i], NOW - MIN);
		l.have = N | W;
		assert_int_equal(vbx__lc_orphaned(&l, VBX_OK, &e), N);
		l.have = C | N | W;
		assert_int_equal(vbx__lc_orphaned(&l, VBX_OK, &e), 0);
		l.have = W; /* a live environment's workspace is its own */
		assert_int_equal(vbx__lc_orphaned(&l, VBX_OK, &e), 0);
	}
	/* a start (or stop) may be making the container right now */
	const char *busy[] = {"starting", "running", "stopping"};
	for (size_t i = 0; i < 3; i++) {
		vbx_env e = env_in(busy[i], NOW - MIN);
		l.have = N | W;
		assert_int_equal(vbx__lc_orphaned(&l, VBX_OK, &e), 0);
	}
}

static void test_idle(void **state)
{
	vbx_env e = env_in("running", NOW - 10 * MIN);
	char reason[128];

	assert_false(vbx__lc_idle(&e, 0, NOW, reason, sizeof(reason)));
	assert_false(vbx__lc_idle(&e, 11 * MIN, NOW, reason, sizeof(reason)));
	assert_true(vbx__lc_idle(&e, 10 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason,
	                    "stopped after 10 minutes without activity");
	/* activity counts from the later of started_at and active_at */
	e.active_at = NOW - MIN;
	assert_false(vbx__lc_idle(&e, 10 * MIN, NOW, reason, sizeof(reason)));
	assert_true(vbx__lc_idle(&e, 3000, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 3 seconds without activity");
	assert_true(vbx__lc_idle(&e, 1000, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 1 second without activity");
	e.active_at = 0;
	e.started_at = NOW - 5 * 60 * MIN;
	assert_true(
	        vbx__lc_idle(&e, 4 * 60 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 4 hours without activity");
	assert_true(vbx__lc_idle(&e, 90 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason,
	                    "stopped after 90 minutes without activity");
	assert_true(vbx__lc_idle(&e, MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 1 minute without activity");
	e = env_in("stopping", NOW - 10 * MIN);
	assert_false(vbx__lc_idle(&e, MIN, NOW, reason, sizeof(reason)));
}

/* ---- a fake store and a fake runtime, made of hooks ---- */

#define MAX_ROWS 12

static struct fake {
	pthread_mutex_t lock;
	vbx_env envs[MAX_ROWS];
	int n_envs;
	vbx_container_state boxes[MAX_ROWS];
	bool box_gone[MAX_ROWS];
	int n_boxes;
	bool engine_down;
	bool list_down; /* store_env_list answers VBX_EUNAVAIL */
	int lists;      /* store_env_list calls */
	int stops;      /* dkr_stop calls */
	int stop_timeout;
	char removed[MAX_ROWS][VBX_CONTAINER_ID_LEN];
	int n_removed;
	vbx_env_status_event events[32];
	int n_events;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static vbx_env *env_find(const char *id)
{
	for (int i = 0; i < F.n_envs; i++)
		if (strcmp(F.envs[i].id, id) == 0)
			return &F.envs[i];
	return NULL;
}

static int fake_env_get(void *ud, const char *id, vbx_env *out)
{
	if (strcmp(id, ENV_DOWN) == 0)
		return VBX_EUNAVAIL;
	if (strcmp(id, ENV_BAD) == 0)
		return VBX_ERR;
	pthread_mutex_lock(&F.lock);
	vbx_env *e = env_find(id);
	if (e)
		*out = *e;
	pthread_mutex_unlock(&F.lock);
	return e ? VBX_OK : VBX_ENOTFOUND;
}

static int fake_env_list(void *ud, const char *project_id, const char *user_id,
                         unsigned mask, const vbx_page *page,
                         vbx_env_each_fn *each, void *ctx, int64_t *total)
{
	vbx_env rows[MAX_ROWS];
	int n = 0;
	pthread_mutex_lock(&F.lock);
	F.lists++;
	if (F.list_down) {
		pthread_mutex_unlock(&F.lock);
		return VBX_EUNAVAIL;
	}
	for (int i = 0; i < F.n_envs; i++)
		if (vbx_env_status_bit(F.envs[i].status) & mask)
			rows[n++] = F.envs[i];
	pthread_mutex_unlock(&F.lock);
	if (total)
		*total = n; /* the page is not cut: every row */
	for (int i = 0; i < n; i++)
		if (each(ctx, &rows[i]))
			break;
	return VBX_OK;
}

static int fake_env_transition(void *ud, const char *id, unsigned from,
                               const char *to, const char *reason,
                               const char *container_id, vbx_env *out)
{
	int rc = VBX_OK;
	pthread_mutex_lock(&F.lock);
	vbx_env *e = env_find(id);
	if (!e) {
		rc = VBX_ENOTFOUND;
	} else if (!(vbx_env_status_bit(e->status) & from)) {
		rc = VBX_ESTATE;
	} else {
		snprintf(e->status, sizeof(e->status), "%s", to);
		snprintf(e->status_reason, sizeof(e->status_reason), "%s",
		         reason);
		if (container_id)
			snprintf(e->container_id, sizeof(e->container_id), "%s",
			         container_id);
		e->status_at = now_ms();
	}
	if (e && out)
		*out = *e;
	pthread_mutex_unlock(&F.lock);
	return rc;
}

static void on_status(void *ud, const vbx_env_status_event *ev)
{
	pthread_mutex_lock(&F.lock);
	if (F.n_events < 32)
		F.events[F.n_events++] = *ev;
	pthread_mutex_unlock(&F.lock);
}

static int box_find(const char *id)
{
	for (int i = 0; i < F.n_boxes; i++)
		if (!F.box_gone[i] && strcmp(F.boxes[i].id, id) == 0)
			return i;
	return -1;
}

static int fake_inspect(void *ud, const char *id, vbx_container_state *out)
{
	pthread_mutex_lock(&F.lock);
	int i = box_find(id);
	int rc = F.engine_down ? VBX_EUNAVAIL : i < 0 ? VBX_ENOTFOUND : VBX_OK;
	if (rc == VBX_OK)
		*out = F.boxes[i];
	pthread_mutex_unlock(&F.lock);
	return rc;
}

static int fake_list(void *ud, vbx_container_each_fn *each, void *ctx)
{
	vbx_container_state rows[MAX_ROWS];
	int n = 0;
	pthread_mutex_lock(&F.lock);
	bool down = F.engine_down;
	for (int i = 0; i < F.n_boxes; i++)
		if (!F.box_gone[i])
			rows[n++] = F.boxes[i];
	pthread_mutex_unlock(&F.lock);
	if (down)
		return VBX_EUNAVAIL;
	for (int i = 0; i < n; i++)
		if (each(ctx, &rows[i]))
			break;
	return VBX_OK;
}

static int fake_stop(void *ud, const char *id, int timeout_s)
{
	pthread_mutex_lock(&F.lock);
	int i = box_find(id);
	F.stops++;
	F.stop_timeout = timeout_s;
	if (i >= 0) {
		F.boxes[i].running = false;
		F.boxes[i].exit_code = 0;
	}
	pthread_mutex_unlock(&F.lock);
	return i >= 0 ? VBX_OK : VBX_ENOTFOUND;
}

static int fake_remove(void *ud, const char *id)
{
	pthread_mutex_lock(&F.lock);
	int i = box_find(id);
	if (i >= 0) {
		F.box_gone[i] = true;
		snprintf(F.removed[F.n_removed++], VBX_CONTAINER_ID_LEN, "%s",
		         id);
	}
	pthread_mutex_unlock(&F.lock);
	return VBX_OK;
}

static void add_env(const char *id, const char *status, const char *cid,
                    int64_t status_at)
{
	vbx_env *e = &F.envs[F.n_envs++];
	*e = (vbx_env){0};
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->project_id, sizeof(e->project_id), "%s", ENV_D);
	snprintf(e->status, sizeof(e->status), "%s", status);
	snprintf(e->container_id, sizeof(e->container_id), "%s", cid);
	e->status_at = e->started_at = status_at;
}

static void add_box(const char *id, const char *env_id, bool running, int code,
                    int64_t started_at)
{
	vbx_container_state *c = &F.boxes[F.n_boxes];
	F.box_gone[F.n_boxes++] = false;
	*c = box(running, code, false, started_at);
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->env_id, sizeof(c->env_id), "%s", env_id);
}

/* ---- the host: the platform plugin, the fakes, the facts ---- */

typedef struct world {
	vbx_test_host *h;
	vbx_plugin *t; /* the test's own plugin: fakes and facts */
} world;

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	pthread_mutex_lock(&F.lock);
	memset(F.envs, 0, sizeof(F.envs));
	F.n_envs = F.n_boxes = F.n_removed = F.n_events = 0;
	F.lists = F.stops = F.stop_timeout = 0;
	F.engine_down = F.list_down = false;
	pthread_mutex_unlock(&F.lock);

	w->h = vbx_test_host_new();
	assert_non_null(w->h);
	vbx_plugin *p = w->t = vbx_test_plugin(w->h);
	int m = VBX_PRIO_MIDDLE;
	assert_int_equal(
	        vbx_hook_store_env_get_register(p, fake_env_get, NULL, m),
	        VBX_OK);
	assert_int_equal(
	        vbx_hook_store_env_list_register(p, fake_env_list, NULL, m),
	        VBX_OK);
	assert_int_equal(vbx_hook_store_env_transition_register(
	                         p, fake_env_transition, NULL, m),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_runtime_inspect_register(p, fake_inspect, NULL, m),
	        VBX_OK);
	assert_int_equal(vbx_hook_runtime_list_register(p, fake_list, NULL, m),
	                 VBX_OK);
	assert_int_equal(vbx_hook_runtime_stop_register(p, fake_stop, NULL, m),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_runtime_remove_register(p, fake_remove, NULL, m),
	        VBX_OK);
	assert_int_equal(vbx_event_env_status_subscribe(p, on_status, NULL),
	                 VBX_OK);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;
	if (w->h)
		vbx_test_host_free(w->h);
	free(w);
	return 0;
}

/* Load the platform with this `environments` group, and start. */
static void run_platform(world *w, const char *environments)
{
	char block[512];
	snprintf(block, sizeof(block), "environments = { %s };", environments);
	if (vbx_test_load_file(w->h, VBX_PLATFORM_SO, block) != VBX_OK)
		fail_msg("%s", vbx_test_errors(w->h));
	assert_int_equal(vbx_test_start(w->h), VBX_OK);
}

/* Wait up to 5 s for env id to reach status. */
static bool wait_status(const char *id, const char *status)
{
	for (int i = 0; i < 250; i++) {
		pthread_mutex_lock(&F.lock);
		bool there = strcmp(env_find(id)->status, status) == 0;
		pthread_mutex_unlock(&F.lock);
		if (there)
			return true;
		usleep(20000);
	}
	return false;
}

static bool wait_int(int *what, int at_least)
{
	return test_wait_int(&F.lock, what, at_least);
}

static int read_int(const int *what)
{
	pthread_mutex_lock(&F.lock);
	int v = *what;
	pthread_mutex_unlock(&F.lock);
	return v;
}

static vbx_env env_now(const char *id)
{
	pthread_mutex_lock(&F.lock);
	vbx_env e = *env_find(id);
	pthread_mutex_unlock(&F.lock);
	return e;
}

/* Was env_status published with this env and status? */
static bool published(const char *id, const char *status)
{
	bool found = false;
	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < F.n_events; i++)
		found |= strcmp(F.events[i].env_id, id) == 0 &&
		         strcmp(F.events[i].status, status) == 0 &&
		         F.events[i].version == 1;
	pthread_mutex_unlock(&F.lock);
	return found;
}

/* The runtime's facts, as a runtime plugin publishes them. */
static void fact_exited(world *w, const char *env, const char *cid, int code,
                        bool oom)
{
	vbx_runtime_container_exited x = {.version = 1,
	                                  .exit_code = code,
	                                  .oom_killed = oom,
	                                  .started_at = now_ms() - MIN,
	                                  .finished_at = now_ms(),
	                                  .at_ms = now_ms()};
	snprintf(x.env_id, sizeof(x.env_id), "%s", env);
	snprintf(x.container_id, sizeof(x.container_id), "%s", cid);
	snprintf(x.status, sizeof(x.status), "exited");
	assert_int_equal(
	        vbx_event_runtime_container_exited_publish(
	                vbx_event_runtime_container_exited_get(w->t), &x),
	        VBX_OK);
	assert_int_equal(vbx_test_flush_work(w->h), VBX_OK);
}

static void fact_vanished(world *w, const char *env, const char *cid)
{
	vbx_runtime_container_vanished x = {.version = 1, .at_ms = now_ms()};
	snprintf(x.env_id, sizeof(x.env_id), "%s", env);
	snprintf(x.container_id, sizeof(x.container_id), "%s", cid);
	assert_int_equal(
	        vbx_event_runtime_container_vanished_publish(
	                vbx_event_runtime_container_vanished_get(w->t), &x),
	        VBX_OK);
	assert_int_equal(vbx_test_flush_work(w->h), VBX_OK);
}

static void fact_engine(world *w, bool reachable)
{
	vbx_runtime_engine_state x = {
	        .version = 1, .reachable = reachable, .at_ms = now_ms()};
	assert_int_equal(vbx_event_runtime_engine_state_publish(
	                         vbx_event_runtime_engine_state_get(w->t), &x),
	                 VBX_OK);
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
}

/* ---- metrics (tests/unit/fakemetrics.h) ---- */

static void assert_envs(int stopped, int starting, int running, int stopping,
                        int error)
{
	static const char *const names[] = {"stopped", "starting", "running",
	                                    "stopping", "error"};
	int want[] = {stopped, starting, running, stopping, error};
	for (int i = 0; i < 5; i++)
		if (fake_metric("vibebox_environments", names[i], NULL) !=
		    want[i])
			fail_msg("environments{status=%s}: %g, want %d",
			         names[i],
			         fake_metric("vibebox_environments", names[i],
			                     NULL),
			         want[i]);
}

/* ---- the policy at work ---- */

static void test_reconcile_at_start(void **state)
{
	world *w = *state;
	int64_t now = now_ms();
	add_env(ENV_A, "running", CID_A, now - MIN); /* container gone */
	add_env(ENV_B, "running", CID_B, now - MIN); /* exited 0 */
	add_box(CID_B, ENV_B, false, 0, now - MIN);
	add_env(ENV_C, "starting", CID_C, now - 3 * MIN); /* stuck, runs */
	add_box(CID_C, ENV_C, true, 0, now - 2 * MIN);
	add_env(ENV_D, "stopping", CID_D, now - 3 * MIN); /* stuck */
	add_box(CID_D, ENV_D, true, 0, now - 9 * MIN);
	add_box(CID_O, ENV_GONE, true, 0, now - MIN); /* an orphan */
	add_box(CID_Q, ENV_BAD, true, 0, now - MIN);  /* lookup failed */
	add_box(CID_P, ENV_DOWN, true, 0, now - MIN); /* store down */
	run_platform(w, "");

	assert_true(wait_status(ENV_A, "error"));
	assert_true(wait_status(ENV_B, "stopped"));
	assert_true(wait_status(ENV_C, "running"));
	assert_true(wait_status(ENV_D, "error"));
	assert_true(wait_int(&F.n_removed, 1));
	usleep(100000);
	vbx_env a = env_now(ENV_A);
	assert_string_equal(a.status_reason,
	                    "the container was removed outside VibeBox");
	assert_string_equal(a.container_id, "");
	assert_string_equal(env_now(ENV_B).status_reason,
	                    "the container exited with code 0");
	assert_string_equal(env_now(ENV_D).status_reason,
	                    "timed out while stopping");
	/* Copied out: an assertion must not leave the lock held. */
	pthread_mutex_lock(&F.lock);
	int n_removed = F.n_removed;
	char removed[VBX_CONTAINER_ID_LEN];
	snprintf(removed, sizeof(removed), "%s", F.removed[0]);
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(n_removed, 1);
	assert_string_equal(removed, CID_O);
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	assert_true(published(ENV_A, "error"));
	assert_true(published(ENV_B, "stopped"));
	assert_true(published(ENV_C, "running"));
	assert_true(published(ENV_D, "error"));
}

static void test_engine_down_decides_nothing(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_O, ENV_GONE, true, 0, now_ms());
	F.engine_down = true;
	run_platform(w, "");
	assert_true(wait_int(&F.lists, 1));
	usleep(300000);
	assert_string_equal(env_now(ENV_A).status, "running");
	assert_int_equal(read_int(&F.n_removed), 0);
}

static void test_idle_stop(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - MIN);
	add_env(ENV_B, "running", CID_B, now_ms() - MIN);
	F.envs[1].active_at = now_ms() + 60 * MIN; /* busy */
	add_box(CID_B, ENV_B, true, 0, now_ms() - MIN);
	run_platform(w, "idle_timeout = \"3s\"; stop_timeout = \"7s\";");
	assert_true(wait_status(ENV_A, "stopped"));
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "stopped after 3 seconds without activity");
	assert_int_equal(read_int(&F.stops), 1);
	assert_int_equal(read_int(&F.stop_timeout), 7); /* stop_timeout's */
	assert_string_equal(env_now(ENV_B).status, "running");
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	assert_true(published(ENV_A, "stopping"));
	assert_true(published(ENV_A, "stopped"));
}

static void test_idle_off(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - 600 * MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - 600 * MIN);
	run_platform(w, "idle_timeout = 0;");
	assert_true(wait_int(&F.lists, 1));
	usleep(1200000); /* a few ticks */
	assert_string_equal(env_now(ENV_A).status, "running");
	assert_int_equal(read_int(&F.stops), 0);
}

static void test_exit_facts(void **state)
{
	world *w = *state;
	int64_t now = now_ms();
	add_env(ENV_A, "running", CID_A, now - MIN);
	add_box(CID_A, ENV_A, true, 0, now - MIN);
	add_env(ENV_B, "stopping", CID_B, now - 1000);
	add_box(CID_B, ENV_B, true, 0, now - MIN);
	add_env(ENV_C, "running", CID_C, now - MIN);
	add_box(CID_C, ENV_C, true, 0, now - MIN);
	run_platform(w, "");
	assert_true(wait_int(&F.lists, 1));

	/* A kill: the container exits 137. One in stopping is the API's. */
	fact_exited(w, ENV_B, CID_B, 137, false);
	fact_exited(w, ENV_A, CID_A, 137, false);
	assert_string_equal(env_now(ENV_A).status, "error");
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "the container exited with code 137");
	assert_string_equal(env_now(ENV_B).status, "stopping");

	/* OOM, then the removal of the container behind our back: the
	 * failed environment forgets it. */
	fact_exited(w, ENV_C, CID_C, 137, true);
	vbx_env c = env_now(ENV_C);
	assert_string_equal(c.status, "error");
	assert_string_equal(c.status_reason, "the container exited with code "
	                                     "137 (killed: out of memory)");
	assert_string_equal(c.container_id, CID_C);
	fact_vanished(w, ENV_C, CID_C);
	c = env_now(ENV_C);
	assert_string_equal(c.status, "error");
	assert_string_equal(c.container_id, "");
	assert_true(published(ENV_A, "error"));
	assert_false(published(ENV_B, "error"));
}

/* environments{status} counted by the store at each visit, and the
 * transitions the platform makes. */
static void test_metrics(void **state)
{
	world *w = *state;
	int64_t now = now_ms();
	add_env(ENV_A, "running", CID_A, now - MIN);
	add_box(CID_A, ENV_A, true, 0, now - MIN);
	add_env(ENV_B, "stopped", "", now - MIN);
	assert_int_equal(vbx_test_load(w->h, &fake_metrics_desc, NULL), VBX_OK);
	run_platform(w, "");
	assert_true(wait_int(&F.lists, 1));
	assert_envs(1, 0, 1, 0, 0);
	const char *ev = "vibebox_environment_transitions_total";
	double before = fake_metric(ev, "running", "error", NULL);
	assert_true(fake_metric("vibebox_terminal_sessions", NULL) == 0);

	fact_exited(w, ENV_A, CID_A, 137, false);
	assert_string_equal(env_now(ENV_A).status, "error");
	assert_true(fake_metric(ev, "running", "error", NULL) == before + 1);
	assert_true(fake_metric(ev, "running", "stopped", NULL) == 0);
	assert_envs(1, 0, 0, 0, 1);

	/* A change by another replica shows at the next visit; while the
	 * store does not answer, the last values stay. */
	pthread_mutex_lock(&F.lock);
	snprintf(F.envs[1].status, sizeof(F.envs[1].status), "error");
	F.list_down = true;
	pthread_mutex_unlock(&F.lock);
	assert_envs(1, 0, 0, 0, 1);
	pthread_mutex_lock(&F.lock);
	F.list_down = false;
	pthread_mutex_unlock(&F.lock);
	assert_envs(0, 0, 0, 0, 2);
}

static void test_vanished_facts(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - MIN);
	run_platform(w, "");
	assert_true(wait_int(&F.lists, 1));
	/* an older container of the environment, or an unknown
	 * environment, changes nothing */
	fact_vanished(w, ENV_A, CID_B);
	fact_exited(w, ENV_A, CID_B, 1, false);
	fact_vanished(w, ENV_GONE, CID_O);
	assert_string_equal(env_now(ENV_A).status, "running");
	fact_vanished(w, ENV_A, CID_A);
	assert_string_equal(env_now(ENV_A).status, "error");
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "the container was removed outside VibeBox");
	assert_string_equal(env_now(ENV_A).container_id, "");
}

/* The engine back after an outage: a pass at once, not at the next
 * reconcile_interval. */
static void test_engine_back_reconciles(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - MIN);
	run_platform(w, "reconcile_interval = \"1h\"; idle_timeout = 0;");
	assert_true(wait_int(&F.lists, 1));
	usleep(700000);
	int lists = read_int(&F.lists);
	assert_int_equal(lists, 1);
	pthread_mutex_lock(&F.lock);
	F.box_gone[0] = true; /* removed while the stream was down */
	pthread_mutex_unlock(&F.lock);
	fact_engine(w, false);
	usleep(700000);
	assert_int_equal(read_int(&F.lists), lists);
	fact_engine(w, true);
	assert_true(wait_int(&F.lists, lists + 1));
	assert_true(wait_status(ENV_A, "error"));
}

/* ---- one runner among replicas: a lock provider's double ---- */

/* The lock "platform:lifecycle" as the provider keeps it: held by
 * another replica (other), by the platform (holder "mine"), or free. */
static struct fake_lock {
	bool other;
	char holder[48];
	uint64_t fence;
	int locks, unlocks;
} L;

static int fake_lock(void *ud, const char *name, int64_t ttl_ms, vbx_lock *l)
{
	int rc = VBX_OK;
	pthread_mutex_lock(&F.lock);
	L.locks++;
	if (strcmp(name, "platform:lifecycle") != 0 || L.other ||
	    (L.holder[0] && strcmp(L.holder, l->owner) != 0)) {
		memset(l, 0, sizeof(*l));
		rc = strcmp(name, "platform:lifecycle") ? VBX_EINVAL
		                                        : VBX_EEXIST;
	} else {
		if (!L.holder[0]) {
			L.fence++;
			snprintf(L.holder, sizeof(L.holder), "mine");
		}
		*l = (vbx_lock){.version = 1,
		                .fence = L.fence,
		                .expires_ms = now_ms() + ttl_ms};
		snprintf(l->owner, sizeof(l->owner), "%s", L.holder);
	}
	pthread_mutex_unlock(&F.lock);
	return rc;
}

static int fake_unlock(void *ud, const char *name, vbx_lock *l)
{
	pthread_mutex_lock(&F.lock);
	L.unlocks++;
	int rc = strcmp(L.holder, l->owner) == 0 ? VBX_OK : VBX_ENOTFOUND;
	if (rc == VBX_OK)
		L.holder[0] = '\0';
	memset(l, 0, sizeof(*l));
	pthread_mutex_unlock(&F.lock);
	return rc;
}

static int lock_setup(void **state)
{
	world_setup(state);
	world *w = *state;
	memset(&L, 0, sizeof(L));
	L.other = true;
	int m = VBX_PRIO_MIDDLE;
	assert_int_equal(vbx_hook_cache_lock_register(w->t, fake_lock, NULL, m),
	                 VBX_OK);
	assert_int_equal(
	        vbx_hook_cache_unlock_register(w->t, fake_unlock, NULL, m),
	        VBX_OK);
	return 0;
}

/* The detail of the check "jobs" of /health/ready. */
static void jobs_detail(world *w, char *out, size_t len)
{
	vbx_test_response *res =
	        vbx_test_request(w->h, "GET", "/health/ready", NULL, NULL);
	assert_int_equal(vbx_test_status(res), 200);
	const cJSON *checks = cJSON_GetObjectItem(vbx_test_json(res), "checks");
	const cJSON *c;
	out[0] = '\0';
	cJSON_ArrayForEach(c, checks)
	{
		const cJSON *name = cJSON_GetObjectItem(c, "name");
		if (cJSON_IsString(name) && !strcmp(name->valuestring, "jobs"))
			snprintf(out, len, "%s",
			         cJSON_GetObjectItem(c, "detail")->valuestring);
	}
	vbx_test_response_free(res);
}

/* Another replica holds the lock: no pass here. It goes away: this one
 * takes the lock and runs a pass at once, whatever reconcile_interval
 * says; at its stop it releases the lock. */
static void test_standby_then_takeover(void **state)
{
	world *w = *state;
	char detail[256];
	add_env(ENV_A, "running", CID_A, now_ms() - MIN); /* container gone */
	run_platform(w, "reconcile_interval = \"1h\"; idle_timeout = 0;");
	assert_true(wait_int(&L.locks, 3)); /* a few ticks */
	assert_int_equal(read_int(&F.lists), 0);
	assert_string_equal(env_now(ENV_A).status, "running");
	jobs_detail(w, detail, sizeof(detail));
	assert_non_null(strstr(detail, "platform:lifecycle: standby"));

	pthread_mutex_lock(&F.lock);
	L.other = false;
	pthread_mutex_unlock(&F.lock);
	assert_true(wait_status(ENV_A, "error"));
	assert_int_equal(vbx_test_flush_work(w->h), VBX_OK);
	jobs_detail(w, detail, sizeof(detail));
	if (!strstr(detail, "runner, fencing token 1, 1 reconcile passes"))
		fail_msg("%s", detail);

	vbx_test_host_free(w->h);
	w->h = NULL;
	assert_int_equal(L.unlocks, 1);
	assert_string_equal(L.holder, "");
}

/* The provider's server down: the passes run here (the fallback). */
static int fake_lock_down(void *ud, const char *name, int64_t ttl_ms,
                          vbx_lock *l)
{
	return VBX_EUNAVAIL;
}

static void test_lock_unavailable_runs_here(void **state)
{
	world *w = *state;
	char detail[256];
	assert_int_equal(vbx_hook_cache_lock_register(w->t, fake_lock_down,
	                                              NULL, VBX_PRIO_MIDDLE),
	                 VBX_OK);
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	run_platform(w, "idle_timeout = 0;");
	assert_true(wait_status(ENV_A, "error"));
	jobs_detail(w, detail, sizeof(detail));
	assert_non_null(strstr(detail, "platform:lifecycle: local"));
}

/* The policy's settings: ranges, and the unknown-key rule. */
static void test_settings(void **state)
{
	static const char *const bad[] = {
	        "idle_timeout = \"500ms\";", "idle_timeout = \"400d\";",
	        "idle_timeout = \"soon\";",  "reconcile_interval = \"10ms\";",
	        "reconcile_interval = 0;",   "reconcile_interval = \"2d\";",
	        "stuck_timeout = \"2m\";",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vbx_test_host *h = vbx_test_host_new();
		char block[256];
		snprintf(block, sizeof(block), "environments = { %s };",
		         bad[i]);
		assert_int_not_equal(
		        vbx_test_load_file(h, VBX_PLATFORM_SO, block), VBX_OK);
		const char *err = vbx_test_errors(h);
		if (!strstr(err, "plugins.platform.environments."))
			fail_msg("%s: %s", bad[i], err);
		vbx_test_host_free(h);
	}
	static const char *const bad_ttl[] = {"\"2s\"", "\"2h\"", "0",
	                                      "\"soon\""};
	for (size_t i = 0; i < sizeof(bad_ttl) / sizeof(bad_ttl[0]); i++) {
		vbx_test_host *h = vbx_test_host_new();
		char block[256];
		snprintf(block, sizeof(block), "jobs = { lock_ttl = %s; };",
		         bad_ttl[i]);
		assert_int_not_equal(
		        vbx_test_load_file(h, VBX_PLATFORM_SO, block), VBX_OK);
		const char *err = vbx_test_errors(h);
		if (!strstr(err, "plugins.platform.jobs.lock_ttl"))
			fail_msg("%s: %s", bad_ttl[i], err);
		vbx_test_host_free(h);
	}
	vbx_test_host *h = vbx_test_host_new();
	assert_int_equal(vbx_test_load_file(h, VBX_PLATFORM_SO,
	                                    "jobs = { lock_ttl = \"3s\"; };"),
	                 VBX_OK);
	vbx_test_host_free(h);
	h = vbx_test_host_new();
	assert_int_equal(vbx_test_load_file(h, VBX_PLATFORM_SO,
	                                    "environments = { idle_timeout = "
	                                    "0; reconcile_interval = \"5m\"; "
	                                    "};"),
	                 VBX_OK);
	vbx_test_host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_judge_running),
	        cmocka_unit_test(test_judge_starting),
	        cmocka_unit_test(test_judge_stopping_and_others),
	        cmocka_unit_test(test_judge_engine_down),
	        cmocka_unit_test(test_idle),
	        cmocka_unit_test(test_orphaned),
	        cmocka_unit_test_setup_teardown(test_reconcile_at_start,
	                                        world_setup, world_teardown),
	        cmocka_unit_test_setup_teardown(
	                test_engine_down_decides_nothing, world_setup,
	                world_teardown),
	        cmocka_unit_test_setup_teardown(test_idle_stop, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_idle_off, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_exit_facts, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_metrics, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_vanished_facts,
	                                        world_setup, world_teardown),
	        cmocka_unit_test_setup_teardown(test_engine_back_reconciles,
	                                        world_setup, world_teardown),
	        cmocka_unit_test_setup_teardown(test_standby_then_takeover,
	                                        lock_setup, world_teardown),
	        cmocka_unit_test_setup_teardown(test_lock_unavailable_runs_here,
	                                        world_setup, world_teardown),
	        cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
