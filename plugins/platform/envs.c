/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envs.c - /api/v1/environments: create, read, list, change and
 * delete environments; start, stop and restart them; their stats and
 * logs. The authorize hook decides who may do what, the store keeps the
 * rows and their status, the runtime runs the containers.
 *
 * The actions are synchronous: a handler runs on a worker, so it waits
 * for the runtime and answers with the environment as the action left it
 * (running, or error with the reason). Every status change goes through
 * store_env_transition (compare-and-set) and is published as env_status.
 */
#define _GNU_SOURCE /* asprintf */

#include <float.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "envs.h"
#include "metrics.h"

vbx__env_hooks vbx__envh;
static vbx_event *env_status_ev;

static const char *const create_fields[] = {
        "projectId", "name", "slug", "image", "cpuLimit", "memoryLimit", NULL};
static const char *const patch_fields[] = {"name",     "slug",        "image",
                                           "cpuLimit", "memoryLimit", NULL};

/* ---- config, JSON, events ---- */

typedef vbx__env_limits env_limits;

/* The quotas of the platform's current config block. */
static env_limits limits(void)
{
	return vbx__env_limits_get();
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* key: the time, or null when the store has none (0). */
static void add_time_or_null(cJSON *o, const char *key, int64_t ms)
{
	if (ms)
		vbx__api_add_time(o, key, ms);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *env_json(const vbx_env *e)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "projectId", e->project_id);
	cJSON_AddStringToObject(o, "name", e->name);
	cJSON_AddStringToObject(o, "slug", e->slug);
	cJSON_AddStringToObject(o, "image", e->image);
	cJSON_AddNumberToObject(o, "cpuLimit", round(e->cpu_limit * 100) / 100);
	cJSON_AddNumberToObject(o, "memoryLimit", e->memory_limit);
	cJSON_AddStringToObject(o, "status", e->status);
	vbx__api_add_id(o, "statusReason", e->status_reason);
	add_time_or_null(o, "createdAt", e->created_at);
	add_time_or_null(o, "updatedAt", e->updated_at);
	add_time_or_null(o, "startedAt", e->started_at);
	add_time_or_null(o, "stoppedAt", e->stopped_at);
	return o;
}

static int answer_env(vbx_request *r, int status, const vbx_env *e)
{
	return vbx__api_respond(r, status, env_json(e));
}

static void publish_status(const vbx_env *e)
{
	vbx_env_status_event ev = {.version = 1};
	if (!env_status_ev)
		return;
	snprintf(ev.env_id, sizeof(ev.env_id), "%s", e->id);
	snprintf(ev.project_id, sizeof(ev.project_id), "%s", e->project_id);
	snprintf(ev.status, sizeof(ev.status), "%s", e->status);
	snprintf(ev.reason, sizeof(ev.reason), "%s", e->status_reason);
	ev.at_ms = e->status_at ? e->status_at : now_ms();
	int rc = vbx_event_env_status_publish(env_status_ev, &ev);
	if (rc != VBX_OK)
		vbx_log_warn(
		        vbx__platform,
		        "environment %s is %s, but the env_status event was "
		        "not published: %s",
		        e->id, e->status, vbx_strerror(vbx__platform, rc));
}

/*
 * Move e from a status in `from` to `to` (container: NULL keeps it, ""
 * clears it). On VBX_OK and VBX_ESTATE e becomes the row as it is now; a
 * change of status is published.
 */
static int move(vbx_env *e, unsigned from, const char *to, const char *reason,
                const char *container)
{
	vbx_env now = {0};
	char was[sizeof(e->status)];
	bool changes = strcmp(e->status, to) != 0;
	int rc = vbx_hook_store_env_transition_run(
	        vbx__envh.transition, e->id, from, to, reason ? reason : "",
	        container, &now);
	if (rc != VBX_OK && rc != VBX_ESTATE)
		return rc;
	memcpy(was, e->status, sizeof(was));
	*e = now;
	if (rc == VBX_OK && changes) {
		vbx__metric_transition(was, e->status);
		publish_status(e);
	}
	return rc;
}

/* The same for lifecycle.c (envs.h). */
int vbx__env_move(vbx_env *e, unsigned from, const char *to, const char *reason,
                  const char *container)
{
	return move(e, from, to, reason, container);
}

/* ---- answers ---- */

int vbx__env_store_fail(vbx_request *r, const vbx_hook *h, int rc,
                        const char *id)
{
	return vbx__api_store_fail_id(r, h, rc, "environment", id, NULL);
}

/* 503 when no plugin provides the runtime hooks; else VBX_OK. */
static int runtime_missing(vbx_request *r)
{
	if (vbx__envh.rt_create->count > 0)
		return VBX_OK;
	vbx_resp_error(r, 503, "UNAVAILABLE",
	               "no plugin provides the \"runtime\" capability; load "
	               "one (docker-runtime) in the daemon's config");
	return VBX_EUNAVAIL;
}

