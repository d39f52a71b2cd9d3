/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execproto.c - what a client of vibebox.exec.v1 sends (exec.h): the
 * frame layout and the start message, validated before anything runs.
 * Pure functions: the fuzz target drives them alone.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "exec.h"
#include "term.h" /* vbx__term_get_u64: the same big-endian integers */

int vbx__exec_frame_parse(const void *buf, size_t len, vbx__exec_frame *out,
                          const char **why)
{
	const unsigned char *b = buf;
	memset(out, 0, sizeof(*out));
	*why = "";
	if (len == 0) {
		*why = "an empty frame; the first byte is the frame type";
		return 1002;
	}
	out->type = b[0];
	out->data = b + 1;
	out->len = len - 1;
	switch (b[0]) {
	case VBX__EXEC_STDIN:
		return 0;
	case VBX__EXEC_STDIN_CLOSE:
		if (len == 1)
			return 0;
		*why = "a stdin-close frame is 1 byte: 0x01";
		return 1002;
	case VBX__EXEC_ACK:
		if (len != 9) {
			*why = "an ack frame is 9 bytes: 0x02, u64 offset";
			return 1002;
		}
		out->ack = vbx__term_get_u64(b + 1);
		return 0;
	case VBX__EXEC_START:
		if (len - 1 <= VBX__EXEC_START_MAX)
			return 0;
		*why = "the start message is larger than 256 KiB";
		return 1009;
	default:
		*why = "unknown frame type; a client sends 0x00 stdin, "
		       "0x01 stdin-close, 0x02 ack, 0x03 start";
		return 1002;
	}
}

/* cJSON ends a string at an escaped NUL (\u0000) without a word: find
 * one in the raw text, and raw NUL bytes, before parsing. */
static bool has_nul(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == 0)
			return true;
		if (p[i] != '\\' || i + 1 >= len)
			continue;
		if (p[i + 1] == 'u' && i + 5 < len &&
		    memcmp(p + i + 2, "0000", 4) == 0)
			return true;
		i++; /* the escaped character */
	}
	return false;
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > VBX__EXEC_NAME_MAX ||
	    (n[0] >= '0' && n[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static int take_argv(const cJSON *a, vbx__exec_start *out, const char **why)
{
	int n = cJSON_GetArraySize(a);
	if (!cJSON_IsArray(a) || n < 1 || (unsigned)n > VBX__EXEC_ARGC_MAX) {
		*why = "start: \"argv\" must be an array of 1..256 strings";
		return 1007;
	}
	out->argv = calloc((size_t)n + 1, sizeof(char *));
	if (!out->argv) {
		*why = "out of memory";
		return 1011;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, a)
	{
		const char *s = cJSON_GetStringValue(it);
		if (!s || strlen(s) > VBX__EXEC_STR_MAX) {
			*why = "start: each argument must be a string of at "
			       "most 32 KiB";
			return 1007;
		}
		if (!(out->argv[out->argc] = strdup(s))) {
			*why = "out of memory";
			return 1011;
		}
		out->argc++;
	}
	if (!out->argv[0][0]) {
		*why = "start: argv[0], the command, must not be empty";
		return 1007;
	}
	return 0;
}

static int take_env(const cJSON *e, vbx__exec_start *out, const char **why)
{
	int n = cJSON_GetArraySize(e);
	if (!cJSON_IsObject(e) || (unsigned)n > VBX__EXEC_ENVC_MAX) {
		*why = "start: \"env\" must be an object of at most 128 "
		       "\"NAME\": \"value\" strings";
		return 1007;
	}
	out->env = calloc((size_t)n + 1, sizeof(char *));
	if (!out->env) {
		*why = "out of memory";
		return 1011;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, e)
	{
		const char *v = cJSON_GetStringValue(it);
		if (!name_ok(it->string)) {
			*why = "start: an env name must match "
			       "[A-Za-z_][A-Za-z0-9_]*, at most 255 bytes";
			return 1007;
		}
		if (!v || strlen(v) > VBX__EXEC_STR_MAX) {
			*why = "start: an env value must be a string of at "
			       "most 32 KiB";
			return 1007;
		}
		size_t len = strlen(it->string) + strlen(v) + 2;
		char *kv = malloc(len);
		if (!kv) {
			*why = "out of memory";
			return 1011;
		}
		snprintf(kv, len, "%s=%s", it->string, v);
		out->env[out->envc++] = kv;
	}
	return 0;
}

static int take_start(const cJSON *j, vbx__exec_start *out, const char **why)
{
	const cJSON *it;
	if (!cJSON_IsObject(j)) {
		*why = "start: the message must be a JSON object";
		return 1007;
	}
	cJSON_ArrayForEach(it, j)
	{
		if (strcmp(it->string, "argv") != 0 &&
		    strcmp(it->string, "env") != 0) {
			*why = "start: unknown member; it has \"argv\" and "
			       "\"env\"";
			return 1007;
		}
	}
	int code = take_argv(cJSON_GetObjectItemCaseSensitive(j, "argv"), out,
	                     why);
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
	if (!code && env)
		code = take_env(env, out, why);
	return code;
}

int vbx__exec_start_parse(const void *json, size_t len, vbx__exec_start *out,
                          const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = "";
	if (len > VBX__EXEC_START_MAX) {
		*why = "the start message is larger than 256 KiB";
		return 1009;
	}
	if (has_nul(json, len)) {
		*why = "start: a string holds a NUL character";
		return 1007;
	}
	const char *end = NULL, *text = json;
	cJSON *j = cJSON_ParseWithLengthOpts(json, len, &end, false);
	while (j && end < text + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (j && end != text + len) {
		cJSON_Delete(j);
		j = NULL;
	}
	if (!j) {
		*why = "start: not valid JSON";
		return 1007;
	}
	int code = take_start(j, out, why);
	cJSON_Delete(j);
	if (code)
		vbx__exec_start_free(out);
	return code;
}

void vbx__exec_start_free(vbx__exec_start *s)
{
	for (size_t i = 0; s->argv && s->argv[i]; i++)
		free(s->argv[i]);
	for (size_t i = 0; s->env && s->env[i]; i++)
		free(s->env[i]);
	free(s->argv);
	free(s->env);
	memset(s, 0, sizeof(*s));
}
