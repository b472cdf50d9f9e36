/* SPDX-License-Identifier: MIT */
/*
 * ring.c - single-producer single-consumer record rings in shared memory
 * (see include/udk/ring.h).
 *
 * Layout of the memfd (offsets, never pointers):
 *
 *   0     struct ring_shared: magic, size, then one cache line written only
 *         by the producer (head, producer_waiting) and one written only by
 *         the consumer (tail, consumer_waiting)
 *   256   data: `size` bytes, size a power of two
 *
 * head and tail count bytes modulo 2^32; head - tail is the bytes in use.
 * A record is a u32 length, the payload, padding to 8 bytes.  A record
 * never wraps: when it does not fit before the end, the producer writes
 * the pad marker RING_PAD and starts again at offset 0.
 *
 * Each side keeps its own index privately and only publishes it; what it
 * reads of the other side's index is validated before use, so a peer that
 * scribbles on the shared page can corrupt its own data but never make us
 * read or write out of bounds.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <udk/ring.h>

#include "ring-private.h"
#include "util.h"

#define RING_MAGIC 0x524b4455u /* "UDKR" */
#define RING_VERSION 1u
#define RING_DATA_OFFSET 256u
#define RING_PAD 0xffffffffu
#define RING_MIN_SIZE 4096u
#define RING_MAX_SIZE (1u << 30)
#define SPIN_MIN 64u
#define SPIN_MAX 65536u

struct ring_shared {
	uint32_t magic;
	uint32_t version;
	uint32_t size;
	uint32_t reserved;
	uint8_t pad0[48];
	/* written by the producer only */
	_Atomic uint32_t head;
	_Atomic uint32_t producer_waiting;
	uint8_t pad1[56];
	/* written by the consumer only */
	_Atomic uint32_t tail;
	_Atomic uint32_t consumer_waiting;
	uint8_t pad2[56];
};

_Static_assert(sizeof(struct ring_shared) <= RING_DATA_OFFSET, "ring header fits before the data");

struct udk_ring {
	int refcount;
	enum udk_ring_role role;
	int memfd;
	int data_fd;		/* rung by the producer: records arrived */
	int space_fd;		/* rung by the consumer: space freed */
	struct ring_shared *sh;
	uint8_t *data;
	uint32_t size;		/* our copy, checked once; never re-read */
	uint32_t mask;
	uint32_t max_record;
	uint32_t local;		/* our own index: head (producer) or tail (consumer) */
	uint32_t spin;		/* adaptive spin budget */
	size_t map_len;
	bool corrupt;
	/* the peer's liveness (ring_set_peer); -1/NULL: not known */
	int hup_fd;
	ring_gone_fn gone;
	void *gone_ctx;
	void (*gone_ctx_free)(void *);
};

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline uint32_t
record_bytes(uint32_t len)
{
	return (4u + len + 7u) & ~7u;
}

static int
ring_map(struct udk_ring *r)
{
	r->map_len = RING_DATA_OFFSET + (size_t)r->size;
	r->sh = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->sh == MAP_FAILED) {
		r->sh = NULL;
		return -errno;
	}
	r->data = (uint8_t *)r->sh + RING_DATA_OFFSET;
	r->mask = r->size - 1;
	r->max_record = r->size / 2 - 8;
	r->spin = SPIN_MIN * 16;
	return 0;
}

static void
ring_free(struct udk_ring *r)
{
	if (r->sh)
		munmap(r->sh, r->map_len);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->data_fd >= 0)
		close(r->data_fd);
	if (r->space_fd >= 0)
		close(r->space_fd);
	if (r->hup_fd >= 0)
		close(r->hup_fd);
	if (r->gone_ctx_free)
		r->gone_ctx_free(r->gone_ctx);
	free(r);
}

static struct udk_ring *
ring_alloc(enum udk_ring_role role)
{
	struct udk_ring *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->refcount = 1;
	r->role = role;
	r->memfd = r->data_fd = r->space_fd = r->hup_fd = -1;
	return r;
}

