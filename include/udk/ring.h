/* SPDX-License-Identifier: MIT */
/*
 * ring.h - data queues: single-producer single-consumer rings of records in
 * shared memory, between a driver and an app (IODataQueueDispatchSource).
 *
 * One side creates the ring and says whether it produces or consumes; the
 * other side maps it (udk_connection_map_data_queue on the app side,
 * copy_data_queue_for_type in a user client) and gets the other role.
 *
 * Records are 1..max bytes, copied in and out.  Enqueue and dequeue never
 * block unless asked to (the _wait variants), which spin briefly and then
 * sleep on a doorbell.  A doorbell only rings when the other side is
 * actually asleep, so a busy consumer costs the producer no system calls.
 *
 * The peer shares the memory and may be hostile: every index and length
 * read from it is checked, and a corrupt ring gives UDK_E_PROTOCOL, never
 * an out-of-bounds access.
 */
#ifndef UDK_RING_H
#define UDK_RING_H

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_ring;

enum udk_ring_role {
	UDK_RING_PRODUCER = 1,
	UDK_RING_CONSUMER = 2,
};

/*
 * A ring with @size bytes of record space (rounded up to a power of two,
 * 4 KiB .. 1 GiB); this side takes @role.
 */
UDK_EXPORT int udk_ring_create(uint32_t size, enum udk_ring_role role, struct udk_ring **ret);
UDK_EXPORT struct udk_ring *udk_ring_ref(struct udk_ring *r);
UDK_EXPORT struct udk_ring *udk_ring_unref(struct udk_ring *r);
UDK_EXPORT enum udk_ring_role udk_ring_get_role(const struct udk_ring *r);
/* The largest record that fits. */
UDK_EXPORT uint32_t udk_ring_get_max_record(const struct udk_ring *r);

/* Producer: copy one record in.  -ENOSPC when full, -EMSGSIZE when too big. */
UDK_EXPORT int udk_ring_enqueue(struct udk_ring *r, const void *data, uint32_t len);
/* Producer: as above, waiting up to @timeout_ms (-1: forever) for space. */
UDK_EXPORT int udk_ring_enqueue_wait(struct udk_ring *r, const void *data, uint32_t len, int timeout_ms);
/*
 * Consumer: copy one record out.  -EAGAIN when empty, -ENOBUFS when @cap
 * is too small (*ret_len says how much is needed; the record stays).
 */
UDK_EXPORT int udk_ring_dequeue(struct udk_ring *r, void *buf, uint32_t cap, uint32_t *ret_len);
/*
 * Consumer: as above, waiting up to @timeout_ms (-1: forever) for a
 * record.  A ring mapped from a user-client connection stops waiting when
 * the connection ends: the connection's error (udk_connection_call).
 */
UDK_EXPORT int udk_ring_dequeue_wait(struct udk_ring *r, void *buf, uint32_t cap, uint32_t *ret_len,
				     int timeout_ms);
/* Records waiting (consumer) or bytes free (producer), a snapshot. */
UDK_EXPORT uint32_t udk_ring_get_pending(const struct udk_ring *r);
/*
 * A descriptor that becomes readable when the peer rings: for a consumer,
 * records arrived; for a producer, space was freed.  Call
 * udk_ring_arm_doorbell() before polling it (poll only if it returned 0),
 * then dequeue until -EAGAIN.  Arming drains the descriptor: there is no
 * need to read() it, and it is not left readable once drained.  It does
 * not report the peer's death: an app also polls udk_connection_get_fd().
 */
UDK_EXPORT int udk_ring_get_fd(const struct udk_ring *r);
/*
 * Drain the doorbell and ask the peer to ring; returns 1 if work is
 * already there (do not sleep), 0 if it is safe to poll the descriptor.
 */
UDK_EXPORT int udk_ring_arm_doorbell(struct udk_ring *r);

#ifdef __cplusplus
}
#endif
#endif
