/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_watch.c - docker-runtime's watcher (plugins/docker-runtime/
 * watch.c): the event stream splitter and parser, the decisions, and the
 * threads end to end against a fake store (store hooks registered on the
 * test host), a fake engine (the dkr_* functions watch.c calls, defined
 * here) and a fake event stream served on a unix socket.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vibebox/testing.h>

#include "docker.h"

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
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the splitter ---- */

typedef struct got {
	char objs[16][256];
	int n;
} got;

static void collect(void *ctx, const char *obj, size_t len)
{
	got *g = ctx;
	assert_int_equal(strlen(obj), len); /* NUL-terminated, no NULs */
	if (g->n < 16)
		snprintf(g->objs[g->n], sizeof(g->objs[0]), "%s", obj);
	g->n++;
}

static void feed(dkr_jsplit *s, const char *text, got *g)
{
	assert_int_equal(dkr_jsplit_feed(s, text, strlen(text), collect, g),
	                 VBX_OK);
}

static void test_split_whole_and_several(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	feed(&s, "{\"a\":1}\n{\"b\":[1,{\"c\":2}]}\n\n  {\"d\":3}", &g);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.objs[0], "{\"a\":1}");
	assert_string_equal(g.objs[1], "{\"b\":[1,{\"c\":2}]}");
	assert_string_equal(g.objs[2], "{\"d\":3}");
	dkr_jsplit_free(&s);
}

static void test_split_byte_by_byte(void **state)
{
	const char *text = "{\"s\":\"a}b{\\\"c\\\\\"}\n{\"t\":\"]\"}\n";
	dkr_jsplit s = {0};
	got g = {0};
	for (size_t i = 0; text[i]; i++) {
		char one[2] = {text[i], 0};
		feed(&s, one, &g);
	}
	assert_int_equal(g.n, 2);
	assert_string_equal(g.objs[0], "{\"s\":\"a}b{\\\"c\\\\\"}");
	assert_string_equal(g.objs[1], "{\"t\":\"]\"}");
	dkr_jsplit_free(&s);
}

static void test_split_junk_between(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	/* Junk outside objects is skipped; the { in it opens an object
	 * whose string runs into the newline, which drops it. */
	feed(&s, "]]}}garbage \"{\" x\n{\"ok\":1}\n", &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.objs[0], "{\"ok\":1}");
	assert_int_equal(s.dropped, 1);
	dkr_jsplit_free(&s);
}

static void test_split_broken_string_resyncs(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	/* An unterminated string: the newline ends the broken object. */
	feed(&s, "{\"a\":\"never closed\n{\"b\":2}\n", &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.objs[0], "{\"b\":2}");
	assert_int_equal(s.dropped, 1);
	dkr_jsplit_free(&s);
}

static void test_split_oversized_dropped(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	size_t n = DKR_EVENT_MAX + 100;
	char *big = malloc(n + 32);
	assert_non_null(big);
	big[0] = '{';
	memset(big + 1, '[', n - 1); /* never closes */
	strcpy(big + n, "\n{\"after\":1}\n");
	feed(&s, big, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.objs[0], "{\"after\":1}");
	assert_int_equal(s.dropped, 1);
	free(big);
	dkr_jsplit_free(&s);
}

static void test_split_reset_drops_partial(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	feed(&s, "{\"half\":", &g);
	dkr_jsplit_reset(&s);
	feed(&s, "1}{\"x\":2}", &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.objs[0], "{\"x\":2}");
	dkr_jsplit_free(&s);
}

static void test_split_nul_bytes(void **state)
{
	dkr_jsplit s = {0};
	got g = {0};
	static const char text[] = "\0\0{\"a\":1}\0";
	assert_int_equal(
	        dkr_jsplit_feed(&s, text, sizeof(text) - 1, collect, &g),
	        VBX_OK);
	assert_int_equal(g.n, 1);
	dkr_jsplit_free(&s);
}

/* ---- the event parser ---- */

#define EVENT(type, action, id, attrs)                                         \
	"{\"status\":\"" action "\",\"id\":\"" id "\",\"Type\":\"" type        \
	"\",\"Action\":\"" action "\",\"Actor\":{\"ID\":\"" id                 \
	"\",\"Attributes\":{" attrs "}},\"scope\":\"local\","                  \
	"\"time\":1700000000,\"timeNano\":1700000000123456789}"
