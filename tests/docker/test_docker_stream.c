/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_docker_stream.c - docker-runtime's stream.c against the real
 * engine: exec sessions with a TTY (shell, input, resize, exit codes, a
 * large output, variables, the login shell from /etc/passwd), an exec
 * without one (stdin half-closed, stdout and stderr apart) and logs (both
 * channels, follow, timestamps, tail, small reads), and the refusals (unknown
 * container, stopped container, writes to logs).
 *
 * Needs the engine and vibebox/test:latest (tests/docker/docker.sh start);
 * exits 77 (skipped) when `docker.sh check` fails. Its containers are
 * named dkstream-test-<pid>-* and removed at the end, also on failure.
 *
 * Links stream.c, frame.c and client.c (not plugin.c: dkr_self is set
 * here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "docker.h"

dkr *dkr_self;

static dkr engine;
static char running_name[64], stopped_name[64], ash_name[64], dev_name[64];
static const char *const shells[] = {"bash", "sh"};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sh(const char *fmt, ...) VBX_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void remove_containers(void)
{
	if (running_name[0])
		sh("docker rm -f %s %s %s %s >/dev/null 2>&1", running_name,
		   stopped_name, ash_name, dev_name);
}

/* ---- reading helpers ---- */

/* Everything a stream said, per channel, until a needle or the end. */
typedef struct got {
	char *out, *err;
	size_t out_len, err_len, cap;
	bool eof;
} got;

static void got_init(got *g, size_t cap)
{
	g->out = calloc(1, cap + 1);
	g->err = calloc(1, cap + 1);
	g->out_len = g->err_len = 0;
	g->cap = cap;
	g->eof = false;
	assert_non_null(g->out);
	assert_non_null(g->err);
}

static void got_free(got *g)
{
	free(g->out);
	free(g->err);
}

/*
 * Poll and read (chunk bytes at a time) until stdout holds needle (NULL:
 * the end of the stream) or timeout_ms pass. Returns whether it came.
 */
static bool read_until(vbx_stream *s, got *g, const char *needle, size_t chunk,
                       int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char buf[65536];

	if (chunk > sizeof(buf))
		chunk = sizeof(buf);
	while (now_ms() < deadline) {
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		ssize_t n;
		int channel = 0;

		poll(&p, 1, 100);
		while ((n = s->ops->read(s, buf, chunk, &channel)) > 0) {
			bool err = channel == VBX_STREAM_STDERR;
			char *dst = err ? g->err : g->out;
			size_t *len = err ? &g->err_len : &g->out_len;

			assert_true(channel == VBX_STREAM_STDOUT ||
			            channel == VBX_STREAM_STDERR);
			if (*len + (size_t)n > g->cap)
				fail_msg("more than %zu bytes", g->cap);
			memcpy(dst + *len, buf, (size_t)n);
			*len += (size_t)n;
			dst[*len] = '\0';
		}
		if (n == 0) {
			g->eof = true;
			return needle == NULL || strstr(g->out, needle);
		}
		assert_int_equal(n, VBX_EAGAIN);
		if (needle && strstr(g->out, needle))
			return true;
	}
	return false;
}

static void write_all(vbx_stream *s, const char *text)
{
	size_t n = strlen(text);
	int64_t deadline = now_ms() + 5000;

	while (n > 0) {
		ssize_t w = s->ops->write(s, text, n);

		if (w == VBX_EAGAIN) {
			assert_true(now_ms() < deadline);
			usleep(1000);
			continue;
		}
		assert_true(w > 0 && (size_t)w <= n);
		text += w;
		n -= (size_t)w;
	}
}

static vbx_stream *exec_shell(unsigned cols, unsigned rows)
{
	vbx_exec_spec spec = {.cols = cols, .rows = rows};
	vbx_stream *s = NULL;

	assert_int_equal(dkr_exec(NULL, running_name, &spec, &s), VBX_OK);
	assert_non_null(s);
	return s;
}

/* ---- exec ---- */

static void test_exec_shell(void **state)
{
	vbx_stream *s = exec_shell(0, 0);
	got g;
	int code = 99;

	got_init(&g, 1 << 16);
	write_all(s, "echo hello-$((1+2))\n");
	/* the echo of the typed line says "hello-$((1+2))": only the shell
	 * computes hello-3 */
	assert_true(read_until(s, &g, "hello-3", 4096, 10000));
	write_all(s, "exit 7\n");
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 7);
	got_free(&g);
}

