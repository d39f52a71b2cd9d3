/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/hooks.h - the name the daemon's own catalog had in ABI 1.0,
 * kept so that plugins written for 1.0 still compile. New code includes
 * <vibebox/catalog.h> (the hooks and events) or <vibebox/hook.h> (the
 * macros that declare them).
 */
#ifndef VIBEBOX_HOOKS_H
#define VIBEBOX_HOOKS_H
#include <vibebox/catalog.h>
#endif
