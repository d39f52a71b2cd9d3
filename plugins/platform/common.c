/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - helpers the platform's endpoints share (see common.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"

vbx__api_hooks vbx__api;

/* ---- pure helpers ---- */

/* A decimal number of digits only in [1, max]; 0 when it is not one. */
static long parse_count(const char *s, long max)
{
	long v = 0;
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
		if (v > max)
			return 0;
	}
	return v;
}

int vbx__api_page_parse(vbx_request *r, const char *page, const char *limit,
                        vbx_page *out)
{
	long p = page ? parse_count(page, VBX__API_PAGE_MAX) : 1;
	long l = limit ? parse_count(limit, VBX__API_LIMIT_MAX)
	               : VBX__API_LIMIT_DEFAULT;
	if (p == 0)
		vbx_field_error(r, "page",
		                "must be an integer between 1 and %d",
		                VBX__API_PAGE_MAX);
	if (l == 0)
		vbx_field_error(r, "limit",
		                "must be an integer between 1 and %d",
		                VBX__API_LIMIT_MAX);
	if (p == 0 || l == 0)
		return VBX_EINVAL;
	out->page = (int)p;
	out->limit = (int)l;
	return VBX_OK;
}

/* The proleptic Gregorian date of a day counted from 1970-01-01: shift
 * the calendar to start in March (the leap day falls last), then split
 * into 400-year eras of 146097 days, years, and months of 153-day
 * five-month runs. */
static void civil_date(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468; /* days from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097; /* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153; /* 0 is March */

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* No gmtime_r and snprintf: a list of projects formats two timestamps a
 * row, and those calls were a tenth of the request's CPU. */
int vbx__api_time(int64_t ms, char *buf, size_t len)
{
	/* Floor division: -1 ms is 23:59:59.999 of the day before 1970. */
	int64_t days = ms / 86400000, rest = ms % 86400000;
	if (rest < 0) {
		rest += 86400000;
		days--;
	}
	int64_t y;
	int m, d;
	if (len > 0)
		buf[0] = '\0';
	if (len < VBX__API_TIME_LEN)
		return VBX_EINVAL;
	civil_date(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return VBX_EINVAL;
	char *p = put_digits(buf, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, rest / 3600000, 2);
	*p++ = ':';
	p = put_digits(p, rest / 60000 % 60, 2);
	*p++ = ':';
	p = put_digits(p, rest / 1000 % 60, 2);
	*p++ = '.';
	p = put_digits(p, rest % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
	return VBX_OK;
}

static bool slug_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

size_t vbx__api_slug_from(const char *name, char *out, size_t len)
{
	size_t max = len > 0 ? len - 1 : 0, n = 0;
	if (max > VBX__API_SLUG_MAX)
		max = VBX__API_SLUG_MAX;
	bool dash = false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!slug_char(c)) {
			dash = n > 0; /* never a leading '-' */
			continue;
		}
		/* A '-' goes in only with a character after it, so none
		 * ends the slug when it is cut short. */
		if (n + (dash ? 2 : 1) > max)
			break;
		if (dash)
			out[n++] = '-';
		out[n++] = (char)c;
		dash = false;
	}
	if (len > 0)
		out[n] = '\0';
	return n;
}

bool vbx__api_slug_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > VBX__API_SLUG_MAX)
		return false;
	if (!slug_char((unsigned char)s[0]) ||
	    !slug_char((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!slug_char((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

bool vbx__api_uuid_ok(const char *s)
{
	for (size_t i = 0; i < VBX_ID_LEN - 1; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !hex_digit(s[i]))
			return false; /* also stops at a short string's NUL */
	}
	return s[VBX_ID_LEN - 1] == '\0';
}

/* ---- request helpers ---- */

const char *vbx__api_user_id(const vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	return p ? p->user_id : "";
}

bool vbx__api_is_admin(const vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	return p && (p->flags & VBX_PRINCIPAL_ADMIN);
}

int vbx__api_may_list(vbx_request *r)
{
	const vbx_principal *p = vbx_req_principal(r);
	if (p && (p->scopes & VBX_SCOPE_READ))
		return VBX_OK;
	vbx_resp_error(r, 403, "FORBIDDEN",
	               "this credential lacks the \"read\" scope");
	return VBX_EDENIED;
}

void vbx__api_audit(vbx_request *r, const char *action, const char *target_type,
                    const char *target_id, const char *detail)
{
	vbx_audit a = {0};
	if (!vbx__api.audit_add)
		return;
	snprintf(a.actor_id, sizeof(a.actor_id), "%.36s", vbx__api_user_id(r));
	snprintf(a.action, sizeof(a.action), "%s", action);
	snprintf(a.target_type, sizeof(a.target_type), "%s", target_type);
	snprintf(a.target_id, sizeof(a.target_id), "%.36s", target_id);
	snprintf(a.client, sizeof(a.client), "%s", vbx_req_client_addr(r));
	snprintf(a.detail, sizeof(a.detail), "%s", detail);
	int rc = vbx_hook_store_audit_add_run(vbx__api.audit_add, &a);
	if (rc != VBX_OK)
		vbx_log_warn(vbx__platform, "audit %s of %s %s not written: %s",
		             action, target_type, target_id,
		             vbx_strerror(vbx__platform, rc));
}

int vbx__api_page(vbx_request *r, vbx_page *out)
{
	if (vbx__api_page_parse(r, vbx_req_query(r, "page"),
	                        vbx_req_query(r, "limit"), out) == VBX_OK)
		return VBX_OK;
	vbx_resp_validation(r);
	return VBX_EINVAL;
}

cJSON *vbx__api_list_body(cJSON *data, const vbx_page *pg, int64_t total)
{
	cJSON *body = cJSON_CreateObject(), *p = cJSON_CreateObject();
	if (!body || !p || !data) {
		cJSON_Delete(body);
		cJSON_Delete(p);
		cJSON_Delete(data);
		return NULL;
	}
	cJSON_AddItemToObject(body, "data", data);
	cJSON_AddNumberToObject(p, "page", pg->page);
	cJSON_AddNumberToObject(p, "limit", pg->limit);
	cJSON_AddNumberToObject(p, "total", (double)total);
	cJSON_AddItemToObject(body, "pagination", p);
	return body;
}

int vbx__api_add_row(cJSON *array, cJSON *item)
{
	if (!item)
		return VBX_ENOMEM;
	cJSON_AddItemToArray(array, item);
	return 0;
}

int vbx__api_respond(vbx_request *r, int status, cJSON *o)
{
	return o ? vbx_resp_json(r, status, o) : VBX_ENOMEM;
}

int vbx__api_no_content(vbx_request *r)
{
	return vbx_resp_body(r, 204, NULL, NULL, 0);
}

/* Under a key that is not copied: cJSON_Delete leaves it alone, and a
 * page of rows saves a malloc and a free per field. */
static void add_const(cJSON *o, const char *key, cJSON *item)
{
	if (item && !cJSON_AddItemToObjectCS(o, key, item))
		cJSON_Delete(item);
}

void vbx__api_add_str(cJSON *o, const char *key, const char *s)
{
	add_const(o, key, cJSON_CreateString(s));
}

void vbx__api_add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[VBX__API_TIME_LEN];
	if (vbx__api_time(ms, buf, sizeof(buf)) == VBX_OK)
		add_const(o, key, cJSON_CreateString(buf));
	else
		add_const(o, key, cJSON_CreateNull());
}

void vbx__api_add_id(cJSON *o, const char *key, const char *s)
{
	add_const(o, key, s[0] ? cJSON_CreateString(s) : cJSON_CreateNull());
}

void vbx__api_known_fields(vbx_request *r, const cJSON *body,
                           const char *const *known)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, body)
	{
		const char *const *k = known;
		while (*k && strcmp(*k, it->string) != 0)
			k++;
		if (!*k)
			vbx_field_error(r, it->string, "is not a known field");
	}
}

static bool blank_or_control(const char *s, bool *control)
{
	bool blank = true;
	*control = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*control = true;
		else if (*p != ' ')
			blank = false;
	}
	return blank || *control;
}