/* The descriptor alone says when to read: what came with the engine's
 * answer (the prompt, maybe) is not sitting unannounced in a buffer. */
static void test_exec_poll_first(void **state)
{
	vbx_stream *s = exec_shell(80, 24);
	struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
	char buf[256];
	int channel;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_true(s->ops->read(s, buf, sizeof(buf), &channel) > 0);
	assert_int_equal(channel, VBX_STREAM_STDOUT);
	assert_int_equal(s->ops->close(s, NULL), VBX_OK);
}

static void test_exec_resize(void **state)
{
	vbx_stream *s = exec_shell(100, 30);
	got g;
	int code = 99;

	got_init(&g, 1 << 16);
	write_all(s, "stty size; echo size-done\n");
	assert_true(read_until(s, &g, "30 100\r\nsize-done", 4096, 10000));
	assert_int_equal(s->ops->resize(s, 132, 43), VBX_OK);
	write_all(s, "stty size; echo again-done\n");
	assert_true(read_until(s, &g, "43 132\r\nagain-done", 4096, 10000));
	assert_int_equal(s->ops->resize(s, 0, 10), VBX_EINVAL);
	assert_int_equal(s->ops->resize(s, 10, 70000), VBX_EINVAL);
	write_all(s, "exit\n");
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 0);
	got_free(&g);
}

/* 8 MB through the TTY, every byte checked. */
static void test_exec_large_output(void **state)
{
	const char *const argv[] = {
	        "/bin/sh", "-c",
	        "stty -onlcr -echo; yes abcdefgh | head -c 8000000", NULL};
	vbx_exec_spec spec = {.argv = argv};
	vbx_stream *s = NULL;
	size_t total = 8000000;
	int64_t t0 = now_ms();
	got g;
	int code = 99;

	assert_int_equal(dkr_exec(NULL, running_name, &spec, &s), VBX_OK);
	got_init(&g, total + 4096);
	assert_true(read_until(s, &g, NULL, 65536, 60000));
	assert_int_equal(g.err_len, 0);
	assert_int_equal(g.out_len, total);
	for (size_t i = 0; i < total; i++)
		if (g.out[i] != "abcdefgh\n"[i % 9])
			fail_msg("byte %zu is %d", i, g.out[i]);
	print_message("8 MB in %lld ms\n", (long long)(now_ms() - t0));
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 0);
	got_free(&g);
}

static void test_exec_argv_env(void **state)
{
	const char *const argv[] = {"sh", "-c", "echo \"[$FOO]\"; exit 3",
	                            NULL};
	const char *const vars[] = {"FOO=bar 'baz\"", "OTHER=1"};
	vbx_exec_spec spec = {
	        .argv = argv, .variables = vars, .n_variables = 2};
	vbx_stream *s = NULL;
	got g;
	int code = 99;

	assert_int_equal(dkr_exec(NULL, running_name, &spec, &s), VBX_OK);
	got_init(&g, 4096);
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_non_null(strstr(g.out, "[bar 'baz\"]"));
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 3);
	got_free(&g);
}

/* A configured shell list where the first does not exist and the second
 * has a quote in its name's path. */
