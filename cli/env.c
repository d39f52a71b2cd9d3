/* SPDX-License-Identifier: Apache-2.0 */
/*
 * env.c - `vibebox env ls|create|start|stop|rm|logs`. Each prints a table
 * or a sentence for people, or with --json the API's JSON for scripts.
 * start and stop wait until the environment has left "starting" or
 * "stopping" (unless --no-wait), so a script can run `shell` right after.
 */
#include "vbx_build.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vibebox/util.h>

#include "cli.h"

#define WAIT_SECONDS 150

typedef struct env_opts {
	const char *project, *image;
	double cpu;
	long memory, tail;
	bool follow, no_wait;
	const char *args[2]; /* positional arguments */
	int nargs;
} env_opts;

static const char env_usage[] =
        "usage: vibebox env ls [--project P]\n"
        "       vibebox env create NAME --project P --image I [--cpu 1.5] "
        "[--memory 512]\n"
        "       vibebox env start|stop ENV [--no-wait]\n"
        "       vibebox env rm ENV\n"
        "       vibebox env logs ENV [-f] [--tail N]\n"
        "ENV is an id, a slug or a name; add --project P when a name is "
        "in several\nprojects. --json prints the API's JSON.\n";

static int usage(const char *why)
{
	if (why)
		cli_err("%s", why);
	fputs(env_usage, stderr);
	return CLI_EUSAGE;
}

static int parse_number(const char *s, double min, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (errno || end == s || *end || !(d >= min) || d > 1e9)
		return -1;
	*out = d;
	return 0;
}

static int parse_opt(cli_ctx *c, int o, env_opts *e)
{
	double d;
	switch (o) {
	case 'p':
		e->project = optarg;
		return 0;
	case 'i':
		e->image = optarg;
		return 0;
	case 'c':
		return parse_number(optarg, 0.01, &e->cpu) < 0
		               ? usage("--cpu takes a number of cores, e.g. "
		                       "1.5")
		               : 0;
	case 'm':
		if (parse_number(optarg, 1, &d) < 0 || d != (long)d)
			return usage("--memory takes MiB, e.g. 512");
		e->memory = (long)d;
		return 0;
	case 't':
		if (parse_number(optarg, 0, &d) < 0 || d != (long)d)
			return usage("--tail takes a number of lines");
		e->tail = (long)d;
		return 0;
	case 'f':
		e->follow = true;
		return 0;
	case 'n':
		e->no_wait = true;
		return 0;
	case 'j':
		c->json = true;
		return 0;
	case 'h':
		fputs(env_usage, stdout);
		return -1;
	default:
		return usage(NULL);
	}
}

