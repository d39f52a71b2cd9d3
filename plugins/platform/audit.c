/* SPDX-License-Identifier: Apache-2.0 */
/*
 * audit.c - the audit rows of environments, variables and terminals
 * (audit.h). Details are built with cJSON so that names with quotes stay
 * valid JSON.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define DETAIL_MAX (sizeof(((vbx_audit *)0)->detail) - 1)

/* o as compact JSON in out (DETAIL_MAX + 1 bytes); false when it does
 * not fit (or out of memory), out then "{}". o is kept. */
static bool detail_of(const cJSON *o, char *out)
{
	char *s = cJSON_PrintUnformatted(o);
	bool fits = s && strlen(s) <= DETAIL_MAX;
	snprintf(out, DETAIL_MAX + 1, "%s", fits ? s : "{}");
	cJSON_free(s);
	return fits;
}

void vbx__audit_env(vbx_request *r, const char *action, const vbx_env *e,
                    const char *changed)
{
	char detail[DETAIL_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", e->status);
	if (changed)
		cJSON_AddStringToObject(o, "changed", changed);
	cJSON_AddStringToObject(o, "name", e->name);
	if (!detail_of(o, detail)) { /* a long name: the id names it too */
		cJSON_DeleteItemFromObject(o, "name");
		detail_of(o, detail);
	}
	cJSON_Delete(o);
	vbx__api_audit(r, action, "environment", e->id, detail);
}

void vbx__audit_env_policy(const char *action, const char *env_id,
                           const char *status, const char *reason)
{
	char detail[DETAIL_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddStringToObject(o, "reason", reason);
	if (!detail_of(o, detail)) {
		cJSON_DeleteItemFromObject(o, "reason");
		detail_of(o, detail);
	}
	cJSON_Delete(o);
	vbx__audit_write("", action, "environment", env_id, "", detail);
}

void vbx__audit_var(vbx_request *r, const char *action, const char *env_id,
                    const vbx_env_var *v, bool created)
{
	char detail[DETAIL_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", v->key);
	if (strcmp(action, "environment.variable.set") == 0) {
		cJSON_AddBoolToObject(o, "created", created);
		cJSON_AddBoolToObject(o, "secret", v->secret);
	}
	detail_of(o, detail); /* a name is at most 128 bytes: it fits */
	cJSON_Delete(o);
	vbx__api_audit(r, action, "environment", env_id, detail);
}

void vbx__audit_port(vbx_request *r, const char *action, const char *env_id,
                     const vbx_env_port *p)
{
	char detail[64];
	snprintf(detail, sizeof(detail), "{\"port\":%d,\"protocol\":\"%s\"}",
	         p->port, p->protocol);
	vbx__api_audit(r, action, "environment", env_id, detail);
}

/* ---- terminals ---- */

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *actor_of(vbx_ws *ws)
{
	const vbx_principal *p = vbx_ws_principal(ws);
	return p ? p->user_id : "";
}

void vbx__term_audit_begin(vbx__term_audit *a, vbx_ws *ws, const char *env_id,
                           const char *session)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->actor, sizeof(a->actor), "%.36s", actor_of(ws));
	snprintf(a->env_id, sizeof(a->env_id), "%.36s", env_id);
	snprintf(a->session, sizeof(a->session), "%.36s", session);
	snprintf(a->client, sizeof(a->client), "%s", vbx_ws_client_addr(ws));
	a->opened_ms = clock_ms(CLOCK_REALTIME);
	a->opened_mono = clock_ms(CLOCK_MONOTONIC);
}

void vbx__term_audit_open(const vbx__term_audit *a, bool joined)
{
	char detail[DETAIL_MAX + 1];
	snprintf(detail, sizeof(detail), "{\"session\":\"%s\",\"joined\":%s}",
	         a->session, joined ? "true" : "false");
	vbx__audit_write(a->actor, "terminal.open", "environment", a->env_id,
	                 a->client, detail);
}

typedef struct close_row {
	vbx__term_audit a;
	int code;
	int64_t duration_ms;
} close_row;

static void write_close(void *ud)
{
	close_row *c = ud;
	char detail[DETAIL_MAX + 1], at[VBX_TIME_LEN];
	vbx_time_format(c->a.opened_ms, at, sizeof(at));
	snprintf(detail, sizeof(detail),
	         "{\"session\":\"%s\",\"openedAt\":\"%s\",\"durationMs\":%lld,"
	         "\"closeCode\":%d}",
	         c->a.session, at, (long long)c->duration_ms, c->code);
	vbx__audit_write(c->a.actor, "terminal.close", "environment",
	                 c->a.env_id, c->a.client, detail);
	free(c);
}

void vbx__term_audit_close(const vbx__term_audit *a, int code)
{
	close_row *c = malloc(sizeof(*c));
	if (!c) {
		vbx_log_warn(vbx__platform,
		             "audit terminal.close of environment %s not "
		             "written: out of memory",
		             a->env_id);
		return;
	}
	c->a = *a;
	c->code = code;
	c->duration_ms = clock_ms(CLOCK_MONOTONIC) - a->opened_mono;
	/* Refused only while the daemon stops; then blocking is harmless
	 * and the row still gets written. */
	if (vbx_work_submit(vbx__platform, write_close, c) != VBX_OK)
		write_close(c);
}

void vbx__term_audit_refused(vbx_ws *ws, int rc)
{
	char detail[DETAIL_MAX + 1];
	const char *id = vbx_ws_param(ws, "id");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "reason", vbx_strerror(vbx__platform, rc));
	detail_of(o, detail);
	cJSON_Delete(o);
	vbx__audit_write(actor_of(ws), "terminal.refused", "environment",
	                 id ? id : "", vbx_ws_client_addr(ws), detail);
}

