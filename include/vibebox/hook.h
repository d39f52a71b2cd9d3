/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/hook.h - declaring, registering and running typed hooks and
 * events.
 *
 * A hook is a synchronous call that decides or provides something. One
 * declaration generates its handler typedef, a type-checked register
 * function and an inline run function:
 *
 *     VBX_HOOK_DECLARE(greet, FIRST, VBX_DECLINED,
 *                      (const char *who, char *out, size_t len),
 *                      (who, out, len))
 *
 * gives
 *
 *     typedef int vbx_hook_greet_fn(void *ud, const char *who, char *out,
 *                                   size_t len);
 *     vbx_hook *vbx_hook_greet_get(vbx_plugin *p);
 *     int vbx_hook_greet_register(vbx_plugin *p, vbx_hook_greet_fn *fn,
 *                                 void *ud, int prio);
 *     int vbx_hook_greet_run(const vbx_hook *h, const char *who, char *out,
 *                            size_t len);
 *
 * A handler of another C type does not compile. The stringised parameter
 * list travels with each registration as the hook's signature, so a plugin
 * built against a different declaration is refused at run time with an
 * error naming both plugins and both signatures. Signatures compare as C
 * types (since ABI 1.1): parameter names, spacing and the order of
 * specifiers do not count, so "(const vbx_principal *who)" equals
 * "(vbx_principal const* principal)"; a different type, a const more or
 * less, one '*' more, another array size or parameter count does. Hooks
 * are keyed by name: a third party declares its own with the same macro
 * in its own header.
 *
 * Every hook returns int. Policies:
 *   FIRST     handlers run in order; the first that does not return
 *             VBX_DECLINED answers. With no handler, or all declining,
 *             the run returns the declared default.
 *   ALL       every handler runs in order; VBX_OK and VBX_DECLINED go on,
 *             any other value is a veto that stops the run and is
 *             returned. With no veto, the run returns the default.
 *   PROVIDER  exactly one handler; a second registration is a load error
 *             naming both plugins. With none, the run returns the default.
 *
 * Order: priority (VBX_PRIO_FIRST, _MIDDLE, _LAST or any 0..100; lower
 * first), ties in config order. Registration is open during init only;
 * then the tables are frozen and a run reads them without locks. Runs
 * before the freeze see no handlers. A hook with no handler costs a load
 * and a branch.
 *
 * Events are asynchronous notifications with a typed payload:
 *
 *     typedef struct { uint32_t version; char name[64]; } greeted_event;
 *     VBX_EVENT_DECLARE(greeted, greeted_event, NULL)
 *
 * gives vbx_event_greeted_fn (void fn(void *ud, const greeted_event *ev)),
 * vbx_event_greeted_get(), _subscribe() and _publish(). The payload is
 * copied by value into a bounded queue, so it must hold no pointers and
 * fit VBX_EVENT_MAX_PAYLOAD bytes; its first member is a version number
 * the publisher sets. One dispatcher thread calls subscribers in
 * subscription order; a subscriber must not block. When the queue is full
 * the publish fails with VBX_EAGAIN (or waits, per `events.overflow` in the
 * daemon's config) and the daemon counts it.
 */
#ifndef VIBEBOX_HOOK_H
#define VIBEBOX_HOOK_H

#include <vibebox/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One registered handler. */
struct vbx_hook_entry {
	vbx_fn fn;
	void *ud;
};

/* The public head of a hook. entries/count are set when the registry
 * freezes and never change afterwards. */
struct vbx_hook {
	const vbx_host *host;
	const struct vbx_hook_entry *entries;
	size_t count;
	/* 1.3: nonzero when each run records a span (trace.h): set at the
	 * freeze for the store_*, runtime_* and cache_* hooks when a span
	 * exporter is registered, else 0. The daemon allocates vbx_hook, so
	 * a plugin built for 1.2 simply never reads it. */
	int traced;
};

/* The public head of an event. */
struct vbx_event {
	const vbx_host *host;
};

#define VBX_EVENT_MAX_PAYLOAD 1024

#define VBX__STRIP(...) __VA_ARGS__

#if defined(__GNUC__)
#define VBX__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define VBX__UNLIKELY(x) (x)
#endif

#define VBX__RUN_FIRST(T, h, dflt, ...)                                        \
	for (size_t vbx__i = 0; vbx__i < (h)->count; vbx__i++) {               \
		const struct vbx_hook_entry *vbx__e = &(h)->entries[vbx__i];   \
		int vbx__rc = ((T *)vbx__e->fn)(vbx__e->ud, __VA_ARGS__);      \
		if (vbx__rc != VBX_DECLINED)                                   \
			return vbx__rc;                                        \
	}                                                                      \
	return (dflt);

#define VBX__RUN_ALL(T, h, dflt, ...)                                          \
	for (size_t vbx__i = 0; vbx__i < (h)->count; vbx__i++) {               \
		const struct vbx_hook_entry *vbx__e = &(h)->entries[vbx__i];   \
		int vbx__rc = ((T *)vbx__e->fn)(vbx__e->ud, __VA_ARGS__);      \
		if (vbx__rc != VBX_OK && vbx__rc != VBX_DECLINED)              \
			return vbx__rc;                                        \
	}                                                                      \
	return (dflt);

#define VBX__RUN_PROVIDER(T, h, dflt, ...)                                     \
	if ((h)->count == 0)                                                   \
		return (dflt);                                                 \
	return ((T *)(h)->entries[0].fn)((h)->entries[0].ud, __VA_ARGS__);

/*
 * VBX_HOOK_DECLARE(name, policy, dflt, (params...), (args...))
 *   name    a C identifier, unique across the daemon
 *   policy  FIRST, ALL or PROVIDER
 *   dflt    what a run returns with no handler (see the policies above)
 *   params  the parameter list after the handler's `void *ud`
 *   args    the parameter names, in order
 *
 * vbx_hook_NAME_get(p): the registry's handle for the hook, created on
 * first use; owned by the daemon, valid until exit. NULL when the
 * signature or policy differs from an earlier declaration (logged).
 * vbx_hook_NAME_register(p, fn, ud, prio): during init only. Returns
 * VBX_OK, VBX_ESTATE after init, VBX_ESIGNATURE on a signature mismatch,
 * VBX_EEXIST for a second PROVIDER.
 * vbx_hook_NAME_run(h, args...): h from _get(), never NULL. When h is
 * traced (see struct vbx_hook) and the thread's trace is sampled, the
 * run is recorded as a span named NAME, a child of the thread's current
 * span, with the attribute vibebox.hook.result (the run's return); else
 * the flag costs one branch.
 */
#define VBX_HOOK_DECLARE(name, policy, dflt, params, args)                     \
	typedef int vbx_hook_##name##_fn(void *ud, VBX__STRIP params);         \
	static inline vbx_hook *vbx_hook_##name##_get(vbx_plugin *p)           \
	{                                                                      \
		return VBX__HOST(p)->hook_get(p, #name, "int" #params,         \
		                              VBX_POLICY_##policy);            \
	}                                                                      \
	static inline int vbx_hook_##name##_register(                          \
	        vbx_plugin *p, vbx_hook_##name##_fn *fn, void *ud, int prio)   \
	{                                                                      \
		vbx_hook *h = vbx_hook_##name##_get(p);                        \
		if (!h)                                                        \
			return VBX_ESIGNATURE;                                 \
		return VBX__HOST(p)->hook_register(p, h, "int" #params,        \
		                                   (vbx_fn)fn, ud, prio);      \
	}                                                                      \
	static inline int vbx_hook_##name##_run_(const vbx_hook *h,            \
	                                         VBX__STRIP params)            \
	{                                                                      \
		VBX__RUN_##policy(vbx_hook_##name##_fn, h, dflt,               \
		                  VBX__STRIP args)                             \
	}                                                                      \
	static inline int vbx_hook_##name##_run(const vbx_hook *h,             \
	                                        VBX__STRIP params)             \
	{                                                                      \
		if (VBX__UNLIKELY(h->traced != 0)) {                           \
			vbx_span *vbx__s = h->host->hook_span(h, NULL, 0);     \
			int vbx__rc =                                          \
			        vbx_hook_##name##_run_(h, VBX__STRIP args);    \
			if (vbx__s)                                            \
				h->host->hook_span(h, vbx__s, vbx__rc);        \
			return vbx__rc;                                        \
		}                                                              \
		return vbx_hook_##name##_run_(h, VBX__STRIP args);             \
	}

