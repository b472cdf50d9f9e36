/* SPDX-License-Identifier: MIT */
/*
 * client.c - the client side of a block session (client-private.h):
 * requests go into the submission ring with a tag naming their slot; a
 * completion thread takes the completion ring, finds the slot and calls
 * the sender back.  A device that goes away fails every request in
 * flight with UDK_E_HARDWARE_GONE and the reason.
 */
#include <poll.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "client-private.h"
#include "util.h"

#define POOL_SLOTS 32u
#define POOL_SLOT_MAX (1u << 20)

struct udk_block_client *
block_client_alloc(void)
{
	struct udk_block_client *bc = calloc(1, sizeof(*bc));

	if (!bc)
		return NULL;
	pthread_mutex_init(&bc->lock, NULL);
	pthread_cond_init(&bc->cond, NULL);
	bc->stop_fd = -1;
	return bc;
}

void
block_client_free(struct udk_block_client *bc)
{
	if (!bc)
		return;
	if (bc->stop_fd >= 0)
		close(bc->stop_fd);
	udk_ring_unref(bc->sq);
	udk_ring_unref(bc->cq);
	pthread_mutex_destroy(&bc->lock);
	pthread_cond_destroy(&bc->cond);
	free(bc);
}

static void
fail_all(struct udk_block_client *bc, const char *reason)
{
	pthread_mutex_lock(&bc->lock);
	if (!bc->dead) {
		bc->dead = true;
		snprintf(bc->dead_reason, sizeof(bc->dead_reason), "%s", reason);
	}
	for (unsigned i = 0; i < UDK_BLOCK_MAX_INFLIGHT; i++) {
		struct pending_io p = bc->pend[i];
		if (!p.used)
			continue;
		bc->pend[i].used = false;
		bc->inflight--;
		pthread_mutex_unlock(&bc->lock);
		p.fn(bc, -UDK_E_HARDWARE_GONE, reason, p.ctx);
		pthread_mutex_lock(&bc->lock);
	}
	pthread_cond_broadcast(&bc->cond);
	pthread_mutex_unlock(&bc->lock);
}

static void
deliver(struct udk_block_client *bc, const struct blk_cqe *e, uint32_t len)
{
	unsigned idx = (unsigned)(e->tag & 0xffff);
	uint16_t gen = (uint16_t)(e->tag >> 16);
	struct pending_io p;
	char reason[BLK_REASON_MAX + 1];
	size_t rl = MIN((size_t)e->reason_length, len - BLK_CQE_HEADER);

	memcpy(reason, e->reason, rl);
	reason[rl] = 0;
	pthread_mutex_lock(&bc->lock);
	if (idx >= UDK_BLOCK_MAX_INFLIGHT || !bc->pend[idx].used || bc->pend[idx].gen != gen) {
		pthread_mutex_unlock(&bc->lock);
		return; /* not ours (a confused device): ignore */
	}
	p = bc->pend[idx];
	bc->pend[idx].used = false;
	bc->inflight--;
	pthread_cond_broadcast(&bc->cond);
	pthread_mutex_unlock(&bc->lock);
	p.fn(bc, e->status, e->status < 0 ? reason : NULL, p.ctx);
}

