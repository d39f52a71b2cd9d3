/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_docker_engines.c - what several engines read from outside: the
 * engine's list of containers into a usage (their limit labels), and the
 * container ids the platform stores ("<engine>/<id>"), split and joined
 * again. Checks that the results stay in their bounds.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

static void usage(const char *s, size_t n)
{
	dkr_usage u;
	cJSON *j = cJSON_ParseWithLength(s, n);
	if (dkr_usage_parse(j, &u) == VBX_OK &&
	    (!isfinite(u.cpus) || u.cpus < 0))
		abort();
	cJSON_Delete(j);
	if (dkr_usage_parse(NULL, &u) != VBX_EINVAL)
		abort();
}

static void ids(const char *s)
{
	dkr a = {.prefix_ids = true}, b = {.prefix_ids = true};
	dkr *eng[2] = {&a, &b};
	dkr d = {.eng = eng, .n_eng = 2};
	const char *raw;
	char out[VBX_CONTAINER_ID_LEN];
	strcpy(a.name, "node-a");
	strcpy(b.name, "b");
	dkr *e = dkr_route_find(&d, s, &raw);
	if (e && (raw < s || raw > s + strlen(s)))
		abort();
	dkr_route_ext_id(&b, s, out);
	if (strnlen(out, sizeof(out)) == sizeof(out) ||
	    dkr_route_find(&d, out, &raw) != &b)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	usage(s, size);
	ids(s);
	free(s);
	return 0;
}