/* ---- exec sockets ---- */

/* argv0 is the user's text: through cJSON, cut so the row fits. */
static void exec_detail(cJSON *o, const char *argv0, char *detail)
{
	char cut[65];
	snprintf(cut, sizeof(cut), "%s", argv0);
	cJSON_AddStringToObject(o, "argv0", cut);
	detail_of(o, detail);
	cJSON_Delete(o);
}

void vbx__exec_audit_start(const vbx__term_audit *a, const char *argv0,
                           size_t argc, int rc)
{
	char detail[DETAIL_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "argc", (double)argc);
	if (rc != VBX_OK)
		cJSON_AddStringToObject(o, "error",
		                        vbx_strerror(vbx__platform, rc));
	exec_detail(o, argv0, detail);
	vbx__audit_write(a->actor, "exec.start", "environment", a->env_id,
	                 a->client, detail);
}

typedef struct exec_close_row {
	vbx__term_audit a;
	char argv0[65];
	int exit_code, code;
	int64_t duration_ms;
} exec_close_row;

static void write_exec_close(void *ud)
{
	exec_close_row *c = ud;
	char detail[DETAIL_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "exitCode", c->exit_code);
	cJSON_AddNumberToObject(o, "closeCode", c->code);
	cJSON_AddNumberToObject(o, "durationMs", (double)c->duration_ms);
	exec_detail(o, c->argv0, detail);
	vbx__audit_write(c->a.actor, "exec.close", "environment", c->a.env_id,
	                 c->a.client, detail);
	free(c);
}

void vbx__exec_audit_close(const vbx__term_audit *a, const char *argv0,
                           int exit_code, int code)
{
	exec_close_row *c = malloc(sizeof(*c));
	if (!c) {
		vbx_log_warn(vbx__platform,
		             "audit exec.close of environment %s not written: "
		             "out of memory",
		             a->env_id);
		return;
	}
	c->a = *a;
	snprintf(c->argv0, sizeof(c->argv0), "%s", argv0);
	c->exit_code = exit_code;
	c->code = code;
	c->duration_ms = clock_ms(CLOCK_MONOTONIC) - a->opened_mono;
	if (vbx_work_submit(vbx__platform, write_exec_close, c) != VBX_OK)
		write_exec_close(c);
}

void vbx__exec_audit_refused(vbx_ws *ws, int rc)
{
	char detail[DETAIL_MAX + 1];
	const char *id = vbx_ws_param(ws, "id");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "reason", vbx_strerror(vbx__platform, rc));
	detail_of(o, detail);
	cJSON_Delete(o);
	vbx__audit_write(actor_of(ws), "exec.refused", "environment",
	                 id ? id : "", vbx_ws_client_addr(ws), detail);
}
