/* SPDX-License-Identifier: MIT */
/*
 * sim.c - backend "sim": the driver's channel to a USB device model.
 *
 * One socket per open device or interface (brokered by udkd).  Requests
 * (set configuration, claim, ...) are answered in order; transfers are
 * one-way submissions whose completions come back in any order.  A reader
 * thread takes every message off the socket: replies wake their caller,
 * completions finish their transfer, and it cancels transfers whose
 * timeout passed.  When the socket ends the device is gone: every pending
 * transfer and request fails with UDK_E_HARDWARE_GONE, never hangs.
 *
 * Memory descriptors reach the model once: their memfd is sent with an id
 * (OP_USB_MEM_MAP) and transfers name id, offset and length.  The cache
 * keeps a duplicate of each memfd, so an id can never come to mean other
 * memory while it is cached.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "private.h"
#include "proto-usb.h"
#include "usb-check.h"
#include "usb-private.h"
#include "util.h"
#include "wire.h"

#define MEM_CACHE 32u
#define CALL_TIMEOUT_S 30

struct waiter {
	uint32_t serial;
	bool done;
	struct wire_msg reply;
	struct waiter *next;
};

struct memc {
	uint32_t id;
	int fd;
	dev_t st_dev;
	ino_t st_ino;
	uint64_t used;
};

struct sim {
	int fd;
	int wake;			/* eventfd: recompute deadlines, or stop */
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t send_lock;
	pthread_mutex_t lock;		/* waiters, serial, eof, the cache */
	pthread_cond_t cond;
	uint32_t serial;
	struct waiter *waiters;
	bool eof;
	bool stopping;
	struct memc mems[MEM_CACHE];
	unsigned n_mems;
	uint32_t next_mem;
	uint64_t tick;
};

#define SIM(dev) ((struct sim *)(dev)->backend_data)

static void
poke(struct sim *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake, &one, sizeof(one));
	(void)r;
}

/* A request to the model; waits for its reply. */
static int
call(struct udk_usb_device *dev, uint16_t op, struct udk_value *body, const int *fds, unsigned n_fds)
{
	struct sim *s = SIM(dev);
	struct waiter w = { 0 };
	struct timespec ts;
	int r;

	wire_msg_init(&w.reply);
	pthread_mutex_lock(&s->lock);
	if (s->eof) {
		pthread_mutex_unlock(&s->lock);
		usb_device_gone(dev, "the device is gone (unplugged, or its model ended)");
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "the device is gone (unplugged, or its model ended)");
	}
	w.serial = ++s->serial;
	w.next = s->waiters;
	s->waiters = &w;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->send_lock);
	r = wire_send_value(s->fd, op, 0, w.serial, 0, body, fds, n_fds);
	pthread_mutex_unlock(&s->send_lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CALL_TIMEOUT_S;
	pthread_mutex_lock(&s->lock);
	while (r >= 0 && !w.done && !s->eof)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts)) {
			r = udk_set_reason(-UDK_E_DEADLINE, "the device model did not answer in %d s", CALL_TIMEOUT_S);
			break;
		}
	for (struct waiter **pp = &s->waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	if (r >= 0 && !w.done)
		r = udk_set_reason(-UDK_E_HARDWARE_GONE, "the device is gone (unplugged, or its model ended)");
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		wire_msg_clear(&w.reply);
		return r == -EPIPE || r == -ECONNRESET
			       ? udk_set_reason(-UDK_E_HARDWARE_GONE, "the device is gone (unplugged, or its model ended)")
			       : r;
	}
	r = w.reply.h.status;
	if (r < 0)
		udk_set_reason_str(udk_dict_get_string(w.reply.body, "reason"));
	wire_msg_clear(&w.reply);
	return r;
}

static int
call_int(struct udk_usb_device *dev, uint16_t op, const char *k1, int64_t v1, const char *k2, int64_t v2)
{
	struct udk_value *b = udk_value_new_dict();
	int r;

	if (k1)
		udk_dict_set_int(b, k1, v1);
	if (k2)
		udk_dict_set_int(b, k2, v2);
	r = call(dev, op, b, NULL, 0);
	udk_value_unref(b);
	return r;
}

