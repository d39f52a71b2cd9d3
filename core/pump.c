/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pump.c - the stream pump (include/vibebox/stream.h): one thread polls
 * the descriptors of many streams and services each source when its
 * descriptor is ready, when it was kicked or when its deadline passed.
 * Work that may block (closing an exec stream waits for its exit code, a
 * resize asks the engine) runs on a worker with the lock dropped, so one
 * slow stream does not stall the bytes of every other.
 *
 * A source's bookkeeping lives in the priv words of its public struct,
 * seen here as a pump_link.
 */
#include "vbx_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "pump.h"

/* The pump's own fields of a source, under its lock. */
typedef struct pump_link {
	int fd;
	unsigned polled; /* events registered with epoll */
	unsigned ready;  /* events reported since the last service */
	bool kicked, freeing, registered;
	bool busy; /* a worker runs its todo: not serviced meanwhile */
	int64_t deadline_ms;
	unsigned todo; /* requests that need the lock dropped */
	vbx_pump_src *next, *prev, *todo_next;
} pump_link;
_Static_assert(sizeof(pump_link) <= sizeof(((vbx_pump_src *)0)->priv),
               "vbx_pump_src.priv is too small for the pump's fields");
#define L(s) ((pump_link *)(void *)(s)->priv)

struct vbx_pump {
	struct vbx_object_head head; /* the host, for the SDK's wrappers */
	vbx_pump *all_next;          /* every live pump (pumps_lock) */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when busy drops to 0 */
	pthread_t thread;
	bool started, stop, wake_pending;
	int busy; /* todo tasks running on workers */
	int epfd, evfd;
	vbx_pump_src *srcs;
};

/* Every pump not yet freed, so that the daemon closes their streams
 * before any plugin stops, whatever the plugins do. */
static pthread_mutex_t pumps_lock = PTHREAD_MUTEX_INITIALIZER;
static vbx_pump *pumps;

