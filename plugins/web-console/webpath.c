/* SPDX-License-Identifier: Apache-2.0 */
/*
 * webpath.c - what a request path names: whether it may be looked up at
 * all, whether it is a hashed asset (cached for a year), and its
 * Content-Type. The lookup itself only ever finds files the scan listed
 * (scan.c), so a path here is a key, never opened as given.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "wc.h"

bool wc_path_ok(const char *rel)
{
	if (!rel || !*rel || *rel == '/')
		return false;
	const char *seg = rel;
	for (const char *p = rel;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c == '\0') {
			size_t len = (size_t)(p - seg);
			/* empty, ".", ".." and every hidden name */
			if (len == 0 || seg[0] == '.')
				return false;
			if (c == '\0')
				return true;
			seg = p + 1;
		} else if (c < 0x20 || c == 0x7f || c == '\\') {
			return false;
		}
	}
}

bool wc_under(const char *rel, const char *dir)
{
	size_t n = strlen(dir);
	return n > 0 && strncmp(rel, dir, n) == 0 && rel[n] == '/';
}

static bool is_hash_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool wc_is_hashed(const char *rel, const char *assets)
{
	if (!wc_under(rel, assets))
		return false;
	const char *name = strrchr(rel, '/') + 1;
	for (const char *d = strchr(name, '-'); d; d = strchr(d + 1, '-')) {
		const char *p = d + 1;
		while (is_hash_char(*p))
			p++;
		/* the run may hold later '-'s: its end decides */
		if (*p == '.' && p - (d + 1) >= 8)
			return true;
	}
	return false;
}

static const struct {
	const char *ext, *type;
} types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
};

const char *wc_content_type(const char *name)
{
	const char *base = strrchr(name, '/');
	const char *dot = strrchr(base ? base + 1 : name, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}