/* ---- the reader ---- */

static void
complete(struct udk_usb_device *dev, struct wire_msg *m)
{
	struct proto_usb_complete c;
	struct usb_xfer *x;
	const uint8_t *p, *pk;
	const char *reason = NULL;
	char why[200];

	if (usb_complete_check(m->payload, m->len, &c, &pk, &p) < 0)
		return; /* a broken model; the transfer's timeout, or the model's end, finishes it */
	pthread_mutex_lock(&dev->lock);
	x = usb_xfer_find(dev, c.id);
	pthread_mutex_unlock(&dev->lock);
	if (!x)
		return;
	if (c.n_packets && c.n_packets == x->n_packets) {
		memcpy(x->packets, pk, c.n_packets * sizeof(*x->packets));
		for (uint32_t i = 0; i < c.n_packets; i++)
			if (x->packets[i].actual > x->packets[i].length)
				x->packets[i].actual = x->packets[i].length;
	}
	if (c.status < 0 && c.inline_len) {
		snprintf(why, sizeof(why), "%.*s", (int)MIN(c.inline_len, sizeof(why) - 1), (const char *)p);
		reason = why;
	} else if (c.inline_len && x->in && !x->md) {
		memcpy(x->buf, p, MIN(c.inline_len, x->length));
	}
	if (c.status == -ECANCELED && x->cancel_sent && x->deadline_ns && now_ns() >= x->deadline_ns) {
		c.status = -ETIMEDOUT;
		reason = NULL;
	}
	usb_xfer_done(x, c.status, c.actual, reason);
}

/* Cancel what timed out; the time until the next deadline in ms (-1: none). */
static int
expire(struct udk_usb_device *dev)
{
	struct sim *s = SIM(dev);
	uint64_t now = now_ns(), next = 0;

	pthread_mutex_lock(&dev->lock);
	for (struct usb_xfer *x = dev->pending; x; x = x->next) {
		if (!x->deadline_ns || x->cancel_sent)
			continue;
		if (x->deadline_ns <= now) {
			struct proto_usb_cancel c = { x->id, -ETIMEDOUT, 0 };
			x->cancel_sent = true;
			pthread_mutex_lock(&s->send_lock);
			wire_send(s->fd, OP_USB_CANCEL, WIRE_F_ONEWAY, 0, 0, &c, sizeof(c), NULL, 0);
			pthread_mutex_unlock(&s->send_lock);
		} else if (!next || x->deadline_ns < next) {
			next = x->deadline_ns;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return next ? (int)MIN((next - now) / 1000000u + 1, 60000u) : -1;
}

static void
fail_everything(struct udk_usb_device *dev)
{
	struct sim *s = SIM(dev);
	struct usb_xfer *list;

	pthread_mutex_lock(&s->lock);
	s->eof = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	usb_device_gone(dev, s->stopping ? "the device was closed"
					 : "the device is gone: unplugged, or its device model ended");
	pthread_mutex_lock(&dev->lock);
	list = dev->pending;
	dev->pending = NULL;
	pthread_mutex_unlock(&dev->lock);
	while (list) {
		struct usb_xfer *x = list;
		list = x->next;
		usb_xfer_done(x, s->stopping ? -ECANCELED : -UDK_E_HARDWARE_GONE,
			      0, s->stopping ? "the device was closed" : dev->gone_reason);
	}
}

static void *
reader(void *data)
{
	struct udk_usb_device *dev = data;
	struct sim *s = SIM(dev);

	for (;;) {
		struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = s->wake, .events = POLLIN } };
		int timeout = expire(dev), n;

		n = poll(p, 2, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			uint64_t v;
			ssize_t rr = read(s->wake, &v, sizeof(v));
			(void)rr;
			if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
				break;
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int i = 0; i < 64; i++) {
			struct wire_msg m;
			int r = wire_recv(s->fd, &m, true);
			if (r == -EAGAIN)
				break;
			if (r == -EBADMSG)
				continue;
			if (r < 0)
				goto out;
			if (m.h.flags & WIRE_F_REPLY) {
				pthread_mutex_lock(&s->lock);
				for (struct waiter *w = s->waiters; w; w = w->next)
					if (w->serial == m.h.serial && !w->done) {
						w->reply = m;
						wire_msg_init(&m);
						w->done = true;
						break;
					}
				pthread_cond_broadcast(&s->cond);
				pthread_mutex_unlock(&s->lock);
			} else if (m.h.op == OP_USB_COMPLETE) {
				complete(dev, &m);
			}
			wire_msg_clear(&m);
		}
	}
out:
	fail_everything(dev);
	return NULL;
}

