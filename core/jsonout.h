/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/jsonout.h - a fast printer for cJSON trees. Not installed.
 *
 * Every JSON response goes through here. cJSON_PrintUnformatted() starts
 * from a 256-byte buffer, walks each string twice and prints every number
 * with sprintf() then reads it back with sscanf(); this printer makes one
 * pass into a buffer sized for a typical response, copies runs of plain
 * string bytes with memcpy() and formats integers and short decimals by
 * hand, yet produces the very same bytes (tests/unit/test_jsonout.c and
 * tests/fuzz/fuzz_jsonout.c compare the two).
 */
#ifndef VBX_JSONOUT_H
#define VBX_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Render item as compact JSON (no whitespace): exactly the bytes
 * cJSON_PrintUnformatted() (cJSON 1.7.15) produces. A NaN or infinite
 * number prints as null, as cJSON does.
 *
 * Returns a malloc'd NUL-terminated string (free it with free(), not
 * cJSON_free()) and its length in *len (len may be NULL), or NULL when out
 * of memory or when the tree holds something cJSON would refuse to print
 * too: a NULL item, an item of no known type, a cJSON_Raw without text.
 * Thread-safe; the tree is only read.
 */
char *vbx__json_print(const cJSON *item, size_t *len);

/*
 * An object written straight to text, for the rows of a list: one
 * cJSON_Raw node per row where a tree takes a node and a string per
 * field. The bytes are those vbx__json_print gives the same fields.
 *
 *     vbx__json_buf row;
 *     vbx__json_row_begin(&row);
 *     vbx__json_row_str(&row, "id", p->id);
 *     cJSON *o = vbx__json_row_end(&row);
 *
 * Out of memory at any step, end returns NULL (and frees what it had).
 * The result is a Raw item: add it to arrays and objects, print it; do
 * not add members to it.
 */
/* Text being written: also the printer's own buffer. */
typedef struct vbx__json_buf {
	char *buf;
	size_t len, cap; /* one byte past len is always there, for the NUL */
	bool failed;
} vbx__json_buf;

void vbx__json_row_begin(vbx__json_buf *row);
/* "key":"s" (escaped), or "key":null when s is NULL. */
void vbx__json_row_str(vbx__json_buf *row, const char *key, const char *s);
cJSON *vbx__json_row_end(vbx__json_buf *row);
/* One row of npairs key/value pairs (the host table's json_row). */
cJSON *vbx__json_row(const char *const *pairs, size_t npairs);

#endif /* VBX_JSONOUT_H */
