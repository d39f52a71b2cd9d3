/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - the vibebox command-line client: what its files share.
 *
 * main.c dispatches commands; config.c reads and writes the credentials
 * file; http.c calls the API (libcurl) and turns its error envelope into a
 * message and an exit code; resolve.c finds an environment or a project by
 * id, slug or name; table.c prints aligned columns; login.c, env.c and
 * shell.c are the commands; ws.c is the WebSocket client (libwebsockets)
 * that shell.c and `env logs -f` use; termproto.c encodes and decodes the
 * terminal's binary frames.
 *
 * Functions return an exit code (CLI_OK ... CLI_ESERVER) unless they say
 * otherwise, and print their own error message on stderr when they fail.
 */
#ifndef VBX_CLI_H
#define VBX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* ---- exit codes (docs/cli.md, vibebox --help) ---- */
enum {
	CLI_OK = 0,
	CLI_EUSAGE = 1,    /* bad command line */
	CLI_EAUTH = 2,     /* not logged in, 401 */
	CLI_ENOTFOUND = 3, /* 403, 404 */
	CLI_ECONFLICT = 4, /* 400, 409, 422 */
	CLI_ESERVER = 5,   /* 5xx, unreachable, broken answer */
};

#define CLI_DEFAULT_SERVER "http://127.0.0.1:3000"

/* Print "vibebox: <message>" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- config.c: the credentials file ---- */

#define CLI_URL_MAX 512
#define CLI_EMAIL_MAX 256
#define CLI_TOKEN_MAX 2048

typedef struct cli_creds {
	char server[CLI_URL_MAX];
	char email[CLI_EMAIL_MAX];
	char access[CLI_TOKEN_MAX];
	char refresh[CLI_TOKEN_MAX];
} cli_creds;

/*
 * Parse the text of a credentials file ("key = value" lines, # comments)
 * into *out. Returns 0, or -1 with a reason (naming the line) in err.
 * Unknown keys are ignored; a broken line, a duplicate key, a control
 * character or an over-long value is an error, and so is a file without
 * server or access_token.
 */
int cli_creds_parse(const char *text, size_t len, cli_creds *out, char *err,
                    size_t errlen);

/* The file's text for c, in a new string the caller frees (NULL: ENOMEM). */
char *cli_creds_format(const cli_creds *c);

/* True when s may go into an HTTP header and the file: printable ASCII,
 * no spaces, 1 to max-1 bytes. */
bool cli_token_ok(const char *s, size_t max);

/*
 * The credentials path: $XDG_CONFIG_HOME/vibebox/credentials, else
 * $HOME/.config/vibebox/credentials. Returns 0, or -1 when neither
 * variable is set (message printed).
 */
int cli_creds_path(char *out, size_t len);

/*
 * Read the file at path. Returns CLI_OK, 1 when there is no file (nothing
 * printed), or CLI_EAUTH after printing why it cannot be used (readable by
 * others, owned by someone else, broken).
 */
int cli_creds_load(const char *path, cli_creds *out);

/* Write the file atomically (temp file + rename) with mode 0600, creating
 * its directory with mode 0700. Returns CLI_OK or CLI_ESERVER. */
int cli_creds_save(const char *path, const cli_creds *c);

/* Remove the file. Returns CLI_OK (also when there was none). */
int cli_creds_remove(const char *path);

/* Hold an exclusive lock beside the file (path + ".lock") while tokens
 * are rotated, so two clients do not both spend one refresh token.
 * Returns the lock's descriptor or -1; cli_creds_unlock(-1) is a no-op. */
int cli_creds_lock(const char *path);
void cli_creds_unlock(int fd);

/* ---- http.c: the API ---- */

typedef struct cli_ctx {
	char server[CLI_URL_MAX];  /* no trailing slash */
	char token[CLI_TOKEN_MAX]; /* the bearer in use; "" for none */
	bool stored;               /* token is the file's: refreshable */
	char creds_path[4096];
	cli_creds creds;
	bool creds_bad; /* the file exists but cannot be used */
	bool json;      /* --json: print the API's JSON */
	bool verbose;   /* VIBEBOX_DEBUG: say what is sent */
} cli_ctx;

/*
 * Fill c from the environment and the credentials file: the server is
 * server_opt, else $VIBEBOX_SERVER, else the file's, else the default;
 * the token is $VIBEBOX_TOKEN, else the file's when the file is for that
 * server. Returns CLI_OK or an exit code (message printed).
 */
int cli_ctx_init(cli_ctx *c, const char *server_opt);

