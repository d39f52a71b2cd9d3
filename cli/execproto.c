/* SPDX-License-Identifier: Apache-2.0 */
/*
 * execproto.c - encode the start frame of `vibebox exec` and decode the
 * server's frames (execproto.h). Every length is checked before it is
 * read: the server's messages are outside input.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "execproto.h"
#include "termproto.h" /* term_get_u64: the same integers */

static int json_text(const cJSON *o, const char *key, char *out, size_t len)
{
	const char *s =
	        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	if (!s || strlen(s) >= len)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* An integral JSON number in [lo, hi] into *out. */
static int json_int(const cJSON *o, const char *key, double lo, double hi,
                    double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo) ||
	    !(v->valuedouble <= hi) ||
	    (double)(int64_t)v->valuedouble != v->valuedouble)
		return -1;
	*out = v->valuedouble;
	return 0;
}

static int decode_json(const uint8_t *p, size_t len, exec_frame *f)
{
	cJSON *o = cJSON_ParseWithLength((const char *)p, len);
	double d = 0;
	int rc = cJSON_IsObject(o) ? 0 : -1;
	if (rc == 0 && f->type == EXEC_HELLO) {
		rc = json_int(o, "window", 1, 9007199254740992.0, &d);
		f->window = (uint64_t)d;
	} else if (rc == 0 && f->type == EXEC_EXIT) {
		rc = json_int(o, "code", -1, 2147483647.0, &d);
		f->code = (int)d;
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reason");
		if (rc == 0 && r)
			rc = json_text(o, "reason", f->text, sizeof(f->text));
	} else if (rc == 0) {
		rc = json_text(o, "message", f->text, sizeof(f->text));
	}
	cJSON_Delete(o);
	return rc;
}

int exec_decode(const uint8_t *msg, size_t len, exec_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (len == 0)
		return -1;
	f->type = msg[0];
	switch (msg[0]) {
	case EXEC_STDOUT:
	case EXEC_STDERR:
		if (len < 9)
			return -1;
		f->offset = term_get_u64(msg + 1);
		f->data = msg + 9;
		f->len = len - 9;
		return 0;
	case EXEC_STDIN_ACK:
		if (len != 9)
			return -1;
		f->offset = term_get_u64(msg + 1);
		return 0;
	case EXEC_HELLO:
	case EXEC_EXIT:
	case EXEC_ERROR:
		return decode_json(msg + 1, len - 1, f);
	default:
		return -1;
	}
}

uint8_t *exec_encode_start(char *const *argv, int argc, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "argv");
	for (int i = 0; a && i < argc; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	uint8_t *out = malloc(n + 1);
	if (out) {
		out[0] = EXEC_START;
		memcpy(out + 1, text, n);
		*len = n + 1;
	}
	free(text);
	return out;
}