/* Answer a runtime hook's failure rc about e. */
static int runtime_fail(vbx_request *r, int rc, const vbx_env *e,
                        const char *what)
{
	switch (rc) {
	case VBX_EUNAVAIL:
		if (runtime_missing(r) != VBX_OK)
			return rc;
		vbx_resp_error(r, 503, "UNAVAILABLE",
		               "the container runtime is unavailable (is the "
		               "Docker engine running?); try again later");
		break;
	case VBX_ETIMEDOUT:
		vbx_resp_error(r, 504, "UNAVAILABLE",
		               "the container runtime did not answer in time "
		               "for %s of environment %s",
		               what, e->id);
		break;
	case VBX_ESTATE:
	case VBX_ENOTFOUND:
		vbx_resp_error(r, 409, "CONFLICT",
		               "environment %s is not running (status %s); "
		               "start it first",
		               e->id, e->status);
		break;
	default:
		vbx_log_error(
		        vbx__platform,
		        "%s %s: the runtime failed on %s of environment %s: "
		        "%s",
		        vbx_req_method(r), vbx_req_path(r), what, e->id,
		        vbx_strerror(vbx__platform, rc));
		vbx_resp_error(
		        r, 500, "INTERNAL_ERROR",
		        "the runtime failed on %s of environment %s; see "
		        "the daemon's log",
		        what, e->id);
		rc = VBX_ERR;
		break;
	}
	return rc;
}

/* 409: the action needs another status. */
static int wrong_state(vbx_request *r, const vbx_env *e, const char *action,
                       const char *need)
{
	vbx_resp_error(r, 409, "CONFLICT",
	               "environment %s is %s; %s needs it %s", e->id, e->status,
	               action, need);
	return VBX_ESTATE;
}

/* ---- loading one ---- */

int vbx__env_for(vbx_request *r, const char *action, vbx_env *e)
{
	const char *id = vbx__api_path_id(r, "id", "environment");
	if (!id)
		return VBX_ENOTFOUND;
	/* Read once: authorize decides on this row (its project's owners). */
	int rc = vbx__api_authz_ready(r);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_hook_store_env_get_run(vbx__envh.get, id, e);
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.get, rc, id);
	vbx_resource_row row = vbx__api_row(e->owner_id, e->team_id);
	return vbx__api_authorize_row(r, action, "environment", id, &row);
}

void vbx__env_settings_changed(const vbx_env *e)
{
	unsigned bit = vbx_env_status_bit(e->status);
	if (!e->container_id[0] || !(bit & (VBX_ENV_STOPPED | VBX_ENV_ERROR)))
		return;
	int rc = vbx_hook_runtime_remove_run(vbx__envh.rt_remove,
	                                     e->container_id);
	/* Forgotten even when it stays: a start then creates a container
	 * with the new settings (runtime_create replaces one left under the
	 * environment's name), rather than start the old one as it is. */
	if (rc != VBX_OK)
		vbx_log_warn(
		        vbx__platform,
		        "environment %s: its container %.12s was not removed "
		        "after a change of settings (%s); the next start "
		        "replaces it",
		        e->id, e->container_id,
		        vbx_strerror(vbx__platform, rc));
	vbx_env now = *e;
	rc = move(&now, bit, e->status, e->status_reason, "");
	if (rc != VBX_OK && rc != VBX_ESTATE)
		vbx_log_warn(vbx__platform,
		             "environment %s: its old container is still "
		             "recorded: %s",
		             e->id, vbx_strerror(vbx__platform, rc));
}

/* ---- request bodies ---- */

typedef struct env_fields {
	const char *name, *image, *project;
	char slug[VBX__API_SLUG_MAX + 1];
	double cpu;
	long long memory;
	bool has_cpu, has_memory;
} env_fields;

static void cpu_field(vbx_request *r, const cJSON *body, int required,
                      const env_limits *l, env_fields *f)
{
	double v;
	if (vbx_json_number(r, body, "cpuLimit", required, -DBL_MAX, DBL_MAX,
	                    &v) != VBX_OK)
		return;
	if (v <= 0)
		vbx_field_error(r, "cpuLimit", "must be more than 0 cores");
	else if (v > l->max_cpu)
		vbx_field_error(r, "cpuLimit",
		                "must be at most %d cores "
		                "(environments.max_cpu)",
		                l->max_cpu);
	else if (!vbx__env_cpu_hundredths(v))
		vbx_field_error(r, "cpuLimit",
		                "must be in hundredths of a core (0.5, 1.25)");
	else
		f->cpu = round(v * 100) / 100, f->has_cpu = true;
}

static void memory_field(vbx_request *r, const cJSON *body, int required,
                         const env_limits *l, env_fields *f)
{
	long long v;
	if (vbx_json_int(r, body, "memoryLimit", required, LLONG_MIN, LLONG_MAX,
	                 &v) != VBX_OK)
		return;
	if (v < VBX__ENV_MEMORY_MIN)
		vbx_field_error(r, "memoryLimit", "must be at least %d MiB",
		                VBX__ENV_MEMORY_MIN);
	else if (v > l->max_memory_mib)
		vbx_field_error(r, "memoryLimit",
		                "must be at most %d MiB "
		                "(environments.max_memory)",
		                l->max_memory_mib);
	else
		f->memory = v, f->has_memory = true;
}

static void image_field(vbx_request *r, const cJSON *body, int required,
                        env_fields *f)
{
	const char *s;
	if (vbx_json_string(r, body, "image", required, 1, VBX__ENV_IMAGE_MAX,
	                    &s) != VBX_OK)
		return;
	char why[512] = "";
	if (!vbx__env_image_ok(s))
		vbx_field_error(r, "image",
		                "must be an image reference such as "
		                "\"debian:12\" or \"registry/name:tag\"");
	/* the runtime's allow-list, now rather than at the first start */
	else if (vbx_hook_runtime_image_check_run(vbx__envh.rt_image_check, s,
	                                          why, sizeof(why)) != VBX_OK)
		vbx_field_error(r, "image", "%s", why);
	else
		f->image = s;
}

