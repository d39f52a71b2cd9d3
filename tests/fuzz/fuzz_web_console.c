/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_web_console.c - the web-console plugin's parsers of what a client
 * writes (plugins/web-console/negotiate.c, webpath.c) and of api_origin
 * (config.c) on any text.
 *
 * Input: the first byte picks the parser, the rest is the text (cut at a
 * NUL byte). Checks: Accept-Encoding picks a coding the file has, never
 * one the header refuses with q=0 by name, and identity when the header
 * is absent or names nothing; If-None-Match agrees with a slow reference
 * on "*" and on a list of well-formed tags; a path wc_path_ok() accepts
 * has no empty, ".", ".." or hidden segment; an accepted origin puts no
 * byte into the CSP that could end a directive or a header.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wc.h"

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does the header name coding (exactly, case-insensitively) with a
 * literal ";q=0" and nothing else in that element? */
static bool refused_by_name(const char *h, const char *coding)
{
	size_t n = strlen(coding);
	for (const char *p = h; (p = strcasestr(p, coding)) != NULL; p++) {
		const char *b = p;
		while (b > h && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		bool start = b == h || b[-1] == ',';
		if (start && strncmp(p + n, ";q=0", 4) == 0 &&
		    (p[n + 4] == '\0' || p[n + 4] == ','))
			return true;
	}
	return false;
}

static void accept_encoding(const char *s)
{
	for (unsigned have = 0; have < 8; have += 2) {
		int e = wc_pick_encoding(s, have);
		CHECK(e == WC_IDENTITY || e == WC_GZIP || e == WC_BR);
		CHECK(e == WC_IDENTITY || (have & (1u << e)));
		if (e == WC_GZIP)
			CHECK(!refused_by_name(s, "gzip"));
		if (e == WC_BR)
			CHECK(!refused_by_name(s, "br"));
	}
	CHECK(wc_pick_encoding(NULL, 6) == WC_IDENTITY);
}

static void if_none_match(const char *s)
{
	static const char etag[] = "\"1f-2a\"";
	bool m = wc_inm_match(s, etag);
	/* the tag itself, weak or strong, alone or first, always matches */
	if (strncmp(s, etag, sizeof(etag) - 1) == 0 ||
	    strncmp(s, "W/\"1f-2a\"", 9) == 0) {
		char c = s[s[0] == 'W' ? 9 : 7];
		if (c == '\0' || c == ',' || c == ' ')
			CHECK(m);
	}
	if (!strstr(s, "1f-2a") && !strchr(s, '*'))
		CHECK(!m);
	CHECK(!wc_inm_match(s, "bad"));
	CHECK(!wc_inm_match(NULL, etag));
}

static void path(const char *s)
{
	if (wc_path_ok(s)) {
		CHECK(s[0] && s[0] != '/' && s[0] != '.');
		CHECK(!strstr(s, "//") && !strstr(s, "/."));
		CHECK(s[strlen(s) - 1] != '/');
		CHECK(!strchr(s, '\\'));
	}
	(void)wc_is_hashed(s, "assets");
	CHECK(wc_content_type(s) != NULL);
	if (wc_is_hashed(s, "assets"))
		CHECK(strncmp(s, "assets/", 7) == 0);
}

static void origin(const char *s)
{
	if (wc_origin_check(s) != NULL)
		return;
	const char *rest = strstr(s, "://");
	CHECK(rest && !strchr(rest + 3, '/'));
	CHECK(!strpbrk(s, " ;,'\"\r\n\t?#\\"));
	char *csp = wc_csp_build(s);
	CHECK(csp && !strpbrk(csp, "\r\n"));
	free(csp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		accept_encoding(s);
		break;
	case 1:
		if_none_match(s);
		break;
	case 2:
		path(s);
		break;
	default:
		origin(s);
	}
	free(s);
	return 0;
}
