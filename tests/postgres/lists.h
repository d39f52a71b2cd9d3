/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lists.h - what the store tests share to check list hooks: a callback's
 * collector, and a driver that pages a list through sizes and pages.
 */
#ifndef VBX_TEST_LISTS_H
#define VBX_TEST_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include <vibebox/store.h>

/* What a list callback saw: names joined with ",". */
struct seen {
	char text[8192];
	int count;
	int stop_at; /* return 7 on this row (1-based); 0: never */
};

/* Add what to s; 7 (a callback's error) on row stop_at, else 0. */
int seen_add(struct seen *s, const char *what);

#define PAGE_LIMIT 4
#define PAGE_ROWS_MAX (2 * PAGE_LIMIT + 3)

/*
 * One paged list under test. add makes row i of the list (and any rows of
 * other lists around it) and names it as the list's callback will; list
 * runs the hook for a page, collecting the names in s.
 */
struct paged {
	const char *what; /* for failure messages */
	void (*add)(void *arg, int i, char *name, size_t len);
	int (*list)(void *arg, const vbx_page *page, struct seen *s,
	            int64_t *total);
	void *arg;
	int newest_first; /* the list's order is the reverse of add's */
	char names[PAGE_ROWS_MAX][64];
	int n;
};

/*
 * Grow the list through 0, limit - 1, limit, limit + 1 and 2 * limit + 3
 * rows. At each size read every page (first, middle, last, partial or
 * full), the page just past the end and one far past it: rows and total
 * must be right on each, and the rows again with no total asked for.
 * Fails the running cmocka test otherwise.
 */
void check_paging(struct paged *pg);

#endif