/* Take p off the list; false when it is not there (freed already). */
static bool pumps_remove(vbx_pump *p)
{
	bool found = false;
	pthread_mutex_lock(&pumps_lock);
	for (vbx_pump **i = &pumps; *i; i = &(*i)->all_next) {
		if (*i == p) {
			*i = p->all_next;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&pumps_lock);
	return found;
}

int64_t vbx__pump_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

vbx_pump *vbx__pump_new(void)
{
	vbx_pump *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->head.host = &vbx__host;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (p->epfd < 0 || p->evfd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev) != 0) {
		vbx__error("stream pump: cannot set up epoll: %s",
		           strerror(errno));
		if (p->epfd >= 0)
			close(p->epfd);
		if (p->evfd >= 0)
			close(p->evfd);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_mutex_lock(&pumps_lock);
	p->all_next = pumps;
	pumps = p;
	pthread_mutex_unlock(&pumps_lock);
	return p;
}

void vbx__pump_lock(vbx_pump *p)
{
	pthread_mutex_lock(&p->lock);
}

void vbx__pump_unlock(vbx_pump *p)
{
	pthread_mutex_unlock(&p->lock);
}

static void pump_wake(vbx_pump *p)
{
	if (p->wake_pending)
		return;
	p->wake_pending = true;
	uint64_t one = 1;
	if (write(p->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vbx__error("stream pump: eventfd write: %s", strerror(errno));
}

void vbx__pump_kick(vbx_pump_src *src)
{
	L(src)->kicked = true;
	pump_wake(src->pump);
}

/* Register the stream's descriptor for exactly `want` (READ/WRITE). A
 * descriptor polled for nothing is removed, since epoll would report its
 * hang-up over and over. */
static void pump_poll(vbx_pump *p, vbx_pump_src *src, unsigned want)
{
	if (!src->stream || L(src)->fd < 0 || want == L(src)->polled)
		return;
	struct epoll_event ev = {.data.ptr = src};
	if (want & VBX_PUMP_READ)
		ev.events |= EPOLLIN;
	if (want & VBX_PUMP_WRITE)
		ev.events |= EPOLLOUT;
	int op = !want                ? EPOLL_CTL_DEL
	         : L(src)->registered ? EPOLL_CTL_MOD
	                              : EPOLL_CTL_ADD;
	if (epoll_ctl(p->epfd, op, L(src)->fd, &ev) != 0) {
		vbx__error("stream pump: epoll_ctl on descriptor %d: %s",
		           L(src)->fd, strerror(errno));
		L(src)->kicked = true; /* poll by servicing again */
		return;
	}
	L(src)->registered = want != 0;
	L(src)->polled = want;
}

/* Service every source that is due; queue what needs the lock dropped. */
static vbx_pump_src *pump_service_all(vbx_pump *p, int64_t now)
{
	vbx_pump_src *todo = NULL, **tail = &todo;
	for (vbx_pump_src *s = p->srcs; s; s = L(s)->next) {
		bool due = L(s)->kicked || L(s)->ready ||
		           (L(s)->deadline_ms && L(s)->deadline_ms <= now);
		if (L(s)->freeing || L(s)->busy || !due)
			continue;
		unsigned ready = L(s)->ready;
		L(s)->ready = 0;
		L(s)->kicked = false;
		int64_t deadline = 0;
		unsigned req = s->ops->service(s, ready, now, &deadline);
		L(s)->deadline_ms = deadline;
		if (req & VBX_PUMP_AGAIN)
			L(s)->kicked = true;
		unsigned todo_req = req & (VBX_PUMP_BLOCKING | VBX_PUMP_CLOSE |
		                           VBX_PUMP_FREE);
		/* Nothing is polled while a worker has the source: its
		 * readable descriptor would wake the pump over and over. */
		pump_poll(p, s,
		          todo_req ? 0
		                   : req & (VBX_PUMP_READ | VBX_PUMP_WRITE));
		if (todo_req) {
			L(s)->todo = todo_req;
			L(s)->busy = true;
			L(s)->freeing = (todo_req & VBX_PUMP_FREE) != 0;
			L(s)->todo_next = NULL;
			*tail = s;
			tail = &L(s)->todo_next;
		}
	}
	return todo;
}

static void pump_unlink(vbx_pump *p, vbx_pump_src *s)
{
	if (L(s)->prev)
		L(L(s)->prev)->next = L(s)->next;
	else
		p->srcs = L(s)->next;
	if (L(s)->next)
		L(L(s)->next)->prev = L(s)->prev;
}

/*
 * One source's todo: lock held on entry and exit, dropped around each
 * blocking step (closing an exec stream waits for its exit code, a resize
 * is a request to the engine).
 */
static void pump_run_todo(vbx_pump *p, vbx_pump_src *s)
{
	unsigned req = L(s)->todo;
	vbx_stream *st =
	        (req & (VBX_PUMP_CLOSE | VBX_PUMP_FREE)) ? s->stream : NULL;
	pthread_mutex_unlock(&p->lock);
	if (req & VBX_PUMP_BLOCKING)
		s->ops->blocking(s);
	int rc = VBX_OK, code = -1;
	if (st)
		rc = st->ops->close(st, &code);
	pthread_mutex_lock(&p->lock);
	L(s)->busy = false;
	L(s)->kicked = true; /* what waited for it may go on */
	if (st) {
		s->stream = NULL;
		L(s)->fd = -1;
		if (!(req & VBX_PUMP_FREE))
			s->ops->closed(s, rc, code);
	}
	if (req & VBX_PUMP_FREE) {
		pump_unlink(p, s);
		pthread_mutex_unlock(&p->lock);
		s->ops->free(s);
		pthread_mutex_lock(&p->lock);
	}
}

/* A todo on a worker, so that one slow stream does not stall the bytes of
 * every other session on the pump thread. */
static void pump_todo_task(void *ud)
{
	vbx_pump_src *s = ud;
	vbx_pump *p = s->pump;

	pthread_mutex_lock(&p->lock);
	pump_run_todo(p, s);
	if (--p->busy == 0)
		pthread_cond_broadcast(&p->idle);
	pump_wake(p);
	pthread_mutex_unlock(&p->lock);
}

/* Lock held. Hand each todo to a worker; without workers (unit tests,
 * shutdown) run it here. */
static void pump_do_todo(vbx_pump *p, vbx_pump_src *todo)
{
	while (todo) {
		vbx_pump_src *s = todo;
		todo = L(s)->todo_next;
		p->busy++;
		if (vbx__workers_submit(pump_todo_task, s) == VBX_OK)
			continue;
		p->busy--;
		pump_run_todo(p, s);
	}
}

static int pump_timeout(vbx_pump *p, int64_t now)
{
	int64_t next = -1;
	for (vbx_pump_src *s = p->srcs; s; s = L(s)->next) {
		if (L(s)->kicked)
			return 0;
		if (L(s)->deadline_ms && (next < 0 || L(s)->deadline_ms < next))
			next = L(s)->deadline_ms;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

static void pump_mark_ready(vbx_pump *p, const struct epoll_event *ev)
{
	vbx_pump_src *s = ev->data.ptr;
	if (!s) {
		uint64_t n;
		if (read(p->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			vbx__error("stream pump: eventfd read: %s",
			           strerror(errno));
		p->wake_pending = false;
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		L(s)->ready |= VBX_PUMP_READ;
	if (ev->events & (EPOLLOUT | EPOLLERR))
		L(s)->ready |= VBX_PUMP_WRITE;
}

static void *pump_main(void *arg)
{
	vbx_pump *p = arg;
	struct epoll_event evs[64];
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int64_t now = vbx__pump_now_ms();
		pump_do_todo(p, pump_service_all(p, now));
		if (p->stop)
			break;
		int timeout = pump_timeout(p, vbx__pump_now_ms());
		pthread_mutex_unlock(&p->lock);
		int n = epoll_wait(p->epfd, evs, 64, timeout);
		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < n; i++)
			pump_mark_ready(p, &evs[i]);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int vbx__pump_add(vbx_pump *p, vbx_pump_src *src, const vbx_pump_ops *ops,
                  vbx_stream *stream)
{
	pthread_mutex_lock(&p->lock);
	if (p->stop) {
		pthread_mutex_unlock(&p->lock);
		return VBX_ERR;
	}
	if (!p->started) {
		if (pthread_create(&p->thread, NULL, pump_main, p) != 0) {
			pthread_mutex_unlock(&p->lock);
			vbx__error("stream pump: cannot start its thread");
			return VBX_ERR;
		}
		p->started = true;
	}
	src->ops = ops;
	src->pump = p;
	src->stream = stream;
	L(src)->fd = stream->ops->fd(stream);
	L(src)->polled = L(src)->ready = 0;
	L(src)->registered = L(src)->freeing = L(src)->busy = false;
	L(src)->todo = 0;
	L(src)->deadline_ms = 0;
	L(src)->prev = NULL;
	L(src)->next = p->srcs;
	if (p->srcs)
		L(p->srcs)->prev = src;
	p->srcs = src;
	vbx__pump_kick(src);
	pthread_mutex_unlock(&p->lock);
	return VBX_OK;
}

void vbx__pump_free(vbx_pump *p)
{
	if (!p || !pumps_remove(p))
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pump_wake(p);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	pthread_mutex_lock(&p->lock);
	while (p->busy > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	while (p->srcs) {
		vbx_pump_src *s = p->srcs;
		pump_unlink(p, s);
		if (s->stream) {
			s->stream->ops->close(s->stream, NULL);
			s->stream = NULL;
		}
		s->ops->free(s);
	}
	close(p->epfd);
	close(p->evfd);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void vbx__pumps_shutdown(void)
{
	for (;;) {
		pthread_mutex_lock(&pumps_lock);
		vbx_pump *p = pumps;
		pthread_mutex_unlock(&pumps_lock);
		if (!p)
			return;
		vbx__pump_free(p);
	}
}
