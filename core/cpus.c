/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpus.c - how many CPUs this daemon may use, for the defaults that scale
 * with the machine (server.workers, and through the host table a plugin's
 * pool or hash_concurrency).
 *
 * Counted as the CPUs of the affinity mask (taskset, systemd's
 * CPUAffinity=, a container's --cpuset-cpus), capped by the cgroup v2 CPU
 * quota of this process's cgroup and its parents (systemd's CPUQuota=, a
 * container's --cpus), rounded up. The number of CPUs of the host says
 * nothing about a container limited to two of them.
 */
#include "vbx_build.h"

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

int vbx__cpu_quota_parse(const char *text)
{
	char *end;
	if (strncmp(text, "max", 3) == 0 &&
	    (text[3] == ' ' || text[3] == '\n' || text[3] == '\0'))
		return 0;
	long long quota = strtoll(text, &end, 10);
	if (end == text || *end != ' ' || quota <= 0)
		return -1;
	const char *p = end + 1;
	long long period = strtoll(p, &end, 10);
	if (end == p || (*end != '\n' && *end != '\0') || period <= 0 ||
	    quota > INT64_MAX - period)
		return -1;
	long long n = (quota + period - 1) / period;
	return n > 4096 ? 4096 : (int)n;
}

/* The quota of the cgroup directory dir: CPUs, 0 (none) or -1. */
static int quota_of(const char *dir)
{
	char path[4096 + 2 * sizeof(CGROUP_ROOT)], text[64];
	snprintf(path, sizeof(path), "%s/cpu.max", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0; /* no cpu controller here: no limit of its own */
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return vbx__cpu_quota_parse(text);
}

/* The smallest quota on the way from this process's cgroup to the root,
 * in CPUs; 0 when there is none. */
static int cgroup_cpus(void)
{
	char line[4096], dir[4096 + sizeof(CGROUP_ROOT)];
	int best = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return 0;
	/* cgroup v2 has one line, "0::/path" */
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, "0::/", 4) == 0;
	fclose(f);
	if (!found)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	snprintf(dir, sizeof(dir), "%s%s", CGROUP_ROOT, line + 3);
	for (;;) {
		int q = quota_of(dir);
		if (q > 0 && (best == 0 || q < best))
			best = q;
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < strlen(CGROUP_ROOT))
			break;
		*slash = '\0';
	}
	return best;
}

int vbx__cpu_count(void)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	int q = cgroup_cpus();
	return q > 0 && q < n ? q : n;
}

int vbx__workers_for_cpus(int cpus)
{
	int n = 2 * cpus;
	return n < VBX__WORKERS_MIN   ? VBX__WORKERS_MIN
	       : n > VBX__WORKERS_MAX ? VBX__WORKERS_MAX
	                              : n;
}
