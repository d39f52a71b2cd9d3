/* SPDX-License-Identifier: Apache-2.0 */
/* badmagic - a descriptor whose magic is wrong. */
#include "test_hooks.h"

static int badmagic_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("badmagic", "init");
	return VBX_OK;
}

static void badmagic_fini(vbx_plugin *self)
{
	test_trace("badmagic", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = 0x12345678u,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "badmagic",
        .version = "1",
        .init = badmagic_init,
        .fini = badmagic_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
