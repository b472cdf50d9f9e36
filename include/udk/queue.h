/* SPDX-License-Identifier: MIT */
/*
 * queue.h - serial dispatch queues and timer sources (IODispatchQueue,
 * IOTimerDispatchSource).
 *
 * A queue runs the blocks given to it one at a time, in order, on its own
 * thread.  Event sources (timers, user client connections, interrupts,
 * data queues) are attached to a queue and deliver on it, so a driver
 * that keeps its state on one queue needs no locks.
 */
#ifndef UDK_QUEUE_H
#define UDK_QUEUE_H

#include <udk/udk.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_queue;
struct udk_timer;

typedef void (*udk_block_fn)(void *ctx);

/* A new serial queue with its own thread; @name shows in logs and ps. */
UDK_EXPORT int udk_queue_create(const char *name, struct udk_queue **ret);
UDK_EXPORT struct udk_queue *udk_queue_ref(struct udk_queue *q);
/* The last reference stops the thread after the blocks already queued. */
UDK_EXPORT struct udk_queue *udk_queue_unref(struct udk_queue *q);
UDK_EXPORT const char *udk_queue_get_name(const struct udk_queue *q);

/* Run @fn(@ctx) later on @q.  -ESHUTDOWN once @q is stopping. */
UDK_EXPORT int udk_queue_dispatch_async(struct udk_queue *q, udk_block_fn fn, void *ctx);
/*
 * Run @fn(@ctx) on @q and wait for it.  -EDEADLK when called on @q itself
 * (that would wait for itself forever).
 */
UDK_EXPORT int udk_queue_dispatch_sync(struct udk_queue *q, udk_block_fn fn, void *ctx);
/* True when the caller runs on @q. */
UDK_EXPORT bool udk_queue_is_current(const struct udk_queue *q);

/* CLOCK_MONOTONIC in nanoseconds, the timebase of timers. */
UDK_EXPORT uint64_t udk_time_now_ns(void);

typedef void (*udk_timer_fn)(struct udk_timer *t, uint64_t now_ns, void *ctx);

/* A timer whose handler runs on @q.  It starts disarmed. */
UDK_EXPORT int udk_timer_create(struct udk_queue *q, udk_timer_fn fn, void *ctx, struct udk_timer **ret);
UDK_EXPORT struct udk_timer *udk_timer_ref(struct udk_timer *t);
/* An armed timer keeps itself alive until it fires (one-shot) or is
 * cancelled: cancel it before dropping your reference. */
UDK_EXPORT struct udk_timer *udk_timer_unref(struct udk_timer *t);
/*
 * WakeAtTime: fire once at @deadline_ns (udk_time_now_ns() timebase), or,
 * with @interval_ns > 0, then every @interval_ns.  Re-arming replaces.
 */
UDK_EXPORT int udk_timer_arm(struct udk_timer *t, uint64_t deadline_ns, uint64_t interval_ns);
UDK_EXPORT int udk_timer_cancel(struct udk_timer *t);
/* Number of times the handler ran. */
UDK_EXPORT uint64_t udk_timer_get_fire_count(const struct udk_timer *t);

struct udk_ring;
struct udk_ring_source;

typedef void (*udk_ring_fn)(struct udk_ring *r, void *ctx);

/*
 * IODataQueueDispatchSource: run @fn on @q whenever the peer rings @r's
 * doorbell (records arrived for a consumer, space freed for a producer).
 * @fn should drain what it can; it runs again if more arrives meanwhile.
 *
 * Returns at once, without waiting for @q and without running @fn: the
 * source starts watching on @q afterwards, and if work is already there
 * (records in a consumer's ring; for a producer, free space, which a new
 * ring always has) @fn runs then, on @q, once.  So it is safe to call
 * while holding a lock @fn takes.
 */
UDK_EXPORT int udk_ring_source_create(struct udk_ring *r, struct udk_queue *q, udk_ring_fn fn, void *ctx,
				      struct udk_ring_source **ret);
/*
 * Stop delivering: @fn does not run after this returns.  It waits for an
 * @fn that is running on @q to return, so do not call it while holding a
 * lock @fn takes (called on @q, it does not wait).  Not from within @fn.
 */
UDK_EXPORT void udk_ring_source_destroy(struct udk_ring_source *s);

#ifdef __cplusplus
}
#endif
#endif