/* Read the body of a POST (create) or PATCH into f. */
static int env_body(vbx_request *r, bool create, env_fields *f)
{
	cJSON *body;
	env_limits l = limits();
	int req = create ? VBX_REQUIRED : VBX_OPTIONAL, rc;
	if ((rc = vbx_req_json(r, &body)) != VBX_OK)
		return rc;
	vbx_json_known_fields(r, body, create ? create_fields : patch_fields);
	if (create &&
	    vbx_json_string(r, body, "projectId", VBX_REQUIRED, 1, 64,
	                    &f->project) == VBX_OK &&
	    !vbx_uuid_ok(f->project))
		vbx_field_error(r, "projectId", "must be a UUID");
	vbx__api_name_field(r, body, req, &f->name);
	vbx__api_slug_field(r, body, create ? f->name : NULL, f->slug);
	image_field(r, body, req, f);
	cpu_field(r, body, req, &l, f);
	memory_field(r, body, req, &l, f);
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	return VBX_OK;
}

static void apply_fields(vbx_env *e, const env_fields *f)
{
	if (f->name)
		snprintf(e->name, sizeof(e->name), "%s", f->name);
	if (f->slug[0])
		snprintf(e->slug, sizeof(e->slug), "%s", f->slug);
	if (f->image)
		snprintf(e->image, sizeof(e->image), "%s", f->image);
	if (f->has_cpu)
		e->cpu_limit = f->cpu;
	if (f->has_memory)
		e->memory_limit = (int)f->memory;
}

static int slug_taken(vbx_request *r, const vbx_env *e)
{
	vbx_resp_error(r, 409, "CONFLICT",
	               "the project has an environment with the slug \"%s\" "
	               "already; choose another slug",
	               e->slug);
	return VBX_EEXIST;
}

/* ---- POST /api/v1/environments ---- */

/* 409 when count environments reach max (0: no quota). */
static int over_quota(vbx_request *r, const char *who, const char *team,
                      int max, const char *key)
{
	int64_t n = 0;
	if (max <= 0)
		return VBX_OK;
	int rc = vbx_hook_store_env_count_run(vbx__envh.count, who, team, &n);
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__envh.count, rc,
		                            "the count of environments", NULL);
	if (n < max)
		return VBX_OK;
	vbx_resp_error(r, 409, "CONFLICT",
	               "%s %d environments, the most %s allows; delete one "
	               "first or ask an admin to raise it",
	               team ? "the team has" : "you have", max, key);
	return VBX_EEXIST;
}

/* May the caller create an environment in project p, within quotas? */
static int may_create(vbx_request *r, const char *project_id, vbx_project *p)
{
	env_limits l = limits();
	/* Read once: authorize decides on this row. */
	int rc = vbx__api_authz_ready(r);
	if (rc != VBX_OK)
		return rc;
	rc = vbx_hook_store_project_get_run(vbx__api.project_get, project_id,
	                                    p);
	if (rc != VBX_OK)
		return vbx__api_store_fail_id(r, vbx__api.project_get, rc,
		                              "project", project_id, NULL);
	vbx_resource_row row = vbx__api_row(p->owner_id, p->team_id);
	rc = vbx__api_authorize_row(r, "environment.create", "project",
	                            project_id, &row);
	if (rc != VBX_OK)
		return rc;
	rc = over_quota(r, vbx__api_user_id(r), NULL, l.per_user,
	                "environments.max_per_user");
	if (rc == VBX_OK && p->team_id[0])
		rc = over_quota(r, NULL, p->team_id, l.per_team,
		                "environments.max_per_team");
	return rc;
}

static int create_env(void *ud, vbx_request *r)
{
	env_fields f = {0};
	vbx_project p = {0};
	vbx_env e = {0};
	int rc = env_body(r, true, &f);
	if (rc != VBX_OK || (rc = may_create(r, f.project, &p)) != VBX_OK)
		return rc;
	snprintf(e.project_id, sizeof(e.project_id), "%s", p.id);
	snprintf(e.created_by, sizeof(e.created_by), "%.36s",
	         vbx__api_user_id(r));
	apply_fields(&e, &f);
	rc = vbx_hook_store_env_create_run(vbx__envh.create, &e);
	if (rc == VBX_EEXIST)
		return slug_taken(r, &e);
	if (rc != VBX_OK)
		return vbx_resp_store_error(r, vbx__envh.create, rc,
		                            "the new environment", NULL);
	vbx__audit_env(r, "environment.create", &e, NULL);
	return answer_env(r, 201, &e);
}

/* ---- GET /api/v1/environments ---- */

static int add_env_row(void *ctx, const vbx_env *e)
{
	return vbx__api_add_row(ctx, env_json(e));
}