/* What `echo $0` says in the shell opened in container name. */
static void expect_login_shell(const char *name, const char *want)
{
	vbx_exec_spec spec = {.cols = 80, .rows = 24};
	vbx_stream *s = NULL;
	char line[64];
	got g;
	int code = 99;

	assert_int_equal(dkr_exec(NULL, name, &spec, &s), VBX_OK);
	got_init(&g, 4096);
	write_all(s, "echo \"shell=$0\"; exit 4\n");
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	snprintf(line, sizeof(line), "shell=%s\r\n", want);
	if (!strstr(g.out, line))
		fail_msg("%s: wanted %s in \"%s\"", name, want, g.out);
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 4);
	got_free(&g);
}

/* vibebox/test-cmd gives root /bin/ash in an /etc/passwd that is a
 * symlink; its user dev has /bin/sh. */
static void test_exec_login_shell(void **state)
{
	char shell[DKR_SHELL_MAX] = "x";

	expect_login_shell(ash_name, "/bin/ash");
	dkr_login_shell(&engine, ash_name, shell, sizeof(shell));
	assert_string_equal(shell, "/bin/ash");
	/* the container's own user (docker run --user 1000) */
	dkr_login_shell(&engine, dev_name, shell, sizeof(shell));
	assert_string_equal(shell, "/bin/sh");
	/* the configured user, by name */
	engine.conf.user = "dev";
	dkr_login_shell(&engine, ash_name, shell, sizeof(shell));
	engine.conf.user = "";
	assert_string_equal(shell, "/bin/sh");
	/* no such container: none, and no crash */
	dkr_login_shell(&engine, "dkstream-no-such-container", shell,
	                sizeof(shell));
	assert_string_equal(shell, "");
}

/* A user without a passwd entry gets the first of the configured shells
 * that exists. */
static void test_exec_shell_list(void **state)
{
	const char *const list[] = {"/no/such'shell", "/bin/sh"};
	vbx_stream *s;
	got g;
	int code = 99;

	engine.conf.shell = list;
	engine.conf.n_shell = 2;
	engine.conf.user = "4242";
	s = exec_shell(80, 24);
	engine.conf.shell = shells;
	engine.conf.user = "";
	got_init(&g, 4096);
	write_all(s, "echo \"shell=$0\"; exit 4\n");
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_non_null(strstr(g.out, "shell=/bin/sh"));
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 4);
	got_free(&g);
}

static void test_exec_refused(void **state)
{
	vbx_exec_spec spec = {0};
	const char *const empty[] = {NULL};
	vbx_stream *s = (vbx_stream *)&spec;

	assert_int_equal(dkr_exec(NULL, stopped_name, &spec, &s), VBX_ESTATE);
	assert_null(s);
	assert_int_equal(
	        dkr_exec(NULL, "dkstream-no-such-container", &spec, &s),
	        VBX_ENOTFOUND);
	assert_int_equal(dkr_exec(NULL, "bad\r\nname", &spec, &s), VBX_EINVAL);
	spec.argv = empty;
	assert_int_equal(dkr_exec(NULL, running_name, &spec, &s), VBX_EINVAL);
}

/* ---- exec without a TTY (runtime_exec_pipe) ---- */

/* stdin in, then its half-close; stdout and stderr apart; the exit code. */
static void test_exec_pipe(void **state)
{
	const char *const argv[] = {
	        "sh", "-c", "cat; echo to-stderr >&2; echo done; exit 4", NULL};
	vbx_exec_spec spec = {.argv = argv};
	vbx_stream *s = NULL;
	got g;
	int code = 99;

	assert_int_equal(dkr_exec_pipe(NULL, running_name, &spec, &s), VBX_OK);
	got_init(&g, 1 << 16);
	write_all(s, "line one\nline two\n");
	assert_int_equal(s->ops->write(s, NULL, 0), 0); /* stdin ends */
	assert_int_equal(s->ops->write(s, "late", 4), VBX_EINVAL);
	assert_int_equal(s->ops->resize(s, 80, 24), VBX_EINVAL);
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_string_equal(g.out, "line one\nline two\ndone\n");
	assert_string_equal(g.err, "to-stderr\n");
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, 4);
	got_free(&g);
	/* an argv is required; a stopped container is a state error */
	spec.argv = NULL;
	assert_int_equal(dkr_exec_pipe(NULL, running_name, &spec, &s),
	                 VBX_EINVAL);
	spec.argv = argv;
	assert_int_equal(dkr_exec_pipe(NULL, stopped_name, &spec, &s),
	                 VBX_ESTATE);
}

