/* SPDX-License-Identifier: MIT */
/*
 * hid/driver/channel.c - the process's HID channel (proto-hid.h), driver
 * side.
 *
 * One SOCK_SEQPACKET socket to udkd, opened on first use.  It is read on
 * the loop of the queue that opened it (the driver's default queue,
 * usually), so records for handles on that queue are handled with no
 * thread hop; records for handles on other queues are copied there.  Every
 * datagram is walked (proto_hid_walk) before a record is used.
 *
 * Sends go out at once, except inside a batch: while an input frame of a
 * seized device is handled, what the driver sends (its virtual devices'
 * reports) collects on this thread and leaves with the frame's
 * acknowledgement in one datagram, so udkd sees both or neither.
 */
#include <sys/socket.h>

#include <inttypes.h>

#include "hid-lib.h"
#include "proto.h"
#include "util.h"

static struct {
	pthread_mutex_t lock;
	int fd;
	struct udk_queue *queue;
	struct loop_source *src;
	struct lib_handle *handles;
} hc = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, NULL, NULL };

static _Thread_local struct proto_hid_batch *tl_batch;

/* ---- routing ---- */

struct routed {
	uint32_t handle;
	struct proto_hid_rec rec;
	uint8_t payload[];
};

/* Under hc.lock. */
static struct lib_handle *
find(uint32_t id)
{
	for (struct lib_handle *h = hc.handles; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

static void
deliver(const struct proto_hid_rec *rec, const uint8_t *payload)
{
	struct lib_handle *h;
	enum lib_handle_kind kind;
	void *obj;

	pthread_mutex_lock(&hc.lock);
	h = find(rec->handle);
	kind = h ? h->kind : LH_INTERFACE;
	obj = h ? h->obj : NULL;
	pthread_mutex_unlock(&hc.lock);
	if (!obj)
		return;
	if (kind == LH_INTERFACE)
		hid_interface_record(obj, rec, payload);
	else
		hid_device_record(obj, rec, payload);
}

static void
run_routed(void *data)
{
	struct routed *r = data;

	deliver(&r->rec, r->payload);
	free(r);
}

static int
on_record(void *ctx, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	struct udk_queue *q = NULL;

	(void)ctx;
	pthread_mutex_lock(&hc.lock);
	{
		struct lib_handle *h = find(rec->handle);
		if (h)
			q = udk_queue_ref(h->queue);
	}
	pthread_mutex_unlock(&hc.lock);
	if (!q)
		return 0;
	if (udk_queue_is_current(q)) {
		deliver(rec, payload);
	} else {
		struct routed *r = malloc(sizeof(*r) + rec->len);
		if (r) {
			r->rec = *rec;
			memcpy(r->payload, payload, rec->len);
			if (udk_queue_dispatch_async(q, run_routed, r) < 0)
				free(r);
		}
	}
	udk_queue_unref(q);
	return 0;
}

static void
on_channel(struct loop *l, int fd, uint32_t events, void *data)
{
	static _Thread_local uint8_t *buf;

	(void)l;
	(void)events;
	(void)data;
	if (!buf)
		buf = malloc(PROTO_HID_MAX_DATAGRAM + 1);
	if (!buf)
		return;
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, PROTO_HID_MAX_DATAGRAM + 1, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* udkd went away: the runtime ends the process */
			loop_source_remove(hc.src);
			hc.src = NULL;
			return;
		}
		if ((size_t)n > PROTO_HID_MAX_DATAGRAM || proto_hid_walk(buf, (size_t)n, 1, on_record, NULL) < 0)
			udk_log_error("libudk-hid: a malformed message from udkd on the HID channel: %s",
				      udk_error_reason() ? udk_error_reason() : "too large");
	}
}

struct attach {
	int fd;
	int r;
};

static void
do_attach(void *data)
{
	struct attach *a = data;

	a->r = loop_add_fd(queue_loop(queue_current()), a->fd, EPOLLIN, on_channel, NULL, &hc.src);
}

int
hid_channel_ensure(struct udk_queue *queue)
{
	struct udk_value *body;
	struct attach a = { -1, 0 };
	int r, fd = -1;

	pthread_mutex_lock(&hc.lock);
	if (hc.fd >= 0) {
		pthread_mutex_unlock(&hc.lock);
		return 0;
	}
	body = udk_value_new_dict();
	r = rt_call_fd(OP_HID_CHANNEL, body, NULL, &fd);
	udk_value_unref(body);
	if (r >= 0 && fd < 0)
		r = udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the HID channel without a descriptor");
	if (r < 0) {
		pthread_mutex_unlock(&hc.lock);
		return r;
	}
	hc.fd = fd;
	hc.queue = udk_queue_ref(queue);
	pthread_mutex_unlock(&hc.lock);
	a.fd = fd;
	if (udk_queue_is_current(queue))
		do_attach(&a);
	else
		r = udk_queue_dispatch_sync(queue, do_attach, &a);
	return r < 0 ? r : a.r;
}

int
hid_channel_add(uint32_t id, enum lib_handle_kind kind, struct udk_queue *queue, void *obj)
{
	struct lib_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->id = id;
	h->kind = kind;
	h->queue = udk_queue_ref(queue);
	h->obj = obj;
	pthread_mutex_lock(&hc.lock);
	h->next = hc.handles;
	hc.handles = h;
	pthread_mutex_unlock(&hc.lock);
	return 0;
}

void
hid_channel_remove(uint32_t id)
{
	struct lib_handle *gone = NULL;

	pthread_mutex_lock(&hc.lock);
	for (struct lib_handle **pp = &hc.handles; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			gone = *pp;
			*pp = gone->next;
			break;
		}
	pthread_mutex_unlock(&hc.lock);
	if (gone) {
		udk_queue_unref(gone->queue);
		free(gone);
	}
}

/* ---- sending ---- */

static int
send_all(const void *data, size_t len)
{
	ssize_t n;

	if (hc.fd < 0)
		return -ENOTCONN;
	do
		n = send(hc.fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int
hid_channel_send(const struct proto_hid_rec *rec, const void *payload)
{
	struct proto_hid_batch one = { 0 };
	int r;

	if (tl_batch) {
		r = proto_hid_batch_add(tl_batch, rec, payload);
		if (r != -ENOSPC)
			return r;
		/* a frame that made more than a datagram holds: send what is there */
		send_all(tl_batch->data, tl_batch->len);
		proto_hid_batch_reset(tl_batch);
		return proto_hid_batch_add(tl_batch, rec, payload);
	}
	r = proto_hid_batch_add(&one, rec, payload);
	if (r >= 0)
		r = send_all(one.data, one.len);
	proto_hid_batch_free(&one);
	return r;
}

void
hid_channel_batch_begin(void)
{
	static _Thread_local struct proto_hid_batch batch;

	proto_hid_batch_reset(&batch);
	tl_batch = &batch;
}

void
hid_channel_batch_end(const struct proto_hid_rec *ack)
{
	struct proto_hid_batch *b = tl_batch;

	if (!b)
		return;
	tl_batch = NULL;
	if (ack && proto_hid_batch_add(b, ack, NULL) == -ENOSPC) {
		send_all(b->data, b->len);
		proto_hid_batch_reset(b);
		proto_hid_batch_add(b, ack, NULL);
	}
	if (b->len)
		send_all(b->data, b->len);
	proto_hid_batch_reset(b);
}
