/* SPDX-License-Identifier: Apache-2.0 */
/* fakemetrics.c - see fakemetrics.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vibebox/metrics.h>

#include "fakemetrics.h"

#define MAX_VALUES 8

static vbx_plugin *exporter;

static int fm_init(vbx_plugin *self, const vbx_config *cfg)
{
	(void)cfg;
	exporter = self;
	return VBX_OK;
}

static void fm_fini(vbx_plugin *self)
{
	if (exporter == self)
		exporter = NULL;
}

static const char *const fm_provides[] = {"metrics", NULL};

const vbx_plugin_desc fake_metrics_desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "fake-metrics",
        .version = "0",
        .description = "turns the metric registry on for a test",
        .provides = fm_provides,
        .init = fm_init,
        .fini = fm_fini,
};

typedef struct wanted {
	const char *family;
	const char *values[MAX_VALUES];
	size_t n;
	bool found;
	double value, sum;
} wanted;

static void visit(void *ud, const vbx_metric_info *info,
                  const char *const *values, const vbx_series *s)
{
	wanted *w = ud;
	if (!s || strcmp(info->name, w->family) != 0 || info->nlabels != w->n)
		return;
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(values[i], w->values[i]) != 0)
			return;
	w->found = true;
	w->value = info->type == VBX_METRIC_GAUGE ? vbx_series_gauge(s)
	                                          : (double)vbx_series_count(s);
	w->sum = info->type == VBX_METRIC_HISTOGRAM ? vbx_series_sum(s) : 0;
}

static wanted find(const char *family, va_list ap)
{
	wanted w = {.family = family};
	const char *v;
	while ((v = va_arg(ap, const char *)) && w.n < MAX_VALUES)
		w.values[w.n++] = v;
	if (!exporter)
		fail_msg("fake-metrics is not loaded");
	assert_int_equal(vbx_metrics_visit(exporter, visit, &w), VBX_OK);
	if (!w.found)
		fail_msg("%s with %zu label values is not there", family, w.n);
	return w;
}

double fake_metric(const char *family, ...)
{
	va_list ap;
	va_start(ap, family);
	wanted w = find(family, ap);
	va_end(ap);
	return w.value;
}

double fake_metric_sum(const char *family, ...)
{
	va_list ap;
	va_start(ap, family);
	wanted w = find(family, ap);
	va_end(ap);
	return w.sum;
}
