/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws.h - a WebSocket client on libwebsockets for one connection at a time
 * (ws.c), with a wake-up other threads may trigger and a timer. Every
 * callback runs on the thread that called cli_ws_run.
 */
#ifndef VBX_CLI_WS_H
#define VBX_CLI_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_ws cli_ws;

typedef struct cli_ws_ops {
	/* The upgrade succeeded. */
	void (*open)(void *ud);
	/* One whole message (fragments joined). */
	void (*message)(void *ud, const uint8_t *msg, size_t len, bool binary);
	/* cli_ws_want_write was asked for: send with cli_ws_send. */
	void (*writeable)(void *ud);
	/* The connection could not be made: the HTTP status of a refused
	 * upgrade (0 when there was none) and lws's reason. */
	void (*failed)(void *ud, int http_status, const char *why);
	/* An open connection ended; code is the peer's close code, or 1006
	 * when it went without one, and reason its text ("" for none).
	 * vibeboxd refuses with 4000 + an HTTP status (4401, 4404, 4409). */
	void (*closed)(void *ud, int code, const char *reason);
	/* cli_ws_wake was called (maybe by another thread). May be NULL. */
	void (*wake)(void *ud);
} cli_ws_ops;

/* A client speaking subprotocol `protocol`. NULL when out of memory or
 * libwebsockets cannot start (message printed). */
cli_ws *cli_ws_new(const cli_ws_ops *ops, void *ud, const char *protocol,
                   bool verbose);

/*
 * Connect to server (http:// or https:// URL, maybe with a path prefix)
 * at path (starting with "/api/v1/", query allowed), with "Authorization:
 * Bearer token". The outcome arrives as open or failed. Returns 0, or -1
 * when the URL is unusable (message printed).
 */
int cli_ws_connect(cli_ws *w, const char *server, const char *path,
                   const char *token);

/* Send one message; only from the writeable callback. 0 or -1. */
int cli_ws_send(cli_ws *w, const void *buf, size_t len, bool binary);

/* Ask for a writeable callback when the connection can take more. */
void cli_ws_want_write(cli_ws *w);

/* Wake the loop: the wake callback runs on its thread. Thread-safe. */
void cli_ws_wake(cli_ws *w);

/* Call fn(ud) once after us microseconds (replaces a pending timer). */
void cli_ws_timer(cli_ws *w, int64_t us, void (*fn)(void *ud));

/* Serve until cli_ws_stop. */
void cli_ws_run(cli_ws *w);
void cli_ws_stop(cli_ws *w);

/* Close the connection and free everything. */
void cli_ws_free(cli_ws *w);

/*
 * Split server + path into what libwebsockets wants: host (no brackets),
 * port, the full path and whether to use TLS. Returns 0 or -1.
 */
int cli_ws_target(const char *server, const char *path, char *host,
                  size_t hostlen, int *port, char *fullpath, size_t pathlen,
                  bool *tls);

#endif
