/* SPDX-License-Identifier: Apache-2.0 */
/* shortdesc - a descriptor whose struct_size is too small to hold init and
 * fini. */
#include "test_hooks.h"

static int shortdesc_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("shortdesc", "init");
	return VBX_OK;
}

static void shortdesc_fini(vbx_plugin *self)
{
	test_trace("shortdesc", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = 16,
        .name = "shortdesc",
        .version = "1",
        .init = shortdesc_init,
        .fini = shortdesc_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
