/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.c - the registry written as Prometheus text 0.0.4 or as
 * OpenMetrics 1.0.0, in one pass into one growing buffer: a scrape of
 * 10,000 series makes a handful of reallocations, not one per series.
 *
 * The two formats differ in three places: OpenMetrics names a counter's
 * family without its "_total" (the sample keeps it), escapes '"' in HELP
 * too, and ends with "# EOF".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx.h"

void mx_buf_put(mx_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void mx_buf_puts(mx_buf *b, const char *s)
{
	mx_buf_put(b, s, strlen(s));
}

void mx_buf_free(mx_buf *b)
{
	free(b->data);
	*b = (mx_buf){0};
}

const char *mx_fmt_double(double v, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	else
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, size, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	return buf;
}

/* s with the characters the format escapes escaped: backslash and line
 * feed always, '"' in label values (and in OpenMetrics' HELP). */
static void put_escaped(mx_buf *b, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'           ? "\\\\"
		                  : *s == '\n'         ? "\\n"
		                  : *s == '"' && quote ? "\\\""
		                                       : NULL;
		if (!esc)
			continue;
		mx_buf_put(b, run, (size_t)(s - run));
		mx_buf_puts(b, esc);
		run = s + 1;
	}
	mx_buf_put(b, run, (size_t)(s - run));
}

/* The family's name as the format writes it in HELP and TYPE. */
static void put_family_name(mx_render *r, const char *name, int type)
{
	size_t n = strlen(name);

	if (r->format == MX_OPENMETRICS && type == VBX_METRIC_COUNTER &&
	    n > 6 && !strcmp(name + n - 6, "_total"))
		n -= 6;
	mx_buf_put(r->out, name, n);
}

static void put_header(mx_render *r, const char *name, const char *help,
                       int type)
{
	static const char *const types[] = {"untyped", "counter", "gauge",
	                                    "histogram"};

	mx_buf_puts(r->out, "# HELP ");
	put_family_name(r, name, type);
	mx_buf_puts(r->out, " ");
	put_escaped(r->out, help, r->format == MX_OPENMETRICS);
	mx_buf_puts(r->out, "\n# TYPE ");
	put_family_name(r, name, type);
	mx_buf_puts(r->out, " ");
	mx_buf_puts(r->out, types[type >= 1 && type <= 3 ? type : 0]);
	mx_buf_puts(r->out, "\n");
}

/* name+suffix{labels[,le="le"]} value\n */
static void put_sample(mx_render *r, const char *name, const char *suffix,
                       const char *const *labels, const char *const *values,
                       size_t n, const char *le, const char *value)
{
	mx_buf *b = r->out;

	mx_buf_puts(b, name);
	mx_buf_puts(b, suffix);
	if (n || le) {
		mx_buf_puts(b, "{");
		for (size_t i = 0; i < n; i++) {
			if (i)
				mx_buf_puts(b, ",");
			mx_buf_puts(b, labels[i]);
			mx_buf_puts(b, "=\"");
			put_escaped(b, values[i], true);
			mx_buf_puts(b, "\"");
		}
		if (le) {
			mx_buf_puts(b, n ? ",le=\"" : "le=\"");
			mx_buf_puts(b, le);
			mx_buf_puts(b, "\"");
		}
		mx_buf_puts(b, "}");
	}
	mx_buf_puts(b, " ");
	mx_buf_puts(b, value);
	mx_buf_puts(b, "\n");
}

static const char *fmt_u64(uint64_t v, char *buf, size_t size)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* Buckets are kept per bucket; the exposition's are cumulative. */
static void put_histogram(mx_render *r, const vbx_metric_info *info,
                          const char *const *values, const vbx_series *s)
{
	char le[40], num[40];
	uint64_t cum = 0;

	for (uint32_t i = 0; i <= s->nbounds; i++) {
		cum += vbx_series_bucket(s, i);
		if (i < s->nbounds)
			mx_fmt_double(s->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		put_sample(r, info->name, "_bucket", info->labels, values,
		           info->nlabels, le, fmt_u64(cum, num, sizeof(num)));
	}
	/* The count is the +Inf bucket's, so the two always agree even
	 * while observations land during the scrape. */
	put_sample(r, info->name, "_count", info->labels, values, info->nlabels,
	           NULL, fmt_u64(cum, num, sizeof(num)));
	put_sample(r, info->name, "_sum", info->labels, values, info->nlabels,
	           NULL, mx_fmt_double(vbx_series_sum(s), num, sizeof(num)));
}

void mx_render_visit(void *ud, const vbx_metric_info *info,
                     const char *const *values, const vbx_series *s)
{
	mx_render *r = ud;
	char num[40];

	if (!s) {
		put_header(r, info->name, info->help, info->type);
		return;
	}
	switch (info->type) {
	case VBX_METRIC_COUNTER:
		put_sample(r, info->name, "", info->labels, values,
		           info->nlabels, NULL,
		           fmt_u64(vbx_series_count(s), num, sizeof(num)));
		break;
	case VBX_METRIC_GAUGE:
		put_sample(
		        r, info->name, "", info->labels, values, info->nlabels,
		        NULL,
		        mx_fmt_double(vbx_series_gauge(s), num, sizeof(num)));
		break;
	case VBX_METRIC_HISTOGRAM:
		put_histogram(r, info, values, s);
		break;
	default:
		break;
	}
}

void mx_render_simple(mx_render *r, const char *name, const char *help,
                      int type, double value, const char *const *labels,
                      const char *const *values, size_t nlabels)
{
	char num[40];

	put_header(r, name, help, type);
	put_sample(r, name, "", labels, values, nlabels, NULL,
	           mx_fmt_double(value, num, sizeof(num)));
}

void mx_render_end(mx_render *r)
{
	if (r->format == MX_OPENMETRICS)
		mx_buf_puts(r->out, "# EOF\n");
}
