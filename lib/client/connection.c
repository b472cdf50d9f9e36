/* SPDX-License-Identifier: MIT */
/*
 * connection.c - a user client, from the app's side.
 *
 * Calls go straight to the driver process.  While a call is out, the
 * driver may ask for the app's memory (OP_UC_MEMORY).  libudk answers:
 *
 *   - a range inside a udk_buffer this process maps: that buffer's memfd
 *     and the offset, no copy;
 *   - otherwise a fresh memfd holding a copy of the ranges.  Every range is
 *     checked by the kernel (pwrite/pread report EFAULT for addresses the
 *     app cannot read or write), so a bad address becomes UDK_E_BAD_ADDRESS,
 *     never a crash.  For directions the driver writes (IN, INOUT) the copy
 *     goes back into the app's memory before the call returns to the caller
 *     (for async calls: before the completion callback runs).  For OUT the
 *     memfd is sealed against writes, so the driver cannot write at all.
 *
 * The driver only gets an answer while the call it names is still waiting
 * for its reply, so it cannot reach the app's memory outside a call; and
 * only for ranges the app exposed for that call (the structures it passed
 * and udk_call_args.ranges), so it cannot reach the rest of the app's
 * memory during one either.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <udk/ring.h>

#include "buf.h"
#include "private.h"
#include "proto.h"
#include "ring-private.h"
#include "value-private.h"
#include "util.h"

struct copyback {
	struct copyback *next;
	int fd;			/* the memfd the driver wrote */
	uint32_t n;
	struct udk_address_segment segs[PROTO_MAX_SEGMENTS];
};

/* App memory exposed for one call (client.h: struct udk_memory_range). */
struct exposed {
	uint64_t address, length;
	bool writable;
};

#define MAX_EXPOSED (UDK_MAX_CALL_RANGES + 2)

struct call_state {
	struct copyback *copybacks;
	bool async;
	uint64_t async_ref;
	struct exposed exposed[MAX_EXPOSED];
	unsigned n_exposed;
};

struct async_op {
	struct async_op *next;
	uint64_t ref;
	udk_async_fn fn;
	void *userdata;
	struct copyback *copybacks;
	bool replied;		/* the immediate reply came back */
};

struct completion {
	struct completion *next;
	udk_async_fn fn;
	void *userdata;
	int status;
	uint32_t count;
	uint64_t values[PROTO_MAX_SCALARS];
};

/*
 * What a mapped data queue knows of its connection (ring_set_peer): the
 * ring may outlive the connection, so it holds this, not the connection.
 */
struct conn_peer {
	int refcount;
	pthread_mutex_t lock;
	struct udk_connection *conn;	/* NULL once the connection is freed */
	int status;			/* then: why it ended */
	char reason[1024];
};

struct udk_connection {
	int refcount;
	struct rpc rpc;
	uint64_t service;
	int timeout_ms;
	pthread_mutex_t lock;		/* asyncs, completions */
	struct async_op *asyncs;
	struct completion *done, **done_tail;
	uint64_t next_async;
	bool closed;
	/* spin mode: sync calls through a shared page */
	pthread_mutex_t spin_lock;
	struct proto_spin_page *spin;
	int spin_req_bell, spin_rep_bell;
	uint32_t spin_seq;
	bool spin_on;
	uint32_t spin_budget;
	struct conn_peer *peer;		/* shared with mapped data queues, or NULL */
};

static void
copybacks_apply(struct copyback *cb)
{
	while (cb) {
		struct copyback *next = cb->next;
		uint64_t off = 0;

		for (uint32_t i = 0; i < cb->n; i++) {
			/* EFAULT here means the app unmapped its buffer mid-call */
			ssize_t n = pread(cb->fd, (void *)(uintptr_t)cb->segs[i].address, cb->segs[i].length, (off_t)off);
			(void)n;
			off += cb->segs[i].length;
		}
		close(cb->fd);
		free(cb);
		cb = next;
	}
}

static void
copybacks_drop(struct copyback *cb)
{
	while (cb) {
		struct copyback *next = cb->next;
		close(cb->fd);
		free(cb);
		cb = next;
	}
}

static void
queue_completion(struct udk_connection *conn, udk_async_fn fn, void *userdata, int status, const uint64_t *values,
		 uint32_t count)
{
	struct completion *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	c->fn = fn;
	c->userdata = userdata;
	c->status = status;
	c->count = MIN(count, PROTO_MAX_SCALARS);
	if (values && c->count)
		memcpy(c->values, values, 8u * c->count);
	pthread_mutex_lock(&conn->lock);
	*conn->done_tail = c;
	conn->done_tail = &c->next;
	pthread_mutex_unlock(&conn->lock);
}

/* ---- the driver asks for memory ---- */

