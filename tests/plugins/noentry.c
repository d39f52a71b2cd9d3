/* SPDX-License-Identifier: Apache-2.0 */
/*
 * noentry - a shared object that is not a vibeboxd plugin: it exports no
 * vbx_plugin_entry (here, a function by another name).
 */
#include <vibebox/common.h>

VBX_EXPORT int plugin_main(void);
VBX_EXPORT int plugin_main(void)
{
	return 0;
}
