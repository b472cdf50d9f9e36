/* SPDX-License-Identifier: MIT */
/*
 * work.h - worker threads for work a loop must not do itself (internal).
 *
 * Hashing an executable, reading a bundle, verifying a signature: bounded,
 * but long enough (or, on a file system that stalls, blocking enough) that
 * the loop thread must not wait for them.  A job runs @fn on a worker
 * thread, then @done on the loop thread (loop_post), which is where its
 * result may touch the loop's state.
 *
 * Jobs are queued by lane: a lane is a peer's uid, so one user's jobs run
 * one at a time and in order, and cannot occupy more than one thread.
 * Lane 0 (root and udkd itself) has a thread of its own: no other user's
 * job can delay it.  A lane holds at most WORK_LANE_QUEUE waiting jobs.
 */
#ifndef UDK_COMMON_WORK_H
#define UDK_COMMON_WORK_H

#include <stdint.h>

struct loop;
struct work;

/* Waiting jobs per lane, and worker threads for lanes other than 0. */
#define WORK_LANE_QUEUE 16
#define WORK_SHARED_THREADS 3

/* Runs on a worker thread: no loop state here. */
typedef void (*work_fn)(void *data);
/* Runs on the loop thread: @status 0 after @fn ran, -ECANCELED if it never will. */
typedef void (*work_done_fn)(void *data, int status);

int work_new(struct loop *l, struct work **ret);
/*
 * Stop: jobs not started are cancelled (their done runs with -ECANCELED),
 * running ones are waited for (at most a few seconds each, then left
 * behind: their done never runs), and every done already posted runs.
 */
void work_free(struct work *w);
/*
 * Queue a job.  -EAGAIN when @lane already has WORK_LANE_QUEUE jobs
 * waiting (the caller tells its peer to try again later); on error
 * neither @fn nor @done runs.
 */
int work_submit(struct work *w, uint32_t lane, work_fn fn, work_done_fn done, void *data);
/* Jobs waiting or running, for status reports. */
unsigned work_pending(struct work *w);

#endif
