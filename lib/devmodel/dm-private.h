/* SPDX-License-Identifier: MIT */
/*
 * dm-private.h - the device-model runtime's insides, for the kinds of
 * device a family adds (families/<name>/sim/).
 *
 * The core (devmodel.c) owns the process: udkd's socket, the main loop,
 * one channel per function to the driver that opened it, interrupts and
 * the IOMMU.  A kind owns what its bus means: it describes each function
 * for udkd's hello (the family's model_function reads it), handles the
 * channel requests the core does not know, and resets its state.
 */
#ifndef UDK_DM_PRIVATE_H
#define UDK_DM_PRIVATE_H

#include <pthread.h>
#include <sys/types.h>

#include <udk/devmodel.h>

#include "loop.h"
#include "proto.h"
#include "wire.h"

struct mapping;
struct dm_chan;

struct dm_kind {
	const char *name;		/* the family's model_kind, sent in the hello */
	/* Add the function's description to @desc (the hello's entry). */
	int (*describe)(struct udk_dm_function *fn, struct udk_value *desc);
	/*
	 * A request on the driver's channel the core does not handle.  Reply
	 * with dm_chan_reply() unless it is one-way.  Runs on the main thread.
	 */
	void (*message)(struct udk_dm_function *fn, struct wire_msg *m);
	/* How many interrupt vectors the driver may route now. */
	unsigned (*irq_vectors)(struct udk_dm_function *fn);
	/* The driver opened / closed the function. */
	void (*opened)(struct udk_dm_function *fn);
	void (*closed)(struct udk_dm_function *fn);
	/* Reset after the driver died (@why); DMA and interrupts are cleared. */
	void (*reset)(struct udk_dm_function *fn, const char *why);

	/*
	 * Functions that serve several drivers at once (a device whose parts
	 * each have a driver): with chan_message set, every OP_DM_CONNECT
	 * makes one more channel (struct dm_chan) instead of being refused
	 * while the function is open, and every request on a channel but
	 * OP_PING goes to chan_message (no interrupts or DMA of the core on
	 * such functions).  @req is udkd's connect request, with the
	 * family's keys.  chan_open returns <0 with udk_set_reason() to
	 * refuse; chan_closed runs when the driver closed it or died.
	 */
	int (*chan_open)(struct udk_dm_function *fn, struct dm_chan *c, const struct udk_value *req);
	void (*chan_message)(struct dm_chan *c, struct wire_msg *m);
	void (*chan_closed)(struct dm_chan *c);
	/*
	 * A request from udkd in the family's op range (>= OP_FAMILY_FIRST)
	 * for this function (body key "function": its index).  Answer with
	 * dm_udkd_reply() unless it is one-way.
	 */
	void (*udkd_message)(struct udk_dm_function *fn, struct wire_msg *m);
};

/* One driver's connection to a function of a kind with chan_message. */
struct dm_chan {
	struct udk_dm_function *fn;
	int fd;				/* written from any thread under lock */
	pthread_mutex_t lock;
	struct loop_source *src;
	pid_t client;
	uint64_t nub;			/* the service the driver opened */
	void *kind_data;
	struct dm_chan *next;
};

struct udk_dm_function {
	struct udk_dm *dm;
	unsigned index;
	uint64_t id;			/* the nub's registry id */
	const struct dm_kind *kind;
	void *kind_data;
	void *userdata;

	/* the driver's channel; the fd is written from any thread under chan_lock
	 * (kinds with chan_message: the list below instead) */
	pthread_mutex_t chan_lock;
	int chan;
	struct loop_source *chan_src;
	pid_t client;
	struct dm_chan *chans;

	/* interrupts */
	pthread_mutex_t irq_lock;
	struct proto_irq_page *irq_page;
	int irq_fd[PROTO_MAX_VECTORS];

	/* the IOMMU table, sorted by iova */
	pthread_rwlock_t iommu_lock;
	struct mapping **maps;
	size_t n_maps;
	uint64_t faults;
	/* udk_dm_dma_get() pointers still held (under iommu_lock) */
	struct held {
		uint8_t *ptr;
		struct mapping *m;
	} *held;
	size_t n_held;
};

/* Add a function of @kind to the model (before udk_dm_run()). */
int dm_function_new(struct udk_dm *dm, const struct dm_kind *kind, void *kind_data, void *userdata,
		    struct udk_dm_function **ret);
unsigned dm_function_count(struct udk_dm *dm);
/* Answer request @m on @fn's channel (@reason goes with a failure). */
void dm_chan_reply(struct udk_dm_function *fn, const struct wire_msg *m, int status, const char *reason,
		   const struct udk_value *body, const int *fds, unsigned n);
/* Send raw bytes on @fn's channel (a hot-path reply); no-op when closed. */
void dm_chan_send(struct udk_dm_function *fn, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
		  const void *payload, size_t len);
/* Reply / send on one channel of a kind with chan_message. */
void dm_chan_reply_on(struct dm_chan *c, const struct wire_msg *m, int status, const char *reason,
		      const struct udk_value *body, const int *fds, unsigned n);
int dm_chan_sendv(struct dm_chan *c, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
		  const struct iovec *iov, unsigned n_iov);
/* Close a channel from the model's side (its driver broke the protocol). */
void dm_chan_close(struct dm_chan *c);
/* Answer udkd's request @m (udkd_message). */
void dm_udkd_reply(struct udk_dm *dm, const struct wire_msg *m, int status, const char *reason,
		   const struct udk_value *body);
/* Tell udkd something (one-way, in the family's op range), from any thread of the model. */
int dm_udkd_send(struct udk_dm *dm, uint16_t op, const struct udk_value *body);
/* The model's main loop, for kinds that watch descriptors of their own. */
struct loop *dm_loop(struct udk_dm *dm);
/* Forget every DMA mapping / interrupt route of @fn (a reset). */
void dm_dma_clear(struct udk_dm_function *fn);
void dm_irq_clear(struct udk_dm_function *fn);

#endif
