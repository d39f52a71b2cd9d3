/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_watch.c - docker-runtime's watcher (plugins/docker-runtime/
 * watch.c): the event stream splitter and parser, and the follower end
 * to end against a fake engine (the dkr_* functions watch.c calls,
 * defined here) and a fake event stream served on a unix socket, checked
 * through the fact events it publishes (runtime_container_exited,
 * runtime_container_vanished, runtime_engine_state). What the facts mean
 * for an environment is the platform's: test_platform_lifecycle.c.
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

#include "poll.h"

#include "docker.h"

#define ENV_A "11111111-1111-4111-8111-111111111111"
#define ENV_B "22222222-2222-4222-8222-222222222222"
#define ENV_C "33333333-3333-4333-8333-333333333333"
#define CID_A "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
#define CID_B "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
#define CID_C "cccccccccccc0000000000000000000000000000000000000000000000000003"

static int64_t now_ms(void)
{
	return test_now_ms();
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

#define MIN INT64_C(60000)

/* ---- a fake engine and event stream for the follower ---- */

#define MAX_ROWS 12
#define MAX_FACTS 32

static struct fake {
	pthread_mutex_t lock;
	vbx_container_state boxes[MAX_ROWS];
	bool box_gone[MAX_ROWS];
	int n_boxes;
	/* the facts published */
	vbx_runtime_container_exited exited[MAX_FACTS];
	int n_exited;
	vbx_runtime_container_vanished vanished[MAX_FACTS];
	int n_vanished;
	vbx_runtime_engine_state engine[MAX_FACTS];
	int n_engine;
	/* the event stream */
	char sock[108];
	int listen_fd, client_fd;
	int connects;
	char request[1024];
	pthread_t server;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_exited(void *ud, const vbx_runtime_container_exited *ev)
{
	pthread_mutex_lock(&F.lock);
	if (F.n_exited < MAX_FACTS)
		F.exited[F.n_exited++] = *ev;
	pthread_mutex_unlock(&F.lock);
}

static void on_vanished(void *ud, const vbx_runtime_container_vanished *ev)
{
	pthread_mutex_lock(&F.lock);
	if (F.n_vanished < MAX_FACTS)
		F.vanished[F.n_vanished++] = *ev;
	pthread_mutex_unlock(&F.lock);
}

static void on_engine(void *ud, const vbx_runtime_engine_state *ev)
{
	pthread_mutex_lock(&F.lock);
	if (F.n_engine < MAX_FACTS)
		F.engine[F.n_engine++] = *ev;
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
	int rc = i < 0 ? VBX_ENOTFOUND : VBX_OK;
	if (rc == VBX_OK)
		*out = F.boxes[i];
	pthread_mutex_unlock(&F.lock);
	return rc;
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

static void add_box(const char *id, const char *env_id, bool running, int code,
                    int64_t started_at)
{
	vbx_container_state *c = &F.boxes[F.n_boxes];
	F.box_gone[F.n_boxes++] = false;
	*c = (vbx_container_state){.running = running,
	                           .exit_code = code,
	                           .started_at = started_at};
	snprintf(c->status, sizeof(c->status), "%s",
	         running ? "running" : "exited");
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
	F.n_boxes = F.n_exited = F.n_vanished = F.n_engine = 0;
	F.connects = 0;
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
	assert_int_equal(vbx_event_runtime_container_exited_subscribe(
	                         p, on_exited, NULL),
	                 VBX_OK);
	assert_int_equal(vbx_event_runtime_container_vanished_subscribe(
	                         p, on_vanished, NULL),
	                 VBX_OK);
	assert_int_equal(
	        vbx_event_runtime_engine_state_subscribe(p, on_engine, NULL),
	        VBX_OK);
	w->d.plugin = p;
	w->d.base_url = "http://localhost";
	assert_int_equal(dkr_watch_events(&w->d), VBX_OK);
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

static bool wait_int(int *what, int at_least)
{
	return test_wait_int(&F.lock, what, at_least);
}

static vbx_runtime_container_exited exited_fact(int i)
{
	pthread_mutex_lock(&F.lock);
	vbx_runtime_container_exited x = F.exited[i];
	pthread_mutex_unlock(&F.lock);
	return x;
}

static void test_events_follow(void **state)
{
	world *w = *state;
	int64_t now = now_ms();
	add_box(CID_A, ENV_A, true, 0, now - MIN);
	add_box(CID_B, ENV_B, true, 0, now - MIN);
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
	 * after some junk and another event. */
	pthread_mutex_lock(&F.lock);
	F.boxes[0].running = F.boxes[1].running = false;
	F.boxes[0].exit_code = F.boxes[1].exit_code = 137;
	snprintf(F.boxes[0].status, sizeof(F.boxes[0].status), "exited");
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
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	assert_true(wait_int(&F.n_exited, 2));
	vbx_runtime_container_exited x = exited_fact(1);
	assert_int_equal(x.version, 1);
	assert_string_equal(x.env_id, ENV_A);
	assert_string_equal(x.container_id, CID_A);
	assert_string_equal(x.status, "exited");
	assert_int_equal(x.exit_code, 137);
	assert_false(x.running);
	assert_false(x.oom_killed);
	assert_int_equal(x.started_at, now - MIN); /* inspected */
	assert_int_equal(x.at_ms, INT64_C(1700000000123));
	assert_string_equal(exited_fact(0).env_id, ENV_B);

	/* OOM, then removal of the container behind our back: the engine
	 * cannot be asked any more, the event's word is taken. */
	pthread_mutex_lock(&F.lock);
	F.box_gone[2] = true;
	pthread_mutex_unlock(&F.lock);
	stream_write(EVENT("container", "oom", CID_C, LABELS(ENV_C)) "\n" EVENT(
	        "container", "die", CID_C,
	        "\"exitCode\":\"137\"," LABELS(
	                ENV_C)) "\n" EVENT("container", "destroy", CID_C,
	                                   LABELS(ENV_C)) "\n");
	assert_true(wait_int(&F.n_vanished, 1));
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	x = exited_fact(2);
	assert_string_equal(x.env_id, ENV_C);
	assert_int_equal(x.exit_code, 137);
	assert_true(x.oom_killed);
	assert_string_equal(x.status, "exited");
	pthread_mutex_lock(&F.lock);
	vbx_runtime_container_vanished v = F.vanished[0];
	int n_exited = F.n_exited, n_engine = F.n_engine;
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(n_exited, 3); /* oom itself is no fact */
	assert_int_equal(n_engine, 0);
	assert_int_equal(v.version, 1);
	assert_string_equal(v.env_id, ENV_C);
	assert_string_equal(v.container_id, CID_C);

	/* The engine goes away and comes back: said once each. */
	stream_drop();
	assert_true(wait_int(&F.connects, 2));
	assert_true(wait_int(&F.n_engine, 2));
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	pthread_mutex_lock(&F.lock);
	vbx_runtime_engine_state lost = F.engine[0], back = F.engine[1];
	n_engine = F.n_engine;
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(n_engine, 2);
	assert_false(lost.reachable);
	assert_string_not_equal(lost.why, "");
	assert_true(back.reachable);
	assert_string_equal(back.why, "");

	/* Stop is prompt even with the stream open and idle. */
	int64_t t0 = now_ms();
	dkr_watch_stop(&w->d);
	w->watching = false;
	assert_true(now_ms() - t0 < 1500);
}

/* A stop event carries no exit code: the engine's inspect says. */
static void test_stop_event_inspected(void **state)
{
	world *w = *state;
	add_box(CID_A, ENV_A, false, 143, now_ms() - MIN);
	watch(w);
	assert_true(wait_int(&F.connects, 1));
	stream_write(EVENT("container", "stop", CID_A, LABELS(ENV_A)) "\n");
	assert_true(wait_int(&F.n_exited, 1));
	vbx_runtime_container_exited x = exited_fact(0);
	assert_int_equal(x.exit_code, 143);
	assert_string_equal(x.status, "exited");
	/* not ours: no fact */
	stream_write(
	        EVENT("container", "die", CID_B, "\"exitCode\":\"1\"") "\n");
	stream_write(EVENT("container", "destroy", CID_B, LABELS(ENV_B)) "\n");
	assert_true(wait_int(&F.n_vanished, 1));
	assert_int_equal(vbx_test_flush_events(w->h), VBX_OK);
	pthread_mutex_lock(&F.lock);
	int n = F.n_exited;
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(n, 1);
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
	        cmocka_unit_test_setup_teardown(test_events_follow, world_setup,
	                                        world_teardown),
	        cmocka_unit_test_setup_teardown(test_stop_event_inspected,
	                                        world_setup, world_teardown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
