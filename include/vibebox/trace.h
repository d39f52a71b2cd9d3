/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/trace.h - distributed tracing: spans for plugins, the W3C trace
 * context for outgoing calls, and the exporter's side (ABI 1.3).
 *
 * The core records a SERVER span for every HTTP request and WebSocket
 * session, and a child span for every run of a store_*, runtime_* or
 * cache_* hook (hook.h), so a plugin is traced without code of its own.
 * A plugin adds spans of its own around work worth seeing (an outgoing
 * call, say):
 *
 *     vbx_span *s = vbx_span_start(self, "docker POST /containers/create",
 *                                  VBX_SPAN_CLIENT);
 *     vbx_span_set_str(s, "server.address", host);
 *     char tp[VBX_TRACEPARENT_LEN + 1];
 *     if (vbx_traceparent(self, tp, sizeof(tp)) > 0)
 *             add_header("traceparent", tp);   // s is the parent there
 *     ...
 *     if (failed)
 *             vbx_span_set_error(s, "engine unreachable");
 *     vbx_span_end(s);
 *
 * The current span is per thread: a request's handler and the hooks it
 * runs see the request's span. vbx_span_start() makes the new span the
 * thread's current one and vbx_span_end() restores its parent, so end
 * spans in the reverse order of their start, on the thread that started
 * them.
 *
 * Cost: spans exist only when a plugin has registered an exporter
 * (vbx_trace_exporter_set) and the trace is sampled. Otherwise
 * vbx_span_start() returns NULL without allocating or reading a clock,
 * and every other call accepts NULL and does nothing, so a caller never
 * tests for it.
 */
#ifndef VIBEBOX_TRACE_H
#define VIBEBOX_TRACE_H

#include <vibebox/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Span kinds, with OTLP's numbering (opentelemetry/proto/trace/v1). */
enum {
	VBX_SPAN_INTERNAL = 1, /* work inside the daemon */
	VBX_SPAN_SERVER = 2,   /* a request the daemon serves */
	VBX_SPAN_CLIENT = 3    /* a call the daemon makes (Docker, S3...) */
};

/* Span status codes, with OTLP's numbering. */
enum { VBX_SPAN_UNSET = 0, VBX_SPAN_OK = 1, VBX_SPAN_ERROR = 2 };

/* Attribute value types of vbx_span_attr. */
enum { VBX_ATTR_STRING = 0, VBX_ATTR_INT = 1 };

/* The host's span_op codes; use the wrappers below. */
enum {
	VBX__SPAN_STR = VBX_ATTR_STRING,
	VBX__SPAN_INT = VBX_ATTR_INT,
	VBX__SPAN_ERROR = 2,
	VBX__SPAN_END = 3
};

/* "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" */
#define VBX_TRACEPARENT_LEN 55
/* What the core keeps of an incoming tracestate header (longer: dropped). */
#define VBX_TRACESTATE_MAX 512
/* Attributes one span holds; later ones are dropped (and counted in
 * vbx_span_data.dropped_attrs). */
#define VBX_SPAN_ATTRS_MAX 16

/*
 * Start a child span of the calling thread's current span, named name
 * (copied), of kind VBX_SPAN_*, and make it the current span. Returns the
 * span, or NULL when there is no sampled trace on this thread (no
 * exporter, an unsampled request, or a thread outside any request): the
 * NULL is a valid argument to every call below. The span belongs to the
 * caller until vbx_span_end(), which frees it.
 */
static inline vbx_span *vbx_span_start(vbx_plugin *p, const char *name,
                                       int kind)
{
	return VBX__HOST(p)->span_start(p, name, kind);
}

/* Set a string attribute (key and value copied; a value longer than the
 * span's room is cut). s may be NULL. */
static inline void vbx_span_set_str(vbx_span *s, const char *key,
                                    const char *value)
{
	if (s)
		VBX__HOST(s)->span_op(s, VBX__SPAN_STR, key, value, 0);
}

