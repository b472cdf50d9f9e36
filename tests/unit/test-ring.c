/* SPDX-License-Identifier: MIT */
/* Data queues: order, wrap, full/empty, doorbells, hostile peers. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <udk/ring.h>

#include "ring-private.h"
#include "test.h"
#include "util.h"

static struct udk_ring *
peer_of(struct udk_ring *r)
{
	int fds[3], dup3fds[3];
	struct udk_ring *p = NULL;

	ASSERT_OK(ring_export(r, fds));
	for (int i = 0; i < 3; i++)
		dup3fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
	ASSERT_OK(ring_import(dup3fds, udk_ring_get_role(r) == UDK_RING_PRODUCER ? UDK_RING_CONSUMER
										 : UDK_RING_PRODUCER,
			      &p));
	return p;
}

TEST(records_come_out_in_order_across_the_wrap)
{
	struct udk_ring *prod = NULL, *cons;
	uint8_t in[700], out[700];
	uint32_t len;

	ASSERT_OK(udk_ring_create(4096, UDK_RING_PRODUCER, &prod));
	cons = peer_of(prod);
	ASSERT_EQ(udk_ring_get_max_record(cons), 2040);
	ASSERT_ERR(udk_ring_dequeue(cons, out, sizeof(out), &len), -EAGAIN);
	for (int round = 0; round < 200; round++) {
		uint32_t n = (uint32_t)(round * 37) % sizeof(in);
		for (uint32_t i = 0; i < n; i++)
			in[i] = (uint8_t)(round + i);
		ASSERT_OK(udk_ring_enqueue(prod, in, n));
		ASSERT_EQ(udk_ring_get_pending(cons) > 0, 1);
		ASSERT_OK(udk_ring_dequeue(cons, out, sizeof(out), &len));
		ASSERT_EQ(len, n);
		ASSERT_EQ(memcmp(in, out, n), 0);
	}
	udk_ring_unref(cons);
	udk_ring_unref(prod);
}

TEST(full_empty_too_big_and_small_buffers)
{
	struct udk_ring *prod = NULL, *cons;
	uint8_t rec[1000] = { 1 }, out[2048];
	uint32_t len = 0;
	int n = 0;

	ASSERT_OK(udk_ring_create(4096, UDK_RING_PRODUCER, &prod));
	cons = peer_of(prod);
	while (udk_ring_enqueue(prod, rec, sizeof(rec)) == 0)
		n++;
	ASSERT_EQ(n, 4);
	ASSERT_ERR(udk_ring_enqueue(prod, rec, sizeof(rec)), -ENOSPC);
	ASSERT_ERR(udk_ring_enqueue(prod, out, 3000), -EMSGSIZE);
	ASSERT_ERR(udk_ring_dequeue(cons, out, 10, &len), -ENOBUFS);
	ASSERT_EQ(len, 1000);
	ASSERT_OK(udk_ring_dequeue(cons, out, sizeof(out), &len));
	ASSERT_OK(udk_ring_enqueue(prod, rec, sizeof(rec)));
	/* the wrong role is refused */
	ASSERT_ERR(udk_ring_enqueue(cons, rec, 1), -EINVAL);
	ASSERT_ERR(udk_ring_dequeue(prod, out, 1, &len), -EINVAL);
	udk_ring_unref(cons);
	udk_ring_unref(prod);
}

struct pc {
	struct udk_ring *r;
	int n;
	int bad;
};

static void *
consumer_thread(void *data)
{
	struct pc *c = data;
	uint64_t v, expect = 0;
	uint32_t len;

	for (int i = 0; i < c->n; i++) {
		if (udk_ring_dequeue_wait(c->r, &v, sizeof(v), &len, 10000) < 0 || v != expect++)
			c->bad++;
	}
	return NULL;
}

TEST(a_producer_and_a_consumer_thread_with_waits)
{
	struct udk_ring *prod = NULL;
	struct pc c = { 0 };
	pthread_t th;

	ASSERT_OK(udk_ring_create(4096, UDK_RING_PRODUCER, &prod));
	c.r = peer_of(prod);
	c.n = 200000;
	pthread_create(&th, NULL, consumer_thread, &c);
	for (uint64_t i = 0; i < (uint64_t)c.n; i++) {
		ASSERT_OK(udk_ring_enqueue_wait(prod, &i, sizeof(i), 10000));
		if (i % 50000 == 0)
			usleep(2000); /* let the consumer fall asleep: the doorbell must wake it */
	}
	pthread_join(th, NULL);
	ASSERT_EQ(c.bad, 0);
	udk_ring_unref(c.r);
	udk_ring_unref(prod);
}

TEST(across_processes)
{
	struct udk_ring *prod = NULL, *cons;
	pid_t pid;
	int st;

	ASSERT_OK(udk_ring_create(8192, UDK_RING_PRODUCER, &prod));
	cons = peer_of(prod);
	pid = fork();
	if (pid == 0) {
		int st2 = 0;
		udk_ring_unref(cons); /* the child only produces */
		for (uint32_t i = 0; i < 100000 && !st2; i++)
			if (udk_ring_enqueue_wait(prod, &i, sizeof(i), 10000) < 0)
				st2 = 1;
		udk_ring_unref(prod);
		_exit(st2);
	}
	for (uint32_t i = 0; i < 100000; i++) {
		uint32_t v = 0, len;
		ASSERT_OK(udk_ring_dequeue_wait(cons, &v, sizeof(v), &len, 10000));
		ASSERT_EQ(v, i);
	}
	waitpid(pid, &st, 0);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	udk_ring_unref(cons);
	udk_ring_unref(prod);
}

TEST(a_hostile_peer_cannot_make_us_read_out_of_bounds)
{
	struct udk_ring *prod = NULL, *cons;
	uint8_t out[4096];
	uint32_t len;
	int fds[3];
	uint8_t *map;
	uint32_t v;

	ASSERT_OK(udk_ring_create(4096, UDK_RING_PRODUCER, &prod));
	cons = peer_of(prod);
	ASSERT_OK(ring_export(prod, fds));
	map = mmap(NULL, 256 + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	ASSERT_TRUE(map != MAP_FAILED);
	/* a head far beyond the tail */
	v = 1u << 20;
	memcpy(map + 64, &v, 4);
	ASSERT_ERR(udk_ring_dequeue(cons, out, sizeof(out), &len), -UDK_E_PROTOCOL);
	ASSERT_CONTAINS(udk_error_reason(), "index is out of range");
	udk_ring_unref(cons);

	/* a record claiming more bytes than exist */
	cons = peer_of(prod);
	ASSERT_OK(udk_ring_enqueue(prod, "abcd", 4));
	v = 100000;
	memcpy(map + 256, &v, 4);
	ASSERT_ERR(udk_ring_dequeue(cons, out, sizeof(out), &len), -UDK_E_PROTOCOL);
	/* once corrupt, it stays refused */
	ASSERT_ERR(udk_ring_dequeue(cons, out, sizeof(out), &len), -UDK_E_PROTOCOL);
	munmap(map, 256 + 4096);
	udk_ring_unref(cons);
	udk_ring_unref(prod);
}
