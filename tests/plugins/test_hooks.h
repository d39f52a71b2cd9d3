/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/plugins/test_hooks.h - what the loader's test plugins share: a
 * PROVIDER hook of their own, and a trace of their lifecycle calls.
 *
 * When VBX_TEST_TRACE names a file, every lifecycle call appends one line
 * "PLUGIN:STEP" to it (init, start, stop, fini), so that a test can check
 * the order of the calls and that fini never follows a failed init.
 */
#ifndef VBX_TEST_HOOKS_H
#define VBX_TEST_HOOKS_H

#include <stdio.h>
#include <stdlib.h>

#include <vibebox/vibebox.h>

/* test_provide(out) - PROVIDER, default VBX_EUNAVAIL: writes a number. */
VBX_HOOK_DECLARE(test_provide, PROVIDER, VBX_EUNAVAIL, (int *out), (out))

static inline void test_trace(const char *plugin, const char *step)
{
	const char *path = getenv("VBX_TEST_TRACE");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%s:%s\n", plugin, step);
	fclose(f);
}

#endif
