/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the metric registry behind <vibebox/metrics.h>.
 *
 * Families live in a list sorted by name; each holds its series in an
 * array (the order they were resolved) and an open-addressing table keyed
 * by their label values. One mutex guards declaring, resolving and
 * visiting; updates never take it: they are atomic operations on cells
 * whose addresses never change once resolved.
 */
#include "vbx_build.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include <vibebox/metrics.h>

#define PREFIX "vibebox_"

typedef struct series {
	vbx_series cells;
	char **values;
	uint64_t hash;
} series;

typedef struct collector {
	vbx_metric *m;
	vbx_metric_collect_fn *fn;
	void *ud;
} collector;

struct vbx_metric {
	struct vbx_object_head head;
	vbx_metric_info info;
	series **all; /* in the order resolved */
	size_t nseries, cap;
	series **table; /* open addressing; tsize a power of two */
	size_t tsize;
	bool overflowed;  /* VBX_METRIC_SERIES_MAX reached, logged once */
	vbx_metric *next; /* in name order */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static vbx_metric *families;
static collector *collectors;
static size_t ncollectors, collectors_cap;
static bool enabled;

void vbx__metrics_set_enabled(bool on)
{
	__atomic_store_n(&enabled, on, __ATOMIC_RELEASE);
}

int vbx__metrics_enabled(void)
{
	return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static bool name_valid(const char *s)
{
	if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') ||
	            (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static size_t count_labels(const char *const *labels)
{
	size_t n = 0;
	while (labels && labels[n])
		n++;
	return n;
}

/* ---- declaring ---- */

static const char *check_decl(int type, const char *name,
                              const char *const *labels, const double *b,
                              size_t nb)
{
	size_t nl = count_labels(labels);

	if (type < VBX_METRIC_COUNTER || type > VBX_METRIC_HISTOGRAM)
		return "unknown metric type";
	if (!name_valid(name) ||
	    strlen(name) + sizeof(PREFIX) > VBX_METRIC_NAME_MAX)
		return "the name must be [a-zA-Z_][a-zA-Z0-9_]*, at most "
		       "119 bytes";
	if (type == VBX_METRIC_COUNTER &&
	    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
		return "a counter's name ends in _total";
	if (nl > VBX_METRIC_LABELS_MAX)
		return "more than 8 labels";
	for (size_t i = 0; i < nl; i++)
		if (!name_valid(labels[i]) || !strncmp(labels[i], "__", 2) ||
		    (type == VBX_METRIC_HISTOGRAM && !strcmp(labels[i], "le")))
			return "a label name must be [a-zA-Z_][a-zA-Z0-9_]*, "
			       "not start with __ (nor be le in a histogram)";
	if (nb > VBX_METRIC_BUCKETS_MAX)
		return "more than 32 histogram bounds";
	for (size_t i = 0; i < nb; i++)
		if (!isfinite(b[i]) || (i && b[i] <= b[i - 1]))
			return "histogram bounds must be finite and ascending";
	return NULL;
}

static bool same_shape(const vbx_metric *m, int type, const char *const *labels,
                       const double *b, size_t nb)
{
	if (m->info.type != type || m->info.nlabels != count_labels(labels))
		return false;
	for (size_t i = 0; i < m->info.nlabels; i++)
		if (strcmp(m->info.labels[i], labels[i]))
			return false;
	if (type != VBX_METRIC_HISTOGRAM)
		return true;
	return m->info.nbounds == nb &&
	       !memcmp(m->info.bounds, b, nb * sizeof(*b));
}

static void family_free(vbx_metric *m);
static series *resolve_locked(vbx_metric *m, const char *const *v);

static vbx_metric *family_new(int type, const char *full, const char *help,
                              const char *const *labels, const double *b,
                              size_t nb)
{
	vbx_metric *m = calloc(1, sizeof(*m));
	size_t nl = count_labels(labels);
	char **names = calloc(nl + 1, sizeof(*names));
	double *bounds = nb ? malloc(nb * sizeof(*bounds)) : NULL;

	if (!m || !names || (nb && !bounds)) {
		free(m), free(names), free(bounds);
		return NULL;
	}
	m->head.host = &vbx__host;
	m->info.type = type;
	m->info.nlabels = nl;
	m->info.labels = (const char *const *)names;
	m->info.bounds = bounds;
	m->info.nbounds = nb;
	if (nb)
		memcpy(bounds, b, nb * sizeof(*b));
	m->info.name = strdup(full);
	m->info.help = strdup(help ? help : "");
	bool ok = m->info.name && m->info.help;
	for (size_t i = 0; i < nl; i++) {
		names[i] = strdup(labels[i]);
		ok = ok && names[i];
	}
	if (!ok) {
		family_free(m);
		return NULL;
	}
	return m;
}

static void link_sorted(vbx_metric *m)
{
	vbx_metric **at = &families;
	while (*at && strcmp((*at)->info.name, m->info.name) < 0)
		at = &(*at)->next;
	m->next = *at;
	*at = m;
}

static vbx_metric *find_family(const char *full)
{
	for (vbx_metric *m = families; m; m = m->next)
		if (!strcmp(m->info.name, full))
			return m;
	return NULL;
}

vbx_metric *vbx__metric_new(vbx_plugin *p, int type, const char *name,
                            const char *help, const char *const *labels,
                            const double *bounds, size_t nbounds)
{
	static const double seconds[] = VBX_METRIC_SECONDS_BOUNDS;
	const char *who = p ? p->name : "core";
	char full[VBX_METRIC_NAME_MAX];
	const char *why;
	vbx_metric *m;

	if (type == VBX_METRIC_HISTOGRAM && !bounds) {
		bounds = seconds;
		nbounds = sizeof(seconds) / sizeof(seconds[0]);
	}
	why = check_decl(type, name, labels, bounds, nbounds);
	if (why) {
		vbx__log(who, VBX_LOG_ERROR, "metric %s: %s",
		         name ? name : "(null)", why);
		return NULL;
	}
	snprintf(full, sizeof(full), PREFIX "%s", name);
	pthread_mutex_lock(&lock);
	m = find_family(full);
	if (m && !same_shape(m, type, labels, bounds, nbounds)) {
		pthread_mutex_unlock(&lock);
		vbx__log(who, VBX_LOG_ERROR,
		         "metric %s is declared already with another type, "
		         "labels or bounds; choose another name",
		         full);
		return NULL;
	}
	if (!m) {
		m = family_new(type, full, help, labels, bounds, nbounds);
		if (m)
			link_sorted(m);
		/* Without labels there is one series: show it from the start,
		 * at zero, rather than after its first update. */
		if (m && !m->info.nlabels && vbx__metrics_enabled())
			resolve_locked(m, NULL);
	}
	pthread_mutex_unlock(&lock);
	if (!m)
		vbx__log(who, VBX_LOG_ERROR, "metric %s: out of memory", full);
	return m;
}

/* ---- resolving ---- */

static uint64_t values_hash(const char *const *v, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *c = (const unsigned char *)v[i]; *c;
		     c++)
			h = (h ^ *c) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* never in UTF-8 */
	}
	return h;
}

static bool values_equal(char *const *a, const char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static series **slot_for(vbx_metric *m, uint64_t h, const char *const *v)
{
	size_t i = h & (m->tsize - 1);
	while (m->table[i] &&
	       !(m->table[i]->hash == h &&
	         values_equal(m->table[i]->values, v, m->info.nlabels)))
		i = (i + 1) & (m->tsize - 1);
	return &m->table[i];
}

static int grow(vbx_metric *m)
{
	size_t tsize = m->tsize ? m->tsize * 2 : 16;
	series **table = calloc(tsize, sizeof(*table));
	series **all = realloc(m->all, (tsize / 2) * sizeof(*all));

	if (!table || !all) {
		free(table);
		if (all)
			m->all = all;
		return VBX_ENOMEM;
	}
	m->all = all;
	m->cap = tsize / 2;
	free(m->table);
	m->table = table;
	m->tsize = tsize;
	for (size_t i = 0; i < m->nseries; i++)
		*slot_for(m, m->all[i]->hash,
		          (const char *const *)m->all[i]->values) = m->all[i];
	return VBX_OK;
}

static void series_free(series *s, size_t nlabels)
{
	if (!s)
		return;
	for (size_t i = 0; s->values && i < nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->cells.buckets);
	free(s);
}

static series *series_new(vbx_metric *m, const char *const *v, uint64_t h)
{
	size_t nl = m->info.nlabels;
	series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->hash = h;
	s->cells.type = (uint32_t)m->info.type;
	s->values = calloc(nl ? nl : 1, sizeof(char *));
	if (m->info.type == VBX_METRIC_HISTOGRAM) {
		s->cells.bounds = m->info.bounds;
		s->cells.nbounds = (uint32_t)m->info.nbounds;
		s->cells.buckets =
		        calloc(m->info.nbounds + 1, sizeof(*s->cells.buckets));
	}
	if (!s->values ||
	    (m->info.type == VBX_METRIC_HISTOGRAM && !s->cells.buckets)) {
		series_free(s, 0);
		return NULL;
	}
	for (size_t i = 0; i < nl; i++)
		if (!(s->values[i] = strdup(v[i]))) {
			series_free(s, nl);
			return NULL;
		}
	return s;
}

static bool values_valid(const vbx_metric *m, const char *const *v)
{
	for (size_t i = 0; i < m->info.nlabels; i++)
		if (!v || !v[i] || strlen(v[i]) > VBX_METRIC_VALUE_MAX)
			return false;
	return true;
}

/* Called with the lock held. */
static series *resolve_locked(vbx_metric *m, const char *const *v)
{
	uint64_t h = values_hash(v, m->info.nlabels);
	series **slot;

	if (m->tsize) {
		slot = slot_for(m, h, v);
		if (*slot)
			return *slot;
	}
	if (m->nseries >= VBX_METRIC_SERIES_MAX) {
		if (!m->overflowed)
			vbx__log("core", VBX_LOG_WARN,
			         "metric %s has %d series; further label sets "
			         "are dropped: a label takes unbounded values",
			         m->info.name, VBX_METRIC_SERIES_MAX);
		m->overflowed = true;
		return NULL;
	}
	if (m->nseries + 1 > m->cap && grow(m) != VBX_OK)
		return NULL;
	slot = slot_for(m, h, v);
	*slot = series_new(m, v, h);
	if (*slot)
		m->all[m->nseries++] = *slot;
	return *slot;
}

vbx_series *vbx__metric_series(vbx_metric *m, const char *const *values)
{
	series *s;

	if (!m || !vbx__metrics_enabled() || !values_valid(m, values))
		return NULL;
	pthread_mutex_lock(&lock);
	s = resolve_locked(m, values);
	pthread_mutex_unlock(&lock);
	return s ? &s->cells : NULL;
}

int vbx__metric_on_collect(vbx_metric *m, vbx_metric_collect_fn *fn, void *ud)
{
	int rc = VBX_OK;

	if (!m || !fn)
		return VBX_EINVAL;
	pthread_mutex_lock(&lock);
	if (ncollectors == collectors_cap) {
		size_t cap = collectors_cap ? collectors_cap * 2 : 8;
		collector *c = realloc(collectors, cap * sizeof(*c));
		if (c) {
			collectors = c;
			collectors_cap = cap;
		} else {
			rc = VBX_ENOMEM;
		}
	}
	if (rc == VBX_OK)
		collectors[ncollectors++] = (collector){m, fn, ud};
	pthread_mutex_unlock(&lock);
	return rc;
}

/* ---- visiting ---- */

/* Collectors run without the lock: they resolve series of their own. The
 * list only grows, so a copy of its length is enough. */
static void run_collectors(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = ncollectors;
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++) {
		collector c;
		pthread_mutex_lock(&lock);
		c = collectors[i];
		pthread_mutex_unlock(&lock);
		c.fn(c.m, c.ud);
	}
}

int vbx__metrics_visit(vbx_plugin *p, vbx_metric_visit_fn *fn, void *ud)
{
	(void)p;
	if (!vbx__metrics_enabled() || !fn)
		return VBX_EUNAVAIL;
	run_collectors();
	pthread_mutex_lock(&lock);
	for (vbx_metric *m = families; m; m = m->next) {
		fn(ud, &m->info, NULL, NULL);
		for (size_t i = 0; i < m->nseries; i++)
			fn(ud, &m->info, (const char *const *)m->all[i]->values,
			   &m->all[i]->cells);
	}
	pthread_mutex_unlock(&lock);
	return VBX_OK;
}

/* ---- the end ---- */

static void family_free(vbx_metric *m)
{
	for (size_t i = 0; i < m->nseries; i++)
		series_free(m->all[i], m->info.nlabels);
	for (size_t i = 0; i < m->info.nlabels; i++)
		free((char *)m->info.labels[i]);
	free((void *)m->info.labels);
	free((void *)m->info.bounds);
	free((char *)m->info.name);
	free((char *)m->info.help);
	free(m->all);
	free(m->table);
	free(m);
}

void vbx__metrics_fini(void)
{
	pthread_mutex_lock(&lock);
	while (families) {
		vbx_metric *m = families;
		families = m->next;
		family_free(m);
	}
	free(collectors);
	collectors = NULL;
	ncollectors = collectors_cap = 0;
	pthread_mutex_unlock(&lock);
}
