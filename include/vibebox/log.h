/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/log.h - logging for plugins.
 *
 * Lines go to the daemon's log (JSON lines or text on stderr) with the
 * time, the level, the plugin's name and, inside a request handler, the
 * request id. Messages are one line; the daemon escapes what needs it.
 *
 *     vbx_log_info(self, "connected to %s in %lld ms", host, ms);
 */
#ifndef VIBEBOX_LOG_H
#define VIBEBOX_LOG_H

#include <vibebox/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log at `level` (VBX_LOG_*) for plugin p. Thread-safe. */
static inline void vbx_log(const vbx_plugin *p, int level, const char *fmt, ...)
        VBX_PRINTF(3, 4);
static inline void vbx_log(const vbx_plugin *p, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	VBX__HOST(p)->log(p, level, fmt, ap);
	va_end(ap);
}

/* Nonzero when a message at `level` would be written; use it to skip
 * expensive formatting. */
static inline int vbx_log_enabled(const vbx_plugin *p, int level)
{
	return VBX__HOST(p)->log_enabled(p, level);
}

#define vbx_log_error(p, ...) vbx_log((p), VBX_LOG_ERROR, __VA_ARGS__)
#define vbx_log_warn(p, ...) vbx_log((p), VBX_LOG_WARN, __VA_ARGS__)
#define vbx_log_info(p, ...) vbx_log((p), VBX_LOG_INFO, __VA_ARGS__)
#define vbx_log_debug(p, ...)                                                  \
	do {                                                                   \
		if (vbx_log_enabled((p), VBX_LOG_DEBUG))                       \
			vbx_log((p), VBX_LOG_DEBUG, __VA_ARGS__);              \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
