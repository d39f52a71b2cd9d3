/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sig.c - hostile signature text, as a plugin may hand the registry
 * (core/sig.c).
 *
 * Input: the signature (cut at a NUL byte). Checks: no crash or leak; a
 * refusal leaves no output; an accepted signature's canonical form is at
 * most twice as long as the input, holds only the bytes the grammar
 * allows, and is canonical itself: normalising it again gives it back.
 */
#include "vbx_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_form(const char *in, const char *out)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
	                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                              "0123456789_ *()[],.+-/%<>&|^~!?:";
	if (strlen(out) > 2 * strlen(in) + 1)
		abort();
	if (strspn(out, allowed) != strlen(out))
		abort();
	char *again = NULL;
	if (vbx__sig_normalise(out, &again) != VBX_OK)
		abort();
	if (strcmp(again, out) != 0)
		abort();
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	char *out = (char *)"not set";
	int rc = vbx__sig_normalise(text, &out);
	if (rc == VBX_OK)
		check_form(text, out);
	else if (rc != VBX_EINVAL || out != NULL)
		abort();
	free(rc == VBX_OK ? out : NULL);
	free(text);
	return 0;
}
