/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_framing.c - the framing of a request body from its head. The input
 * is split at its first two NUL bytes into a Content-Length value, a
 * Transfer-Encoding value and a method (a missing part is an absent
 * header), and the checks are:
 *   - a Content-Length is accepted only as 1 to 19 digits with optional
 *     spaces and tabs around, and then has the value those digits say;
 *   - vbx__framing_check() lets a head through only with no
 *     Transfer-Encoding and a valid or absent Content-Length; every
 *     refusal is 400 or 411, has a message and closes the connection.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_length(const char *s)
{
	uint64_t v = 0;
	if (!vbx__content_length_parse(s, &v))
		return;
	size_t i = strspn(s, " \t"), n = strspn(s + i, "0123456789");
	CHECK(n >= 1 && n <= 19 && s[i + n + strspn(s + i + n, " \t")] == 0);
	uint64_t want = 0;
	for (size_t k = 0; k < n; k++)
		want = want * 10 + (uint64_t)(s[i + k] - '0');
	CHECK(v == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	const char *parts[3] = {NULL, NULL, NULL};
	const char *p = buf, *end = buf + size;
	for (int i = 0; i < 3 && p <= end; i++) {
		parts[i] = p;
		p += strlen(p) + 1;
	}
	check_length(parts[0]);
	(void)vbx__te_ends_chunked(parts[1]);

	vbx__head h = {.method = parts[2] ? parts[2] : "POST",
	               .content_length = parts[0],
	               .transfer_encoding = parts[1]};
	vbx__framing f;
	int st = vbx__framing_check(&h, &f);
	uint64_t v;
	if (st == 0) {
		CHECK(!parts[1]);
		CHECK(f.has_length == vbx__content_length_parse(parts[0], &v));
		CHECK(!f.has_length || f.length == v);
	} else {
		CHECK(st == 400 || st == 411);
		CHECK(f.close_after && f.message && f.message[0]);
	}
	free(buf);
	return 0;
}
