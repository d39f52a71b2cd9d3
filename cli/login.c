/* SPDX-License-Identifier: Apache-2.0 */
/*
 * login.c - `vibebox login` and `vibebox logout`. The password comes from
 * a prompt without echo on the terminal, or from the first line of stdin
 * when stdin is not a terminal (or with --password-stdin); it never goes
 * on the command line, where other users could read it in ps.
 */
#include "vbx_build.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tty.h"

#define SECRET_MAX 1024

/* One line from fd without its newline; 0, or -1 at EOF before any. */
static int read_line(int fd, char *out, size_t len)
{
	size_t n = 0;
	char ch;
	ssize_t r;
	while ((r = read(fd, &ch, 1)) == 1 && ch != '\n')
		if (n + 1 < len)
			out[n++] = ch;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return r <= 0 && n == 0 ? -1 : 0;
}

/* Ask on the terminal; echo off for secrets. */
static int prompt(const char *question, bool secret, char *out, size_t len)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, question, strlen(question)) < 0 ||
	    (secret && cli_tty_noecho(fd) < 0)) {
		close(fd);
		return -1;
	}
	int rc = read_line(fd, out, len);
	if (secret) {
		cli_tty_restore();
		if (write(fd, "\n", 1) < 0)
			rc = -1;
	}
	close(fd);
	return rc;
}

static int get_password(bool from_stdin, char *pw, size_t len)
{
	if (from_stdin || !isatty(STDIN_FILENO)) {
		if (read_line(STDIN_FILENO, pw, len) < 0 || !pw[0]) {
			cli_err("no password on standard input");
			return CLI_EUSAGE;
		}
		return CLI_OK;
	}
	if (prompt("Password: ", true, pw, len) < 0 || !pw[0]) {
		cli_err("no password given");
		return CLI_EUSAGE;
	}
	return CLI_OK;
}

static int get_email(const char *opt, char *email, size_t len)
{
	if (opt) {
		snprintf(email, len, "%s", opt);
		return CLI_OK;
	}
	if (prompt("Email: ", false, email, len) < 0 || !email[0]) {
		cli_err("no email given; use --email");
		return CLI_EUSAGE;
	}
	return CLI_OK;
}

static int do_login(cli_ctx *c, const char *email, const char *pw)
{
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	cJSON_AddStringToObject(body, "email", email);
	cJSON_AddStringToObject(body, "password", pw);
	char what[1024];
	snprintf(what, sizeof(what), "logging in to %s as %s", c->server,
	         email);
	int rc = cli_api_public(c, "POST", "/auth/login", body, &answer, what);
	cJSON *pwj = cJSON_GetObjectItem(body, "password");
	explicit_bzero(pwj->valuestring, strlen(pwj->valuestring));
	cJSON_Delete(body);
	if (rc == CLI_OK) {
		memset(&c->creds, 0, sizeof(c->creds));
		snprintf(c->creds.server, sizeof(c->creds.server), "%s",
		         c->server);
		snprintf(c->creds.email, sizeof(c->creds.email), "%s", email);
		rc = cli_store_tokens(c, answer);
	}
	cJSON_Delete(answer);
	if (rc == CLI_OK && !c->json)
		printf("Logged in to %s as %s.\n", c->server, email);
	return rc;
}

static const char login_usage[] =
        "usage: vibebox login [--server URL] [--email EMAIL] "
        "[--password-stdin]\n";

int cli_cmd_login(cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"email", required_argument, NULL, 'e'},
	        {"password-stdin", no_argument, NULL, 'p'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *email_opt = NULL;
	bool pw_stdin = false;
	int o;
	optind = 0;
	while ((o = getopt_long(argc, argv, "+e:h", opts, NULL)) != -1) {
		if (o == 'e')
			email_opt = optarg;
		else if (o == 'p')
			pw_stdin = true;
		else {
			fputs(login_usage, o == 'h' ? stdout : stderr);
			return o == 'h' ? CLI_OK : CLI_EUSAGE;
		}
	}
	if (optind != argc) {
		fputs(login_usage, stderr);
		return CLI_EUSAGE;
	}
	char email[CLI_EMAIL_MAX], pw[SECRET_MAX];
	int rc = get_email(email_opt, email, sizeof(email));
	if (rc == CLI_OK)
		rc = get_password(pw_stdin, pw, sizeof(pw));
	if (rc == CLI_OK)
		rc = do_login(c, email, pw);
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* Revoke the refresh token on the server; the local file goes anyway. */
int cli_cmd_logout(cli_ctx *c, int argc, char **argv)
{
	if (argc > 1) {
		fputs("usage: vibebox logout\n", stderr);
		return CLI_EUSAGE;
	}
	if (!c->stored) {
		if (c->creds_bad) /* unusable anyway: clear it */
			cli_creds_remove(c->creds_path);
		if (!c->json)
			printf("Not logged in to %s.\n", c->server);
		return CLI_OK;
	}
	if (c->creds.refresh[0]) {
		cJSON *body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "refreshToken", c->creds.refresh);
		if (cli_api_public(c, "POST", "/auth/logout", body, NULL,
		                   "revoking the session on the server"))
			cli_err("removing the local credentials anyway");
		cJSON_Delete(body);
	}
	int rc = cli_creds_remove(c->creds_path);
	if (rc == CLI_OK && !c->json)
		printf("Logged out of %s.\n", c->server);
	return rc;
}
