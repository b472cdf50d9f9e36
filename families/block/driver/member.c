/* SPDX-License-Identifier: MIT */
/*
 * member.c - drivers as clients of block devices: the device a driver was
 * matched on (its provider) or the ones its personality names
 * (UDKBlockMembers), through a channel udkd brokers to the device's driver.
 * The channel sets the session up (rings, buffers) and tells when the
 * device's driver is gone; requests travel through the rings.
 */
#include <sys/mman.h>

#include <udk/buffer.h>
#include <udk/families/block.h>
#include <udk/userclient.h>

#include "client-private.h"
#include "private.h"
#include "ring-private.h"
#include "util.h"
#include "wire.h"

struct held {
	struct held *next;
	struct udk_memory_descriptor *md;
	struct udk_buffer *buf;
};

struct channel {
	int fd;
	pthread_mutex_t lock;
	uint32_t serial;
	struct held *held;
};

static int
ch_call(struct channel *ch, uint16_t op, struct udk_value *body, const int *fds, unsigned n, struct wire_msg *ret)
{
	uint32_t serial;
	int r;

	pthread_mutex_lock(&ch->lock);
	serial = ++ch->serial;
	r = wire_send_value(ch->fd, op, 0, serial, 0, body, fds, n);
	while (r >= 0) {
		r = wire_recv(ch->fd, ret, false);
		if (r < 0)
			break;
		if ((ret->h.flags & WIRE_F_REPLY) && ret->h.serial == serial)
			break;
		wire_msg_clear(ret);
	}
	pthread_mutex_unlock(&ch->lock);
	if (r < 0)
		return udk_set_reason(-UDK_E_HARDWARE_GONE, "the block device's driver is gone");
	if (ret->h.status < 0) {
		r = ret->h.status;
		udk_set_reason(r, "%s", udk_dict_get_string(ret->body, "reason") ? udk_dict_get_string(ret->body, "reason")
										 : udk_strerror(r));
		wire_msg_clear(ret);
		return r;
	}
	return 0;
}

static int
register_md(struct udk_block_client *bc, struct udk_memory_descriptor *md, uint32_t *ret_id)
{
	struct channel *ch = bc->tp_data;
	struct udk_value *b;
	struct wire_msg m;
	uint64_t off;
	int fd, r;

	if (md_backing(md, &fd, &off) < 0)
		return udk_set_reason(-UDK_E_BAD_ADDRESS, "the memory descriptor has no memory the device can map");
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "offset", off);
	udk_dict_set_uint(b, "length", udk_memory_descriptor_get_length(md));
	r = ch_call(ch, OP_BLOCK_CH_BUFFER, b, &fd, 1, &m);
	udk_value_unref(b);
	if (r < 0)
		return r;
	*ret_id = (uint32_t)udk_value_get_uint(udk_dict_get(m.body, "id"), 0);
	wire_msg_clear(&m);
	return 0;
}

static int
hold(struct channel *ch, struct udk_memory_descriptor *md, struct udk_buffer *buf)
{
	struct held *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->md = udk_memory_descriptor_ref(md);
	h->buf = buf ? udk_buffer_ref(buf) : NULL;
	pthread_mutex_lock(&ch->lock);
	h->next = ch->held;
	ch->held = h;
	pthread_mutex_unlock(&ch->lock);
	return 0;
}

UDK_EXPORT int
udk_block_client_register_memory(struct udk_block_client *bc, struct udk_memory_descriptor *md, uint32_t *ret_id)
{
	int r;

	udk_return_val_if_fail(bc && md && ret_id, -EINVAL);
	/* the device maps the memory itself: @md need not outlive the call */
	r = register_md(bc, md, ret_id);
	return r;
}

UDK_EXPORT int
udk_block_client_unregister_memory(struct udk_block_client *bc, uint32_t id)
{
	struct channel *ch;
	struct udk_value *b;
	struct wire_msg m;
	int r;

	udk_return_val_if_fail(bc && bc->tp_data, -EINVAL);
	ch = bc->tp_data;
	b = udk_value_new_dict();
	udk_dict_set_uint(b, "id", id);
	r = ch_call(ch, OP_BLOCK_CH_UNBUFFER, b, NULL, 0, &m);
	udk_value_unref(b);
	if (r >= 0)
		wire_msg_clear(&m);
	return r;
}

