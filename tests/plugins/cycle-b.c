/* SPDX-License-Identifier: Apache-2.0 */
/* cycle-b - provides "cap-b" and requires "cap-a", which cycle-a
 * provides while requiring "cap-b": neither can be inited first. */
#include "test_hooks.h"

static int cycle_b_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("cycle-b", "init");
	return VBX_OK;
}

static void cycle_b_fini(vbx_plugin *self)
{
	test_trace("cycle-b", "fini");
}

static const char *const cycle_b_provides[] = {"cap-b", NULL};
static const char *const cycle_b_requires[] = {"cap-a", NULL};

VBX_PLUGIN(.name = "cycle-b", .version = "1", .provides = cycle_b_provides,
           .requires = cycle_b_requires, .init = cycle_b_init,
           .fini = cycle_b_fini);
