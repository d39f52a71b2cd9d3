/* SPDX-License-Identifier: Apache-2.0 */
/* badname - a descriptor that names another plugin than its file. */
#include "test_hooks.h"

static int badname_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("badname", "init");
	return VBX_OK;
}

static void badname_fini(vbx_plugin *self)
{
	test_trace("badname", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = VBX_ABI_MAJOR,
        .abi_minor = VBX_ABI_MINOR,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "othername",
        .version = "1",
        .init = badname_init,
        .fini = badname_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
