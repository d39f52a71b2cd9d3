/* SPDX-License-Identifier: Apache-2.0 */
/* A subscriber that takes another payload type: must not compile. */
#include <vibebox/vibebox.h>

static void on_reload(void *ud, const vbx_env_status_event *ev)
{
}

int subscribe_it(vbx_plugin *self);
int subscribe_it(vbx_plugin *self)
{
	return vbx_event_config_reload_subscribe(self, on_reload, NULL);
}
