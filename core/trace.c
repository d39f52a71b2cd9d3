/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace.c - spans (trace.h): the exporter a plugin registers, each
 * request's trace context, the thread's current span, and the spans of
 * hook runs.
 *
 * Nothing here costs anything until a plugin registers an exporter: the
 * request path tests `exporter_fn` once. With one, every request gets a
 * trace id (for its log lines and X-Trace-Id) but only a sampled one
 * allocates a span and reads the clock. A span is one malloc that holds
 * its strings, so an attribute never allocates.
 */
#include "vbx_build.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core.h"
#include "request.h"
#include "trace.h"

#define SPAN_TEXT 1024 /* name, attribute keys and values of one span */

struct vbx_span {
	struct vbx_object_head head;
	struct vbx_span *prev_current; /* the thread's span before this one */
	bool current;                  /* made the thread's current span */
	vbx_span_data d;
	vbx_span_attr attrs[VBX_SPAN_ATTRS_MAX];
	size_t used;
	char text[SPAN_TEXT];
};

/* Set once during init, read without a lock afterwards. */
static vbx_span_export_fn *exporter_fn;
static void *exporter_ud;
static const vbx_plugin *exporter_owner;
static uint64_t sample_below; /* of the trace id's low 56 bits */
static bool sample_all;

static _Thread_local vbx_span *thread_span;

bool vbx__trace_enabled(void)
{
	return exporter_fn != NULL;
}

int vbx__trace_exporter_set(vbx_plugin *p, double ratio, vbx_span_export_fn *fn,
                            void *ud)
{
	const char *name = p ? p->name : "core";
	if (!fn || !(ratio >= 0.0 && ratio <= 1.0)) {
		vbx__log(name, VBX_LOG_ERROR,
		         "vbx_trace_exporter_set: needs a function and a ratio "
		         "in 0..1 (got %g)",
		         ratio);
		return VBX_EINVAL;
	}
	if (vbx__registry_frozen()) {
		vbx__log(name, VBX_LOG_ERROR,
		         "vbx_trace_exporter_set is for init only");
		return VBX_ESTATE;
	}
	if (exporter_fn) {
		vbx__log(name, VBX_LOG_ERROR,
		         "plugin \"%s\" already exports spans; load only one "
		         "tracing plugin",
		         exporter_owner ? exporter_owner->name : "?");
		return VBX_EEXIST;
	}
	sample_all = ratio >= 1.0;
	sample_below = (uint64_t)(ratio * 72057594037927936.0); /* 2^56 */
	exporter_ud = ud;
	exporter_owner = p;
	exporter_fn = fn;
	return VBX_OK;
}

void vbx__trace_reset(void)
{
	exporter_fn = NULL;
	exporter_ud = NULL;
	exporter_owner = NULL;
}

bool vbx__trace_hook_wanted(const char *hook_name)
{
	return exporter_fn && (strncmp(hook_name, "store_", 6) == 0 ||
	                       strncmp(hook_name, "runtime_", 8) == 0 ||
	                       strncmp(hook_name, "cache_", 6) == 0);
}

/* ---- ids ---- */

/* A per-thread generator (splitmix64) seeded from getrandom: ids need to
 * be unique and unpredictable enough for sampling, not secret. */
static uint64_t next_random(void)
{
	static _Thread_local uint64_t state;
	if (!state) {
		if (getrandom(&state, sizeof(state), 0) != sizeof(state))
			state = (uint64_t)vbx__now_ns() ^ (uintptr_t)&state;
		state |= 1;
	}
	uint64_t z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void random_id(unsigned char *out, size_t n)
{
	unsigned char any = 0;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = next_random();
		memcpy(out + i, &r, n - i < 8 ? n - i : 8);
	}
	for (size_t i = 0; i < n; i++)
		any |= out[i];
	if (!any)
		out[n - 1] = 1; /* an all-zero id is invalid */
}

bool vbx__trace_sampled_id(const unsigned char trace_id[16])
{
	if (sample_all)
		return true;
	uint64_t low = 0;
	for (int i = 9; i < 16; i++)
		low = low << 8 | trace_id[i];
	return low < sample_below;
}

static int64_t unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- spans ---- */

/* Copy s into the span's text; "" when it is full (cut to fit). */
static const char *keep(vbx_span *sp, const char *s)
{
	size_t room = sizeof(sp->text) - sp->used;
	if (!s || room < 1)
		return "";
	size_t n = strlen(s);
	if (n >= room)
		n = room - 1;
	char *at = sp->text + sp->used;
	memcpy(at, s, n);
	at[n] = '\0';
	sp->used += n + 1;
	return at;
}

vbx_span *vbx__span_new(const unsigned char trace_id[16],
                        const unsigned char parent_id[8], const char *name,
                        int kind, const char *tracestate)
{
	vbx_span *sp = malloc(sizeof(*sp));
	if (!sp)
		return NULL;
	sp->head.host = &vbx__host;
	sp->prev_current = NULL;
	sp->current = false;
	sp->used = 0;
	memset(&sp->d, 0, sizeof(sp->d));
	sp->d.version = 1;
	memcpy(sp->d.trace_id, trace_id, 16);
	if (parent_id)
		memcpy(sp->d.parent_id, parent_id, 8);
	random_id(sp->d.span_id, 8);
	sp->d.name = keep(sp, name);
	sp->d.kind = kind;
	sp->d.attrs = sp->attrs;
	sp->d.tracestate = tracestate;
	sp->d.start_ns = unix_ns();
	return sp;
}

