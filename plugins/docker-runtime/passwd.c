/* SPDX-License-Identifier: Apache-2.0 */
/*
 * passwd.c - the pure half of the login-shell lookup: the tar archive
 * that the engine's archive endpoint answers with, and the passwd file
 * inside it. Both come from the container, that is from whoever built
 * the image: nothing here trusts a length, an offset or a field.
 */
#include <stdio.h>
#include <string.h>

#include "docker.h"

#define BLOCK 512

/* Offsets of the fields of a ustar header that are read. */
#define H_NAME 0
#define H_SIZE 124
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINK 157
#define LINK_LEN 100

/* An octal field (spaces or NULs around the digits, as tar writers pad
 * them); false when it holds anything else or is empty. The base-256
 * form of sizes over 8 GiB is refused: no passwd file is that long. */
static bool octal(const unsigned char *f, size_t n, uint64_t *out)
{
	size_t i = 0;
	bool digits = false;
	*out = 0;
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (*out > (UINT64_MAX >> 3))
			return false;
		*out = (*out << 3) | (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	return digits;
}

/* The header checksum: the sum of its bytes with the checksum field
 * counted as spaces. */
static bool checksum_ok(const unsigned char *h)
{
	uint64_t want, sum = 0;
	if (!octal(h + H_CHKSUM, 8, &want))
		return false;
	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
	return sum == want;
}

static bool all_zero(const unsigned char *h)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (h[i])
			return false;
	return true;
}

int dkr_tar_first(const char *tar, size_t n, dkr_tar_member *out)
{
	const unsigned char *p = (const unsigned char *)tar;
	size_t off = 0;
	memset(out, 0, sizeof(*out));
	while (n - off >= BLOCK) {
		const unsigned char *h = p + off;
		uint64_t size;
		if (all_zero(h))
			return VBX_ENOTFOUND; /* the end-of-archive marker */
		if (!checksum_ok(h) || !octal(h + H_SIZE, 12, &size) ||
		    size > n - off - BLOCK)
			return VBX_EINVAL;
		char type = (char)h[H_TYPE];
		off += BLOCK;
		if (type == '0' || type == '\0' || type == '7') {
			out->type = '0';
			out->data = tar + off;
			out->len = (size_t)size;
			return VBX_OK;
		}
		if (type == '2') {
			/* linkname: 100 bytes, NUL-terminated unless full */
			size_t len =
			        strnlen((const char *)h + H_LINK, LINK_LEN);
			if (len == 0)
				return VBX_EINVAL;
			out->type = '2';
			memcpy(out->link, h + H_LINK, len);
			out->link[len] = '\0';
			return VBX_OK;
		}
		/* pax ('x', 'g') and GNU long-name ('L', 'K') records and
		 * any other member: skipped with their data, padded to a
		 * whole block. */
		size_t skip = (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
		if (skip > n - off)
			return VBX_EINVAL;
		off += skip;
	}
	return off == n ? VBX_ENOTFOUND : VBX_EINVAL;
}

/* Field k (0-based) of a passwd line [s, e) into *fs and *fn; false when the
 * line has fewer fields. */
static bool field(const char *s, const char *e, int k, const char **fs,
                  size_t *fn)
{
	for (int i = 0; i < k; i++) {
		const char *c = memchr(s, ':', (size_t)(e - s));
		if (!c)
			return false;
		s = c + 1;
	}
	const char *c = memchr(s, ':', (size_t)(e - s));
	*fs = s;
	*fn = (size_t)((c ? c : e) - s);
	return true;
}

static bool same(const char *s, size_t n, const char *z, size_t zn)
{
	return n == zn && memcmp(s, z, n) == 0;
}

/* Does the line [s, e) belong to user (name, or uid when numeric)? */
static bool line_is(const char *s, const char *e, const char *user, size_t un,
                    bool numeric)
{
	const char *f;
	size_t fn;
	if (!field(s, e, 0, &f, &fn))
		return false;
	if (same(f, fn, user, un))
		return true;
	return numeric && field(s, e, 2, &f, &fn) && same(f, fn, user, un);
}

/* A shell worth running: an absolute path of visible characters that is
 * not one of the shells meaning "no login". */
static bool shell_usable(const char *s, size_t n, size_t max)
{
	static const char *const refuse[] = {"/nologin", "/false"};
	if (n < 2 || n >= max || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	for (size_t i = 0; i < sizeof(refuse) / sizeof(*refuse); i++) {
		size_t rn = strlen(refuse[i]);
		if (n >= rn && memcmp(s + n - rn, refuse[i], rn) == 0)
			return false;
	}
	return true;
}

int dkr_passwd_shell(const char *text, size_t n, const char *user, char *out,
                     size_t out_len)
{
	/* "dev:dev" and "1000:1000" name the group too; only the user
	 * part is looked up */
	size_t un = strcspn(user, ":");
	bool numeric = un > 0 && strspn(user, "0123456789") == un;
	const char *p = text, *end = text + n;
	if (out_len)
		out[0] = '\0';
	if (un == 0 || out_len == 0)
		return VBX_ENOTFOUND;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *f;
		size_t fn;
		if (e > p && e[-1] == '\r')
			e--;
		/* the first entry of the user decides, as in getpwnam() */
		if (*p != '#' && line_is(p, e, user, un, numeric)) {
			if (!field(p, e, 6, &f, &fn) ||
			    !shell_usable(f, fn, out_len))
				return VBX_ENOTFOUND;
			memcpy(out, f, fn);
			out[fn] = '\0';
			return VBX_OK;
		}
		p = nl ? nl + 1 : end;
	}
	return VBX_ENOTFOUND;
}

/* A decimal id of a passwd field: digits only, below 2^31. */
static bool id_field(const char *s, size_t n, long *out)
{
	long v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 0x7fffffffL)
		return false;
	*out = v;
	return true;
}

