/* SPDX-License-Identifier: MIT */
/*
 * device.c - block devices (IOUserBlockStorageDevice): the family's half
 * of a driver that is one.
 *
 * Each client has a session: a submission ring it fills, a completion
 * ring the device fills, and the buffers it registered (memory
 * descriptors, mapped here once).  Apps set a session up through the
 * family's user client; drivers through a channel udkd brokers
 * (OP_BLOCK_CONNECT).  The device's queue drains every session's
 * submission ring, checks each request (range, buffer, read-only, unmap)
 * and hands the good ones to the driver's submit().
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <udk/families/block.h>
#include <udk/ring.h>
#include <udk/userclient.h>

#include "loop.h"
#include "private.h"
#include "proto-block.h"
#include "ring-private.h"
#include "util.h"
#include "wire.h"

struct session {
	struct session *next;
	struct udk_block_device *dev;
	int refs;
	struct udk_ring *sq, *cq;
	struct udk_ring_source *src;
	pthread_mutex_t lock;		/* cq, buffers */
	struct udk_memory_descriptor *bufs[BLOCK_MAX_BUFFERS];
	unsigned inflight;
	bool dead;
	/* a driver client's channel */
	int ctl;
	struct loop_source *ctl_src;
	char label[96];
	/* an app's user client */
	struct udk_service *uc;
};

struct udk_block_request {
	struct session *s;
	uint64_t tag;
	enum udk_block_op op;
	uint64_t lba;
	uint32_t blocks;
	struct udk_memory_descriptor *md;	/* reference */
	uint64_t offset;
};

struct udk_block_device {
	struct udk_block_device *next;
	int refs;			/* the driver's, and one per session */
	struct udk_service *parent;
	struct udk_service *nub;
	pthread_mutex_t lock;		/* info, sessions */
	struct udk_block_info info;
	struct udk_block_device_ops ops;
	void *ctx;
	struct udk_queue *q;
	struct session *sessions;
	bool dying;
};

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_block_device *devices;

#define HAS_OP(d, field)                                                                                       \
	((d)->ops.struct_size >= offsetof(struct udk_block_device_ops, field) + sizeof((d)->ops.field) &&         \
	 (d)->ops.field)

