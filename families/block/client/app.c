/* SPDX-License-Identifier: MIT */
/*
 * app.c - apps as clients of block devices (<udk/families/block-client.h>):
 * the family's user client sets the session up (Attach, the two data
 * queues, AddBuffer over the app's udk_buffers); requests travel through
 * the rings.  The connection's socket tells when the driver is gone.
 */
#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/families/block-client.h>
#include <udk/ring.h>

#include "client-private.h"
#include "util.h"

struct held {
	struct held *next;
	struct udk_buffer *buf;
};

struct app {
	struct udk_connection *conn;
	pthread_mutex_t lock;
	struct held *held;
};

UDK_EXPORT int
udk_block_client_register_buffer(struct udk_block_client *bc, void *addr, uint64_t len, uint32_t *ret_id)
{
	struct app *a;
	struct blk_uc_buffer b = { (uintptr_t)addr, len };
	uint64_t id = 0;
	uint32_t n = 1;
	int r;

	udk_return_val_if_fail(bc && addr && len && ret_id, -EINVAL);
	a = bc->tp_data;
	{
		/* the buffer goes by address: exposed to the driver for this call */
		struct udk_memory_range range = { addr, len, UDK_MEMORY_DIRECTION_INOUT };
		struct udk_call_args ca = { .struct_size = sizeof(ca), .struct_input = &b, .struct_input_size = sizeof(b),
					    .scalar_output = &id, .scalar_output_count = n, .ranges = &range,
					    .n_ranges = 1 };
		r = udk_connection_call_args(a->conn, BLOCK_UC_ADD_BUFFER, &ca);
	}
	if (r < 0)
		return r;
	*ret_id = (uint32_t)id;
	return 0;
}

static int
app_new_buffer(struct udk_block_client *bc, uint64_t size, void **ret_addr, uint32_t *ret_id)
{
	struct app *a = bc->tp_data;
	struct udk_buffer *buf = NULL;
	struct held *h;
	int r = udk_buffer_create(size, 0, &buf);

	if (r < 0)
		return r;
	r = udk_block_client_register_buffer(bc, udk_buffer_get_address(buf), size, ret_id);
	h = r >= 0 ? calloc(1, sizeof(*h)) : NULL;
	if (!h) {
		udk_buffer_unref(buf);
		return r < 0 ? r : -ENOMEM;
	}
	h->buf = buf;
	pthread_mutex_lock(&a->lock);
	h->next = a->held;
	a->held = h;
	pthread_mutex_unlock(&a->lock);
	*ret_addr = udk_buffer_get_address(buf);
	return 0;
}

static void
app_close(struct udk_block_client *bc)
{
	struct app *a = bc->tp_data;

	if (!a)
		return;
	udk_connection_unref(a->conn);
	while (a->held) {
		struct held *h = a->held;
		a->held = h->next;
		udk_buffer_unref(h->buf);
		free(h);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
	bc->tp_data = NULL;
}

static int
app_death_fd(struct udk_block_client *bc)
{
	return udk_connection_get_fd(((struct app *)bc->tp_data)->conn);
}

static const struct block_transport app_transport = {
	.new_buffer = app_new_buffer,
	.close = app_close,
	.death_fd = app_death_fd,
};

UDK_EXPORT int
udk_block_client_open(struct udk_client *c, uint64_t service, struct udk_block_client **ret)
{
	struct udk_block_client *bc;
	struct udk_block_info info;
	struct udk_ring *sq = NULL, *cq = NULL;
	struct app *a;
	size_t n = sizeof(info);
	int r;

	udk_return_val_if_fail(c && ret, -EINVAL);
	bc = block_client_alloc();
	a = calloc(1, sizeof(*a));
	if (!bc || !a) {
		free(a);
		block_client_free(bc);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	bc->tp = &app_transport;
	bc->tp_data = a;
	r = udk_client_open(c, service, 0, &a->conn);
	if (r >= 0)
		r = udk_connection_call(a->conn, BLOCK_UC_ATTACH, NULL, 0, NULL, 0, NULL, NULL, &info, &n);
	if (r >= 0 && n != sizeof(info))
		r = -UDK_E_PROTOCOL;
	if (r >= 0)
		r = udk_connection_map_data_queue(a->conn, 0, &sq);
	if (r >= 0)
		r = udk_connection_map_data_queue(a->conn, 1, &cq);
	if (r >= 0 && (udk_ring_get_role(sq) != UDK_RING_PRODUCER || udk_ring_get_role(cq) != UDK_RING_CONSUMER))
		r = -UDK_E_PROTOCOL;
	if (r >= 0) {
		r = block_client_start(bc, &app_transport, a, &info, sq, cq);
		sq = cq = NULL;
	}
	if (r < 0) {
		udk_ring_unref(sq);
		udk_ring_unref(cq);
		app_close(bc);
		block_client_free(bc);
		return r;
	}
	*ret = bc;
	return 0;
}
