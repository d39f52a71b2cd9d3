/* SPDX-License-Identifier: Apache-2.0 */
/*
 * table.c - aligned columns for people; scripts use --json instead. Cells
 * are cut at the first control character so a name from the server cannot
 * move the cursor or break the layout.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A copy of s up to its first control character; "-" for NULL. */
static char *cell_dup(const char *s)
{
	if (!s)
		s = "-";
	size_t n = 0;
	while (s[n] && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f)
		n++;
	return strndup(s, n);
}

static int add_row(cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (!c)
			return -1;
		t->cells = c;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = cell_dup(cells[i]);
		if (!row[i]) {
			while (i--)
				free(row[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

int cli_table_init(cli_table *t, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	while (header[t->ncols])
		t->ncols++;
	return t->ncols ? add_row(t, header) : -1;
}

int cli_table_add(cli_table *t, const char *const *cells)
{
	return add_row(t, cells);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void cli_table_print(const cli_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = width(t->cells[r * t->ncols + c]);
			w[c] = n > w[c] ? n : w[c];
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;
			fputs(s, f);
			if (!last)
				fprintf(f, "%*s", (int)(w[c] - width(s) + 2),
				        "");
		}
		fputc('\n', f);
	}
	free(w);
}

void cli_table_free(cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