/*
 * Call the API: method on server + "/api/v1" + path with body (may be
 * NULL) as JSON. On a 2xx, *out (may be NULL) gets the parsed answer (NULL
 * for an empty one) and the return is CLI_OK. On a 401 with a stored
 * token, the token pair is refreshed once and the call repeated. Failures
 * print "vibebox: <what>: <server's message>" and return their exit code.
 */
int cli_api(cli_ctx *c, const char *method, const char *path, const cJSON *body,
            cJSON **out, const char *what);

/* Like cli_api without the bearer and without a refresh (login). */
int cli_api_public(cli_ctx *c, const char *method, const char *path,
                   const cJSON *body, cJSON **out, const char *what);

/* The exit code of an HTTP status: 2xx 0, 401 2, 403/404 3, 400/409/422
 * 4, other 4xx 4, everything else 5. */
int cli_exit_for_status(long status);

/*
 * The message of an error answer: "<message> (CODE)" from the envelope
 * {"error":{"code","message","statusCode","fields"?}} followed by one
 * "; field: problem" per validation field, or "HTTP <status>" with the
 * start of the body when it is not an envelope. Always terminates out.
 */
void cli_error_text(const char *body, size_t len, long status, char *out,
                    size_t outlen);

/* Tokens from a login or refresh answer ({tokens:{accessToken,
 * refreshToken}}) into c and the credentials file. */
int cli_store_tokens(cli_ctx *c, const cJSON *answer);

/* Require a token; prints "not logged in" and returns CLI_EAUTH if none. */
int cli_need_login(const cli_ctx *c);

/* Print a cJSON value (pretty) and a newline on stdout. */
void cli_print_json(const cJSON *j);

/* ---- resolve.c: names to ids ---- */

/*
 * Find q among items (a JSON array of objects with id, slug, name): the
 * items whose id equals q, else whose slug does, else whose name does.
 * Returns how many matched at the first level that matched (0: none, 1:
 * *found set, more: ambiguous; *found is the first one).
 */
int cli_match(const cJSON *items, const char *q, const cJSON **found);

/* Print the candidates an ambiguous q matched, one per line, on stderr. */
void cli_print_candidates(const cJSON *items, const char *q);

/*
 * Every item of a paginated list (GET path?...&page=&limit=) into a new
 * array *out. path may have a query already. Returns CLI_OK or a code.
 */
int cli_list_all(cli_ctx *c, const char *path, cJSON **out, const char *what);

/* The id of the project p (id, slug or name) into id (37 bytes). */
int cli_resolve_project(cli_ctx *c, const char *p, char *id, size_t idlen);

/*
 * The id of environment e (an id, or a slug or name, within project when
 * not NULL) into id. Returns CLI_OK, CLI_ENOTFOUND, or CLI_EUSAGE when e
 * is ambiguous (the candidates are printed).
 */
int cli_resolve_env(cli_ctx *c, const char *e, const char *project, char *id,
                    size_t idlen);

/* ---- table.c: aligned columns ---- */

typedef struct cli_table {
	size_t ncols, nrows, cap;
	char **cells; /* row-major; row 0 is the header */
} cli_table;

/* A table with the header cells (NULL-terminated). Returns 0 or -1. */
int cli_table_init(cli_table *t, const char *const *header);
/* Add a row of t->ncols cells (copied; NULL prints "-"). 0 or -1. */
int cli_table_add(cli_table *t, const char *const *cells);
/* Print with two spaces between columns, the last one not padded. */
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* ---- commands ---- */

int cli_cmd_login(cli_ctx *c, int argc, char **argv);
int cli_cmd_logout(cli_ctx *c, int argc, char **argv);
int cli_cmd_env(cli_ctx *c, int argc, char **argv);
int cli_cmd_shell(cli_ctx *c, int argc, char **argv);
int cli_cmd_exec(cli_ctx *c, int argc, char **argv);

/* Environment id (named name for messages) must exist and run: CLI_OK,
 * or an exit code after printing why. Refreshes an expired token too.
 * shell.c. */
int cli_env_running(cli_ctx *c, const char *id, const char *name);

/* admin.c: `admin backup ls|run|verify|restore` (backup-s3's API). */
int cli_cmd_admin(cli_ctx *c, int argc, char **argv);

/* One log entry {stream, time, line}: the line on stdout, or on stderr
 * for the stderr stream. */
void cli_print_log_entry(const cJSON *entry);

/* env logs -f: follow the logs of environment id over a WebSocket. */
int cli_follow_logs(cli_ctx *c, const char *id, int tail);

#endif
