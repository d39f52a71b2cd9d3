/* SPDX-License-Identifier: Apache-2.0 */
/* hello - a good plugin that provides "greeting" and traces its calls. */
#include "test_hooks.h"

/* Reads one key of its block, so that a config error can make it fail. */
static int hello_init(vbx_plugin *self, const vbx_config *cfg)
{
	const char *greeting;
	int rc = vbx_cfg_string(cfg, "greeting", "hello", &greeting);

	test_trace(vbx_plugin_name(self), "init");
	if (rc != VBX_OK)
		return rc;
	vbx_log_info(self, "%s from init", greeting);
	return VBX_OK;
}

static int hello_start(vbx_plugin *self)
{
	test_trace("hello", "start");
	return VBX_OK;
}

static void hello_stop(vbx_plugin *self)
{
	test_trace("hello", "stop");
}

static void hello_fini(vbx_plugin *self)
{
	test_trace("hello", "fini");
}

static const char *const hello_provides[] = {"greeting", NULL};

VBX_PLUGIN(.name = "hello", .version = "1.0.0",
           .description = "provides a greeting", .provides = hello_provides,
           .init = hello_init, .start = hello_start, .stop = hello_stop,
           .fini = hello_fini);
