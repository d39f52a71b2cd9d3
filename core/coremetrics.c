/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coremetrics.c - the daemon's own families besides the per-route ones
 * (reqmetrics.c):
 *   events_published_total, events_dropped_total  (read at scrape time)
 *   health_ready, health_check_up{check}          (set by /health/ready)
 *   file_readable{plugin,key}                     (checked at scrape time)
 */
#include "vbx_build.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "core.h"
#include "coremetrics.h"
#include <vibebox/metrics.h>

static vbx_metric *published, *dropped, *ready_m, *check_m, *file_m;

/* ---- events ---- */

/* A counter the core keeps elsewhere, copied in (never goes down). */
static void set_count(vbx_metric *m, uint64_t v)
{
	vbx_series *s = vbx__metric_series(m, NULL);
	if (s)
		__atomic_store_n(&s->value, v, __ATOMIC_RELAXED);
}

/* Dropped: the local queue's drops (events from other replicas
 * included), and those the bridge could not send to other replicas. */
static void collect_events(vbx_metric *m, void *ud)
{
	vbx__event_stats ev;
	vbx__bridge_stats br;

	(void)m, (void)ud;
	vbx__events_stats(&ev);
	vbx__bridge_stats_get(&br);
	set_count(published, ev.published);
	set_count(dropped, ev.dropped + br.out_overflow + br.out_unavailable +
	                           br.out_invalid);
}

/* ---- readiness ---- */

void vbx__health_metrics_ready(bool ready)
{
	if (ready_m && vbx__metrics_enabled())
		vbx_gauge_set(vbx__metric_series(ready_m, NULL), ready ? 1 : 0);
}

/* Not on the request path: /health/ready runs its checks anyway, and a
 * lookup of a resolved series is a hash probe under the lock. */
void vbx__health_metrics_check(const char *name, bool up)
{
	if (check_m && name && vbx__metrics_enabled())
		vbx_gauge_set(vbx__metric_series(check_m, &name), up ? 1 : 0);
}

/* At a scrape, unless a probe computed readiness in the last 10 s. */
static void collect_health(vbx_metric *m, void *ud)
{
	(void)m, (void)ud;
	vbx__health_metrics_refresh(10000);
}

/* ---- secret files ---- */

typedef struct secret_file {
	struct secret_file *next;
	char *plugin, *key, *path;
} secret_file;

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static secret_file *files;

static void file_free(secret_file *f)
{
	free(f->plugin);
	free(f->key);
	free(f->path);
	free(f);
}

void vbx__secret_file_note(const char *block, const char *key, const char *path)
{
	const char *plugin = block && !strncmp(block, "plugins.", 8)
	                             ? block + 8
	                             : (block ? block : "core");
	secret_file *f;

	pthread_mutex_lock(&files_lock);
	for (f = files; f; f = f->next)
		if (!strcmp(f->plugin, plugin) && !strcmp(f->key, key))
			break;
	if (f) {
		char *p = strdup(path);
		if (p) {
			free(f->path);
			f->path = p;
		}
	} else if ((f = calloc(1, sizeof(*f)))) {
		f->plugin = strdup(plugin);
		f->key = strdup(key);
		f->path = strdup(path);
		if (f->plugin && f->key && f->path) {
			f->next = files;
			files = f;
		} else {
			file_free(f);
		}
	}
	pthread_mutex_unlock(&files_lock);
}

/* Can it still be opened? A rotated secret mount that lost a file, or a
 * permission change, shows before the next restart fails on it. */
static void collect_files(vbx_metric *m, void *ud)
{
	(void)ud;
	pthread_mutex_lock(&files_lock);
	for (secret_file *f = files; f; f = f->next) {
		int fd = open(f->path,
		              O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0)
			close(fd);
		vbx_gauge_set(vbx__metric_series(
		                      m, (const char *[]){f->plugin, f->key}),
		              fd >= 0 ? 1 : 0);
	}
	pthread_mutex_unlock(&files_lock);
}

/* ---- the beginning and the end ---- */

void vbx__core_metrics_init(void)
{
	static const char *const check_labels[] = {"check", NULL};
	static const char *const file_labels[] = {"plugin", "key", NULL};

	vbx__req_metrics_init();
	published = vbx__metric_new(NULL, VBX_METRIC_COUNTER,
	                            "events_published_total",
	                            "Events published into this replica's "
	                            "queue (from other replicas included).",
	                            NULL, NULL, 0);
	dropped = vbx__metric_new(NULL, VBX_METRIC_COUNTER,
	                          "events_dropped_total",
	                          "Events dropped: the queue was full "
	                          "(events.overflow = drop), or the bridge "
	                          "could not send them to other replicas.",
	                          NULL, NULL, 0);
	ready_m = vbx__metric_new(NULL, VBX_METRIC_GAUGE, "health_ready",
	                          "1 when the daemon is ready (/health/ready "
	                          "answers 200), else 0; computed at most 10 s "
	                          "before the scrape.",
	                          NULL, NULL, 0);
	check_m = vbx__metric_new(NULL, VBX_METRIC_GAUGE, "health_check_up",
	                          "1 when the readiness check passed (ok or "
	                          "degraded) when /health/ready last ran, "
	                          "else 0.",
	                          check_labels, NULL, 0);
	file_m = vbx__metric_new(NULL, VBX_METRIC_GAUGE, "file_readable",
	                         "1 when the file a secret, certificate or key "
	                         "option names can still be opened for "
	                         "reading.",
	                         file_labels, NULL, 0);
	if (published)
		vbx__metric_on_collect(published, collect_events, NULL);
	if (file_m)
		vbx__metric_on_collect(file_m, collect_files, NULL);
	if (ready_m)
		vbx__metric_on_collect(ready_m, collect_health, NULL);
}

void vbx__core_metrics_fini(void)
{
	vbx__req_metrics_fini();
	published = dropped = ready_m = check_m = file_m = NULL;
	pthread_mutex_lock(&files_lock);
	while (files) {
		secret_file *f = files;
		files = f->next;
		file_free(f);
	}
	pthread_mutex_unlock(&files_lock);
}
