/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_docker_events.c - the engine's event stream as docker-runtime's
 * watcher reads it (plugins/docker-runtime/watch.c), fed arbitrary bytes:
 *
 *   - the splitter, fed the input whole and again in pieces whose sizes
 *     come from the input: both hand over the same objects, each one
 *     starting with '{', at most DKR_EVENT_MAX bytes and NUL-terminated;
 *   - each object through dkr_event_parse: an accepted event has a known
 *     action, a lower-case hex container id that fits, and a UUID
 *     environment id; a refused one leaves an empty event behind.
 *
 * Links watch.c alone; the engine functions it would call are stubs here
 * that the fuzzer never reaches.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- stubs of client.c and containers.c (watch.c reports facts: it
 * calls no more of them than these) ---- */
CURL *dkr_easy(dkr *d)
{
	abort();
}
const char *dkr_path(dkr *d, const char *path, char *buf, size_t len)
{
	abort();
}
int dkr_inspect(void *ud, const char *id, vbx_container_state *out)
{
	abort();
}

/* The objects of one run, concatenated with their lengths. */
typedef struct seen {
	char *buf;
	size_t len, cap;
	size_t count;
} seen;

static void check_event(const dkr_event *ev)
{
	CHECK(ev->action >= DKR_EV_DIE && ev->action <= DKR_EV_DESTROY);
	size_t n = strlen(ev->container_id);
	CHECK(n > 0 && n < VBX_CONTAINER_ID_LEN);
	for (size_t i = 0; i < n; i++)
		CHECK(strchr("0123456789abcdef", ev->container_id[i]));
	CHECK(strlen(ev->env_id) == 36);
	CHECK(ev->exit_code >= -1 && ev->exit_code <= 65535);
}

static void on_object(void *ctx, const char *obj, size_t len)
{
	seen *s = ctx;
	CHECK(len >= 2 && len < DKR_EVENT_MAX);
	CHECK(obj[0] == '{' && obj[len] == '\0');
	CHECK(obj[len - 1] == '}' || obj[len - 1] == ']');

	size_t need = s->len + sizeof(len) + len;
	if (need > s->cap) {
		s->cap = need * 2;
		s->buf = realloc(s->buf, s->cap);
		CHECK(s->buf);
	}
	memcpy(s->buf + s->len, &len, sizeof(len));
	memcpy(s->buf + s->len + sizeof(len), obj, len);
	s->len = need;
	s->count++;

	dkr_event ev;
	int rc = dkr_event_parse(obj, len, &ev);
	if (rc == VBX_OK) {
		check_event(&ev);
	} else {
		CHECK(rc == VBX_DECLINED || rc == VBX_EINVAL);
		CHECK(ev.action == 0 && ev.env_id[0] == '\0' &&
		      ev.container_id[0] == '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	seen whole = {0}, pieces = {0};
	dkr_jsplit a = {0}, b = {0};

	CHECK(dkr_jsplit_feed(&a, in, size, on_object, &whole) == VBX_OK);
	/* The same bytes in pieces of 1..16 bytes, sizes from the input. */
	for (size_t at = 0, i = 0; at < size; i++) {
		size_t n = 1 + (size ? data[i % size] % 16 : 0);
		if (n > size - at)
			n = size - at;
		CHECK(dkr_jsplit_feed(&b, in + at, n, on_object, &pieces) ==
		      VBX_OK);
		at += n;
	}
	CHECK(whole.count == pieces.count && whole.len == pieces.len);
	CHECK(whole.len == 0 || memcmp(whole.buf, pieces.buf, whole.len) == 0);
	CHECK(a.dropped == b.dropped);

	dkr_jsplit_free(&a);
	dkr_jsplit_free(&b);
	free(whole.buf);
	free(pieces.buf);
	return 0;
}
