/* SPDX-License-Identifier: MIT */
/* Dispatch queues and timers of the driver runtime, without udkd. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <udk/queue.h>
#include <udk/ring.h>

#include "test.h"

struct order {
	pthread_mutex_t m;
	int seen[64];
	int n;
	bool wrong_queue;
	struct udk_queue *q;
};

struct item {
	struct order *o;
	int v;
};

static void
record(void *ctx)
{
	struct item *it = ctx;

	if (!udk_queue_is_current(it->o->q))
		it->o->wrong_queue = true;
	pthread_mutex_lock(&it->o->m);
	it->o->seen[it->o->n++] = it->v;
	pthread_mutex_unlock(&it->o->m);
}

TEST(async_blocks_run_in_order_on_the_queue)
{
	struct order o = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct item items[50];

	ASSERT_OK(udk_queue_create("order", &o.q));
	ASSERT_FALSE(udk_queue_is_current(o.q));
	for (int i = 0; i < 50; i++) {
		items[i] = (struct item){ &o, i };
		ASSERT_OK(udk_queue_dispatch_async(o.q, record, &items[i]));
	}
	/* sync waits for everything before it */
	{
		struct item last = { &o, 99 };
		ASSERT_OK(udk_queue_dispatch_sync(o.q, record, &last));
	}
	ASSERT_EQ(o.n, 51);
	for (int i = 0; i < 50; i++)
		ASSERT_EQ(o.seen[i], i);
	ASSERT_EQ(o.seen[50], 99);
	ASSERT_FALSE(o.wrong_queue);
	udk_queue_unref(o.q);
	usleep(50000); /* the queue's thread closes its loop as it goes */
}

struct deadlock {
	struct udk_queue *q;
	int r;
};

static void
nop(void *ctx)
{
	(void)ctx;
}

static void
sync_to_self(void *ctx)
{
	struct deadlock *d = ctx;

	d->r = udk_queue_dispatch_sync(d->q, nop, NULL);
}

TEST(sync_to_own_queue_is_refused_not_deadlocked)
{
	struct deadlock d = { 0 };

	ASSERT_OK(udk_queue_create("self", &d.q));
	ASSERT_OK(udk_queue_dispatch_sync(d.q, sync_to_self, &d));
	ASSERT_ERR(d.r, -EDEADLK);
	udk_queue_unref(d.q);
	usleep(50000);
}

struct ticks {
	pthread_mutex_t m;
	int n;
	uint64_t first;
	struct udk_queue *q;
	bool wrong_queue;
};

static void
on_tick(struct udk_timer *t, uint64_t now, void *ctx)
{
	struct ticks *k = ctx;

	(void)t;
	if (!udk_queue_is_current(k->q))
		k->wrong_queue = true;
	pthread_mutex_lock(&k->m);
	if (!k->n)
		k->first = now;
	k->n++;
	pthread_mutex_unlock(&k->m);
}

static int
count(struct ticks *k)
{
	int n;

	pthread_mutex_lock(&k->m);
	n = k->n;
	pthread_mutex_unlock(&k->m);
	return n;
}

TEST(timers_fire_once_repeat_and_cancel)
{
	struct ticks k = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct udk_timer *t = NULL;
	uint64_t armed;

	ASSERT_OK(udk_queue_create("timers", &k.q));
	ASSERT_OK(udk_timer_create(k.q, on_tick, &k, &t));
	armed = udk_time_now_ns();
	ASSERT_OK(udk_timer_arm(t, armed + 20000000ull, 0));
	for (int i = 0; i < 200 && count(&k) < 1; i++)
		usleep(5000);
	ASSERT_EQ(count(&k), 1);
	ASSERT_GE(k.first, armed + 20000000ull);
	usleep(60000);
	ASSERT_EQ(count(&k), 1); /* one-shot */

	ASSERT_OK(udk_timer_arm(t, udk_time_now_ns(), 5000000ull));
	for (int i = 0; i < 400 && count(&k) < 5; i++)
		usleep(5000);
	ASSERT_GE(count(&k), 5);
	ASSERT_OK(udk_timer_cancel(t));
	usleep(20000);
	{
		int n = count(&k);
		usleep(60000);
		ASSERT_EQ(count(&k), n); /* cancelled */
	}
	ASSERT_EQ(udk_timer_get_fire_count(t), (uint64_t)count(&k));
	ASSERT_FALSE(k.wrong_queue);
	udk_timer_unref(t);
	/* let the queue drop the timer's last references */
	ASSERT_OK(udk_queue_dispatch_sync(k.q, nop, NULL));
	udk_queue_unref(k.q);
	usleep(50000);
}

