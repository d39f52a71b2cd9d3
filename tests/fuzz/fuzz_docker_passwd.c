/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_docker_passwd.c - docker-runtime's passwd.c fed arbitrary bytes, as
 * an image's author could put them in /etc/passwd, or whatever answers on
 * the engine's socket could send for its archive:
 *
 *   - the input as a tar archive: a member found lies inside the input,
 *     a link target is NUL-terminated and at most 100 bytes; the file's
 *     bytes then go through the passwd parser as below;
 *   - the input as a passwd file, for a few users: a shell found is an
 *     absolute path of visible ASCII that fits, is found in the input,
 *     and a smaller buffer gives the same shell or none; none leaves "";
 *     a home found (dkr_passwd_home) is an absolute path of visible ASCII
 *     other than "/" found in the input, with ids below 2^31.
 *
 * Links plugins/docker-runtime/passwd.c alone.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

static void check_shell(const char *text, size_t n, const char *user)
{
	char out[DKR_SHELL_MAX], small[16];
	int rc = dkr_passwd_shell(text, n, user, out, sizeof(out));
	int rs = dkr_passwd_shell(text, n, user, small, sizeof(small));

	if (rc != VBX_OK) {
		if (rc != VBX_ENOTFOUND || out[0] || rs != VBX_ENOTFOUND ||
		    small[0])
			abort();
		return;
	}
	size_t len = strlen(out);
	if (len < 2 || len >= sizeof(out) || out[0] != '/')
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] <= ' ' ||
		    (unsigned char)out[i] >= 0x7f)
			abort();
	if (!memmem(text, n, out, len))
		abort();
	if (rs == VBX_OK ? strcmp(small, out) != 0
	                 : rs != VBX_ENOTFOUND || small[0])
		abort();
}

/* A home found is an absolute path of visible ASCII other than "/",
 * found in the input, with ids 0..2^31-1; none leaves "" and -1. */
static void check_home(const char *text, size_t n, const char *user)
{
	dkr_passwd_entry e;
	int rc = dkr_passwd_home(text, n, user, &e);
	size_t len = strnlen(e.home, sizeof(e.home));

	if (rc != VBX_OK) {
		if (rc != VBX_ENOTFOUND || len || e.uid != -1 || e.gid != -1)
			abort();
		return;
	}
	if (len < 2 || len >= sizeof(e.home) || e.home[0] != '/' || e.uid < 0 ||
	    e.gid < 0 || e.uid > 0x7fffffffL || e.gid > 0x7fffffffL ||
	    !memmem(text, n, e.home, len))
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)e.home[i] <= ' ' ||
		    (unsigned char)e.home[i] >= 0x7f)
			abort();
}

static void check_passwd(const char *text, size_t n)
{
	static const char *const users[] = {"root", "0", "dev:dev", "1000"};
	for (size_t i = 0; i < sizeof(users) / sizeof(*users); i++) {
		check_shell(text, n, users[i]);
		check_home(text, n, users[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	dkr_tar_member m;
	int rc = dkr_tar_first(text, size, &m);

	if (rc == VBX_OK && m.type == '0') {
		if (m.data < text || m.len > size ||
		    (size_t)(m.data - text) > size - m.len)
			abort();
		check_passwd(m.data, m.len);
	} else if (rc == VBX_OK) {
		if (m.type != '2' || !memchr(m.link, '\0', sizeof(m.link)) ||
		    !m.link[0])
			abort();
	} else if (rc != VBX_ENOTFOUND && rc != VBX_EINVAL) {
		abort();
	}
	check_passwd(text, size);
	return 0;
}
