/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - `vibebox`, the command-line client of vibeboxd: global
 * options, then one command (login, logout, env ..., shell, exec). The exit
 * code says what kind of failure happened, so scripts can tell "not
 * logged in" from "no such environment" from "server down".
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const char help_text[] =
        "usage: vibebox [--server URL] [--json] COMMAND [ARGS]\n"
        "\n"
        "Commands:\n"
        "  login [--email E] [--password-stdin]   log in and store the "
        "tokens\n"
        "  logout                                 revoke and forget them\n"
        "  env ls [--project P]                   list environments\n"
        "  env create NAME --project P --image I [--cpu 1.5] [--memory "
        "512]\n"
        "  env start ENV | env stop ENV [--no-wait]\n"
        "  env rm ENV\n"
        "  env logs ENV [-f] [--tail N]\n"
        "  shell ENV                              a terminal in ENV\n"
        "  exec ENV [--] CMD [ARGS...]            run CMD in ENV without a "
        "TTY\n"
        "  admin backup ls | run                  backups (instance "
        "admins)\n"
        "  admin backup verify|restore NAME|latest\n"
        "\n"
        "ENV and P are ids, slugs or names. --json prints the API's JSON.\n"
        "\n"
        "Environment: VIBEBOX_SERVER (default " CLI_DEFAULT_SERVER "),\n"
        "  VIBEBOX_TOKEN (a token or vbx_ API key; overrides the stored "
        "one),\n"
        "  XDG_CONFIG_HOME (credentials in $XDG_CONFIG_HOME/vibebox/"
        "credentials,\n"
        "  else ~/.config/vibebox/credentials), VIBEBOX_DEBUG (say what "
        "is sent).\n"
        "\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  usage error (bad command line, ambiguous name)\n"
        "  2  not logged in, or the server said 401\n"
        "  3  forbidden or not found (403, 404)\n"
        "  4  conflict or invalid request (400, 409, 422)\n"
        "  5  server error or server unreachable (5xx, connection)\n"
        "  shell: the exit code of the remote process\n"
        "  exec: the exit code of the remote command; 255 when vibebox "
        "failed\n";

typedef struct command {
	const char *name;
	int (*run)(cli_ctx *c, int argc, char **argv);
} command;

static const command commands[] = {
        {"login", cli_cmd_login}, {"logout", cli_cmd_logout},
        {"env", cli_cmd_env},     {"shell", cli_cmd_shell},
        {"exec", cli_cmd_exec},   {"admin", cli_cmd_admin},
};

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr,
	        "vibebox: %s%s\nRun `vibebox --help` for the "
	        "commands.\n",
	        what, arg);
	return CLI_EUSAGE;
}

/* Global options before the command; *server gets --server's value. */
static int global_options(int argc, char **argv, int *i, const char **server,
                          bool *json)
{
	for (*i = 1; *i < argc && argv[*i][0] == '-'; (*i)++) {
		const char *a = argv[*i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(help_text, stdout);
			return -1;
		} else if (strcmp(a, "--version") == 0) {
			printf("vibebox %s\n", PACKAGE_VERSION);
			return -1;
		} else if (strcmp(a, "--json") == 0) {
			*json = true;
		} else if (strncmp(a, "--server=", 9) == 0) {
			*server = a + 9;
		} else if (strcmp(a, "--server") == 0 && *i + 1 < argc) {
			*server = argv[++*i];
		} else {
			return usage_error("unknown option ", a);
		}
	}
	if (*i == argc)
		return usage_error("no command given", "");
	return 0;
}

/* `vibebox login --server URL`: --server may follow the command too. */
static const char *late_server(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--server=", 9) == 0)
			return argv[i] + 9;
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			return argv[i + 1];
	}
	return NULL;
}

/* Drop --server and --json after the command: they are global. */
static int strip_globals(int argc, char **argv, bool *json)
{
	int o = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			i++;
			continue;
		}
		if (strncmp(argv[i], "--server=", 9) == 0)
			continue;
		if (strcmp(argv[i], "--json") == 0) {
			*json = true;
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[o++] = argv[i++];
			break;
		}
		argv[o++] = argv[i];
	}
	argv[o] = NULL;
	return o;
}

static int run(int argc, char **argv)
{
	const char *server = NULL;
	bool json = false;
	int i, rc = global_options(argc, argv, &i, &server, &json);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	const char *name = argv[i];
	const char *late = late_server(argc - i, argv + i);
	int n = strip_globals(argc - i, argv + i, &json);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(name, commands[k].name) != 0)
			continue;
		cli_ctx *c = calloc(1, sizeof(*c));
		if (!c)
			return CLI_ESERVER;
		rc = cli_ctx_init(c, late ? late : server);
		c->json = json;
		if (rc == CLI_OK)
			rc = commands[k].run(c, n, argv + i);
		explicit_bzero(c, sizeof(*c));
		free(c);
		return rc;
	}
	return usage_error("unknown command ", name);
}

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = run(argc, argv);
	curl_global_cleanup();
	fflush(stdout);
	return rc;
}
