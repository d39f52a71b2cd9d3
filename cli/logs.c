/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logs.c - `vibebox env logs -f`: /api/v1/environments/{id}/logs/stream
 * (subprotocol vibebox.logs.v1) sends one JSON text frame per line,
 * {"stream", "time", "line"}, the tail first and then new lines until the
 * server closes or the user presses Ctrl-C.
 */
#include "vbx_build.h"

#include <string.h>

#include "cli.h"
#include "ws.h"

typedef struct follow {
	cli_ctx *c;
	cli_ws *ws;
	int rc;
} follow;

static void on_open(void *ud)
{
}

static void on_message(void *ud, const uint8_t *msg, size_t len, bool binary)
{
	follow *f = ud;
	if (f->c->json) { /* one JSON object per line, as the server sent it */
		fwrite(msg, 1, len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		return;
	}
	cJSON *entry = cJSON_ParseWithLength((const char *)msg, len);
	if (cJSON_IsObject(entry))
		cli_print_log_entry(entry);
	else
		cli_err("skipped a log frame that is not JSON");
	cJSON_Delete(entry);
	fflush(stdout);
}

static void on_writeable(void *ud)
{
}

static void on_failed(void *ud, int status, const char *why)
{
	follow *f = ud;
	f->rc = status ? cli_exit_for_status(status) : CLI_ESERVER;
	if (status)
		cli_err("following the logs: the server answered HTTP %d",
		        status);
	else
		cli_err("following the logs: cannot connect to %s: %s",
		        f->c->server, why);
	cli_ws_stop(f->ws);
}

static void on_closed(void *ud, int code, const char *reason)
{
	follow *f = ud;
	if (code >= 4000 && code < 5000) { /* 4000 + an HTTP status */
		cli_err("following the logs: %s",
		        reason[0] ? reason : "refused");
		f->rc = cli_exit_for_status(code - 4000);
	} else if (code != 1000 && code != 1001) {
		cli_err("the log stream ended abnormally (close code %d%s%s)",
		        code, reason[0] ? ": " : "", reason);
		f->rc = CLI_ESERVER;
	}
	cli_ws_stop(f->ws);
}

static const cli_ws_ops follow_ops = {
        .open = on_open,
        .message = on_message,
        .writeable = on_writeable,
        .failed = on_failed,
        .closed = on_closed,
};

int cli_follow_logs(cli_ctx *c, const char *id, int tail)
{
	/* a cheap call first: it refreshes an expired token and turns a
	 * wrong id into a clear 404 before the upgrade */
	char path[200];
	snprintf(path, sizeof(path), "/environments/%s", id);
	int rc = cli_api(c, "GET", path, NULL, NULL, "reading the environment");
	if (rc != CLI_OK)
		return rc;
	follow f = {.c = c, .rc = CLI_OK};
	f.ws = cli_ws_new(&follow_ops, &f, "vibebox.logs.v1", c->verbose);
	if (!f.ws)
		return CLI_ESERVER;
	snprintf(path, sizeof(path), "/api/v1/environments/%s/logs/stream", id);
	if (tail >= 0)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		         "?tail=%d", tail);
	if (cli_ws_connect(f.ws, c->server, path, c->token) < 0)
		f.rc = CLI_EUSAGE;
	else
		cli_ws_run(f.ws);
	cli_ws_free(f.ws);
	return f.rc;
}
