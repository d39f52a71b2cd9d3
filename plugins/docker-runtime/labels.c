/* SPDX-License-Identifier: Apache-2.0 */
/*
 * labels.c - what this installation owns: the labels on its containers
 * and networks, and the engine filter that selects them.
 */
#include <stdio.h>
#include <string.h>

#include "docker.h"

static bool label_is(const cJSON *labels, const char *key, const char *want)
{
	const char *v = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(labels, key));
	return v && strcmp(v, want) == 0;
}

bool dkr_labels_owned(const dkr *d, const cJSON *labels)
{
	return label_is(labels, DKR_LABEL_MANAGED, "true") &&
	       label_is(labels, DKR_LABEL_INSTANCE, d->instance);
}

const char *dkr_owned_filter(const dkr *d, const char *type, char *buf,
                             size_t len)
{
	char json[256];
	int n = snprintf(json, sizeof(json),
	                 "{%s%s%s\"label\":[\"" DKR_LABEL_MANAGED
	                 "=true\",\"" DKR_LABEL_INSTANCE "=%s\"]}",
	                 type ? "\"type\":[\"" : "", type ? type : "",
	                 type ? "\"]," : "", d->instance);
	if (n < 0 || (size_t)n >= sizeof(json))
		return NULL;
	return dkr_url_escape(json, (size_t)n, buf, len);
}

const char *dkr_url_escape(const char *s, size_t n, char *buf, size_t len)
{
	char *enc = curl_easy_escape(NULL, s, (int)n);
	bool fits = enc && strlen(enc) < len;
	if (fits)
		memcpy(buf, enc, strlen(enc) + 1);
	curl_free(enc);
	return fits ? buf : NULL;
}

bool dkr_add_labels(const dkr *d, cJSON *o, const vbx_env *env)
{
	cJSON *l = cJSON_AddObjectToObject(o, "Labels");
	return l && cJSON_AddStringToObject(l, DKR_LABEL_MANAGED, "true") &&
	       cJSON_AddStringToObject(l, DKR_LABEL_INSTANCE, d->instance) &&
	       cJSON_AddStringToObject(l, DKR_LABEL_ENV, env->id) &&
	       cJSON_AddStringToObject(l, DKR_LABEL_PROJECT, env->project_id);
}
