/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poll.h - waiting in unit tests for what other threads do (the watcher's
 * follower, the platform's workers): the wall clock, and polling an int
 * under the test's lock.
 */
#ifndef VBX_TEST_POLL_H
#define VBX_TEST_POLL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Unix time in milliseconds, as the store and the runtime write it. */
static inline int64_t test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to 5 s for *what (read under lock) to reach at_least. */
static inline bool test_wait_int(pthread_mutex_t *lock, const int *what,
                                 int at_least)
{
	for (int i = 0; i < 250; i++) {
		pthread_mutex_lock(lock);
		bool there = *what >= at_least;
		pthread_mutex_unlock(lock);
		if (there)
			return true;
		usleep(20000);
	}
	return false;
}

#endif
