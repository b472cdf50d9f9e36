/* SPDX-License-Identifier: MIT */
/*
 * queue.c - serial dispatch queues and timers.
 *
 * A queue is a thread running an epoll loop (lib/common/loop.c).  Blocks
 * are posted to the loop; timers and connections are loop sources, so
 * everything attached to a queue runs on that thread, one thing at a time.
 * Loop state is only touched on the queue's own thread: other threads post
 * a block that does it.
 */
#include <sys/syscall.h>

#include "private.h"
#include "util.h"

static _Thread_local struct udk_queue *tl_queue;

struct queue_block {
	udk_block_fn fn;
	void *ctx;
};

struct udk_queue *
queue_current(void)
{
	return tl_queue;
}

struct loop *
queue_loop(struct udk_queue *q)
{
	return q->loop;
}

static void *
queue_thread(void *data)
{
	struct udk_queue *q = data;
	char tname[16];

	tl_queue = q;
	q->tid = (pid_t)syscall(SYS_gettid);
	memcpy(tname, q->name, sizeof(tname) - 1);
	tname[sizeof(tname) - 1] = '\0';
	pthread_setname_np(pthread_self(), tname);
	while (!q->stopping)
		loop_run_once(q->loop, -1);
	/* run what was queued before the stop */
	loop_run_once(q->loop, 0);
	loop_free(q->loop);
	free(q);
	return NULL;
}

static struct udk_queue *
queue_alloc(const char *name)
{
	struct udk_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->refcount = 1;
	snprintf(q->name, sizeof(q->name), "%s", name ? name : "queue");
	if (loop_new(&q->loop) < 0) {
		free(q);
		return NULL;
	}
	return q;
}

UDK_EXPORT int
udk_queue_create(const char *name, struct udk_queue **ret)
{
	struct udk_queue *q;
	int r;

	udk_return_val_if_fail(ret, -EINVAL);
	q = queue_alloc(name);
	if (!q)
		return -ENOMEM;
	q->own_thread = true;
	r = pthread_create(&q->thread, NULL, queue_thread, q);
	if (r) {
		loop_free(q->loop);
		free(q);
		return -r;
	}
	pthread_detach(q->thread);
	*ret = q;
	return 0;
}

int
queue_new_on_this_thread(const char *name, struct udk_queue **ret)
{
	struct udk_queue *q = queue_alloc(name);

	if (!q)
		return -ENOMEM;
	q->tid = (pid_t)syscall(SYS_gettid);
	q->thread = pthread_self();
	tl_queue = q;
	*ret = q;
	return 0;
}

void
queue_run(struct udk_queue *q)
{
	while (!q->stopping)
		loop_run_once(q->loop, -1);
}

UDK_EXPORT struct udk_queue *
udk_queue_ref(struct udk_queue *q)
{
	if (q)
		__atomic_add_fetch(&q->refcount, 1, __ATOMIC_RELAXED);
	return q;
}

/* ---- the watchdog's view of queues that serve user clients ---- */

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_queue *watched;

void
queue_watch(struct udk_queue *q)
{
	if (!q || !q->own_thread)
		return; /* the default queue answers udkd's ping itself */
	pthread_mutex_lock(&watch_lock);
	if (!q->watched) {
		q->watched = true;
		q->watch_next = watched;
		watched = q;
	}
	pthread_mutex_unlock(&watch_lock);
}

static void
unwatch(struct udk_queue *q)
{
	pthread_mutex_lock(&watch_lock);
	if (q->watched) {
		for (struct udk_queue **pp = &watched; *pp; pp = &(*pp)->watch_next)
			if (*pp == q) {
				*pp = q->watch_next;
				break;
			}
		q->watched = false;
	}
	pthread_mutex_unlock(&watch_lock);
}

static void
heartbeat(struct loop *l, void *data)
{
	struct udk_queue *q = data;

	(void)l;
	__atomic_store_n(&q->beat_pending, false, __ATOMIC_RELEASE);
}