static void
device_unref(struct udk_block_device *dev)
{
	if (!dev || __atomic_sub_fetch(&dev->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	udk_service_unref(dev->nub);
	udk_service_unref(dev->parent);
	udk_queue_unref(dev->q);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* ---- sessions ---- */

static void
session_unref(struct session *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (unsigned i = 0; i < BLOCK_MAX_BUFFERS; i++)
		if (s->bufs[i]) {
			if (HAS_OP(s->dev, memory_released))
				s->dev->ops.memory_released(s->dev, s->bufs[i]);
			udk_memory_descriptor_unref(s->bufs[i]);
		}
	udk_ring_unref(s->sq);
	udk_ring_unref(s->cq);
	if (s->ctl >= 0)
		close(s->ctl);
	pthread_mutex_destroy(&s->lock);
	device_unref(s->dev);
	free(s);
}

static void
post(struct session *s, uint64_t tag, int status, const char *reason)
{
	struct blk_cqe e;
	size_t rl = reason && status < 0 ? strnlen(reason, BLK_REASON_MAX) : 0;

	e.tag = tag;
	e.status = status;
	e.reason_length = (uint32_t)rl;
	if (rl)
		memcpy(e.reason, reason, rl);
	pthread_mutex_lock(&s->lock);
	if (!s->dead && s->cq) {
		/* the client keeps at most UDK_BLOCK_MAX_INFLIGHT out: there is room; wait a little if not */
		if (udk_ring_enqueue(s->cq, &e, (uint32_t)(BLK_CQE_HEADER + rl)) == -ENOSPC)
			udk_ring_enqueue_wait(s->cq, &e, (uint32_t)(BLK_CQE_HEADER + rl), 1000);
	}
	pthread_mutex_unlock(&s->lock);
}

static void
refuse(struct session *s, uint64_t tag, int code, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
refuse(struct session *s, uint64_t tag, int code, const char *fmt, ...)
{
	char reason[BLK_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	post(s, tag, code, reason);
}

static const char *
op_name(uint32_t op)
{
	static const char *const names[] = { "read", "write", "flush", "unmap" };
	return op < 4 ? names[op] : "unknown operation";
}

/* One request from the ring: check it, then the driver's. */
static void
take(struct session *s, const struct blk_sqe *q)
{
	struct udk_block_device *dev = s->dev;
	struct udk_block_info info;
	struct udk_block_request *rq;
	struct udk_memory_descriptor *md = NULL;
	uint64_t bytes;

	pthread_mutex_lock(&dev->lock);
	info = dev->info;
	pthread_mutex_unlock(&dev->lock);
	if (q->op > UDK_BLOCK_UNMAP) {
		refuse(s, q->tag, -EINVAL, "operation %u is not read, write, flush or unmap", q->op);
		return;
	}
	if (q->op != UDK_BLOCK_FLUSH) {
		if (!q->blocks || q->lba > info.block_count || q->blocks > info.block_count - q->lba) {
			refuse(s, q->tag, -ERANGE,
			       "%s of %u blocks at block %llu: the device has %llu blocks of %u bytes", op_name(q->op),
			       q->blocks, (unsigned long long)q->lba, (unsigned long long)info.block_count,
			       info.block_size);
			return;
		}
		if (q->op != UDK_BLOCK_UNMAP && q->blocks > info.max_blocks) {
			refuse(s, q->tag, -E2BIG, "%s of %u blocks: the device takes at most %u per request",
			       op_name(q->op), q->blocks, info.max_blocks);
			return;
		}
	}
	if ((q->op == UDK_BLOCK_WRITE || q->op == UDK_BLOCK_UNMAP) && (info.flags & UDK_BLOCK_READ_ONLY)) {
		refuse(s, q->tag, -EROFS, "the device is read-only: %s", info.description);
		return;
	}
	if (q->op == UDK_BLOCK_UNMAP && !(info.flags & UDK_BLOCK_CAN_UNMAP)) {
		refuse(s, q->tag, -UDK_E_UNSUPPORTED, "the device cannot unmap (no UNMAP/TRIM)");
		return;
	}
	if (q->op == UDK_BLOCK_READ || q->op == UDK_BLOCK_WRITE) {
		bytes = (uint64_t)q->blocks * info.block_size;
		pthread_mutex_lock(&s->lock);
		md = q->buffer < BLOCK_MAX_BUFFERS ? s->bufs[q->buffer] : NULL;
		if (md)
			udk_memory_descriptor_ref(md);
		pthread_mutex_unlock(&s->lock);
		if (!md) {
			refuse(s, q->tag, -UDK_E_BAD_ADDRESS, "buffer %u was never registered", q->buffer);
			return;
		}
		if (q->offset > udk_memory_descriptor_get_length(md) ||
		    bytes > udk_memory_descriptor_get_length(md) - q->offset) {
			refuse(s, q->tag, -UDK_E_BAD_ADDRESS, "%llu bytes at offset %llu do not fit buffer %u (%llu bytes)",
			       (unsigned long long)bytes, (unsigned long long)q->offset, q->buffer,
			       (unsigned long long)udk_memory_descriptor_get_length(md));
			udk_memory_descriptor_unref(md);
			return;
		}
	}
	rq = calloc(1, sizeof(*rq));
	if (!rq) {
		udk_memory_descriptor_unref(md);
		refuse(s, q->tag, -ENOMEM, "out of memory");
		return;
	}
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	rq->s = s;
	rq->tag = q->tag;
	rq->op = (enum udk_block_op)q->op;
	rq->lba = q->lba;
	rq->blocks = q->blocks;
	rq->md = md;
	rq->offset = q->offset;
	__atomic_add_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
	dev->ops.submit(dev, rq);
}

static void
drain(struct udk_ring *r, void *ctx)
{
	struct session *s = ctx;
	struct blk_sqe q;
	uint32_t len;

	for (int i = 0; i < 512 && !s->dead; i++) {
		int e = udk_ring_dequeue(r, &q, sizeof(q), &len);
		if (e == -EAGAIN)
			return;
		if (e < 0 || len != sizeof(q)) {
			udk_log_warning("block client %s sent a malformed request: the session ends", s->label);
			s->dead = true;
			return;
		}
		take(s, &q);
	}
}

UDK_EXPORT void
udk_block_request_complete(struct udk_block_request *rq, int status, const char *fmt, ...)
{
	char reason[BLK_REASON_MAX] = "";

	if (!rq)
		return;
	if (fmt && status < 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	post(rq->s, rq->tag, status, reason[0] ? reason : status < 0 ? udk_strerror(status) : NULL);
	__atomic_sub_fetch(&rq->s->inflight, 1, __ATOMIC_RELAXED);
	udk_memory_descriptor_unref(rq->md);
	session_unref(rq->s);
	free(rq);
}

UDK_EXPORT enum udk_block_op
udk_block_request_get_op(const struct udk_block_request *rq)
{
	return rq->op;
}

UDK_EXPORT uint64_t
udk_block_request_get_lba(const struct udk_block_request *rq)
{
	return rq->lba;
}

UDK_EXPORT uint32_t
udk_block_request_get_blocks(const struct udk_block_request *rq)
{
	return rq->blocks;
}

UDK_EXPORT struct udk_memory_descriptor *
udk_block_request_get_memory(const struct udk_block_request *rq, uint64_t *ret_offset)
{
	if (ret_offset)
		*ret_offset = rq->offset;
	return rq->md;
}

UDK_EXPORT void *
udk_block_request_get_buffer(const struct udk_block_request *rq)
{
	void *addr = NULL;
	uint64_t len = 0;

	if (!rq->md || udk_memory_descriptor_map(rq->md, &addr, &len) < 0)
		return NULL;
	return (uint8_t *)addr + rq->offset;
}

static struct session *
session_new(struct udk_block_device *dev, const char *label)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->dev = dev;
	__atomic_add_fetch(&dev->refs, 1, __ATOMIC_RELAXED);
	s->ctl = -1;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->label, sizeof(s->label), "%s", label);
	if (udk_ring_create(BLOCK_SQ_SIZE, UDK_RING_CONSUMER, &s->sq) < 0 ||
	    udk_ring_create(BLOCK_CQ_SIZE, UDK_RING_PRODUCER, &s->cq) < 0) {
		session_unref(s);
		return NULL;
	}
	return s;
}

static int
session_start(struct session *s)
{
	struct udk_block_device *dev = s->dev;
	int r = udk_ring_source_create(s->sq, dev->q, drain, s, &s->src);

	if (r < 0)
		return r;
	pthread_mutex_lock(&dev->lock);
	s->next = dev->sessions;
	dev->sessions = s;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* The client left: stop taking requests; those in flight finish into nothing. */
static void
session_end(struct session *s)
{
	struct udk_block_device *dev = s->dev;
	bool found = false;

	pthread_mutex_lock(&dev->lock);
	for (struct session **pp = &dev->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			found = true;
			break;
		}
	pthread_mutex_unlock(&dev->lock);
	if (!found)
		return;
	pthread_mutex_lock(&s->lock);
	s->dead = true;
	pthread_mutex_unlock(&s->lock);
	udk_ring_source_destroy(s->src);
	s->src = NULL;
	loop_source_remove(s->ctl_src);
	s->ctl_src = NULL;
	session_unref(s);
}

static int
add_buffer(struct session *s, struct udk_memory_descriptor *md, uint32_t *ret)
{
	int r = -ENOSPC;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < BLOCK_MAX_BUFFERS; i++)
		if (!s->bufs[i]) {
			s->bufs[i] = md;
			*ret = i;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return udk_error_set(r, "a session registers at most %d buffers", BLOCK_MAX_BUFFERS);
	return 0;
}

static int
remove_buffer(struct session *s, uint32_t id)
{
	struct udk_memory_descriptor *md = NULL;

	pthread_mutex_lock(&s->lock);
	if (id < BLOCK_MAX_BUFFERS) {
		md = s->bufs[id];
		s->bufs[id] = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (!md)
		return udk_error_set(-ENOENT, "no buffer %u", id);
	if (HAS_OP(s->dev, memory_released))
		s->dev->ops.memory_released(s->dev, md);
	udk_memory_descriptor_unref(md);
	return 0;
}

/* ---- the user client (apps) ---- */

struct uc_state {
	struct udk_block_device *dev;
	struct session *s;
};

static int
blk_uc_attach(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_state *st = udk_service_get_ivars(uc);
	struct udk_block_info *out = a->struct_output;

	(void)ref;
	if (!st->dev)
		return udk_error_set(-UDK_E_TERMINATED, "the block device is gone");
	if (!st->s) {
		char label[64];
		int pid = 0, uid = 0;
		udk_user_client_get_peer(uc, &pid, &uid);
		snprintf(label, sizeof(label), "app pid %d", pid);
		st->s = session_new(st->dev, label);
		if (!st->s)
			return -ENOMEM;
		st->s->uc = uc;
		if (session_start(st->s) < 0) {
			session_unref(st->s);
			st->s = NULL;
			return udk_error_set(-ENOMEM, "cannot start the session");
		}
	}
	pthread_mutex_lock(&st->dev->lock);
	*out = st->dev->info;
	pthread_mutex_unlock(&st->dev->lock);
	a->struct_output_size = sizeof(*out);
	return 0;
}

static int
blk_uc_add_buffer(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_state *st = udk_service_get_ivars(uc);
	const struct blk_uc_buffer *b = a->struct_input;
	struct udk_address_segment seg = { b->address, b->length };
	struct udk_memory_descriptor *md = NULL;
	uint32_t id = 0;
	int r;

	(void)ref;
	if (!st->s)
		return udk_error_set(-EINVAL, "call Attach first");
	if (!b->length || b->length > (1ull << 34))
		return udk_error_set(-EINVAL, "a buffer is 1 byte to 16 GiB, not %llu", (unsigned long long)b->length);
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &md);
	if (r < 0)
		return r;
	if (!udk_memory_descriptor_get_buffer(md) && md_backing(md, &(int){ 0 }, &(uint64_t){ 0 }) < 0) {
		udk_memory_descriptor_unref(md);
		return udk_error_set(-UDK_E_BAD_ADDRESS, "the range is not in shared memory");
	}
	r = add_buffer(st->s, md, &id);
	if (r < 0) {
		udk_memory_descriptor_unref(md);
		return r;
	}
	a->scalar_output[0] = id;
	return 0;
}

static int
blk_uc_remove_buffer(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_state *st = udk_service_get_ivars(uc);

	(void)ref;
	if (!st->s)
		return udk_error_set(-EINVAL, "call Attach first");
	return remove_buffer(st->s, (uint32_t)a->scalar_input[0]);
}

static int
blk_uc_data_queue(struct udk_service *uc, uint64_t type, struct udk_ring **ret)
{
	struct uc_state *st = udk_service_get_ivars(uc);

	if (!st->s)
		return udk_error_set(-EINVAL, "call Attach first");
	if (type > 1)
		return udk_error_set(-EINVAL, "data queue 0 is the submission ring, 1 the completion ring; not %llu",
				     (unsigned long long)type);
	*ret = udk_ring_ref(type == 0 ? st->s->sq : st->s->cq);
	return 0;
}

static void
blk_uc_closed(struct udk_service *uc)
{
	struct uc_state *st = udk_service_get_ivars(uc);

	if (st->s)
		session_end(st->s);
	st->s = NULL;
}

static const struct udk_method_dispatch blk_uc_methods[BLOCK_UC_COUNT] = {
	[BLOCK_UC_ATTACH] = { blk_uc_attach, "Attach", 0, 0, 0, 0, sizeof(struct udk_block_info) },
	[BLOCK_UC_ADD_BUFFER] = { blk_uc_add_buffer, "AddBuffer", 0, 0, sizeof(struct blk_uc_buffer), 1, 0 },
	[BLOCK_UC_REMOVE_BUFFER] = { blk_uc_remove_buffer, "RemoveBuffer", 0, 1, 0, 0, 0 },
};

UDK_EXPORT const struct udk_class udk_block_user_client_class = {
	UDK_CLASS_INIT,
	.name = "UDKBlockUserClient",
	.ivars_size = sizeof(struct uc_state),
	.methods = blk_uc_methods,
	.n_methods = BLOCK_UC_COUNT,
	.client_closed = blk_uc_closed,
	.copy_data_queue_for_type = blk_uc_data_queue,
};

static struct udk_block_device *
device_of_service(uint64_t id)
{
	struct udk_block_device *found = NULL;

	pthread_mutex_lock(&devices_lock);
	for (struct udk_block_device *d = devices; d; d = d->next)
		if (d->nub && udk_service_get_id(d->nub) == id && !d->dying)
			found = d;
	pthread_mutex_unlock(&devices_lock);
	return found;
}

UDK_EXPORT int
udk_block_device_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret)
{
	struct udk_block_device *dev = device_of_service(udk_service_get_id(self));
	struct uc_state *st;
	int r;

	(void)type;
	if (!dev)
		return udk_error_set(-UDK_E_UNSUPPORTED, "%s is not a block device of this driver; it offers no user "
							 "clients",
				     udk_service_get_name(self));
	r = udk_user_client_create(self, udk_block_user_client_class.name, ret);
	if (r < 0)
		return r;
	st = udk_service_get_ivars(*ret);
	st->dev = dev;
	return 0;
}

/* ---- driver clients: the channel ---- */

static void
ctl_reply(struct session *s, const struct wire_msg *m, int status, const char *reason, struct udk_value *body,
	  const int *fds, unsigned n)
{
	struct udk_value *b = body;

	if (status < 0) {
		b = udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason ? reason : udk_strerror(status));
	}
	wire_send_value(s->ctl, m->h.op, WIRE_F_REPLY, m->h.serial, status, b, fds, n);
	if (b != body)
		udk_value_unref(b);
}

static void
on_ctl(struct loop *l, int fd, uint32_t events, void *data)
{
	struct session *s = data;

	(void)l;
	(void)events;
	for (int i = 0; i < 16; i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			session_end(s);
			return;
		}
		if (m.h.op == OP_BLOCK_CH_ATTACH) {
			struct udk_value *b = udk_value_new_dict();
			int fds[6];
			pthread_mutex_lock(&s->dev->lock);
			udk_dict_set_data(b, "info", &s->dev->info, sizeof(s->dev->info));
			pthread_mutex_unlock(&s->dev->lock);
			ring_export(s->sq, fds);
			ring_export(s->cq, fds + 3);
			ctl_reply(s, &m, 0, NULL, b, fds, 6);
			udk_value_unref(b);
		} else if (m.h.op == OP_BLOCK_CH_BUFFER) {
			int mfd = wire_msg_take_fd(&m, 0);
			uint64_t off = udk_value_get_uint(udk_dict_get(m.body, "offset"), 0);
			uint64_t len = udk_value_get_uint(udk_dict_get(m.body, "length"), 0);
			struct udk_memory_descriptor *md = NULL;
			struct stat st;
			uint32_t id = 0;
			if (mfd < 0 || fstat(mfd, &st) < 0 || !len || off > (uint64_t)st.st_size ||
			    len > (uint64_t)st.st_size - off ||
			    md_from_fd(mfd, off, len, UDK_MEMORY_DIRECTION_INOUT, true, &md) < 0) {
				if (mfd >= 0)
					close(mfd);
				ctl_reply(s, &m, -UDK_E_BAD_ADDRESS, "the buffer is not memory of that size", NULL, NULL, 0);
			} else if ((r = add_buffer(s, md, &id)) < 0) {
				udk_memory_descriptor_unref(md);
				ctl_reply(s, &m, r, udk_error_reason(), NULL, NULL, 0);
			} else {
				struct udk_value *b = udk_value_new_dict();
				udk_dict_set_uint(b, "id", id);
				ctl_reply(s, &m, 0, NULL, b, NULL, 0);
				udk_value_unref(b);
			}
		} else if (m.h.op == OP_BLOCK_CH_UNBUFFER) {
			r = remove_buffer(s, (uint32_t)udk_value_get_uint(udk_dict_get(m.body, "id"), ~0ull));
			ctl_reply(s, &m, r, r < 0 ? udk_error_reason() : NULL, NULL, NULL, 0);
		} else if (!(m.h.flags & WIRE_F_ONEWAY)) {
			ctl_reply(s, &m, -EOPNOTSUPP, "the block device does not know this request", NULL, NULL, 0);
		}
		wire_msg_clear(&m);
	}
}

struct attach_ctl {
	struct session *s;
};

static void
attach_ctl(void *data)
{
	struct session *s = data;

	fd_set_nonblock(s->ctl, true);
	if (loop_add_fd(queue_loop(s->dev->q), s->ctl, EPOLLIN, on_ctl, s, &s->ctl_src) < 0)
		session_end(s);
}

/* OP_BLOCK_CONNECT from udkd, on the runtime's I/O thread. */
static void
on_udkd_request(struct wire_msg *m)
{
	uint64_t id = udk_value_get_uint(udk_dict_get(m->body, "object"), 0);
	struct udk_block_device *dev = m->h.op == OP_BLOCK_CONNECT ? device_of_service(id) : NULL;
	struct session *s = NULL;
	char label[128];
	int fd = wire_msg_take_fd(m, 0);
	int status = 0;
	const char *why = NULL;

	snprintf(label, sizeof(label), "%s (pid %lld)",
		 udk_dict_get_string(m->body, "label") ? udk_dict_get_string(m->body, "label") : "a driver",
		 (long long)udk_dict_get_int(m->body, "client", 0));
	if (!dev || fd < 0) {
		status = -UDK_E_NO_SUCH_SERVICE;
		why = "this driver has no such block device (any more)";
	} else if (!(s = session_new(dev, label))) {
		status = -ENOMEM;
		why = "out of memory";
	} else {
		s->ctl = fd;
		fd = -1;
		if (session_start(s) < 0) {
			session_unref(s);
			s = NULL;
			status = -ENOMEM;
			why = "cannot start the session";
		} else {
			udk_queue_dispatch_async(dev->q, attach_ctl, s);
		}
	}
	if (fd >= 0)
		close(fd);
	if (!(m->h.flags & WIRE_F_ONEWAY)) {
		struct udk_value *b = NULL;
		if (why) {
			b = udk_value_new_dict();
			udk_dict_set_string(b, "reason", why);
		}
		rt_reply(m->h.op, m->h.serial, status, b);
		udk_value_unref(b);
	}
	wire_msg_clear(m);
}

/* ---- the device ---- */

static struct udk_value *
info_props(const struct udk_block_info *info)
{
	struct udk_value *p = udk_value_new_dict();

	udk_dict_set_int(p, "UDKBlockSize", info->block_size);
	udk_dict_set_uint(p, "UDKBlockCount", info->block_count);
	udk_dict_set_uint(p, "Size", info->block_count * info->block_size);
	udk_dict_set_int(p, "UDKBlockMaxBlocks", info->max_blocks);
	udk_dict_set_bool(p, "UDKBlockReadOnly", info->flags & UDK_BLOCK_READ_ONLY);
	udk_dict_set_bool(p, "UDKBlockCanUnmap", info->flags & UDK_BLOCK_CAN_UNMAP);
	udk_dict_set_string(p, "UDKBlockIdentifier", info->identifier);
	udk_dict_set_string(p, "UDKBlockDescription", info->description);
	return p;
}

static int
check_info(const struct udk_block_info *info)
{
	if (info->block_size < 512 || (info->block_size & (info->block_size - 1)) || info->block_size > (1u << 20))
		return udk_error_set(-EINVAL, "the block size must be a power of two from 512, not %u", info->block_size);
	if (!info->block_count)
		return udk_error_set(-EINVAL, "a block device has at least one block");
	if (!info->max_blocks)
		return udk_error_set(-EINVAL, "max_blocks (blocks per request) must not be 0");
	if (!memchr(info->identifier, 0, sizeof(info->identifier)) || !info->identifier[0])
		return udk_error_set(-EINVAL, "a block device needs an identifier (serial number, NAA, ...)");
	return 0;
}

UDK_EXPORT int
udk_block_device_create(struct udk_service *parent, const char *name, const struct udk_block_info *info,
			const struct udk_block_device_ops *ops, void *ctx, struct udk_block_device **ret)
{
	static const char *const classes[] = { "IOUserBlockStorageDevice", "IOBlockStorageDevice", "IOService", NULL };
	struct udk_block_device *dev;
	struct udk_value *props;
	char qname[64];
	int r;

	udk_return_val_if_fail(parent && info && ops && ops->submit && ret, -EINVAL);
	r = check_info(info);
	if (r < 0)
		return r;
	r = rt_set_family_handler(BLOCK_OP_BASE, BLOCK_OP_COUNT, on_udkd_request);
	if (r < 0)
		return udk_error_set(r, "cannot take the block family's requests from udkd");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	pthread_mutex_init(&dev->lock, NULL);
	dev->refs = 1;
	dev->info = *info;
	memcpy(&dev->ops, ops, MIN(ops->struct_size, sizeof(dev->ops)));
	dev->ops.struct_size = (uint32_t)MIN(ops->struct_size, sizeof(dev->ops));
	dev->ctx = ctx;
	dev->parent = udk_service_ref(parent);
	snprintf(qname, sizeof(qname), "block-%.40s", name ? name : "device");
	r = udk_queue_create(qname, &dev->q);
	if (r < 0)
		goto fail;
	props = info_props(info);
	r = udk_service_create_child(parent, name ? name : "BlockStorageDevice", classes, props, &dev->nub);
	udk_value_unref(props);
	if (r < 0)
		goto fail;
	pthread_mutex_lock(&devices_lock);
	dev->next = devices;
	devices = dev;
	pthread_mutex_unlock(&devices_lock);
	r = udk_service_register(dev->nub);
	if (r < 0) {
		udk_block_device_destroy(dev);
		return r;
	}
	*ret = dev;
	return 0;
fail:
	udk_queue_unref(dev->q);
	udk_service_unref(dev->parent);
	free(dev);
	return r;
}

UDK_EXPORT void
udk_block_device_destroy(struct udk_block_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&devices_lock);
	dev->dying = true;
	for (struct udk_block_device **pp = &devices; *pp; pp = &(*pp)->next)
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	pthread_mutex_unlock(&devices_lock);
	udk_service_terminate(dev->nub);
	for (;;) {
		struct session *s;
		pthread_mutex_lock(&dev->lock);
		s = dev->sessions;
		pthread_mutex_unlock(&dev->lock);
		if (!s)
			break;
		session_end(s);
	}
	/* requests still in flight hold their sessions, and the sessions the device */
	device_unref(dev);
}

UDK_EXPORT void *
udk_block_device_get_context(struct udk_block_device *dev)
{
	return dev ? dev->ctx : NULL;
}

UDK_EXPORT struct udk_service *
udk_block_device_get_service(struct udk_block_device *dev)
{
	return dev ? dev->nub : NULL;
}

UDK_EXPORT int
udk_block_device_update(struct udk_block_device *dev, const struct udk_block_info *info,
			const struct udk_value *properties)
{
	int r = 0;

	udk_return_val_if_fail(dev, -EINVAL);
	if (info) {
		struct udk_value *p;
		r = check_info(info);
		if (r < 0)
			return r;
		pthread_mutex_lock(&dev->lock);
		dev->info = *info;
		pthread_mutex_unlock(&dev->lock);
		p = info_props(info);
		r = udk_service_set_properties(dev->nub, p);
		udk_value_unref(p);
	}
	if (r >= 0 && properties)
		r = udk_service_set_properties(dev->nub, properties);
	return r;
}
