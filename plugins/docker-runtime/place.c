/* SPDX-License-Identifier: Apache-2.0 */
/*
 * place.c - where a new environment's container goes: the pure choice
 * (engines.c asks the engines and applies it).
 *
 * Every container of this installation reserves its limits on its engine
 * (the DKR_LABEL_CPUS and DKR_LABEL_MEMORY labels it was created with),
 * whether it runs or not: a stopped environment may start at any time and
 * must still fit. An engine's free capacity is what its configured
 * capacity leaves; the new container goes to the engine with the largest
 * free fraction (the smaller of CPU and memory) after placing it, among
 * the engines that are not down and whose images allow its image.
 *
 * An environment whose workspace already lives on an engine stays there:
 * its files are on that engine's volume.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define MIB (1024.0 * 1024.0)

/* A label's number, or 0 when it is absent or not a finite number >= 0. */
static double label_number(const cJSON *labels, const char *name)
{
	const char *s = cJSON_GetStringValue(
	        cJSON_GetObjectItemCaseSensitive(labels, name));
	char *end;
	if (!s || !*s)
		return 0;
	double v = strtod(s, &end);
	if (*end || !isfinite(v) || v < 0 || v > 1e12)
		return 0;
	return v;
}

int dkr_usage_parse(const cJSON *list, dkr_usage *out)
{
	const cJSON *it;
	*out = (dkr_usage){0};
	if (!cJSON_IsArray(list))
		return VBX_EINVAL;
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *labels =
		        cJSON_GetObjectItemCaseSensitive(it, "Labels");
		if (!cJSON_IsObject(it))
			continue;
		out->cpus += label_number(labels, DKR_LABEL_CPUS);
		out->memory +=
		        (uint64_t)(label_number(labels, DKR_LABEL_MEMORY) *
		                   MIB);
		out->n++;
	}
	return VBX_OK;
}

/* ---- the choice (pure) ---- */

/* The fraction of a capacity left after used and want; 1 without one. */
static double left(double cap, double used, double want)
{
	return cap > 0 ? (cap - used - want) / cap : 1.0;
}

/* Append "; name: text" to why. */
static void skipped(char *why, size_t why_len, size_t *used, const char *name,
                    const char *text)
{
	if (!why || *used >= why_len)
		return;
	int k = snprintf(why + *used, why_len - *used, "%s%s: %s",
	                 *used ? "; " : "", name, text);
	if (k > 0)
		*used += (size_t)k;
}

int dkr_place_pick(const dkr_candidate *c, size_t n, double cpus,
                   uint64_t memory, char *why, size_t why_len)
{
	int best = -1;
	double best_free = -1;
	size_t used = 0;
	if (why && why_len)
		why[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		double fc = left(c[i].cpus, c[i].used.cpus, cpus);
		double fm = left((double)c[i].memory, (double)c[i].used.memory,
		                 (double)memory);
		double f = fc < fm ? fc : fm;
		if (!c[i].up)
			skipped(why, why_len, &used, c[i].name, "down");
		else if (!c[i].image_ok)
			skipped(why, why_len, &used, c[i].name,
			        "its images do not allow the image");
		else if (fc < -1e-9)
			skipped(why, why_len, &used, c[i].name,
			        "not enough free CPUs");
		else if (fm < -1e-9)
			skipped(why, why_len, &used, c[i].name,
			        "not enough free memory");
		else if (f > best_free + 1e-9) {
			best = (int)i;
			best_free = f;
		}
	}
	return best;
}
