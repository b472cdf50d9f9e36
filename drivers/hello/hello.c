/* SPDX-License-Identifier: MIT */
/*
 * hello - the udk example driver.  Copy it to start a driver of your own.
 *
 * It attaches to IOUserResources (no hardware), registers itself so apps
 * can find it, and offers a user client whose methods are declared once,
 * in hello.xml: udk-iig generates the checked dispatch table and the
 * hello_handle_*() prototypes implemented here (hello-driver.h), and the
 * typed calls apps make (hello-client.h).  The user client has:
 *   - a structure method (Greet) and a scalar method (Add),
 *   - GetEdid: the app passes {size, uaddr}; the driver maps the app's
 *     buffer with a memory descriptor and writes into it, the case from
 *     "CreateMemoryDescriptorFromClient can't write data to user?" (the
 *     app exposes that buffer for the call: udk_call_args.ranges),
 *   - TickAsync: an asynchronous method completed later from a timer,
 *   - Checksum: a structure of any size (large ones arrive as memory),
 *   - a read-only status page apps map (copy_client_memory_for_type),
 *   - a data queue of events (copy_data_queue_for_type).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/driver.h>
#include <udk/ring.h>
#include <udk/userclient.h>

#include "hello-driver.h"

struct hello_uc {
	struct udk_buffer *status;	/* shared read-only with the app */
	struct udk_ring *events;	/* data queue 0: we produce */
	struct udk_timer *timer;
	struct udk_async_ref *pending;
	uint64_t ticks_left;
	uint64_t ticks;
};

static int
hello_start(struct udk_service *self, struct udk_service *provider)
{
	udk_log_info("hello: starting on %s", udk_service_get_name(provider));
	/* visible to apps (udk_client_find_service) from here on */
	return udk_service_register(self);
}

/* The checks of hello.xml have run: name is at most 63 bytes, greeting_size 1..128. */
int
hello_handle_greet(struct udk_service *uc, const char *name, char *greeting, size_t greeting_size)
{
	int n;

	(void)uc;
	n = snprintf(greeting, greeting_size, "Hello, %s, from pid %d!", name, getpid());
	if (n < 0 || (size_t)n >= greeting_size)
		return udk_error_set(-ENOBUFS, "the greeting needs %d bytes of output", n + 1);
	return 0;
}

int
hello_handle_add(struct udk_service *uc, uint64_t a, uint64_t b, uint64_t *ret_sum)
{
	(void)uc;
	*ret_sum = a + b;
	return 0;
}

int
hello_handle_get_edid(struct udk_service *uc, const struct hello_edid *e)
{
	struct udk_address_segment seg = { e->uaddr, e->size };
	struct udk_memory_descriptor *md = NULL;
	uint8_t edid[HELLO_EDID_SIZE];
	int r;

	if (e->size > sizeof(edid))
		return udk_error_set(-EINVAL, "an EDID is at most %d bytes, the app asked for %llu", HELLO_EDID_SIZE,
				     (unsigned long long)e->size);
	/* a fake monitor: EDID header, then bytes that checksum to zero per block */
	memset(edid, 0, sizeof(edid));
	memcpy(edid, "\x00\xff\xff\xff\xff\xff\xff\x00", 8);
	memcpy(edid + 8, "\x5a\xa5UDK1", 6);
	for (int block = 0; block < 2; block++) {
		uint8_t sum = 0;
		for (int i = 0; i < 127; i++)
			sum += edid[block * 128 + i];
		edid[block * 128 + 127] = (uint8_t)(0x100 - sum);
	}
	/* OutIn, as in the forum post: udk writes back into the app's buffer */
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &md);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_write(md, 0, edid, e->size);
	udk_memory_descriptor_unref(md);
	return r;
}

static void
tick(struct udk_timer *t, uint64_t now, void *ctx)
{
	struct hello_uc *iv = ctx;
	uint64_t v;

	(void)now;
	iv->ticks++;
	if (!iv->pending || --iv->ticks_left > 0)
		return;
	udk_timer_cancel(t);
	v = iv->ticks;
	hello_tick_async_complete(iv->pending, 0, v);
	udk_async_ref_free(iv->pending);
	iv->pending = NULL;
}

