/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dump.c - store_dump and store_restore: pg_dump and pg_restore of the
 * store's database, for backups.
 *
 * The tools run without a shell (fork, exec). The conninfo goes on their
 * command line with -d, except its password, which would be visible there
 * to every local user: that travels in PGPASSWORD instead.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedded.h"
#include "pg.h"

#define DUMP_ERR_TAIL 2048

/* A conninfo without its password, and the password apart. */
typedef struct dump_target {
	char *conninfo; /* malloc'd "key='value' ..." */
	char *password; /* malloc'd "PGPASSWORD=...", or NULL */
} dump_target;

static void target_free(dump_target *t)
{
	free(t->conninfo);
	if (t->password) {
		explicit_bzero(t->password, strlen(t->password));
		free(t->password);
	}
}

/* Append key='value' (quotes and backslashes escaped) to buf. */
static void append_option(FILE *buf, const char *key, const char *value)
{
	fprintf(buf, "%s='", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			fputc('\\', buf);
		fputc(*p, buf);
	}
	fputs("' ", buf);
}

/* libpq takes a bare database name too; PQconninfoParse does not. */
static bool is_bare_dbname(const char *conninfo)
{
	return !strchr(conninfo, '=') &&
	       strncmp(conninfo, "postgresql://", 13) != 0 &&
	       strncmp(conninfo, "postgres://", 11) != 0;
}

static int target_make(pgs *s, dump_target *t)
{
	char *err = NULL, *text = NULL;
	size_t len = 0;
	PQconninfoOption *opts = NULL;
	FILE *buf;

	memset(t, 0, sizeof(*t));
	if (is_bare_dbname(s->cfg.conninfo)) {
		buf = open_memstream(&text, &len);
		if (buf) {
			append_option(buf, "dbname", s->cfg.conninfo);
			fclose(buf);
		}
		t->conninfo = text;
		return text ? VBX_OK : VBX_ENOMEM;
	}
	opts = PQconninfoParse(s->cfg.conninfo, &err);
	if (!opts) {
		vbx_log_error(s->self, "store_dump: conninfo: %s",
		              err ? err : "out of memory");
		PQfreemem(err);
		return VBX_ERR;
	}
	buf = open_memstream(&text, &len);
	for (PQconninfoOption *o = opts; buf && o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "password") == 0) {
			if (asprintf(&t->password, "PGPASSWORD=%s", o->val) < 0)
				t->password = NULL;
			continue;
		}
		append_option(buf, o->keyword, o->val);
	}
	if (buf)
		fclose(buf);
	PQconninfoFree(opts); /* wipes nothing; the pool keeps its copy */
	t->conninfo = text;
	if (!buf || !text) {
		target_free(t);
		return VBX_ENOMEM;
	}
	return VBX_OK;
}

/* The daemon's environment plus PGPASSWORD, for execve. */
static char **env_with(const char *password)
{
	extern char **environ;
	size_t n = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PGPASSWORD=", 11) != 0)
			env[k++] = environ[i];
	if (password)
		env[k++] = (char *)password;
	return env;
}

/* Run tool with args (after argv[0]) and the target appended as -d. */
static int run_pg_tool(pgs *s, const char *tool, const char *const *args,
                       int in_fd, int out_fd)
{
	char path[PATH_MAX], out[DUMP_ERR_TAIL];
	char *argv[16];
	dump_target t;
	size_t n = 0;
	int rc;

	if (pgs_tool_path(s, tool, path, sizeof(path)) != VBX_OK) {
		vbx_log_error(s->self,
		              "%s: not found in embedded_bindir, "
		              "/usr/lib/postgresql/*/bin or $PATH; install the "
		              "PostgreSQL client (postgresql-client)",
		              tool);
		return VBX_ERR;
	}
	rc = target_make(s, &t);
	if (rc != VBX_OK)
		return rc;
	argv[n++] = path;
	while (*args && n < 12)
		argv[n++] = (char *)*args++;
	argv[n++] = (char *)"-d";
	argv[n++] = t.conninfo;
	argv[n] = NULL;

	char **env = env_with(t.password);
	pgs_tool run = {
	        .argv = argv, .envp = env, .in_fd = in_fd, .out_fd = out_fd};
	int status = env ? pgs_tool_run(&run, out, sizeof(out)) : -1;

	free(env);
	target_free(&t);
	if (status == 0) {
		if (out[0])
			vbx_log_warn(s->self, "%s: %s", tool, out);
		return VBX_OK;
	}
	vbx_log_error(s->self, "%s failed (%s %d): %s", tool,
	              status < 0 ? "no exit" : "exit status", status,
	              out[0] ? out
	              : env  ? "no output"
	                     : "out of memory");
	return VBX_ERR;
}

static int store_dump(void *ud, int fd)
{
	static const char *const args[] = {"--format=custom", "--no-password",
	                                   NULL};
	pgs *s = ud;

	if (fd < 0)
		return VBX_EINVAL;
	vbx_log_info(s->self, "store_dump: pg_dump started");
	int rc = run_pg_tool(s, "pg_dump", args, -1, fd);
	if (rc == VBX_OK)
		vbx_log_info(s->self, "store_dump: pg_dump finished");
	return rc;
}

/*
 * --clean --if-exists: drop what the dump recreates, quietly when absent;
 * --single-transaction: all of it or nothing; --no-owner: restore into
 * whatever role the conninfo names (the dump may come from a cluster whose
 * roles differ, such as the embedded one).
 */
static int store_restore(void *ud, int fd)
{
	static const char *const args[] = {
	        "--clean",    "--if-exists",     "--single-transaction",
	        "--no-owner", "--exit-on-error", "--no-password",
	        NULL};
	pgs *s = ud;

	if (fd < 0)
		return VBX_EINVAL;
	vbx_log_info(s->self, "store_restore: pg_restore started");
	int rc = run_pg_tool(s, "pg_restore", args, fd, -1);
	if (rc == VBX_OK)
		vbx_log_info(s->self, "store_restore: pg_restore finished");
	return rc;
}

int pgs_dump_register(pgs *s)
{
	int rc = vbx_hook_store_dump_register(s->self, store_dump, s,
	                                      VBX_PRIO_MIDDLE);

	if (rc == VBX_OK)
		rc = vbx_hook_store_restore_register(s->self, store_restore, s,
		                                     VBX_PRIO_MIDDLE);
	return rc;
}