/*
 * VBX_EVENT_DECLARE(name, payload_type, to_json)
 *   to_json  NULL, or a vbx_event_json_fn that renders a payload as one
 *            JSON object and names the resource it concerns; events with
 *            one are user-facing and reach /api/v1/events (each filtered
 *            through the authorize hook). The first non-NULL one wins.
 *
 * vbx_event_NAME_get(p): the handle, created on first use; NULL on a
 * payload type or size mismatch (logged).
 * vbx_event_NAME_subscribe(p, fn, ud): during init only. VBX_OK,
 * VBX_ESTATE after init, VBX_ESIGNATURE on a mismatch.
 * vbx_event_NAME_publish(e, payload): any thread, after start; copies the
 * payload. VBX_OK, VBX_EAGAIN when the queue is full, VBX_ESTATE once the
 * daemon has stopped delivering.
 */
#define VBX_EVENT_DECLARE(name, type, to_json)                                 \
	_Static_assert(sizeof(type) <= VBX_EVENT_MAX_PAYLOAD,                  \
	               "event payload " #type " is too large");                \
	typedef void vbx_event_##name##_fn(void *ud, const type *ev);          \
	static inline vbx_event *vbx_event_##name##_get(vbx_plugin *p)         \
	{                                                                      \
		return VBX__HOST(p)->event_get(p, #name, #type, sizeof(type),  \
		                               to_json);                       \
	}                                                                      \
	static inline int vbx_event_##name##_subscribe(                        \
	        vbx_plugin *p, vbx_event_##name##_fn *fn, void *ud)            \
	{                                                                      \
		vbx_event *e = vbx_event_##name##_get(p);                      \
		if (!e)                                                        \
			return VBX_ESIGNATURE;                                 \
		return VBX__HOST(p)->event_subscribe(p, e, #type, (vbx_fn)fn,  \
		                                     ud);                      \
	}                                                                      \
	static inline int vbx_event_##name##_publish(vbx_event *e,             \
	                                             const type *payload)      \
	{                                                                      \
		return VBX__HOST(e)->event_publish(e, payload, sizeof(type));  \
	}

/*
 * Carry ev to every replica (ABI 1.2): where an event bridge runs (the
 * daemon bridges through cache_publish/cache_subscribe, cache.h, when a
 * provider is loaded), each publish of ev on one replica is delivered
 * once to ev's subscribers on every other replica too, and is never
 * echoed back. User-facing events (those with a to_json) are carried
 * without asking. Share an event whose subscribers keep state that every
 * replica must update (a cache to invalidate); not one that each replica
 * produces itself (a container seen exiting by each replica's watcher).
 * The payload crosses as its bytes, so it must mean the same to every
 * replica: no pointers (as always), no process-local handles. Call
 * during init. Returns VBX_OK, or VBX_EINVAL for a NULL ev.
 */
static inline int vbx_event_share(vbx_plugin *p, vbx_event *ev)
{
	return VBX__HOST(p)->event_share(ev);
}

#ifdef __cplusplus
}
#endif
#endif
