/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mx.h - the metrics plugin's parts: the exposition renderer (render.c),
 * the Accept header (accept.c), the process metrics (procstat.c) and the
 * plugin's own listener (listener.c). Not installed.
 */
#ifndef VBX_METRICS_MX_H
#define VBX_METRICS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <vibebox/metrics.h>

/* The two exposition formats. */
typedef enum mx_format {
	MX_TEXT = 0,       /* Prometheus text 0.0.4 */
	MX_OPENMETRICS = 1 /* OpenMetrics 1.0.0 */
} mx_format;

#define MX_CTYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define MX_CTYPE_OPENMETRICS                                                   \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/* A growing buffer. A failed allocation sets oom and drops what follows,
 * so that a caller checks once, at the end. */
typedef struct mx_buf {
	char *data;
	size_t len, cap;
	bool oom;
} mx_buf;

void mx_buf_put(mx_buf *b, const char *s, size_t n);
void mx_buf_puts(mx_buf *b, const char *s);
void mx_buf_free(mx_buf *b);

/*
 * A double as the exposition writes it: the shortest of %.15g/%.16g/%.17g
 * that reads back as the same value; "+Inf", "-Inf", "NaN". buf holds at
 * least 32 bytes. Returns buf.
 */
const char *mx_fmt_double(double v, char *buf, size_t size);

/*
 * One exposition being written: give mx_render_visit to
 * vbx_metrics_visit() with it as ud, then mx_render_end().
 */
typedef struct mx_render {
	mx_buf *out;
	mx_format format;
} mx_render;

/* A vbx_metric_visit_fn: the family's HELP and TYPE lines (s NULL), or a
 * series' samples. */
void mx_render_visit(void *ud, const vbx_metric_info *info,
                     const char *const *values, const vbx_series *s);

/*
 * A family with no labels and one value, written straight (the process
 * metrics): type is VBX_METRIC_COUNTER or VBX_METRIC_GAUGE; name is the
 * whole name (a counter's ends in _total). labels/values: nlabels pairs.
 */
void mx_render_simple(mx_render *r, const char *name, const char *help,
                      int type, double value, const char *const *labels,
                      const char *const *values, size_t nlabels);

/* The end of the exposition ("# EOF" for OpenMetrics). */
void mx_render_end(mx_render *r);

/*
 * The format an Accept header value asks for (NULL: none given).
 * OpenMetrics when application/openmetrics-text is acceptable (q > 0)
 * and not less preferred than text/plain (or a wildcard covering it),
 * else the text format. Never fails: an
 * unparseable header gets the text format.
 */
mx_format mx_accept_format(const char *accept);

/* Append the process metrics of /proc/self (resident memory, CPU, fds,
 * start time) and build info. */
void mx_render_process(mx_render *r, const char *version);

/* ---- the listener's requests (reqparse.c) ---- */

#define MX_REQ_MAX 8192 /* a request head, in bytes; longer is refused */

/* One request head, parsed in place: the strings point into the buffer
 * handed to mx_req_parse(), NUL-terminated there. */
typedef struct mx_req {
	const char *method;
	const char *path;          /* without the query string */
	const char *accept;        /* NULL when absent */
	const char *authorization; /* NULL when absent */
	bool keep_alive;           /* HTTP/1.1 without "Connection: close" */
	bool has_body; /* a Content-Length other than 0, or chunked */
} mx_req;

/*
 * Parse the request head at the start of buf[0..len) (which it changes:
 * it writes NULs). Returns the head's length including its blank line,
 * 0 when the head is not complete yet (and len < MX_REQ_MAX), or -1 for a
 * head that is malformed or MX_REQ_MAX bytes or more without its end.
 */
long mx_req_parse(char *buf, size_t len, mx_req *out);

/* ---- the plugin (plugin.c, listener.c) ---- */

typedef struct mx_listener mx_listener;

typedef struct mx_state {
	vbx_plugin *self;
	char *listen; /* "" when served on the public API listener */
	char *token;  /* the bearer token; NULL when none is required */
	size_t token_len;
	mx_listener *listener;
} mx_state;

/* One answer to a scrape request. body is malloc'd (the caller frees it
 * with mx_buf_free); ctype static. */
typedef struct mx_answer {
	int status;
	const char *ctype;
	const char *allow; /* for 405 */
	mx_buf body;
} mx_answer;

/* The answer to method/path with these headers (either may be NULL). */
void mx_answer_request(mx_state *st, const char *method, const char *path,
                       const char *accept, const char *authorization,
                       mx_answer *a);

/*
 * Parse a `listen` value, "host:port" or "[v6]:port" with a numeric
 * host, into *ss. Returns 0, or -1 with why in err.
 */
int mx_listen_parse(const char *spec, struct sockaddr_storage *ss,
                    socklen_t *sslen, char *err, size_t errsize);

/* Bind spec and serve it on a thread of its own. NULL (err says why)
 * when it cannot. */
mx_listener *mx_listener_start(mx_state *st, const char *spec, char *err,
                               size_t errsize);
/* Stop the thread and close every connection. l may be NULL. */
void mx_listener_stop(mx_listener *l);

#endif
