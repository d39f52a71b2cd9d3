/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route-out - a third-party plugin that registers a route outside its
 * namespace (/api/v1/ping instead of /api/v1/x/route-out/ping). The
 * registration is refused with VBX_EINVAL; the plugin ignores that on
 * purpose and returns VBX_OK, and the load must fail all the same.
 */
#include "test_hooks.h"

static int ping(void *ud, vbx_request *req)
{
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

static int route_out_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("route-out", "init");
	if (vbx_route_add(self, "GET", "/api/v1/ping", VBX_ROUTE_PUBLIC, ping,
	                  NULL) == VBX_EINVAL)
		test_trace("route-out", "refused");
	return VBX_OK;
}

static void route_out_fini(vbx_plugin *self)
{
	test_trace("route-out", "fini");
}

VBX_PLUGIN(.name = "route-out", .version = "1", .init = route_out_init,
           .fini = route_out_fini);
