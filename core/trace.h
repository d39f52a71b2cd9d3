/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace.h - the core's side of tracing (trace.c): the registered span
 * exporter, a request's or WebSocket's trace context, the thread's
 * current span, and the host-table functions behind <vibebox/trace.h>.
 */
#ifndef VBX_TRACE_H
#define VBX_TRACE_H

#include <vibebox/trace.h>

#include "arena.h"
#include "traceparent.h"

/* One request's (or WebSocket session's) trace context. All zero, and
 * active false, when no exporter is registered. */
typedef struct vbx__trace {
	bool active;  /* an exporter is registered: trace_id is valid */
	bool sampled; /* spans are recorded */
	unsigned char trace_id[16];
	unsigned char parent_id[8]; /* the caller's span, or zero */
	char hex[33];               /* trace_id in hex, for logs and headers */
	const char *tracestate;     /* the caller's, in the arena, or NULL */
	vbx_span *span;             /* the SERVER span when sampled */
} vbx__trace;

/* Whether a plugin registered an exporter. */
bool vbx__trace_enabled(void);
/* Forget the exporter (the fake host between tests). */
void vbx__trace_reset(void);
/* Whether runs of the hook named so get spans (set at the freeze). */
bool vbx__trace_hook_wanted(const char *hook_name);
/* Root sampling of a trace id by the exporter's ratio. */
bool vbx__trace_sampled_id(const unsigned char trace_id[16]);

/*
 * Fill t for a request that came with these headers (NULL when absent):
 * nothing without an exporter; else the caller's trace when traceparent
 * is valid (its sampled flag decides), a new one when not (the ratio
 * decides); when sampled, t->span is a new span named name of kind, not
 * made current: the caller ends it with vbx__span_end() or drops it with
 * vbx__span_discard(). tracestate is copied into a.
 */
void vbx__trace_begin(vbx__trace *t, const char *traceparent,
                      const char *tracestate, const char *name, int kind,
                      vbx__arena *a);

/* Make sp (may be NULL) the thread's current span; returns the one it
 * replaces, for vbx__trace_leave(). */
vbx_span *vbx__trace_enter(vbx_span *sp);
void vbx__trace_leave(vbx_span *was);

/* A span of trace_id with parent parent_id (NULL: a root), started now;
 * NULL when out of memory. Not current. */
vbx_span *vbx__span_new(const unsigned char trace_id[16],
                        const unsigned char parent_id[8], const char *name,
                        int kind, const char *tracestate);
void vbx__span_rename(vbx_span *sp, const char *name);
/* End sp: export it and free it. NULL-safe. */
void vbx__span_end(vbx_span *sp);
/* Free sp without exporting it. NULL-safe. */
void vbx__span_discard(vbx_span *sp);

/* The host table's entries (plugin.h). */
vbx_span *vbx__span_start(vbx_plugin *p, const char *name, int kind);
/* An attribute (type VBX_ATTR_*) or, with VBX__SPAN_ERROR, the error
 * status (str: the message). NULL-safe. */
void vbx__span_attr(vbx_span *sp, int type, const char *key, const char *str,
                    long long num);
/* span_attr, or vbx__span_end for VBX__SPAN_END. */
void vbx__span_op(vbx_span *sp, int op, const char *key, const char *str,
                  long long num);
int vbx__traceparent_current(vbx_plugin *p, char *buf, size_t len);
int vbx__trace_exporter_set(vbx_plugin *p, double ratio, vbx_span_export_fn *fn,
                            void *ud);
vbx_span *vbx__hook_span(const vbx_hook *h, vbx_span *sp, int rc);

/* registry.c: the hook's name. */
const char *vbx__hook_name(const vbx_hook *h);

#endif