/* ?projectId=: a UUID of a project the caller may read; NULL if absent. */
static int project_query(vbx_request *r, const char **out)
{
	const char *id = vbx_req_query(r, "projectId");
	*out = NULL;
	if (!id)
		return VBX_OK;
	if (!vbx_uuid_ok(id)) {
		vbx_field_error(r, "projectId", "must be a UUID");
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	*out = id;
	return vbx__api_authorize(r, "read", "project", id);
}

/*
 * Without ?projectId= a user who is not an instance admin gets the
 * environments of every project it may read: those it owns or whose team
 * it belongs to, as for GET /api/v1/projects.
 */
static int list_envs(void *ud, vbx_request *r)
{
	vbx_page pg;
	const char *project;
	int64_t total = 0;
	int rc = vbx__api_may_list(r);
	if (rc != VBX_OK || (rc = vbx_req_page(r, &pg)) != VBX_OK ||
	    (rc = project_query(r, &project)) != VBX_OK)
		return rc;
	const char *user =
	        project || vbx__api_is_admin(r) ? NULL : vbx__api_user_id(r);
	cJSON *data = cJSON_CreateArray();
	if (!data)
		return VBX_ENOMEM;
	rc = vbx_hook_store_env_list_run(vbx__envh.list, project, user,
	                                 VBX_ENV_ANY, &pg, add_env_row, data,
	                                 &total);
	if (rc != VBX_OK) {
		cJSON_Delete(data);
		return vbx_resp_store_error(r, vbx__envh.list, rc,
		                            "the list of environments", NULL);
	}
	return vbx__api_respond(r, 200, vbx_page_body(r, data, &pg, total));
}

/* ---- /api/v1/environments/{id} ---- */

static int get_env(void *ud, vbx_request *r)
{
	vbx_env e;
	int rc = vbx__env_for(r, "read", &e);
	return rc != VBX_OK ? rc : answer_env(r, 200, &e);
}

static bool settings_differ(const vbx_env *a, const vbx_env *b)
{
	return strcmp(a->image, b->image) != 0 ||
	       fabs(a->cpu_limit - b->cpu_limit) > 0.001 ||
	       a->memory_limit != b->memory_limit;
}

/* Which fields of an update changed, as a comma list for the audit row
 * ("" when none did). */
static void fields_changed(const vbx_env *a, const vbx_env *b, char *out,
                           size_t len)
{
	const struct {
		const char *name;
		bool differ;
	} f[] = {
	        {"name", strcmp(a->name, b->name) != 0},
	        {"slug", strcmp(a->slug, b->slug) != 0},
	        {"image", strcmp(a->image, b->image) != 0},
	        {"cpuLimit", fabs(a->cpu_limit - b->cpu_limit) > 0.001},
	        {"memoryLimit", a->memory_limit != b->memory_limit},
	};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++)
		if (f[i].differ && n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s",
			                      n ? "," : "", f[i].name);
}

static int update_env(void *ud, vbx_request *r)
{
	vbx_env e, before;
	env_fields f = {0};
	int rc = vbx__env_for(r, "update", &e);
	if (rc != VBX_OK || (rc = env_body(r, false, &f)) != VBX_OK)
		return rc;
	before = e;
	apply_fields(&e, &f);
	rc = vbx_hook_store_env_update_run(vbx__envh.update, &e);
	if (rc == VBX_EEXIST)
		return slug_taken(r, &e);
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.update, rc, e.id);
	if (settings_differ(&before, &e)) {
		vbx__env_settings_changed(&e);
		vbx_hook_store_env_get_run(vbx__envh.get, before.id, &e);
	}
	char changed[80];
	fields_changed(&before, &e, changed, sizeof(changed));
	vbx__audit_env(r, "environment.update", &e, changed);
	return answer_env(r, 200, &e);
}

/* ?keepWorkspace=true|false (absent: false); 400 for anything else. */
static int keep_query(vbx_request *r, bool *keep)
{
	const char *v = vbx_req_query(r, "keepWorkspace");
	*keep = v && strcmp(v, "true") == 0;
	if (!v || *keep || strcmp(v, "false") == 0)
		return VBX_OK;
	vbx_resp_error(r, 400, "VALIDATION_ERROR",
	               "keepWorkspace: expected true or false, got \"%.40s\"",
	               v);
	return VBX_EINVAL;
}

/* Remove what the engine holds of e: its containers, its network, and
 * its workspace unless keep (then kept for an admin). Answers a
 * failure. Without a runtime there is nothing to remove, but nothing
 * can be kept either. */
static int purge_env(vbx_request *r, const vbx_env *e, bool keep)
{
	char why[256] = "";
	unsigned what = VBX_RUNTIME_CONTAINERS | VBX_RUNTIME_NETWORK;
	if (vbx__envh.rt_create->count == 0)
		return keep ? runtime_missing(r) : VBX_OK;
	int rc = keep ? vbx_hook_runtime_workspace_keep_run(vbx__envh.rt_keep,
	                                                    e, why, sizeof(why))
	              : VBX_OK;
	if (rc == VBX_ENOTFOUND) /* it never had one: nothing to keep */
		rc = VBX_OK;
	if (rc == VBX_OK)
		rc = vbx_hook_runtime_env_purge_run(
		        vbx__envh.rt_purge, e->id,
		        what | (keep ? 0 : VBX_RUNTIME_WORKSPACE), why,
		        sizeof(why));
	bool down = rc == VBX_EUNAVAIL || rc == VBX_ETIMEDOUT;
	if (down && !keep) {
		/* nothing of it runs: the reconcile pass removes the rest
		 * once the engine answers (after orphan_grace) */
		vbx_log_warn(vbx__platform,
		             "environment %s: its network and workspace were "
		             "not removed (%s); the reconcile pass removes "
		             "them when the engine answers",
		             e->id,
		             why[0] ? why : vbx_strerror(vbx__platform, rc));
		return VBX_OK;
	}
	if (rc == VBX_OK || down)
		return rc == VBX_OK ? rc : runtime_fail(r, rc, e, "the delete");
	vbx_log_error(vbx__platform, "environment %s: %s", e->id, why);
	vbx_resp_error(r, 500, "INTERNAL_ERROR",
	               "environment %s was not deleted: %s", e->id,
	               why[0] ? why : vbx_strerror(vbx__platform, rc));
	return VBX_ERR;
}

