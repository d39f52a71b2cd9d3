/* SPDX-License-Identifier: Apache-2.0 */
/* needcap - requires a capability that no plugin provides. */
#include "test_hooks.h"

static int needcap_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("needcap", "init");
	return VBX_OK;
}

static void needcap_fini(vbx_plugin *self)
{
	test_trace("needcap", "fini");
}

static const char *const needcap_requires[] = {"greeting", "teleport", NULL};

VBX_PLUGIN(.name = "needcap", .version = "1", .requires = needcap_requires,
           .init = needcap_init, .fini = needcap_fini);
