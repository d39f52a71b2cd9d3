/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vibebox/testing.h - a fake vibeboxd for unit-testing a plugin.
 *
 * libvibebox-test runs the daemon's own code (config getters, hook and
 * event registry, router, authentication, request and response handling,
 * the error envelope) without sockets, so that a plugin's test program can
 * load the plugin, send it requests and look at the answers:
 *
 *     vbx_test_host *h = vbx_test_host_new();
 *     if (vbx_test_load(h, vbx_plugin_entry(), "greeting = \"hi\";") ||
 *         vbx_test_start(h))
 *             fail(vbx_test_errors(h));
 *     vbx_test_response *res = vbx_test_request(h, "GET",
 *                                               "/api/v1/greet/ann", NULL,
 *                                               NULL);
 *     assert(vbx_test_status(res) == 200);
 *     vbx_test_response_free(res);
 *     vbx_test_host_free(h);
 *
 * Build a test with
 *     cc $(pkg-config --cflags vibebox-test) -o test_NAME test_NAME.c NAME.c \
 *        $(pkg-config --libs vibebox-test)
 *
 * One host per process at a time: the daemon's registry, routes and
 * worker pool are process-wide. Free a host before making the next one
 * (a test framework's per-test setup and teardown can do exactly that).
 *
 * What differs from a running daemon:
 *   - no sockets: vbx_test_request() runs the route handler on the calling
 *     thread, synchronously (the daemon runs it on a worker; both may
 *     block). Several threads may send requests at once.
 *   - one worker thread for vbx_work_submit() and timers, and one event
 *     dispatcher thread, as in the daemon.
 *   - WebSocket routes are registered and checked, but cannot be opened.
 *   - of the core's routes the health endpoints (a plugin's health_check
 *     hook can be tested through GET /health/ready) and the platform's
 *     teams, members and projects exist; /api/v1/plugins and
 *     /api/v1/events do not.
 *   - state_dir is a fresh temporary directory, removed with the host.
 *   - log lines go to stderr as text, at level "warn" unless the
 *     environment variable VBX_TEST_LOG says "error", "info" or "debug".
 *
 * Every function takes a host made by vbx_test_host_new() (never NULL
 * unless said otherwise) and must be called from the test's main thread
 * unless said otherwise.
 */
#ifndef VIBEBOX_TESTING_H
#define VIBEBOX_TESTING_H

#include <vibebox/vibebox.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vbx_test_host vbx_test_host;
typedef struct vbx_test_response vbx_test_response;

/*
 * The entry function VBX_PLUGIN() defines, declared here so that a test
 * that compiles the plugin's source into its program can pass
 * vbx_plugin_entry() to vbx_test_load(). A program holds one plugin made
 * with VBX_PLUGIN(); write further descriptors by hand (see plugin.h).
 */
VBX_EXPORT const vbx_plugin_desc *vbx_plugin_entry(void);

/*
 * A new host with an empty registry, a temporary state_dir and the core's
 * catalog (authenticate, authorize, health_check, config_reload,
 * env_status) declared. Returns NULL, after a message on stderr, when
 * another host exists in the process or memory or the temporary directory
 * cannot be had. Free it with vbx_test_host_free().
 */
VBX_EXPORT vbx_test_host *vbx_test_host_new(void);

/*
 * Stop the plugins (reverse order), the worker and the event dispatcher,
 * finalise every plugin whose init succeeded, forget every hook, event and
 * route, and remove state_dir with what is in it. Frees the host and
 * everything it handed out except responses (free those yourself, before
 * or after). h may be NULL.
 */
VBX_EXPORT void vbx_test_host_free(vbx_test_host *h);

