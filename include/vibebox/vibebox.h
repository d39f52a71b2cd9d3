/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/vibebox.h - the whole plugin SDK in one include.
 */
#ifndef VIBEBOX_VIBEBOX_H
#define VIBEBOX_VIBEBOX_H

#include <vibebox/common.h>
#include <vibebox/plugin.h>
#include <vibebox/config.h>
#include <vibebox/log.h>
#include <vibebox/hook.h>
#include <vibebox/catalog.h>
#include <vibebox/http.h>
#include <vibebox/store.h>
#include <vibebox/cache.h>
#include <vibebox/metrics.h>
#include <vibebox/trace.h>
#include <vibebox/util.h>

#endif
