/*
 * log.c - one line per message on stderr: JSON for machines (the default)
 * or text for people. Each line is written with a single write(2), so
 * lines from threads never interleave.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define LINE_MAX_BYTES 8192

static atomic_int log_level = VBX_LOG_INFO;
static atomic_bool log_json = true;
static _Thread_local const char *thread_request;

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

/* Append s as the inside of a JSON string. */
static void put_escaped(line *l, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c == '\n') {
			put(l, "\\n", 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc, 6);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
}

static void put_time(line *l)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	puts_(l, buf);
}

static void begin(line *l, const char *who, int level)
{
	const char *req = thread_request;
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
		puts_(l, "\",");
	} else {
		put_time(l);
		puts_(l, " ");
		puts_(l, level_names[level]);
		puts_(l, " ");
		puts_(l, who);
		if (req) {
			puts_(l, " [");
			puts_(l, req);
			puts_(l, "]");
		}
		puts_(l, " ");
	}
}

static void finish(line *l)
{
	l->buf[l->len++] = '\n';
	ssize_t off = 0;
	while ((size_t)off < l->len) {
		ssize_t n = write(STDERR_FILENO, l->buf + off, l->len - (size_t)off);
		if (n <= 0)
			break;
		off += n;
	}
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
		puts_(&l, msg);
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

void vbx__log_access(const char *request_id, const char *method,
		     const char *path, int status, size_t bytes,
		     double duration_ms, const char *client)
{
	if (!vbx__log_enabled(VBX_LOG_INFO))
		return;
	const char *saved = thread_request;
	char num[96];
	line l;
	thread_request = request_id;
	begin(&l, "core", VBX_LOG_INFO);
	thread_request = saved;
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		puts_(&l, "\"msg\":\"access\",\"method\":\"");
		put_escaped(&l, method);
		puts_(&l, "\",\"path\":\"");
		put_escaped(&l, path);
		snprintf(num, sizeof(num),
			 "\",\"status\":%d,\"bytes\":%zu,\"durationMs\":%.3f,"
			 "\"client\":\"",
			 status, bytes, duration_ms);
		puts_(&l, num);
		put_escaped(&l, client ? client : "");
		puts_(&l, "\"}");
	} else {
		puts_(&l, method);
		puts_(&l, " ");
		puts_(&l, path);
		snprintf(num, sizeof(num), " %d %zuB %.3fms ", status, bytes,
			 duration_ms);
		puts_(&l, num);
		puts_(&l, client ? client : "");
	}
	finish(&l);
}
