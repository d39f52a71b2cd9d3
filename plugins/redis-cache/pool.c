/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.c - a small pool of connections to the master, shared by the
 * workers (mutex + condvar, a bounded wait), and the outage state: after
 * a failure every call fails fast until the backoff's next try, one
 * warning per outage and one line when the server is back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc.h"

void rc_addr_str(const rc_addr *a, char *buf, size_t len)
{
	if (a->path[0])
		snprintf(buf, len, "%s", a->path);
	else if (strchr(a->host, ':'))
		snprintf(buf, len, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, len, "%s:%d", a->host, a->port);
}

int rc_pool_init(rcache *r)
{
	pthread_condattr_t ca;

	r->slots = calloc((size_t)r->cfg.pool, sizeof(*r->slots));
	if (!r->slots)
		return VBX_ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->freed, &ca);
	pthread_condattr_destroy(&ca);
	r->master = r->cfg.url.addr;
	r->resolve = r->cfg.nsentinels > 0;
	r->backoff_ms = r->cfg.backoff_min_ms;
	return VBX_OK;
}

void rc_pool_fini(rcache *r)
{
	if (!r->slots)
		return;
	for (int i = 0; i < r->cfg.pool; i++)
		rc_conn_close(r->slots[i].conn);
	free(r->slots);
	r->slots = NULL;
	pthread_cond_destroy(&r->freed);
	pthread_mutex_destroy(&r->lock);
}

void rc_note_failure(rcache *r, const char *why)
{
	char where[RC_HOST_MAX + 16];
	bool first;

	pthread_mutex_lock(&r->lock);
	first = !r->down;
	if (first)
		r->backoff_ms = r->cfg.backoff_min_ms;
	else if ((r->backoff_ms *= 2) > r->cfg.backoff_max_ms)
		r->backoff_ms = r->cfg.backoff_max_ms;
	r->down = true;
	r->next_try = rc_now_ms() + r->backoff_ms;
	r->epoch++; /* the pooled connections went with the server */
	snprintf(r->down_reason, sizeof(r->down_reason), "%s", why);
	if (r->cfg.nsentinels)
		r->resolve = true;
	rc_addr_str(&r->master, where, sizeof(where));
	pthread_mutex_unlock(&r->lock);
	if (first)
		vbx_log_warn(
		        r->self,
		        "redis-cache: %s unreachable (%s): cache bypassed, "
		        "rate limits per process until it returns",
		        where, why);
}

void rc_note_success(rcache *r)
{
	char where[RC_HOST_MAX + 16];
	bool was_down;

	pthread_mutex_lock(&r->lock);
	was_down = r->down;
	r->down = false;
	r->backoff_ms = r->cfg.backoff_min_ms;
	rc_addr_str(&r->master, where, sizeof(where));
	pthread_mutex_unlock(&r->lock);
	if (was_down)
		vbx_log_info(r->self,
		             "redis-cache: %s is back: cache shared "
		             "again",
		             where);
}

void rc_need_resolve(rcache *r)
{
	pthread_mutex_lock(&r->lock);
	if (r->cfg.nsentinels)
		r->resolve = true;
	r->epoch++; /* every pooled connection is dropped at its next use */
	pthread_mutex_unlock(&r->lock);
}

/* AUTH, SELECT and ROLE on a fresh connection. */
static int handshake(rcache *r, rc_conn *c, int64_t deadline, char *err,
                     size_t errlen)
{
	redisReply *rep = NULL;
	char db[16], e[RC_ERR_MAX];
	int rc = VBX_OK;

	if (r->cfg.password) {
		rc = r->cfg.url.user[0]
		             ? rc_conn_callv(c, &rep, deadline, e, sizeof(e),
		                             "AUTH", r->cfg.url.user,
		                             r->cfg.password, NULL)
		             : rc_conn_callv(c, &rep, deadline, e, sizeof(e),
		                             "AUTH", r->cfg.password, NULL);
		if (rc == VBX_OK && rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH refused: %s", rep->str);
			rc = VBX_EUNAVAIL;
		}
		freeReplyObject(rep);
		rep = NULL;
	}
	if (rc == VBX_OK && r->cfg.url.db) {
		snprintf(db, sizeof(db), "%d", r->cfg.url.db);
		rc = rc_conn_callv(c, &rep, deadline, e, sizeof(e), "SELECT",
		                   db, NULL);
		if (rc == VBX_OK && rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "SELECT %s: %s", db, rep->str);
			rc = VBX_EUNAVAIL;
		}
		freeReplyObject(rep);
		rep = NULL;
	}
	if (rc == VBX_OK) {
		rc = rc_conn_callv(c, &rep, deadline, e, sizeof(e), "ROLE",
		                   NULL);
		/* A replica would answer reads and refuse writes: refuse it
		 * (a server whose ACL denies ROLE is taken as it is). */
		if (rc == VBX_OK && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements && rep->element[0]->str &&
		    strcmp(rep->element[0]->str, "master") != 0) {
			snprintf(err, errlen,
			         "the server is a %s, not a master",
			         rep->element[0]->str);
			rc = VBX_EUNAVAIL;
		}
		freeReplyObject(rep);
	}
	if (rc != VBX_OK && err[0] == '\0')
		snprintf(err, errlen, "%s", e);
	return rc;
}