/* ---- memory ---- */

/* Under s->lock: the model's id for @md's memory (mapped now if needed). */
static int
mem_id(struct udk_usb_device *dev, struct udk_memory_descriptor *md, uint32_t *ret_id, uint64_t *ret_off)
{
	struct sim *s = SIM(dev);
	struct udk_value *body;
	struct stat st;
	struct memc *slot = NULL;
	int fd, r;

	r = md_backing(md, &fd, ret_off);
	if (r < 0 || fstat(fd, &st) < 0)
		return udk_set_reason(-EINVAL, "the memory descriptor has no memory the device could reach");
	for (unsigned i = 0; i < s->n_mems; i++)
		if (s->mems[i].st_dev == st.st_dev && s->mems[i].st_ino == st.st_ino) {
			s->mems[i].used = ++s->tick;
			*ret_id = s->mems[i].id;
			return 0;
		}
	if (s->n_mems < MEM_CACHE) {
		slot = &s->mems[s->n_mems];
	} else {
		/* the least recently used goes; transfers still using it keep it in the model */
		slot = &s->mems[0];
		for (unsigned i = 1; i < MEM_CACHE; i++)
			if (s->mems[i].used < slot->used)
				slot = &s->mems[i];
		body = udk_value_new_dict();
		udk_dict_set_int(body, "id", slot->id);
		pthread_mutex_lock(&s->send_lock);
		wire_send_value(s->fd, OP_USB_MEM_UNMAP, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
		pthread_mutex_unlock(&s->send_lock);
		udk_value_unref(body);
		close(slot->fd);
		slot->fd = -1;
		s->n_mems--;
		*slot = s->mems[s->n_mems];
		slot = &s->mems[s->n_mems];
	}
	slot->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (slot->fd < 0)
		return -errno;
	slot->id = ++s->next_mem ? s->next_mem : ++s->next_mem;
	slot->st_dev = st.st_dev;
	slot->st_ino = st.st_ino;
	slot->used = ++s->tick;
	body = udk_value_new_dict();
	udk_dict_set_int(body, "id", slot->id);
	/* the reply comes through the reader, which never takes s->lock for long */
	pthread_mutex_unlock(&s->lock);
	r = call(dev, OP_USB_MEM_MAP, body, &slot->fd, 1);
	pthread_mutex_lock(&s->lock);
	udk_value_unref(body);
	if (r < 0) {
		close(slot->fd);
		slot->fd = -1;
		return r;
	}
	s->n_mems++;
	*ret_id = slot->id;
	return 0;
}

/* ---- the backend ---- */

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static int
sim_submit(struct udk_usb_device *dev, struct usb_xfer *x)
{
	struct sim *s = SIM(dev);
	struct proto_usb_submit sub = { 0 };
	struct iovec iov[3];
	uint32_t lens[PROTO_USB_MAX_PACKETS];
	unsigned n = 1;
	int r;

	sub.id = x->id;
	sub.length = x->length;
	sub.endpoint = x->endpoint;
	sub.type = x->type;
	sub.flags = x->short_not_ok ? PROTO_USB_SHORT_NOT_OK : 0;
	sub.setup = x->setup;
	sub.n_packets = (uint16_t)x->n_packets;
	if (x->md) {
		uint64_t off = 0;
		/* one mapping at a time: two threads must not map the same memory twice */
		pthread_mutex_lock(&mem_lock);
		pthread_mutex_lock(&s->lock);
		r = mem_id(dev, x->md, &sub.mem, &off);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&mem_lock);
		if (r < 0)
			return r;
		sub.offset = off + x->offset;
	}
	iov[0] = (struct iovec){ &sub, sizeof(sub) };
	if (x->n_packets) {
		for (uint32_t i = 0; i < x->n_packets; i++)
			lens[i] = x->packets[i].length;
		iov[n++] = (struct iovec){ lens, x->n_packets * sizeof(uint32_t) };
	}
	if (!x->md && !x->in && x->length)
		iov[n++] = (struct iovec){ x->buf, x->length };
	pthread_mutex_lock(&s->send_lock);
	r = wire_sendv(s->fd, OP_USB_SUBMIT, WIRE_F_ONEWAY, 0, 0, iov, n, NULL, 0);
	pthread_mutex_unlock(&s->send_lock);
	if (r < 0)
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "the device is gone (unplugged, or its model ended)");
	if (x->deadline_ns)
		poke(s);
	return 0;
}

