/* SPDX-License-Identifier: Apache-2.0 */
/*
 * undefsym - a plugin that calls a function nothing defines (as if it had
 * been linked against the daemon). RTLD_NOW makes dlopen() refuse it at
 * load time instead of crashing at the first call.
 */
#include "test_hooks.h"

int vbx_test_no_such_function(void);

static int undefsym_init(vbx_plugin *self, const vbx_config *cfg)
{
	return vbx_test_no_such_function();
}

static void undefsym_fini(vbx_plugin *self)
{
}

VBX_PLUGIN(.name = "undefsym", .version = "1", .init = undefsym_init,
           .fini = undefsym_fini);
