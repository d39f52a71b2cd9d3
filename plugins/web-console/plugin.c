/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c - the web-console plugin: serves the built browser console
 * (root, by default $(datadir)/vibebox/www) at / and at every path no
 * other route has, on the daemon's own listener.
 *
 * A missing root is not an error: the daemon starts, the log says where
 * the console was looked for, and every page says that it is not
 * installed until the files appear (the next rescan finds them). On
 * SIGHUP the new block applies at once and forces a rescan.
 */
#include <stdlib.h>
#include <string.h>

#include <vibebox/catalog.h>

#include "wc.h"

/* Log what a scan found: at start and reload (force), and when root
 * goes missing or comes back; quiet otherwise. */
static void report(wc *w, const wc_snap *snap, bool force)
{
	if (!snap->root_ok) {
		if (force || !w->warned)
			vbx_log_warn(
			        w->self,
			        "web-console: %s "
			        "(plugins.web-console.root); pages say the "
			        "console is not installed until it is",
			        snap->problem);
		w->warned = true;
		return;
	}
	if (!force && !w->warned)
		return;
	w->warned = false;
	bool index = wc_snap_find(snap, w->set.index) != NULL;
	vbx_log_info(w->self,
	             "web-console: serving %zu files from %s (%llu bytes in "
	             "memory)%s",
	             snap->nfiles, w->set.root,
	             (unsigned long long)snap->cached,
	             index ? ""
	                   : "; its index file is missing, so pages say the "
	                     "console is not installed");
	if (snap->problem[0])
		vbx_log_warn(w->self, "web-console: %s", snap->problem);
}

void wc_refresh(wc *w, bool force)
{
	int64_t now = wc_now_ms();
	if (!force && now < atomic_load(&w->next_scan_ms))
		return;
	if (force)
		pthread_mutex_lock(&w->scan);
	else if (pthread_mutex_trylock(&w->scan) != 0)
		return; /* another request is rescanning: use the old one */
	/* Built under the read lock (the settings and the old snapshot hold
	 * still), swapped under the write lock. Only this thread, holding
	 * scan, replaces w->snap, so it may read it between the two. */
	pthread_rwlock_rdlock(&w->lock);
	atomic_store(&w->next_scan_ms, now + w->set.recheck_ms);
	wc_snap *snap = wc_snap_build(&w->set, w->snap);
	pthread_rwlock_unlock(&w->lock);
	wc_snap *old = NULL;
	if (snap) {
		pthread_rwlock_wrlock(&w->lock);
		old = w->snap;
		w->snap = snap;
		pthread_rwlock_unlock(&w->lock);
	}
	wc_snap_free(old);
	pthread_rwlock_rdlock(&w->lock); /* the logs read w->set */
	if (snap)
		report(w, snap, force);
	else
		vbx_log_error(w->self,
		              "web-console: out of memory scanning %s; serving "
		              "the previous files",
		              w->set.root);
	pthread_rwlock_unlock(&w->lock);
	pthread_mutex_unlock(&w->scan);
}

static void rescan_task(void *ud)
{
	wc_refresh(ud, true);
}

/* SIGHUP: the new block (validate checked it) applies at once. */
static void on_reload(void *ud, const vbx_config_reload_event *ev)
{
	wc *w = ud;
	wc_settings s;
	(void)ev;
	if (wc_settings_parse(vbx_plugin_config(w->self), &s) != VBX_OK) {
		vbx_log_error(w->self, "web-console: the new block has errors; "
		                       "keeping the settings in force");
		wc_settings_free(&s);
		return;
	}
	pthread_rwlock_wrlock(&w->lock);
	wc_settings old = w->set;
	w->set = s;
	pthread_rwlock_unlock(&w->lock);
	wc_settings_free(&old);
	/* the scan reads files: not on the event's thread, which must not
	 * block; failing that, the next request rescans */
	atomic_store(&w->next_scan_ms, 0);
	if (vbx_work_submit(w->self, rescan_task, w) != VBX_OK)
		vbx_log_warn(w->self, "web-console: root is scanned again at "
		                      "the next request");
}

static void wc_free(wc *w)
{
	wc_snap_free(w->snap);
	wc_settings_free(&w->set);
	pthread_rwlock_destroy(&w->lock);
	pthread_mutex_destroy(&w->scan);
	free(w);
}

static int wc_init(vbx_plugin *self, const vbx_config *cfg)
{
	wc *w = calloc(1, sizeof(*w));
	if (!w)
		return VBX_ENOMEM;
	w->self = self;
	pthread_rwlock_init(&w->lock, NULL);
	pthread_mutex_init(&w->scan, NULL);
	int rc = wc_settings_parse(cfg, &w->set);
	if (rc == VBX_OK) {
		wc_refresh(w, true);
		rc = wc_routes_register(w);
	}
	if (rc == VBX_OK)
		rc = vbx_event_config_reload_subscribe(self, on_reload, w);
	if (rc != VBX_OK) {
		wc_free(w);
		return rc;
	}
	vbx_plugin_set_data(self, w);
	return VBX_OK;
}

/* Init's parser, its result thrown away. */
static int wc_validate(vbx_plugin *self, const vbx_config *cfg)
{
	wc_settings s;
	(void)self;
	int rc = wc_settings_parse(cfg, &s);
	wc_settings_free(&s);
	return rc;
}

static void wc_fini(vbx_plugin *self)
{
	wc *w = vbx_plugin_data(self);
	if (!w)
		return;
	vbx_plugin_set_data(self, NULL);
	wc_free(w);
}

VBX_PLUGIN(.name = "web-console", .version = "0.1.0",
           .description = "serves the browser console's built files, "
                          "with caching, precompression and a strict CSP",
           .init = wc_init, .fini = wc_fini, .validate = wc_validate);
