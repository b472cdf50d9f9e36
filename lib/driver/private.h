/* SPDX-License-Identifier: MIT */
/*
 * private.h - the driver runtime's internals, one section per file.
 *
 *   runtime.c     udk_driver_main, the connection to udkd, its I/O thread
 *   queue.c       dispatch queues and timers
 *   service.c     service objects, properties, child services
 *   userclient.c  user client connections: calls, checks, completions
 *   memory.c      memory descriptors and client memory
 */
#ifndef UDK_DRIVER_PRIVATE_H
#define UDK_DRIVER_PRIVATE_H

#include <pthread.h>
#include <sys/types.h>

#include <udk/buffer.h>
#include <udk/driver.h>
#include <udk/userclient.h>

#include "loop.h"
#include "wire.h"

/* ---- queue.c ---- */

struct udk_queue {
	int refcount;
	char name[64];
	struct loop *loop;
	pthread_t thread;
	bool own_thread;	/* false for the default queue on the main thread */
	bool stopping;
	pid_t tid;
	/* udkd's watchdog (queue_watch): guarded by the watch lock in queue.c */
	struct udk_queue *watch_next;
	bool watched;
	uint64_t beat_posted_ns;	/* when the unanswered heartbeat was posted */
	bool beat_pending;		/* atomic: set when posted, cleared when it ran */
};

/*
 * The watchdog also covers @q (a queue that serves user clients): each
 * queue_watch_check() posts it a heartbeat block, and reports it when the
 * previous one has not run for @limit_ms.  A queue leaves the list when
 * its last reference goes.
 */
void queue_watch(struct udk_queue *q);
/* 1 and the queue's name and how long it waited when one is stuck, else 0. */
int queue_watch_check(uint64_t limit_ms, char *name, size_t len, uint64_t *ret_waited_ms);

/* The queue the calling thread runs, or NULL. */
struct udk_queue *queue_current(void);
/* Wrap the calling thread (main) as queue @name; run it with queue_run(). */
int queue_new_on_this_thread(const char *name, struct udk_queue **ret);
void queue_run(struct udk_queue *q);
struct loop *queue_loop(struct udk_queue *q);

/* ---- service.c ---- */

enum object_kind {
	OBJ_DRIVER,		/* an instance of a driver class (udkd started it) */
	OBJ_PROXY,		/* a service of another process, e.g. the provider */
	OBJ_NUB,		/* a child this driver published */
	OBJ_USER_CLIENT,	/* a user client */
};

struct uc_conn;

struct udk_service {
	int refcount;
	enum object_kind kind;
	uint64_t id;
	char *name;
	char *class_name;
	struct udk_value *classes;	/* the class chain udkd gave (most derived first), or NULL */
	const struct udk_class *cls;	/* NULL for proxies and plain nubs */
	void *ivars;
	pthread_mutex_t lock;
	struct udk_value *props;	/* under lock */
	struct udk_service *provider;	/* reference */
	struct udk_queue *queue;	/* default queue (reference) */
	struct udk_service *publisher;	/* nubs: the driver object that published it */
	bool started;
	bool terminated;
	bool power_pending;		/* set_power_state() returned UDK_POWER_ACK_LATER */
	uint32_t power_serial;		/* the request to acknowledge (under lock) */
	struct uc_conn *conn;		/* user clients */
	struct udk_service *next;	/* in the runtime's object list */
};

int service_object_new(enum object_kind kind, uint64_t id, const char *name, const char *class_name,
		       const struct udk_class *cls, const struct udk_value *props, struct udk_queue *queue,
		       struct udk_service **ret);
/* Find a live object by registry id (reference), or NULL. */
struct udk_service *object_by_id(uint64_t id);
const struct udk_class *class_by_name(const char *name);

/* ---- runtime.c ---- */

struct runtime {
	int sock;			/* to udkd */
	pthread_t io_thread;
	pthread_mutex_t lock;		/* pending, objects */
	struct rt_waiter *waiters;
	uint32_t next_serial;
	bool connected;
	const struct udk_class *const *classes;
	struct udk_queue *default_queue;
	struct udk_service *objects;
	int log_level;
	uint64_t next_local_id;		/* ids for user clients (not in the registry) */
};

extern struct runtime rt;

/* A request to udkd; waits for the reply.  Any thread. */
int rt_call(uint16_t op, struct udk_value *body, struct udk_value **ret_reply);
/* Same, taking the reply's first descriptor (or -1). */
int rt_call_fd(uint16_t op, struct udk_value *body, struct udk_value **ret_reply, int *ret_fd);
/* Same, taking up to @n (at most 2) descriptors of the reply (-1 when absent). */
int rt_call_fds(uint16_t op, struct udk_value *body, struct udk_value **ret_reply, int *ret_fds, unsigned n);
/* Send a reply on the udkd socket (request handlers). */
void rt_reply(uint16_t op, uint32_t serial, int status, struct udk_value *body);
/*
 * A family library takes the requests udkd sends in the family's op range
 * (daemon/family.h: op_base, op_count), e.g. "connect this channel".  @fn
 * runs on the I/O thread, must not block, owns @m (wire_msg_clear it) and
 * answers with rt_reply() unless the request is oneway.  -EBUSY when the
 * range overlaps one already taken.
 */
typedef void (*rt_family_fn)(struct wire_msg *m);
int rt_set_family_handler(uint16_t op_base, uint16_t op_count, rt_family_fn fn);

/* ---- userclient.c ---- */

/* Attach the app's socket @fd to a new user client @uc (takes @fd). */
int uc_attach(struct udk_service *uc, int fd, pid_t pid, uid_t uid);
/* udkd revoked the app's access: tell the app why and close (any thread). */
void uc_revoke(uint64_t object, const char *reason);
/* The same, the app's calls failing with @code (0: UDK_E_REVOKED), e.g. UDK_E_DRIVER_REPLACED during an upgrade. */
void uc_revoke_code(uint64_t object, const char *reason, int code);

/* The call being served on this thread (memory.c needs it). */
struct call_ctx {
	struct uc_conn *conn;
	struct udk_service *client;
	uint32_t serial;
	bool async;
	struct call_ctx *outer;
};
struct call_ctx *uc_current_call(void);
/* Send a request to the app and wait for its reply on the same socket. */
int uc_request(struct uc_conn *c, uint16_t op, struct udk_value *body, struct wire_msg *ret_reply);
int uc_conn_fd(struct uc_conn *c);
struct shared_map;
/* The connection's cache of the app's buffers, mapped (memory.c). */
struct shared_map **uc_conn_map_cache(struct uc_conn *c);

/* ---- memory.c ---- */

void map_cache_clear(struct shared_map **cache);
/* The memfd behind @md and where @md starts in it (borrowed fd). */
int md_backing(struct udk_memory_descriptor *md, int *ret_fd, uint64_t *ret_offset);
/* Where @md's bytes are mapped in this process. */
uint8_t *md_address(struct udk_memory_descriptor *md);
/* A descriptor over @len bytes of memfd @fd at @offset (takes @fd). */
int md_from_fd(int fd, uint64_t offset, uint64_t len, uint32_t direction, bool writable,
	       struct udk_memory_descriptor **ret);

/* ---- buffer.c (lib/common) ---- */

int udk_buffer_from_fd(int fd, bool writable, struct udk_buffer **ret);
int udk_buffer_get_fd(const struct udk_buffer *b);
/* A descriptor the peer may map: read-only when the buffer says so. */
int udk_buffer_peer_fd(const struct udk_buffer *b);

#endif
