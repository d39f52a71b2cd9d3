/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - which plugin may register which route: the namespace of
 * third-party plugins, and clashes between plugins. Both the HTTP and the
 * WebSocket route tables (server.c, ws.c) register through here, in the
 * daemon and in libvibebox-test alike.
 *
 * The project's own plugins (the list below, and the core itself) own
 * the API's paths. Every other plugin is a third party, and its routes
 * live under its own name, /api/v1/x/<plugin>/..., so that no plugin can
 * take over a path of the API or of another plugin, and a plugin added
 * later cannot break one installed before it. /api/v1/x/ itself is only
 * for those namespaces: no plugin registers under another's name.
 *
 * A refusal is recorded as a load error (registry.c), so a plugin that
 * ignores the return of vbx_route_add() still fails to load instead of
 * running with a route missing.
 */
#include "vbx_build.h"

#include <stdio.h>
#include <string.h>

#include "core.h"
#include "server.h"

#define X_PREFIX "/api/v1/x"

/* Plugins that ship with VibeBox; docs/plugin-guide.md lists them too. */
static const char *const project_plugins[] = {
        "core",        "platform",       "auth",    "postgres-store",
        "redis-cache", "docker-runtime", "metrics", "tracing",
        "backup-s3",   "web-console",    NULL,
};

bool vbx__plugin_is_project(const char *name)
{
	for (size_t i = 0; name && project_plugins[i]; i++)
		if (strcmp(name, project_plugins[i]) == 0)
			return true;
	return false;
}

/* Is pattern under X_PREFIX; then *ns is the segment after it (the
 * namespace it names, possibly empty) and *nslen its length. */
static bool under_x(const char *pattern, const char **ns, size_t *nslen)
{
	size_t n = strlen(X_PREFIX);
	if (strncmp(pattern, X_PREFIX, n) != 0 ||
	    (pattern[n] != '\0' && pattern[n] != '/'))
		return false;
	*ns = pattern + n + (pattern[n] == '/');
	*nslen = strcspn(*ns, "/");
	return true;
}

/* "route GET /x" or "WebSocket route /x", for messages. */
static void describe(const vbx__route *r, char *buf, size_t size)
{
	if (r->ws)
		snprintf(buf, size, "WebSocket route %s", r->pattern);
	else
		snprintf(buf, size, "route %s %s", r->method, r->pattern);
}

/* VBX_OK when r's owner may register r's pattern, else VBX_EINVAL with
 * the reason recorded. */
static int check_namespace(const vbx__route *r, const char *what)
{
	const char *name = r->owner->name, *ns;
	size_t nslen;

	if (under_x(r->pattern, &ns, &nslen)) {
		if (nslen == strlen(name) && strncmp(ns, name, nslen) == 0)
			return VBX_OK;
		vbx__registry_report(r->owner,
		                     "plugin \"%s\": %s: " X_PREFIX
		                     "/ holds each third-party plugin's "
		                     "routes under its own name; plugin \"%s\" "
		                     "may use " X_PREFIX "/%s/ only",
		                     name, what, name, name);
		return VBX_EINVAL;
	}
	if (vbx__plugin_is_project(name))
		return VBX_OK;
	vbx__registry_report(r->owner,
	                     "plugin \"%s\": %s: the routes of a third-party "
	                     "plugin must live under " X_PREFIX
	                     "/%s/; register it there (see \"Routes\" in "
	                     "docs/plugin-guide.md)",
	                     name, what, name);
	return VBX_EINVAL;
}

/* The router refused r as `rc`; say why, naming both plugins of a
 * clash. */
static void report_refusal(const vbx__route *r, const char *what, int rc,
                           const vbx__route *old)
{
	const char *name = r->owner->name;
	char other[512];

	if (rc == VBX_EEXIST && old && old->owner == r->owner) {
		describe(old, other, sizeof(other));
		vbx__registry_report(
		        r->owner,
		        "plugin \"%s\": %s clashes with its own %s; "
		        "register each route once",
		        name, what, other);
	} else if (rc == VBX_EEXIST && old) {
		describe(old, other, sizeof(other));
		vbx__registry_report(
		        r->owner,
		        "plugins \"%s\" and \"%s\" clash: %s of "
		        "plugin \"%s\" and %s of plugin \"%s\" "
		        "match the same requests; enable only one of "
		        "them",
		        old->owner->name, name, what, name, other,
		        old->owner->name);
	} else if (rc == VBX_EINVAL) {
		vbx__registry_report(
		        r->owner,
		        "plugin \"%s\": %s: bad method or pattern "
		        "(see vbx_route_add() in <vibebox/http.h>)",
		        name, what);
	} else {
		vbx__registry_report(r->owner, "plugin \"%s\": %s: %s", name,
		                     what, vbx__strerror(rc));
	}
}

int vbx__route_register(vbx__router *router, const vbx__route *r)
{
	char what[512];
	const vbx__route *old = NULL;

	if (!r->pattern || !r->owner || !r->owner->name)
		return VBX_EINVAL;
	describe(r, what, sizeof(what));
	int rc = check_namespace(r, what);
	if (rc != VBX_OK)
		return rc;
	rc = vbx__router_add(router, r, &old);
	if (rc != VBX_OK)
		report_refusal(r, what, rc, old);
	return rc;
}
