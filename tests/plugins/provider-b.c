/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider-b - registers itself as the PROVIDER of test_provide. Loaded
 * with the other provider-*, one registration must be refused. It ignores
 * the refusal on purpose and returns VBX_OK, to prove that the loader
 * still fails the load when the registry recorded an error during init.
 */
#include "test_hooks.h"

static int provide(void *ud, int *out)
{
	*out = 'b';
	return VBX_OK;
}

static int provider_b_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("provider-b", "init");
	if (vbx_hook_test_provide_register(self, provide, NULL,
	                                   VBX_PRIO_MIDDLE) != VBX_OK)
		test_trace("provider-b", "refused");
	return VBX_OK;
}

static void provider_b_fini(vbx_plugin *self)
{
	test_trace("provider-b", "fini");
}

VBX_PLUGIN(.name = "provider-b", .version = "1", .init = provider_b_init,
           .fini = provider_b_fini);