int
queue_watch_check(uint64_t limit_ms, char *name, size_t len, uint64_t *ret_waited_ms)
{
	uint64_t now = now_ns();
	int found = 0;

	pthread_mutex_lock(&watch_lock);
	for (struct udk_queue *q = watched; q; q = q->watch_next) {
		if (__atomic_load_n(&q->beat_pending, __ATOMIC_ACQUIRE)) {
			uint64_t waited = (now - q->beat_posted_ns) / 1000000u;
			if (limit_ms && waited >= limit_ms && (!found || waited > *ret_waited_ms)) {
				snprintf(name, len, "%s", q->name);
				*ret_waited_ms = waited;
				found = 1;
			}
			continue;
		}
		/* the block is posted under the lock: the queue cannot leave the
		 * list (and stop) before it is queued ahead of the stop */
		__atomic_store_n(&q->beat_pending, true, __ATOMIC_RELEASE);
		q->beat_posted_ns = now;
		if (loop_post(q->loop, heartbeat, q) < 0)
			__atomic_store_n(&q->beat_pending, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&watch_lock);
	return found;
}

static void
stop_block(struct loop *l, void *data)
{
	struct udk_queue *q = data;

	(void)l;
	q->stopping = true;
}

UDK_EXPORT struct udk_queue *
udk_queue_unref(struct udk_queue *q)
{
	if (!q || __atomic_sub_fetch(&q->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (!q->own_thread)
		return NULL; /* the main thread's queue lives as long as the process */
	unwatch(q);
	/* the thread frees the queue once it has drained */
	if (loop_post(q->loop, stop_block, q) < 0)
		q->stopping = true;
	return NULL;
}

UDK_EXPORT const char *
udk_queue_get_name(const struct udk_queue *q)
{
	return q ? q->name : NULL;
}

static void
run_block(struct loop *l, void *data)
{
	struct queue_block *b = data;

	(void)l;
	b->fn(b->ctx);
	free(b);
}

UDK_EXPORT int
udk_queue_dispatch_async(struct udk_queue *q, udk_block_fn fn, void *ctx)
{
	struct queue_block *b;
	int r;

	udk_return_val_if_fail(q && fn, -EINVAL);
	if (q->stopping)
		return -ESHUTDOWN;
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fn = fn;
	b->ctx = ctx;
	r = loop_post(q->loop, run_block, b);
	if (r < 0)
		free(b);
	return r;
}

struct sync_block {
	udk_block_fn fn;
	void *ctx;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool done;
};

static void
run_sync(void *data)
{
	struct sync_block *s = data;

	s->fn(s->ctx);
	pthread_mutex_lock(&s->m);
	s->done = true;
	pthread_cond_signal(&s->c);
	pthread_mutex_unlock(&s->m);
}

UDK_EXPORT int
udk_queue_dispatch_sync(struct udk_queue *q, udk_block_fn fn, void *ctx)
{
	struct sync_block s = { .fn = fn, .ctx = ctx };
	int r;

	udk_return_val_if_fail(q && fn, -EINVAL);
	if (tl_queue == q)
		return udk_set_reason(-EDEADLK, "dispatch_sync to queue \"%s\" from itself would wait forever",
				      q->name);
	pthread_mutex_init(&s.m, NULL);
	pthread_cond_init(&s.c, NULL);
	r = udk_queue_dispatch_async(q, run_sync, &s);
	if (r >= 0) {
		pthread_mutex_lock(&s.m);
		while (!s.done)
			pthread_cond_wait(&s.c, &s.m);
		pthread_mutex_unlock(&s.m);
	}
	pthread_cond_destroy(&s.c);
	pthread_mutex_destroy(&s.m);
	return r;
}

UDK_EXPORT bool
udk_queue_is_current(const struct udk_queue *q)
{
	return q && tl_queue == q;
}

UDK_EXPORT uint64_t
udk_time_now_ns(void)
{
	return now_ns();
}

/* ---- timers ---- */

struct udk_timer {
	int refcount;
	struct udk_queue *queue;
	udk_timer_fn fn;
	void *ctx;
	pthread_mutex_t lock;
	uint64_t deadline;
	uint64_t interval;
	uint64_t generation;	/* bumped by arm and cancel */
	bool armed;
	uint64_t fires;
	/* queue thread only */
	struct loop_timer *lt;
	uint64_t installed_generation;
};

struct timer_op {
	struct udk_timer *t;
};

static void timer_fire(struct loop *l, void *data);

static void
timer_install(struct loop *l, void *data)
{
	struct udk_timer *t = data;
	uint64_t deadline, gen;
	bool armed;

	pthread_mutex_lock(&t->lock);
	deadline = t->deadline;
	gen = t->generation;
	armed = t->armed;
	pthread_mutex_unlock(&t->lock);
	if (t->lt) {
		loop_timer_cancel(l, t->lt);
		t->lt = NULL;
		udk_timer_unref(t); /* the installed timer's reference */
	}
	if (armed && loop_add_timer(l, deadline, timer_fire, udk_timer_ref(t), &t->lt) == 0)
		t->installed_generation = gen;
	else if (armed)
		udk_timer_unref(t);
	udk_timer_unref(t); /* the post's reference */
}

static void
timer_fire(struct loop *l, void *data)
{
	struct udk_timer *t = data;
	uint64_t now = now_ns();
	bool run;

	t->lt = NULL;
	pthread_mutex_lock(&t->lock);
	run = t->armed && t->generation == t->installed_generation;
	if (run) {
		t->fires++;
		if (t->interval) {
			/* next period, skipping missed ones */
			do
				t->deadline += t->interval;
			while (t->deadline <= now);
		} else {
			t->armed = false;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (run) {
		t->fn(t, now, t->ctx);
		pthread_mutex_lock(&t->lock);
		bool again = t->armed && t->interval && t->generation == t->installed_generation;
		uint64_t deadline = t->deadline;
		pthread_mutex_unlock(&t->lock);
		if (again && loop_add_timer(l, deadline, timer_fire, udk_timer_ref(t), &t->lt) < 0)
			udk_timer_unref(t);
	}
	udk_timer_unref(t);
}

UDK_EXPORT int
udk_timer_create(struct udk_queue *q, udk_timer_fn fn, void *ctx, struct udk_timer **ret)
{
	struct udk_timer *t;

	udk_return_val_if_fail(q && fn && ret, -EINVAL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->refcount = 1;
	t->queue = udk_queue_ref(q);
	t->fn = fn;
	t->ctx = ctx;
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

UDK_EXPORT struct udk_timer *
udk_timer_ref(struct udk_timer *t)
{
	if (t)
		__atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
	return t;
}

UDK_EXPORT struct udk_timer *
udk_timer_unref(struct udk_timer *t)
{
	if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	pthread_mutex_destroy(&t->lock);
	udk_queue_unref(t->queue);
	free(t);
	return NULL;
}

static int
post_install(struct udk_timer *t)
{
	int r = loop_post(t->queue->loop, timer_install, udk_timer_ref(t));

	if (r < 0)
		udk_timer_unref(t);
	return r;
}

UDK_EXPORT int
udk_timer_arm(struct udk_timer *t, uint64_t deadline_ns, uint64_t interval_ns)
{
	udk_return_val_if_fail(t, -EINVAL);
	pthread_mutex_lock(&t->lock);
	t->deadline = deadline_ns;
	t->interval = interval_ns;
	t->armed = true;
	t->generation++;
	pthread_mutex_unlock(&t->lock);
	return post_install(t);
}

UDK_EXPORT int
udk_timer_cancel(struct udk_timer *t)
{
	udk_return_val_if_fail(t, -EINVAL);
	pthread_mutex_lock(&t->lock);
	t->armed = false;
	t->generation++;
	pthread_mutex_unlock(&t->lock);
	return post_install(t);
}

UDK_EXPORT uint64_t
udk_timer_get_fire_count(const struct udk_timer *t)
{
	uint64_t n;

	if (!t)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&t->lock);
	n = t->fires;
	pthread_mutex_unlock((pthread_mutex_t *)&t->lock);
	return n;
}

/* ---- ring doorbells on a queue ---- */

#include <udk/ring.h>

struct udk_ring_source {
	int refcount;			/* the creator's, and an attach block's */
	struct udk_ring *ring;
	struct udk_queue *q;
	udk_ring_fn fn;
	void *ctx;
	struct loop_source *src;	/* queue thread only */
	bool dead;
};

static void
ring_source_unref(struct udk_ring_source *s)
{
	if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	udk_ring_unref(s->ring);
	udk_queue_unref(s->q);
	free(s);
}

static void
ring_ready(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udk_ring_source *s = data;
	uint64_t v;

	(void)l;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* nothing to drain */
	}
	for (int i = 0; i < 64 && !__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE); i++) {
		s->fn(s->ring, s->ctx);
		/* ask for the next ring; if work came meanwhile, go again */
		if (udk_ring_arm_doorbell(s->ring) == 0)
			break;
	}
}

/* On the queue, after udk_ring_source_create() returned. */
static void
ring_source_attach(void *data)
{
	struct udk_ring_source *s = data;

	if (!__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE)) {
		int e = loop_add_fd(s->q->loop, udk_ring_get_fd(s->ring), EPOLLIN, ring_ready, s, &s->src);
		if (e < 0)
			udk_log(UDK_LOG_ERROR, "queue %s: cannot watch a data queue's doorbell: %s", s->q->name,
				strerror(-e));
		/* work that came before we watched: serve it now */
		else if (udk_ring_arm_doorbell(s->ring) == 1)
			ring_ready(s->q->loop, udk_ring_get_fd(s->ring), EPOLLIN, s);
	}
	ring_source_unref(s);
}

UDK_EXPORT int
udk_ring_source_create(struct udk_ring *r, struct udk_queue *q, udk_ring_fn fn, void *ctx,
		       struct udk_ring_source **ret)
{
	struct udk_ring_source *s;
	int e;

	udk_return_val_if_fail(r && q && fn && ret, -EINVAL);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->refcount = 2; /* ours (the caller's) and the attach block's */
	s->ring = udk_ring_ref(r);
	s->q = udk_queue_ref(q);
	s->fn = fn;
	s->ctx = ctx;
	/*
	 * Never wait for the queue here: the caller may hold a lock that the
	 * handler (or whatever the queue runs now) takes.  The source attaches
	 * on the queue, after we return; work already in the ring is served
	 * then.
	 */
	e = udk_queue_dispatch_async(q, ring_source_attach, s);
	if (e < 0) {
		s->refcount = 1;
		ring_source_unref(s);
		return e;
	}
	*ret = s;
	return 0;
}

static void
ring_source_detach(void *data)
{
	struct udk_ring_source *s = data;

	loop_source_remove(s->src);
	s->src = NULL;
}

UDK_EXPORT void
udk_ring_source_destroy(struct udk_ring_source *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
	if (udk_queue_is_current(s->q))
		ring_source_detach(s);
	else
		udk_queue_dispatch_sync(s->q, ring_source_detach, s);
	ring_source_unref(s);
}
