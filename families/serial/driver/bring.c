/* SPDX-License-Identifier: MIT */
/*
 * serial/driver/bring.c - byte rings for the serial family: one producer,
 * one consumer, in shared memory, no copy per byte (each side gets a
 * pointer into the ring).  include/udk/ring.h carries records copied in
 * and out; a serial line is a byte stream, so the family has these.
 *
 * Ordering: the producer writes bytes, then stores head with release
 * (pairs with the consumer's acquire load of head in bring_read_ptr /
 * bring_pending); the consumer reads bytes, then stores tail with release
 * (pairs with the producer's acquire load of tail in bring_write_ptr /
 * bring_room).  Sleeping and waking is the caller's (serial.c), through
 * the *_waiting flags.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "serial-private.h"

#define HDR_SIZE 4096u

int
bring_init(struct bring *r, uint32_t size, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->memfd = memfd_create(name, MFD_CLOEXEC);
	if (r->memfd < 0)
		return -errno;
	r->map_len = HDR_SIZE + (size_t)size;
	if (ftruncate(r->memfd, (off_t)r->map_len) < 0) {
		int e = -errno;
		close(r->memfd);
		return e;
	}
	r->h = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->h == MAP_FAILED) {
		int e = -errno;
		close(r->memfd);
		r->h = NULL;
		return e;
	}
	r->h->magic = BRING_MAGIC;
	r->h->size = size;
	r->h->data_offset = HDR_SIZE;
	r->size = size;
	r->data = (uint8_t *)r->h + HDR_SIZE;
	return 0;
}

void
bring_fini(struct bring *r)
{
	if (r->h)
		munmap(r->h, r->map_len);
	if (r->memfd >= 0)
		close(r->memfd);
	memset(r, 0, sizeof(*r));
	r->memfd = -1;
}

/* What is waiting, clamped to the ring: a corrupt header reads as full/empty, never past the end. */
static uint32_t
used(struct bring *r, uint32_t head, uint32_t tail)
{
	uint32_t n = head - tail;
	return n > r->size ? r->size : n;
}

uint32_t
bring_write_ptr(struct bring *r, uint8_t **ret)
{
	/* acquire: pairs with the consumer's release store of tail in bring_consume */
	uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
	uint32_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
	uint32_t room = r->size - used(r, head, tail);
	uint32_t off = head & (r->size - 1);
	uint32_t contig = r->size - off;

	*ret = r->data + off;
	return room < contig ? room : contig;
}

uint32_t
bring_room(struct bring *r)
{
	/* acquire: pairs with the release store of tail in bring_consume */
	uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
	return r->size - used(r, atomic_load_explicit(&r->h->head, memory_order_relaxed), tail);
}

int64_t
bring_produce(struct bring *r, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);

	if (n > r->size - used(r, head, tail))
		return -1;
	/* release: the bytes are written before head moves; pairs with the
	 * consumer's acquire load of head in bring_read_ptr / bring_pending */
	atomic_store_explicit(&r->h->head, head + n, memory_order_release);
	return used(r, head + n, tail);
}

uint32_t
bring_read_ptr(struct bring *r, uint8_t **ret)
{
	/* acquire: pairs with the producer's release store of head in bring_produce */
	uint32_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_relaxed);
	uint32_t n = used(r, head, tail);
	uint32_t off = tail & (r->size - 1);
	uint32_t contig = r->size - off;

	*ret = r->data + off;
	return n < contig ? n : contig;
}

uint32_t
bring_pending(struct bring *r)
{
	/* acquire: pairs with the release store of head in bring_produce */
	uint32_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
	return used(r, head, atomic_load_explicit(&r->h->tail, memory_order_relaxed));
}

int
bring_consume(struct bring *r, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_relaxed);

	if (n > bring_pending(r))
		return -1;
	/* release: the bytes were read before tail moves (the producer may
	 * overwrite them after); pairs with the acquire load of tail in
	 * bring_write_ptr / bring_room / bring_produce */
	atomic_store_explicit(&r->h->tail, tail + n, memory_order_release);
	return 0;
}