/* hello.xml bounds ticks to 1..1000; the generated code checked it. */
int
hello_handle_tick_async(struct udk_service *uc, const struct udk_async_ref *completion, uint64_t ticks)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);
	int r;

	if (iv->pending)
		return udk_error_set(-EBUSY, "a TickAsync call is already waiting");
	if (!iv->timer && (r = udk_timer_create(udk_service_get_default_queue(uc), tick, iv, &iv->timer)) < 0)
		return r;
	r = udk_async_ref_copy(completion, &iv->pending);
	if (r < 0)
		return r;
	iv->ticks_left = ticks;
	/* every 10 ms */
	return udk_timer_arm(iv->timer, udk_time_now_ns() + 10000000ull, 10000000ull);
}

static struct hello_status *
status_of(struct udk_service *uc)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);

	return iv->status ? udk_buffer_get_address(iv->status) : NULL;
}

/* Over 4 KiB the bytes arrive as read-only memory, mapped by the generated code. */
int
hello_handle_checksum(struct udk_service *uc, const void *data, size_t data_len, uint64_t *ret_sum)
{
	const uint8_t *p = data;
	uint64_t sum = 0;

	(void)uc;
	for (size_t i = 0; i < data_len; i++)
		sum += p[i];
	*ret_sum = sum;
	return 0;
}

int
hello_handle_start_events(struct udk_service *uc, uint64_t count)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);
	struct hello_status *st = status_of(uc);

	if (!iv->events)
		return udk_error_set(-ENXIO, "map data queue 0 (udk_connection_map_data_queue) first");
	for (uint64_t i = 0; i < count; i++) {
		struct hello_event ev = { i, udk_time_now_ns() };
		int r = udk_ring_enqueue(iv->events, &ev, sizeof(ev));
		if (r < 0)
			return udk_error_set(r, "the queue filled up after %llu events; read faster",
					     (unsigned long long)i);
		if (st)
			st->events++;
	}
	return 0;
}

/* A user client starts when an app opens it (NewUserClient). */
static int
hello_uc_start(struct udk_service *uc, struct udk_service *provider)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);

	(void)provider;
	/* the status page: the kernel keeps the app's mapping read-only */
	return udk_buffer_create(4096, UDK_BUFFER_PEER_READONLY, &iv->status);
}

static int
hello_copy_memory(struct udk_service *uc, uint64_t type, uint64_t *options, struct udk_buffer **ret)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);

	(void)options;
	if (type != HELLO_MEMORY_STATUS)
		return udk_error_set(-EINVAL, "memory type %llu does not exist", (unsigned long long)type);
	*ret = udk_buffer_ref(iv->status);
	return 0;
}

static int
hello_copy_data_queue(struct udk_service *uc, uint64_t type, struct udk_ring **ret)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);
	int r;

	if (type != 0)
		return udk_error_set(-EINVAL, "data queue %llu does not exist", (unsigned long long)type);
	if (!iv->events && (r = udk_ring_create(64 * 1024, UDK_RING_PRODUCER, &iv->events)) < 0)
		return r;
	*ret = udk_ring_ref(iv->events);
	return 0;
}

static void
hello_uc_free(struct udk_service *uc)
{
	struct hello_uc *iv = udk_service_get_ivars(uc);

	udk_buffer_unref(iv->status);
	udk_ring_unref(iv->events);

	if (iv->timer) {
		udk_timer_cancel(iv->timer);
		udk_timer_unref(iv->timer);
	}
	udk_async_ref_free(iv->pending);
}

/* Count every call in the status page, then dispatch through the table. */
static int
hello_external_method(struct udk_service *uc, uint64_t selector, struct udk_method_args *args)
{
	struct hello_status *st = status_of(uc);
	/* hello_dispatch: generated from hello.xml; every entry checks before it calls */
	const struct udk_method_dispatch *d = selector < HELLO_SELECTOR_COUNT ? &hello_dispatch[selector] : NULL;

	if (st)
		st->calls++;
	/* the table's checks run before the method, as without this hook */
	return udk_user_client_dispatch(uc, args, d, NULL);
}

static const struct udk_class hello_driver = {
	UDK_CLASS_INIT,
	.name = HELLO_SERVICE_CLASS,
	.start = hello_start,
};

static const struct udk_class hello_user_client = {
	UDK_CLASS_INIT,
	.name = HELLO_USER_CLIENT_CLASS,
	.ivars_size = sizeof(struct hello_uc),
	.start = hello_uc_start,
	.free = hello_uc_free,
	.methods = hello_dispatch,
	.n_methods = HELLO_SELECTOR_COUNT,
	.external_method = hello_external_method,
	.copy_client_memory_for_type = hello_copy_memory,
	.copy_data_queue_for_type = hello_copy_data_queue,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &hello_driver, &hello_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
