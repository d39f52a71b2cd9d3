/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shell.c - `vibebox shell ENV`: a terminal in a running environment over
 * /api/v1/environments/{id}/terminal (termproto.h).
 *
 * Two threads. The input thread waits on stdin and on a self-pipe that
 * the SIGWINCH handler writes to, queues what it reads and wakes the
 * WebSocket thread, which does everything else: it sends input, resize
 * and ack frames, writes output to stdout (skipping bytes it has written
 * already, so a resumed stream never repeats itself), and when the
 * connection drops without an exit frame it reconnects to the same
 * session at the offset it has reached, with backoff, for up to 30 s.
 */
#include "vbx_build.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <vibebox/util.h>

#include "cli.h"
#include "termproto.h"
#include "tty.h"
#include "ws.h"

#define INPUT_QUEUE (64u << 10)
#define INPUT_FRAME (32u << 10)
#define RESUME_SECONDS 30
#define EXIT_LINGER_US INT64_C(2000000)
#define TERM_SIZE_MAX 1000u
#define INPUT_GATE_US INT64_C(1000000)

typedef struct shell {
	cli_ctx *c;
	cli_ws *ws;
	char env_id[64];
	bool raw; /* the local terminal is in raw mode */
	/* the session */
	char session[TERM_SESSION_MAX];
	uint64_t seen;  /* output bytes written to stdout (a stream offset) */
	uint64_t acked; /* the last ack sent */
	bool connected;
	bool input_ok; /* the process has printed something (see on_hello) */
	bool exited;
	int exit_code;
	int rc; /* the exit code when the session fails */
	/* reconnecting */
	int64_t lost_at_ms; /* 0 while connected */
	int attempts;
	bool refresh_first; /* the last upgrade got a 401 */
	/* shared with the input thread and the signal handler */
	pthread_mutex_t mu;
	uint8_t queue[INPUT_QUEUE];
	size_t queued;
	atomic_bool resize;
	atomic_bool queue_full;
	pthread_t thread;
} shell;

static int self_pipe[2] = {-1, -1};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A message on stderr; raw mode needs "\r\n" to start a new line. */
static void note(const shell *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(const shell *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%svibebox: %s%s", s->raw ? "\r\n" : "", msg,
	        s->raw ? "\r\n" : "\n");
}

static void window_size(unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	*cols = 80;
	*rows = 24;
	if ((ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ||
	     ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) &&
	    ws.ws_col && ws.ws_row) {
		/* the server takes 1..1000 and closes on anything else */
		*cols = ws.ws_col > TERM_SIZE_MAX ? TERM_SIZE_MAX : ws.ws_col;
		*rows = ws.ws_row > TERM_SIZE_MAX ? TERM_SIZE_MAX : ws.ws_row;
	}
}

/* ---- the input thread ---- */

static void on_sigwinch(int sig)
{
	int saved = errno;
	if (write(self_pipe[1], "W", 1) < 0) {
		/* the pipe is full: a resize is pending already */
	}
	errno = saved;
}

/* Read what stdin has into the queue; false at its end. */
static bool read_input(shell *s)
{
	pthread_mutex_lock(&s->mu);
	ssize_t n = read(STDIN_FILENO, s->queue + s->queued,
	                 sizeof(s->queue) - s->queued);
	if (n > 0)
		s->queued += (size_t)n;
	atomic_store(&s->queue_full, s->queued == sizeof(s->queue));
	pthread_mutex_unlock(&s->mu);
	if (n > 0)
		cli_ws_wake(s->ws);
	return n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN));
}

/* Returns false when asked to quit. */
static bool read_pipe(shell *s)
{
	char buf[64];
	ssize_t n = read(self_pipe[0], buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == 'Q')
			return false;
		if (buf[i] == 'W') {
			atomic_store(&s->resize, true);
			cli_ws_wake(s->ws);
		}
	}
	return true;
}