static int delete_env(void *ud, vbx_request *r)
{
	vbx_env e;
	bool keep;
	int rc = vbx__env_for(r, "delete", &e);
	if (rc != VBX_OK || (rc = keep_query(r, &keep)) != VBX_OK)
		return rc;
	if (e.container_id[0]) {
		if ((rc = runtime_missing(r)) != VBX_OK)
			return rc;
		rc = vbx_hook_runtime_remove_run(vbx__envh.rt_remove,
		                                 e.container_id);
		if (rc != VBX_OK)
			return runtime_fail(r, rc, &e,
			                    "removing the container");
	}
	if ((rc = purge_env(r, &e, keep)) != VBX_OK)
		return rc;
	rc = vbx_hook_store_env_delete_run(vbx__envh.del, e.id);
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.del, rc, e.id);
	vbx__audit_env(r, "environment.delete", &e, NULL);
	return vbx__api_no_content(r);
}

/* ---- the actions ---- */

typedef struct str_list {
	char **v;
	size_t n, cap;
} str_list;

static void str_list_free(str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int add_variable(void *ctx, const vbx_env_var *var)
{
	str_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return VBX_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (asprintf(&l->v[l->n], "%s=%s", var->key, var->value) < 0)
		return VBX_ENOMEM;
	l->n++;
	return 0;
}

typedef struct port_list {
	vbx_env_port *v;
	size_t n, cap;
} port_list;

static int add_port(void *ctx, const vbx_env_port *p)
{
	port_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return VBX_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *p;
	return 0;
}

/* Create e's container from its settings, variables (revealed, here
 * only) and ports, and record it. why gets the reason of a failure;
 * *failed tells a failure to create (true: e goes to error) from the
 * store's answer to recording it (false: VBX_ESTATE stopped or
 * VBX_ENOTFOUND deleted meanwhile, or the store's error). */
static int create_container(vbx_env *e, char *why, size_t len, bool *failed)
{
	str_list vars = {0};
	port_list ports = {0};
	char id[VBX_CONTAINER_ID_LEN] = "";
	int rc = vbx_hook_store_env_var_list_run(vbx__envh.var_list, e->id, 1,
	                                         add_variable, &vars);
	if (rc != VBX_OK)
		snprintf(why, len,
		         "its variables could not be read (%s); a secret may "
		         "be sealed with a key no longer in secrets_key_file",
		         vbx_strerror(vbx__platform, rc));
	else if ((rc = vbx_hook_store_env_port_list_run(vbx__envh.port_list,
	                                                e->id, add_port,
	                                                &ports)) != VBX_OK)
		snprintf(why, len, "its ports could not be read (%s)",
		         vbx_strerror(vbx__platform, rc));
	if (rc == VBX_OK) {
		const vbx_container_spec spec = {
		        .env = e,
		        .variables = (const char *const *)vars.v,
		        .n_variables = vars.n,
		        .ports = ports.v,
		        .n_ports = ports.n,
		};
		rc = vbx_hook_runtime_create_run(vbx__envh.rt_create, &spec, id,
		                                 why, len);
	}
	str_list_free(&vars);
	free(ports.v);
	*failed = rc != VBX_OK;
	if (rc != VBX_OK)
		return rc;
	rc = move(e, VBX_ENV_STARTING, "starting", "", id);
	if (rc != VBX_OK) /* stopped or deleted meanwhile: not ours */
		vbx_hook_runtime_remove_run(vbx__envh.rt_remove, id);
	return rc;
}

static int record_host_port(void *ctx, const vbx_env_port *p)
{
	const vbx_env *e = ctx;
	vbx_hook_store_env_port_set_host_run(vbx__envh.port_set_host, e->id,
	                                     p->port, p->protocol,
	                                     p->host_port);
	return 0;
}

/* A stopped container publishes nothing. The ports are collected first:
 * a store may hold its connection for the whole list. */
static void clear_host_ports(const vbx_env *e)
{
	port_list ports = {0};
	vbx_hook_store_env_port_list_run(vbx__envh.port_list, e->id, add_port,
	                                 &ports);
	for (size_t i = 0; i < ports.n; i++)
		if (ports.v[i].host_port)
			vbx_hook_store_env_port_set_host_run(
			        vbx__envh.port_set_host, e->id, ports.v[i].port,
			        ports.v[i].protocol, 0);
	free(ports.v);
}

/* Start e (in starting), creating its container when it has none or
 * when the one it had is gone. *failed as for create_container: the
 * runtime's codes (VBX_ENOTFOUND for a failed pull, VBX_ESTATE for a
 * conflict in the engine) must not read as the store's "deleted" or
 * "stopped meanwhile". */
static int bring_up(vbx_env *e, char *why, size_t len, bool *failed)
{
	int rc = VBX_ENOTFOUND;
	*failed = false;
	for (int attempt = 0; attempt < 2 && rc == VBX_ENOTFOUND; attempt++) {
		if (!e->container_id[0] || attempt > 0) {
			rc = create_container(e, why, len, failed);
			if (rc != VBX_OK)
				return rc;
		}
		why[0] = '\0';
		rc = vbx_hook_runtime_start_run(vbx__envh.rt_start,
		                                e->container_id, why, len);
	}
	*failed = rc != VBX_OK;
	if (rc == VBX_OK)
		vbx_hook_runtime_ports_run(vbx__envh.rt_ports, e->container_id,
		                           record_host_port, e);
	return rc;
}

/* A reason for a failure the runtime did not explain. */
static void default_why(int rc, char *why, size_t len)
{
	if (why[0])
		return;
	if (rc == VBX_EUNAVAIL)
		snprintf(why, len, "the container runtime is unavailable");
	else if (rc == VBX_ETIMEDOUT)
		snprintf(why, len, "the container runtime timed out");
	else
		snprintf(why, len, "the container could not start: %s",
		         vbx_strerror(vbx__platform, rc));
}

/* After bring_up: e goes to running, or to error with why when the
 * start failed. Answers 200 with the environment in either case; the
 * store's answers to recording it as for any action. */
static int finish_start(vbx_request *r, vbx_env *e, int rc, bool failed,
                        char *why, size_t len)
{
	char container[VBX_CONTAINER_ID_LEN];
	snprintf(container, sizeof(container), "%s", e->container_id);
	if (rc == VBX_OK) {
		rc = move(e, VBX_ENV_STARTING, "running", "", NULL);
	} else if (failed) {
		default_why(rc, why, len);
		rc = move(e, VBX_ENV_STARTING, "error", why, NULL);
	}
	if (rc == VBX_ENOTFOUND) { /* deleted meanwhile */
		if (container[0])
			vbx_hook_runtime_remove_run(vbx__envh.rt_remove,
			                            container);
		return vbx__env_store_fail(r, vbx__envh.get, rc, e->id);
	}
	if (rc == VBX_ESTATE) {
		/* A stop came while it started: the stop may have run
		 * before the container did, so stop it again. */
		vbx_hook_store_env_get_run(vbx__envh.get, e->id, e);
		if (container[0] && (vbx_env_status_bit(e->status) &
		                     (VBX_ENV_STOPPING | VBX_ENV_STOPPED)))
			vbx_hook_runtime_stop_run(vbx__envh.rt_stop, container,
			                          limits().stop_timeout_s);
		return answer_env(r, 200, e);
	}
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.transition, rc, e->id);
	return answer_env(r, 200, e);
}

