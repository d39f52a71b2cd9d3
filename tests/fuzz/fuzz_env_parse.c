/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_env_parse.c - the parsers of the environment endpoints
 * (plugins/platform/envparse.c) on arbitrary bytes: ?tail=, ?since= (its
 * RFC 3339 times are the SDK's vbx_time_parse(), fuzzed alone by
 * fuzz_util), path ports, image references, variable names, and the splitting
 * of a container's log output into lines (in chunks the first byte
 * chooses, on both channels). Every line handed on must be valid UTF-8
 * without a newline.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envs.h"
#include "json.h"

static int check_line(void *ctx, int channel, int64_t ms, const char *text)
{
	size_t len = strlen(text);
	if (vbx__utf8_count(text, len) == (size_t)-1 || memchr(text, '\n', len))
		abort();
	if (channel != VBX_STREAM_STDOUT && channel != VBX_STREAM_STDERR)
		abort();
	(*(size_t *)ctx)++;
	return 0;
}

static void parse_text(const char *s, size_t len)
{
	int64_t v;
	int tail;
	vbx__env_since_parse(s, &v);
	if (vbx__env_tail_parse(s, &tail) == VBX_OK &&
	    (tail < 0 || tail > VBX__ENV_TAIL_MAX))
		abort();
	int port = vbx__env_port_parse(s);
	if (port < 0 || port > 65535)
		abort();
	vbx__env_image_ok(s);
	vbx__env_var_key_ok(s);
}

static void split_lines(const uint8_t *data, size_t size)
{
	size_t lines = 0, chunk = size ? (size_t)data[0] % 64 + 1 : 1;
	vbx__env_lines l = {.each = check_line, .ctx = &lines};
	for (size_t i = 1, n = 0; i < size; i += chunk, n++) {
		size_t len = size - i < chunk ? size - i : chunk;
		int channel =
		        n % 3 == 2 ? VBX_STREAM_STDERR : VBX_STREAM_STDOUT;
		if (vbx__env_lines_feed(&l, channel, (const char *)data + i,
		                        len) != 0)
			abort();
	}
	if (vbx__env_lines_finish(&l) != 0 || l.part[0].buf || l.part[1].buf)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	parse_text(s, strlen(s));
	free(s);
	split_lines(data, size);
	return 0;
}
