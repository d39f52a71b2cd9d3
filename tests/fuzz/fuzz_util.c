/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_util.c - the parsers of <vibebox/util.h> on any bytes, read
 * exactly as long as the input (ASan sees a read past it):
 *   - vbx_time_parse: no crash; a refusal leaves the output alone; an
 *     accepted time lies in years 0000..9999 (give or take a day of
 *     offset), and formatted and parsed again it is the same instant to
 *     the millisecond;
 *   - vbx_hex_decode: a refusal writes nothing; what it accepts is an
 *     even number of hex digits, and encoding the bytes gives the input
 *     back in lower case;
 *   - vbx_uuid_ok and vbx_uuid_to_bytes agree, and a UUID's bytes written
 *     back are the input in lower case;
 *   - vbx_utf8_len: a walk over the input never steps past its end, and
 *     each sequence it takes is one again on its own;
 *   - vbx_percent_encode: in 3n + 1 bytes all of the input goes, in a
 *     shorter buffer a prefix; the output holds only unreserved
 *     characters and whole %XX escapes, and decodes to that prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vibebox/util.h>

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_time(const char *s, size_t len)
{
	int64_t ms = 12345, again = 0;
	char text[VBX_TIME_LEN];

	if (vbx_time_parse(s, len, &ms) != VBX_OK) {
		CHECK(ms == 12345);
		return;
	}
	CHECK(ms >= -62167219200000LL - 86400000LL &&
	      ms < 253402300800000LL + 86400000LL);
	if (vbx_time_format(ms, text, sizeof(text)) != VBX_OK)
		return; /* an offset took it past 0000 or 9999 */
	CHECK(vbx_time_parse(text, strlen(text), &again) == VBX_OK);
	CHECK(again == ms);
}

static void fuzz_hex(const char *s, size_t len)
{
	unsigned char out[64];
	char text[2 * sizeof(out) + 1];
	size_t n = 999;

	memset(out, 0x5a, sizeof(out));
	if (vbx_hex_decode(s, len, out, sizeof(out), &n) != VBX_OK) {
		CHECK(n == 999);
		for (size_t i = 0; i < sizeof(out); i++)
			CHECK(out[i] == 0x5a);
		return;
	}
	CHECK(len % 2 == 0 && n == len / 2 && n <= sizeof(out));
	CHECK(vbx_hex_encode(out, n, text, sizeof(text)) == len);
	for (size_t i = 0; i < len; i++) {
		char c = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a')
		                                    : s[i];
		CHECK(text[i] == c);
	}
}

static void fuzz_uuid(const char *s)
{
	unsigned char b[16];
	char text[VBX_UUID_LEN];
	bool ok = vbx_uuid_ok(s);

	CHECK((vbx_uuid_to_bytes(s, b) == VBX_OK) == ok);
	if (!ok)
		return;
	vbx_uuid_from_bytes(b, text);
	for (size_t i = 0; i < VBX_UUID_LEN; i++) {
		char c = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a')
		                                    : s[i];
		CHECK(text[i] == c);
	}
}

static void fuzz_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t k = vbx_utf8_len(p + i, len - i);
		CHECK(k <= 4 && k <= len - i);
		if (k)
			CHECK(vbx_utf8_len(p + i, k) == k);
		i += k ? k : 1;
	}
}

/* out decodes to the first n bytes of s, and is nothing but unreserved
 * characters and whole escapes. */
static void check_percent(const char *s, size_t n, const char *out)
{
	size_t i = 0;
	for (const char *p = out; *p; i++) {
		unsigned char c = (unsigned char)*p;
		CHECK(i < n);
		if (c != '%') {
			CHECK(vbx_url_unreserved(c) && s[i] == (char)c);
			p++;
			continue;
		}
		int hi = vbx_hex_value(p[1]),
		    lo = hi < 0 ? -1 : vbx_hex_value(p[2]);
		CHECK(hi >= 0 && lo >= 0 && (p[1] < 'a') && (p[2] < 'a'));
		CHECK((unsigned char)s[i] == (unsigned char)(hi << 4 | lo));
		CHECK(!vbx_url_unreserved((unsigned char)s[i]));
		p += 3;
	}
	CHECK(i == n);
}

static void fuzz_percent(const char *s, size_t len)
{
	size_t n = strnlen(s, len), cap = 3 * len + 1, small = len + 2;
	char *out = malloc(cap);
	CHECK(out);
	CHECK(vbx_percent_encode(s, len, out, cap) == n);
	check_percent(s, n, out);
	/* A buffer too short for most inputs: a prefix, whole. */
	size_t got = vbx_percent_encode(s, len, out, small);
	CHECK(got <= n && strlen(out) < small);
	check_percent(s, got, out);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy, so that a read past size is caught; then one with
	 * a NUL for the functions that take strings. */
	char *exact = malloc(size ? size : 1);
	char *str = malloc(size + 1);
	CHECK(exact && str);
	memcpy(exact, data, size);
	memcpy(str, data, size);
	str[size] = '\0';
	fuzz_time(exact, size);
	fuzz_hex(exact, size);
	fuzz_uuid(str);
	fuzz_utf8(exact, size);
	fuzz_percent(exact, size);
	free(exact);
	free(str);
	return 0;
}
