/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s3.c - the S3 requests of s3.h over libcurl, signed by libcurl's SigV4.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <vibebox/util.h>

#include "s3.h"

#define BODY_MAX (1024 * 1024) /* an XML answer or an error */

/* One request and what came back. */
struct req {
	const s3_cfg *cfg;
	const char *method;
	const char *key;   /* "" for the bucket */
	const char *query; /* encoded and sorted, or "" */
	const void *body;
	size_t body_len;
	const char *extra[5]; /* more headers, NULL-ended */
	int (*sink)(void *arg, const void *data, size_t len);
	void *arg;
	long status;
	char *resp; /* the body when there is no sink or on an error */
	size_t resp_len;
	int sink_failed;
	s3_object *meta; /* HEAD: headers go here */
	char etag[128];
};

int s3_key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n >= S3_KEY_MAX || key[0] == '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!vbx_url_unreserved((unsigned char)key[i]) && key[i] != '/')
			return 0;
	return 1;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	vbx_hex_encode(md, 32, out, 65);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct req *r = arg;
	size_t len = size * n;

	if (r->sink && r->status >= 200 && r->status < 300) {
		if (r->sink(r->arg, p, len) != 0) {
			r->sink_failed = 1;
			return 0;
		}
		return len;
	}
	if (r->resp_len + len > BODY_MAX)
		return 0;
	char *grown = realloc(r->resp, r->resp_len + len + 1);
	if (!grown)
		return 0;
	r->resp = grown;
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

/* Copy header value (trimmed) if line is "name: value". */
static void header_value(const char *line, size_t len, const char *name,
                         char *out, size_t out_len)
{
	size_t n = strlen(name);

	if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1, len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	               line[len - 1] == ' '))
		len--;
	if (len >= out_len)
		len = out_len - 1;
	memcpy(out, line, len);
	out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct req *r = arg;
	size_t len = size * n;
	char num[32] = "";

	if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->status =
		        strtol(memchr(p, ' ', len) ? memchr(p, ' ', len) : "0",
		               NULL, 10);
		return len;
	}
	header_value(p, len, "ETag", r->etag, sizeof(r->etag));
	if (r->meta) {
		header_value(p, len, "x-amz-meta-sha256", r->meta->sha256,
		             sizeof(r->meta->sha256));
		header_value(p, len, "x-amz-meta-key-id", r->meta->key_id,
		             sizeof(r->meta->key_id));
		header_value(p, len, "Last-Modified", r->meta->last_modified,
		             sizeof(r->meta->last_modified));
		header_value(p, len, "Content-Length", num, sizeof(num));
		if (num[0])
			r->meta->size = strtoll(num, NULL, 10);
	}
	return len;
}

/* S3's <Code> and <Message>, or the body's start. */
static void describe(const struct req *r, const char *what, char *err,
                     size_t err_len)
{
	char code[64] = "", msg[256] = "";
	size_t pos = 0;

	if (r->resp) {
		s3_xml_text(r->resp, r->resp_len, &pos, "Code", code,
		            sizeof(code));
		pos = 0;
		s3_xml_text(r->resp, r->resp_len, &pos, "Message", msg,
		            sizeof(msg));
	}
	snprintf(err, err_len, "S3 %s %s/%s (%s): HTTP %ld %s%s%s", r->method,
	         r->cfg->bucket, r->key, what, r->status, code,
	         msg[0] ? ": " : "", msg);
}

/*
 * No "Expect:" to suppress 100-continue: curl 7.88 signs that empty header,
 * which it does not send, and every signature fails.
 */
static struct curl_slist *headers_for(const struct req *r)
{
	char line[160], hash[65];
	struct curl_slist *h = NULL;

	sha256_hex(r->body ? r->body : "", r->body_len, hash);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	h = curl_slist_append(h, line);
	if (r->body)
		h = curl_slist_append(h,
		                      "Content-Type: application/octet-stream");
	for (size_t i = 0; i < 5 && r->extra[i]; i++)
		h = curl_slist_append(h, r->extra[i]);
	return h;
}

/* Run r. Returns 0 on a 2xx answer, else -1 with err set. */
static int perform(struct req *r, const char *what, char *err, size_t err_len)
{
	char *url = NULL, sigv4[128];
	CURL *c = curl_easy_init();
	struct curl_slist *h = headers_for(r);
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", r->cfg->region);
	/* the bucket itself without a trailing '/': it would be signed */
	if (asprintf(&url, "%s/%s%s%s%s%s", r->cfg->endpoint, r->cfg->bucket,
	             r->key[0] ? "/" : "", r->key, r->query[0] ? "?" : "",
	             r->query) < 0)
		url = NULL;
	if (c && h && url) {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, r->cfg->access_key_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD,
		                 r->cfg->secret_access_key);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		if (strcmp(r->method, "HEAD") == 0)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (r->body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)r->body_len);
		}
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		if (r->sink_failed)
			snprintf(err, err_len,
			         "S3 %s %s/%s (%s): output failed", r->method,
			         r->cfg->bucket, r->key, what);
		else
			snprintf(err, err_len, "S3 %s %s (%s): %s", r->method,
			         url ? url : r->key, what,
			         curl_easy_strerror(cc));
		free(url);
		return -1;
	}
	free(url);
	if (r->status < 200 || r->status > 299) {
		describe(r, what, err, err_len);
		return -1;
	}
	/* CompleteMultipartUpload can fail with 200 and an <Error> body. */
	if (r->resp && strstr(r->resp, "<Error>")) {
		describe(r, what, err, err_len);
		return -1;
	}
	return 0;
}

