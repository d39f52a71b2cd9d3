/* SPDX-License-Identifier: Apache-2.0 */
/* nulldesc - an entry function that returns no descriptor. */
#include <vibebox/vibebox.h>

VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void)
{
	return NULL;
}
