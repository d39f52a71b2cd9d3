/* SPDX-License-Identifier: Apache-2.0 */
/*
 * images.c - the images allow-list and pulls.
 *
 * An environment names its image; only those matching a pattern of the
 * plugin's `images` list may run (checked when the API creates or
 * changes the environment, through runtime_image_check, and again at
 * each create). Those matching `keep_command` run their own command;
 * the others a keep-alive (containers.c). A missing image is pulled once, with
 * pull_timeout; the engine answers a pull with a stream of JSON progress
 * objects, and a failure shows up in that stream as an "error" object
 * after a 200, so the whole stream is read.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h>

#include "docker.h"

#define IMAGE_MAX 255

/* Letters, digits and . _ - / : @ only, so that an image name can go in a
 * URL path unescaped and never walks out of it ("..", a leading "/"). */
static bool image_ref_valid(const char *image)
{
	size_t n = strlen(image);
	if (n == 0 || n > IMAGE_MAX || !isalnum((unsigned char)image[0]) ||
	    strstr(image, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)image[i];
		if (!isalnum(c) && !strchr("._-/:@", c))
			return false;
	}
	return true;
}

/* Where the tag's ":" is (after the last "/"), or NULL for none. */
static const char *tag_colon(const char *image)
{
	const char *slash = strrchr(image, '/');
	return strchr(slash ? slash : image, ':');
}

bool dkr_image_match(const char *const *pats, size_t n, const char *image)
{
	char with_tag[IMAGE_MAX + 16];
	const char *full = image;
	/* "debian" means "debian:latest" to the engine; match it so. */
	if (!tag_colon(image) && !strchr(image, '@')) {
		snprintf(with_tag, sizeof(with_tag), "%s:latest", image);
		full = with_tag;
	}
	for (size_t i = 0; i < n; i++)
		if (fnmatch(pats[i], image, 0) == 0 ||
		    fnmatch(pats[i], full, 0) == 0)
			return true;
	return false;
}

bool dkr_image_allowed(const dkr_conf *c, const char *image)
{
	return dkr_image_match(c->images, c->n_images, image);
}

/* "image X is not allowed by ...; allowed: a, b" with as many patterns
 * as fit, then "...". */
static void denied(const dkr_conf *c, const char *image, char *why,
                   size_t why_len)
{
	int n = snprintf(why, why_len,
	                 "image %s is not allowed by "
	                 "plugins.docker-runtime.images; allowed: ",
	                 image);
	size_t used = n > 0 && (size_t)n < why_len ? (size_t)n : why_len;
	for (size_t i = 0; i < c->n_images && used < why_len; i++) {
		const char *sep = i ? ", " : "";
		/* room for this pattern and a later ", ..." */
		if (used + strlen(sep) + strlen(c->images[i]) + 5 >= why_len) {
			snprintf(why + used, why_len - used, "%s...", sep);
			return;
		}
		used += (size_t)snprintf(why + used, why_len - used, "%s%s",
		                         sep, c->images[i]);
	}
	if (c->n_images == 0 && used < why_len)
		snprintf(why + used, why_len - used, "none");
}

int dkr_image_check(void *ud, const char *image, char *why, size_t why_len)
{
	dkr *d = ud ? ud : dkr_self;
	char scratch[8];
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	why[0] = '\0';
	if (!image_ref_valid(image)) {
		snprintf(why, why_len,
		         "image \"%.*s\" is not a valid image reference", 100,
		         image);
		return VBX_EINVAL;
	}
	if (!dkr_image_allowed(&d->conf, image)) {
		denied(&d->conf, image, why, why_len);
		return VBX_EDENIED;
	}
	return VBX_OK;
}

bool dkr_pull_error(const char *body, size_t len, char *msg, size_t msg_len)
{
	const char *p = body, *end = body + len;
	while (p < end) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			break;
		const char *next = NULL;
		cJSON *j = cJSON_ParseWithLengthOpts(p, (size_t)(end - p),
		                                     &next, false);
		if (!j)
			return false; /* not JSON: no error object to show */
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		const cJSON *det = cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(j, "errorDetail"),
		        "message");
		const char *text = cJSON_IsString(e)     ? e->valuestring
		                   : cJSON_IsString(det) ? det->valuestring
		                                         : NULL;
		if (text || e) {
			snprintf(msg, msg_len, "%s", text ? text : "error");
			cJSON_Delete(j);
			return true;
		}
		cJSON_Delete(j);
		if (!next || next <= p)
			break;
		p = next;
	}
	return false;
}

/* "/images/create?fromImage=<repo>&tag=<tag>" for image into path. */
static void pull_path(const char *image, char *path, size_t len)
{
	char repo[3 * IMAGE_MAX + 1], tag[3 * IMAGE_MAX + 1];
	const char *colon = tag_colon(image);
	if (strchr(image, '@') || !colon) {
		/* A digest goes whole in fromImage; no tag means latest. */
		vbx_percent_encode(image, strlen(image), repo, sizeof(repo));
		snprintf(path, len, "/images/create?fromImage=%s%s", repo,
		         strchr(image, '@') ? "" : "&tag=latest");
		return;
	}
	vbx_percent_encode(image, (size_t)(colon - image), repo, sizeof(repo));
	vbx_percent_encode(colon + 1, strlen(colon + 1), tag, sizeof(tag));
	snprintf(path, len, "/images/create?fromImage=%s&tag=%s", repo, tag);
}

static int pull(dkr *d, const char *image, char *why, size_t why_len)
{
	char path[8 * IMAGE_MAX], msg[512];
	dkr_resp r;
	pull_path(image, path, sizeof(path));
	if (d->plugin)
		vbx_log_info(d->plugin, "pulling image %s", image);
	int rc = dkr_request(d, "POST", path, NULL, d->conf.pull_ms, &r);
	if (rc != VBX_OK) {
		snprintf(why, why_len, "pull of %s failed: %s", image,
		         dkr_resp_message(&r, msg, sizeof(msg)));
	} else if (r.status != 200) {
		rc = VBX_ENOTFOUND;
		snprintf(why, why_len, "pull of %s failed: %s", image,
		         dkr_resp_message(&r, msg, sizeof(msg)));
	} else if (dkr_pull_error(r.body, r.len, msg, sizeof(msg))) {
		rc = VBX_ENOTFOUND;
		snprintf(why, why_len, "pull of %s failed: %s", image, msg);
	}
	dkr_resp_free(&r);
	return rc;
}

int dkr_image_ensure(dkr *d, const char *image, char *why, size_t why_len)
{
	char path[IMAGE_MAX + 32], scratch[8];
	dkr_resp r;
	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	int rc = dkr_image_check(d, image, why, why_len);
	if (rc != VBX_OK)
		return rc;
	snprintf(path, sizeof(path), "/images/%s/json", image);
	rc = dkr_request(d, "GET", path, NULL, d->conf.request_ms, &r);
	int st = dkr_status_rc(&r, "inspecting the image", why, why_len);
	if (rc == VBX_OK)
		rc = st; /* else the transport's VBX_EUNAVAIL, VBX_ETIMEDOUT */
	dkr_resp_free(&r);
	return rc == VBX_ENOTFOUND ? pull(d, image, why, why_len) : rc;
}
