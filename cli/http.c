/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - calls to the API with libcurl: the bearer token, JSON in and
 * out, the error envelope turned into a message and an exit code, and the
 * token pair refreshed once when the access token has expired.
 */
#include "vbx_build.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

#define BODY_MAX (16u << 20)

void cli_err(const char *fmt, ...)
{
	va_list ap;
	char msg[2048];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vibebox: %s\n", msg);
}

int cli_exit_for_status(long status)
{
	if (status >= 200 && status < 300)
		return CLI_OK;
	if (status == 401)
		return CLI_EAUTH;
	if (status == 403 || status == 404)
		return CLI_ENOTFOUND;
	if (status >= 400 && status < 500)
		return CLI_ECONFLICT;
	return CLI_ESERVER;
}

/* Append "; field: problem" for each validation field. */
static void append_fields(const cJSON *fields, char *out, size_t outlen)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, fields)
	{
		size_t n = strlen(out);
		if (cJSON_IsString(f) && f->string)
			snprintf(out + n, outlen - n, "; %s: %s", f->string,
			         f->valuestring);
	}
}

/* The first bytes of a body that is not an envelope, printable only. */
static void raw_excerpt(const char *body, size_t len, long status, char *out,
                        size_t outlen)
{
	int n = snprintf(out, outlen, "HTTP %ld", status);
	if (!body || !len || n < 0 || (size_t)n + 3 >= outlen)
		return;
	size_t o = (size_t)n;
	out[o++] = ':';
	out[o++] = ' ';
	for (size_t i = 0; i < len && i < 200 && o + 1 < outlen; i++)
		out[o++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
	out[o] = '\0';
}

void cli_error_text(const char *body, size_t len, long status, char *out,
                    size_t outlen)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	if (cJSON_IsString(msg) && msg->valuestring[0]) {
		snprintf(out, outlen, "%s", msg->valuestring);
		if (cJSON_IsString(code)) {
			size_t n = strlen(out);
			snprintf(out + n, outlen - n, " (%s)",
			         code->valuestring);
		}
		append_fields(cJSON_GetObjectItemCaseSensitive(e, "fields"),
		              out, outlen);
	} else {
		raw_excerpt(body, len, status, out, outlen);
	}
	cJSON_Delete(j);
}

int cli_need_login(const cli_ctx *c)
{
	if (c->token[0])
		return CLI_OK;
	if (c->creds_bad) /* the reason is printed already */
		return CLI_EAUTH;
	cli_err("not logged in to %s; run `vibebox login` (or set "
	        "VIBEBOX_TOKEN)",
	        c->server);
	return CLI_EAUTH;
}

void cli_print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);
	if (s)
		printf("%s\n", s);
	free(s);
}

/* ---- one HTTP exchange ---- */

typedef struct buf {
	char *data;
	size_t len;
	bool too_big;
} buf;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	buf *b = ud;
	size_t add = size * n;
	if (b->len + add > BODY_MAX) {
		b->too_big = true;
		return 0;
	}
	char *d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->len += add;
	d[b->len] = '\0';
	b->data = d;
	return add;
}

typedef struct exchange {
	long status;
	buf body;
	char error[CURL_ERROR_SIZE];
	CURLcode rc;
} exchange;

static struct curl_slist *headers_for(const char *token, bool has_body)
{
	struct curl_slist *h = curl_slist_append(NULL, "Accept: "
	                                               "application/json");
	if (has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (token && token[0]) {
		char auth[CLI_TOKEN_MAX + 32];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	return h;
}

static void send_request(const cli_ctx *c, const char *method, const char *path,
                         const char *json, const char *token, exchange *x)
{
	char url[CLI_URL_MAX + 2048];
	snprintf(url, sizeof(url), "%s/api/v1%s", c->server, path);
	memset(x, 0, sizeof(*x));
	CURL *h = curl_easy_init();
	if (!h) {
		x->rc = CURLE_OUT_OF_MEMORY;
		return;
	}
	struct curl_slist *hdr = headers_for(token, json != NULL);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "vibebox/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->error);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x->body);
	if (json)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	if (c->verbose)
		fprintf(stderr, "vibebox: %s %s\n", method, url);
	x->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
}

/* A 2xx answer's JSON into *out; anything else printed as an error. */
static int finish(const cli_ctx *c, exchange *x, cJSON **out, const char *what)
{
	if (x->rc != CURLE_OK) {
		cli_err("%s: cannot reach %s: %s (is vibeboxd running? set "
		        "--server or VIBEBOX_SERVER)",
		        what, c->server,
		        x->body.too_big ? "the answer is too large"
		        : x->error[0]   ? x->error
		                        : curl_easy_strerror(x->rc));
		return CLI_ESERVER;
	}
	int rc = cli_exit_for_status(x->status);
	if (rc != CLI_OK) {
		char msg[1024];
		cli_error_text(x->body.data, x->body.len, x->status, msg,
		               sizeof(msg));
		cli_err("%s: %s", what, msg);
		if (rc == CLI_EAUTH)
			cli_err("log in again with `vibebox login`");
		return rc;
	}
	cJSON *j = NULL;
	if (x->body.len) {
		j = cJSON_ParseWithLength(x->body.data, x->body.len);
		if (!j) {
			cli_err("%s: the server's answer is not JSON", what);
			return CLI_ESERVER;
		}
	}
	if (out)
		*out = j;
	else
		cJSON_Delete(j);
	return CLI_OK;
}

static char *body_text(const cJSON *body)
{
	return body ? cJSON_PrintUnformatted(body) : NULL;
}

int cli_api_public(cli_ctx *c, const char *method, const char *path,
                   const cJSON *body, cJSON **out, const char *what)
{
	exchange x;
	char *json = body_text(body);
	send_request(c, method, path, json, NULL, &x);
	int rc = finish(c, &x, out, what);
	if (json)
		explicit_bzero(json, strlen(json)); /* may hold a password */
	free(json);
	free(x.body.data);
	return rc;
}

/* ---- refreshing the token pair ---- */

/* Tokens from a login or refresh answer into c and the file. */
static int take_tokens(cli_ctx *c, const cJSON *answer)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(answer, "tokens");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "accessToken");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(t, "refreshToken");
	if (!cJSON_IsString(a) || !cJSON_IsString(r) ||
	    !cli_token_ok(a->valuestring, CLI_TOKEN_MAX) ||
	    !cli_token_ok(r->valuestring, CLI_TOKEN_MAX)) {
		cli_err("the server's answer has no usable tokens");
		return CLI_ESERVER;
	}
	snprintf(c->creds.access, sizeof(c->creds.access), "%s",
	         a->valuestring);
	snprintf(c->creds.refresh, sizeof(c->creds.refresh), "%s",
	         r->valuestring);
	snprintf(c->token, sizeof(c->token), "%s", c->creds.access);
	return cli_creds_save(c->creds_path, &c->creds);
}