#define LABELS(env)                                                            \
	"\"image\":\"vibebox/test:latest\",\"io.vibebox.managed\":\"true\","   \
	"\"io.vibebox.environment\":\"" env "\",\"name\":\"vbx-x\""

static int parse(const char *json, dkr_event *ev)
{
	return dkr_event_parse(json, strlen(json), ev);
}

static void test_event_die(void **state)
{
	dkr_event ev;
	assert_int_equal(parse(EVENT("container", "die", CID_A,
	                             "\"exitCode\":\"137\"," LABELS(ENV_A)),
	                       &ev),
	                 VBX_OK);
	assert_int_equal(ev.action, DKR_EV_DIE);
	assert_string_equal(ev.container_id, CID_A);
	assert_string_equal(ev.env_id, ENV_A);
	assert_int_equal(ev.exit_code, 137);
	assert_int_equal(ev.at_ms, INT64_C(1700000000123));
}

static void test_event_other_actions(void **state)
{
	dkr_event ev;
	assert_int_equal(
	        parse(EVENT("container", "destroy", CID_A, LABELS(ENV_A)), &ev),
	        VBX_OK);
	assert_int_equal(ev.action, DKR_EV_DESTROY);
	assert_int_equal(ev.exit_code, -1);
	assert_int_equal(
	        parse(EVENT("container", "oom", CID_A, LABELS(ENV_A)), &ev),
	        VBX_OK);
	assert_int_equal(ev.action, DKR_EV_OOM);
	assert_int_equal(
	        parse(EVENT("container", "stop", CID_A, LABELS(ENV_A)), &ev),
	        VBX_OK);
	assert_int_equal(ev.action, DKR_EV_STOP);
	assert_int_equal(
	        parse(EVENT("container", "start", CID_A, LABELS(ENV_A)), &ev),
	        VBX_DECLINED);
	assert_int_equal(parse(EVENT("container", "exec_start: sh", CID_A,
	                             LABELS(ENV_A)),
	                       &ev),
	                 VBX_DECLINED);
	assert_int_equal(
	        parse(EVENT("network", "destroy", CID_A, LABELS(ENV_A)), &ev),
	        VBX_DECLINED);
}

static void test_event_not_ours(void **state)
{
	dkr_event ev;
	/* No environment label, or one that is not a UUID. */
	assert_int_equal(
	        parse(EVENT("container", "die", CID_A, "\"exitCode\":\"0\""),
	              &ev),
	        VBX_DECLINED);
	assert_int_equal(parse(EVENT("container", "die", CID_A,
	                             "\"io.vibebox.environment\":\"x'; --\""),
	                       &ev),
	                 VBX_DECLINED);
	assert_int_equal(parse(EVENT("container", "die", CID_A,
	                             "\"io.vibebox.environment\":7"),
	                       &ev),
	                 VBX_DECLINED);
}

