/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pubsub.c - cache_publish on a pooled connection, cache_subscribe on
 * one dedicated connection read by a thread of the plugin's own. After
 * every (re)connect the thread subscribes every channel again and calls
 * each subscriber with msg NULL, len 0 (messages may have been lost).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc.h"

#define RC_POLL_MS 200 /* how soon a new channel or a stop is noticed */

static int cache_publish(void *ud, const char *channel, const void *msg,
                         size_t len)
{
	rcache *r = ud;
	char k[VBX_CACHE_KEY_MAX + RC_PREFIX_MAX];
	redisReply *rep;

	if (rc_key(r, channel, NULL, k, sizeof(k)) != VBX_OK || (!msg && len))
		return VBX_EINVAL;
	const char *argv[] = {"PUBLISH", k, msg ? msg : ""};
	const size_t lens[] = {7, strlen(k), len};
	int rc = rc_command(r, &rep, 3, argv, lens);
	if (rc != VBX_OK)
		return rc;
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = VBX_EUNAVAIL;
	freeReplyObject(rep);
	return rc;
}

static int cache_subscribe(void *ud, const char *channel,
                           vbx_cache_message_fn *fn, void *arg)
{
	rcache *r = ud;
	rc_sub *s, **tail;

	if (!fn)
		return VBX_EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return VBX_ENOMEM;
	if (rc_key(r, channel, NULL, s->channel, sizeof(s->channel)) !=
	    VBX_OK) {
		free(s);
		return VBX_EINVAL;
	}
	s->fn = fn;
	s->arg = arg;
	pthread_mutex_lock(&r->lock);
	for (tail = &r->subs; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	r->nsubs++;
	pthread_mutex_unlock(&r->lock);
	return VBX_OK;
}

/* The first n subscriptions: their fields never change once counted, so
 * they are read without the lock. */
static size_t sub_count(rcache *r, bool *stopping)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->nsubs;
	*stopping = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static rc_sub *sub_at(rcache *r, size_t i)
{
	rc_sub *s;

	pthread_mutex_lock(&r->lock);
	s = r->subs;
	pthread_mutex_unlock(&r->lock);
	while (s && i--)
		s = s->next;
	return s;
}

/* SUBSCRIBE the subscriptions from *done to n. */
static int subscribe_from(rcache *r, rc_conn *c, size_t *done, size_t n,
                          char *err, size_t errlen)
{
	int64_t deadline = rc_now_ms() + r->cfg.timeout_ms;

	for (rc_sub *s = sub_at(r, *done); s && *done < n; s = s->next) {
		const char *argv[] = {"SUBSCRIBE", s->channel};
		const size_t lens[] = {9, strlen(s->channel)};
		if (rc_conn_send(c, 2, argv, lens, deadline, err, errlen) !=
		    VBX_OK)
			return VBX_EUNAVAIL;
		(*done)++;
	}
	return VBX_OK;
}

/* A message to its subscriber; a subscribe confirmation as the NULL
 * message that says the channel is (again) listened to: only from then
 * on does a publish reach this replica. */
static void dispatch(rcache *r, const redisReply *rep, size_t n)
{
	size_t plen = strlen(r->cfg.prefix);

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = rep->element[0]->str;
	bool message = strcmp(kind, "message") == 0 &&
	               rep->element[2]->type == REDIS_REPLY_STRING;
	if (!message && strcmp(kind, "subscribe") != 0)
		return;
	const char *ch = rep->element[1]->str;
	rc_sub *s = sub_at(r, 0);
	for (size_t i = 0; s && i < n; i++, s = s->next)
		if (strcmp(s->channel, ch) == 0)
			s->fn(s->arg, ch + plen,
			      message ? rep->element[2]->str : NULL,
			      message ? rep->element[2]->len : 0);
}

/* Serve one connection until it breaks or the plugin stops. */
static void serve(rcache *r, rc_conn *c)
{
	char err[RC_ERR_MAX] = "";
	size_t done = 0;
	bool stopping = false;
	size_t n = sub_count(r, &stopping);

	if (subscribe_from(r, c, &done, n, err, sizeof(err)) != VBX_OK)
		goto broken;
	while (!stopping) {
		redisReply *rep = NULL;
		int rc = rc_conn_read(c, &rep, rc_now_ms() + RC_POLL_MS, err,
		                      sizeof(err));
		if (rc == VBX_EUNAVAIL)
			goto broken;
		if (rep) {
			dispatch(r, rep, done);
			freeReplyObject(rep);
		}
		n = sub_count(r, &stopping);
		if (n > done &&
		    subscribe_from(r, c, &done, n, err, sizeof(err)) != VBX_OK)
			goto broken;
	}
	return;
broken:
	/* The pool notes an outage when its own calls fail; a subscriber
	 * connection that broke alone is simply opened again. */
	vbx_log_debug(r->self, "redis-cache: subscriber connection: %s", err);
}

static void nap(rcache *r, int64_t ms)
{
	bool stopping = false;

	for (int64_t t = 0; t < ms; t += 50) {
		sub_count(r, &stopping);
		if (stopping)
			return;
		usleep(50 * 1000);
	}
}

static void *sub_main(void *arg)
{
	rcache *r = arg;
	int64_t backoff = r->cfg.backoff_min_ms;
	bool stopping = false;

	while (sub_count(r, &stopping), !stopping) {
		char err[RC_ERR_MAX];
		if (sub_count(r, &stopping) == 0) {
			nap(r, RC_POLL_MS);
			continue;
		}
		rc_conn *c = rc_connect_master(
		        r, rc_now_ms() + r->cfg.connect_timeout_ms, err,
		        sizeof(err));
		if (!c) {
			rc_note_failure(r, err);
			nap(r, backoff);
			if ((backoff *= 2) > r->cfg.backoff_max_ms)
				backoff = r->cfg.backoff_max_ms;
			continue;
		}
		backoff = r->cfg.backoff_min_ms;
		rc_note_success(r);
		serve(r, c);
		rc_conn_close(c);
	}
	return NULL;
}

int rc_pubsub_register(rcache *r)
{
	int rc = vbx_hook_cache_publish_register(r->self, cache_publish, r,
	                                         VBX_PRIO_MIDDLE);
	if (rc == VBX_OK)
		rc = vbx_hook_cache_subscribe_register(r->self, cache_subscribe,
		                                       r, VBX_PRIO_MIDDLE);
	return rc;
}

int rc_pubsub_start(rcache *r)
{
	if (pthread_create(&r->sub_thread, NULL, sub_main, r) != 0)
		return VBX_ERR;
	r->sub_running = true;
	return VBX_OK;
}

void rc_pubsub_stop(rcache *r)
{
	if (r->sub_running) {
		pthread_join(r->sub_thread, NULL);
		r->sub_running = false;
	}
}

void rc_pubsub_free(rcache *r)
{
	rc_sub *s = r->subs;

	while (s) {
		rc_sub *next = s->next;
		free(s);
		s = next;
	}
	r->subs = NULL;
}
