/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakecache.h - an in-memory provider of the cache hooks of
 * <vibebox/cache.h> for auth's unit tests: get/set/delete with expiry and
 * a sliding-window rate counter, and a switch that makes every hook
 * answer VBX_EUNAVAIL as a provider whose server is down does. The real
 * provider (redis-cache) is tested against a real redis-server in
 * tests/integration/test_auth_cache.py.
 */
#ifndef FAKECACHE_H
#define FAKECACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <vibebox/vibebox.h>

/* Register the hooks on p (the test's plugin, before vbx_test_start()),
 * emptied and up. VBX_OK or the registry's error. */
int fake_cache_register(vbx_plugin *p);

/* Down: every hook answers VBX_EUNAVAIL (the entries stay). */
void fake_cache_set_down(bool down);

/* The value of key as a NUL-terminated copy in buf (len bytes): true when
 * present and not expired. */
bool fake_cache_value(const char *key, char *buf, size_t len);

/* The number of live keys whose name starts with prefix. */
size_t fake_cache_count(const char *prefix);

/* Does any key contain s? */
bool fake_cache_key_contains(const char *s);

/* Calls of the hooks so far (all of them). */
size_t fake_cache_calls(void);

/* Store value under key for ttl_ms, as another replica would. */
void fake_cache_put(const char *key, const char *value, long long ttl_ms);

/* Once: right after the next get of key has answered (found or not),
 * store value under it for ttl_ms, as a replica that changes something
 * between two reads of another would. */
void fake_cache_change_after_get(const char *key, const char *value,
                                 long long ttl_ms);

#endif
