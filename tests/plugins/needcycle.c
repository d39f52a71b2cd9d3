/* SPDX-License-Identifier: Apache-2.0 */
/*
 * needcycle - requires "cap-a", which only cycle-a provides. It waits on
 * the cycle without being part of it, so the error must not name it.
 */
#include "test_hooks.h"

static int needcycle_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("needcycle", "init");
	return VBX_OK;
}

static void needcycle_fini(vbx_plugin *self)
{
	test_trace("needcycle", "fini");
}

static const char *const needcycle_requires[] = {"cap-a", NULL};

VBX_PLUGIN(.name = "needcycle", .version = "1", .requires = needcycle_requires,
           .init = needcycle_init, .fini = needcycle_fini);
