/* SPDX-License-Identifier: MIT */
/*
 * loop.h - a small epoll event loop with one-shot timers (internal).
 * One loop is driven by one thread; nothing here is thread-safe except
 * loop_wakeup().  Sources and timers may be removed from inside callbacks.
 */
#ifndef UDK_COMMON_LOOP_H
#define UDK_COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_source;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(struct loop *l, void *data);

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

/* Watch @fd for EPOLLIN/EPOLLOUT...; the loop never closes @fd. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data, struct loop_source **ret);
int loop_source_set_events(struct loop_source *s, uint32_t events);
/* Stop watching; safe from callbacks; NULL is ignored. */
void loop_source_remove(struct loop_source *s);

/* Call @fn once at @deadline_ns (CLOCK_MONOTONIC).  *ret may be NULL. */
int loop_add_timer(struct loop *l, uint64_t deadline_ns, loop_timer_fn fn, void *data, struct loop_timer **ret);
/*
 * Cancel a pending timer; NULL is ignored.  A timer is freed when it fires,
 * so its owner must forget the handle inside the callback.
 */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/*
 * Spin before sleeping: with an idle hook, loop_run_once() first calls
 * poll() for up to spin_ns (checking the epoll set now and then), and only
 * sleeps after telling the peer with sleeping(true).  For shared-memory
 * channels whose peer would rather not pay for a wake-up.
 */
struct loop_idle {
	bool (*poll)(void *data);		/* true: found and did work */
	void (*sleeping)(void *data, bool asleep);
	void *data;
	uint64_t spin_ns;
};
void loop_set_idle(struct loop *l, const struct loop_idle *idle);

/* Dispatch what is ready, waiting at most @timeout_ms (-1: until something). */
int loop_run_once(struct loop *l, int timeout_ms);
/* Run until loop_quit(). */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);
bool loop_quitting(struct loop *l);
/* Make a blocked loop_run_once() return; callable from any thread. */
void loop_wakeup(struct loop *l);
/* A function to run on the loop thread at the next iteration (thread-safe). */
int loop_post(struct loop *l, loop_timer_fn fn, void *data);

#endif