static void *
completion_main(void *data)
{
	struct udk_block_client *bc = data;
	int death = bc->tp->death_fd ? bc->tp->death_fd(bc) : -1;

	pthread_setname_np(pthread_self(), "block-client");
	for (;;) {
		struct blk_cqe e;
		uint32_t len = 0;
		int r = udk_ring_dequeue(bc->cq, &e, sizeof(e), &len);
		if (r == 0) {
			if (len >= BLK_CQE_HEADER)
				deliver(bc, &e, len);
			continue;
		}
		if (r != -EAGAIN) {
			fail_all(bc, "the block device's completion ring is corrupt");
			return NULL;
		}
		if (udk_ring_arm_doorbell(bc->cq) == 1)
			continue;
		{
			struct pollfd pfd[3] = {
				{ .fd = udk_ring_get_fd(bc->cq), .events = POLLIN },
				{ .fd = bc->stop_fd, .events = POLLIN },
				{ .fd = death, .events = 0 },
			};
			uint64_t v;
			if (poll(pfd, death >= 0 ? 3 : 2, -1) < 0 && errno != EINTR)
				return NULL;
			if (pfd[1].revents)
				return NULL;
			if (pfd[0].revents & POLLIN) {
				if (read(pfd[0].fd, &v, sizeof(v)) < 0) {
					/* drained by the ring already */
				}
			}
			if (death >= 0 && (pfd[2].revents & (POLLHUP | POLLERR))) {
				/* take what came before the end, then fail the rest */
				while (udk_ring_dequeue(bc->cq, &e, sizeof(e), &len) == 0)
					if (len >= BLK_CQE_HEADER)
						deliver(bc, &e, len);
				fail_all(bc, "the block device went away (its driver stopped or crashed, or it was removed)");
				return NULL;
			}
		}
	}
}

int
block_client_start(struct udk_block_client *bc, const struct block_transport *tp, void *tp_data,
		   const struct udk_block_info *info, struct udk_ring *sq, struct udk_ring *cq)
{
	int r;

	bc->tp = tp;
	bc->tp_data = tp_data;
	bc->info = *info;
	bc->info.identifier[sizeof(bc->info.identifier) - 1] = 0;
	bc->info.description[sizeof(bc->info.description) - 1] = 0;
	bc->sq = sq;
	bc->cq = cq;
	if (!info->block_size || !info->max_blocks)
		return udk_set_reason(-UDK_E_PROTOCOL, "the block device described itself with a zero block size");
	bc->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (bc->stop_fd < 0)
		return -errno;
	r = -pthread_create(&bc->thread, NULL, completion_main, bc);
	if (r < 0)
		return r;
	bc->thread_started = true;
	return 0;
}

