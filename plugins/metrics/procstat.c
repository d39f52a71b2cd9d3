/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procstat.c - the process metrics, read from /proc/self at each scrape
 * (a few small reads; cheaper than keeping them up to date) and written
 * straight into the exposition, plus vibebox_build_info.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mx.h"

typedef struct proc_stat {
	double cpu_seconds;   /* user + system */
	double start_seconds; /* since the epoch */
	double rss_bytes;
} proc_stat;

/* The boot time, from /proc/stat's "btime"; 0 when unknown. */
static double boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "btime ", 6)) {
			bt = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return bt;
}

/* /proc/self/stat: fields after the command (which may hold spaces and
 * parentheses, hence the last ')'): utime is the 14th field, stime the
 * 15th, starttime the 22nd, rss the 24th. */
static int read_stat(proc_stat *ps)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0, start = 0;
	long long rss = 0;
	/* from field 3 (state) on */
	if (sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%*d %*d %*d %*d %*d %*d %llu %*u %lld",
	           &ut, &st, &start, &rss) != 4)
		return -1;
	double hz = (double)sysconf(_SC_CLK_TCK);
	ps->cpu_seconds = (double)(ut + st) / hz;
	ps->start_seconds = boot_time() + (double)start / hz;
	ps->rss_bytes = (double)rss * (double)sysconf(_SC_PAGESIZE);
	return 0;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	double n = 0;
	struct dirent *e;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static double max_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (double)rl.rlim_cur;
}

void mx_render_process(mx_render *r, const char *version)
{
	static const char *const bi_labels[] = {"abi", "version"};
	proc_stat ps = {0};
	char abi[32];

	snprintf(abi, sizeof(abi), "%d.%d", VBX_ABI_MAJOR, VBX_ABI_MINOR);
	const char *bi_values[] = {abi, version};
	mx_render_simple(r, "vibebox_build_info",
	                 "The daemon's version and plugin ABI; always 1.",
	                 VBX_METRIC_GAUGE, 1, bi_labels, bi_values, 2);
	if (read_stat(&ps) == 0) {
		mx_render_simple(r, "vibebox_process_cpu_seconds_total",
		                 "User and system CPU time spent, in seconds.",
		                 VBX_METRIC_COUNTER, ps.cpu_seconds, NULL, NULL,
		                 0);
		mx_render_simple(r, "vibebox_process_resident_memory_bytes",
		                 "Resident memory size, in bytes.",
		                 VBX_METRIC_GAUGE, ps.rss_bytes, NULL, NULL, 0);
		mx_render_simple(r, "vibebox_process_start_time_seconds",
		                 "Start time of the process since the Unix "
		                 "epoch, in seconds.",
		                 VBX_METRIC_GAUGE, ps.start_seconds, NULL, NULL,
		                 0);
	}
	mx_render_simple(r, "vibebox_process_open_fds",
	                 "Open file descriptors.", VBX_METRIC_GAUGE, open_fds(),
	                 NULL, NULL, 0);
	mx_render_simple(r, "vibebox_process_max_fds",
	                 "The limit of open file descriptors.",
	                 VBX_METRIC_GAUGE, max_fds(), NULL, NULL, 0);
}