/* The common start of an action: the environment, a runtime, activity. */
static int action_env(vbx_request *r, vbx_env *e)
{
	int rc = vbx__env_for(r, "operate", e);
	if (rc != VBX_OK || (rc = runtime_missing(r)) != VBX_OK)
		return rc;
	vbx_hook_store_env_touch_run(vbx__envh.touch, e->id);
	return VBX_OK;
}

static int start_env(void *ud, vbx_request *r)
{
	vbx_env e;
	char why[256] = "";
	int rc = action_env(r, &e);
	if (rc != VBX_OK)
		return rc;
	rc = move(&e, VBX_ENV_STOPPED | VBX_ENV_ERROR, "starting", "", NULL);
	if (rc == VBX_ESTATE)
		return wrong_state(r, &e, "start", "stopped or in error");
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.transition, rc, e.id);
	bool failed;
	rc = bring_up(&e, why, sizeof(why), &failed);
	rc = finish_start(r, &e, rc, failed, why, sizeof(why));
	vbx__audit_env(r, "environment.start", &e, NULL);
	return rc;
}

static int stop_env(void *ud, vbx_request *r)
{
	vbx_env e;
	char why[256];
	int rc = action_env(r, &e);
	if (rc != VBX_OK)
		return rc;
	rc = move(&e, VBX_ENV_RUNNING | VBX_ENV_STARTING, "stopping", "", NULL);
	if (rc == VBX_ESTATE)
		return wrong_state(r, &e, "stop", "running or starting");
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.transition, rc, e.id);
	rc = e.container_id[0]
	             ? vbx_hook_runtime_stop_run(vbx__envh.rt_stop,
	                                         e.container_id,
	                                         limits().stop_timeout_s)
	             : VBX_OK;
	if (rc == VBX_OK || rc == VBX_ENOTFOUND) {
		clear_host_ports(&e);
		rc = move(&e, VBX_ENV_STOPPING, "stopped", "", NULL);
	} else {
		snprintf(why, sizeof(why),
		         "the container could not be stopped: %s",
		         vbx_strerror(vbx__platform, rc));
		rc = move(&e, VBX_ENV_STOPPING, "error", why, NULL);
	}
	vbx__audit_env(r, "environment.stop", &e, NULL);
	if (rc != VBX_OK && rc != VBX_ESTATE)
		return vbx__env_store_fail(r, vbx__envh.transition, rc, e.id);
	return answer_env(r, 200, &e);
}