/* ---- logs ---- */

static vbx_stream *open_logs(int tail, bool follow, bool timestamps)
{
	vbx_logs_opts o = {
	        .tail = tail, .follow = follow, .timestamps = timestamps};
	vbx_stream *s = NULL;

	assert_int_equal(dkr_logs(NULL, running_name, &o, &s), VBX_OK);
	assert_non_null(s);
	return s;
}

static void test_logs_all(void **state)
{
	vbx_stream *s = open_logs(-1, false, false);
	got g;
	char buf[16];
	int code = 99;

	got_init(&g, 4096);
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	assert_string_equal(g.out, "out1\n");
	assert_string_equal(g.err, "err1\n");
	assert_int_equal(s->ops->write(s, "x", 1), VBX_EINVAL);
	assert_int_equal(s->ops->resize(s, 80, 24), VBX_EINVAL);
	assert_int_equal(s->ops->read(s, buf, sizeof(buf), &code), 0);
	assert_int_equal(s->ops->close(s, &code), VBX_OK);
	assert_int_equal(code, -1);
	got_free(&g);
}

/* Two bytes at a time: frames split across reads, channels kept. */
static void test_logs_small_reads(void **state)
{
	vbx_stream *s = open_logs(-1, false, false);
	got g;

	got_init(&g, 4096);
	assert_true(read_until(s, &g, NULL, 2, 10000));
	assert_string_equal(g.out, "out1\n");
	assert_string_equal(g.err, "err1\n");
	assert_int_equal(s->ops->close(s, NULL), VBX_OK);
	got_free(&g);
}

static void test_logs_tail(void **state)
{
	vbx_stream *s = open_logs(1, false, false);
	got g;

	got_init(&g, 4096);
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	/* one line of the two, whichever the engine logged last */
	assert_int_equal(g.out_len + g.err_len, 5);
	assert_int_equal(s->ops->close(s, NULL), VBX_OK);
	got_free(&g);
}

static void test_logs_timestamps(void **state)
{
	vbx_stream *s = open_logs(-1, false, true);
	got g;

	got_init(&g, 4096);
	assert_true(read_until(s, &g, NULL, 4096, 10000));
	/* 2024-01-02T03:04:05.123456789Z out1 */
	assert_true(g.out_len > 26);
	assert_true(g.out[4] == '-' && g.out[7] == '-' && g.out[10] == 'T');
	assert_non_null(strstr(g.out, "Z out1\n"));
	assert_non_null(strstr(g.err, "Z err1\n"));
	assert_int_equal(s->ops->close(s, NULL), VBX_OK);
	got_free(&g);
}

static void test_logs_follow(void **state)
{
	vbx_stream *s = open_logs(0, true, false);
	int64_t t0;
	got g;

	got_init(&g, 4096);
	/* nothing yet, and the stream stays open */
	assert_false(read_until(s, &g, "later", 4096, 500));
	assert_false(g.eof);
	assert_int_equal(sh("docker exec %s sh -c 'echo later > /proc/1/fd/1; "
	                    "echo later-err > /proc/1/fd/2'",
	                    running_name),
	                 0);
	assert_true(read_until(s, &g, "later\n", 4096, 10000));
	t0 = now_ms();
	while (!strstr(g.err, "later-err\n") && now_ms() - t0 < 10000)
		read_until(s, &g, NULL, 4096, 100);
	assert_string_equal(g.out, "later\n");
	assert_string_equal(g.err, "later-err\n");
	assert_false(g.eof);
	t0 = now_ms();
	assert_int_equal(s->ops->close(s, NULL), VBX_OK);
	assert_true(now_ms() - t0 < 1000);
	got_free(&g);
}

