/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.c - the bounded span queue and the one thread that empties it.
 *
 * The request path only copies a span and moves a pointer under a lock
 * that is never held across I/O; a full queue drops the span and counts
 * it. Everything slow (connecting, sending, waiting for a collector that
 * is down) happens on the export thread, which backs off after a failure
 * (doubling up to 30 s) and drops, with a count, what it could not send.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "tracing.h"

#define BACKOFF_MAX_MS 30000
#define WARN_EVERY_MS 30000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_dropped(tr_exporter *e, size_t n)
{
	atomic_fetch_add(&e->dropped, n);
	vbx_counter_add(e->m_dropped, n);
}

void tr_enqueue(void *ud, const vbx_span_data *span)
{
	tr_exporter *e = ud;
	tr_span *s = tr_span_copy(span);
	if (!s) {
		count_dropped(e, 1);
		return;
	}
	pthread_mutex_lock(&e->lock);
	bool full = e->count == (size_t)e->cfg.queue || !e->running;
	if (!full) {
		e->ring[(e->head + e->count) % (size_t)e->cfg.queue] = s;
		e->count++;
	}
	bool wake = e->count >= (size_t)e->cfg.batch;
	pthread_mutex_unlock(&e->lock);
	if (full) {
		free(s);
		count_dropped(e, 1);
	} else if (wake) {
		pthread_cond_signal(&e->wake);
	}
}

/* Take up to batch spans off the queue; the caller holds the lock. */
static size_t take(tr_exporter *e, tr_span **out)
{
	size_t n = 0, cap = (size_t)e->cfg.queue;
	while (e->count && n < (size_t)e->cfg.batch) {
		out[n++] = e->ring[e->head];
		e->head = (e->head + 1) % cap;
		e->count--;
	}
	return n;
}

static size_t discard_body(char *ptr, size_t size, size_t n, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * n;
}

/* POST one request body; VBX_OK on a 2xx, else why into err. */
static int post(tr_exporter *e, CURL *c, const tr_buf *body, char *err,
                size_t errlen)
{
	struct curl_slist *hdrs =
	        curl_slist_append(NULL, "Content-Type: application/json");
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, e->cfg.url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)e->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s",
		         cerr[0] ? cerr : curl_easy_strerror(rc));
		return VBX_EUNAVAIL;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(err, errlen, "HTTP status %ld", status);
		return VBX_EUNAVAIL;
	}
	return VBX_OK;
}

/* Encode and send n spans, free them; VBX_OK when the collector took
 * them, else they are counted as dropped. */
static int send_batch(tr_exporter *e, CURL *c, tr_span **spans, size_t n,
                      char *err, size_t errlen)
{
	tr_buf body = {0};
	int rc = VBX_ENOMEM;
	snprintf(err, errlen, "out of memory encoding %zu spans", n);
	if (tr_otlp_encode(&body, &e->res, spans, n))
		rc = post(e, c, &body, err, errlen);
	tr_buf_free(&body);
	for (size_t i = 0; i < n; i++)
		free(spans[i]);
	if (rc == VBX_OK) {
		atomic_fetch_add(&e->exported, n);
		vbx_counter_add(e->m_exported, n);
	} else {
		count_dropped(e, n);
	}
	return rc;
}

static void warn_failure(tr_exporter *e, const char *err, int64_t *last)
{
	int64_t t = now_ms();
	if (*last && t - *last < WARN_EVERY_MS)
		return;
	*last = t;
	vbx_log_warn(e->self,
	             "cannot export spans to plugins.tracing.endpoint %s: %s; "
	             "%llu spans dropped so far (spans_dropped_total); "
	             "retrying with back-off",
	             e->cfg.url, err,
	             (unsigned long long)atomic_load(&e->dropped));
}

/* Wait until a batch is full, the interval (or back-off) passed, or stop.
 * The caller holds the lock. */
static void wait_for_work(tr_exporter *e, int64_t wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while (!e->stopping && e->count < (size_t)e->cfg.batch)
		if (pthread_cond_timedwait(&e->wake, &e->lock, &until) ==
		    ETIMEDOUT)
			break;
}

static void *export_main(void *ud)
{
	tr_exporter *e = ud;
	tr_span **batch = calloc((size_t)e->cfg.batch, sizeof(*batch));
	CURL *c = curl_easy_init();
	int64_t backoff = 0, last_warn = 0;
	char err[CURL_ERROR_SIZE + 64];
	pthread_mutex_lock(&e->lock);
	for (;;) {
		wait_for_work(e, backoff ? backoff : e->cfg.interval_ms);
		bool stopping = e->stopping;
		size_t n = batch ? take(e, batch) : 0;
		pthread_mutex_unlock(&e->lock);
		if (n && !c) {
			for (size_t i = 0; i < n; i++)
				free(batch[i]);
			count_dropped(e, n);
		} else if (n) {
			if (send_batch(e, c, batch, n, err, sizeof(err)) ==
			    VBX_OK) {
				backoff = 0;
			} else {
				warn_failure(e, err, &last_warn);
				backoff = backoff ? backoff * 2
				                  : e->cfg.interval_ms;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
			}
		}
		pthread_mutex_lock(&e->lock);
		if (stopping && (e->count == 0 || backoff))
			break; /* flushed, or the collector is down: give up */
	}
	pthread_mutex_unlock(&e->lock);
	if (c)
		curl_easy_cleanup(c);
	free(batch);
	return NULL;
}

int tr_exporter_start(tr_exporter *e)
{
	pthread_mutex_lock(&e->lock);
	e->running = true;
	pthread_mutex_unlock(&e->lock);
	if (pthread_create(&e->thread, NULL, export_main, e) != 0) {
		e->running = false;
		vbx_log_error(e->self, "cannot start the span export thread");
		return VBX_ERR;
	}
	return VBX_OK;
}

void tr_exporter_stop(tr_exporter *e)
{
	pthread_mutex_lock(&e->lock);
	bool was = e->running;
	e->stopping = true;
	pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->lock);
	if (was)
		pthread_join(e->thread, NULL);
	pthread_mutex_lock(&e->lock);
	e->running = false;     /* spans ended from now on are dropped */
	size_t left = e->count; /* the collector was down at the end */
	pthread_mutex_unlock(&e->lock);
	if (left)
		count_dropped(e, left);
	vbx_log_info(e->self, "spans exported: %llu, dropped: %llu",
	             (unsigned long long)atomic_load(&e->exported),
	             (unsigned long long)atomic_load(&e->dropped));
}

void tr_exporter_free(tr_exporter *e)
{
	size_t cap = (size_t)e->cfg.queue;
	for (size_t i = 0; i < e->count; i++)
		free(e->ring[(e->head + i) % cap]);
	free(e->ring);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
}