static int restart_env(void *ud, vbx_request *r)
{
	vbx_env e;
	char why[256] = "";
	int rc = action_env(r, &e);
	if (rc != VBX_OK)
		return rc;
	rc = move(&e, VBX_ENV_RUNNING, "starting", "", NULL);
	if (rc == VBX_ESTATE)
		return wrong_state(r, &e, "restart", "running");
	if (rc != VBX_OK)
		return vbx__env_store_fail(r, vbx__envh.transition, rc, e.id);
	/* A new container, so that changed settings apply. */
	bool failed = false;
	if (e.container_id[0]) {
		rc = vbx_hook_runtime_remove_run(vbx__envh.rt_remove,
		                                 e.container_id);
		failed = rc != VBX_OK;
		if (rc == VBX_OK)
			rc = move(&e, VBX_ENV_STARTING, "starting", "", "");
		else
			snprintf(why, sizeof(why),
			         "the old container could not be removed: %s",
			         vbx_strerror(vbx__platform, rc));
	}
	if (rc == VBX_OK)
		rc = bring_up(&e, why, sizeof(why), &failed);
	rc = finish_start(r, &e, rc, failed, why, sizeof(why));
	vbx__audit_env(r, "environment.restart", &e, NULL);
	return rc;
}

/* ---- stats ---- */

static int running_container(vbx_request *r, const vbx_env *e, const char *what)
{
	if (strcmp(e->status, "running") == 0 && e->container_id[0])
		return VBX_OK;
	vbx_resp_error(r, 409, "CONFLICT",
	               "environment %s is %s; %s needs it running", e->id,
	               e->status, what);
	return VBX_ESTATE;
}

static int get_stats(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_container_stats s = {0};
	int rc = vbx__env_for(r, "read", &e);
	if (rc != VBX_OK || (rc = runtime_missing(r)) != VBX_OK ||
	    (rc = running_container(r, &e, "stats")) != VBX_OK)
		return rc;
	rc = vbx_hook_runtime_stats_run(vbx__envh.rt_stats, e.container_id, &s);
	if (rc != VBX_OK)
		return runtime_fail(r, rc, &e, "stats");
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return VBX_ENOMEM;
	cJSON_AddNumberToObject(o, "cpuPercent",
	                        round(s.cpu_percent * 100) / 100);
	cJSON_AddNumberToObject(o, "memoryBytes", (double)s.memory_bytes);
	cJSON_AddNumberToObject(o, "memoryLimitBytes",
	                        (double)s.memory_limit_bytes);
	cJSON_AddNumberToObject(o, "pids", (double)s.pids);
	cJSON_AddNumberToObject(o, "netRxBytes", (double)s.net_rx_bytes);
	cJSON_AddNumberToObject(o, "netTxBytes", (double)s.net_tx_bytes);
	vbx__api_add_time(o, "at", s.at ? s.at : now_ms());
	return vbx__api_respond(r, 200, o);
}

/* ---- logs ---- */

#define LOG_DEADLINE_MS 10000

typedef struct log_reader {
	cJSON *data;
	size_t lines, bytes;
	bool truncated;
	vbx__env_lines split;
} log_reader;

/* One line into the answer; past the line cap only "truncated". */
static int add_log_line(void *ctx, int channel, int64_t ms, const char *text)
{
	log_reader *lr = ctx;
	if (lr->lines >= VBX__ENV_TAIL_MAX) {
		lr->truncated = true;
		return 0;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return VBX_ENOMEM;
	cJSON_AddStringToObject(o, "stream",
	                        channel == VBX_STREAM_STDERR ? "stderr"
	                                                     : "stdout");
	add_time_or_null(o, "time", ms);
	cJSON_AddStringToObject(o, "line", text);
	cJSON_AddItemToArray(lr->data, o);
	lr->lines++;
	return 0;
}

/* Read the stream to its end, within the byte cap and the deadline. */
static int drain_logs(vbx_stream *s, log_reader *lr)
{
	char buf[16384];
	int64_t deadline = now_ms() + LOG_DEADLINE_MS;
	for (;;) {
		int channel = VBX_STREAM_STDOUT;
		ssize_t n = s->ops->read(s, buf, sizeof(buf), &channel);
		if (n == 0)
			return VBX_OK;
		if (n > 0) {
			lr->bytes += (size_t)n;
			int rc = vbx__env_lines_feed(&lr->split, channel, buf,
			                             (size_t)n);
			if (rc != VBX_OK)
				return rc;
			if (lr->bytes >= VBX__ENV_LOG_BYTES ||
			    (lr->truncated && lr->lines >= VBX__ENV_TAIL_MAX)) {
				lr->truncated = true;
				return VBX_OK;
			}
			continue;
		}
		if (n != VBX_EAGAIN)
			return (int)n;
		int64_t left = deadline - now_ms();
		struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			lr->truncated = true;
			return VBX_OK;
		}
	}
}

static int logs_query(vbx_request *r, vbx_logs_opts *o)
{
	int64_t since = 0;
	if (vbx__env_tail_parse(vbx_req_query(r, "tail"), &o->tail) != VBX_OK)
		vbx_field_error(r, "tail",
		                "must be an integer between 0 and %d",
		                VBX__ENV_TAIL_MAX);
	if (vbx__env_since_parse(vbx_req_query(r, "since"), &since) != VBX_OK)
		vbx_field_error(r, "since",
		                "must be an RFC 3339 time or Unix seconds");
	if (vbx_fields_failed(r)) {
		vbx_resp_validation(r);
		return VBX_EINVAL;
	}
	o->since = since;
	o->follow = false;
	o->timestamps = true;
	return VBX_OK;
}

static int answer_logs(vbx_request *r, log_reader *lr)
{
	cJSON *o = cJSON_CreateObject();
	if (!o) {
		cJSON_Delete(lr->data);
		return VBX_ENOMEM;
	}
	cJSON_AddItemToObject(o, "data", lr->data);
	cJSON_AddBoolToObject(o, "truncated", lr->truncated);
	return vbx__api_respond(r, 200, o);
}

