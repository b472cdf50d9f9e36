/* SPDX-License-Identifier: MIT */
/* work.c - worker threads reporting back through the loop (see work.h). */
#include <pthread.h>
#include <sys/eventfd.h>

#include "loop.h"
#include "util.h"
#include "work.h"

struct job {
	struct job *next;
	uint32_t lane;
	work_fn fn;
	work_done_fn done;
	void *data;
};

#define N_THREADS (1 + WORK_SHARED_THREADS)

struct work {
	struct loop *loop;
	int efd;			/* finished jobs: the loop wakes up */
	struct loop_source *src;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue, **queue_tail;	/* waiting */
	struct job *finished, **finished_tail;	/* fn ran; done not yet */
	pthread_t threads[N_THREADS];
	bool started[N_THREADS];
	bool busy[N_THREADS];
	uint32_t lane_of[N_THREADS];		/* what a busy thread runs */
	unsigned n_queued, n_running;
	bool quit;
};

struct worker_arg {
	struct work *w;
	unsigned index;			/* 0: lane 0 only; others: lanes != 0 */
};

/* With the lock: the first job thread @index may run now. */
static struct job *
take_job(struct work *w, unsigned index)
{
	for (struct job **pp = &w->queue; *pp; pp = &(*pp)->next) {
		struct job *j = *pp;
		bool lane_busy = false;

		if ((index == 0) != (j->lane == 0))
			continue;
		for (unsigned t = 0; t < N_THREADS; t++)
			if (w->busy[t] && w->lane_of[t] == j->lane)
				lane_busy = true;
		if (lane_busy)
			continue;
		*pp = j->next;
		if (!*pp)
			w->queue_tail = pp;
		j->next = NULL;
		w->n_queued--;
		return j;
	}
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct worker_arg a = *(struct worker_arg *)arg;
	struct work *w = a.w;

	free(arg);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j = NULL;
		uint64_t one = 1;

		while (!w->quit && !(j = take_job(w, a.index)))
			pthread_cond_wait(&w->cond, &w->lock);
		if (!j)
			break;
		w->busy[a.index] = true;
		w->lane_of[a.index] = j->lane;
		w->n_running++;
		pthread_mutex_unlock(&w->lock);

		j->fn(j->data);

		pthread_mutex_lock(&w->lock);
		w->busy[a.index] = false;
		w->n_running--;
		*w->finished_tail = j;
		w->finished_tail = &j->next;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter is full: the loop is being woken anyway */
		}
		/* a job of this lane may have been waiting for this one */
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* On the loop thread: run the done of every finished job. */
static void
run_finished(struct work *w)
{
	struct job *list;

	pthread_mutex_lock(&w->lock);
	list = w->finished;
	w->finished = NULL;
	w->finished_tail = &w->finished;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct job *j = list;
		list = j->next;
		if (j->done)
			j->done(j->data, 0);
		free(j);
	}
}

static void
on_finished(struct loop *l, int fd, uint32_t events, void *data)
{
	uint64_t n;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another wake-up got here first */
	}
	run_finished(data);
}

int
work_new(struct loop *l, struct work **ret)
{
	struct work *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->loop = l;
	w->queue_tail = &w->queue;
	w->finished_tail = &w->finished;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	r = loop_add_fd(l, w->efd, EPOLLIN, on_finished, w, &w->src);
	if (r < 0) {
		close(w->efd);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* With the lock: make sure a thread that can run lane @lane exists. */
static int
ensure_thread(struct work *w, uint32_t lane)
{
	unsigned first = lane == 0 ? 0 : 1, last = lane == 0 ? 1 : N_THREADS;

	for (unsigned t = first; t < last; t++)
		if (w->started[t] && !w->busy[t])
			return 0;
	for (unsigned t = first; t < last; t++) {
		struct worker_arg *a;
		pthread_attr_t attr;
		int r;

		if (w->started[t])
			continue;
		a = malloc(sizeof(*a));
		if (!a)
			return -ENOMEM;
		*a = (struct worker_arg){ .w = w, .index = t };
		pthread_attr_init(&attr);
		/* parsers are iterative or depth-bounded: a modest stack is plenty */
		pthread_attr_setstacksize(&attr, 1u << 20);
		r = pthread_create(&w->threads[t], &attr, worker_main, a);
		pthread_attr_destroy(&attr);
		if (r != 0) {
			free(a);
			/* a thread already there will get to it */
			for (unsigned u = first; u < last; u++)
				if (w->started[u])
					return 0;
			return -r;
		}
		w->started[t] = true;
		return 0;
	}
	return 0; /* all busy: the job waits its turn */
}

int
work_submit(struct work *w, uint32_t lane, work_fn fn, work_done_fn done, void *data)
{
	struct job *j;
	unsigned waiting = 0;
	int r;

	pthread_mutex_lock(&w->lock);
	if (w->quit) {
		pthread_mutex_unlock(&w->lock);
		return -ESHUTDOWN;
	}
	for (struct job *q = w->queue; q; q = q->next)
		if (q->lane == lane)
			waiting++;
	if (waiting >= WORK_LANE_QUEUE) {
		pthread_mutex_unlock(&w->lock);
		return -EAGAIN;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pthread_mutex_unlock(&w->lock);
		return -ENOMEM;
	}
	*j = (struct job){ .lane = lane, .fn = fn, .done = done, .data = data };
	r = ensure_thread(w, lane);
	if (r < 0) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		return r;
	}
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	w->n_queued++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

unsigned
work_pending(struct work *w)
{
	unsigned n;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	n = w->n_queued + w->n_running;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
work_free(struct work *w)
{
	struct job *cancelled;
	bool left_behind = false;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	cancelled = w->queue;
	w->queue = NULL;
	w->queue_tail = &w->queue;
	w->n_queued = 0;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	while (cancelled) {
		struct job *j = cancelled;
		cancelled = j->next;
		if (j->done)
			j->done(j->data, -ECANCELED);
		free(j);
	}
	for (unsigned t = 0; t < N_THREADS; t++) {
		struct timespec ts;
		if (!w->started[t])
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_timedjoin_np(w->threads[t], NULL, &ts) != 0) {
			/* stuck in a read that never returns (a stalled file system) */
			pthread_detach(w->threads[t]);
			left_behind = true;
		}
	}
	run_finished(w);
	loop_source_remove(w->src);
	w->src = NULL;
	if (left_behind)
		return; /* the thread still uses @w; the process is about to end */
	close(w->efd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