UDK_EXPORT int
udk_ring_create(uint32_t size, enum udk_ring_role role, struct udk_ring **ret)
{
	struct udk_ring *r;
	uint32_t s = RING_MIN_SIZE;
	int e;

	udk_return_val_if_fail(ret && (role == UDK_RING_PRODUCER || role == UDK_RING_CONSUMER), -EINVAL);
	if (size > RING_MAX_SIZE)
		return udk_set_reason(-EINVAL, "a ring holds at most 1 GiB");
	while (s < size)
		s <<= 1;
	r = ring_alloc(role);
	if (!r)
		return -ENOMEM;
	r->size = s;
	r->memfd = memfd_create("udk-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	r->data_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->memfd < 0 || r->data_fd < 0 || r->space_fd < 0 ||
	    ftruncate(r->memfd, (off_t)RING_DATA_OFFSET + s) < 0 ||
	    fcntl(r->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		e = -errno;
		ring_free(r);
		return e;
	}
	e = ring_map(r);
	if (e < 0) {
		ring_free(r);
		return e;
	}
	r->sh->magic = RING_MAGIC;
	r->sh->version = RING_VERSION;
	r->sh->size = s;
	*ret = r;
	return 0;
}

int
ring_export(const struct udk_ring *r, int fds[3])
{
	fds[0] = r->memfd;
	fds[1] = r->data_fd;
	fds[2] = r->space_fd;
	return 0;
}

int
ring_import(int fds[3], enum udk_ring_role role, struct udk_ring **ret)
{
	struct udk_ring *r;
	struct stat st;
	int seals, e;
	uint32_t size;

	seals = fcntl(fds[0], F_GET_SEALS);
	if (fstat(fds[0], &st) < 0 || seals < 0 ||
	    (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return udk_set_reason(-UDK_E_PROTOCOL, "a data queue must be a memfd sealed against resizing");
	if ((uint64_t)st.st_size < RING_DATA_OFFSET + RING_MIN_SIZE ||
	    (uint64_t)st.st_size > RING_DATA_OFFSET + (uint64_t)RING_MAX_SIZE)
		return udk_set_reason(-UDK_E_PROTOCOL, "a data queue memfd of %lld bytes has no valid size",
				      (long long)st.st_size);
	size = (uint32_t)(st.st_size - RING_DATA_OFFSET);
	if (size & (size - 1))
		return udk_set_reason(-UDK_E_PROTOCOL, "a data queue's size must be a power of two");
	r = ring_alloc(role);
	if (!r)
		return -ENOMEM;
	r->size = size;
	r->memfd = fds[0];
	r->data_fd = fds[1];
	r->space_fd = fds[2];
	e = ring_map(r);
	if (e < 0) {
		r->memfd = r->data_fd = r->space_fd = -1;
		ring_free(r);
		return e;
	}
	if (r->sh->magic != RING_MAGIC || r->sh->version != RING_VERSION || r->sh->size != size) {
		r->memfd = r->data_fd = r->space_fd = -1;
		ring_free(r);
		return udk_set_reason(-UDK_E_PROTOCOL, "the data queue's header is not a udk ring");
	}
	/* our side's index starts where the peer says it is; checked on use */
	r->local = role == UDK_RING_PRODUCER ? atomic_load_explicit(&r->sh->head, memory_order_acquire)
					     : atomic_load_explicit(&r->sh->tail, memory_order_acquire);
	*ret = r;
	return 0;
}

UDK_EXPORT struct udk_ring *
udk_ring_ref(struct udk_ring *r)
{
	if (r)
		__atomic_add_fetch(&r->refcount, 1, __ATOMIC_RELAXED);
	return r;
}

UDK_EXPORT struct udk_ring *
udk_ring_unref(struct udk_ring *r)
{
	if (r && __atomic_sub_fetch(&r->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		ring_free(r);
	return NULL;
}

UDK_EXPORT enum udk_ring_role
udk_ring_get_role(const struct udk_ring *r)
{
	return r ? r->role : 0;
}

UDK_EXPORT uint32_t
udk_ring_get_max_record(const struct udk_ring *r)
{
	return r ? r->max_record : 0;
}

static int
corrupt(struct udk_ring *r, const char *what)
{
	r->corrupt = true;
	return udk_set_reason(-UDK_E_PROTOCOL, "the data queue is corrupt: %s; the peer wrote over it", what);
}

static void
ring_bell(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the peer is awake anyway */
	}
}

UDK_EXPORT int
udk_ring_enqueue(struct udk_ring *r, const void *data, uint32_t len)
{
	uint32_t need, head, tail, used, pos, to_end, total;

	udk_return_val_if_fail(r && r->role == UDK_RING_PRODUCER && (data || !len), -EINVAL);
	if (r->corrupt)
		return -UDK_E_PROTOCOL;
	if (len > r->max_record)
		return udk_set_reason(-EMSGSIZE, "a record of %u bytes is larger than the ring's limit of %u", len,
				      r->max_record);
	need = record_bytes(len);
	head = r->local;
	/* load-acquire paired with the store-release of tail in
	 * udk_ring_dequeue(): the consumer is done with the bytes before tail */
	tail = atomic_load_explicit(&r->sh->tail, memory_order_acquire);
	used = head - tail;
	if (used > r->size || (tail & 7u))
		return corrupt(r, "the consumer's index is out of range");
	pos = head & r->mask;
	to_end = r->size - pos;
	total = need > to_end ? to_end + need : need;
	if (r->size - used < total)
		return -ENOSPC;
	if (need > to_end) {
		memcpy(r->data + pos, &(uint32_t){ RING_PAD }, 4);
		head += to_end;
		pos = 0;
	}
	memcpy(r->data + pos, &len, 4);
	if (len)
		memcpy(r->data + pos + 4, data, len);
	head += need;
	r->local = head;
	/* store-release paired with the load-acquire of head in
	 * udk_ring_dequeue(): the record is written before it is published */
	atomic_store_explicit(&r->sh->head, head, memory_order_release);
	/* full fence paired with the one in ring_wait() (consumer side), after
	 * it sets consumer_waiting: either it sees our head, or we see it
	 * waiting and ring */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sh->consumer_waiting, memory_order_relaxed))
		ring_bell(r->data_fd);
	return 0;
}

UDK_EXPORT int
udk_ring_dequeue(struct udk_ring *r, void *buf, uint32_t cap, uint32_t *ret_len)
{
	uint32_t tail, head, avail, pos, len, need;

	udk_return_val_if_fail(r && r->role == UDK_RING_CONSUMER && (buf || !cap), -EINVAL);
	if (r->corrupt)
		return -UDK_E_PROTOCOL;
	tail = r->local;
	/* load-acquire paired with the store-release of head in
	 * udk_ring_enqueue(): records before head are complete */
	head = atomic_load_explicit(&r->sh->head, memory_order_acquire);
	avail = head - tail;
	if (avail == 0)
		return -EAGAIN;
	if (avail > r->size || (head & 7u))
		return corrupt(r, "the producer's index is out of range");
	pos = tail & r->mask;
	memcpy(&len, r->data + pos, 4);
	if (len == RING_PAD) {
		uint32_t to_end = r->size - pos;
		if (to_end >= avail)
			return corrupt(r, "a wrap marker with nothing after it");
		tail += to_end;
		avail -= to_end;
		pos = 0;
		memcpy(&len, r->data, 4);
	}
	if (len > r->max_record || (need = record_bytes(len)) > avail || pos + need > r->size)
		return corrupt(r, "a record length that does not fit the ring");
	if (ret_len)
		*ret_len = len;
	if (len > cap) {
		/* keep the record; skipping a pad marker is harmless to redo */
		return udk_set_reason(-ENOBUFS, "the next record is %u bytes, the buffer %u", len, cap);
	}
	if (len)
		memcpy(buf, r->data + pos + 4, len);
	tail += need;
	r->local = tail;
	/* store-release paired with the load-acquire of tail in
	 * udk_ring_enqueue(): we are done reading before the space is reused */
	atomic_store_explicit(&r->sh->tail, tail, memory_order_release);
	/* full fence paired with the one in ring_wait() (producer side) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sh->producer_waiting, memory_order_relaxed))
		ring_bell(r->space_fd);
	return 0;
}

/* Is there something for us: records (consumer) or space (producer)? */
static bool
ready(struct udk_ring *r, uint32_t need)
{
	if (r->role == UDK_RING_CONSUMER)
		/* load-acquire paired with the store-release in udk_ring_enqueue() */
		return atomic_load_explicit(&r->sh->head, memory_order_acquire) != r->local;
	/* load-acquire paired with the store-release in udk_ring_dequeue() */
	uint32_t used = r->local - atomic_load_explicit(&r->sh->tail, memory_order_acquire);
	return used > r->size || r->size - used >= 2 * need;
}

UDK_EXPORT int
udk_ring_arm_doorbell(struct udk_ring *r)
{
	_Atomic uint32_t *waiting;

	udk_return_val_if_fail(r, -EINVAL);
	waiting = r->role == UDK_RING_CONSUMER ? &r->sh->consumer_waiting : &r->sh->producer_waiting;
	/* drain the doorbell: a ring already seen must not wake the caller's
	 * poll again (the eventfd is non-blocking) */
	{
		uint64_t v;
		if (read(udk_ring_get_fd(r), &v, sizeof(v)) < 0) {
			/* not rung since the last drain */
		}
	}
	atomic_store_explicit(waiting, 1, memory_order_relaxed);
	/* full fence paired with the one after publishing in
	 * udk_ring_enqueue()/udk_ring_dequeue(): no lost wake-up */
	atomic_thread_fence(memory_order_seq_cst);
	if (ready(r, 8)) {
		atomic_store_explicit(waiting, 0, memory_order_relaxed);
		return 1;
	}
	return 0;
}

/* Spin, then sleep on our doorbell, until ready or the deadline. */
static int
ring_wait(struct udk_ring *r, uint32_t need, uint64_t deadline_ms)
{
	int fd = r->role == UDK_RING_CONSUMER ? r->data_fd : r->space_fd;
	_Atomic uint32_t *waiting = r->role == UDK_RING_CONSUMER ? &r->sh->consumer_waiting : &r->sh->producer_waiting;

	for (uint32_t i = 0; i < r->spin; i++) {
		if (ready(r, need)) {
			/* it came while spinning: spin a little longer next time */
			r->spin = MIN(r->spin * 2, SPIN_MAX);
			return 0;
		}
		cpu_relax();
	}
	r->spin = MAX(r->spin / 2, SPIN_MIN);
	for (;;) {
		/* the doorbell, and the peer's connection: POLLHUP when it is gone */
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = r->hup_fd, .events = 0 } };
		uint64_t v;
		int timeout = -1;

		atomic_store_explicit(waiting, 1, memory_order_relaxed);
		/* full fence paired with the one after publishing in
		 * udk_ring_enqueue()/udk_ring_dequeue() */
		atomic_thread_fence(memory_order_seq_cst);
		if (ready(r, need)) {
			atomic_store_explicit(waiting, 0, memory_order_relaxed);
			return 0;
		}
		if (deadline_ms) {
			uint64_t now = now_ms();
			if (now >= deadline_ms) {
				atomic_store_explicit(waiting, 0, memory_order_relaxed);
				return -ETIMEDOUT;
			}
			timeout = (int)MIN(deadline_ms - now, (uint64_t)INT32_MAX);
		}
		if (poll(pfd, r->hup_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) {
			atomic_store_explicit(waiting, 0, memory_order_relaxed);
			return -errno;
		}
		if (read(fd, &v, sizeof(v)) < 0) {
			/* nothing to drain: a timeout or a spurious wake */
		}
		atomic_store_explicit(waiting, 0, memory_order_relaxed);
		if (ready(r, need))
			return 0;
		if (r->hup_fd >= 0 && (pfd[1].revents & (POLLHUP | POLLERR))) {
			/* what the peer left is still served (ready() above); then why it went */
			if (r->gone)
				return r->gone(r->gone_ctx);
			return udk_set_reason(-UDK_E_DRIVER_DIED, "the peer of this data queue is gone");
		}
	}
}

UDK_EXPORT int
udk_ring_enqueue_wait(struct udk_ring *r, const void *data, uint32_t len, int timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms + (timeout_ms == 0) : 0;

	for (;;) {
		int e = udk_ring_enqueue(r, data, len);
		if (e != -ENOSPC)
			return e;
		e = ring_wait(r, record_bytes(len), deadline);
		if (e < 0)
			return e == -ETIMEDOUT ? -ENOSPC : e;
	}
}

UDK_EXPORT int
udk_ring_dequeue_wait(struct udk_ring *r, void *buf, uint32_t cap, uint32_t *ret_len, int timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms + (timeout_ms == 0) : 0;

	for (;;) {
		int e = udk_ring_dequeue(r, buf, cap, ret_len);
		if (e != -EAGAIN)
			return e;
		e = ring_wait(r, 8, deadline);
		if (e < 0)
			return e == -ETIMEDOUT ? -EAGAIN : e;
	}
}

UDK_EXPORT uint32_t
udk_ring_get_pending(const struct udk_ring *r)
{
	uint32_t head, tail;

	if (!r)
		return 0;
	if (r->role == UDK_RING_CONSUMER) {
		head = atomic_load_explicit(&r->sh->head, memory_order_acquire);
		tail = r->local;
		return head - tail <= r->size ? head - tail : 0;
	}
	tail = atomic_load_explicit(&r->sh->tail, memory_order_acquire);
	head = r->local;
	return head - tail <= r->size ? r->size - (head - tail) : 0;
}

void
ring_set_peer(struct udk_ring *r, int hup_fd, ring_gone_fn gone, void *ctx, void (*ctx_free)(void *))
{
	if (r->hup_fd >= 0)
		close(r->hup_fd);
	if (r->gone_ctx_free)
		r->gone_ctx_free(r->gone_ctx);
	r->hup_fd = hup_fd;
	r->gone = gone;
	r->gone_ctx = ctx;
	r->gone_ctx_free = ctx_free;
}

UDK_EXPORT int
udk_ring_get_fd(const struct udk_ring *r)
{
	if (!r)
		return -EINVAL;
	return r->role == UDK_RING_CONSUMER ? r->data_fd : r->space_fd;
}