/*
 * Load one plugin as the daemon does: check its descriptor (magic, ABI,
 * size, name, mandatory functions) and that every capability it requires
 * is provided by itself or by a plugin loaded before it; parse
 * config_block, the text inside the plugin's `config = { ... };` in
 * libconfig syntax (e.g. "greeting = \"hi\"; pool = 4;"; NULL or "" for
 * an empty block); run the plugin's validate with it when it declares
 * one, then init (not when validate refused); then refuse any key of the
 * block that neither read.
 *
 * Messages name the block as "test.conf" with the line in config_block:
 *     test.conf:1: plugins.greeter.greeting: expected a string, got 5
 * Relative `_file` secret paths are relative to the current directory.
 *
 * Load several plugins in dependency order (a fake "store" before the
 * plugin that requires it); all loads come before vbx_test_start(). The
 * descriptor is borrowed and must outlive the host; config_block is read
 * during the call only.
 *
 * Returns VBX_OK; VBX_EINVAL (bad descriptor, bad config, unknown key,
 * init returned VBX_OK but recorded errors), VBX_EUNAVAIL (a required
 * capability is missing), VBX_EEXIST (a plugin of that name is loaded),
 * VBX_ESTATE (after vbx_test_start()), or init's own error. On any error
 * the reason is in vbx_test_errors(), fini has run when init had
 * succeeded, and the host refuses to start (as the daemon would): inspect
 * the errors and free it.
 */
VBX_EXPORT int vbx_test_load(vbx_test_host *h, const vbx_plugin_desc *desc,
                             const char *config_block);

/*
 * The same for a built plugin: dlopen() the shared object at path (as the
 * daemon does, RTLD_NOW | RTLD_LOCAL), find its entry symbol, check that
 * the file is named after the plugin (NAME.so, as plugin_dir requires),
 * then vbx_test_load(). The object stays open until vbx_test_host_free().
 * Returns as vbx_test_load(), and VBX_ENOTFOUND when the file cannot be
 * opened or has no entry symbol.
 */
VBX_EXPORT int vbx_test_load_file(vbx_test_host *h, const char *path,
                                  const char *config_block);

/*
 * Every error recorded so far (descriptor, config, registration, init,
 * start, flush time-outs), one per line without a trailing newline; ""
 * when there is none. The string belongs to the host and is valid until
 * the next vbx_test_errors() call or vbx_test_host_free().
 */
VBX_EXPORT const char *vbx_test_errors(vbx_test_host *h);

/*
 * Freeze the registry (sort handlers, close registration), start the
 * event dispatcher (a queue of 1024 events that drops when full, the
 * daemon's defaults) and one worker thread, then run each plugin's start
 * in load order; /health/startup answers 200 from then on. When a start
 * fails, the plugins already started are stopped in reverse order.
 * Returns VBX_OK; VBX_ESTATE (started already, or a load failed); or the
 * failing start's error, explained in vbx_test_errors().
 */
VBX_EXPORT int vbx_test_start(vbx_test_host *h);

/*
 * A plugin handle that belongs to the test, named "test", for calling the
 * SDK from the test itself:
 *   - run hooks: vbx_hook_authorize_run(vbx_hook_authorize_get(
 *     vbx_test_plugin(h)), &who, "read", &res);
 *   - before vbx_test_start(), register fakes of the hooks a plugin uses,
 *     or subscribe to the events it publishes, with the usual
 *     vbx_hook_NAME_register() and vbx_event_NAME_subscribe(); their
 *     handlers order after the loaded plugins' at equal priority;
 *   - publish events with vbx_event_NAME_publish() after the start.
 * Owned by the host; valid until vbx_test_host_free(). Its config block
 * is empty.
 */
VBX_EXPORT vbx_plugin *vbx_test_plugin(vbx_test_host *h);

/* The temporary state_dir that vbx_state_dir() gives the plugins. Owned
 * by the host. */
VBX_EXPORT const char *vbx_test_state_dir(const vbx_test_host *h);

/* Log at `level` (VBX_LOG_ERROR .. VBX_LOG_DEBUG) from now on. */
VBX_EXPORT void vbx_test_set_log_level(vbx_test_host *h, int level);

/*
 * Requests that need a principal run as a copy of *who, without asking
 * the authenticate hook; a route flagged VBX_ROUTE_ADMIN still answers 403
 * unless who->flags has VBX_PRINCIPAL_ADMIN. NULL goes back to the
 * daemon's way: the authenticate hook with the request's bearer token
 * (503 with no authenticate handler, 401 without a token or when it is
 * refused). Do not call while another thread sends a request.
 */
VBX_EXPORT void vbx_test_set_principal(vbx_test_host *h,
                                       const vbx_principal *who);