UDK_EXPORT void
udk_block_client_close(struct udk_block_client *bc)
{
	uint64_t one = 1;

	if (!bc)
		return;
	if (bc->thread_started) {
		if (write(bc->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write cannot fail here */
		}
		pthread_join(bc->thread, NULL);
	}
	fail_all(bc, "the client closed the device");
	if (bc->tp && bc->tp->close)
		bc->tp->close(bc);
	block_client_free(bc);
}

UDK_EXPORT int
udk_block_client_get_info(struct udk_block_client *bc, struct udk_block_info *ret)
{
	udk_return_val_if_fail(bc && ret, -EINVAL);
	*ret = bc->info;
	return 0;
}

UDK_EXPORT bool
udk_block_client_is_dead(struct udk_block_client *bc, const char **ret_reason)
{
	bool dead;

	pthread_mutex_lock(&bc->lock);
	dead = bc->dead;
	pthread_mutex_unlock(&bc->lock);
	if (ret_reason)
		*ret_reason = dead ? bc->dead_reason : NULL;
	return dead;
}

UDK_EXPORT int
udk_block_client_submit(struct udk_block_client *bc, enum udk_block_op op, uint64_t lba, uint32_t blocks,
			uint32_t buffer, uint64_t offset, udk_block_done_fn done, void *ctx)
{
	struct blk_sqe q;
	unsigned idx;
	int r;

	udk_return_val_if_fail(bc && done, -EINVAL);
	if (op > UDK_BLOCK_UNMAP)
		return udk_set_reason(-EINVAL, "operation %u is not read, write, flush or unmap", op);
	if (op != UDK_BLOCK_FLUSH && (!blocks || lba > bc->info.block_count || blocks > bc->info.block_count - lba))
		return udk_set_reason(-ERANGE, "%u blocks at block %llu: the device has %llu blocks", blocks,
				      (unsigned long long)lba, (unsigned long long)bc->info.block_count);
	if ((op == UDK_BLOCK_READ || op == UDK_BLOCK_WRITE) && blocks > bc->info.max_blocks)
		return udk_set_reason(-E2BIG, "%u blocks in one request: the device takes at most %u", blocks,
				      bc->info.max_blocks);
	pthread_mutex_lock(&bc->lock);
	while (!bc->dead && bc->inflight >= UDK_BLOCK_MAX_INFLIGHT)
		pthread_cond_wait(&bc->cond, &bc->lock);
	if (bc->dead) {
		r = udk_set_reason(-UDK_E_HARDWARE_GONE, "%s", bc->dead_reason);
		pthread_mutex_unlock(&bc->lock);
		return r;
	}
	for (idx = 0; bc->pend[idx].used; idx++)
		;
	bc->pend[idx].used = true;
	bc->pend[idx].gen++;
	bc->pend[idx].fn = done;
	bc->pend[idx].ctx = ctx;
	bc->inflight++;
	memset(&q, 0, sizeof(q));
	q.tag = ((uint64_t)bc->pend[idx].gen << 16) | idx;
	q.op = op;
	q.buffer = buffer;
	q.lba = lba;
	q.blocks = blocks;
	q.offset = offset;
	r = udk_ring_enqueue(bc->sq, &q, sizeof(q));
	if (r == -ENOSPC) {
		pthread_mutex_unlock(&bc->lock);
		r = udk_ring_enqueue_wait(bc->sq, &q, sizeof(q), 5000);
		pthread_mutex_lock(&bc->lock);
	}
	if (r < 0) {
		bc->pend[idx].used = false;
		bc->inflight--;
		pthread_mutex_unlock(&bc->lock);
		return udk_set_reason(r, "the block device does not take requests: %s",
				      udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	}
	pthread_mutex_unlock(&bc->lock);
	return 0;
}

struct sync_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
	char reason[BLK_REASON_MAX + 1];
};

static void
sync_done(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct sync_wait *w = ctx;

	(void)bc;
	pthread_mutex_lock(&w->lock);
	w->status = status;
	snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

UDK_EXPORT int
udk_block_client_io(struct udk_block_client *bc, enum udk_block_op op, uint64_t lba, uint32_t blocks, uint32_t buffer,
		    uint64_t offset)
{
	struct sync_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, "" };
	int r = udk_block_client_submit(bc, op, lba, blocks, buffer, offset, sync_done, &w);

	if (r < 0)
		return r;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	if (w.status < 0)
		return udk_set_reason(w.status, "%s", w.reason[0] ? w.reason : udk_strerror(w.status));
	return 0;
}

/* ---- byte-addressed I/O through the pool ---- */

static int
pool_take(struct udk_block_client *bc, unsigned *ret)
{
	int r = 0;

	pthread_mutex_lock(&bc->lock);
	while (bc->pool_state == POOL_MAKING)
		pthread_cond_wait(&bc->cond, &bc->lock);
	if (bc->pool_state == POOL_NONE) {
		uint64_t slot = MIN((uint64_t)bc->info.max_blocks * bc->info.block_size, POOL_SLOT_MAX);
		void *addr = NULL;
		uint32_t id = 0;
		slot -= slot % bc->info.block_size;
		bc->pool_state = POOL_MAKING;
		pthread_mutex_unlock(&bc->lock);
		r = bc->tp->new_buffer(bc, slot * POOL_SLOTS, &addr, &id);
		pthread_mutex_lock(&bc->lock);
		if (r >= 0) {
			bc->pool = addr;
			bc->pool_id = id;
			bc->pool_slot = slot;
			bc->pool_n = POOL_SLOTS;
			bc->pool_free = (1ull << POOL_SLOTS) - 1;
		}
		bc->pool_state = r >= 0 ? POOL_READY : POOL_FAILED;
		pthread_cond_broadcast(&bc->cond);
	}
	if (bc->pool_state == POOL_FAILED)
		r = udk_set_reason(r < 0 ? r : -ENOMEM, "the client's buffer pool could not be made%s%s",
				   r < 0 && udk_error_reason() ? ": " : "", r < 0 && udk_error_reason() ? udk_error_reason() : "");
	while (r >= 0 && !bc->pool_free && !bc->dead)
		pthread_cond_wait(&bc->cond, &bc->lock);
	if (r >= 0 && bc->dead)
		r = udk_set_reason(-UDK_E_HARDWARE_GONE, "%s", bc->dead_reason);
	if (r >= 0) {
		unsigned i = (unsigned)__builtin_ctzll(bc->pool_free);
		bc->pool_free &= ~(1ull << i);
		*ret = i;
	}
	pthread_mutex_unlock(&bc->lock);
	return r;
}

static void
pool_give(struct udk_block_client *bc, unsigned i)
{
	pthread_mutex_lock(&bc->lock);
	bc->pool_free |= 1ull << i;
	pthread_cond_broadcast(&bc->cond);
	pthread_mutex_unlock(&bc->lock);
}

static int
check_bytes(struct udk_block_client *bc, size_t len, uint64_t offset)
{
	uint32_t bs = bc->info.block_size;

	if (len % bs || offset % bs)
		return udk_set_reason(-EINVAL, "%zu bytes at byte %llu are not whole blocks of %u bytes", len,
				      (unsigned long long)offset, bs);
	return 0;
}

static int
byte_io(struct udk_block_client *bc, enum udk_block_op op, void *buf, size_t len, uint64_t offset)
{
	uint32_t bs = bc->info.block_size;
	unsigned slot;
	int r = check_bytes(bc, len, offset);

	if (r < 0 || !len)
		return r;
	r = pool_take(bc, &slot);
	if (r < 0)
		return r;
	for (size_t done = 0; done < len && r >= 0;) {
		size_t n = MIN(len - done, (size_t)bc->pool_slot);
		uint8_t *p = bc->pool + (uint64_t)slot * bc->pool_slot;
		if (op == UDK_BLOCK_WRITE)
			memcpy(p, (uint8_t *)buf + done, n);
		r = udk_block_client_io(bc, op, (offset + done) / bs, (uint32_t)(n / bs), bc->pool_id,
					(uint64_t)slot * bc->pool_slot);
		if (r >= 0 && op == UDK_BLOCK_READ)
			memcpy((uint8_t *)buf + done, p, n);
		done += n;
	}
	pool_give(bc, slot);
	return r;
}

UDK_EXPORT int
udk_block_client_pread(struct udk_block_client *bc, void *buf, size_t len, uint64_t offset)
{
	udk_return_val_if_fail(bc && (buf || !len), -EINVAL);
	return byte_io(bc, UDK_BLOCK_READ, buf, len, offset);
}

UDK_EXPORT int
udk_block_client_pwrite(struct udk_block_client *bc, const void *buf, size_t len, uint64_t offset)
{
	udk_return_val_if_fail(bc && (buf || !len), -EINVAL);
	return byte_io(bc, UDK_BLOCK_WRITE, (void *)buf, len, offset);
}

UDK_EXPORT int
udk_block_client_flush(struct udk_block_client *bc)
{
	udk_return_val_if_fail(bc, -EINVAL);
	return udk_block_client_io(bc, UDK_BLOCK_FLUSH, 0, 0, 0, 0);
}

UDK_EXPORT int
udk_block_client_unmap(struct udk_block_client *bc, uint64_t offset, uint64_t len)
{
	uint32_t bs;
	int r;

	udk_return_val_if_fail(bc, -EINVAL);
	bs = bc->info.block_size;
	r = check_bytes(bc, (size_t)len, offset);
	for (uint64_t done = 0; r >= 0 && done < len;) {
		uint64_t n = MIN(len - done, (uint64_t)UINT32_MAX / bs * bs);
		r = udk_block_client_io(bc, UDK_BLOCK_UNMAP, (offset + done) / bs, (uint32_t)(n / bs), 0, 0);
		done += n;
	}
	return r;
}
