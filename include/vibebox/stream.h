/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/stream.h - the daemon's stream pump (ABI 1.1): a generic,
 * bounded way to move the bytes of runtime streams (an exec's TTY, a
 * container's followed logs) to and from WebSockets without a thread per
 * stream.
 *
 * A pump is one thread that polls the descriptors of many sources. Each
 * source is a struct of the plugin's own that starts with a vbx_pump_src
 * and holds one vbx_stream (runtime.h). The pump calls the source's
 * service callback when its descriptor is ready, when it was kicked, or
 * when the deadline it asked for has passed; the callback moves what can
 * move without blocking and says what it wants next (read, write, be
 * serviced again, close, free). Backpressure is the plugin's: a source
 * that does not ask for VBX_PUMP_READ while its consumers are full is not
 * read, so a slow WebSocket client slows the process behind it instead of
 * growing a buffer.
 *
 * Threads and locks: every callback but blocking and free runs on the
 * pump's thread with the pump's lock held; nothing may block there. Code
 * on other threads (WebSocket callbacks, workers) that touches what the
 * callbacks touch takes vbx_pump_lock() briefly. Work that may block is
 * asked for with VBX_PUMP_BLOCKING and runs on a worker without the lock.
 */
#ifndef VIBEBOX_STREAM_H
#define VIBEBOX_STREAM_H

#include <vibebox/plugin.h>
#include <vibebox/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a source asks of the pump, returned by its service callback; also
 * what the pump reports ready (VBX_PUMP_READ, VBX_PUMP_WRITE). */
enum {
	VBX_PUMP_READ = 0x01,     /* poll the stream for input */
	VBX_PUMP_WRITE = 0x02,    /* poll the stream for room to write */
	VBX_PUMP_AGAIN = 0x04,    /* service again soon without polling */
	VBX_PUMP_BLOCKING = 0x08, /* call ops->blocking without the lock */
	VBX_PUMP_CLOSE = 0x10,    /* close the stream, then ops->closed */
	VBX_PUMP_FREE = 0x20,     /* close it if open, forget, ops->free */
};

typedef struct vbx_pump vbx_pump; /* a pump: its thread and its lock */
typedef struct vbx_pump_src vbx_pump_src;

typedef struct vbx_pump_ops {
	/*
	 * Pump thread, lock held, must not block. ready has VBX_PUMP_READ
	 * and/or VBX_PUMP_WRITE for what the descriptor reported; now_ms is
	 * vbx_pump_now_ms(). Move what can move (src->stream's read and
	 * write) and return VBX_PUMP_* requests; *deadline_ms (monotonic, 0
	 * for none) asks to be serviced again by then.
	 */
	unsigned (*service)(vbx_pump_src *src, unsigned ready, int64_t now_ms,
	                    int64_t *deadline_ms);
	/* A worker, lock not held: the work of VBX_PUMP_BLOCKING. */
	void (*blocking)(vbx_pump_src *src);
	/* Pump thread, lock held: the stream was closed (src->stream is
	 * NULL now); rc is its close()'s result, exit_code the process's
	 * (-1 when unknown). */
	void (*closed)(vbx_pump_src *src, int rc, int exit_code);
	/* Lock not held: the pump forgot src; free it. */
	void (*free)(vbx_pump_src *src);
} vbx_pump_ops;

/* The head of a source: the first member of the plugin's own struct. */
struct vbx_pump_src {
	const vbx_pump_ops *ops; /* set by vbx_pump_add() */
	vbx_pump *pump;          /* set by vbx_pump_add() */
	vbx_stream *stream;      /* the stream; NULL once closed */
	void *priv[12];          /* the pump's bookkeeping: leave alone */
};

/*
 * A new pump, without a thread until its first source. NULL when out of
 * memory or without epoll (logged). Free it with vbx_pump_free().
 */
static inline vbx_pump *vbx_pump_new(vbx_plugin *p)
{
	return VBX__HOST(p)->pump_new(p);
}

/*
 * Stop the pump's thread, wait for its workers, then close every
 * source's stream and call each ops->free (may block). Call from the
 * plugin's stop or fini, before what the sources point to is freed. The
 * daemon frees every pump itself after its server stops and before any
 * plugin's stop; freeing one again does nothing (the daemon knows which
 * are alive, so pump is not read). pump may be NULL.
 */
static inline void vbx_pump_free(vbx_plugin *p, vbx_pump *pump)
{
	if (pump)
		VBX__HOST(p)->pump_free(pump);
}

/*
 * Add src (zeroed by the caller, owned by the plugin until ops->free) with
 * its stream, which the pump takes and closes; src is serviced soon. Takes
 * the lock itself: do not hold it. Returns VBX_OK, or VBX_ERR when the
 * thread or the descriptor cannot be set up or the pump is stopping (the
 * stream is then still the caller's, and ops->free is not called).
 */
static inline int vbx_pump_add(vbx_pump *pump, vbx_pump_src *src,
                               const vbx_pump_ops *ops, vbx_stream *stream)
{
	return VBX__HOST(pump)->pump_add(pump, src, ops, stream);
}

/* Take and release the pump's lock (not from its callbacks, which hold
 * it already). */
static inline void vbx_pump_lock(vbx_pump *pump)
{
	VBX__HOST(pump)->pump_lock(pump);
}

static inline void vbx_pump_unlock(vbx_pump *pump)
{
	VBX__HOST(pump)->pump_unlock(pump);
}

/* Have src serviced soon (its consumers made room, input arrived). Lock
 * held. */
static inline void vbx_pump_kick(vbx_pump_src *src)
{
	VBX__HOST(src->pump)->pump_kick(src);
}

/* The monotonic clock of deadlines, in milliseconds. */
static inline int64_t vbx_pump_now_ms(const vbx_pump *pump)
{
	return VBX__HOST(pump)->pump_now_ms();
}

#ifdef __cplusplus
}
#endif
#endif
