/* SPDX-License-Identifier: Apache-2.0 */
/*
 * workers.c - the pool of threads that run route handlers, hooks and
 * plugin tasks off the service thread, and the timer thread that feeds it.
 *
 * Tasks wait in an unbounded FIFO list: every producer (the HTTP server, a
 * plugin) already bounds what it submits, and refusing work here would only
 * move the queue somewhere less visible.
 */
#include "vbx_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

typedef struct task {
	struct task *next;
	vbx_task_fn *fn;
	void *ud;
} task;

typedef struct timer {
	struct timer *next;
	vbx_task_fn *fn;
	void *ud;
	int64_t interval_ms;
	int64_t due_ms;
	bool running; /* skip a tick while the previous one still runs */
} timer;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	task *head, *tail;
	bool stopping;
	pthread_t *threads;
	int nthreads;
	/* timers */
	pthread_t timer_thread;
	pthread_cond_t timer_wake;
	timer *timers;
	bool timer_started;
} pool = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .more = PTHREAD_COND_INITIALIZER,
        .timer_wake = PTHREAD_COND_INITIALIZER,
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.head && !pool.stopping)
			pthread_cond_wait(&pool.more, &pool.lock);
		task *t = pool.head;
		if (!t)
			break; /* stopping and nothing left */
		pool.head = t->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.lock);
		t->fn(t->ud);
		free(t);
		vbx__log_set_request(NULL);
		vbx__log_set_trace(NULL);
		pthread_mutex_lock(&pool.lock);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

int vbx__workers_submit(vbx_task_fn *fn, void *ud)
{
	task *t = malloc(sizeof(*t));
	if (!t)
		return VBX_ENOMEM;
	t->next = NULL;
	t->fn = fn;
	t->ud = ud;
	pthread_mutex_lock(&pool.lock);
	if (pool.stopping || !pool.nthreads) {
		pthread_mutex_unlock(&pool.lock);
		free(t);
		return VBX_ESTATE;
	}
	if (pool.tail)
		pool.tail->next = t;
	else
		pool.head = t;
	pool.tail = t;
	pthread_mutex_unlock(&pool.lock);
	/* After the unlock: a worker woken while the lock is still held
	 * would wake only to sleep again on the mutex. */
	pthread_cond_signal(&pool.more);
	return VBX_OK;
}

/* A timer tick runs on a worker; `running` keeps ticks from piling up
 * behind a slow one. */
static void timer_tick(void *ud)
{
	timer *t = ud;
	t->fn(t->ud);
	pthread_mutex_lock(&pool.lock);
	t->running = false;
	pthread_mutex_unlock(&pool.lock);
}

static void timers_fire_due(int64_t now)
{
	for (timer *t = pool.timers; t; t = t->next) {
		if (t->due_ms > now)
			continue;
		t->due_ms = now + t->interval_ms;
		if (t->running)
			continue;
		task *k = malloc(sizeof(*k));
		if (!k)
			continue;
		t->running = true;
		k->next = NULL;
		k->fn = timer_tick;
		k->ud = t;
		if (pool.tail)
			pool.tail->next = k;
		else
			pool.head = k;
		pool.tail = k;
		pthread_cond_signal(&pool.more);
	}
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	while (!pool.stopping) {
		int64_t now = now_ms(), next = now + 60000;
		timers_fire_due(now);
		for (timer *t = pool.timers; t; t = t->next)
			if (t->due_ms < next)
				next = t->due_ms;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t wait = next - now;
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&pool.timer_wake, &pool.lock, &ts);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

int vbx__timer_add(int64_t interval_ms, vbx_task_fn *fn, void *ud)
{
	if (interval_ms < 1)
		return VBX_EINVAL;
	timer *t = calloc(1, sizeof(*t));
	if (!t)
		return VBX_ENOMEM;
	t->fn = fn;
	t->ud = ud;
	t->interval_ms = interval_ms;
	pthread_mutex_lock(&pool.lock);
	t->due_ms = now_ms() + interval_ms;
	t->next = pool.timers;
	pool.timers = t;
	pthread_cond_signal(&pool.timer_wake);
	pthread_mutex_unlock(&pool.lock);
	return VBX_OK;
}

int vbx__workers_start(int n)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.timer_wake, &attr);
	pthread_condattr_destroy(&attr);

	pool.threads = calloc((size_t)n, sizeof(*pool.threads));
	if (!pool.threads)
		return VBX_ENOMEM;
	pool.stopping = false;
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&pool.threads[i], NULL, worker_main,
		                        NULL);
		if (rc) {
			vbx__error("cannot start worker thread: %s",
			           strerror(rc));
			vbx__workers_stop();
			return VBX_ERR;
		}
		pool.nthreads++;
	}
	if (pthread_create(&pool.timer_thread, NULL, timer_main, NULL) == 0)
		pool.timer_started = true;
	return VBX_OK;
}

void vbx__workers_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.more);
	pthread_cond_broadcast(&pool.timer_wake);
	pthread_mutex_unlock(&pool.lock);
	if (pool.timer_started)
		pthread_join(pool.timer_thread, NULL);
	pool.timer_started = false;
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.nthreads = 0;
	while (pool.timers) {
		timer *t = pool.timers;
		pool.timers = t->next;
		free(t);
	}
}