int vbx__api_name_field(vbx_request *r, const cJSON *body, int required,
                        const char **out)
{
	int rc = vbx_json_string(r, body, "name", required, 1,
	                         VBX__API_NAME_MAX, out);
	bool control;
	if (rc != VBX_OK)
		return rc;
	if (strlen(*out) > VBX__API_NAME_MAX) {
		*out = NULL;
		vbx_field_error(r, "name", "must be at most %d bytes of UTF-8",
		                VBX__API_NAME_MAX);
		return VBX_EINVAL;
	}
	if (!blank_or_control(*out, &control))
		return rc;
	*out = NULL;
	vbx_field_error(r, "name",
	                control ? "must not contain control characters"
	                        : "must not be blank");
	return VBX_EINVAL;
}

int vbx__api_slug_field(vbx_request *r, const cJSON *body, const char *name,
                        char *out)
{
	const char *slug;
	out[0] = '\0';
	int rc = vbx_json_string(r, body, "slug", VBX_OPTIONAL, 1,
	                         VBX__API_SLUG_MAX, &slug);
	if (rc == VBX_OK) {
		if (!vbx__api_slug_ok(slug)) {
			vbx_field_error(
			        r, "slug",
			        "must be lower-case letters, digits and '-', "
			        "starting and ending with a letter or digit");
			return VBX_EINVAL;
		}
		snprintf(out, VBX__API_SLUG_MAX + 1, "%s", slug);
		return VBX_OK;
	}
	if (rc != VBX_ENOTFOUND || !name)
		return rc;
	if (vbx__api_slug_from(name, out, VBX__API_SLUG_MAX + 1) == 0) {
		vbx_field_error(r, "slug",
		                "cannot be made from the name (it has no ASCII "
		                "letter or digit); give a slug");
		return VBX_EINVAL;
	}
	return VBX_OK;
}

