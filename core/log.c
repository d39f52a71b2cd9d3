/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - one line per message on stderr: JSON for machines (the default)
 * or text for people. Each line is written with a single write(2), so
 * lines from threads never interleave.
 */
#include "vbx_build.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define LINE_MAX_BYTES 8192

static atomic_int log_level = VBX_LOG_INFO;
static atomic_bool log_json = true;
static _Thread_local const char *thread_request;
static _Thread_local const char *thread_trace;

/* A thread that handles many requests per wake-up (the service thread)
 * collects its lines here and writes them once per wake-up. */
typedef struct batch {
	char buf[32768];
	size_t len;
} batch;
static _Thread_local batch *thread_batch;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int vbx__log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void vbx__log_configure(int level, bool json)
{
	atomic_store(&log_level, level);
	atomic_store(&log_json, json);
}

bool vbx__log_enabled(int level)
{
	return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void vbx__log_set_request(const char *id)
{
	thread_request = id;
}

void vbx__log_set_trace(const char *trace_id)
{
	thread_trace = trace_id;
}

/* A growing line in a fixed buffer; output past the end is cut. */
typedef struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Append s as the inside of a JSON string: runs of characters that need
 * no escape are copied whole (most lines have none to escape). */
static void put_escaped(line *l, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(l, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c == '\n') {
			put(l, "\\n", 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc, 6);
		}
	}
	put(l, run, (size_t)(s - run));
}

/* Append s for the text format: control characters (a newline a client
 * put in a path, say) become \xNN, so one call is always one line. */
static void put_text(line *l, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f) {
			char esc[5];
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			put(l, esc, 4);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
}

/* RFC 3339 UTC with milliseconds; the part up to the second is
 * formatted once per second per thread. */
static void put_time(line *l)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[32];
	static _Thread_local size_t cached_len;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached),
		                      "%Y-%m-%dT%H:%M:%S.", &tm);
		cached_sec = ts.tv_sec;
	}
	put(l, cached, cached_len);
	long ms = ts.tv_nsec / 1000000;
	char frac[4] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
	                (char)('0' + ms % 10), 'Z'};
	put(l, frac, 4);
}

static void begin(line *l, const char *who, int level)
{
	const char *req = thread_request, *trace = thread_trace;
	l->len = 0;
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		puts_(l, "{\"time\":\"");
		put_time(l);
		puts_(l, "\",\"level\":\"");
		puts_(l, level_names[level]);
		puts_(l, "\",\"plugin\":\"");
		put_escaped(l, who);
		if (req) {
			puts_(l, "\",\"request\":\"");
			put_escaped(l, req);
		}
		if (trace) {
			puts_(l, "\",\"trace_id\":\"");
			put_escaped(l, trace);
		}
		puts_(l, "\",");
	} else {
		put_time(l);
		puts_(l, " ");
		puts_(l, level_names[level]);
		puts_(l, " ");
		put_text(l, who);
		if (req) {
			puts_(l, " [");
			put_text(l, req);
			puts_(l, "]");
		}
		puts_(l, " ");
	}
}

