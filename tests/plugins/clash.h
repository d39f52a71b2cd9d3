/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/plugins/clash.h - two plugins whose routes clash. Third-party
 * plugins cannot clash (each lives under /api/v1/x/<its name>/), so the
 * pair borrows the names of two of the project's own plugins, metrics and
 * tracing, whose routes may go anywhere. Both register GET
 * /api/v1/reports/{...}: the same requests, whatever the parameter's name.
 * The second one's load must fail with an error naming both.
 */
#ifndef VBX_TEST_CLASH_H
#define VBX_TEST_CLASH_H

#include "test_hooks.h"

static int clash_report(void *ud, vbx_request *req)
{
	return vbx_resp_body(req, 204, NULL, NULL, 0);
}

#define CLASH_PLUGIN(NAME, PATTERN)                                            \
	static int clash_init(vbx_plugin *self, const vbx_config *cfg)         \
	{                                                                      \
		test_trace(NAME, "init");                                      \
		return vbx_route_add(self, "GET", PATTERN, 0, clash_report,    \
		                     NULL);                                    \
	}                                                                      \
	static void clash_fini(vbx_plugin *self)                               \
	{                                                                      \
		test_trace(NAME, "fini");                                      \
	}                                                                      \
	VBX_PLUGIN(.name = NAME, .version = "1", .init = clash_init,           \
	           .fini = clash_fini)

#endif