static int get_logs(void *ud, vbx_request *r)
{
	vbx_env e;
	vbx_logs_opts opts = {0};
	vbx_stream *s = NULL;
	log_reader lr = {.split = {.each = add_log_line}};
	int rc = vbx__env_for(r, "read", &e);
	if (rc != VBX_OK || (rc = runtime_missing(r)) != VBX_OK ||
	    (rc = logs_query(r, &opts)) != VBX_OK)
		return rc;
	if (!(lr.data = cJSON_CreateArray()))
		return VBX_ENOMEM;
	lr.split.ctx = &lr;
	if (!e.container_id[0]) /* never started: no logs yet */
		return answer_logs(r, &lr);
	rc = vbx_hook_runtime_logs_run(vbx__envh.rt_logs, e.container_id, &opts,
	                               &s);
	if (rc == VBX_ENOTFOUND)
		return answer_logs(r, &lr);
	if (rc != VBX_OK) {
		cJSON_Delete(lr.data);
		return runtime_fail(r, rc, &e, "logs");
	}
	rc = drain_logs(s, &lr);
	s->ops->close(s, NULL);
	int flushed = vbx__env_lines_finish(&lr.split);
	if (rc == VBX_OK)
		rc = flushed;
	if (rc != VBX_OK) {
		cJSON_Delete(lr.data);
		return runtime_fail(r, rc, &e, "reading the logs");
	}
	return answer_logs(r, &lr);
}

/* ---- registration ---- */

static void hooks_init(vbx_plugin *core)
{
	vbx__envh = (vbx__env_hooks){
	        .get = vbx_hook_store_env_get_get(core),
	        .create = vbx_hook_store_env_create_get(core),
	        .update = vbx_hook_store_env_update_get(core),
	        .del = vbx_hook_store_env_delete_get(core),
	        .list = vbx_hook_store_env_list_get(core),
	        .transition = vbx_hook_store_env_transition_get(core),
	        .touch = vbx_hook_store_env_touch_get(core),
	        .count = vbx_hook_store_env_count_get(core),
	        .var_set = vbx_hook_store_env_var_set_get(core),
	        .var_get = vbx_hook_store_env_var_get_get(core),
	        .var_list = vbx_hook_store_env_var_list_get(core),
	        .var_delete = vbx_hook_store_env_var_delete_get(core),
	        .port_add = vbx_hook_store_env_port_add_get(core),
	        .port_remove = vbx_hook_store_env_port_remove_get(core),
	        .port_list = vbx_hook_store_env_port_list_get(core),
	        .port_set_host = vbx_hook_store_env_port_set_host_get(core),
	        .rt_create = vbx_hook_runtime_create_get(core),
	        .rt_start = vbx_hook_runtime_start_get(core),
	        .rt_stop = vbx_hook_runtime_stop_get(core),
	        .rt_remove = vbx_hook_runtime_remove_get(core),
	        .rt_ports = vbx_hook_runtime_ports_get(core),
	        .rt_stats = vbx_hook_runtime_stats_get(core),
	        .rt_logs = vbx_hook_runtime_logs_get(core),
	        .rt_image_check = vbx_hook_runtime_image_check_get(core),
	        .rt_purge = vbx_hook_runtime_env_purge_get(core),
	        .rt_keep = vbx_hook_runtime_workspace_keep_get(core),
	};
	env_status_ev = vbx_event_env_status_get(core);
}

/* Every handle is there unless a plugin declared a hook with another
 * signature first (the registry logged it). */
static bool hooks_ok(void)
{
	vbx_hook *const *h = &vbx__envh.get;
	for (size_t i = 0; i < sizeof(vbx__envh) / sizeof(*h); i++)
		if (!h[i])
			return false;
	return true;
}

void vbx__api_envs_register(vbx_plugin *core)
{
	hooks_init(core);
	if (!hooks_ok()) {
		vbx_log_error(core, "the environment or runtime hooks are "
		                    "declared with other signatures than the "
		                    "platform's; the /api/v1/environments "
		                    "endpoints are not served (rebuild the "
		                    "plugins against this SDK)");
		return;
	}
	vbx_route_add(core, "GET", "/api/v1/environments", 0, list_envs, NULL);
	vbx_route_add(core, "POST", "/api/v1/environments", 0, create_env,
	              NULL);
	vbx_route_add(core, "GET", "/api/v1/environments/{id}", 0, get_env,
	              NULL);
	vbx_route_add(core, "PATCH", "/api/v1/environments/{id}", 0, update_env,
	              NULL);
	vbx_route_add(core, "DELETE", "/api/v1/environments/{id}", 0,
	              delete_env, NULL);
	vbx_route_add(core, "POST", "/api/v1/environments/{id}/start", 0,
	              start_env, NULL);
	vbx_route_add(core, "POST", "/api/v1/environments/{id}/stop", 0,
	              stop_env, NULL);
	vbx_route_add(core, "POST", "/api/v1/environments/{id}/restart", 0,
	              restart_env, NULL);
	vbx_route_add(core, "GET", "/api/v1/environments/{id}/stats", 0,
	              get_stats, NULL);
	vbx_route_add(core, "GET", "/api/v1/environments/{id}/logs", 0,
	              get_logs, NULL);
	vbx__api_envvars_register(core);
}
