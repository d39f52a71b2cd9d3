/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seriesbench - many series for the scrape benchmark
 * (bench/observability/) and the metrics tests: `series` (default
 * 10000) counters spread over ten families
 * vibebox_seriesbench_N_total{shard,key}, each series counted up to its
 * own index so that an exposition can be checked value by value. Needs
 * a plugin that provides "metrics"; without one it declares and keeps
 * nothing.
 */
#include <stdio.h>

#include <vibebox/vibebox.h>
#include <vibebox/metrics.h>

#define FAMILIES 10

static int declare_family(vbx_plugin *self, int f, long long per,
                          long long *done)
{
	static const char *const labels[] = {"shard", "key", NULL};
	char name[64], shard[16], key[24];
	vbx_metric *m;

	snprintf(name, sizeof(name), "seriesbench_%d_total", f);
	m = vbx_metric_counter(self, name, "Series for the scrape benchmark.",
	                       labels);
	if (!m)
		return VBX_ERR;
	snprintf(shard, sizeof(shard), "%d", f);
	for (long long i = 0; i < per; i++, (*done)++) {
		snprintf(key, sizeof(key), "k%lld", *done);
		vbx_series *s =
		        vbx_metric_series(m, (const char *const[]){shard, key});
		if (!s)
			return VBX_ERR;
		vbx_counter_add(s, (uint64_t)*done);
	}
	return VBX_OK;
}

static int seriesbench_init(vbx_plugin *self, const vbx_config *cfg)
{
	long long series, done = 0;
	int rc = vbx_cfg_int(cfg, "series", 0, FAMILIES * 10000LL, 10000,
	                     &series);

	if (rc != VBX_OK || !vbx_metrics_enabled(self))
		return rc;
	for (int f = 0; f < FAMILIES && rc == VBX_OK; f++)
		rc = declare_family(self, f,
		                    series / FAMILIES + (f < series % FAMILIES),
		                    &done);
	if (rc != VBX_OK)
		vbx_log(self, VBX_LOG_ERROR,
		        "could not declare %lld series (stopped at %lld)",
		        series, done);
	return rc;
}

static void seriesbench_fini(vbx_plugin *self)
{
	(void)self;
}

VBX_PLUGIN(.name = "seriesbench", .version = "1.0.0",
           .description = "many metric series, for the scrape benchmark",
           .init = seriesbench_init, .fini = seriesbench_fini);
