/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/common.h - result codes and the handles every SDK header shares.
 *
 * Every SDK object a plugin receives (plugin, config block, request,
 * WebSocket, health report, event) starts with a pointer to the host
 * function table. The inline wrappers in the other headers call through it,
 * so a plugin never links against the daemon.
 */
#ifndef VIBEBOX_COMMON_H
#define VIBEBOX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. Zero is success; everything else is negative. */
enum {
	VBX_OK = 0,         /* success */
	VBX_DECLINED = -1,  /* a hook handler has no opinion; ask the next */
	VBX_ERR = -2,       /* unspecified failure; the callee logged why */
	VBX_EINVAL = -3,    /* bad argument or bad configuration */
	VBX_ENOMEM = -4,    /* out of memory */
	VBX_ENOTFOUND = -5, /* no such object */
	VBX_EEXIST = -6,    /* object exists already (HTTP 409) */
	VBX_EDENIED = -7,   /* not allowed (HTTP 403) */
	VBX_EUNAUTH = -8,   /* no valid credentials (HTTP 401) */
	VBX_EUNAVAIL =
	        -9,       /* a capability or dependency is missing (HTTP 503) */
	VBX_EAGAIN = -10, /* try again later: queue full, window closed */
	VBX_ESTATE = -11, /* wrong state for this operation */
	VBX_ETIMEDOUT = -12, /* an operation ran out of time */
	VBX_ESIGNATURE =
	        -13, /* hook or event signature differs from the registry's */
};

/* Opaque handles; see the header that documents each. */
typedef struct vbx_host vbx_host;       /* plugin.h: the host function table */
typedef struct vbx_plugin vbx_plugin;   /* plugin.h: one loaded plugin */
typedef struct vbx_config vbx_config;   /* config.h: a read-only config block */
typedef struct vbx_hook vbx_hook;       /* hook.h: one hook of the registry */
typedef struct vbx_event vbx_event;     /* hook.h: one event of the registry */
typedef struct vbx_request vbx_request; /* http.h: one HTTP request */
typedef struct vbx_ws vbx_ws;           /* http.h: one WebSocket connection */
typedef struct vbx_health vbx_health;   /* catalog.h: a readiness report */
typedef struct vbx_metric vbx_metric;   /* metrics.h: a metric family */
typedef struct vbx_span vbx_span;       /* trace.h: one span being recorded */

/* A generic function pointer; handlers are stored as this and called back
 * through their exact type (see hook.h), which C allows. */
typedef void (*vbx_fn)(void);

/*
 * The head every SDK object starts with. Plugins read only `host`; the
 * rest of each object is private to the daemon.
 */
struct vbx_object_head {
	const vbx_host *host;
};

/* The host table behind any SDK object pointer. */
#define VBX__HOST(obj)                                                         \
	(((const struct vbx_object_head *)(const void *)(obj))->host)

#if defined(__GNUC__)
#define VBX_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VBX_EXPORT __attribute__((visibility("default")))
#else
#define VBX_PRINTF(f, a)
#define VBX_EXPORT
#endif

#ifdef __cplusplus
}
#endif
#endif
