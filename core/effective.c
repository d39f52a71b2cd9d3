/* SPDX-License-Identifier: Apache-2.0 */
/*
 * effective.c - settings whose default depends on the machine, and the
 * list of their values in effect that `vibeboxd -t` prints and the daemon
 * logs at start ("server.workers = 4 (default: 2 per CPU, 4..32)").
 *
 * A default that follows the CPU count is only trustworthy when the admin
 * can see what it came to before the daemon runs; hence one getter that
 * both reads the key and records the outcome on the block, so the value
 * shown is always the value used.
 */
#include "vbx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static bool add(vbx__shown *sh, char *line)
{
	char **v = realloc(sh->lines, (sh->n + 1) * sizeof(*v));
	if (!v)
		return false;
	sh->lines = v;
	sh->lines[sh->n++] = line;
	return true;
}

/* Record "path.key = text" on c, replacing an earlier line of the same
 * key (a block may be read twice: validated, then applied). */
static void record(vbx_config *c, const char *key, const char *text)
{
	vbx__shown *sh = &c->shown;
	char *line = NULL;
	const char *path = c->path && c->path[0] ? c->path : "";
	if (asprintf(&line, "%s%s%s = %s", path, path[0] ? "." : "", key,
	             text) < 0)
		return;
	size_t prefix = strlen(line) - strlen(text);
	for (size_t i = 0; i < sh->n; i++)
		if (strncmp(sh->lines[i], line, prefix) == 0) {
			free(sh->lines[i]);
			sh->lines[i] = line;
			return;
		}
	if (!add(sh, line))
		free(line);
}

int vbx__cfg_int_derived(const vbx_config *c, const char *key, long long min,
                         long long max, long long dflt, const char *why,
                         long long *out)
{
	char text[256];
	dflt = dflt < min ? min : dflt > max ? max : dflt;
	int rc = vbx__cfg_int(c, key, min, max, dflt, out);
	if (rc != VBX_OK || !key)
		return rc;
	/* vbx__cfg_lookup: a key may be dotted ("terminal.max_...") */
	bool set = c->group && vbx__cfg_lookup(c->group, key);
	if (set)
		snprintf(text, sizeof(text), "%lld (set)", *out);
	else
		snprintf(text, sizeof(text), "%lld (default: %s)", *out,
		         why && *why ? why : "derived");
	/* bookkeeping of the handle, like the known-list */
	record((vbx_config *)c, key, text);
	return VBX_OK;
}

int vbx__cfg_duration_shown(const vbx_config *c, const char *key,
                            const char *dflt, int64_t min_ms, int64_t max_ms,
                            int64_t *out_ms)
{
	char text[64];
	int rc = vbx__cfg_duration(c, key, dflt, min_ms, max_ms, out_ms);
	if (rc != VBX_OK || !key)
		return rc;
	/* vbx__cfg_lookup: a key may be dotted ("pool.timeout") */
	bool set = c->group && vbx__cfg_lookup(c->group, key);
	long long ms = (long long)*out_ms;
	if (ms % 1000 == 0)
		snprintf(text, sizeof(text), "%llds (%s)", ms / 1000,
		         set ? "set" : "default");
	else
		snprintf(text, sizeof(text), "%lldms (%s)", ms,
		         set ? "set" : "default");
	record((vbx_config *)c, key, text);
	return VBX_OK;
}

void vbx__shown_move(vbx__shown *from, vbx__shown *to)
{
	for (size_t i = 0; i < from->n; i++)
		if (!add(to, from->lines[i]))
			free(from->lines[i]);
	free(from->lines);
	from->lines = NULL;
	from->n = 0;
}

void vbx__shown_free(vbx__shown *sh)
{
	for (size_t i = 0; i < sh->n; i++)
		free(sh->lines[i]);
	free(sh->lines);
	sh->lines = NULL;
	sh->n = 0;
}

/* Every recorded line of conf: the core's, then each plugin's. */
static void each_line(const vbx__conf *conf, void (*fn)(const char *, void *),
                      void *ud)
{
	for (size_t i = 0; i < conf->shown.n; i++)
		fn(conf->shown.lines[i], ud);
	for (size_t p = 0; p < conf->nplugins; p++) {
		const vbx_config *b = conf->plugins[p].block;
		for (size_t i = 0; b && i < b->shown.n; i++)
			fn(b->shown.lines[i], ud);
	}
}

static void print_line(const char *line, void *ud)
{
	fprintf(ud, "  %s\n", line);
}

void vbx__effective_print(const vbx__conf *conf, FILE *f)
{
	fprintf(f, "values in effect on this machine (%d CPUs):\n",
	        vbx__cpu_count());
	each_line(conf, print_line, f);
}

static void log_line(const char *line, void *ud)
{
	(void)ud;
	vbx__info("%s", line);
}

void vbx__effective_log(const vbx__conf *conf)
{
	vbx__info("%d CPUs usable", vbx__cpu_count());
	each_line(conf, log_line, NULL);
}
