/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec.c - `vibebox exec ENV [--] CMD [ARGS...]`: one command in a running
 * environment without a TTY, over /api/v1/environments/{id}/exec
 * (execproto.h). stdin is streamed in and closed when it ends, stdout and
 * stderr come out apart, and the remote exit code is ours; 255 means that
 * vibebox itself failed (the message says how), as ssh does.
 *
 * Two threads, like `vibebox shell`: the input thread reads stdin into a
 * bounded queue and wakes the WebSocket thread, which does the rest. The
 * queue full stops reading stdin; output is written to stdout or stderr
 * before it is acknowledged, so a slow local reader slows the remote
 * command through the server's window instead of filling memory.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "execproto.h"
#include "termproto.h"
#include "ws.h"

#define EXEC_FAILED 255
#define INPUT_QUEUE (64u << 10)
#define INPUT_FRAME (32u << 10)
#define EXIT_LINGER_US INT64_C(2000000)

typedef struct execc {
	cli_ctx *c;
	cli_ws *ws;
	char env_id[64];
	char *const *argv;
	int argc;
	bool start_sent, close_sent, exited;
	int exit_code;
	uint64_t consumed, acked; /* output bytes written out; acked of them */
	uint64_t window;          /* from hello; 0 until it came */
	uint64_t in_sent, in_acked; /* stdin bytes sent; taken (stdin-ack) */
	/* shared with the input thread */
	pthread_mutex_t mu;
	uint8_t queue[INPUT_QUEUE];
	size_t queued;
	atomic_bool queue_full, in_eof;
	int pipe[2]; /* wakes the input thread: 'D' room again, 'Q' quit */
	pthread_t thread;
} execc;

/* ---- stdin (the input thread) ---- */

/* Read what stdin has into the queue; false at its end or on an error. */
static bool read_stdin(execc *x)
{
	pthread_mutex_lock(&x->mu);
	ssize_t n = read(STDIN_FILENO, x->queue + x->queued,
	                 sizeof(x->queue) - x->queued);
	int err = errno;
	if (n > 0)
		x->queued += (size_t)n;
	atomic_store(&x->queue_full, x->queued == sizeof(x->queue));
	pthread_mutex_unlock(&x->mu);
	bool more = n > 0 || (n < 0 && (err == EINTR || err == EAGAIN));
	if (!more) {
		if (n < 0)
			cli_err("reading standard input: %s; closing the "
			        "command's stdin",
			        strerror(err));
		atomic_store(&x->in_eof, true);
	}
	cli_ws_wake(x->ws);
	return more;
}