/* Under the lock: another client may have rotated the pair already. */
static int refresh_locked(cli_ctx *c)
{
	cli_creds now;
	if (cli_creds_load(c->creds_path, &now) == CLI_OK &&
	    strcmp(now.refresh, c->creds.refresh) != 0 &&
	    strcmp(now.server, c->creds.server) == 0) {
		c->creds = now;
		snprintf(c->token, sizeof(c->token), "%s", now.access);
		return CLI_OK;
	}
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	cJSON_AddStringToObject(body, "refreshToken", c->creds.refresh);
	int rc = cli_api_public(c, "POST", "/auth/refresh", body, &answer,
	                        "refreshing your session");
	cJSON_Delete(body);
	if (rc == CLI_OK)
		rc = take_tokens(c, answer);
	cJSON_Delete(answer);
	return rc;
}

static int refresh(cli_ctx *c)
{
	if (c->verbose)
		fprintf(stderr, "vibebox: access token expired; refreshing\n");
	int lock = cli_creds_lock(c->creds_path);
	int rc = refresh_locked(c);
	cli_creds_unlock(lock);
	return rc;
}

int cli_api(cli_ctx *c, const char *method, const char *path, const cJSON *body,
            cJSON **out, const char *what)
{
	int rc = cli_need_login(c);
	if (rc != CLI_OK)
		return rc;
	exchange x;
	char *json = body_text(body);
	send_request(c, method, path, json, c->token, &x);
	if (x.rc == CURLE_OK && x.status == 401 && c->stored &&
	    c->creds.refresh[0]) {
		free(x.body.data);
		x.body.data = NULL;
		rc = refresh(c);
		if (rc != CLI_OK) {
			free(json);
			return rc;
		}
		send_request(c, method, path, json, c->token, &x);
	}
	rc = finish(c, &x, out, what);
	free(json);
	free(x.body.data);
	return rc;
}

int cli_store_tokens(cli_ctx *c, const cJSON *answer)
{
	return take_tokens(c, answer);
}

/* ---- where to connect, with which token ---- */

static int set_server(cli_ctx *c, const char *url)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((strncmp(url, "http://", 7) != 0 &&
	     strncmp(url, "https://", 8) != 0) ||
	    n >= sizeof(c->server) || !cli_token_ok(url, CLI_URL_MAX)) {
		cli_err("the server \"%s\" is not an http:// or https:// URL",
		        url);
		return CLI_EUSAGE;
	}
	memcpy(c->server, url, n);
	c->server[n] = '\0';
	return CLI_OK;
}

int cli_ctx_init(cli_ctx *c, const char *server_opt)
{
	const char *env_server = getenv("VIBEBOX_SERVER");
	const char *env_token = getenv("VIBEBOX_TOKEN");
	c->verbose = getenv("VIBEBOX_DEBUG") != NULL;
	if (cli_creds_path(c->creds_path, sizeof(c->creds_path)) < 0)
		return CLI_EUSAGE;
	int loaded = cli_creds_load(c->creds_path, &c->creds);
	bool have = loaded == CLI_OK;
	const char *server = server_opt                    ? server_opt
	                     : env_server && env_server[0] ? env_server
	                     : have                        ? c->creds.server
	                                                   : CLI_DEFAULT_SERVER;
	int rc = set_server(c, server);
	if (rc != CLI_OK)
		return rc;
	if (env_token && env_token[0]) {
		if (!cli_token_ok(env_token, CLI_TOKEN_MAX)) {
			cli_err("VIBEBOX_TOKEN has a space or a control "
			        "character");
			return CLI_EUSAGE;
		}
		snprintf(c->token, sizeof(c->token), "%s", env_token);
		return CLI_OK;
	}
	/* login replaces a file that cannot be used; others stop */
	c->creds_bad = loaded == CLI_EAUTH;
	/* the file's tokens go only to the server that issued them */
	if (have && strcmp(c->creds.server, c->server) == 0) {
		snprintf(c->token, sizeof(c->token), "%s", c->creds.access);
		c->stored = true;
	}
	return CLI_OK;
}
