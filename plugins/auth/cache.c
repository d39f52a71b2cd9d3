/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c - how auth talks to the shared cache: the hooks, the keys it
 * makes from outside text, and the values it writes and reads back.
 *
 * What comes back from the cache is outside input (another process wrote
 * it, or anyone with access to the server), so it is parsed strictly and
 * anything unexpected is a miss: the caller then reads the store.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"

int auth_cache_hooks(vbx_plugin *self, auth_cache *c)
{
	c->get = vbx_hook_cache_get_get(self);
	c->set = vbx_hook_cache_set_get(self);
	c->del = vbx_hook_cache_delete_get(self);
	c->rate = vbx_hook_cache_rate_get(self);
	if (c->get && c->set && c->del && c->rate)
		return VBX_OK;
	vbx_log_error(self, "a cache hook has another signature than this "
	                    "plugin was built with: rebuild the cache plugin "
	                    "against the same SDK");
	return VBX_ESIGNATURE;
}

static bool token_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '_' ||
	       c == '-';
}

void auth_cache_token(const char *s, char out[AUTH_CACHE_TOKEN])
{
	size_t n = strlen(s);
	bool plain = n > 0 && n < AUTH_CACHE_TOKEN && !strchr(s, '@');
	for (size_t i = 0; plain && i < n; i++)
		plain = token_char(s[i]);
	if (plain) {
		memcpy(out, s, n + 1);
		return;
	}
	char hex[AUTH_SHA256_HEX];
	auth_sha256_hex(s, hex);
	snprintf(out, AUTH_CACHE_TOKEN, "%.32s", hex);
}

size_t auth_user_entry_encode(const vbx_user *u, char *out, size_t cap)
{
	int n = snprintf(out, cap, "1|%d|%d|%s", u->admin ? 1 : 0,
	                 u->disabled ? 1 : 0, u->email);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bool flag(char c, bool *out)
{
	if (c != '0' && c != '1')
		return false;
	*out = c == '1';
	return true;
}

int auth_user_entry_decode(const char *in, size_t len, vbx_user *u)
{
	bool admin, disabled;

	if (len < 7 || len - 6 >= sizeof(u->email) || in[0] != '1' ||
	    in[1] != '|' || !flag(in[2], &admin) || in[3] != '|' ||
	    !flag(in[4], &disabled) || in[5] != '|')
		return VBX_EINVAL;
	for (size_t i = 6; i < len; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return VBX_EINVAL;
	memcpy(u->email, in + 6, len - 6);
	u->email[len - 6] = '\0';
	u->admin = admin;
	u->disabled = disabled;
	return VBX_OK;
}

int auth_cache_decode_ms(const char *in, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len < 1 || len > 18)
		return VBX_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (in[i] < '0' || in[i] > '9')
			return VBX_EINVAL;
		v = v * 10 + (in[i] - '0');
	}
	*out = v;
	return VBX_OK;
}
