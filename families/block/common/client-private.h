/* SPDX-License-Identifier: MIT */
/*
 * client-private.h - the client side of a block session, shared by the
 * driver library (driver clients: a channel through udkd) and the app
 * library (a user client): client.c holds the rings, the requests in
 * flight, the completion thread and the pool of shared buffers; the
 * transport sets the session up and registers memory.
 */
#ifndef UDK_BLOCK_CLIENT_PRIVATE_H
#define UDK_BLOCK_CLIENT_PRIVATE_H

#include <pthread.h>

#include <udk/families/block.h>
#include <udk/ring.h>

#include "proto-block.h"

struct udk_block_client;

struct block_transport {
	/* A new shared buffer of @size bytes, registered: its address here and its id. */
	int (*new_buffer)(struct udk_block_client *bc, uint64_t size, void **ret_addr, uint32_t *ret_id);
	/* Release what the transport holds (the connection, the channel). */
	void (*close)(struct udk_block_client *bc);
	/* A descriptor that reports POLLHUP when the device's driver is gone, or -1. */
	int (*death_fd)(struct udk_block_client *bc);
};

struct pending_io {
	bool used;
	uint16_t gen;
	udk_block_done_fn fn;
	void *ctx;
};

struct udk_block_client {
	const struct block_transport *tp;
	void *tp_data;
	struct udk_block_info info;
	struct udk_ring *sq, *cq;
	pthread_mutex_t lock;		/* sq, pending, pool */
	pthread_cond_t cond;		/* a slot or a pool buffer came free */
	struct pending_io pend[UDK_BLOCK_MAX_INFLIGHT];
	unsigned inflight;
	bool dead;
	char dead_reason[256];
	pthread_t thread;
	bool thread_started;
	int stop_fd;			/* eventfd: the completion thread ends */
	/* the pool for pread/pwrite */
	uint8_t *pool;
	uint32_t pool_id;
	uint64_t pool_slot;
	unsigned pool_n;
	uint64_t pool_free;		/* bitmap */
	enum { POOL_NONE, POOL_MAKING, POOL_READY, POOL_FAILED } pool_state;
};

/* Set @bc up on rings @sq (producer) and @cq (consumer), taken; starts the
 * completion thread. */
int block_client_start(struct udk_block_client *bc, const struct block_transport *tp, void *tp_data,
		       const struct udk_block_info *info, struct udk_ring *sq, struct udk_ring *cq);
struct udk_block_client *block_client_alloc(void);
void block_client_free(struct udk_block_client *bc);

#endif
