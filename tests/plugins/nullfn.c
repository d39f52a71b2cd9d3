/* SPDX-License-Identifier: Apache-2.0 */
/* nullfn - a descriptor without its mandatory fini. */
#include "test_hooks.h"

static int nullfn_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("nullfn", "init");
	return VBX_OK;
}

VBX_PLUGIN(.name = "nullfn", .version = "1", .init = nullfn_init);