/* Options anywhere, at most two positional arguments. */
static int parse_args(cli_ctx *c, int argc, char **argv, env_opts *e)
{
	static const struct option opts[] = {
	        {"project", required_argument, NULL, 'p'},
	        {"image", required_argument, NULL, 'i'},
	        {"cpu", required_argument, NULL, 'c'},
	        {"memory", required_argument, NULL, 'm'},
	        {"tail", required_argument, NULL, 't'},
	        {"follow", no_argument, NULL, 'f'},
	        {"no-wait", no_argument, NULL, 'n'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	memset(e, 0, sizeof(*e));
	e->cpu = 1;
	e->memory = 512;
	e->tail = -1;
	optind = 0;
	int o, rc;
	while ((o = getopt_long(argc, argv, "p:fh", opts, NULL)) != -1)
		if ((rc = parse_opt(c, o, e)) != 0)
			return rc < 0 ? -1 : rc;
	for (; optind < argc; optind++) {
		if (e->nargs == 2)
			return usage("too many arguments");
		e->args[e->nargs++] = argv[optind];
	}
	return 0;
}

/* ---- env ls ---- */

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void number_of(const cJSON *o, const char *key, const char *unit,
                      char *out, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(v))
		snprintf(out, len, "%g%s", v->valuedouble, unit);
	else
		snprintf(out, len, "-");
}

static int print_envs(const cJSON *rows)
{
	static const char *const head[] = {"ID",  "NAME",   "STATUS", "IMAGE",
	                                   "CPU", "MEMORY", NULL};
	cli_table t;
	if (cli_table_init(&t, head) < 0)
		return CLI_ESERVER;
	const cJSON *r;
	cJSON_ArrayForEach(r, rows)
	{
		char cpu[32], mem[32];
		number_of(r, "cpuLimit", "", cpu, sizeof(cpu));
		number_of(r, "memoryLimit", "MiB", mem, sizeof(mem));
		const char *cells[] = {str_of(r, "id"),
		                       str_of(r, "name"),
		                       str_of(r, "status"),
		                       str_of(r, "image"),
		                       cpu,
		                       mem};
		if (cli_table_add(&t, cells) < 0) {
			cli_table_free(&t);
			return CLI_ESERVER;
		}
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	return CLI_OK;
}

/* --json: every page as one answer of the API's shape. */
static void print_list_json(cJSON *rows)
{
	int n = cJSON_GetArraySize(rows);
	cJSON *o = cJSON_CreateObject(), *p = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "data", rows);
	cJSON_AddNumberToObject(p, "page", 1);
	cJSON_AddNumberToObject(p, "limit", n);
	cJSON_AddNumberToObject(p, "total", n);
	cJSON_AddItemToObject(o, "pagination", p);
	cli_print_json(o);
	cJSON_DetachItemFromObject(o, "data");
	cJSON_Delete(o);
}

static int env_ls(cli_ctx *c, const env_opts *e)
{
	char path[256] = "/environments";
	if (e->nargs)
		return usage("env ls takes no arguments");
	if (e->project) {
		char pid[64], enc[200];
		int rc = cli_resolve_project(c, e->project, pid, sizeof(pid));
		if (rc != CLI_OK)
			return rc;
		vbx_percent_encode(pid, strlen(pid), enc, sizeof(enc));
		snprintf(path, sizeof(path), "/environments?projectId=%s", enc);
	}
	cJSON *rows = NULL;
	int rc = cli_list_all(c, path, &rows, "listing environments");
	if (rc != CLI_OK)
		return rc;
	if (c->json)
		print_list_json(rows);
	else
		rc = print_envs(rows);
	cJSON_Delete(rows);
	return rc;
}

/* ---- env create ---- */

static int env_create(cli_ctx *c, const env_opts *e)
{
	if (e->nargs != 1 || !e->project || !e->image)
		return usage("env create needs NAME, --project and --image");
	char pid[64];
	int rc = cli_resolve_project(c, e->project, pid, sizeof(pid));
	if (rc != CLI_OK)
		return rc;
	cJSON *body = cJSON_CreateObject(), *env = NULL;
	cJSON_AddStringToObject(body, "projectId", pid);
	cJSON_AddStringToObject(body, "name", e->args[0]);
	cJSON_AddStringToObject(body, "image", e->image);
	cJSON_AddNumberToObject(body, "cpuLimit", e->cpu);
	cJSON_AddNumberToObject(body, "memoryLimit", (double)e->memory);
	char what[300];
	snprintf(what, sizeof(what), "creating environment \"%s\"", e->args[0]);
	rc = cli_api(c, "POST", "/environments", body, &env, what);
	cJSON_Delete(body);
	if (rc == CLI_OK && c->json)
		cli_print_json(env);
	else if (rc == CLI_OK)
		printf("Created environment %s (%s).\n",
		       str_of(env, "slug") ? str_of(env, "slug") : e->args[0],
		       str_of(env, "id") ? str_of(env, "id") : "?");
	cJSON_Delete(env);
	return rc;
}

/* ---- env start, stop, rm ---- */

static int env_get(cli_ctx *c, const char *id, cJSON **env)
{
	char path[128];
	snprintf(path, sizeof(path), "/environments/%s", id);
	return cli_api(c, "GET", path, NULL, env, "reading the environment");
}

static bool status_is(const cJSON *env, const char *s)
{
	const char *st = str_of(env, "status");
	return st && strcmp(st, s) == 0;
}

/* Poll until the environment leaves `passing` ("starting"). */
static int wait_status(cli_ctx *c, const char *id, const char *passing,
                       cJSON **env)
{
	time_t deadline = time(NULL) + WAIT_SECONDS;
	while (status_is(*env, passing) || !str_of(*env, "status")) {
		if (time(NULL) > deadline) {
			cli_err("the environment is still %s after %d s",
			        passing, WAIT_SECONDS);
			return CLI_ESERVER;
		}
		usleep(300 * 1000);
		cJSON_Delete(*env);
		*env = NULL;
		int rc = env_get(c, id, env);
		if (rc != CLI_OK)
			return rc;
	}
	return CLI_OK;
}

static int report_status(const cli_ctx *c, const cJSON *env, const char *q)
{
	if (c->json)
		cli_print_json(env);
	if (status_is(env, "error")) {
		const char *why = str_of(env, "statusReason");
		cli_err("environment %s failed: %s", q,
		        why ? why
		            : "no reason "
		              "given");
		return CLI_ESERVER;
	}
	if (!c->json)
		printf("Environment %s is %s.\n", q,
		       str_of(env, "status") ? str_of(env, "status") : "?");
	return CLI_OK;
}

static int env_action(cli_ctx *c, const env_opts *e, const char *action)
{
	if (e->nargs != 1)
		return usage("name the environment");
	char id[64], path[160], what[300];
	int rc = cli_resolve_env(c, e->args[0], e->project, id, sizeof(id));
	if (rc != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/environments/%s/%s", id, action);
	snprintf(what, sizeof(what), "%s environment %s",
	         strcmp(action, "start") == 0 ? "starting" : "stopping",
	         e->args[0]);
	cJSON *env = NULL;
	rc = cli_api(c, "POST", path, NULL, &env, what);
	if (rc == CLI_OK && !e->no_wait)
		rc = wait_status(c, id,
		                 strcmp(action, "start") == 0 ? "starting"
		                                              : "stopping",
		                 &env);
	if (rc == CLI_OK)
		rc = env ? report_status(c, env, e->args[0]) : CLI_OK;
	cJSON_Delete(env);
	return rc;
}

static int env_rm(cli_ctx *c, const env_opts *e)
{
	if (e->nargs != 1)
		return usage("name the environment");
	char id[64], path[160], what[300];
	int rc = cli_resolve_env(c, e->args[0], e->project, id, sizeof(id));
	if (rc != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/environments/%s", id);
	snprintf(what, sizeof(what), "removing environment %s", e->args[0]);
	rc = cli_api(c, "DELETE", path, NULL, NULL, what);
	if (rc == CLI_OK && !c->json)
		printf("Removed environment %s.\n", e->args[0]);
	return rc;
}

/* ---- env logs ---- */

void cli_print_log_entry(const cJSON *entry)
{
	const char *line = str_of(entry, "line");
	const char *stream = str_of(entry, "stream");
	if (!line)
		return;
	FILE *f = stream && strcmp(stream, "stderr") == 0 ? stderr : stdout;
	size_t n = strlen(line);
	fwrite(line, 1, n, f);
	if (!n || line[n - 1] != '\n')
		fputc('\n', f);
}

static int env_logs(cli_ctx *c, const env_opts *e)
{
	if (e->nargs != 1)
		return usage("name the environment");
	char id[64], path[200];
	int rc = cli_resolve_env(c, e->args[0], e->project, id, sizeof(id));
	if (rc != CLI_OK)
		return rc;
	if (e->follow)
		return cli_follow_logs(c, id, (int)e->tail);
	snprintf(path, sizeof(path), "/environments/%s/logs", id);
	if (e->tail >= 0)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		         "?tail=%ld", e->tail);
	cJSON *answer = NULL;
	rc = cli_api(c, "GET", path, NULL, &answer, "reading the logs");
	if (rc == CLI_OK && c->json) {
		cli_print_json(answer);
	} else if (rc == CLI_OK) {
		const cJSON *entry;
		cJSON_ArrayForEach(
		        entry, cJSON_GetObjectItemCaseSensitive(answer, "data"))
		        cli_print_log_entry(entry);
	}
	cJSON_Delete(answer);
	return rc;
}

int cli_cmd_env(cli_ctx *c, int argc, char **argv)
{
	if (argc < 2)
		return usage(NULL);
	const char *sub = argv[1];
	env_opts e;
	int rc = parse_args(c, argc - 1, argv + 1, &e);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
		return env_ls(c, &e);
	if (strcmp(sub, "create") == 0)
		return env_create(c, &e);
	if (strcmp(sub, "start") == 0 || strcmp(sub, "stop") == 0)
		return env_action(c, &e, sub);
	if (strcmp(sub, "rm") == 0 || strcmp(sub, "delete") == 0)
		return env_rm(c, &e);
	if (strcmp(sub, "logs") == 0)
		return env_logs(c, &e);
	cli_err("unknown command \"env %s\"", sub);
	return usage(NULL);
}
