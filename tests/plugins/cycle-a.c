/* SPDX-License-Identifier: Apache-2.0 */
/* cycle-a - provides "cap-a" and requires "cap-b", which cycle-b
 * provides while requiring "cap-a": neither can be inited first. */
#include "test_hooks.h"

static int cycle_a_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("cycle-a", "init");
	return VBX_OK;
}

static void cycle_a_fini(vbx_plugin *self)
{
	test_trace("cycle-a", "fini");
}

static const char *const cycle_a_provides[] = {"cap-a", NULL};
static const char *const cycle_a_requires[] = {"cap-b", NULL};

VBX_PLUGIN(.name = "cycle-a", .version = "1", .provides = cycle_a_provides,
           .requires = cycle_a_requires, .init = cycle_a_init,
           .fini = cycle_a_fini);