static void test_event_broken(void **state)
{
	dkr_event ev;
	static const char *const bad[] = {
	        "",
	        "{",
	        "[]",
	        "\"die\"",
	        "{}",
	        "{\"Type\":\"container\"}",
	        "{\"Type\":1,\"Action\":\"die\"}",
	        /* no actor, a bad id, an id too long, attributes not an
	         * object */
	        "{\"Type\":\"container\",\"Action\":\"die\"}",
	        EVENT("container", "die", "XYZ", LABELS(ENV_A)),
	        EVENT("container", "die",
	              CID_A "00000000000000000000000000000000000000000000000",
	              LABELS(ENV_A)),
	        "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":"
	        "\"abc123abc123\",\"Attributes\":[1]}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &ev), VBX_EINVAL);
		assert_int_equal(ev.action, 0);
		assert_string_equal(ev.env_id, "");
	}
	/* exit codes that are not small decimals read as unknown */
	static const char *const codes[] = {"\"-1\"", "\"12x\"", "\"\"",
	                                    "\"99999999999999999999\"", "5"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char json[1024];
		snprintf(json, sizeof(json),
		         EVENT("container", "die", CID_A,
		               LABELS(ENV_A) ",\"exitCode\":%s"),
		         codes[i]);
		assert_int_equal(parse(json, &ev), VBX_OK);
		assert_int_equal(ev.exit_code, -1);
	}
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
	dkr_verdict v;

	assert_false(dkr_watch_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_true(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	assert_int_equal(v.from, VBX_ENV_RUNNING);
	assert_string_equal(v.to, "error");
	assert_true(v.clear_container);
	assert_string_equal(v.reason, "the container was removed outside "
	                              "VibeBox");

	c = box(false, 0, false, NOW - MIN);
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "stopped");
	assert_false(v.clear_container);
	assert_string_equal(v.reason, "the container exited with code 0");

	c = box(false, 137, false, NOW - MIN);
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 137");

	c = box(false, 137, true, NOW - MIN);
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 137 "
	                              "(killed: out of memory)");

	/* The engine did not answer: decide nothing. */
	assert_false(dkr_watch_judge(&e, VBX_EUNAVAIL, NULL, NOW, true, &v));
	assert_int_equal(v.from, 0);
	assert_false(dkr_watch_judge(&e, VBX_OK, NULL, NOW, true, &v));

	/* running without a container id at all */
	e.container_id[0] = '\0';
	assert_true(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	assert_string_equal(v.to, "error");
}

static void test_judge_starting(void **state)
{
	vbx_env e = env_in("starting", NOW - MIN);
	vbx_container_state c = box(true, 0, false, NOW - MIN / 2);
	dkr_verdict v;

	/* in time: leave it to the API */
	assert_false(dkr_watch_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_false(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, NOW, true, &v));
	/* the previous container of a restart exits: not a failure */
	c = box(false, 137, false, NOW - 10 * MIN);
	assert_false(dkr_watch_judge(&e, VBX_OK, &c, NOW, true, &v));
	/* the container started in this phase exited: the start failed */
	c = box(false, 1, false, NOW - MIN / 2);
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, NOW, false, &v));
	assert_int_equal(v.from, VBX_ENV_STARTING);
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "the container exited with code 1");

	/* past the phase's time */
	int64_t late = NOW + DKR_PHASE_TIMEOUT_MS;
	c = box(true, 0, false, NOW - MIN / 2);
	assert_false(dkr_watch_judge(&e, VBX_OK, &c, late, false, &v));
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.to, "running");
	assert_string_equal(v.reason, "");
	assert_true(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, late, true, &v));
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "timed out while starting");
	c = box(false, 0, false, 0);
	snprintf(c.status, sizeof(c.status), "created");
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.reason, "timed out while starting");
}

static void test_judge_stopping_and_others(void **state)
{
	vbx_env e = env_in("stopping", NOW - MIN);
	vbx_container_state c = box(true, 0, false, NOW - 5 * MIN);
	dkr_verdict v;
	int64_t late = NOW + DKR_PHASE_TIMEOUT_MS;

	assert_false(dkr_watch_judge(&e, VBX_OK, &c, NOW, true, &v));
	assert_false(dkr_watch_judge(&e, VBX_OK, &c, late, false, &v));
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, late, true, &v));
	assert_int_equal(v.from, VBX_ENV_STOPPING);
	assert_string_equal(v.to, "error");
	assert_string_equal(v.reason, "timed out while stopping");
	c = box(false, 143, false, NOW - 5 * MIN);
	assert_true(dkr_watch_judge(&e, VBX_OK, &c, late, true, &v));
	assert_string_equal(v.to, "stopped");
	assert_true(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, late, true, &v));
	assert_string_equal(v.to, "error");
	assert_true(v.clear_container);

	static const char *const calm[] = {"stopped", "error", "bogus", ""};
	for (size_t i = 0; i < 4; i++) {
		e = env_in(calm[i], NOW - 10 * MIN);
		assert_false(dkr_watch_judge(&e, VBX_ENOTFOUND, NULL, late,
		                             true, &v));
		assert_int_equal(v.from, 0);
	}
}