static void req_done(struct req *r)
{
	free(r->resp);
	r->resp = NULL;
}

/* ---- multipart upload ---- */

struct s3_upload {
	s3_cfg cfg;
	char key[S3_KEY_MAX];
	char upload_id[512];
	char *part; /* part_size bytes */
	size_t part_len;
	char (*etags)[128];
	size_t parts, etags_cap;
	int64_t total;
	int completed;
};

static int upload_part(s3_upload *u, char *err, size_t err_len)
{
	char query[1200], id[1100], what[32];
	struct req r = {.cfg = &u->cfg, .method = "PUT", .key = u->key};

	if (u->parts == u->etags_cap) {
		size_t cap = u->etags_cap ? 2 * u->etags_cap : 64;
		void *grown = realloc(u->etags, cap * sizeof(*u->etags));
		if (!grown) {
			snprintf(err, err_len, "out of memory (part list)");
			return -1;
		}
		u->etags = grown;
		u->etags_cap = cap;
	}
	vbx_percent_encode(u->upload_id, strlen(u->upload_id), id, sizeof(id));
	snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s",
	         u->parts + 1, id);
	snprintf(what, sizeof(what), "part %zu", u->parts + 1);
	r.query = query;
	r.body = u->part;
	r.body_len = u->part_len;
	int rc = perform(&r, what, err, err_len);
	if (rc == 0 && !r.etag[0]) {
		snprintf(err, err_len, "S3 PUT %s (%s): no ETag in the answer",
		         u->key, what);
		rc = -1;
	}
	if (rc == 0) {
		snprintf(u->etags[u->parts++], sizeof(*u->etags), "%s", r.etag);
		u->part_len = 0;
	}
	req_done(&r);
	return rc;
}

s3_upload *s3_upload_begin(const s3_cfg *cfg, const char *key,
                           const char *meta_sha256, const char *meta_key_id,
                           char *err, size_t err_len)
{
	char sha[128] = "", kid[128] = "";
	s3_upload *u = calloc(1, sizeof(*u));
	struct req r = {.method = "POST", .key = key, .query = "uploads="};
	size_t pos = 0;

	if (!u || !(u->part = malloc(cfg->part_size ? cfg->part_size
	                                            : S3_PART_SIZE))) {
		snprintf(err, err_len, "out of memory (an upload part)");
		s3_upload_free(u);
		return NULL;
	}
	u->cfg = *cfg;
	if (!u->cfg.part_size)
		u->cfg.part_size = S3_PART_SIZE;
	snprintf(u->key, sizeof(u->key), "%s", key);
	r.cfg = &u->cfg;
	if (meta_sha256)
		snprintf(sha, sizeof(sha), "x-amz-meta-sha256: %s",
		         meta_sha256);
	if (meta_key_id)
		snprintf(kid, sizeof(kid), "x-amz-meta-key-id: %s",
		         meta_key_id);
	r.extra[0] = sha[0] ? sha : (kid[0] ? kid : NULL);
	r.extra[1] = sha[0] && kid[0] ? kid : NULL;
	r.body = "";
	if (perform(&r, "CreateMultipartUpload", err, err_len) != 0 ||
	    !r.resp ||
	    s3_xml_text(r.resp, r.resp_len, &pos, "UploadId", u->upload_id,
	                sizeof(u->upload_id)) != 0 ||
	    !u->upload_id[0]) {
		if (r.status >= 200 && r.status < 300)
			snprintf(err, err_len,
			         "S3 POST %s (CreateMultipartUpload): no "
			         "<UploadId> in the answer",
			         key);
		req_done(&r);
		u->upload_id[0] = '\0';
		s3_upload_free(u);
		return NULL;
	}
	req_done(&r);
	return u;
}

int s3_upload_write(s3_upload *u, const void *data, size_t len, char *err,
                    size_t err_len)
{
	const char *p = data;

	while (len) {
		if (u->part_len == u->cfg.part_size &&
		    upload_part(u, err, err_len) != 0)
			return -1;
		size_t n = u->cfg.part_size - u->part_len;
		if (n > len)
			n = len;
		memcpy(u->part + u->part_len, p, n);
		u->part_len += n;
		u->total += (int64_t)n;
		p += n;
		len -= n;
	}
	return 0;
}

