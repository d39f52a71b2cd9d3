/* SPDX-License-Identifier: Apache-2.0 */
/*
 * needhello - a good plugin that requires "greeting". Listed before hello
 * in the tests' config, it must still be inited and started after it.
 */
#include "test_hooks.h"

static int needhello_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace(vbx_plugin_name(self), "init");
	vbx_log_info(self, "init after hello");
	return VBX_OK;
}

static int needhello_start(vbx_plugin *self)
{
	test_trace("needhello", "start");
	return VBX_OK;
}

static void needhello_stop(vbx_plugin *self)
{
	test_trace("needhello", "stop");
}

static void needhello_fini(vbx_plugin *self)
{
	test_trace("needhello", "fini");
}

static const char *const needhello_requires[] = {"greeting", NULL};

VBX_PLUGIN(.name = "needhello", .version = "0.2",
           .description = "needs a greeting", .requires = needhello_requires,
           .init = needhello_init, .start = needhello_start,
           .stop = needhello_stop, .fini = needhello_fini);