static void test_idle(void **state)
{
	vbx_env e = env_in("running", NOW - 10 * MIN);
	char reason[128];

	assert_false(dkr_watch_idle(&e, 0, NOW, reason, sizeof(reason)));
	assert_false(dkr_watch_idle(&e, 11 * MIN, NOW, reason, sizeof(reason)));
	assert_true(dkr_watch_idle(&e, 10 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason,
	                    "stopped after 10 minutes without activity");
	/* activity counts from the later of started_at and active_at */
	e.active_at = NOW - MIN;
	assert_false(dkr_watch_idle(&e, 10 * MIN, NOW, reason, sizeof(reason)));
	assert_true(dkr_watch_idle(&e, 3000, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 3 seconds without activity");
	assert_true(dkr_watch_idle(&e, 1000, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 1 second without activity");
	e.active_at = 0;
	e.started_at = NOW - 5 * 60 * MIN;
	assert_true(
	        dkr_watch_idle(&e, 4 * 60 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 4 hours without activity");
	assert_true(dkr_watch_idle(&e, 90 * MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason,
	                    "stopped after 90 minutes without activity");
	assert_true(dkr_watch_idle(&e, MIN, NOW, reason, sizeof(reason)));
	assert_string_equal(reason, "stopped after 1 minute without activity");
	e = env_in("stopping", NOW - 10 * MIN);
	assert_false(dkr_watch_idle(&e, MIN, NOW, reason, sizeof(reason)));
}

/* ---- a fake store, engine and event stream for the threads ---- */

#define MAX_ROWS 12

static struct fake {
	pthread_mutex_t lock;
	vbx_env envs[MAX_ROWS];
	int n_envs;
	vbx_container_state boxes[MAX_ROWS];
	bool box_gone[MAX_ROWS];
	int n_boxes;
	bool engine_down;
	int lists; /* store_env_list calls */
	int stops; /* dkr_stop calls */
	int stop_timeout;
	char removed[MAX_ROWS][VBX_CONTAINER_ID_LEN];
	int n_removed;
	vbx_env_status_event events[32];
	int n_events;
	/* the event stream */
	char sock[108];
	int listen_fd, client_fd;
	int connects;
	char request[1024];
	pthread_t server;
	bool serving;
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
	for (int i = 0; i < F.n_envs; i++)
		if (vbx_env_status_bit(F.envs[i].status) & mask)
			rows[n++] = F.envs[i];
	pthread_mutex_unlock(&F.lock);
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

int dkr_inspect(void *ud, const char *id, vbx_container_state *out)
{
	pthread_mutex_lock(&F.lock);
	int i = box_find(id);
	int rc = F.engine_down ? VBX_EUNAVAIL : i < 0 ? VBX_ENOTFOUND : VBX_OK;
	if (rc == VBX_OK)
		*out = F.boxes[i];
	pthread_mutex_unlock(&F.lock);
	return rc;
}

int dkr_list(void *ud, vbx_container_each_fn *each, void *ctx)
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

int dkr_stop(void *ud, const char *id, int timeout_s)
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

int dkr_remove(void *ud, const char *id)
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

CURL *dkr_easy(dkr *d)
{
	CURL *c = curl_easy_init();
	if (c)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, F.sock);
	return c;
}

const char *dkr_path(dkr *d, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "/v1.41%s", path);
	return buf;
}

/* The event stream: accept, read the request, answer 200, then the test
 * writes events to F.client_fd. One connection at a time. */
static void *serve(void *arg)
{
	for (;;) {
		int fd = accept(F.listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char req[1024] = {0};
		size_t have = 0;
		while (have < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t k =
			        read(fd, req + have, sizeof(req) - 1 - have);
			if (k <= 0)
				break;
			have += (size_t)k;
		}
		static const char head[] =
		        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		        "Connection: close\r\n\r\n";
		if (write(fd, head, sizeof(head) - 1) < 0)
			close(fd), fd = -1;
		pthread_mutex_lock(&F.lock);
		snprintf(F.request, sizeof(F.request), "%s", req);
		if (F.client_fd >= 0)
			close(F.client_fd);
		F.client_fd = fd;
		F.connects++;
		pthread_mutex_unlock(&F.lock);
	}
}

static void stream_write(const char *text)
{
	pthread_mutex_lock(&F.lock);
	int fd = F.client_fd;
	pthread_mutex_unlock(&F.lock);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void stream_drop(void)
{
	pthread_mutex_lock(&F.lock);
	if (F.client_fd >= 0)
		close(F.client_fd);
	F.client_fd = -1;
	pthread_mutex_unlock(&F.lock);
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

typedef struct world {
	vbx_test_host *h;
	dkr d;
	bool watching;
} world;

static int world_setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	pthread_mutex_lock(&F.lock);
	memset(F.envs, 0, sizeof(F.envs));
	F.n_envs = F.n_boxes = F.n_removed = F.n_events = 0;
	F.lists = F.stops = F.stop_timeout = F.connects = 0;
	F.engine_down = false;
	F.client_fd = -1;
	pthread_mutex_unlock(&F.lock);

	snprintf(F.sock, sizeof(F.sock), "/tmp/vbx-dkwatch-%d.sock", getpid());
	unlink(F.sock);
	F.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.sock);
	assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
	                 0);
	assert_int_equal(listen(F.listen_fd, 4), 0);
	assert_int_equal(pthread_create(&F.server, NULL, serve, NULL), 0);

	w->h = vbx_test_host_new();
	assert_non_null(w->h);
	vbx_plugin *p = vbx_test_plugin(w->h);
	assert_int_equal(vbx_hook_store_env_get_register(p, fake_env_get, NULL,
	                                                 VBX_PRIO_MIDDLE),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_env_list_register(
	                         p, fake_env_list, NULL, VBX_PRIO_MIDDLE),
	                 VBX_OK);
	assert_int_equal(vbx_hook_store_env_transition_register(
	                         p, fake_env_transition, NULL, VBX_PRIO_MIDDLE),
	                 VBX_OK);
	assert_int_equal(vbx_event_env_status_subscribe(p, on_status, NULL),
	                 VBX_OK);
	w->d.plugin = p;
	w->d.base_url = "http://localhost";
	w->d.conf.reconcile_ms = 30000;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world *w = *state;
	if (w->watching)
		dkr_watch_stop(&w->d);
	vbx_test_host_free(w->h);
	shutdown(F.listen_fd, SHUT_RDWR);
	close(F.listen_fd);
	pthread_join(F.server, NULL);
	stream_drop();
	unlink(F.sock);
	free(w);
	return 0;
}

static void watch(world *w)
{
	assert_int_equal(vbx_test_start(w->h), VBX_OK);
	assert_int_equal(dkr_watch_start(&w->d), VBX_OK);
	w->watching = true;
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
	for (int i = 0; i < 250; i++) {
		pthread_mutex_lock(&F.lock);
		bool there = *what >= at_least;
		pthread_mutex_unlock(&F.lock);
		if (there)
			return true;
		usleep(20000);
	}
	return false;
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
	watch(w);

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
	watch(w);
	assert_true(wait_int(&F.lists, 1));
	usleep(300000);
	assert_string_equal(env_now(ENV_A).status, "running");
	assert_int_equal(F.n_removed, 0);
}

static void test_idle_stop(void **state)
{
	world *w = *state;
	w->d.conf.idle_ms = 3000;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - MIN);
	add_env(ENV_B, "running", CID_B, now_ms() - MIN);
	F.envs[1].active_at = now_ms() + 60 * MIN; /* busy */
	add_box(CID_B, ENV_B, true, 0, now_ms() - MIN);
	watch(w);
	assert_true(wait_status(ENV_A, "stopped"));
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "stopped after 3 seconds without activity");
	assert_int_equal(F.stops, 1);
	assert_int_equal(F.stop_timeout, 10);
	assert_string_equal(env_now(ENV_B).status, "running");
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	assert_true(published(ENV_A, "stopping"));
	assert_true(published(ENV_A, "stopped"));
}

static void test_events_follow(void **state)
{
	world *w = *state;
	int64_t now = now_ms();
	add_env(ENV_A, "running", CID_A, now - MIN);
	add_box(CID_A, ENV_A, true, 0, now - MIN);
	add_env(ENV_B, "stopping", CID_B, now - 1000);
	add_box(CID_B, ENV_B, true, 0, now - MIN);
	add_env(ENV_C, "running", CID_C, now - MIN);
	add_box(CID_C, ENV_C, true, 0, now - MIN);
	watch(w);
	assert_true(wait_int(&F.connects, 1));
	char request[1024];
	pthread_mutex_lock(&F.lock);
	snprintf(request, sizeof(request), "%s", F.request);
	pthread_mutex_unlock(&F.lock);
	assert_non_null(strstr(request, "GET /v1.41/events?filters="));
	assert_non_null(strstr(request, "io.vibebox.managed%3Dtrue"));

	/* A kill: the container exits 137; the event arrives in pieces,
	 * after some junk and an event for an environment in stopping. */
	pthread_mutex_lock(&F.lock);
	F.boxes[0].running = F.boxes[1].running = false;
	F.boxes[0].exit_code = F.boxes[1].exit_code = 137;
	pthread_mutex_unlock(&F.lock);
	stream_write(
	        "not json\n" EVENT("container", "die", CID_B,
	                           "\"exitCode\":\"137\"," LABELS(ENV_B)) "\n");
	char ev[2048];
	snprintf(ev, sizeof(ev), "%s\n",
	         EVENT("container", "die", CID_A,
	               "\"exitCode\":\"137\"," LABELS(ENV_A)));
	size_t half = strlen(ev) / 2;
	char first[2048];
	snprintf(first, sizeof(first), "%.*s", (int)half, ev);
	stream_write(first);
	usleep(50000);
	stream_write(ev + half);
	assert_true(wait_status(ENV_A, "error"));
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "the container exited with code 137");
	assert_string_equal(env_now(ENV_B).status, "stopping");

	/* OOM, then removal of the container behind our back. */
	pthread_mutex_lock(&F.lock);
	F.boxes[2].running = false;
	F.boxes[2].exit_code = 137;
	F.box_gone[2] = true;
	pthread_mutex_unlock(&F.lock);
	stream_write(EVENT("container", "oom", CID_C, LABELS(ENV_C)) "\n" EVENT(
	        "container", "die", CID_C,
	        "\"exitCode\":\"137\"," LABELS(
	                ENV_C)) "\n" EVENT("container", "destroy", CID_C,
	                                   LABELS(ENV_C)) "\n");
	assert_true(wait_status(ENV_C, "error"));
	for (int i = 0; i < 100 && env_now(ENV_C).container_id[0]; i++)
		usleep(20000);
	vbx_env c = env_now(ENV_C);
	assert_string_equal(c.status_reason, "the container exited with code "
	                                     "137 (killed: out of memory)");
	assert_string_equal(c.container_id, ""); /* forgotten at destroy */

	/* The engine goes away and comes back: a reconcile pass follows. */
	pthread_mutex_lock(&F.lock);
	int lists = F.lists;
	pthread_mutex_unlock(&F.lock);
	stream_drop();
	assert_true(wait_int(&F.connects, 2));
	assert_true(wait_int(&F.lists, lists + 1));
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	assert_true(published(ENV_A, "error"));
	assert_false(published(ENV_B, "error"));

	/* Stop is prompt even with the stream open and idle. */
	int64_t t0 = now_ms();
	dkr_watch_stop(&w->d);
	w->watching = false;
	assert_true(now_ms() - t0 < 1500);
}

static void test_removed_container_event(void **state)
{
	world *w = *state;
	add_env(ENV_A, "running", CID_A, now_ms() - MIN);
	add_box(CID_A, ENV_A, true, 0, now_ms() - MIN);
	/* an event of an older container of the environment changes
	 * nothing */
	watch(w);
	assert_true(wait_int(&F.connects, 1));
	stream_write(EVENT("container", "destroy", CID_B, LABELS(ENV_A)) "\n");
	usleep(300000);
	assert_string_equal(env_now(ENV_A).status, "running");
	pthread_mutex_lock(&F.lock);
	F.box_gone[0] = true;
	pthread_mutex_unlock(&F.lock);
	stream_write(EVENT("container", "destroy", CID_A, LABELS(ENV_A)) "\n");
	assert_true(wait_status(ENV_A, "error"));
	assert_string_equal(env_now(ENV_A).status_reason,
	                    "the container was removed outside VibeBox");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_split_whole_and_several),
	        cmocka_unit_test(test_split_byte_by_byte),
	        cmocka_unit_test(test_split_junk_between),
	        cmocka_unit_test(test_split_broken_string_resyncs),
	        cmocka_unit_test(test_split_oversized_dropped),
	        cmocka_unit_test(test_split_reset_drops_partial),
	        cmocka_unit_test(test_split_nul_bytes),
	        cmocka_unit_test(test_event_die),
	        cmocka_unit_test(test_event_other_actions),
	        cmocka_unit_test(test_event_not_ours),
	        cmocka_unit_test(test_event_broken),
	        cmocka_unit_test(test_judge_running),
	        cmocka_unit_test(test_judge_starting),
	        cmocka_unit_test(test_judge_stopping_and_others),
	        cmocka_unit_test(test_idle),
	        cmocka_unit_test_setup_teardown(test_reconcile_at_start,
	                                        world_setup, world_teardown),
	        cmocka_unit_test_setup_teardown(
	                test_engine_down_decides_nothing, world_setup,
	                world_teardown),
	        cmocka_unit_test_setup_teardown(test_idle_stop, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_events_follow, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_removed_container_event,
	                                        world_setup, world_teardown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
