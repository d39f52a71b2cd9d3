/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pump.h - the stream pump behind <vibebox/stream.h> (pump.c), which
 * documents each function. Not installed. vbx__pump_free() of a pump
 * that is not alive (freed already) does nothing.
 */
#ifndef VBX_PUMP_H
#define VBX_PUMP_H

#include <vibebox/stream.h>

#include "core.h"

vbx_pump *vbx__pump_new(void);
void vbx__pump_free(vbx_pump *p);
int vbx__pump_add(vbx_pump *p, vbx_pump_src *src, const vbx_pump_ops *ops,
                  vbx_stream *stream);
void vbx__pump_lock(vbx_pump *p);
void vbx__pump_unlock(vbx_pump *p);
void vbx__pump_kick(vbx_pump_src *src);
int64_t vbx__pump_now_ms(void);
/*
 * Free every pump still alive: close their streams and free their
 * sources (the plugins' free callbacks run). The daemon calls it after
 * the server is gone and before plugins stop; a plugin's own
 * vbx_pump_free() of a pump freed so is then a no-op.
 */
void vbx__pumps_shutdown(void);

#endif