/* Set an integer attribute (key copied). s may be NULL. */
static inline void vbx_span_set_int(vbx_span *s, const char *key,
                                    long long value)
{
	if (s)
		VBX__HOST(s)->span_op(s, VBX__SPAN_INT, key, NULL, value);
}

/* Mark the span failed, with a message (copied; may be NULL). s may be
 * NULL. */
static inline void vbx_span_set_error(vbx_span *s, const char *message)
{
	if (s)
		VBX__HOST(s)->span_op(s, VBX__SPAN_ERROR, NULL, message, 0);
}

/* End the span: its end time is now; it goes to the exporter, the
 * thread's current span becomes its parent again, and s is freed. s may
 * be NULL. */
static inline void vbx_span_end(vbx_span *s)
{
	if (s)
		VBX__HOST(s)->span_op(s, VBX__SPAN_END, NULL, NULL, 0);
}

/*
 * The calling thread's current trace context as a W3C traceparent value
 * ("00-<trace>-<span>-01") for an outgoing call, into buf (len bytes, at
 * least VBX_TRACEPARENT_LEN + 1). Returns its length, or 0 (buf set to
 * "") when there is no sampled trace on this thread: then send none.
 */
static inline int vbx_traceparent(vbx_plugin *p, char *buf, size_t len)
{
	return VBX__HOST(p)->traceparent(p, buf, len);
}

/* ---- the exporter's side: the plugin that provides "tracing" ---- */

/* One attribute of a finished span. */
typedef struct vbx_span_attr {
	const char *key;
	int type;        /* VBX_ATTR_STRING or VBX_ATTR_INT */
	const char *str; /* VBX_ATTR_STRING: the value, NUL-terminated */
	long long num;   /* VBX_ATTR_INT: the value */
} vbx_span_attr;

/*
 * A finished, sampled span as the exporter receives it. Every pointer in
 * it is owned by the daemon and valid only during the export call: copy
 * what you keep. The resource (service name, replica id) is the
 * exporter's to add: its configured service name and vbx_replica_id().
 */
typedef struct vbx_span_data {
	uint32_t version;           /* 1 */
	unsigned char trace_id[16]; /* never all zero */
	unsigned char span_id[8];   /* never all zero */
	unsigned char parent_id[8]; /* all zero for a root span */
	const char *name;
	int kind;                   /* VBX_SPAN_* */
	int64_t start_ns;           /* Unix time, nanoseconds */
	int64_t end_ns;             /* >= start_ns */
	int status;                 /* VBX_SPAN_UNSET, _OK or _ERROR */
	const char *status_message; /* NULL or text, for VBX_SPAN_ERROR */
	const vbx_span_attr *attrs;
	size_t nattrs;
	unsigned dropped_attrs; /* attributes that did not fit */
	const char *tracestate; /* the incoming tracestate, or NULL */
} vbx_span_data;

/*
 * vbx_span_export_fn (declared in plugin.h):
 *     void fn(void *ud, const vbx_span_data *span);
 * Called once per finished sampled span, on the thread that ended it (a
 * worker, or the service thread for request spans): it must not block,
 * take a lock held across I/O, or log on success; copy the span into a
 * bounded queue and return. ud is what was registered.
 */

/*
 * Register the daemon's one span exporter, during init only. ratio
 * (0..1) samples root traces: a trace is sampled when its id, read as a
 * number, falls in the lowest `ratio` part of the id space, so every
 * replica decides alike for one trace id. An incoming traceparent's
 * sampled flag decides for its trace (parent-based). Registering turns
 * on request spans, hook spans, X-Trace-Id and the trace_id of log lines.
 * Returns VBX_OK, VBX_ESTATE after init, VBX_EEXIST when another plugin
 * registered one (both are named in the log), VBX_EINVAL for a NULL fn or
 * a ratio outside 0..1.
 */
static inline int vbx_trace_exporter_set(vbx_plugin *p, double ratio,
                                         vbx_span_export_fn *fn, void *ud)
{
	return VBX__HOST(p)->trace_exporter_set(p, ratio, fn, ud);
}

#ifdef __cplusplus
}
#endif
#endif
