/* SPDX-License-Identifier: Apache-2.0 */
/*
 * term.h - the platform's terminal sessions (vibebox.terminal.v1) on the
 * daemon's stream pump (<vibebox/stream.h>), and the WebSocket routes of
 * terminals and followed logs.
 *
 * One pump thread polls the descriptors of all streams. A stream is read
 * only while its consumers have room, so a slow WebSocket client slows the
 * process behind it instead of growing a buffer (ARCHITECTURE.md,
 * "WebSockets"). docs/terminal-protocol.md describes the wire protocol.
 *
 * Threads: the pump owns the streams (a vbx_stream is used by one thread
 * at a time). Everything else (sessions, viewers, their queues) is guarded
 * by the pump's one lock, which the service thread (WebSocket callbacks)
 * and the workers (open) take briefly; nothing blocks while holding it.
 */
#ifndef VBX_TERM_H
#define VBX_TERM_H

#include <stdbool.h>
#include <stdint.h>

#include <vibebox/runtime.h>
#include <vibebox/stream.h>

#include "common.h"

/* ---- frames of vibebox.terminal.v1 (pure functions) ---- */

enum {
	VBX__TERM_INPUT = 0x00,  /* client: bytes for the process */
	VBX__TERM_RESIZE = 0x01, /* client: u16 cols, u16 rows */
	VBX__TERM_ACK = 0x02,    /* client: u64 output bytes consumed */
	VBX__TERM_OUTPUT = 0x80, /* server: u64 offset, then bytes */
	VBX__TERM_EXIT = 0x81,   /* server: JSON {"code","reason"} */
	VBX__TERM_HELLO = 0x82, /* server: JSON {"session","offset","window"} */
};

#define VBX__TERM_SIZE_MAX 1000u        /* cols and rows are 1..1000 */
#define VBX__TERM_CHUNK (16u << 10)     /* output bytes per frame, at most */
#define VBX__TERM_OUTPUT_HDR 9u         /* type + u64 offset */
#define VBX__TERM_INPUT_MAX (64u << 10) /* queued input before pausing */
#define VBX__TERM_TOUCH_MS 60000        /* activity is recorded this often */
#define VBX__TERM_WRITE_RETRY_MS 5      /* input the stream refused waits */

/* One parsed client frame; data points into the parsed buffer. */
typedef struct vbx__term_frame {
	int type;
	const unsigned char *data; /* input bytes */
	size_t len;
	unsigned cols, rows; /* resize */
	uint64_t ack;        /* ack */
} vbx__term_frame;

/*
 * Parse one binary client frame. Returns 0 and fills *out, or the
 * WebSocket close code to answer with (1002: not a frame of this
 * protocol: empty, unknown type, wrong length; 1007: a value out of
 * range, a size of 0 or over 1000) with *why set to a short reason.
 */
int vbx__term_frame_parse(const void *buf, size_t len, vbx__term_frame *out,
                          const char **why);

/* Big-endian integers, as the frames carry them. */
void vbx__term_put_u64(unsigned char *p, uint64_t v);
uint64_t vbx__term_get_u64(const unsigned char *p);

/* ---- terminal sessions ---- */

/* A session's or a log stream's owner: a principal's user_id. */
#define VBX__OWNER_LEN sizeof(((vbx_principal *)0)->user_id)

typedef struct vbx__term vbx__term;
typedef struct vbx__term_viewer vbx__term_viewer;

typedef struct vbx__term_limits {
	uint64_t window;   /* bytes a client may be behind; >= 4096 */
	uint64_t buffer;   /* the resume ring; >= window */
	int64_t linger_ms; /* a session without sockets lives this long */
	int max_sessions;  /* live and lingering, on the instance */
	int max_per_user;  /* of one owner; 0: no cap but max_sessions */
	int max_per_env;   /* on one environment; 0: likewise */
} vbx__term_limits;

/*
 * Where a viewer's frames go: a WebSocket in the daemon, a recorder in
 * tests. Called with the pump's lock held; none may block or call back
 * into the session manager.
 */
typedef struct vbx__term_sink_ops {
	/* VBX_OK, VBX_EAGAIN (full: wait for vbx__term_drain), or another
	 * error (closing: the frame is dropped). */
	int (*send)(void *sink, const void *data, size_t len, int binary);
	void (*close)(void *sink, int code, const char *reason);
	void (*pause)(void *sink, int paused);
	/* The viewer is gone (detached or freed); drop the reference. */
	void (*release)(void *sink);
} vbx__term_sink_ops;

/* Record activity on an environment (may be NULL). Lock held: it must
 * hand the work to a worker, not block. */
typedef void vbx__term_activity_fn(void *ud, const char *env_id);

vbx__term *vbx__term_new(vbx_pump *pump, const vbx__term_limits *lim,
                         vbx__term_activity_fn *activity, void *ud);
/* After vbx__pump_free() (which frees the sessions). */
void vbx__term_free(vbx__term *t);

/* The cap a reservation met (vbx__term_reserve's *full). */
enum vbx__term_full {
	VBX__TERM_FULL_INSTANCE = 1, /* max_sessions */
	VBX__TERM_FULL_USER,         /* max_per_user */
	VBX__TERM_FULL_ENV,          /* max_per_env */
};