static void
sim_cancel(struct udk_usb_device *dev, struct usb_xfer *x, int status)
{
	struct sim *s = SIM(dev);
	struct proto_usb_cancel c = { x->id, status, 0 };

	pthread_mutex_lock(&s->send_lock);
	wire_send(s->fd, OP_USB_CANCEL, WIRE_F_ONEWAY, 0, 0, &c, sizeof(c), NULL, 0);
	pthread_mutex_unlock(&s->send_lock);
}

static int
sim_set_configuration(struct udk_usb_device *dev, uint8_t value)
{
	return call_int(dev, OP_USB_SET_CONFIGURATION, "value", value, NULL, 0);
}

static int
sim_claim(struct udk_usb_device *dev, uint8_t iface)
{
	/* an interface driver's channel claimed its interface when it opened */
	if (dev->scope == iface)
		return 0;
	return call_int(dev, OP_USB_CLAIM, "interface", iface, NULL, 0);
}

static int
sim_release(struct udk_usb_device *dev, uint8_t iface)
{
	if (dev->scope == iface)
		return 0;
	return call_int(dev, OP_USB_RELEASE, "interface", iface, NULL, 0);
}

static int
sim_set_interface(struct udk_usb_device *dev, uint8_t iface, uint8_t alt)
{
	return call_int(dev, OP_USB_SET_INTERFACE, "interface", iface, "alternate", alt);
}

static int
sim_clear_halt(struct udk_usb_device *dev, uint8_t endpoint, bool request)
{
	/* without the request only the host side forgets: the device stays halted */
	return request ? call_int(dev, OP_USB_CLEAR_HALT, "endpoint", endpoint, NULL, 0) : 0;
}

static int
sim_reset(struct udk_usb_device *dev)
{
	return call_int(dev, OP_USB_RESET, NULL, 0, NULL, 0);
}

static void
sim_close(struct udk_usb_device *dev)
{
	struct sim *s = SIM(dev);

	if (!s)
		return;
	__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
	shutdown(s->fd, SHUT_RDWR);
	poke(s);
	if (s->reader_started)
		pthread_join(s->reader, NULL);
	for (unsigned i = 0; i < s->n_mems; i++)
		close(s->mems[i].fd);
	close(s->fd);
	close(s->wake);
	pthread_mutex_destroy(&s->send_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
	dev->backend_data = NULL;
}

static int
sim_open(struct udk_usb_device *dev, const struct udk_value *info, int fd)
{
	struct sim *s = calloc(1, sizeof(*s));
	int r;

	(void)info;
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	dev->backend_data = s;
	fd_set_nonblock(fd, false);
	if (s->wake < 0) {
		r = -errno;
		sim_close(dev);
		return r;
	}
	r = -pthread_create(&s->reader, NULL, reader, dev);
	if (r < 0) {
		sim_close(dev);
		return r;
	}
	s->reader_started = true;
	return 0;
}

const struct usb_backend usb_sim_backend = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.set_configuration = sim_set_configuration,
	.claim = sim_claim,
	.release = sim_release,
	.set_interface = sim_set_interface,
	.clear_halt = sim_clear_halt,
	.reset = sim_reset,
	.submit = sim_submit,
	.cancel = sim_cancel,
};