static void
memory_reply_error(struct udk_connection *conn, uint32_t serial, int status, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
memory_reply_error(struct udk_connection *conn, uint32_t serial, int status, const char *fmt, ...)
{
	struct udk_value *b = udk_value_new_dict();
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	udk_dict_set_string(b, "reason", why);
	wire_send_value(conn->rpc.fd, OP_UC_MEMORY, WIRE_F_REPLY, serial, status, b, NULL, 0);
	udk_value_unref(b);
}

static void
handle_memory(struct udk_connection *conn, struct wire_msg *m)
{
	uint32_t call = (uint32_t)udk_value_get_uint(udk_dict_get(m->body, "call"), 0);
	int64_t direction = udk_dict_get_int(m->body, "direction", 0);
	struct udk_value *list = udk_dict_get(m->body, "segments");
	struct udk_address_segment segs[PROTO_MAX_SEGMENTS];
	uint32_t n = (uint32_t)udk_array_size(list);
	struct rpc_pending *p;
	struct call_state *cs;
	struct udk_buffer *buf = NULL;
	uint64_t total = 0, boff = 0;
	struct udk_value *body;
	struct exposed exposed[MAX_EXPOSED];
	unsigned n_exposed = 0;
	int fd = -1;

	if (udk_value_get_type(m->body) != UDK_VALUE_DICT || m->n_fds) {
		memory_reply_error(conn, m->h.serial, -UDK_E_PROTOCOL, "malformed memory request");
		return;
	}
	if (direction < UDK_MEMORY_DIRECTION_IN || direction > UDK_MEMORY_DIRECTION_INOUT || n == 0 ||
	    n > PROTO_MAX_SEGMENTS) {
		memory_reply_error(conn, m->h.serial, -EINVAL, "bad direction or segment count");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct udk_value *s = udk_array_get(list, i);
		segs[i].address = udk_value_get_uint(udk_array_get(s, 0), 0);
		segs[i].length = udk_value_get_uint(udk_array_get(s, 1), 0);
		if (segs[i].length == 0 || segs[i].address + segs[i].length < segs[i].address ||
		    __builtin_add_overflow(total, segs[i].length, &total) || total > WIRE_MAX_LARGE * 64ull) {
			memory_reply_error(conn, m->h.serial, -UDK_E_BAD_ADDRESS,
					   "segment %u (0x%llx, %llu bytes) is empty, wraps around or is too large", i,
					   (unsigned long long)segs[i].address, (unsigned long long)segs[i].length);
			return;
		}
	}

	/* only for a call of ours that is still waiting for its reply ... */
	pthread_mutex_lock(&conn->rpc.lock);
	p = rpc_find_pending_locked(&conn->rpc, call);
	cs = p ? p->user : NULL;
	if (cs) {
		/* the call's state lives on its caller's stack: copy while it waits */
		n_exposed = cs->n_exposed;
		memcpy(exposed, cs->exposed, sizeof(exposed[0]) * n_exposed);
	}
	pthread_mutex_unlock(&conn->rpc.lock);
	if (!cs) {
		memory_reply_error(conn, m->h.serial, -EPERM,
				   "the app answers memory requests only for a call that is still in progress");
		return;
	}
	/* ... and only inside what the app exposed for it */
	for (uint32_t i = 0; i < n; i++) {
		const struct exposed *x = NULL;
		for (unsigned k = 0; k < n_exposed && !x; k++)
			if (segs[i].address >= exposed[k].address &&
			    segs[i].address - exposed[k].address <= exposed[k].length &&
			    segs[i].length <= exposed[k].length - (segs[i].address - exposed[k].address))
				x = &exposed[k];
		if (!x) {
			memory_reply_error(conn, m->h.serial, -UDK_E_BAD_ADDRESS,
					   "segment %u (0x%llx, %llu bytes) lies outside the memory the app exposed for "
					   "this call: an app exposes a buffer it passes by address in "
					   "udk_call_args.ranges (udk_connection_call_args)",
					   i, (unsigned long long)segs[i].address, (unsigned long long)segs[i].length);
			return;
		}
		if ((direction & UDK_MEMORY_DIRECTION_IN) && !x->writable) {
			memory_reply_error(conn, m->h.serial, -UDK_E_DIRECTION,
					   "segment %u (0x%llx, %llu bytes) lies in memory the app exposed read-only "
					   "(UDK_MEMORY_DIRECTION_OUT), but the driver asked to write it",
					   i, (unsigned long long)segs[i].address, (unsigned long long)segs[i].length);
			return;
		}
	}

	body = udk_value_new_dict();
	if (n == 1 && buffer_find_range(segs[0].address, segs[0].length, &buf, &boff) == 0) {
		/* zero copy: the range lives in a shared buffer */
		fd = udk_buffer_peer_fd(buf);
		udk_buffer_unref(buf);
		if (fd < 0) {
			udk_value_unref(body);
			memory_reply_error(conn, m->h.serial, fd, "cannot share the buffer");
			return;
		}
		udk_dict_set_uint(body, "offset", boff);
		udk_dict_set_uint(body, "length", segs[0].length);
		udk_dict_set_string(body, "kind", "shared");
	} else {
		uint64_t off = 0;
		int seals = F_SEAL_SHRINK | F_SEAL_GROW;

		fd = memfd_create("udk-client-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)total) < 0) {
			int e = -errno;
			if (fd >= 0)
				close(fd);
			udk_value_unref(body);
			memory_reply_error(conn, m->h.serial, e, "cannot create a memfd of %llu bytes",
					   (unsigned long long)total);
			return;
		}
		for (uint32_t i = 0; i < n; i++) {
			void *a = (void *)(uintptr_t)segs[i].address;
			/* the kernel checks the range: EFAULT instead of a crash */
			if (pwrite(fd, a, segs[i].length, (off_t)off) != (ssize_t)segs[i].length) {
				close(fd);
				udk_value_unref(body);
				memory_reply_error(conn, m->h.serial, -UDK_E_BAD_ADDRESS,
						   "segment %u (0x%llx, %llu bytes) is not readable memory of the app",
						   i, (unsigned long long)segs[i].address,
						   (unsigned long long)segs[i].length);
				return;
			}
			if ((direction & UDK_MEMORY_DIRECTION_IN) &&
			    pread(fd, a, segs[i].length, (off_t)off) != (ssize_t)segs[i].length) {
				/* writes the same bytes back: fails only if not writable */
				close(fd);
				udk_value_unref(body);
				memory_reply_error(conn, m->h.serial, -UDK_E_BAD_ADDRESS,
						   "segment %u (0x%llx, %llu bytes) is not writable memory of the app, "
						   "but the driver asked to write it",
						   i, (unsigned long long)segs[i].address,
						   (unsigned long long)segs[i].length);
				return;
			}
			off += segs[i].length;
		}
		if (!(direction & UDK_MEMORY_DIRECTION_IN))
			seals |= F_SEAL_WRITE;
		if (fcntl(fd, F_ADD_SEALS, seals) < 0) {
			close(fd);
			udk_value_unref(body);
			memory_reply_error(conn, m->h.serial, -errno, "cannot seal the memfd");
			return;
		}
		if (direction & UDK_MEMORY_DIRECTION_IN) {
			struct copyback *cb = calloc(1, sizeof(*cb));
			if (!cb || (cb->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
				free(cb);
				close(fd);
				udk_value_unref(body);
				memory_reply_error(conn, m->h.serial, -ENOMEM, "out of memory");
				return;
			}
			cb->n = n;
			memcpy(cb->segs, segs, sizeof(segs[0]) * n);
			pthread_mutex_lock(&conn->rpc.lock);
			p = rpc_find_pending_locked(&conn->rpc, call);
			if (p && p->user == cs) {
				cb->next = cs->copybacks;
				cs->copybacks = cb;
				cb = NULL;
			}
			pthread_mutex_unlock(&conn->rpc.lock);
			if (cb) {
				/* the call finished meanwhile */
				close(cb->fd);
				free(cb);
				close(fd);
				udk_value_unref(body);
				memory_reply_error(conn, m->h.serial, -EPERM, "the call is no longer in progress");
				return;
			}
		}
		udk_dict_set_uint(body, "offset", 0);
		udk_dict_set_uint(body, "length", total);
		udk_dict_set_string(body, "kind", "copy");
	}
	wire_send_value(conn->rpc.fd, OP_UC_MEMORY, WIRE_F_REPLY, m->h.serial, 0, body, &fd, 1);
	close(fd);
	udk_value_unref(body);
}

static void
handle_completion(struct udk_connection *conn, struct wire_msg *m)
{
	struct proto_completion pc;
	uint64_t values[PROTO_MAX_SCALARS];
	struct async_op *op = NULL;

	if (m->len < sizeof(pc))
		return;
	memcpy(&pc, m->payload, sizeof(pc));
	if (pc.count > PROTO_MAX_SCALARS || m->len != sizeof(pc) + 8u * pc.count)
		return;
	memcpy(values, m->payload + sizeof(pc), 8u * pc.count);
	pthread_mutex_lock(&conn->lock);
	for (struct async_op **pp = &conn->asyncs; *pp; pp = &(*pp)->next)
		if ((*pp)->ref == pc.async_ref && (*pp)->replied) {
			op = *pp;
			*pp = op->next;
			break;
		}
	pthread_mutex_unlock(&conn->lock);
	if (!op)
		return; /* unknown or duplicate: a driver cannot complete twice */
	copybacks_apply(op->copybacks);
	queue_completion(conn, op->fn, op->userdata, pc.status, values, pc.count);
	free(op);
}

static void
on_unsolicited(struct rpc *r, struct wire_msg *m)
{
	struct udk_connection *conn = r->owner;

	switch (m->h.op) {
	case OP_UC_MEMORY:
		handle_memory(conn, m);
		break;
	case OP_UC_COMPLETION:
		handle_completion(conn, m);
		break;
	default:
		break;
	}
}

static void
on_dead(struct rpc *r)
{
	struct udk_connection *conn = r->owner;
	struct async_op *ops;

	pthread_mutex_lock(&conn->lock);
	ops = conn->asyncs;
	conn->asyncs = NULL;
	pthread_mutex_unlock(&conn->lock);
	while (ops) {
		struct async_op *next = ops->next;
		copybacks_drop(ops->copybacks);
		queue_completion(conn, ops->fn, ops->userdata, r->dead_status, NULL, 0);
		free(ops);
		ops = next;
	}
}

int
connection_new(int fd, uint64_t service, struct udk_connection **ret)
{
	struct udk_connection *conn = calloc(1, sizeof(*conn));

	if (!conn) {
		close(fd);
		return -ENOMEM;
	}
	conn->refcount = 1;
	conn->service = service;
	conn->done_tail = &conn->done;
	conn->next_async = 1;
	pthread_mutex_init(&conn->lock, NULL);
	pthread_mutex_init(&conn->spin_lock, NULL);
	conn->spin_req_bell = conn->spin_rep_bell = -1;
	rpc_init(&conn->rpc, fd, -UDK_E_DRIVER_DIED,
		 "the driver process died or closed the connection; wait for the service to return (an arrival "
		 "notification) and open it again",
		 on_unsolicited, on_dead, conn);
	*ret = conn;
	return 0;
}

UDK_EXPORT struct udk_connection *
udk_connection_ref(struct udk_connection *conn)
{
	if (conn)
		__atomic_add_fetch(&conn->refcount, 1, __ATOMIC_RELAXED);
	return conn;
}

UDK_EXPORT int
udk_connection_close(struct udk_connection *conn)
{
	struct wire_msg m;
	bool busy;
	int r;

	udk_return_val_if_fail(conn, -EINVAL);
	if (conn->closed)
		return 0;
	conn->closed = true;
	pthread_mutex_lock(&conn->rpc.lock);
	busy = conn->rpc.pending != NULL;
	pthread_mutex_unlock(&conn->rpc.lock);
	/*
	 * Synchronous: the driver answers once its client_closed() and stop()
	 * have run, so what this user client held (an exclusive open, say) is
	 * free when we return and a new open cannot find it busy.  A dead
	 * driver answers at once (the call fails); a hung one is bounded by
	 * the connection's timeout, else by udkd's watchdog, which kills it.
	 * With calls still out on other threads, closing is how an app
	 * cancels them: they fail at once, and the driver cleans up after
	 * the method it runs returns.
	 */
	if (!busy) {
		r = rpc_call(&conn->rpc, OP_UC_CLOSE, 0, NULL, 0, NULL, 0, conn->timeout_ms > 0 ? conn->timeout_ms : -1,
			     NULL, &m);
		if (r >= 0)
			wire_msg_clear(&m);
	}
	rpc_mark_dead(&conn->rpc, -UDK_E_TERMINATED, "the connection was closed by the app");
	/* whatever ended it first, from now on it is closed by the app */
	pthread_mutex_lock(&conn->rpc.lock);
	conn->rpc.dead_status = -UDK_E_TERMINATED;
	snprintf(conn->rpc.dead_reason, sizeof(conn->rpc.dead_reason), "%s",
		 "the connection was closed by the app; open the service again for a new one");
	pthread_mutex_unlock(&conn->rpc.lock);
	return 0;
}

/* ---- what mapped data queues learn when the driver goes ---- */

static void
peer_unref(void *data)
{
	struct conn_peer *p = data;

	if (!p || __atomic_sub_fetch(&p->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The ring saw the connection hang up: read what is left on it (a notice
 * from udkd saying why, e.g. the hardware was removed), then say why. */
static int
peer_gone(void *data)
{
	struct conn_peer *p = data;
	char why[sizeof(p->reason)];
	int status;

	pthread_mutex_lock(&p->lock);
	if (p->conn) {
		struct rpc *r = &p->conn->rpc;
		for (int i = 0; i < 64 && !r->dead; i++)
			if (rpc_pump(r, 0) <= 0 && !r->dead) {
				/* hung up with nothing left to read: the next read sees EOF */
				rpc_pump(r, 100);
				if (!r->dead)
					break;
			}
		pthread_mutex_lock(&r->lock);
		p->status = r->dead ? r->dead_status : -UDK_E_DRIVER_DIED;
		snprintf(p->reason, sizeof(p->reason), "%s", r->dead ? r->dead_reason : "");
		pthread_mutex_unlock(&r->lock);
	}
	status = p->status;
	snprintf(why, sizeof(why), "%s", p->reason);
	pthread_mutex_unlock(&p->lock);
	if (status >= 0)
		status = -UDK_E_DRIVER_DIED;
	return udk_set_reason(status, "this data queue's connection ended: %s",
			      why[0] ? why : "the driver process died or closed the connection");
}

UDK_EXPORT struct udk_connection *
udk_connection_unref(struct udk_connection *conn)
{
	if (!conn || __atomic_sub_fetch(&conn->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	udk_connection_close(conn);
	if (conn->peer) {
		/* rings that outlive us keep the reason, not the connection */
		pthread_mutex_lock(&conn->peer->lock);
		pthread_mutex_lock(&conn->rpc.lock);
		conn->peer->status = conn->rpc.dead_status;
		snprintf(conn->peer->reason, sizeof(conn->peer->reason), "%s", conn->rpc.dead_reason);
		pthread_mutex_unlock(&conn->rpc.lock);
		conn->peer->conn = NULL;
		pthread_mutex_unlock(&conn->peer->lock);
		peer_unref(conn->peer);
	}
	rpc_fini(&conn->rpc);
	while (conn->done) {
		struct completion *c = conn->done;
		conn->done = c->next;
		free(c);
	}
	while (conn->asyncs) {
		struct async_op *op = conn->asyncs;
		conn->asyncs = op->next;
		copybacks_drop(op->copybacks);
		free(op);
	}
	if (conn->spin) {
		munmap(conn->spin, sizeof(*conn->spin));
		close(conn->spin_req_bell);
		close(conn->spin_rep_bell);
	}
	pthread_mutex_destroy(&conn->spin_lock);
	pthread_mutex_destroy(&conn->lock);
	free(conn);
	return NULL;
}

UDK_EXPORT int
udk_connection_set_timeout(struct udk_connection *conn, int ms)
{
	udk_return_val_if_fail(conn && ms >= 0, -EINVAL);
	conn->timeout_ms = ms;
	return 0;
}

UDK_EXPORT uint64_t
udk_connection_get_service(const struct udk_connection *conn)
{
	return conn ? conn->service : 0;
}

UDK_EXPORT int
udk_connection_get_fd(struct udk_connection *conn)
{
	return conn ? conn->rpc.fd : -EINVAL;
}

/* ---- spin mode ---- */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

UDK_EXPORT int
udk_connection_set_spin(struct udk_connection *conn, bool spin)
{
	struct proto_spin_page *sp;
	struct wire_msg m;
	int fds[3] = { -1, -1, -1 }, r;

	udk_return_val_if_fail(conn, -EINVAL);
	pthread_mutex_lock(&conn->spin_lock);
	if (!spin || conn->spin) {
		conn->spin_on = spin && conn->spin;
		pthread_mutex_unlock(&conn->spin_lock);
		return 0;
	}
	fds[0] = memfd_create("udk-spin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || ftruncate(fds[0], sizeof(*sp)) < 0 ||
	    fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto fail;
	}
	sp = mmap(NULL, sizeof(*sp), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (sp == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	sp->magic = PROTO_SPIN_MAGIC;
	sp->version = 1;
	r = rpc_call(&conn->rpc, OP_UC_SPIN, 0, NULL, 0, fds, 3, conn->timeout_ms > 0 ? conn->timeout_ms : -1, NULL,
		     &m);
	if (r >= 0) {
		r = m.h.status;
		wire_msg_clear(&m);
	}
	if (r < 0) {
		munmap(sp, sizeof(*sp));
		goto fail;
	}
	close(fds[0]);
	conn->spin = sp;
	conn->spin_req_bell = fds[1];
	conn->spin_rep_bell = fds[2];
	conn->spin_on = true;
	conn->spin_budget = 1u << 16;
	pthread_mutex_unlock(&conn->spin_lock);
	return 0;
fail:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_unlock(&conn->spin_lock);
	return r;
}

/*
 * One synchronous call through the spin page.  Called with spin_lock held.
 * The reply (proto_call_reply + payload) is copied into *@out (malloc'ed,
 * its length and a NUL: like a reply from the socket, a reply lost to
 * ENOMEM was served).
 */
static int
spin_call(struct udk_connection *conn, const struct iovec *iov, unsigned n_iov, struct call_state *cs,
	  uint8_t **out, uint32_t *out_len, int *status)
{
	struct proto_spin_page *sp = conn->spin;
	struct rpc_pending pend = { .user = cs };
	uint64_t deadline = conn->timeout_ms > 0 ? now_ms() + (uint64_t)conn->timeout_ms : 0;
	uint32_t seq, len = 0;
	int r = 0;

	for (unsigned i = 0; i < n_iov; i++) {
		memcpy(sp->req + len, iov[i].iov_base, iov[i].iov_len);
		len += (uint32_t)iov[i].iov_len;
	}
	seq = ++conn->spin_seq;
	pend.serial = PROTO_SPIN_SERIAL | (seq & 0x3fffffffu);
	/* memory requests during the call name this serial */
	rpc_add_pending(&conn->rpc, &pend);
	sp->req_len = len;
	/* store-release paired with the driver's load-acquire in spin_poll():
	 * the request is written before it is published */
	atomic_store_explicit(&sp->req_seq, seq, memory_order_release);
	/* full fence paired with the driver's in spin_sleeping() */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&sp->driver_waiting, memory_order_relaxed)) {
		uint64_t one = 1;
		if (write(conn->spin_req_bell, &one, sizeof(one)) < 0) {
			/* saturated: the driver is being woken anyway */
		}
	}
	for (;;) {
		bool got = false;

		for (uint32_t i = 1; i <= conn->spin_budget; i++) {
			/* load-acquire paired with the driver's store-release of
			 * rep_seq in spin_reply() */
			if (atomic_load_explicit(&sp->rep_seq, memory_order_acquire) == seq) {
				got = true;
				break;
			}
			if ((i & 1023) == 0) {
				/* memory requests and death notices come on the socket */
				rpc_pump(&conn->rpc, 0);
				if (conn->rpc.dead)
					break;
			}
			cpu_relax();
		}
		if (got)
			break;
		if (conn->rpc.dead) {
			r = conn->rpc.dead_status;
			udk_set_reason_str(conn->rpc.dead_reason);
			break;
		}
		atomic_store_explicit(&sp->app_waiting, 1, memory_order_relaxed);
		/* full fence paired with the driver's after it publishes rep_seq */
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&sp->rep_seq, memory_order_acquire) != seq) {
			struct pollfd pfd[2] = { { conn->spin_rep_bell, POLLIN, 0 }, { conn->rpc.fd, POLLIN, 0 } };
			int timeout = 1000;
			uint64_t v;
			if (deadline) {
				uint64_t now = now_ms();
				if (now >= deadline) {
					atomic_store_explicit(&sp->app_waiting, 0, memory_order_relaxed);
					r = udk_set_reason(-UDK_E_DEADLINE, "no answer within %d ms", conn->timeout_ms);
					/* the page is out of step now: stop spinning */
					conn->spin_on = false;
					break;
				}
				timeout = (int)MIN(deadline - now, 1000u);
			}
			poll(pfd, 2, timeout);
			if (read(conn->spin_rep_bell, &v, sizeof(v)) < 0) {
				/* not rung */
			}
			if (pfd[1].revents)
				rpc_pump(&conn->rpc, 0);
		}
		atomic_store_explicit(&sp->app_waiting, 0, memory_order_relaxed);
	}
	rpc_remove_pending(&conn->rpc, &pend);
	if (r < 0)
		return r;
	len = sp->rep_len;
	if (len > PROTO_SPIN_AREA)
		return udk_set_reason(-UDK_E_PROTOCOL, "the driver's spin reply is longer than its slot");
	/* the reply's own size, not the slot's: small replies come from malloc's per-thread cache */
	*out = malloc(len + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, sp->rep, len);
	(*out)[len] = 0;
	*out_len = len;
	*status = sp->rep_status;
	return 0;
}

/* Add [@p, @p + @len) to what the driver may reach during the call. */
static int
expose(struct call_state *cs, const void *p, uint64_t len, bool writable)
{
	uint64_t a = (uint64_t)(uintptr_t)p;

	if (!len)
		return 0;
	if (!p || a + len < a)
		return udk_set_reason(-EINVAL, "an exposed range (%p, %llu bytes) is empty or wraps around", p,
				      (unsigned long long)len);
	if (cs->n_exposed >= MAX_EXPOSED)
		return udk_set_reason(-EINVAL, "at most %d ranges can be exposed for one call", UDK_MAX_CALL_RANGES);
	cs->exposed[cs->n_exposed++] = (struct exposed){ a, len, writable };
	return 0;
}

static int
call_common(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in, const void *sin,
	    size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout, size_t *sout_len,
	    const struct udk_memory_range *ranges, uint32_t n_ranges, struct async_op *op)
{
	struct proto_call pc = { 0 };
	struct call_state cs = { 0 };
	struct iovec iov[3];
	unsigned n_iov = 0, n_fds = 0;
	int fds[2] = { -1, -1 };
	size_t out_cap = sout_len ? *sout_len : 0;
	uint32_t scalar_cap = n_out ? *n_out : 0;
	struct wire_msg reply;
	int r;

	udk_return_val_if_fail(conn, -EINVAL);
	udk_return_val_if_fail(n_in <= PROTO_MAX_SCALARS && (in || !n_in), -UDK_E_SCALAR_COUNT);
	udk_return_val_if_fail(scalar_cap <= PROTO_MAX_SCALARS && (out || !scalar_cap), -UDK_E_SCALAR_COUNT);
	udk_return_val_if_fail((sin || !sin_len) && (sout || !out_cap), -EINVAL);
	udk_return_val_if_fail(n_ranges <= UDK_MAX_CALL_RANGES && (ranges || !n_ranges), -EINVAL);
	if (sin_len > UINT32_MAX || out_cap > UINT32_MAX)
		return udk_set_reason(-E2BIG, "structures larger than 4 GiB go through a udk_buffer");
	udk_clear_reason();
	/* what the driver may map: the structures passed, and the ranges */
	if ((r = expose(&cs, sin, sin_len, false)) < 0 || (r = expose(&cs, sout, out_cap, true)) < 0)
		return r;
	for (uint32_t i = 0; i < n_ranges; i++) {
		uint32_t dir = ranges[i].direction;
		if (dir < UDK_MEMORY_DIRECTION_IN || dir > UDK_MEMORY_DIRECTION_INOUT)
			return udk_set_reason(-EINVAL, "range %u: direction must be UDK_MEMORY_DIRECTION_IN, OUT or INOUT",
					      i);
		if (!ranges[i].length)
			return udk_set_reason(-EINVAL, "range %u is empty", i);
		if ((r = expose(&cs, ranges[i].address, ranges[i].length, dir & UDK_MEMORY_DIRECTION_IN)) < 0)
			return r;
	}

	pc.selector = selector;
	pc.scalar_in_count = n_in;
	pc.scalar_out_max = scalar_cap;
	pc.struct_in_size = (uint32_t)sin_len;
	pc.struct_out_max = (uint32_t)out_cap;
	if (sin_len > PROTO_MAX_INLINE_STRUCT) {
		fds[n_fds] = memfd_from_bytes("udk-struct-in", sin, sin_len);
		if (fds[n_fds] < 0)
			return fds[n_fds];
		n_fds++;
		pc.flags |= CALL_F_STRUCT_IN_FD;
	}
	if (out_cap > PROTO_MAX_INLINE_STRUCT) {
		int fd = memfd_create("udk-struct-out", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)out_cap) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			if (n_fds)
				close(fds[0]);
			return r;
		}
		fds[n_fds++] = fd;
		pc.flags |= CALL_F_STRUCT_OUT_FD;
	}
	if (op) {
		pc.flags |= CALL_F_ASYNC;
		pc.async_ref = op->ref;
		cs.async = true;
		cs.async_ref = op->ref;
	}
	iov[n_iov++] = (struct iovec){ &pc, sizeof(pc) };
	if (n_in)
		iov[n_iov++] = (struct iovec){ (void *)in, 8u * n_in };
	if (sin_len && !(pc.flags & CALL_F_STRUCT_IN_FD))
		iov[n_iov++] = (struct iovec){ (void *)sin, sin_len };

	if (conn->spin_on && !op && n_fds == 0) {
		uint8_t *buf = NULL;
		uint32_t blen = 0;
		int st = 0;
		pthread_mutex_lock(&conn->spin_lock);
		r = conn->spin_on ? spin_call(conn, iov, n_iov, &cs, &buf, &blen, &st) : -EAGAIN;
		pthread_mutex_unlock(&conn->spin_lock);
		if (r == -EAGAIN) {
			free(buf);
			goto socket;
		}
		if (r < 0) {
			free(buf);
			copybacks_drop(cs.copybacks);
			return r;
		}
		/* the same reply the socket would carry */
		wire_msg_init(&reply);
		reply.h.status = st;
		reply.payload = buf;
		reply.len = blen;
		buf[blen] = 0;
		goto decode;
	}
socket:
	r = rpc_call(&conn->rpc, OP_UC_CALL, 0, iov, n_iov, fds, n_fds, conn->timeout_ms > 0 ? conn->timeout_ms : -1,
		     &cs, &reply);
	if (pc.flags & CALL_F_STRUCT_IN_FD)
		close(fds[0]);
	if (r < 0) {
		copybacks_drop(cs.copybacks);
		if (pc.flags & CALL_F_STRUCT_OUT_FD)
			close(fds[n_fds - 1]);
		return r;
	}
decode:
	r = reply.h.status;
	if (r < 0) {
		/* the reason follows the fixed part */
		if (reply.len > sizeof(struct proto_call_reply)) {
			const char *why = (const char *)reply.payload + sizeof(struct proto_call_reply);
			size_t wl = reply.len - sizeof(struct proto_call_reply);
			if (memchr(why, '\0', wl))
				udk_set_reason_str(why);
		}
		copybacks_drop(cs.copybacks);
	} else {
		struct proto_call_reply rep;
		size_t inline_cap = (pc.flags & CALL_F_STRUCT_OUT_FD) ? 0 : out_cap;
		r = proto_call_reply_decode(reply.payload, reply.len, scalar_cap, inline_cap, &rep);
		if (r >= 0) {
			{
				if (rep.scalar_out_count)
					memcpy(out, reply.payload + sizeof(rep), 8u * rep.scalar_out_count);
				if (n_out)
					*n_out = rep.scalar_out_count;
				if (pc.flags & CALL_F_STRUCT_OUT_FD) {
					if (pread(fds[n_fds - 1], sout, out_cap, 0) != (ssize_t)out_cap)
						r = udk_set_reason(-EIO, "cannot read the large output back");
				} else {
					if (rep.struct_out_size)
						memcpy(sout, reply.payload + sizeof(rep) + 8u * rep.scalar_out_count,
						       rep.struct_out_size);
					if (sout_len)
						*sout_len = rep.struct_out_size;
				}
			}
		}
		if (op && r >= 0) {
			/* memory the driver writes lands when it completes */
			pthread_mutex_lock(&conn->lock);
			op->copybacks = cs.copybacks;
			op->replied = true;
			pthread_mutex_unlock(&conn->lock);
		} else {
			copybacks_apply(cs.copybacks);
		}
	}
	if (pc.flags & CALL_F_STRUCT_OUT_FD)
		close(fds[n_fds - 1]);
	wire_msg_clear(&reply);
	return r;
}

UDK_EXPORT int
udk_connection_call(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in,
		    const void *sin, size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout, size_t *sout_len)
{
	return call_common(conn, selector, in, n_in, sin, sin_len, out, n_out, sout, sout_len, NULL, 0, NULL);
}

static int
call_async(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in, const void *sin,
	   size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout, size_t *sout_len,
	   const struct udk_memory_range *ranges, uint32_t n_ranges, udk_async_fn fn, void *userdata)
{
	struct async_op *op;
	int r;

	udk_return_val_if_fail(conn && fn, -EINVAL);
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->fn = fn;
	op->userdata = userdata;
	pthread_mutex_lock(&conn->lock);
	op->ref = conn->next_async++;
	op->next = conn->asyncs;
	conn->asyncs = op;
	pthread_mutex_unlock(&conn->lock);
	r = call_common(conn, selector, in, n_in, sin, sin_len, out, n_out, sout, sout_len, ranges, n_ranges, op);
	if (r < 0) {
		/* no completion follows a refused call */
		bool found = false;
		pthread_mutex_lock(&conn->lock);
		for (struct async_op **pp = &conn->asyncs; *pp; pp = &(*pp)->next)
			if (*pp == op) {
				*pp = op->next;
				found = true;
				break;
			}
		pthread_mutex_unlock(&conn->lock);
		if (found)
			free(op);
	}
	return r;
}

UDK_EXPORT int
udk_connection_call_async(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in,
			  const void *sin, size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout,
			  size_t *sout_len, udk_async_fn fn, void *userdata)
{
	return call_async(conn, selector, in, n_in, sin, sin_len, out, n_out, sout, sout_len, NULL, 0, fn, userdata);
}

/* The fields of @a this caller knows (struct_size), the rest zero. */
static int
args_copy(const struct udk_call_args *a, struct udk_call_args *ret)
{
	udk_return_val_if_fail(a && a->struct_size >= offsetof(struct udk_call_args, struct_output_size) +
							     sizeof(a->struct_output_size),
			       -EINVAL);
	memset(ret, 0, sizeof(*ret));
	memcpy(ret, a, MIN(a->struct_size, sizeof(*ret)));
	return 0;
}

static void
args_return(struct udk_call_args *a, const struct udk_call_args *c)
{
	a->scalar_output_count = c->scalar_output_count;
	a->struct_output_size = c->struct_output_size;
}

UDK_EXPORT int
udk_connection_call_args(struct udk_connection *conn, uint64_t selector, struct udk_call_args *args)
{
	struct udk_call_args c;
	int r = args_copy(args, &c);

	if (r < 0)
		return r;
	r = call_common(conn, selector, c.scalar_input, c.scalar_input_count, c.struct_input, c.struct_input_size,
			c.scalar_output, &c.scalar_output_count, c.struct_output, &c.struct_output_size, c.ranges,
			c.n_ranges, NULL);
	if (r >= 0)
		args_return(args, &c);
	return r;
}

UDK_EXPORT int
udk_connection_call_args_async(struct udk_connection *conn, uint64_t selector, struct udk_call_args *args,
			       udk_async_fn fn, void *userdata)
{
	struct udk_call_args c;
	int r = args_copy(args, &c);

	if (r < 0)
		return r;
	r = call_async(conn, selector, c.scalar_input, c.scalar_input_count, c.struct_input, c.struct_input_size,
		       c.scalar_output, &c.scalar_output_count, c.struct_output, &c.struct_output_size, c.ranges,
		       c.n_ranges, fn, userdata);
	if (r >= 0)
		args_return(args, &c);
	return r;
}

UDK_EXPORT int
udk_connection_dispatch(struct udk_connection *conn, int timeout_ms)
{
	int delivered = 0;
	bool have;

	udk_return_val_if_fail(conn, -EINVAL);
	pthread_mutex_lock(&conn->lock);
	have = conn->done != NULL;
	pthread_mutex_unlock(&conn->lock);
	rpc_pump(&conn->rpc, have ? 0 : timeout_ms);
	for (;;) {
		struct completion *c;

		pthread_mutex_lock(&conn->lock);
		c = conn->done;
		if (c) {
			conn->done = c->next;
			if (!conn->done)
				conn->done_tail = &conn->done;
		}
		pthread_mutex_unlock(&conn->lock);
		if (!c)
			break;
		c->fn(conn, c->status, c->values, c->count, c->userdata);
		delivered++;
		free(c);
	}
	if (delivered == 0) {
		/* a dead connection says so: its fd stays readable (hung up), and
		 * a loop that polls it must learn to stop */
		pthread_mutex_lock(&conn->rpc.lock);
		if (conn->rpc.dead) {
			int e = conn->rpc.dead_status;
			udk_set_reason_str(conn->rpc.dead_reason);
			pthread_mutex_unlock(&conn->rpc.lock);
			return e;
		}
		pthread_mutex_unlock(&conn->rpc.lock);
	}
	return delivered;
}

UDK_EXPORT int
udk_connection_map_memory(struct udk_connection *conn, uint64_t type, uint64_t options, struct udk_buffer **ret)
{
	struct udk_value *body;
	int fd = -1, r;

	udk_return_val_if_fail(conn && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "type", type);
	udk_dict_set_uint(body, "options", options);
	udk_clear_reason();
	r = rpc_call_value(&conn->rpc, OP_UC_MAP, body, conn->timeout_ms > 0 ? conn->timeout_ms : -1, NULL, &fd);
	udk_value_unref(body);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (fd < 0)
		return udk_set_reason(-UDK_E_PROTOCOL, "the driver shared no memory descriptor");
	r = udk_buffer_from_fd(fd, true, ret);
	if (r < 0)
		close(fd);
	return r;
}

static int
connection_ring_peer(struct udk_connection *conn, struct udk_ring *ring)
{
	int fd;

	pthread_mutex_lock(&conn->lock);
	if (!conn->peer) {
		conn->peer = calloc(1, sizeof(*conn->peer));
		if (conn->peer) {
			conn->peer->refcount = 1;
			conn->peer->conn = conn;
			conn->peer->status = -UDK_E_DRIVER_DIED;
			pthread_mutex_init(&conn->peer->lock, NULL);
		}
	}
	if (conn->peer)
		__atomic_add_fetch(&conn->peer->refcount, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&conn->lock);
	if (!conn->peer)
		return -ENOMEM;
	fd = fcntl(conn->rpc.fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		fd = -errno;
		peer_unref(conn->peer);
		return fd;
	}
	ring_set_peer(ring, fd, peer_gone, conn->peer, peer_unref);
	return 0;
}

UDK_EXPORT int
udk_connection_map_data_queue(struct udk_connection *conn, uint64_t type, struct udk_ring **ret)
{
	struct udk_value *body;
	struct wire_msg m;
	struct buf b;
	struct iovec iov;
	int fds[3], r;
	int64_t role;

	udk_return_val_if_fail(conn && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "type", type);
	buf_init(&b, 0);
	value_encode(&b, body);
	udk_value_unref(body);
	if (b.err) {
		r = b.err;
		buf_free(&b);
		return r;
	}
	iov = (struct iovec){ b.p, b.len };
	udk_clear_reason();
	r = rpc_call(&conn->rpc, OP_UC_MAP_RING, WIRE_F_VALUE, &iov, 1, NULL, 0,
		     conn->timeout_ms > 0 ? conn->timeout_ms : -1, NULL, &m);
	buf_free(&b);
	if (r < 0)
		return r;
	r = m.h.status;
	if (r < 0) {
		udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
		wire_msg_clear(&m);
		return r;
	}
	role = udk_dict_get_int(m.body, "role", 0);
	if (m.n_fds != 3 || (role != UDK_RING_PRODUCER && role != UDK_RING_CONSUMER)) {
		wire_msg_clear(&m);
		return udk_set_reason(-UDK_E_PROTOCOL, "the driver's data queue answer is malformed");
	}
	for (int i = 0; i < 3; i++)
		fds[i] = wire_msg_take_fd(&m, (unsigned)i);
	wire_msg_clear(&m);
	r = ring_import(fds, (enum udk_ring_role)role, ret);
	if (r < 0) {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		return r;
	}
	/* the ring's waits end with the connection's error when the driver goes */
	r = connection_ring_peer(conn, *ret);
	if (r < 0)
		*ret = udk_ring_unref(*ret);
	return r;
}