void vbx__span_rename(vbx_span *sp, const char *name)
{
	if (sp)
		sp->d.name = keep(sp, name);
}

void vbx__span_op(vbx_span *sp, int op, const char *key, const char *str,
                  long long num)
{
	if (op == VBX__SPAN_END)
		vbx__span_end(sp);
	else
		vbx__span_attr(sp, op, key, str, num);
}

void vbx__span_attr(vbx_span *sp, int type, const char *key, const char *str,
                    long long num)
{
	if (!sp)
		return;
	if (type == VBX__SPAN_ERROR) {
		sp->d.status = VBX_SPAN_ERROR;
		sp->d.status_message = str ? keep(sp, str) : NULL;
		return;
	}
	if (!key || (type != VBX_ATTR_STRING && type != VBX_ATTR_INT))
		return;
	if (sp->d.nattrs == VBX_SPAN_ATTRS_MAX) {
		sp->d.dropped_attrs++;
		return;
	}
	vbx_span_attr *a = &sp->attrs[sp->d.nattrs++];
	a->key = keep(sp, key);
	a->type = type;
	a->str = type == VBX_ATTR_STRING ? keep(sp, str ? str : "") : NULL;
	a->num = num;
}

void vbx__span_end(vbx_span *sp)
{
	if (!sp)
		return;
	sp->d.end_ns = unix_ns();
	if (sp->d.end_ns < sp->d.start_ns)
		sp->d.end_ns = sp->d.start_ns; /* the clock was set back */
	if (sp->current && thread_span == sp)
		thread_span = sp->prev_current;
	vbx_span_export_fn *fn = exporter_fn;
	if (fn)
		fn(exporter_ud, &sp->d);
	free(sp);
}

void vbx__span_discard(vbx_span *sp)
{
	if (sp && sp->current && thread_span == sp)
		thread_span = sp->prev_current;
	free(sp);
}

/* A child of the thread's current span, made current. */
static vbx_span *child(const char *name, int kind)
{
	vbx_span *parent = thread_span;
	if (!parent)
		return NULL;
	vbx_span *sp = vbx__span_new(parent->d.trace_id, parent->d.span_id,
	                             name, kind, parent->d.tracestate);
	if (!sp)
		return NULL;
	sp->prev_current = parent;
	sp->current = true;
	thread_span = sp;
	return sp;
}

vbx_span *vbx__span_start(vbx_plugin *p, const char *name, int kind)
{
	(void)p;
	if (kind < VBX_SPAN_INTERNAL || kind > VBX_SPAN_CLIENT)
		kind = VBX_SPAN_INTERNAL;
	return child(name, kind);
}

vbx_span *vbx__hook_span(const vbx_hook *h, vbx_span *sp, int rc)
{
	if (!sp)
		return child(vbx__hook_name(h), VBX_SPAN_INTERNAL);
	vbx__span_attr(sp, VBX_ATTR_INT, "vibebox.hook.result", NULL, rc);
	vbx__span_end(sp);
	return NULL;
}

int vbx__traceparent_current(vbx_plugin *p, char *buf, size_t len)
{
	(void)p;
	vbx_span *sp = thread_span;
	if (!buf || len == 0)
		return 0;
	if (!sp || len < VBX_TRACEPARENT_LEN + 1) {
		buf[0] = '\0';
		return 0;
	}
	vbx__traceparent_format(buf, sp->d.trace_id, sp->d.span_id, true);
	return VBX_TRACEPARENT_LEN;
}

vbx_span *vbx__trace_enter(vbx_span *sp)
{
	vbx_span *was = thread_span;
	thread_span = sp;
	return was;
}

void vbx__trace_leave(vbx_span *was)
{
	thread_span = was;
}

/* ---- a request's trace context ---- */

void vbx__trace_begin(vbx__trace *t, const char *traceparent,
                      const char *tracestate, const char *name, int kind,
                      vbx__arena *a)
{
	vbx__traceparent tp;
	size_t start, n;
	memset(t, 0, sizeof(*t));
	if (!exporter_fn)
		return;
	t->active = true;
	if (traceparent &&
	    vbx__traceparent_parse(traceparent, strlen(traceparent), &tp)) {
		memcpy(t->trace_id, tp.trace_id, 16);
		memcpy(t->parent_id, tp.span_id, 8);
		t->sampled = tp.sampled;
		if (tracestate &&
		    vbx__tracestate_ok(tracestate, strlen(tracestate),
		                       VBX_TRACESTATE_MAX, &start, &n))
			t->tracestate =
			        vbx__arena_strndup(a, tracestate + start, n);
	} else {
		random_id(t->trace_id, 16);
		t->sampled = vbx__trace_sampled_id(t->trace_id);
	}
	vbx__hex_lower(t->hex, t->trace_id, 16);
	if (t->sampled)
		t->span = vbx__span_new(t->trace_id, t->parent_id, name, kind,
		                        t->tracestate);
}
