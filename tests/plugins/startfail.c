/* SPDX-License-Identifier: Apache-2.0 */
/*
 * startfail - init succeeds, start fails with VBX_EUNAVAIL. The plugins
 * started before it must be stopped; its own stop must not be called.
 */
#include "test_hooks.h"

static int startfail_init(vbx_plugin *self, const vbx_config *cfg)
{
	test_trace("startfail", "init");
	return VBX_OK;
}

static int startfail_start(vbx_plugin *self)
{
	test_trace("startfail", "start");
	return VBX_EUNAVAIL;
}

static void startfail_stop(vbx_plugin *self)
{
	test_trace("startfail", "stop");
}

static void startfail_fini(vbx_plugin *self)
{
	test_trace("startfail", "fini");
}

VBX_PLUGIN(.name = "startfail", .version = "1", .init = startfail_init,
           .start = startfail_start, .stop = startfail_stop,
           .fini = startfail_fini);
