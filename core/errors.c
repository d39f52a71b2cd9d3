/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errors.c - a list of messages collected for the user, so that
 * `vibeboxd -t` can print every problem at once rather than the first.
 */
#include "vbx_build.h"

#include <stdlib.h>
#include <string.h>

#include "core.h"

void vbx__errors_vadd(vbx__errors *e, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	if (e->count == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		char **v = realloc(e->msgs, cap * sizeof(*v));
		if (!v) {
			free(msg);
			return;
		}
		e->msgs = v;
		e->cap = cap;
	}
	e->msgs[e->count++] = msg;
}

void vbx__errors_add(vbx__errors *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vbx__errors_vadd(e, fmt, ap);
	va_end(ap);
}

void vbx__errors_print(const vbx__errors *e, FILE *f)
{
	for (size_t i = 0; i < e->count; i++)
		fprintf(f, "%s\n", e->msgs[i]);
}

void vbx__errors_clear(vbx__errors *e)
{
	for (size_t i = 0; i < e->count; i++)
		free(e->msgs[i]);
	free(e->msgs);
	memset(e, 0, sizeof(*e));
}
