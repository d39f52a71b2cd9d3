/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_jsonout.c - vbx__json_print() against cJSON_PrintUnformatted():
 * whatever the input parses to, both printers must give the same bytes
 * (or both refuse). The tree is printed as parsed, then again with every
 * number negated and every string and key reversed, so that the strings
 * and numbers the input spells also show up in the forms it does not
 * (a leading control byte, a negative zero).
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"

static void compare(const cJSON *tree)
{
	char *want = cJSON_PrintUnformatted(tree);
	size_t len = 0;
	char *got = vbx__json_print(tree, &len);

	if (!want != !got)
		abort();
	if (want && (len != strlen(want) || memcmp(got, want, len + 1) != 0)) {
		fprintf(stderr, "cJSON: %s\nours:  %s\n", want, got);
		abort();
	}
	cJSON_free(want);
	free(got);
}

static void reverse(char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	for (size_t i = 0; i < n / 2; i++) {
		char c = s[i];
		s[i] = s[n - 1 - i];
		s[n - 1 - i] = c;
	}
}

/* Negate numbers, reverse strings and keys, all through the tree. */
static void mutate(cJSON *item)
{
	for (; item; item = item->next) {
		reverse(item->string);
		if (cJSON_IsNumber(item))
			item->valuedouble = -item->valuedouble;
		else if (cJSON_IsString(item))
			reverse(item->valuestring);
		mutate(item->child);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *tree = cJSON_ParseWithLength((const char *)data, size);
	if (!tree)
		return 0;
	compare(tree);
	mutate(tree);
	compare(tree);
	cJSON_Delete(tree);
	return 0;
}
