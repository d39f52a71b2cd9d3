/* SPDX-License-Identifier: Apache-2.0 */
/*
 * response.c - the answer a handler gives: status, headers, body, the error
 * envelope and validation errors. The server writes it out later on the
 * service thread; here it is only recorded.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "request.h"

int vbx__respond(vbx_request *r, int status, const char *content_type,
                 const void *body, size_t len)
{
	if (r->status)
		return VBX_ESTATE;
	char *copy = NULL;
	if (status == 204 || status == 304)
		len = 0;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return VBX_ENOMEM;
		memcpy(copy, body, len);
	}
	r->status = status;
	r->content_type =
	        content_type ? vbx__arena_strdup(r->arena, content_type) : NULL;
	r->resp = copy;
	r->resp_len = len;
	return VBX_OK;
}

int vbx__respond_json(vbx_request *r, int status, cJSON *body)
{
	if (r->status) {
		cJSON_Delete(body);
		return VBX_ESTATE;
	}
	size_t len = 0;
	char *text = body ? vbx__json_print(body, &len) : NULL;
	cJSON_Delete(body);
	if (body && !text)
		return vbx__respond_error(r, 500, "INTERNAL_ERROR",
		                          "out of memory rendering a response");
	r->status = status;
	r->content_type = "application/json";
	r->resp = text;
	r->resp_len = len;
	return VBX_OK;
}

static int respond_envelope(vbx_request *r, int status, const char *code,
                            const char *message, const cJSON *fields)
{
	if (r->status)
		return VBX_ESTATE;
	size_t len = 0;
	char *text = vbx__error_json(status, code, message, fields, &len);
	if (!text)
		return VBX_ENOMEM;
	r->status = status;
	r->content_type = "application/json";
	r->resp = text;
	r->resp_len = len;
	return VBX_OK;
}

int vbx__resp_error(vbx_request *r, int status, const char *code,
                    const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!code)
		code = vbx__http_code_name(status);
	return respond_envelope(r, status, code, msg, NULL);
}

int vbx__respond_error(vbx_request *r, int status, const char *code,
                       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vbx__resp_error(r, status, code, fmt, ap);
	va_end(ap);
	return rc;
}

int vbx__resp_json(vbx_request *r, int status, cJSON *body)
{
	return vbx__respond_json(r, status, body);
}

/* Header names and values must not smuggle a line break into the
 * response. */
static bool header_text_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

/* A plugin's status and Content-Type go into the status line and a header
 * as given: neither may break the response's framing. */
int vbx__resp_body(vbx_request *r, int status, const char *content_type,
                   const void *body, size_t len)
{
	if (status < 200 || status > 599 ||
	    (content_type && !header_text_ok(content_type)))
		return VBX_EINVAL;
	return vbx__respond(r, status, content_type, body, len);
}

int vbx__resp_header(vbx_request *r, const char *name, const char *value)
{
	if (r->status)
		return VBX_ESTATE;
	if (!*name || !header_text_ok(name) || !header_text_ok(value))
		return VBX_EINVAL;
	vbx__header *v =
	        vbx__arena_alloc(r->arena, (r->nresp_headers + 1) * sizeof(*v));
	if (!v)
		return VBX_ENOMEM;
	if (r->nresp_headers)
		memcpy(v, r->resp_headers, r->nresp_headers * sizeof(*v));
	v[r->nresp_headers].name = vbx__arena_strdup(r->arena, name);
	v[r->nresp_headers].value = vbx__arena_strdup(r->arena, value);
	r->resp_headers = v;
	r->nresp_headers++;
	return VBX_OK;
}

int vbx__field_error(vbx_request *r, const char *field, const char *fmt,
                     va_list ap)
{
	return vbx__fields_vadd(&r->fields, field, fmt, ap);
}

int vbx__req_fields_failed(const vbx_request *r)
{
	return r->fields.obj != NULL;
}

int vbx__resp_validation(vbx_request *r)
{
	return respond_envelope(r, 400, "VALIDATION_ERROR",
	                        "the request has invalid fields; see fields",
	                        r->fields.obj);
}

int vbx__req_json_string(vbx_request *r, const cJSON *obj, const char *key,
                         int required, size_t min, size_t max, const char **out)
{
	return vbx__json_string(&r->fields, obj, key, required, min, max, out);
}

int vbx__req_json_int(vbx_request *r, const cJSON *obj, const char *key,
                      int required, long long min, long long max,
                      long long *out)
{
	return vbx__json_int(&r->fields, obj, key, required, min, max, out);
}

int vbx__req_json_number(vbx_request *r, const cJSON *obj, const char *key,
                         int required, double min, double max, double *out)
{
	return vbx__json_number(&r->fields, obj, key, required, min, max, out);
}

int vbx__req_json_bool(vbx_request *r, const cJSON *obj, const char *key,
                       int required, int *out)
{
	return vbx__json_bool(&r->fields, obj, key, required, out);
}