static int store_unavailable(vbx_request *r, const vbx_hook *h)
{
	if (h->count == 0)
		return vbx_resp_error(r, 503, "UNAVAILABLE",
		                      "no plugin provides the \"store\" "
		                      "capability; load one (postgres-store) "
		                      "in the daemon's config");
	return vbx_resp_error(r, 503, "UNAVAILABLE",
	                      "the store is unavailable (its database may be "
	                      "down); try again later");
}

int vbx__api_store_fail(vbx_request *r, const vbx_hook *h, int rc,
                        const char *what, const char *field)
{
	switch (rc) {
	case VBX_ENOTFOUND:
		vbx_resp_error(r, 404, "NOT_FOUND", "%s not found", what);
		break;
	case VBX_EEXIST:
		if (field)
			vbx_resp_error(r, 409, "CONFLICT",
			               "%s with this %s exists already; choose "
			               "another %s",
			               what, field, field);
		else
			vbx_resp_error(r, 409, "CONFLICT", "%s exists already",
			               what);
		break;
	case VBX_EUNAVAIL:
		store_unavailable(r, h);
		break;
	case VBX_EINVAL:
		vbx_resp_error(r, 400, "BAD_REQUEST",
		               "the store refused a value of %s", what);
		break;
	default:
		vbx_log_error(vbx__platform,
		              "%s %s: the store failed on %s: %s",
		              vbx_req_method(r), vbx_req_path(r), what,
		              vbx_strerror(vbx__platform, rc));
		vbx_resp_error(r, 500, "INTERNAL_ERROR",
		               "the store failed on %s; see the daemon's log",
		               what);
		rc = rc == VBX_OK ? VBX_ERR : rc;
		break;
	}
	return rc;
}

int vbx__api_store_fail_id(vbx_request *r, const vbx_hook *h, int rc,
                           const char *type, const char *id, const char *field)
{
	char what[96];
	snprintf(what, sizeof(what), "%s %s", type, id);
	return vbx__api_store_fail(r, h, rc, what, field);
}

/* Answer an authorize result that is neither allow nor deny. */
static int authorize_fail(vbx_request *r, int rc, const char *action)
{
	if (rc == VBX_EUNAVAIL) {
		vbx_resp_error(r, 503, "UNAVAILABLE",
		               "authorization is unavailable (a dependency is "
		               "down); try again later");
		return rc;
	}
	vbx_log_error(vbx__platform,
	              "%s %s: the authorize hook failed on \"%s\": %s",
	              vbx_req_method(r), vbx_req_path(r), action,
	              vbx_strerror(vbx__platform, rc));
	vbx_resp_error(r, 500, "INTERNAL_ERROR",
	               "authorization failed; see the daemon's log");
	return VBX_ERR;
}

int vbx__api_authorize(vbx_request *r, const char *action, const char *type,
                       const char *id)
{
	return vbx__api_authorize_row(r, action, type, id, NULL);
}

int vbx__api_authz_ready(vbx_request *r)
{
	if (vbx__api.authorize->count > 0)
		return VBX_OK;
	vbx_resp_error(r, 503, "UNAVAILABLE",
	               "no plugin provides the \"authz\" capability; "
	               "load one (auth) in the daemon's config");
	return VBX_EUNAVAIL;
}

int vbx__api_authorize_row(vbx_request *r, const char *action, const char *type,
                           const char *id, const vbx_resource_row *row)
{
	int ready = vbx__api_authz_ready(r);
	if (ready != VBX_OK)
		return ready;
	const vbx_resource res = {type, id};
	const char *failed;
	int rc = vbx_authorize_verdict_row(vbx__platform, vbx_req_principal(r),
	                                   action, &res, row, &failed);
	if (rc == VBX_OK)
		return VBX_OK;
	if (rc == VBX_ENOTFOUND)
		vbx_resp_error(r, 404, "NOT_FOUND", "%s %s not found", type,
		               id);
	else if (rc == VBX_EDENIED && id)
		vbx_resp_error(r, 403, "FORBIDDEN",
		               "you may not %s %s %s; ask an admin of it",
		               action, type, id);
	else if (rc == VBX_EDENIED)
		vbx_resp_error(r, 403, "FORBIDDEN",
		               "you may not %s; ask an instance admin", action);
	else
		return authorize_fail(r, rc, failed);
	return rc;
}

vbx_resource_row vbx__api_row(const char *owner_id, const char *team_id)
{
	vbx_resource_row row = {.version = 1};
	snprintf(row.owner_id, sizeof(row.owner_id), "%s", owner_id);
	snprintf(row.team_id, sizeof(row.team_id), "%s", team_id);
	return row;
}

const char *vbx__api_path_id(vbx_request *r, const char *param,
                             const char *type)
{
	const char *id = vbx_req_param(r, param);
	if (id && vbx__api_uuid_ok(id))
		return id;
	/* Not a UUID: no such resource can exist. Quote it with %.40s so
	 * that a long parameter does not fill the message. */
	vbx_resp_error(r, 404, "NOT_FOUND", "%s %.40s not found", type,
	               id ? id : "");
	return NULL;
}
