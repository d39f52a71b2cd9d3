/* SPDX-License-Identifier: Apache-2.0 */
/*
 * initfail - init fails with VBX_EINVAL. Its fini traces "initfail:fini",
 * which must never appear: fini is called only after a successful init.
 */
#include "test_hooks.h"

static int initfail_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("initfail", "init");
	vbx_log_error(self, "refusing to start, as tests expect");
	return VBX_EINVAL;
}

static void initfail_fini(vbx_plugin *self)
{
	test_trace("initfail", "fini");
}

VBX_PLUGIN(.name = "initfail", .version = "1", .init = initfail_init,
           .fini = initfail_fini);