/*
 * Send one request through the daemon's routing (404, 405 with Allow,
 * 400 for a malformed path), authentication, the route's handler and the
 * answer a handler gives (or the 500 / error status the core gives when
 * it gives none). Returns the response, which the caller frees with
 * vbx_test_response_free(); NULL when out of memory or before
 * vbx_test_start() (then vbx_test_errors() says why). Every vbx_test_*
 * getter accepts NULL.
 *
 * path_and_query is the request target as a client sends it, e.g.
 * "/api/v1/items/a%2Fb?tag=x+y&n=2". It is decoded as the daemon's
 * libwebsockets decodes it: %XX everywhere; in the path "//" becomes "/",
 * "/./" and "/../" are resolved, an unescaped "+" not just after a "/"
 * becomes a space, and an unescaped "&" or ";" ends the path; the query
 * splits at unescaped "&" and ";", "+" is a space, an escaped "=" in a
 * name becomes "_", an empty last argument reads as "/". A malformed %
 * escape or an escaped control character answers 403 (the daemon's
 * libwebsockets answers 403 without our error envelope, or closes).
 * Anything from "#" on is dropped, as a client would.
 *
 * json_body (may be NULL) is sent with "Content-Type: application/json";
 * bearer (may be NULL) as "Authorization: Bearer <bearer>". Safe to call
 * from several threads at once after vbx_test_start().
 */
VBX_EXPORT vbx_test_response *vbx_test_request(vbx_test_host *h,
                                               const char *method,
                                               const char *path_and_query,
                                               const char *json_body,
                                               const char *bearer);

/*
 * The same with headers of your choice and any body. headers is NULL or
 * a NULL-terminated array of "Name: value" strings. As in the daemon, a
 * handler sees only the headers libwebsockets knows (Authorization,
 * Content-Type, User-Agent, ...) plus X-Request-Id, X-Forwarded-For and
 * X-Real-IP; others are dropped with a warning in the log, and a repeated
 * header reads as its values joined with ",". Content-Length is added for
 * a body. body (body_len bytes, copied) is ignored for GET and HEAD, as
 * the daemon ignores it; past server.max_body's default (1 MiB) the answer
 * is 413. Requests go through the daemon's own dispatch: HEAD answers as
 * GET without a body, OPTIONS with 204 and Allow, 404 and 405 as served.
 */
VBX_EXPORT vbx_test_response *
vbx_test_send(vbx_test_host *h, const char *method, const char *path_and_query,
              const char *const *headers, const void *body, size_t body_len);

/* The response's HTTP status; 0 for NULL. */
VBX_EXPORT int vbx_test_status(const vbx_test_response *res);

/* The body, NUL-terminated (it may hold other NULs; see
 * vbx_test_body_len()); "" when empty or for NULL. Owned by res. */
VBX_EXPORT const char *vbx_test_body(const vbx_test_response *res);
VBX_EXPORT size_t vbx_test_body_len(const vbx_test_response *res);

/* The body parsed as JSON, or NULL when it is not JSON or res is NULL.
 * Owned by res: read it, do not free or change it. */
VBX_EXPORT const cJSON *vbx_test_json(const vbx_test_response *res);

/*
 * A response header by name, case-insensitive: the daemon's own
 * (Content-Type, Content-Length, X-Request-Id) and those the handler
 * added (Allow on a 405, WWW-Authenticate on a 401, ...). NULL when
 * absent. Owned by res.
 */
VBX_EXPORT const char *vbx_test_header(const vbx_test_response *res,
                                       const char *name);

/* Free a response; res may be NULL. */
VBX_EXPORT void vbx_test_response_free(vbx_test_response *res);

/*
 * Wait until every event published so far has been handed to its
 * subscribers and they have returned (events they publish meanwhile
 * included). Returns VBX_OK, VBX_ESTATE before vbx_test_start(), or
 * VBX_ETIMEDOUT after 10 seconds (recorded in vbx_test_errors()). Not from
 * a subscriber.
 */
VBX_EXPORT int vbx_test_flush_events(vbx_test_host *h);

/*
 * Wait until every task submitted with vbx_work_submit() so far has run
 * (tasks queued by a timer tick count once the tick is due), then flush
 * the events; repeated while that work publishes events or submits more
 * work. Returns as vbx_test_flush_events(). Not from a task or a
 * subscriber.
 */
VBX_EXPORT int vbx_test_flush_work(vbx_test_host *h);

#ifdef __cplusplus
}
#endif
#endif
