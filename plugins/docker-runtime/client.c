/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c - the Docker Engine API over libcurl: the endpoint (a unix
 * socket or tcp://, with or without TLS client certificates), the API
 * version negotiated with the engine, and buffered requests.
 *
 * Hooks run on several worker threads at once. Each request takes an easy
 * handle from a small locked pool (kept so that connections are reused)
 * or makes a new one, and gives it back afterwards. Nothing is kept that
 * an engine restart would invalidate: curl reconnects on a dead
 * connection, and the version is negotiated again after a request found
 * the engine unreachable.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "docker.h"

#define POOL_MAX 8
#define BODY_MAX (64u << 20) /* an answer larger than this is refused */
#define CONNECT_MS_MAX 5000  /* connecting never takes longer than this */

/* The newest API we speak, and the oldest that has what we use (Init,
 * NanoCpus and PidsLimit came with 1.25). */
#define API_MAJOR 1
#define API_MINOR_MAX 41
#define API_MINOR_MIN 25

struct dkr_client {
	pthread_mutex_t lock;      /* pool and d->version */
	pthread_mutex_t negotiate; /* one negotiation at a time */
	CURL *pool[POOL_MAX];
	size_t n_pool;
};

/* ---- pure parsers ---- */

static void set_err(char *err, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool host_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* "[v6]" or a name/IPv4 at s, up to n bytes; the host part of a URL. */
static bool valid_host(const char *s, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' &&
			    s[i] != '.')
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (!host_char((unsigned char)s[i]))
			return false;
	return true;
}

/* A decimal port 1..65535 of n bytes at s. */
static bool parse_port(const char *s, size_t n, long *port)
{
	long v = 0;
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*port = v;
	return v >= 1 && v <= 65535;
}

static int parse_unix(const char *path, bool tls, char **unix_path,
                      char **base_url, char *err, size_t err_len)
{
	if (tls) {
		set_err(err, err_len,
		        "TLS files are for tcp:// endpoints, not unix://");
		return VBX_EINVAL;
	}
	if (path[0] != '/') {
		set_err(err, err_len,
		        "expected an absolute socket path as in "
		        "\"unix:///var/run/docker.sock\"");
		return VBX_EINVAL;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		set_err(err, err_len, "the socket path is too long");
		return VBX_EINVAL;
	}
	for (const char *p = path; *p; p++)
		if (iscntrl((unsigned char)*p)) {
			set_err(err, err_len,
			        "the socket path has a control character");
			return VBX_EINVAL;
		}
	*unix_path = strdup(path);
	*base_url = strdup("http://localhost");
	return *unix_path && *base_url ? VBX_OK : VBX_ENOMEM;
}

/* Split "host[:port][/]" of a tcp:// endpoint. */
static int parse_tcp(const char *hp, bool tls, char **base_url, char *err,
                     size_t err_len)
{
	size_t n = strlen(hp);
	if (n && hp[n - 1] == '/')
		n--;
	const char *colon = NULL;
	if (hp[0] == '[') {
		const char *close = memchr(hp, ']', n);
		if (close && (size_t)(close - hp) + 1 < n)
			colon = close + 1;
	} else {
		colon = memchr(hp, ':', n);
	}
	size_t host_len = colon ? (size_t)(colon - hp) : n;
	long port = tls ? 2376 : 2375;
	if (colon && (*colon != ':' ||
	              !parse_port(colon + 1, n - host_len - 1, &port))) {
		set_err(err, err_len,
		        "expected a port 1..65535 after the host");
		return VBX_EINVAL;
	}
	if (!valid_host(hp, host_len)) {
		set_err(err, err_len,
		        "expected \"tcp://host:port\" with a host name or "
		        "address (and nothing after the port)");
		return VBX_EINVAL;
	}
	size_t len = host_len + 32;
	*base_url = malloc(len);
	if (!*base_url)
		return VBX_ENOMEM;
	snprintf(*base_url, len, "%s://%.*s:%ld", tls ? "https" : "http",
	         (int)host_len, hp, port);
	return VBX_OK;
}

int dkr_endpoint_parse(const char *endpoint, bool tls, char **unix_path,
                       char **base_url, char *err, size_t err_len)
{
	*unix_path = NULL;
	*base_url = NULL;
	int rc;
	if (strncmp(endpoint, "unix://", 7) == 0)
		rc = parse_unix(endpoint + 7, tls, unix_path, base_url, err,
		                err_len);
	else if (strncmp(endpoint, "tcp://", 6) == 0)
		rc = parse_tcp(endpoint + 6, tls, base_url, err, err_len);
	else {
		set_err(err, err_len,
		        "expected \"unix:///path/to/docker.sock\" or "
		        "\"tcp://host:port\", got \"%.100s\"",
		        endpoint);
		rc = VBX_EINVAL;
	}
	if (rc != VBX_OK) {
		free(*unix_path);
		free(*base_url);
		*unix_path = *base_url = NULL;
	}
	return rc;
}

int dkr_time_parse(const char *s, int64_t *ms)
{
	int64_t t;
	if (!s || vbx_time_parse(s, strlen(s), &t) != VBX_OK)
		return VBX_EINVAL;
	/* Before 1970 is Docker's "never" (0001-01-01T00:00:00Z). */
	*ms = t < 0 ? 0 : t;
	return VBX_OK;
}

/* ---- answers ---- */

void dkr_resp_free(dkr_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

const char *dkr_resp_message(const dkr_resp *r, char *buf, size_t len)
{
	cJSON *j = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	if (cJSON_IsString(m))
		snprintf(buf, len, "%s", m->valuestring);
	else if (r->body && r->len && r->len < 512 && !j)
		snprintf(buf, len, "%.*s", (int)strcspn(r->body, "\r\n"),
		         r->body);
	else
		snprintf(buf, len, "HTTP status %ld", r->status);
	cJSON_Delete(j);
	return buf;
}

int dkr_status_rc(const dkr_resp *r, const char *what, char *why,
                  size_t why_len)
{
	int rc;
	if (r->status == 0)
		rc = VBX_EUNAVAIL;
	else if ((r->status >= 200 && r->status < 300) || r->status == 304)
		return VBX_OK;
	else if (r->status == 404)
		rc = VBX_ENOTFOUND;
	else if (r->status == 409)
		rc = VBX_ESTATE;
	else if (r->status >= 400 && r->status < 500)
		rc = VBX_EINVAL;
	else
		rc = VBX_ERR;
	if (why && why_len) {
		char msg[512];
		snprintf(why, why_len, "%s: %s", what,
		         dkr_resp_message(r, msg, sizeof(msg)));
	}
	return rc;
}

/* ---- handles ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	dkr_resp *r = ud;
	size_t add = size * n;
	if (add > BODY_MAX - r->len)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	char *grown = realloc(r->body, r->len + add + 1);
	if (!grown)
		return 0;
	memcpy(grown + r->len, p, add);
	r->body = grown;
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

/* Set every option that depends on the endpoint only. */
static void setup_easy(dkr *d, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads + timeouts */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (d->unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->unix_path);
	if (d->conf.tls_ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, d->conf.tls_ca);
	if (d->conf.tls_cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, d->conf.tls_cert);
	if (d->conf.tls_key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, d->conf.tls_key);
}

CURL *dkr_easy(dkr *d)
{
	CURL *c = curl_easy_init();
	if (c)
		setup_easy(d, c);
	return c;
}

static CURL *pool_take(dkr *d)
{
	struct dkr_client *cl = d->client;
	CURL *c = NULL;
	pthread_mutex_lock(&cl->lock);
	if (cl->n_pool)
		c = cl->pool[--cl->n_pool];
	pthread_mutex_unlock(&cl->lock);
	if (!c)
		return dkr_easy(d);
	curl_easy_reset(c); /* keeps its connections */
	setup_easy(d, c);
	return c;
}

static void pool_give(dkr *d, CURL *c)
{
	struct dkr_client *cl = d->client;
	pthread_mutex_lock(&cl->lock);
	if (cl->n_pool < POOL_MAX) {
		cl->pool[cl->n_pool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&cl->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* ---- requests ---- */

static void set_method(CURL *c, const char *method, const char *json)
{
	if (strcmp(method, "GET") == 0)
		return;
	if (strcmp(method, "HEAD") == 0) { /* an answer without a body */
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		return;
	}
	if (strcmp(method, "POST") == 0 || json) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
		                 (long)(json ? strlen(json) : 0));
	}
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

/* The failure of a transfer as an answer with curl's reason as body. */
static int transfer_failed(dkr *d, CURLcode cc, const char *errbuf,
                           dkr_resp *out)
{
	char msg[CURL_ERROR_SIZE + 160];
	free(out->body);
	out->status = 0;
	snprintf(msg, sizeof(msg), "the Docker engine at %s did not answer: %s",
	         d->conf.endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	out->body = strdup(msg);
	out->len = out->body ? strlen(out->body) : 0;
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return VBX_ETIMEDOUT;
	if (cc == CURLE_WRITE_ERROR || cc == CURLE_OUT_OF_MEMORY)
		return VBX_ERR; /* the answer was too large */
	return VBX_EUNAVAIL;
}

/* The engine call as a CLIENT span of the current trace (NULL when not
 * sampled), and its traceparent on the request: the engine's own tracing
 * (dockerd reads traceparent) joins the trace. */
static vbx_span *trace_call(dkr *d, const char *method, const char *path,
                            struct curl_slist **hdr)
{
	vbx_plugin *p = d->plugin  ? d->plugin
	                : dkr_self ? dkr_self->plugin
	                           : NULL;
	char name[64], tp[VBX_TRACEPARENT_LEN + 1], line[96];
	snprintf(name, sizeof(name), "docker %s", method);
	vbx_span *sp = p ? vbx_span_start(p, name, VBX_SPAN_CLIENT) : NULL;
	if (!sp)
		return NULL;
	size_t q = strcspn(path, "?");
	char upath[512];
	snprintf(upath, sizeof(upath), "%.*s", (int)q, path);
	vbx_span_set_str(sp, "http.request.method", method);
	vbx_span_set_str(sp, "url.path", upath);
	vbx_span_set_str(sp, "server.address", d->conf.endpoint);
	if (vbx_traceparent(p, tp, sizeof(tp)) > 0) {
		snprintf(line, sizeof(line), "traceparent: %s", tp);
		struct curl_slist *n = curl_slist_append(*hdr, line);
		if (n)
			*hdr = n;
	}
	return sp;
}

static void trace_done(vbx_span *sp, int rc, long status, const char *errbuf)
{
	if (!sp)
		return;
	if (rc == VBX_OK)
		vbx_span_set_int(sp, "http.response.status_code", status);
	if (rc != VBX_OK)
		vbx_span_set_error(sp, errbuf[0] ? errbuf : "transfer failed");
	else if (status >= 500)
		vbx_span_set_error(sp, "engine error");
	vbx_span_end(sp);
}

static int perform(dkr *d, const char *method, const char *path,
                   const cJSON *body, int64_t timeout_ms, dkr_resp *out)
{
	vbx_span *sp = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	memset(out, 0, sizeof(*out));
	char *json = body ? cJSON_PrintUnformatted(body) : NULL;
	size_t url_len = strlen(d->base_url) + strlen(path) + 1;
	char *url = malloc(url_len);
	CURL *c = pool_take(d);
	struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
	struct curl_slist *hdr2 =
	        hdr ? curl_slist_append(hdr, "Content-Type: application/json")
	            : NULL;
	int rc = VBX_ENOMEM;
	if (!url || !c || !hdr2 || (body && !json))
		goto out;
	hdr = hdr2;
	sp = trace_call(d, method, path, &hdr);
	snprintf(url, url_len, "%s%s", d->base_url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(timeout_ms < CONNECT_MS_MAX ? timeout_ms
	                                                    : CONNECT_MS_MAX));
	set_method(c, method, json);
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = transfer_failed(d, cc, errbuf, out);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (!out->body)
		out->body = calloc(1, 1);
	rc = out->body ? VBX_OK : VBX_ENOMEM;
out:
	trace_done(sp, rc, out->status, errbuf);
	curl_slist_free_all(hdr);
	if (c)
		pool_give(d, c);
	free(url);
	free(json);
	return rc;
}

int dkr_request_raw(dkr *d, const char *method, const char *path,
                    const cJSON *body, int64_t timeout_ms, dkr_resp *out)
{
	int rc = perform(d, method, path, body, timeout_ms, out);
	if (rc == VBX_EUNAVAIL || rc == VBX_ETIMEDOUT) {
		/* The engine may come back as another version. */
		pthread_mutex_lock(&d->client->lock);
		d->version[0] = '\0';
		pthread_mutex_unlock(&d->client->lock);
	}
	return rc;
}

/* ---- version ---- */

void dkr_api_version(dkr *d, char out[16])
{
	pthread_mutex_lock(&d->client->lock);
	memcpy(out, d->version, sizeof(d->version));
	pthread_mutex_unlock(&d->client->lock);
}

/* The version to speak with an engine that offers `offered`, or false. */
static bool pick_version(const char *offered, char out[16])
{
	int major, minor;
	if (!offered || sscanf(offered, "%d.%d", &major, &minor) != 2 ||
	    major != API_MAJOR || minor < API_MINOR_MIN)
		return false;
	if (minor > API_MINOR_MAX)
		minor = API_MINOR_MAX;
	snprintf(out, 16, "%d.%d", major, minor);
	return true;
}

/* Ask the engine; on failure *fail holds the reason. */
static int negotiate_locked(dkr *d, dkr_resp *fail)
{
	char v[16];
	dkr_api_version(d, v);
	if (v[0])
		return VBX_OK; /* another thread did it meanwhile */
	int rc = dkr_request_raw(d, "GET", "/version", NULL, d->conf.request_ms,
	                         fail);
	if (rc != VBX_OK)
		return rc;
	cJSON *j = cJSON_ParseWithLength(fail->body, fail->len);
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(j, "ApiVersion");
	bool ok = fail->status == 200 &&
	          pick_version(cJSON_GetStringValue(av), v);
	char msg[200];
	snprintf(msg, sizeof(msg),
	         "the Docker engine at %s offers API %.20s; this plugin "
	         "needs 1.%d or newer",
	         d->conf.endpoint,
	         cJSON_IsString(av) ? av->valuestring : "(none)",
	         API_MINOR_MIN);
	cJSON_Delete(j);
	dkr_resp_free(fail);
	if (!ok) {
		if (d->plugin)
			vbx_log_error(d->plugin, "%s: upgrade the engine", msg);
		fail->status = 0;
		fail->body = strdup(msg);
		fail->len = fail->body ? strlen(fail->body) : 0;
		return VBX_EUNAVAIL;
	}
	pthread_mutex_lock(&d->client->lock);
	memcpy(d->version, v, sizeof(v));
	pthread_mutex_unlock(&d->client->lock);
	return VBX_OK;
}

/* The version into v, negotiated when unknown. On failure *fail (zeroed
 * here) holds the reason; the caller frees it in every case. */
static int negotiate(dkr *d, char v[16], dkr_resp *fail)
{
	memset(fail, 0, sizeof(*fail));
	dkr_api_version(d, v);
	if (v[0])
		return VBX_OK;
	pthread_mutex_lock(&d->client->negotiate);
	int rc = negotiate_locked(d, fail);
	pthread_mutex_unlock(&d->client->negotiate);
	dkr_api_version(d, v);
	return rc;
}

const char *dkr_path(dkr *d, const char *path, char *buf, size_t len)
{
	char v[16];
	dkr_resp fail;
	/* Unversioned when the engine cannot tell: it then speaks its own
	 * newest version, and the request fails the same way anyway. */
	if (negotiate(d, v, &fail) != VBX_OK || !v[0])
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "/v%s%s", v, path);
	dkr_resp_free(&fail);
	return buf;
}

int dkr_request(dkr *d, const char *method, const char *path, const cJSON *body,
                int64_t timeout_ms, dkr_resp *out)
{
	char v[16];
	int rc = negotiate(d, v, out);
	if (rc != VBX_OK)
		return rc; /* out says why */
	dkr_resp_free(out);
	size_t n = strlen(path) + 24;
	char *full = malloc(n);
	if (!full) {
		memset(out, 0, sizeof(*out));
		return VBX_ENOMEM;
	}
	snprintf(full, n, "/v%s%s", v, path);
	rc = dkr_request_raw(d, method, full, body, timeout_ms, out);
	free(full);
	return rc;
}

/* ---- life ---- */

int dkr_client_init(dkr *d)
{
	char err[256];
	if (d->client)
		return VBX_OK;
	int rc = dkr_endpoint_parse(
	        d->conf.endpoint, d->conf.tls_ca || d->conf.tls_cert,
	        &d->unix_path, &d->base_url, err, sizeof(err));
	if (rc != VBX_OK)
		return rc; /* plugin.c reported it naming the config key */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return VBX_ERR;
	d->client = calloc(1, sizeof(*d->client));
	if (!d->client) {
		curl_global_cleanup();
		return VBX_ENOMEM;
	}
	pthread_mutex_init(&d->client->lock, NULL);
	pthread_mutex_init(&d->client->negotiate, NULL);
	d->version[0] = '\0';
	return VBX_OK;
}

void dkr_client_fini(dkr *d)
{
	if (d->client) {
		for (size_t i = 0; i < d->client->n_pool; i++)
			curl_easy_cleanup(d->client->pool[i]);
		pthread_mutex_destroy(&d->client->lock);
		pthread_mutex_destroy(&d->client->negotiate);
		free(d->client);
		d->client = NULL;
		curl_global_cleanup();
	}
	free(d->unix_path);
	free(d->base_url);
	d->unix_path = d->base_url = NULL;
}