/* A home worth mounting on: an absolute path of visible characters,
 * not "/" itself (the whole filesystem). */
static bool home_usable(const char *s, size_t n, size_t max)
{
	if (n < 2 || n >= max || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int dkr_passwd_home(const char *text, size_t n, const char *user,
                    dkr_passwd_entry *out)
{
	size_t un = strcspn(user, ":");
	bool numeric = un > 0 && strspn(user, "0123456789") == un;
	const char *p = text, *end = text + n;
	memset(out, 0, sizeof(*out));
	out->uid = out->gid = -1;
	if (un == 0)
		return VBX_ENOTFOUND;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *f, *u, *g;
		size_t fn, uidn, gidn;
		if (e > p && e[-1] == '\r')
			e--;
		if (*p != '#' && line_is(p, e, user, un, numeric)) {
			if (!field(p, e, 2, &u, &uidn) ||
			    !field(p, e, 3, &g, &gidn) ||
			    !field(p, e, 5, &f, &fn) ||
			    !id_field(u, uidn, &out->uid) ||
			    !id_field(g, gidn, &out->gid) ||
			    !home_usable(f, fn, sizeof(out->home))) {
				out->uid = out->gid = -1;
				return VBX_ENOTFOUND;
			}
			memcpy(out->home, f, fn);
			out->home[fn] = '\0';
			return VBX_OK;
		}
		p = nl ? nl + 1 : end;
	}
	return VBX_ENOTFOUND;
}

/* An octal field of width n (with its NUL). */
static void put_octal(unsigned char *f, size_t n, uint64_t v)
{
	snprintf((char *)f, n, "%0*llo", (int)(n - 1), (unsigned long long)v);
}

int dkr_tar_dir(const char *name, long uid, long gid, unsigned mode,
                char out[DKR_TAR_DIR_LEN])
{
	unsigned char *h = (unsigned char *)out;
	size_t n = strlen(name);
	uint64_t sum = 0;
	memset(out, 0, DKR_TAR_DIR_LEN);
	/* a relative directory name with its slash, inside the name field */
	if (n == 0 || n > 98 || name[0] == '/' || name[n - 1] == '/' ||
	    uid < 0 || gid < 0 || uid > 07777777 || gid > 07777777)
		return VBX_EINVAL;
	memcpy(h + H_NAME, name, n);
	h[H_NAME + n] = '/';
	put_octal(h + 100, 8, mode & 07777);
	put_octal(h + 108, 8, (uint64_t)uid);
	put_octal(h + 116, 8, (uint64_t)gid);
	put_octal(h + H_SIZE, 12, 0);
	put_octal(h + 136, 12, 0); /* mtime */
	h[H_TYPE] = '5';
	memcpy(h + 257, "ustar", 6); /* magic "ustar\0", version "00" */
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
	snprintf((char *)h + H_CHKSUM, 8, "%06llo", (unsigned long long)sum);
	h[H_CHKSUM + 7] = ' ';
	return VBX_OK;
}