static void write_all(const char *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(STDERR_FILENO, buf + off, len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

static void finish(line *l)
{
	batch *b = thread_batch;
	l->buf[l->len++] = '\n';
	if (!b) {
		write_all(l->buf, l->len);
		return;
	}
	if (b->len + l->len > sizeof(b->buf))
		vbx__log_flush();
	memcpy(b->buf + b->len, l->buf, l->len);
	b->len += l->len;
}

void vbx__log_batch(bool on)
{
	if (on && !thread_batch) {
		thread_batch = calloc(1, sizeof(*thread_batch));
	} else if (!on && thread_batch) {
		vbx__log_flush();
		free(thread_batch);
		thread_batch = NULL;
	}
}

void vbx__log_flush(void)
{
	batch *b = thread_batch;
	if (b && b->len) {
		write_all(b->buf, b->len);
		b->len = 0;
	}
}

/* Append an unsigned decimal; snprintf costs more than the rest of an
 * access line. */
static void put_uint(line *l, unsigned long long v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(l, tmp + sizeof(tmp) - n, n);
}

/* Append milliseconds with three decimals. */
static void put_ms(line *l, double ms)
{
	unsigned long long us = ms > 0 ? (unsigned long long)(ms * 1000.0) : 0;
	put_uint(l, us / 1000);
	char frac[4] = {'.', (char)('0' + us / 100 % 10),
	                (char)('0' + us / 10 % 10), (char)('0' + us % 10)};
	put(l, frac, 4);
}

void vbx__vlog(const char *who, int level, const char *fmt, va_list ap)
{
	if (level < 0 || level > VBX_LOG_DEBUG || !vbx__log_enabled(level))
		return;
	char msg[LINE_MAX_BYTES / 2];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	line l;
	begin(&l, who, level);
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		puts_(&l, "\"msg\":\"");
		put_escaped(&l, msg);
		puts_(&l, "\"}");
	} else {
		put_text(&l, msg);
	}
	finish(&l);
}

void vbx__log(const char *who, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vbx__vlog(who, level, fmt, ap);
	va_end(ap);
}

/* The fields every access line starts with, up to the status. */
static void access_head(line *l, bool json, const char *request_id,
                        const char *method, const char *path, int status)
{
	const char *saved = thread_request;
	thread_request = request_id;
	begin(l, "core", VBX_LOG_INFO);
	thread_request = saved;
	if (json) {
		puts_(l, "\"msg\":\"access\",\"method\":\"");
		put_escaped(l, method);
		puts_(l, "\",\"path\":\"");
		put_escaped(l, path);
		puts_(l, "\",\"status\":");
	} else {
		put_text(l, method);
		puts_(l, " ");
		put_text(l, path);
		puts_(l, " ");
	}
	put_uint(l, (unsigned)status);
	puts_(l, json ? ",\"bytes\":" : " ");
}

/* After the bytes sent: the duration and the client; the line stays open
 * for the fields of a WebSocket. */
static void access_tail(line *l, bool json, double duration_ms,
                        const char *client, const char *peer)
{
	bool via = peer && *peer;
	puts_(l, json ? ",\"durationMs\":" : "B ");
	put_ms(l, duration_ms);
	if (json) {
		puts_(l, ",\"client\":\"");
		put_escaped(l, client ? client : "");
		puts_(l, "\"");
		if (via) {
			puts_(l, ",\"peer\":\"");
			put_escaped(l, peer);
			puts_(l, "\"");
		}
	} else {
		puts_(l, "ms ");
		put_text(l, client ? client : "");
		if (via) {
			puts_(l, " via ");
			put_text(l, peer);
		}
	}
}

void vbx__log_access(const char *request_id, const char *method,
                     const char *path, int status, size_t bytes,
                     double duration_ms, const char *client, const char *peer)
{
	if (!vbx__log_enabled(VBX_LOG_INFO))
		return;
	bool json = atomic_load_explicit(&log_json, memory_order_relaxed);
	line l;
	access_head(&l, json, request_id, method, path, status);
	put_uint(&l, bytes);
	access_tail(&l, json, duration_ms, client, peer);
	if (json)
		puts_(&l, "}");
	finish(&l);
}

void vbx__log_ws_access(const char *request_id, const char *path, int status,
                        uint64_t bytes_out, uint64_t bytes_in,
                        double duration_ms, const char *client,
                        const char *peer, int close_code)
{
	if (!vbx__log_enabled(VBX_LOG_INFO))
		return;
	bool json = atomic_load_explicit(&log_json, memory_order_relaxed);
	line l;
	access_head(&l, json, request_id, "GET", path, status);
	put_uint(&l, bytes_out);
	access_tail(&l, json, duration_ms, client, peer);
	puts_(&l, json ? ",\"bytesIn\":" : " in=");
	put_uint(&l, bytes_in);
	puts_(&l, json ? ",\"closeCode\":" : "B close=");
	put_uint(&l, (unsigned)close_code);
	if (json)
		puts_(&l, "}");
	finish(&l);
}