static void *input_thread(void *ud)
{
	execc *x = ud;
	bool eof = false;
	for (;;) {
		bool take = !eof && !atomic_load(&x->queue_full);
		struct pollfd p[2] = {{x->pipe[0], POLLIN, 0},
		                      {STDIN_FILENO, POLLIN, 0}};
		if (poll(p, take ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			char buf[64];
			ssize_t n = read(x->pipe[0], buf, sizeof(buf));
			if (n > 0 && memchr(buf, 'Q', (size_t)n))
				break;
		}
		if (take && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			eof = !read_stdin(x);
	}
	return NULL;
}

static void poke_input(execc *x, char what)
{
	if (write(x->pipe[1], &what, 1) < 0) {
		/* full: the thread has wake-ups to read already */
	}
}

/* ---- the WebSocket thread ---- */

static void fail(execc *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void fail(execc *x, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_err("%s", msg);
	cli_ws_stop(x->ws);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void on_output(execc *x, const exec_frame *f)
{
	if (f->offset != x->consumed) {
		fail(x, "the server sent output out of order");
		return;
	}
	int fd = f->type == EXEC_STDERR ? STDERR_FILENO : STDOUT_FILENO;
	if (write_all(fd, f->data, f->len) < 0) {
		fail(x, "cannot write the command's %s: %s",
		     fd == STDERR_FILENO ? "stderr" : "stdout",
		     strerror(errno));
		return;
	}
	x->consumed += f->len;
	cli_ws_want_write(x->ws); /* the ack */
}

static void linger_done(void *ud)
{
	cli_ws_stop(((execc *)ud)->ws);
}

static void on_message(void *ud, const uint8_t *msg, size_t len, bool binary)
{
	execc *x = ud;
	exec_frame f;
	if (!binary || exec_decode(msg, len, &f) < 0) {
		fail(x, "the server sent a broken exec frame");
		return;
	}
	switch (f.type) {
	case EXEC_STDOUT:
	case EXEC_STDERR:
		on_output(x, &f);
		break;
	case EXEC_EXIT:
		x->exited = true;
		x->exit_code = f.code;
		if (f.code < 0)
			cli_err("the command ended; its exit status is "
			        "unknown%s%s",
			        f.text[0] ? ": " : "", f.text);
		/* the server closes next; do not wait for it forever */
		cli_ws_timer(x->ws, EXIT_LINGER_US, linger_done);
		break;
	case EXEC_ERROR:
		cli_err("the server could not run the command: %s", f.text);
		break;
	case EXEC_HELLO:
		x->window = f.window;
		cli_ws_want_write(x->ws);
		break;
	default: /* stdin-ack */
		if (f.offset < x->in_acked || f.offset > x->in_sent) {
			fail(x,
			     "the server acknowledged stdin it was not sent");
			return;
		}
		x->in_acked = f.offset;
		cli_ws_want_write(x->ws);
		break;
	}
}

/* One frame of queued stdin, or its close once it ended and drained;
 * false when there was nothing to send. */
static bool send_input(execc *x)
{
	static uint8_t frame[1 + INPUT_FRAME];
	/* stdin's window: at most `window` bytes past the last stdin-ack */
	uint64_t credit = x->window - (x->in_sent - x->in_acked);
	pthread_mutex_lock(&x->mu);
	size_t n = x->queued < INPUT_FRAME ? x->queued : INPUT_FRAME;
	if (n > credit)
		n = (size_t)credit;
	if (n) {
		frame[0] = EXEC_STDIN;
		memcpy(frame + 1, x->queue, n);
		memmove(x->queue, x->queue + n, x->queued - n);
		x->queued -= n;
	}
	bool was_full = atomic_exchange(&x->queue_full, false);
	bool eof = !x->queued && atomic_load(&x->in_eof);
	pthread_mutex_unlock(&x->mu);
	if (was_full && n)
		poke_input(x, 'D');
	else if (was_full)
		atomic_store(&x->queue_full, true);
	if (n) {
		cli_ws_send(x->ws, frame, 1 + n, true);
		x->in_sent += n;
		return true;
	}
	if (eof && !x->close_sent) {
		uint8_t c = EXEC_STDIN_CLOSE;
		x->close_sent = true;
		cli_ws_send(x->ws, &c, 1, true);
		return true;
	}
	return false;
}

static bool input_waiting(execc *x)
{
	if (!x->window || x->in_sent - x->in_acked >= x->window)
		return false; /* no hello yet, or no credit: a stdin-ack wakes
		               */
	pthread_mutex_lock(&x->mu);
	bool any = x->queued > 0 || (!x->close_sent && atomic_load(&x->in_eof));
	pthread_mutex_unlock(&x->mu);
	return any;
}

static void on_writeable(void *ud)
{
	execc *x = ud;
	if (!x->start_sent) {
		size_t len = 0;
		uint8_t *m = exec_encode_start(x->argv, x->argc, &len);
		if (!m) {
			fail(x, "out of memory");
			return;
		}
		cli_ws_send(x->ws, m, len, true);
		free(m);
		x->start_sent = true;
	} else if (x->consumed > x->acked) {
		uint8_t f[9];
		cli_ws_send(x->ws, f, term_encode_ack(f, x->consumed), true);
		x->acked = x->consumed;
	} else if (!send_input(x)) {
		return;
	}
	if (x->consumed > x->acked || input_waiting(x))
		cli_ws_want_write(x->ws);
}

static void on_wake(void *ud)
{
	execc *x = ud;
	if (x->start_sent && input_waiting(x))
		cli_ws_want_write(x->ws);
}

static void on_open(void *ud)
{
	cli_ws_want_write(((execc *)ud)->ws);
}

static void on_failed(void *ud, int status, const char *why)
{
	execc *x = ud;
	char st[32];
	snprintf(st, sizeof(st), "HTTP %d", status);
	fail(x, "cannot open the exec connection: %s%s",
	     status ? st : (why && why[0] ? why : "connection failed"),
	     status == 401 ? "; log in again with `vibebox login`" : "");
}

static void on_closed(void *ud, int code, const char *reason)
{
	execc *x = ud;
	char what[300];
	if (x->exited) {
		cli_ws_stop(x->ws);
		return;
	}
	snprintf(what, sizeof(what), "%s (%d)",
	         reason && reason[0] ? reason : "no reason given", code);
	fail(x, "the server ended the command before it exited: %s%s", what,
	     code == 4401 ? "; log in again with `vibebox login`" : "");
}

static const cli_ws_ops exec_ops = {
        .open = on_open,
        .message = on_message,
        .writeable = on_writeable,
        .failed = on_failed,
        .closed = on_closed,
        .wake = on_wake,
};

/* ---- the command ---- */

static int run(execc *x)
{
	char path[160];
	x->ws = cli_ws_new(&exec_ops, x, "vibebox.exec.v1", x->c->verbose);
	if (!x->ws)
		return EXEC_FAILED;
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(x->pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pthread_create(&x->thread, NULL, input_thread, x) != 0) {
		cli_err("cannot start reading standard input: %s",
		        strerror(errno));
		cli_ws_free(x->ws);
		return EXEC_FAILED;
	}
	snprintf(path, sizeof(path), "/api/v1/environments/%s/exec", x->env_id);
	if (cli_ws_connect(x->ws, x->c->server, path, x->c->token) == 0)
		cli_ws_run(x->ws);
	poke_input(x, 'Q');
	pthread_join(x->thread, NULL);
	close(x->pipe[0]);
	close(x->pipe[1]);
	cli_ws_free(x->ws);
	if (!x->exited || x->exit_code < 0)
		return EXEC_FAILED;
	return x->exit_code > 255 ? EXEC_FAILED : x->exit_code;
}

static const char exec_usage[] =
        "usage: vibebox exec [--project P] ENV [--] CMD [ARGS...]\n"
        "Runs CMD in ENV without a TTY: stdin is sent until it ends, "
        "stdout and\nstderr come back apart. Exits with CMD's exit code, "
        "or 255 when vibebox\nfailed (the message says why).\n";

int cli_cmd_exec(cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"project", required_argument, NULL, 'p'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *project = NULL;
	int o;
	optind = 0;
	/* "+": options end at ENV, so CMD's own options stay CMD's */
	while ((o = getopt_long(argc, argv, "+p:h", opts, NULL)) != -1) {
		if (o == 'p') {
			project = optarg;
		} else {
			fputs(exec_usage, o == 'h' ? stdout : stderr);
			return o == 'h' ? CLI_OK : EXEC_FAILED;
		}
	}
	int cmd = optind + 1;
	if (cmd < argc && strcmp(argv[cmd], "--") == 0)
		cmd++;
	if (cmd >= argc || !argv[cmd][0]) {
		fputs(exec_usage, stderr);
		return EXEC_FAILED;
	}
	execc *x = calloc(1, sizeof(*x));
	if (!x)
		return EXEC_FAILED;
	x->c = c;
	x->argv = argv + cmd;
	x->argc = argc - cmd;
	pthread_mutex_init(&x->mu, NULL);
	int rc = cli_resolve_env(c, argv[optind], project, x->env_id,
	                         sizeof(x->env_id));
	if (rc == CLI_OK)
		rc = cli_env_running(c, x->env_id, argv[optind]);
	rc = rc == CLI_OK ? run(x) : EXEC_FAILED;
	pthread_mutex_destroy(&x->mu);
	free(x);
	return rc;
}
