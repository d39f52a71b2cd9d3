/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakemetrics.h - a plugin for unit tests that provides "metrics": loaded
 * into the fake daemon (vbx_test_load(h, &fake_metrics_desc, NULL)) before
 * the plugin under test, it turns the metric registry on, and the test
 * reads values back through vbx_metrics_visit:
 *
 *     assert_true(fake_metric("vibebox_x_total", "a", "b", NULL) == 1);
 *
 * The registry lives as long as the process: compare values before and
 * after rather than with 0.
 */
#ifndef FAKEMETRICS_H
#define FAKEMETRICS_H

#include <vibebox/vibebox.h>

extern const vbx_plugin_desc fake_metrics_desc;

/*
 * The value of the series of family (with its "vibebox_" prefix) whose
 * label values are the arguments, NULL-terminated, in the family's order:
 * a counter's count, a gauge's value, a histogram's number of
 * observations. Runs the collectors. Fails the test (cmocka) when the
 * series is not there or the plugin is not loaded.
 */
double fake_metric(const char *family, ...);
/* A histogram's sum of observations, as fake_metric. */
double fake_metric_sum(const char *family, ...);

#endif
