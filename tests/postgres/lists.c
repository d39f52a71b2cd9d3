/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lists.c - see lists.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lists.h"

int seen_add(struct seen *s, const char *what)
{
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s%s", len ? "," : "",
	         what);
	return ++s->count == s->stop_at ? 7 : 0;
}

/* The names page `page` must show, in the list's order. */
static void page_want(const struct paged *pg, int page, char *want, size_t len)
{
	int first = (page - 1) * PAGE_LIMIT;

	want[0] = '\0';
	for (int k = first; k < pg->n && k < first + PAGE_LIMIT; k++) {
		int i = pg->newest_first ? pg->n - 1 - k : k;
		size_t used = strlen(want);
		snprintf(want + used, len - used, "%s%s", used ? "," : "",
		         pg->names[i]);
	}
}

/* The rows and the total of one page; then the rows with no total asked
 * for (the count is skipped, the page must not change). */
static void check_page(const struct paged *pg, int page)
{
	vbx_page p = {page, PAGE_LIMIT};
	struct seen s;
	char want[1024];
	int64_t total = -1;
	int rc;

	page_want(pg, page, want, sizeof(want));
	memset(&s, 0, sizeof(s));
	rc = pg->list(pg->arg, &p, &s, &total);
	if (rc != VBX_OK || strcmp(s.text, want) != 0 || total != pg->n)
		fail_msg("%s, %d rows, page %d: rc %d, rows \"%s\" (want "
		         "\"%s\"), total %lld (want %d)",
		         pg->what, pg->n, page, rc, s.text, want,
		         (long long)total, pg->n);
	memset(&s, 0, sizeof(s));
	rc = pg->list(pg->arg, &p, &s, NULL);
	if (rc != VBX_OK || strcmp(s.text, want) != 0)
		fail_msg("%s, %d rows, page %d, no total: rc %d, rows \"%s\" "
		         "(want \"%s\")",
		         pg->what, pg->n, page, rc, s.text, want);
}

/*
 * Grow the list through 0, limit - 1, limit, limit + 1 and 2 * limit + 3
 * rows. At each size read every page (first, middle, last, partial or
 * full), the page just past the end and one far past it: the total must
 * be right on each, empty or not.
 */
void check_paging(struct paged *pg)
{
	static const int sizes[] = {0, PAGE_LIMIT - 1, PAGE_LIMIT,
	                            PAGE_LIMIT + 1, PAGE_ROWS_MAX};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		while (pg->n < sizes[k]) {
			pg->add(pg->arg, pg->n, pg->names[pg->n],
			        sizeof(pg->names[0]));
			pg->n++;
			usleep(2000); /* distinct creation times */
		}
		int pages = (pg->n + PAGE_LIMIT - 1) / PAGE_LIMIT;
		for (int p = 1; p <= pages + 1; p++)
			check_page(pg, p);
		check_page(pg, 1000);
	}
}
