/* SPDX-License-Identifier: Apache-2.0 */
/* abiminor - built for a newer ABI minor than the daemon. */
#include "test_hooks.h"

static int abiminor_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("abiminor", "init");
	return VBX_OK;
}

static void abiminor_fini(vbx_plugin *self)
{
	test_trace("abiminor", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR + 1,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "abiminor",
        .version = "1",
        .init = abiminor_init,
        .fini = abiminor_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