static int
ch_new_buffer(struct udk_block_client *bc, uint64_t size, void **ret_addr, uint32_t *ret_id)
{
	struct udk_buffer *buf = NULL;
	struct udk_memory_descriptor *md = NULL;
	int r = udk_buffer_create(size, 0, &buf);

	if (r >= 0)
		r = udk_memory_descriptor_from_buffer(buf, UDK_MEMORY_DIRECTION_INOUT, &md);
	if (r >= 0)
		r = register_md(bc, md, ret_id);
	if (r >= 0)
		r = hold(bc->tp_data, md, buf);
	if (r >= 0)
		*ret_addr = udk_buffer_get_address(buf);
	udk_memory_descriptor_unref(md);
	udk_buffer_unref(buf);
	return r;
}

static void
ch_close(struct udk_block_client *bc)
{
	struct channel *ch = bc->tp_data;

	if (!ch)
		return;
	close(ch->fd);
	while (ch->held) {
		struct held *h = ch->held;
		ch->held = h->next;
		udk_memory_descriptor_unref(h->md);
		udk_buffer_unref(h->buf);
		free(h);
	}
	pthread_mutex_destroy(&ch->lock);
	free(ch);
	bc->tp_data = NULL;
}

static int
ch_death_fd(struct udk_block_client *bc)
{
	return ((struct channel *)bc->tp_data)->fd;
}

static const struct block_transport channel_transport = {
	.new_buffer = ch_new_buffer,
	.close = ch_close,
	.death_fd = ch_death_fd,
};

/* Attach over the channel @fd (taken). */
static int
attach(int fd, struct udk_block_client **ret)
{
	struct udk_block_client *bc = block_client_alloc();
	struct channel *ch = calloc(1, sizeof(*ch));
	struct udk_value *b = udk_value_new_dict();
	struct udk_ring *sq = NULL, *cq = NULL;
	struct udk_block_info info;
	struct wire_msg m;
	const void *data;
	size_t len = 0;
	int fds[6], r;

	if (!bc || !ch) {
		close(fd);
		free(ch);
		block_client_free(bc);
		udk_value_unref(b);
		return -ENOMEM;
	}
	ch->fd = fd;
	pthread_mutex_init(&ch->lock, NULL);
	bc->tp = &channel_transport;
	bc->tp_data = ch;
	r = ch_call(ch, OP_BLOCK_CH_ATTACH, b, NULL, 0, &m);
	udk_value_unref(b);
	if (r < 0)
		goto fail;
	data = udk_value_get_data(udk_dict_get(m.body, "info"), &len);
	if (data && len == sizeof(info))
		memcpy(&info, data, sizeof(info));
	for (int i = 0; i < 6; i++)
		fds[i] = wire_msg_take_fd(&m, (unsigned)i);
	wire_msg_clear(&m);
	if (!data || len != sizeof(info) || fds[5] < 0) {
		for (int i = 0; i < 6; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		r = udk_set_reason(-UDK_E_PROTOCOL, "the block device's driver answered the attach with something unusable");
		goto fail;
	}
	r = ring_import(fds, UDK_RING_PRODUCER, &sq);
	if (r < 0) {
		for (int i = 0; i < 6; i++)
			close(fds[i]);
		goto fail;
	}
	r = ring_import(fds + 3, UDK_RING_CONSUMER, &cq);
	if (r < 0) {
		for (int i = 3; i < 6; i++)
			close(fds[i]);
		udk_ring_unref(sq);
		goto fail;
	}
	r = block_client_start(bc, &channel_transport, ch, &info, sq, cq);
	if (r < 0)
		goto fail;
	*ret = bc;
	return 0;
fail:
	ch_close(bc);
	block_client_free(bc);
	return r;
}

UDK_EXPORT int
udk_block_client_open_provider(struct udk_service *provider, struct udk_block_client **ret)
{
	struct udk_value *body, *reply = NULL;
	int fd = -1, r;

	udk_return_val_if_fail(provider && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fd(OP_DRV_OPEN_PROVIDER, body, &reply, &fd);
	udk_value_unref(body);
	udk_value_unref(reply);
	if (r < 0)
		return r;
	if (fd < 0)
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the block device without a channel");
	return attach(fd, ret);
}

UDK_EXPORT int
udk_block_client_open_member(const char *identifier, struct udk_block_client **ret)
{
	struct udk_value *body, *reply = NULL;
	int fd = -1, r;

	udk_return_val_if_fail(identifier && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_string(body, "identifier", identifier);
	r = rt_call_fd(OP_BLOCK_OPEN_MEMBER, body, &reply, &fd);
	udk_value_unref(body);
	udk_value_unref(reply);
	if (r < 0)
		return r;
	if (fd < 0)
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the block device without a channel");
	return attach(fd, ret);
}