/*
 * Take a slot for a new session of owner (a user id, "" for none) on
 * env_id, before making its stream. Sessions count live and lingering,
 * and reservations, against the owner's, the environment's and the
 * instance's caps. When one is reached, owner's own sessions that no
 * socket is attached to are reclaimed to make room, the one whose last
 * socket left first each time (for the environment's cap, only those on
 * env_id); never another user's, never one with a socket.
 * Returns VBX_OK, or VBX_EAGAIN with *full set to the cap still reached.
 * Give the slot back with unreserve when no session follows.
 */
int vbx__term_reserve(vbx__term *t, const char *owner, const char *env_id,
                      enum vbx__term_full *full);
void vbx__term_unreserve(vbx__term *t, const char *owner, const char *env_id);

/* Where a new viewer starts. */
typedef struct vbx__term_start {
	const char *session; /* NULL: a new session on `stream` */
	bool has_offset;     /* else the oldest byte kept */
	uint64_t offset;
	const char *owner; /* a new session's: its reservation's owner */
} vbx__term_start;

/*
 * Attach a viewer and send it the hello frame. With start->session NULL,
 * a new session of start->owner is made on stream (taken on success) for
 * env_id, using up the reservation of that owner and env_id whether it
 * succeeds or not; otherwise the live or lingering session of that id on the
 * same env_id is joined. Returns VBX_OK with *out, VBX_ENOTFOUND (no such
 * session of that environment), VBX_EINVAL (offset beyond the output),
 * VBX_ENOMEM, VBX_ERR (the pump failed).
 */
int vbx__term_attach(vbx__term *t, const char *env_id,
                     const vbx__term_start *start, vbx_stream *stream,
                     const vbx__term_sink_ops *ops, void *sink,
                     vbx__term_viewer **out);

/*
 * A message from the viewer's client (service thread): apply it, or
 * close the viewer's socket with 1002/1003/1007 and a reason when it is
 * broken. Returns 0 or the close code used.
 */
int vbx__term_message(vbx__term_viewer *v, const void *data, size_t len,
                      int binary);
/* The viewer's send queue has room again. */
void vbx__term_drain(vbx__term_viewer *v);
/* The viewer's socket is gone; v is freed. */
void vbx__term_detach(vbx__term_viewer *v);

/* The session id of a viewer (37 bytes with NUL), for tests and the
 * audit log; it never changes while the viewer is attached. */
void vbx__term_session_id(vbx__term_viewer *v, char *id);
/* For tests: how many sessions exist (reclaimed ones no longer count). */
int vbx__term_count(vbx__term *t);

/* ---- log lines (api/logstream.c) ---- */

#define VBX__LOG_LINE_MAX (64u << 10) /* longer lines are cut */

/*
 * One log line as the JSON text of a logs/stream frame,
 * {"stream":"stdout","time":"...","line":"..."}, NUL-terminated and
 * malloc'd (NULL when out of memory); *out_len gets its length. line is
 * the raw line without its newline; a leading "TIME " of the engine's
 * timestamps becomes "time" (else now_rfc3339 does). Invalid UTF-8 bytes
 * become U+FFFD, so the frame is always valid text.
 */
char *vbx__logline_json(int channel, const char *line, size_t len,
                        const char *now_rfc3339, size_t *out_len);

/* ---- the routes (terminal.c, logstream.c) ---- */

/*
 * Register /api/v1/environments/{id}/terminal with the session limits
 * lim (copied), and make the pump both routes share. Returns VBX_OK, or
 * an error after logging why.
 */
int vbx__terminal_ws_register(vbx_plugin *self, const vbx__term_limits *lim);
/* How many log streams may be followed (logs.*): each holds an engine
 * connection and two line buffers of 80 KiB. */
typedef struct vbx__logs_limits {
	int max_streams;  /* on the instance */
	int max_per_user; /* of one user; at most max_streams */
} vbx__logs_limits;

/* Register /api/v1/environments/{id}/logs/stream with the limits lim
 * (copied). */
void vbx__logs_ws_register(vbx_plugin *self, const vbx__logs_limits *lim);
/*
 * What both routes ask on open (a worker). Each returns VBX_OK, or closes
 * ws with the matching 4xxx code and a reason and returns the error:
 * authorize: action on {"environment", id}; denied on an environment the
 * caller may not read is 4404, else 4403; no authz provider 4503.
 * env_get: the store's row; 4404 when there is none, 4503 without a store.
 */
int vbx__ws_env_authorize(vbx_ws *ws, const char *action, const char *id);
/* A WebSocket route's recheck (vbx_ws_ops): may the socket's principal
 * still do action on the environment of its path? The verdict, as
 * vbx_authorize_verdict_row() gives it; closes nothing (the daemon does,
 * with 4403). */
int vbx__ws_env_recheck(vbx_ws *ws, const char *action);
int vbx__ws_env_get(vbx_ws *ws, const char *id, vbx_env *out);
/* The environment id of the path when it is a UUID, else close 4404. */
const char *vbx__ws_env_id(vbx_ws *ws);

/* The pump both routes share (made at registration); NULL before. */
vbx_pump *vbx__terminal_pump(void);
/* At stop: close every stream (the pump, freed by the daemon before any
 * plugin stops, or here), then free the sessions. */
void vbx__terminal_shutdown(void);

#endif