TEST(rearming_replaces_the_deadline)
{
	struct ticks k = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct udk_timer *t = NULL;

	ASSERT_OK(udk_queue_create("rearm", &k.q));
	ASSERT_OK(udk_timer_create(k.q, on_tick, &k, &t));
	ASSERT_OK(udk_timer_arm(t, udk_time_now_ns() + 10000000ull, 0));
	ASSERT_OK(udk_timer_arm(t, udk_time_now_ns() + 5000000000ull, 0));
	usleep(100000);
	ASSERT_EQ(count(&k), 0);
	ASSERT_OK(udk_timer_cancel(t));
	udk_timer_unref(t);
	ASSERT_OK(udk_queue_dispatch_sync(k.q, nop, NULL));
	udk_queue_unref(k.q);
	usleep(50000);
}

/* ---- ring sources (issue 18, point 4) ---- */

struct held {
	pthread_mutex_t lock;		/* the driver's lock, which the handler takes */
	pthread_mutex_t m;
	pthread_cond_t c;
	struct udk_queue *q;
	struct udk_ring *ring;
	struct udk_ring_source *src;
	int created;			/* udk_ring_source_create returned (its result + 1) */
	int handler_runs;
	bool handler_while_creating;	/* the handler ran before create returned */
};

static void
held_handler(struct udk_ring *r, void *ctx)
{
	struct held *h = ctx;

	(void)r;
	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&h->m);
	if (!h->created)
		h->handler_while_creating = true;
	h->handler_runs++;
	pthread_cond_broadcast(&h->c);
	pthread_mutex_unlock(&h->m);
	pthread_mutex_unlock(&h->lock);
}

static void *
create_holding_lock(void *data)
{
	struct held *h = data;
	int r;

	pthread_mutex_lock(&h->lock);
	r = udk_ring_source_create(h->ring, h->q, held_handler, h, &h->src);
	pthread_mutex_lock(&h->m);
	h->created = r < 0 ? r : 1;
	pthread_cond_broadcast(&h->c);
	pthread_mutex_unlock(&h->m);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Wait (bounded, so a deadlock fails instead of hanging) until @cond. */
static bool
held_wait(struct held *h, bool (*cond)(struct held *))
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&h->m);
	while (!cond(h))
		if (pthread_cond_timedwait(&h->c, &h->m, &ts) != 0)
			break;
	ok = cond(h);
	pthread_mutex_unlock(&h->m);
	return ok;
}

static bool
is_created(struct held *h)
{
	return h->created != 0;
}

static bool
handler_ran(struct held *h)
{
	return h->handler_runs > 0;
}

/*
 * A producer's new ring has free space, so its handler has work at once.
 * Creating the source while holding the lock that handler takes used to
 * deadlock: create waited for the queue, which ran the handler, which
 * waited for the lock.  Now create returns first and the handler runs
 * after, on the queue.
 */
TEST(ring_source_create_under_the_handlers_lock_does_not_deadlock)
{
	struct held h = { .lock = PTHREAD_MUTEX_INITIALIZER, .m = PTHREAD_MUTEX_INITIALIZER,
			  .c = PTHREAD_COND_INITIALIZER };
	pthread_t t;

	ASSERT_OK(udk_queue_create("ring-src", &h.q));
	ASSERT_OK(udk_ring_create(4096, UDK_RING_PRODUCER, &h.ring));
	ASSERT_EQ(pthread_create(&t, NULL, create_holding_lock, &h), 0);
	if (!held_wait(&h, is_created))
		FAIL("udk_ring_source_create() did not return in 30 s while its caller held the handler's lock");
	pthread_join(t, NULL);
	ASSERT_EQ(h.created, 1);
	/* the work that was there at creation is served, after create returned */
	ASSERT_TRUE(held_wait(&h, handler_ran));
	ASSERT_FALSE(h.handler_while_creating);
	udk_ring_source_destroy(h.src);
	udk_ring_unref(h.ring);
	udk_queue_unref(h.q);
	usleep(50000); /* the queue's thread closes its loop as it goes */
}
