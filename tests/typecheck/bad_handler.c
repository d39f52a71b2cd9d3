/* SPDX-License-Identifier: Apache-2.0 */
/* A handler with the wrong parameters for the authorize hook: must not
 * compile with the SDK's flags. */
#include <vibebox/vibebox.h>

static int allow(void *ud, const char *action)
{
	return VBX_OK;
}

int register_it(vbx_plugin *self);
int register_it(vbx_plugin *self)
{
	return vbx_hook_authorize_register(self, allow, NULL, VBX_PRIO_MIDDLE);
}
