/* SPDX-License-Identifier: MIT */
/*
 * private.h - libudk internals, one section per file.
 *
 *   rpc.c         request/reply over one socket, shared by many threads
 *   client.c      the connection to udkd: registry, notifications, open
 *   connection.c  user client connections: calls, memory, completions
 */
#ifndef UDK_CLIENT_PRIVATE_H
#define UDK_CLIENT_PRIVATE_H

#include <pthread.h>
#include <sys/uio.h>

#include <udk/client.h>

#include "wire.h"

/* ---- rpc.c ---- */

struct rpc_pending {
	struct rpc_pending *next;
	uint32_t serial;
	bool done;
	int status;
	struct wire_msg msg;	/* the reply */
	void *user;		/* owner's per-request state */
};

struct rpc;
/* A message that is not a reply; runs without the lock held. */
typedef void (*rpc_unsolicited_fn)(struct rpc *r, struct wire_msg *m);
/* The peer is gone; runs once, without the lock held. */
typedef void (*rpc_dead_fn)(struct rpc *r);

struct rpc {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool reader_busy;
	bool dead;
	int dead_status;	/* returned by every call after death */
	char dead_reason[1024];		/* as long as a reason can be (error.c) */
	struct rpc_pending *pending;
	uint32_t next_serial;
	rpc_unsolicited_fn unsolicited;
	rpc_dead_fn on_dead;
	void *owner;
	int recv_timeout_ms;	/* the socket's SO_RCVTIMEO (0: none), reader only */
};

void rpc_init(struct rpc *r, int fd, int dead_status, const char *dead_reason, rpc_unsolicited_fn fn,
	      rpc_dead_fn on_dead, void *owner);
void rpc_fini(struct rpc *r);
/*
 * Send a request and wait for its reply (timeout_ms < 0: forever).  On
 * success *ret holds the reply; its status is the call's result.  @user is
 * stored in the pending entry for unsolicited handlers to find.
 */
int rpc_call(struct rpc *r, uint16_t op, uint16_t flags, const struct iovec *iov, unsigned n_iov, const int *fds,
	     unsigned n_fds, int timeout_ms, void *user, struct wire_msg *ret);
/* Same with a udk_value body; returns the reply status, *ret_body the body. */
int rpc_call_value(struct rpc *r, uint16_t op, const struct udk_value *body, int timeout_ms,
		   struct udk_value **ret_body, int *ret_fd);
/* Read and route messages for up to @timeout_ms; returns messages handled. */
int rpc_pump(struct rpc *r, int timeout_ms);
/* Under r->lock: the pending entry for @serial that is not done, or NULL. */
struct rpc_pending *rpc_find_pending_locked(struct rpc *r, uint32_t serial);
void rpc_mark_dead(struct rpc *r, int status, const char *reason);
/* A request that travels elsewhere (the spin page) but whose serial the
 * peer may name in its own requests. */
void rpc_add_pending(struct rpc *r, struct rpc_pending *p);
void rpc_remove_pending(struct rpc *r, struct rpc_pending *p);

/* ---- buffer.c (lib/common) ---- */

int buffer_find_range(uint64_t addr, uint64_t len, struct udk_buffer **ret, uint64_t *ret_offset);
int udk_buffer_from_fd(int fd, bool writable, struct udk_buffer **ret);
int udk_buffer_get_fd(const struct udk_buffer *b);
int udk_buffer_peer_fd(const struct udk_buffer *b);

/* ---- client.c ---- */

/* A control request to udkd (udkctl uses these through the static lib). */
int udk_client_call(struct udk_client *c, uint16_t op, const struct udk_value *body, struct udk_value **ret_body);
int udk_client_default_runtime_dir(char *buf, size_t len);

/* ---- connection.c ---- */

/* Wrap the socket udkd brokered (takes @fd). */
int connection_new(int fd, uint64_t service, struct udk_connection **ret);

#endif
