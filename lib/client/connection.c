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
 * for its reply, so it cannot reach the app's memory outside a call.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "private.h"
#include "proto.h"
#include "util.h"

struct copyback {
	struct copyback *next;
	int fd;			/* the memfd the driver wrote */
	uint32_t n;
	struct udk_address_segment segs[PROTO_MAX_SEGMENTS];
};

struct call_state {
	struct copyback *copybacks;
	bool async;
	uint64_t async_ref;
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

	/* only for a call of ours that is still waiting for its reply */
	pthread_mutex_lock(&conn->rpc.lock);
	p = rpc_find_pending_locked(&conn->rpc, call);
	cs = p ? p->user : NULL;
	pthread_mutex_unlock(&conn->rpc.lock);
	if (!cs) {
		memory_reply_error(conn, m->h.serial, -EPERM,
				   "the app answers memory requests only for a call that is still in progress");
		return;
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
	udk_return_val_if_fail(conn, -EINVAL);
	if (conn->closed)
		return 0;
	conn->closed = true;
	/* a clean goodbye; the driver sees EOF anyway */
	rpc_mark_dead(&conn->rpc, -UDK_E_TERMINATED, "the connection was closed by the app");
	return 0;
}

UDK_EXPORT struct udk_connection *
udk_connection_unref(struct udk_connection *conn)
{
	if (!conn || __atomic_sub_fetch(&conn->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	udk_connection_close(conn);
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

static int
call_common(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in, const void *sin,
	    size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout, size_t *sout_len, struct async_op *op)
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
	if (sin_len > UINT32_MAX || out_cap > UINT32_MAX)
		return udk_set_reason(-E2BIG, "structures larger than 4 GiB go through a udk_buffer");
	udk_clear_reason();

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
	return call_common(conn, selector, in, n_in, sin, sin_len, out, n_out, sout, sout_len, NULL);
}

UDK_EXPORT int
udk_connection_call_async(struct udk_connection *conn, uint64_t selector, const uint64_t *in, uint32_t n_in,
			  const void *sin, size_t sin_len, uint64_t *out, uint32_t *n_out, void *sout,
			  size_t *sout_len, udk_async_fn fn, void *userdata)
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
	r = call_common(conn, selector, in, n_in, sin, sin_len, out, n_out, sout, sout_len, op);
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
