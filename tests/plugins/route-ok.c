/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route-ok - a third-party plugin whose routes live in its namespace,
 * /api/v1/x/route-ok/: it must load, and GET /api/v1/x/route-ok/ping
 * answers {"pong":"route-ok"} to anyone.
 */
#include "test_hooks.h"

static int ping(void *ud, vbx_request *req)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "pong", "route-ok");
	return vbx_resp_json(req, 200, o);
}

static int ws_open(void *ud, vbx_ws *ws)
{
	return VBX_OK;
}

static void ws_close(void *ud, vbx_ws *ws, int code)
{
}

static const vbx_ws_ops ws_ops = {
        .struct_size = sizeof(vbx_ws_ops),
        .open = ws_open,
        .close = ws_close,
};

static int route_ok_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("route-ok", "init");
	int rc = vbx_route_add(self, "GET", "/api/v1/x/route-ok/ping",
	                       VBX_ROUTE_PUBLIC, ping, NULL);
	if (rc == VBX_OK)
		rc = vbx_route_add(self, "GET", "/api/v1/x/route-ok", 0, ping,
		                   NULL);
	if (rc == VBX_OK)
		rc = vbx_ws_route_add(self, "/api/v1/x/route-ok/ws",
		                      "vibebox.route-ok.v1", 0, &ws_ops, NULL);
	return rc;
}

static void route_ok_fini(vbx_plugin *self)
{
	test_trace("route-ok", "fini");
}

VBX_PLUGIN(.name = "route-ok", .version = "1", .init = route_ok_init,
           .fini = route_ok_fini);