static void *input_thread(void *ud)
{
	shell *s = ud;
	bool eof = false;
	for (;;) {
		/* a full queue waits for the WebSocket thread's 'D' */
		bool take = !eof && !atomic_load(&s->queue_full);
		struct pollfd p[2] = {{self_pipe[0], POLLIN, 0},
		                      {STDIN_FILENO, POLLIN, 0}};
		if (poll(p, take ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if ((p[0].revents & POLLIN) && !read_pipe(s))
			break;
		if (take && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			eof = !read_input(s);
	}
	return NULL;
}

static void poke_input_thread(char what)
{
	if (write(self_pipe[1], &what, 1) < 0) {
		/* full: the thread has wake-ups to read already */
	}
}

/* ---- output ---- */

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

static void fail(shell *s, int rc)
{
	s->rc = rc;
	cli_ws_stop(s->ws);
}

static void on_output(shell *s, const term_frame *f)
{
	uint64_t gap;
	size_t skip = term_output_skip(s->seen, f->offset, f->len, &gap);
	if (gap) {
		note(s, "%llu bytes of output were lost",
		     (unsigned long long)gap);
		s->seen = f->offset;
	}
	if (f->len && !s->input_ok) {
		s->input_ok = true;
		cli_ws_want_write(s->ws);
	}
	if (skip == f->len)
		return;
	if (write_all(STDOUT_FILENO, f->data + skip, f->len - skip) < 0) {
		note(s, "cannot write to standard output: %s", strerror(errno));
		fail(s, CLI_ESERVER);
		return;
	}
	s->seen += f->len - skip;
	cli_ws_want_write(s->ws); /* the ack */
}

static void open_input(void *ud)
{
	shell *s = ud;
	s->input_ok = true;
	cli_ws_want_write(s->ws);
}

/*
 * Input waits for the process's first output (its prompt), or a second:
 * bytes sent the instant a new session starts can be lost on the way to
 * its TTY (seen with Docker), and piped input would vanish with them.
 */
static void on_hello(shell *s, const term_frame *f)
{
	if (!s->input_ok)
		cli_ws_timer(s->ws, INPUT_GATE_US, open_input);
	if (s->session[0] && strcmp(s->session, f->session) != 0) {
		note(s, "the session was gone; this is a new one");
		s->seen = s->acked = 0;
	}
	snprintf(s->session, sizeof(s->session), "%s", f->session);
	if (f->offset > s->seen || (f->has_gap && f->gap)) {
		uint64_t lost =
		        f->has_gap && f->gap ? f->gap : f->offset - s->seen;
		note(s, "%llu bytes of output were lost while disconnected",
		     (unsigned long long)lost);
	} else if (f->has_gap) {
		note(s, "some output was lost while disconnected");
	}
	if (f->offset > s->seen)
		s->seen = f->offset;
	if (s->lost_at_ms && s->c->verbose)
		note(s, "reconnected");
	s->lost_at_ms = 0;
	s->attempts = 0;
	s->refresh_first = false;
}

static void linger_done(void *ud)
{
	cli_ws_stop(((shell *)ud)->ws);
}

static void on_exit_frame(shell *s, const term_frame *f)
{
	s->exited = true;
	s->exit_code = f->code;
	if (f->code < 0)
		note(s, "the session ended%s%s; its exit status is unknown",
		     f->reason[0] ? ": " : "", f->reason);
	else if (f->code != 0 || s->c->verbose)
		note(s, "exited with code %d%s%s", f->code,
		     f->reason[0] ? ": " : "", f->reason);
	/* the server closes next; do not wait for it forever */
	cli_ws_timer(s->ws, EXIT_LINGER_US, linger_done);
}

static void on_message(void *ud, const uint8_t *msg, size_t len, bool binary)
{
	shell *s = ud;
	term_frame f;
	if (!binary || term_decode(msg, len, &f) < 0) {
		if (s->c->verbose)
			note(s, "ignored a broken frame from the server");
		return;
	}
	if (f.type == TERM_OUTPUT)
		on_output(s, &f);
	else if (f.type == TERM_HELLO)
		on_hello(s, &f);
	else if (f.type == TERM_EXIT)
		on_exit_frame(s, &f);
}

/* ---- sending ---- */

/* One frame of queued input; false when there was none. */
static bool send_input(shell *s)
{
	static uint8_t frame[1 + INPUT_FRAME];
	pthread_mutex_lock(&s->mu);
	size_t n = s->queued < INPUT_FRAME ? s->queued : INPUT_FRAME;
	if (n) {
		term_encode_input(frame, s->queue, n);
		memmove(s->queue, s->queue + n, s->queued - n);
		s->queued -= n;
	}
	bool was_full = atomic_exchange(&s->queue_full, false);
	pthread_mutex_unlock(&s->mu);
	if (was_full)
		poke_input_thread('D');
	if (n && s->c->verbose)
		note(s, "sending %zu bytes of input", n);
	if (n && cli_ws_send(s->ws, frame, 1 + n, true) < 0)
		return false;
	return n > 0;
}

static bool input_waiting(shell *s)
{
	pthread_mutex_lock(&s->mu);
	bool any = s->queued > 0;
	pthread_mutex_unlock(&s->mu);
	return any;
}

static void on_writeable(void *ud)
{
	shell *s = ud;
	uint8_t f[9];
	if (atomic_exchange(&s->resize, false)) {
		unsigned cols, rows;
		window_size(&cols, &rows);
		cli_ws_send(s->ws, f, term_encode_resize(f, cols, rows), true);
	} else if (s->seen > s->acked) {
		cli_ws_send(s->ws, f, term_encode_ack(f, s->seen), true);
		s->acked = s->seen;
	} else if (!s->input_ok || !send_input(s)) {
		return;
	}
	if (atomic_load(&s->resize) || s->seen > s->acked ||
	    (s->input_ok && input_waiting(s)))
		cli_ws_want_write(s->ws);
}

static void on_wake(void *ud)
{
	shell *s = ud;
	if (s->connected &&
	    (atomic_load(&s->resize) || (s->input_ok && input_waiting(s))))
		cli_ws_want_write(s->ws);
}

/* ---- connecting and resuming ---- */

static void connect_now(void *ud);

static void on_open(void *ud)
{
	shell *s = ud;
	s->connected = true;
	s->acked = 0; /* a new socket: tell the server where we are */
	/* a new session got its size from ?cols=&rows=; a resumed one
	 * may have missed a change while we were away */
	if (s->session[0])
		atomic_store(&s->resize, true);
	cli_ws_want_write(s->ws);
}

/* The connection is gone: resume, or give up after RESUME_SECONDS. */
static void lost(shell *s, const char *why)
{
	s->connected = false;
	if (s->exited) {
		cli_ws_stop(s->ws);
		return;
	}
	if (!s->session[0]) { /* never had a session to resume */
		note(s, "cannot open a terminal: %s", why);
		fail(s, CLI_ESERVER);
		return;
	}
	if (!s->lost_at_ms) {
		s->lost_at_ms = now_ms();
		note(s, "connection lost (%s); reconnecting", why);
	}
	if (now_ms() - s->lost_at_ms > (int64_t)RESUME_SECONDS * 1000) {
		note(s, "could not reconnect within %d s; giving up",
		     RESUME_SECONDS);
		fail(s, CLI_ESERVER);
		return;
	}
	int64_t delay_ms = 100 << (s->attempts < 5 ? s->attempts : 5);
	s->attempts++;
	cli_ws_timer(s->ws, delay_ms * 1000, connect_now);
}

static void on_failed(void *ud, int status, const char *why)
{
	shell *s = ud;
	char msg[300];
	if (status == 401 && !s->refresh_first) {
		s->refresh_first = true; /* the token expired: refresh once */
		if (s->session[0])
			lost(s, "unauthorized");
		else
			connect_now(s);
		return;
	}
	if (status == 401 || status == 403 || status == 404 || status == 409) {
		note(s, "the server refused the terminal: HTTP %d", status);
		fail(s, cli_exit_for_status(status));
		return;
	}
	snprintf(msg, sizeof(msg), "%s", status ? "" : why);
	if (status)
		snprintf(msg, sizeof(msg), "HTTP %d", status);
	lost(s, msg[0] ? msg : "connection failed");
}

/* vibeboxd refuses with 4000 + an HTTP status after the upgrade. */
static void on_closed(void *ud, int code, const char *reason)
{
	shell *s = ud;
	char why[200];
	s->connected = false;
	if (code == 4401 && !s->refresh_first && !s->exited) {
		on_failed(s, 401, reason);
		return;
	}
	/* a protocol error would only repeat on a resume */
	bool refused = (code >= 4000 && code < 5000) || code == 1002 ||
	               code == 1003 || code == 1007 || code == 1008;
	if (refused && !s->exited) {
		note(s, "the server closed the terminal: %s (%d)",
		     reason[0] ? reason : "refused", code);
		fail(s, code >= 4000 ? cli_exit_for_status(code - 4000)
		                     : CLI_ESERVER);
		return;
	}
	snprintf(why, sizeof(why), "closed with code %d%s%s", code,
	         reason[0] ? ": " : "", reason);
	lost(s, why);
}

static void connect_now(void *ud)
{
	shell *s = ud;
	char path[512];
	unsigned cols, rows;
	if (s->refresh_first) { /* any API call refreshes an expired token */
		char p[128];
		snprintf(p, sizeof(p), "/environments/%s", s->env_id);
		int rc = cli_api(s->c, "GET", p, NULL, NULL,
		                 "checking the environment");
		if (rc != CLI_OK && rc != CLI_ESERVER) {
			fail(s, rc);
			return;
		}
	}
	window_size(&cols, &rows);
	int n = snprintf(path, sizeof(path),
	                 "/api/v1/environments/%s/terminal?cols=%u&rows=%u",
	                 s->env_id, cols, rows);
	if (s->session[0]) {
		char enc[3 * TERM_SESSION_MAX + 1];
		vbx_percent_encode(s->session, strlen(s->session), enc,
		                   sizeof(enc));
		snprintf(path + n, sizeof(path) - (size_t)n,
		         "&session=%s&offset=%llu", enc,
		         (unsigned long long)s->seen);
	}
	if (cli_ws_connect(s->ws, s->c->server, path, s->c->token) < 0)
		fail(s, CLI_EUSAGE);
}

static const cli_ws_ops shell_ops = {
        .open = on_open,
        .message = on_message,
        .writeable = on_writeable,
        .failed = on_failed,
        .closed = on_closed,
        .wake = on_wake,
};

/* ---- the command ---- */

int cli_env_running(cli_ctx *c, const char *id, const char *name)
{
	char path[128];
	cJSON *env = NULL;
	snprintf(path, sizeof(path), "/environments/%s", id);
	int rc = cli_api(c, "GET", path, NULL, &env, "reading the environment");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(env, "status");
	if (rc == CLI_OK && cJSON_IsString(st) &&
	    strcmp(st->valuestring, "running") != 0) {
		cli_err("environment %s is %s; start it with `vibebox env "
		        "start %s`",
		        name, st->valuestring, name);
		rc = CLI_ECONFLICT;
	}
	cJSON_Delete(env);
	return rc;
}

static int start_input(shell *s)
{
	if (pipe2(self_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigwinch;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return pthread_create(&s->thread, NULL, input_thread, s) ? -1 : 0;
}

static void stop_input(shell *s)
{
	signal(SIGWINCH, SIG_DFL);
	poke_input_thread('Q');
	pthread_join(s->thread, NULL);
	close(self_pipe[0]);
	close(self_pipe[1]);
	self_pipe[0] = self_pipe[1] = -1;
}

static int run_session(shell *s)
{
	s->ws = cli_ws_new(&shell_ops, s, "vibebox.terminal.v1", s->c->verbose);
	if (!s->ws)
		return CLI_ESERVER;
	if (start_input(s) < 0) {
		cli_err("cannot start reading standard input: %s",
		        strerror(errno));
		cli_ws_free(s->ws);
		return CLI_ESERVER;
	}
	if (isatty(STDIN_FILENO) && cli_tty_raw(STDIN_FILENO) == 0)
		s->raw = true;
	connect_now(s);
	cli_ws_run(s->ws);
	cli_tty_restore();
	s->raw = false;
	stop_input(s);
	cli_ws_free(s->ws);
	if (!s->exited)
		return s->rc ? s->rc : CLI_ESERVER;
	return s->exit_code >= 0 ? s->exit_code : CLI_ESERVER;
}

static const char shell_usage[] =
        "usage: vibebox shell ENV [--project P]\n"
        "Exits with the remote process's exit code.\n";

int cli_cmd_shell(cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"project", required_argument, NULL, 'p'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *project = NULL;
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		if (o == 'p') {
			project = optarg;
		} else {
			fputs(shell_usage, o == 'h' ? stdout : stderr);
			return o == 'h' ? CLI_OK : CLI_EUSAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(shell_usage, stderr);
		return CLI_EUSAGE;
	}
	shell *s = calloc(1, sizeof(*s));
	if (!s)
		return CLI_ESERVER;
	s->c = c;
	pthread_mutex_init(&s->mu, NULL);
	int rc = cli_resolve_env(c, argv[optind], project, s->env_id,
	                         sizeof(s->env_id));
	if (rc == CLI_OK)
		rc = cli_env_running(c, s->env_id, argv[optind]);
	if (rc == CLI_OK)
		rc = run_session(s);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}
