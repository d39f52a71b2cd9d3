/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider-a - registers itself as the PROVIDER of test_provide. Loaded
 * with the other provider-*, one registration must be refused. It ignores
 * the refusal on purpose and returns VBX_OK, to prove that the loader
 * still fails the load when the registry recorded an error during init.
 */
#include "test_hooks.h"

static int provide(void *ud, int *out)
{
	*out = 'a';
	return VBX_OK;
}

static int provider_a_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("provider-a", "init");
	if (vbx_hook_test_provide_register(self, provide, NULL,
	                                   VBX_PRIO_MIDDLE) != VBX_OK)
		test_trace("provider-a", "refused");
	return VBX_OK;
}

static void provider_a_fini(vbx_plugin *self)
{
	test_trace("provider-a", "fini");
}

VBX_PLUGIN(.name = "provider-a", .version = "1", .init = provider_a_init,
           .fini = provider_a_fini);
