/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/metrics.h - the metric registry: counters, gauges and histograms
 * with labels, declared by the core and by any plugin, exposed by whichever
 * plugin provides the capability "metrics" (ABI 1.3).
 *
 * A family is declared once, in init, with its label names:
 *
 *     static const char *const op_labels[] = { "operation", "result", NULL };
 *     ops = vbx_metric_counter(self, "widget_operations_total",
 *                              "Widget operations by result.", op_labels);
 *
 * Each label set is resolved once into a series and kept; updating a
 * series is one relaxed atomic operation and takes no lock:
 *
 *     vbx_series *ok = vbx_metric_series(ops, (const char *[]){"make", "ok"});
 *     ...
 *     vbx_counter_inc(ok);            // on the request path
 *
 * When no loaded plugin provides "metrics", vbx_metric_series() returns
 * NULL and every update is a single branch. Every update accepts NULL, so
 * a caller never tests for it.
 *
 * Names: the registry adds the prefix "vibebox_" to every family, so
 * "widget_operations_total" is exported as vibebox_widget_operations_total.
 * A name is [a-zA-Z_][a-zA-Z0-9_]*; a counter's ends in "_total". Label
 * names are [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__". Label
 * values are any UTF-8; keep their number bounded (a route pattern, never
 * a raw path; a status, never an id): a family holds at most
 * VBX_METRIC_SERIES_MAX series, and a label set beyond that resolves to
 * NULL (its updates are dropped, and the registry logs it once).
 *
 * Threads: declaring, resolving and vbx_metric_on_collect() take the
 * registry's lock and may run on any thread; updates run anywhere, the
 * service thread included.
 */
#ifndef VIBEBOX_METRICS_H
#define VIBEBOX_METRICS_H

#include <string.h>
#include <vibebox/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The types of a family. */
enum {
	VBX_METRIC_COUNTER =
	        1,            /* only goes up; restarts at 0 with the daemon */
	VBX_METRIC_GAUGE = 2, /* goes up and down */
	VBX_METRIC_HISTOGRAM = 3 /* observations counted into buckets */
};

#define VBX_METRIC_LABELS_MAX 8     /* label names of one family */
#define VBX_METRIC_BUCKETS_MAX 32   /* bounds of one histogram */
#define VBX_METRIC_SERIES_MAX 10000 /* label sets of one family */
#define VBX_METRIC_NAME_MAX 128     /* a family's name with its prefix */
#define VBX_METRIC_VALUE_MAX 256    /* a label value, in bytes */

/*
 * One label set of a family. The layout is public so that updates are
 * inline; only the daemon and the inline functions below touch it.
 */
typedef struct vbx_series {
	uint64_t value;       /* counter: the count; gauge: a double's bits;
	                         histogram: the number of observations */
	uint64_t sum;         /* histogram: the sum observed, a double's bits */
	uint64_t *buckets;    /* histogram: nbounds + 1 counts (the last for
	                         +Inf), each of its own bucket only */
	const double *bounds; /* histogram: upper bounds, ascending */
	uint32_t nbounds;     /* histogram: how many bounds */
	uint32_t type;        /* VBX_METRIC_* */
} vbx_series;

/*
 * The default histogram bounds, in seconds, from 0.5 ms to 10 s: what an
 * HTTP request, a store query or a runtime call takes.
 */
#define VBX_METRIC_SECONDS_BOUNDS                                              \
	{                                                                      \
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,    \
		        0.5, 1.0, 2.5, 5.0, 10.0                               \
	}

/*
 * vbx_metric_counter/gauge/histogram(p, name, help, labels[, bounds, n]) -
 * declare a family. labels is a NULL-terminated array of label names, or
 * NULL for none. A histogram's bounds are ascending and finite (copied);
 * NULL means VBX_METRIC_SECONDS_BOUNDS. Declaring a name that exists with
 * the same type, labels and bounds returns the existing family, so that
 * two plugins (or two loads of one) share it; any other clash fails.
 * Returns the family, owned by the daemon and valid until it exits, or
 * NULL after logging why (bad name, clash, too many labels or bounds).
 * Copies every string. Call it from init or later.
 */
static inline vbx_metric *vbx_metric_counter(vbx_plugin *p, const char *name,
                                             const char *help,
                                             const char *const *labels)
{
	return VBX__HOST(p)->metric_new(p, VBX_METRIC_COUNTER, name, help,
	                                labels, NULL, 0);
}

static inline vbx_metric *vbx_metric_gauge(vbx_plugin *p, const char *name,
                                           const char *help,
                                           const char *const *labels)
{
	return VBX__HOST(p)->metric_new(p, VBX_METRIC_GAUGE, name, help, labels,
	                                NULL, 0);
}

static inline vbx_metric *vbx_metric_histogram(vbx_plugin *p, const char *name,
                                               const char *help,
                                               const char *const *labels,
                                               const double *bounds,
                                               size_t nbounds)
{
	return VBX__HOST(p)->metric_new(p, VBX_METRIC_HISTOGRAM, name, help,
	                                labels, bounds, nbounds);
}

/*
 * The series of one label set: values holds one value per label name, in
 * the family's order (NULL for a family without labels). Resolve it once
 * and keep it: it lives as long as the daemon. Returns NULL when m is
 * NULL, when no plugin provides "metrics", when a value is NULL or longer
 * than VBX_METRIC_VALUE_MAX, or past VBX_METRIC_SERIES_MAX. Copies values.
 */
static inline vbx_series *vbx_metric_series(vbx_metric *m,
                                            const char *const *values)
{
	return m ? VBX__HOST(m)->metric_series(m, values) : NULL;
}

/* 1 when a loaded plugin provides "metrics" (updates are kept), else 0. */
static inline int vbx_metrics_enabled(const vbx_plugin *p)
{
	return VBX__HOST(p)->metrics_enabled();
}

/*
 * Ask fn(m, ud) to bring m's series up to date before each exposition, on
 * the exporter's thread: for values cheaper to read than to track (a pool's
 * idle connections, environments by status). fn sets gauges; it may block
 * briefly (a store query) and must not declare families. Returns VBX_OK,
 * VBX_EINVAL (m or fn NULL), VBX_ENOMEM.
 */
static inline int vbx_metric_on_collect(vbx_metric *m,
                                        vbx_metric_collect_fn *fn, void *ud)
{
	return m ? VBX__HOST(m)->metric_on_collect(m, fn, ud) : VBX_EINVAL;
}

/* ---- updates: lock-free, NULL-safe ---- */

static inline void vbx_counter_add(vbx_series *s, uint64_t n)
{
	if (s)
		__atomic_fetch_add(&s->value, n, __ATOMIC_RELAXED);
}

static inline void vbx_counter_inc(vbx_series *s)
{
	vbx_counter_add(s, 1);
}

static inline uint64_t vbx__metric_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static inline double vbx__metric_double(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

/* Add v to a double kept as bits in *cell. */
static inline void vbx__metric_add_double(uint64_t *cell, double v)
{
	uint64_t old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(
	        cell, &old, vbx__metric_bits(vbx__metric_double(old) + v), 1,
	        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static inline void vbx_gauge_set(vbx_series *s, double v)
{
	if (s)
		__atomic_store_n(&s->value, vbx__metric_bits(v),
		                 __ATOMIC_RELAXED);
}

static inline void vbx_gauge_add(vbx_series *s, double v)
{
	if (s)
		vbx__metric_add_double(&s->value, v);
}

static inline void vbx_gauge_inc(vbx_series *s)
{
	vbx_gauge_add(s, 1.0);
}

static inline void vbx_gauge_dec(vbx_series *s)
{
	vbx_gauge_add(s, -1.0);
}

/* Count v into its bucket (the first bound >= v) and into sum and count. */
static inline void vbx_histogram_observe(vbx_series *s, double v)
{
	uint32_t i = 0;

	if (!s)
		return;
	while (i < s->nbounds && v > s->bounds[i])
		i++;
	__atomic_fetch_add(&s->buckets[i], 1, __ATOMIC_RELAXED);
	vbx__metric_add_double(&s->sum, v);
	__atomic_fetch_add(&s->value, 1, __ATOMIC_RELAXED);
}

/* ---- reads, for an exporter ---- */

/* A counter's count, or a histogram's number of observations. */
static inline uint64_t vbx_series_count(const vbx_series *s)
{
	return __atomic_load_n(&s->value, __ATOMIC_RELAXED);
}

/* A gauge's value. */
static inline double vbx_series_gauge(const vbx_series *s)
{
	return vbx__metric_double(__atomic_load_n(&s->value, __ATOMIC_RELAXED));
}

/* A histogram's sum of observations. */
static inline double vbx_series_sum(const vbx_series *s)
{
	return vbx__metric_double(__atomic_load_n(&s->sum, __ATOMIC_RELAXED));
}

/* A histogram's count in bucket i alone (0..nbounds; nbounds is +Inf). */
static inline uint64_t vbx_series_bucket(const vbx_series *s, uint32_t i)
{
	return __atomic_load_n(&s->buckets[i], __ATOMIC_RELAXED);
}

/* ---- the exporter's side ---- */

/* What an exporter is told of a family. Strings belong to the daemon. */
typedef struct vbx_metric_info {
	const char *name; /* with its "vibebox_" prefix */
	const char *help;
	int type;                  /* VBX_METRIC_* */
	size_t nlabels;            /* label names */
	const char *const *labels; /* nlabels names */
	size_t nbounds;            /* histogram: bounds */
	const double *bounds;      /* histogram: ascending upper bounds */
} vbx_metric_info;

/*
 * Called once for each family with values and s NULL, then once for each
 * of its series with its label values (info->nlabels of them) and its
 * cells (read them with vbx_series_*()). Families come in name order,
 * series in the order they were resolved. Nothing may be kept.
 */

/*
 * Run every collect callback, then visit every family and series. For the
 * plugin that provides "metrics", on its own thread; declarations and
 * resolutions wait while it runs, updates do not. Returns VBX_OK, or
 * VBX_EUNAVAIL when metrics are not enabled.
 */
static inline int vbx_metrics_visit(vbx_plugin *p, vbx_metric_visit_fn *fn,
                                    void *ud)
{
	return VBX__HOST(p)->metrics_visit(p, fn, ud);
}

#ifdef __cplusplus
}
#endif
#endif
