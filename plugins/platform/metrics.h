/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - what the platform exports through the metric registry
 * (metrics.c says when each changes):
 *
 *   environments{status}                  gauge, read at scrape time
 *   environment_transitions_total{from,to} counter
 *   terminal_sessions                     gauge
 *   terminal_bytes_total{direction}       counter, in and out
 *
 * The series are resolved at init into vbx__pm and updated lock-free; all
 * of them are NULL (updates are a branch) when metrics are off or before
 * vbx__platform_metrics_init().
 */
#ifndef VBX_PLATFORM_METRICS_H
#define VBX_PLATFORM_METRICS_H

#include <vibebox/metrics.h>

#define VBX__ENV_STATUSES 5 /* stopped starting running stopping error */

typedef struct vbx__platform_metrics {
	vbx_series *term_sessions;
	vbx_series *term_bytes_in;  /* from clients, written to the process */
	vbx_series *term_bytes_out; /* output sent to clients */
	/* [from][to] by the index of the status's bit; NULL when equal */
	vbx_series *transitions[VBX__ENV_STATUSES][VBX__ENV_STATUSES];
} vbx__platform_metrics;
extern vbx__platform_metrics vbx__pm;

/*
 * Declare the families, resolve every series into vbx__pm and register
 * the collector of environments{status}, which runs store_env_list at
 * scrape time. During init. VBX_OK, or VBX_ERR when the registry refused
 * a family (it logged why).
 */
int vbx__platform_metrics_init(vbx_plugin *self);

/* Count a change of an environment's status (names as in vbx_env);
 * unknown names and from == to are not counted. Lock-free. */
void vbx__metric_transition(const char *from, const char *to);

#endif
