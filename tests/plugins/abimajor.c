/* SPDX-License-Identifier: Apache-2.0 */
/* abimajor - built for the next ABI major (an incompatible SDK). */
#include "test_hooks.h"

static int abimajor_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("abimajor", "init");
	return VBX_OK;
}

static void abimajor_fini(vbx_plugin *self)
{
	test_trace("abimajor", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR + 1,
        .abi_minor = 0,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "abimajor",
        .version = "1",
        .init = abimajor_init,
        .fini = abimajor_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
