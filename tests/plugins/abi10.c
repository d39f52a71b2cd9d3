/* SPDX-License-Identifier: Apache-2.0 */
/*
 * abi10 - a good plugin kept at plugin ABI 1.0: its descriptor spells the
 * version out instead of taking the SDK's, so it stays a 1.0 plugin when
 * the SDK's minor grows. A daemon of any later 1.x must load it, init it,
 * start it and run its hook handler (test_provide answers 10).
 */
#include "test_hooks.h"

static int provide(void *ud, int *out)
{
	*out = 10;
	return VBX_OK;
}

static int abi10_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("abi10", "init");
	return vbx_hook_test_provide_register(self, provide, NULL,
	                                      VBX_PRIO_MIDDLE);
}

static int abi10_start(vbx_plugin *self)
{
	test_trace("abi10", "start");
	return VBX_OK;
}

static void abi10_stop(vbx_plugin *self)
{
	test_trace("abi10", "stop");
}

static void abi10_fini(vbx_plugin *self)
{
	test_trace("abi10", "fini");
}

static const vbx_plugin_desc desc = {
        .magic = VBX_PLUGIN_MAGIC,
        .abi_major = 1,
        .abi_minor = 0,
        .struct_size = sizeof(vbx_plugin_desc),
        .name = "abi10",
        .version = "1.0.0",
        .description = "a plugin built for plugin ABI 1.0",
        .init = abi10_init,
        .start = abi10_start,
        .stop = abi10_stop,
        .fini = abi10_fini,
};

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return &desc;
}
