/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtrim.c - give memory back to the system after a burst.
 *
 * glibc's malloc keeps what a burst freed: 15,000 WebSockets opened and
 * closed left an idle daemon at 235 MB. Freed chunks stay in the arena of
 * the thread that allocated them, and an arena's heap shrinks only from
 * its top, which a single live allocation pins. Two measures, both off
 * the request path:
 *
 *  - At start, at most server.workers + 2 malloc arenas (M_ARENA_MAX):
 *    one per worker, so handlers never wait on each other's arena lock,
 *    the main arena (the service thread), and one shared by the other
 *    threads (timers, events, plugins' own). glibc's default is 8 per
 *    CPU, each keeping its own free memory. An admin's MALLOC_ARENA_MAX
 *    or GLIBC_TUNABLES=glibc.malloc.arena_max wins. Measured on 2 CPUs
 *    it changes nothing (glibc makes an arena only on contention, and 2
 *    CPUs make little: 76.3 against 76.4 MiB with 8,000 WebSockets
 *    open); it is a bound for large machines, where 8 per CPU is
 *    hundreds of arenas, and it costs handlers nothing, each keeping an
 *    arena of its own.
 *
 *  - A core timer (once a second, on a worker) calls malloc_trim(0),
 *    which returns the free pages inside every arena (madvise), not only
 *    the top, once the daemon has been quiet for QUIET_S seconds after
 *    activity, and only when that activity was a burst (BURST_EVENTS) or
 *    the resident size grew by more than SLACK since the last trim: a
 *    trim walks every free chunk, which need not happen after each
 *    health probe. Quiet means that no request started and no WebSocket
 *    opened or closed; the service thread counts those with a plain
 *    store (vbx__memtrim_note), the only cost on the request path.
 *
 * VBX_MEMTRIM=0 in the environment turns both off (to measure what they
 * do, or under an allocator of its own such as jemalloc).
 */
#include "vbx_build.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "request.h"

#define TICK_MS 1000
#define QUIET_S 3        /* quiet ticks before a trim */
#define BURST_EVENTS 256 /* requests and WebSockets that make a burst */
#define SLACK (8 << 20)  /* growth of the RSS worth a trim, bytes */
#define ARENAS_BEYOND_WORKERS 2

/* Written by the service thread only, read by the timer. */
static atomic_ulong activity;

static struct {
	unsigned long seen;  /* activity at the last tick */
	unsigned long burst; /* events since the last trim check */
	int quiet;           /* ticks without activity; -1: nothing to do */
	long long floor;     /* RSS after the last trim, bytes */
	bool enabled;
} mt = {.quiet = -1};

void vbx__memtrim_note(void)
{
	/* one writer: a load and a store, no locked instruction */
	atomic_store_explicit(
	        &activity,
	        atomic_load_explicit(&activity, memory_order_relaxed) + 1,
	        memory_order_relaxed);
}

/* The resident set in bytes, from /proc/self/statm; -1 when unknown. */
static long long rss_bytes(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *sp = strchr(buf, ' ');
	return sp ? atoll(sp + 1) * sysconf(_SC_PAGESIZE) : -1;
}

static bool admin_tuned_arenas(void)
{
	const char *t = getenv("GLIBC_TUNABLES");
	return getenv("MALLOC_ARENA_MAX") ||
	       (t && strstr(t, "glibc.malloc.arena_max"));
}

bool vbx__memtrim_setup(int workers)
{
	const char *env = getenv("VBX_MEMTRIM");
	mt.enabled = !(env && strcmp(env, "0") == 0);
	if (!mt.enabled) {
		vbx__info("VBX_MEMTRIM=0: malloc arenas and trims left to "
		          "glibc's defaults");
		return false;
	}
	if (!admin_tuned_arenas())
		mallopt(M_ARENA_MAX, workers + ARENAS_BEYOND_WORKERS);
	return true;
}

static void trim(long long rss)
{
	int64_t t0 = vbx__now_ns();
	malloc_trim(0);
	long long after = rss_bytes();
	vbx__info("quiet after a burst: malloc_trim took the resident size "
	          "from %lld to %lld KiB in %lld ms",
	          rss / 1024, after / 1024,
	          (long long)(vbx__now_ns() - t0) / 1000000);
	mt.floor = after;
}

static void tick(void *ud)
{
	(void)ud;
	unsigned long now =
	        atomic_load_explicit(&activity, memory_order_relaxed);
	if (now != mt.seen) {
		mt.burst += now - mt.seen;
		mt.seen = now;
		mt.quiet = 0;
		return;
	}
	if (mt.quiet < 0 || ++mt.quiet < QUIET_S)
		return;
	mt.quiet = -1; /* once per quiet spell */
	long long rss = rss_bytes();
	if (mt.burst >= BURST_EVENTS || (rss > 0 && rss > mt.floor + SLACK))
		trim(rss);
	mt.burst = 0;
}

int vbx__memtrim_start(void)
{
	if (!mt.enabled)
		return VBX_OK;
	mt.floor = rss_bytes();
	/* ticks run one at a time (workers.c), so mt needs no lock */
	return vbx__timer_add(TICK_MS, tick, NULL);
}
