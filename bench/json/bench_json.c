/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_json.c - vbx__json_print() against cJSON_PrintUnformatted() on
 * the trees the daemon answers with most: a page of 20 projects (7 short
 * strings each) and a page of environment stats (mostly numbers). Prints
 * the nanoseconds per print of each and checks the bytes are the same.
 *
 *   bench/json/run.sh [ROUNDS]        (default 100000)
 */
#include "vbx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "jsonout.h"

static cJSON *project_page(void)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(root, "items");
	for (int i = 0; i < 20; i++) {
		char id[40], name[40];
		snprintf(id, sizeof(id), "3f1c2a9e-0b7d-4c11-9a2e-%012d", i);
		snprintf(name, sizeof(name), "project-%d", i);
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "id", id);
		cJSON_AddStringToObject(p, "name", name);
		cJSON_AddStringToObject(p, "description",
		                        "A sample project for the benchmark");
		cJSON_AddStringToObject(p, "teamId", id);
		cJSON_AddStringToObject(p, "ownerId", id);
		cJSON_AddStringToObject(p, "createdAt",
		                        "2024-05-01T12:00:00.000Z");
		cJSON_AddStringToObject(p, "updatedAt",
		                        "2024-05-02T08:30:00.000Z");
		cJSON_AddItemToArray(items, p);
	}
	cJSON_AddNumberToObject(root, "page", 1);
	cJSON_AddNumberToObject(root, "limit", 20);
	cJSON_AddNumberToObject(root, "total", 137);
	return root;
}

static cJSON *stats_page(void)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(root, "items");
	for (int i = 0; i < 20; i++) {
		cJSON *s = cJSON_CreateObject();
		/* envs.c rounds to hundredths like this */
		cJSON_AddNumberToObject(s, "cpuPercent",
		                        round((3.25 + i * 1.7) * 100) / 100);
		cJSON_AddNumberToObject(s, "memoryBytes", 123456789.0 + i);
		cJSON_AddNumberToObject(s, "memoryLimit", 2147483648.0);
		cJSON_AddNumberToObject(s, "pids", 12 + i);
		cJSON_AddNumberToObject(s, "at", 1714564800123.0 + i);
		cJSON_AddItemToArray(items, s);
	}
	return root;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double time_cjson(const cJSON *tree, int rounds)
{
	double t0 = now_ns();
	for (int i = 0; i < rounds; i++)
		cJSON_free(cJSON_PrintUnformatted(tree));
	return (now_ns() - t0) / rounds;
}

static double time_ours(const cJSON *tree, int rounds)
{
	double t0 = now_ns();
	size_t len;
	for (int i = 0; i < rounds; i++)
		free(vbx__json_print(tree, &len));
	return (now_ns() - t0) / rounds;
}

static int bench(const char *name, cJSON *tree, int rounds)
{
	char *a = cJSON_PrintUnformatted(tree);
	size_t len = 0;
	char *b = vbx__json_print(tree, &len);
	int same = a && b && strlen(a) == len && memcmp(a, b, len) == 0;
	if (!same)
		fprintf(stderr, "%s: the printers differ\n", name);
	cJSON_free(a);
	free(b);

	time_cjson(tree, rounds / 10 + 1); /* warm up */
	time_ours(tree, rounds / 10 + 1);
	double c = time_cjson(tree, rounds), o = time_ours(tree, rounds);
	printf("%-14s %6zu bytes  cJSON %8.0f ns  vbx__json_print %8.0f ns"
	       "  (%.1fx)\n",
	       name, len, c, o, c / o);
	cJSON_Delete(tree);
	return same ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100000;
	if (rounds < 1) {
		fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
		return 2;
	}
	int bad = bench("projects x20", project_page(), rounds);
	bad |= bench("stats x20", stats_page(), rounds);
	return bad;
}