static void test_logs_not_found(void **state)
{
	vbx_logs_opts o = {.tail = -1};
	vbx_stream *s = (vbx_stream *)&o;

	assert_int_equal(dkr_logs(NULL, "dkstream-no-such-container", &o, &s),
	                 VBX_ENOTFOUND);
	assert_null(s);
	assert_int_equal(dkr_logs(NULL, "../x", &o, &s), VBX_EINVAL);
}

/* ---- setup ---- */

static int setup(void **state)
{
	int64_t t0 = now_ms();
	char cmd[256];

	snprintf(running_name, sizeof(running_name), "dkstream-test-%d-run",
	         (int)getpid());
	snprintf(stopped_name, sizeof(stopped_name), "dkstream-test-%d-stop",
	         (int)getpid());
	snprintf(ash_name, sizeof(ash_name), "dkstream-test-%d-ash",
	         (int)getpid());
	snprintf(dev_name, sizeof(dev_name), "dkstream-test-%d-dev",
	         (int)getpid());
	atexit(remove_containers);
	if (sh("docker run -d --name %s vibebox/test:latest sh -c "
	       "'echo out1; sleep 0.2; echo err1 >&2; exec sleep 1000' "
	       ">/dev/null",
	       running_name) != 0 ||
	    sh("docker create --name %s vibebox/test:latest >/dev/null",
	       stopped_name) != 0 ||
	    sh("docker run -d --name %s vibebox/test-cmd:latest sleep 1000 "
	       ">/dev/null",
	       ash_name) != 0 ||
	    sh("docker run -d --user 1000 --name %s vibebox/test-cmd:latest "
	       "sleep 1000 >/dev/null",
	       dev_name) != 0)
		return -1;
	/* both lines logged before the tests read them */
	snprintf(cmd, sizeof(cmd), "docker logs %s 2>&1 | grep -q err1",
	         running_name);
	while (system(cmd) != 0)
		if (now_ms() - t0 > 10000)
			return -1;
	engine.conf.endpoint = "unix:///var/run/docker.sock";
	engine.conf.request_ms = 30000;
	engine.conf.shell = shells;
	engine.conf.n_shell = 2;
	engine.conf.user = "";
	if (dkr_client_init(&engine) != VBX_OK)
		return -1;
	dkr_self = &engine;
	return 0;
}

static int teardown(void **state)
{
	remove_containers();
	dkr_client_fini(&engine);
	return 0;
}

int main(void)
{
	const char *src = getenv("VBX_SRCDIR");
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exec_shell),
	        cmocka_unit_test(test_exec_poll_first),
	        cmocka_unit_test(test_exec_resize),
	        cmocka_unit_test(test_exec_large_output),
	        cmocka_unit_test(test_exec_argv_env),
	        cmocka_unit_test(test_exec_login_shell),
	        cmocka_unit_test(test_exec_shell_list),
	        cmocka_unit_test(test_exec_refused),
	        cmocka_unit_test(test_exec_pipe),
	        cmocka_unit_test(test_logs_all),
	        cmocka_unit_test(test_logs_small_reads),
	        cmocka_unit_test(test_logs_tail),
	        cmocka_unit_test(test_logs_timestamps),
	        cmocka_unit_test(test_logs_follow),
	        cmocka_unit_test(test_logs_not_found),
	};
	int rc;

	if (sh("sh %s/tests/docker/docker.sh check", src ? src : ".") != 0) {
		fprintf(stderr, "test_docker_stream: no Docker engine or no "
		                "vibebox/test:latest image "
		                "(tests/docker/docker.sh start); skipped\n");
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return rc;
}