int s3_upload_complete(s3_upload *u, char *err, size_t err_len)
{
	char query[1200], id[1100];
	struct req r = {.cfg = &u->cfg, .method = "POST", .key = u->key};
	char *xml = NULL;
	size_t xml_len = 0;
	FILE *f;

	if ((u->part_len || u->parts == 0) && upload_part(u, err, err_len) != 0)
		return -1;
	f = open_memstream(&xml, &xml_len);
	if (!f) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	fputs("<CompleteMultipartUpload>", f);
	for (size_t i = 0; i < u->parts; i++)
		fprintf(f,
		        "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag>"
		        "</Part>",
		        i + 1, u->etags[i]);
	fputs("</CompleteMultipartUpload>", f);
	fclose(f);
	vbx_percent_encode(u->upload_id, strlen(u->upload_id), id, sizeof(id));
	snprintf(query, sizeof(query), "uploadId=%s", id);
	r.query = query;
	r.body = xml;
	r.body_len = xml_len;
	int rc = perform(&r, "CompleteMultipartUpload", err, err_len);
	req_done(&r);
	free(xml);
	if (rc == 0)
		u->completed = 1;
	return rc;
}

int64_t s3_upload_size(const s3_upload *u)
{
	return u->total;
}

void s3_upload_free(s3_upload *u)
{
	char query[1200], id[1100], err[S3_ERR_MAX];

	if (!u)
		return;
	if (!u->completed && u->upload_id[0]) {
		struct req r = {
		        .cfg = &u->cfg, .method = "DELETE", .key = u->key};
		vbx_percent_encode(u->upload_id, strlen(u->upload_id), id,
		                   sizeof(id));
		snprintf(query, sizeof(query), "uploadId=%s", id);
		r.query = query;
		(void)perform(&r, "AbortMultipartUpload", err, sizeof(err));
		req_done(&r);
	}
	free(u->part);
	free(u->etags);
	free(u);
}

/* ---- objects ---- */

int s3_list(const s3_cfg *cfg, const char *prefix,
            int (*cb)(void *arg, const s3_object *o), void *arg, char *err,
            size_t err_len)
{
	char token[1024] = "", etoken[3 * 1024], eprefix[3 * S3_KEY_MAX];
	char query[sizeof(etoken) + sizeof(eprefix) + 64];
	int truncated = 1, rc = 0;

	vbx_percent_encode(prefix, strlen(prefix), eprefix, sizeof(eprefix));
	while (rc == 0 && truncated) {
		struct req r = {.cfg = cfg, .method = "GET", .key = ""};
		vbx_percent_encode(token, strlen(token), etoken,
		                   sizeof(etoken));
		/* sorted: continuation-token < list-type < prefix */
		snprintf(query, sizeof(query), "%s%s%slist-type=2&prefix=%s",
		         token[0] ? "continuation-token=" : "", etoken,
		         token[0] ? "&" : "", eprefix);
		r.query = query;
		rc = perform(&r, "ListObjectsV2", err, err_len);
		if (rc == 0)
			rc = s3_xml_list(r.resp ? r.resp : "", r.resp_len, cb,
			                 arg, &truncated, token, sizeof(token),
			                 err, err_len);
		req_done(&r);
	}
	return rc;
}

int s3_get(const s3_cfg *cfg, const char *key,
           int (*sink)(void *arg, const void *data, size_t len), void *arg,
           char *err, size_t err_len)
{
	struct req r = {.cfg = cfg, .method = "GET", .key = key, .query = ""};
	r.sink = sink;
	r.arg = arg;
	int rc = perform(&r, "GetObject", err, err_len);
	req_done(&r);
	return rc;
}

int s3_head(const s3_cfg *cfg, const char *key, s3_object *o, char *err,
            size_t err_len)
{
	struct req r = {.cfg = cfg, .method = "HEAD", .key = key, .query = ""};

	memset(o, 0, sizeof(*o));
	snprintf(o->key, sizeof(o->key), "%s", key);
	r.meta = o;
	int rc = perform(&r, "HeadObject", err, err_len);
	req_done(&r);
	if (rc != 0 && r.status == 404)
		return 1;
	return rc;
}

int s3_delete(const s3_cfg *cfg, const char *key, char *err, size_t err_len)
{
	struct req r = {
	        .cfg = cfg, .method = "DELETE", .key = key, .query = ""};
	int rc = perform(&r, "DeleteObject", err, err_len);
	req_done(&r);
	return rc;
}

int s3_set_metadata(const s3_cfg *cfg, const char *key, const char *sha256,
                    const char *key_id, char *err, size_t err_len)
{
	char src[S3_KEY_MAX + 300], sha[128], kid[128];
	struct req r = {.cfg = cfg, .method = "PUT", .key = key, .query = ""};

	snprintf(src, sizeof(src), "x-amz-copy-source: /%s/%s", cfg->bucket,
	         key);
	snprintf(sha, sizeof(sha), "x-amz-meta-sha256: %s", sha256);
	snprintf(kid, sizeof(kid), "x-amz-meta-key-id: %s", key_id);
	r.extra[0] = src;
	r.extra[1] = "x-amz-metadata-directive: REPLACE";
	r.extra[2] = sha;
	r.extra[3] = kid;
	int rc = perform(&r, "CopyObject (metadata)", err, err_len);
	req_done(&r);
	return rc;
}
