/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sentinel.c - Redis Sentinel: ask the sentinels, in order, where the
 * master of master_name is, and follow +switch-master on one of them so
 * that a failover is noticed before a call fails on the old master.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc.h"

#define RC_WATCH_POLL_MS 200

/* One sentinel's answer to SENTINEL get-master-addr-by-name. */
static int ask_one(rcache *r, const rc_addr *s, rc_addr *out, int64_t deadline,
                   char *err, size_t errlen)
{
	redisReply *rep = NULL;
	rc_conn *c = rc_conn_open(s, NULL, deadline, err, errlen);
	int rc = VBX_EUNAVAIL;

	if (!c)
		return VBX_EUNAVAIL;
	if (rc_conn_callv(c, &rep, deadline, err, errlen, "SENTINEL",
	                  "get-master-addr-by-name", r->cfg.master_name,
	                  NULL) == VBX_OK) {
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[1]->type == REDIS_REPLY_STRING &&
		    rep->element[0]->len < sizeof(out->host)) {
			memset(out, 0, sizeof(*out));
			memcpy(out->host, rep->element[0]->str,
			       rep->element[0]->len);
			out->port = atoi(rep->element[1]->str);
			rc = out->port > 0 && out->port < 65536 ? VBX_OK
			                                        : VBX_EUNAVAIL;
		}
		if (rc != VBX_OK)
			snprintf(err, errlen, "it does not know master \"%s\"",
			         r->cfg.master_name);
	}
	freeReplyObject(rep);
	rc_conn_close(c);
	return rc;
}

int rc_sentinel_master(rcache *r, rc_addr *out, int64_t deadline, char *err,
                       size_t errlen)
{
	char e[RC_ERR_MAX] = "", where[RC_HOST_MAX + 16];

	for (size_t i = 0; i < r->cfg.nsentinels; i++) {
		if (ask_one(r, &r->cfg.sentinels[i], out, deadline, e,
		            sizeof(e)) == VBX_OK)
			return VBX_OK;
		rc_addr_str(&r->cfg.sentinels[i], where, sizeof(where));
		vbx_log_debug(r->self, "redis-cache: sentinel %s: %s", where,
		              e);
	}
	snprintf(err, errlen, "no sentinel knows master \"%s\" (last: %s)",
	         r->cfg.master_name, e);
	return VBX_EUNAVAIL;
}

static bool stopping(rcache *r)
{
	pthread_mutex_lock(&r->lock);
	bool s = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* "+switch-master" payload: "<name> <old ip> <old port> <new ip> <new
 * port>"; only our master's counts. */
static void on_switch(rcache *r, const char *payload)
{
	char name[256], oldh[RC_HOST_MAX], newh[RC_HOST_MAX];
	int oldp, newp;

	if (sscanf(payload, "%255s %255s %d %255s %d", name, oldh, &oldp, newh,
	           &newp) != 5 ||
	    strcmp(name, r->cfg.master_name) != 0)
		return;
	vbx_log_info(r->self,
	             "redis-cache: sentinel: master \"%s\" moved from %s:%d "
	             "to %s:%d",
	             name, oldh, oldp, newh, newp);
	rc_need_resolve(r);
}

/* Watch one sentinel until it breaks or the plugin stops. */
static void watch_one(rcache *r, const rc_addr *s)
{
	char err[RC_ERR_MAX];
	rc_conn *c =
	        rc_conn_open(s, NULL, rc_now_ms() + r->cfg.connect_timeout_ms,
	                     err, sizeof(err));
	const char *argv[] = {"SUBSCRIBE", "+switch-master"};
	const size_t lens[] = {9, 14};

	if (!c ||
	    rc_conn_send(c, 2, argv, lens, rc_now_ms() + r->cfg.timeout_ms, err,
	                 sizeof(err)) != VBX_OK) {
		rc_conn_close(c);
		return;
	}
	while (!stopping(r)) {
		redisReply *rep = NULL;
		int rc = rc_conn_read(c, &rep, rc_now_ms() + RC_WATCH_POLL_MS,
		                      err, sizeof(err));
		if (rc == VBX_EUNAVAIL)
			break;
		if (rep && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements == 3 && rep->element[2]->str &&
		    rep->element[0]->str &&
		    strcmp(rep->element[0]->str, "message") == 0)
			on_switch(r, rep->element[2]->str);
		freeReplyObject(rep);
	}
	rc_conn_close(c);
}

static void *watch_main(void *arg)
{
	rcache *r = arg;

	for (size_t i = 0; !stopping(r); i = (i + 1) % r->cfg.nsentinels) {
		watch_one(r, &r->cfg.sentinels[i]);
		/* A sentinel that went away: the next one, after a pause. */
		for (int t = 0; t < 10 && !stopping(r); t++)
			usleep(50 * 1000);
	}
	return NULL;
}

int rc_sentinel_watch_start(rcache *r)
{
	if (!r->cfg.nsentinels)
		return VBX_OK;
	if (pthread_create(&r->watch_thread, NULL, watch_main, r) != 0)
		return VBX_ERR;
	r->watch_running = true;
	return VBX_OK;
}

void rc_sentinel_watch_stop(rcache *r)
{
	if (r->watch_running) {
		pthread_join(r->watch_thread, NULL);
		r->watch_running = false;
	}
}