rc_conn *rc_connect_master(rcache *r, int64_t deadline, char *err,
                           size_t errlen)
{
	rc_addr addr;
	bool resolve;

	err[0] = '\0';
	pthread_mutex_lock(&r->lock);
	resolve = r->resolve;
	addr = r->master;
	pthread_mutex_unlock(&r->lock);
	if (resolve) {
		if (rc_sentinel_master(r, &addr, deadline, err, errlen) !=
		    VBX_OK)
			return NULL;
		pthread_mutex_lock(&r->lock);
		if (memcmp(&addr, &r->master, sizeof(addr)) != 0) {
			r->master = addr;
			r->epoch++;
		}
		r->resolve = false;
		pthread_mutex_unlock(&r->lock);
	}
	rc_conn *c = rc_conn_open(&addr, r->tls, deadline, err, errlen);
	if (c && handshake(r, c, deadline, err, errlen) != VBX_OK) {
		rc_conn_close(c);
		c = NULL;
	}
	if (!c && r->cfg.nsentinels)
		rc_need_resolve(r);
	return c;
}

/* Wait for a free slot until deadline; the lock is held. */
static rc_slot *take_slot(rcache *r, int64_t deadline)
{
	for (;;) {
		if (r->stopping)
			return NULL;
		for (int i = 0; i < r->cfg.pool; i++)
			if (!r->slots[i].busy) {
				r->slots[i].busy = true;
				return &r->slots[i];
			}
		struct timespec ts = {.tv_sec = deadline / 1000,
		                      .tv_nsec = (deadline % 1000) * 1000000};
		if (pthread_cond_timedwait(&r->freed, &r->lock, &ts) ==
		    ETIMEDOUT)
			return NULL;
	}
}

rc_slot *rc_acquire(rcache *r, int64_t deadline, int *rc_out)
{
	int64_t now = rc_now_ms();
	rc_slot *s;
	uint64_t epoch;

	*rc_out = VBX_EUNAVAIL;
	pthread_mutex_lock(&r->lock);
	if (r->down && now < r->next_try) {
		pthread_mutex_unlock(&r->lock);
		return NULL; /* fail fast during an outage */
	}
	if (r->down) /* this caller probes; the others keep failing fast */
		r->next_try = now + r->backoff_ms;
	s = take_slot(r, deadline);
	epoch = r->epoch;
	pthread_mutex_unlock(&r->lock);
	if (!s)
		return NULL;
	if (s->conn && s->epoch != epoch) {
		rc_conn_close(s->conn);
		s->conn = NULL;
	}
	s->fresh = !s->conn;
	if (!s->conn) {
		char err[RC_ERR_MAX];
		int64_t cd = rc_now_ms() + r->cfg.connect_timeout_ms;
		s->conn = rc_connect_master(r, cd < deadline ? cd : deadline,
		                            err, sizeof(err));
		if (!s->conn) {
			rc_release(r, s, true, err);
			return NULL;
		}
		s->epoch = epoch;
	}
	*rc_out = VBX_OK;
	return s;
}

void rc_release(rcache *r, rc_slot *s, bool failed, const char *why)
{
	bool was_down = false;

	if (failed) {
		rc_conn_close(s->conn);
		s->conn = NULL;
		rc_note_failure(r, why);
	}
	pthread_mutex_lock(&r->lock);
	s->busy = false;
	pthread_cond_signal(&r->freed);
	/* The usual case, a success while up, costs no second lock. */
	was_down = !failed && r->down;
	pthread_mutex_unlock(&r->lock);
	if (was_down)
		rc_note_success(r);
}

/* One try on a pooled connection. *stale: it broke at once on a
 * connection opened earlier (the server restarted or closed it while
 * idle), so the command never ran and may be sent again. */
static int command_once(rcache *r, redisReply **out, int argc,
                        const char **argv, const size_t *lens, int64_t deadline,
                        bool *stale)
{
	char err[RC_ERR_MAX];
	int rc;
	rc_slot *s = rc_acquire(r, deadline, &rc);

	*out = NULL;
	*stale = false;
	if (!s)
		return rc;
	rc = rc_conn_call(s->conn, out, deadline, err, sizeof(err), argc, argv,
	                  lens);
	if (rc == VBX_EUNAVAIL && !s->fresh && rc_conn_fresh_close(s->conn)) {
		*stale = true;
		rc_conn_close(s->conn);
		s->conn = NULL;
		pthread_mutex_lock(&r->lock);
		s->busy = false;
		pthread_cond_signal(&r->freed);
		pthread_mutex_unlock(&r->lock);
		return VBX_EUNAVAIL;
	}
	if (rc != VBX_OK) {
		rc_release(r, s, true, err);
		return VBX_EUNAVAIL;
	}
	if ((*out)->type == REDIS_REPLY_ERROR &&
	    strncmp((*out)->str, "READONLY", 8) == 0) {
		/* The master we knew was demoted: find the new one. */
		rc_need_resolve(r);
		rc_release(r, s, true, "the server became a replica");
		freeReplyObject(*out);
		*out = NULL;
		return VBX_EUNAVAIL;
	}
	rc_release(r, s, false, NULL);
	return VBX_OK;
}

int rc_command(rcache *r, redisReply **out, int argc, const char **argv,
               const size_t *lens)
{
	int64_t deadline = rc_now_ms() + r->cfg.timeout_ms;
	bool stale = false;
	int rc = command_once(r, out, argc, argv, lens, deadline, &stale);

	/* Every idle connection may be stale the same way: one more try
	 * per pooled connection at most, each on a fresh one if need be. */
	for (int i = 0; stale && i < r->cfg.pool; i++)
		rc = command_once(r, out, argc, argv, lens, deadline, &stale);
	return rc;
}

int rc_key(const rcache *r, const char *key, const char *suffix, char *buf,
           size_t len)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n >= VBX_CACHE_KEY_MAX)
		return VBX_EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] <= 0x20 ||
		    (unsigned char)key[i] >= 0x7f)
			return VBX_EINVAL;
	int w = snprintf(buf, len, "%s%s%s", r->cfg.prefix, key,
	                 suffix ? suffix : "");
	return w < 0 || (size_t)w >= len ? VBX_EINVAL : VBX_OK;
}
