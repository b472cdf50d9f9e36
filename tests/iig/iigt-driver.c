/* SPDX-License-Identifier: MIT */
/*
 * iigt-driver - implements tests/iig/iigt.xml through the code udk-iig
 * generated from it (iigt-driver.h/.c), so that test-iig.c can call every
 * kind of method through the generated app stubs.  What each handler does
 * is in the summaries of iigt.xml.  Built with IIGT_FUZZ, it is the
 * handlers only, for fuzz-iig.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/queue.h>

#include "iigt-driver.h"

struct later {
	struct udk_async_ref *ref;
	uint64_t n;
};

#ifndef IIGT_FUZZ
static int
iigt_start(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	return udk_service_register(self);
}
#endif

int
iigt_handle_echo(struct udk_service *client, uint8_t u8, int16_t i16, uint32_t u32, int64_t i64, bool flag,
		 uint32_t mode, uint8_t *ret_o_u8, int16_t *ret_o_i16, uint32_t *ret_o_u32, int64_t *ret_o_i64,
		 bool *ret_o_flag, uint32_t *ret_o_mode)
{
	(void)client;
	*ret_o_u8 = u8;
	*ret_o_i16 = (int16_t)-i16;
	*ret_o_u32 = u32;
	*ret_o_i64 = i64;
	*ret_o_flag = !flag;
	*ret_o_mode = mode;
	return 0;
}

int
iigt_handle_names(struct udk_service *client, const char *name, char *reply, size_t reply_size)
{
	int n;

	(void)client;
	n = snprintf(reply, reply_size, "hi, %s", name);
	if (n < 0 || (size_t)n >= reply_size)
		return udk_error_set(-ENOBUFS, "the reply needs %d bytes", n + 1);
	return 0;
}

int
iigt_handle_blob(struct udk_service *client, const void *data, size_t data_len, uint64_t *ret_len, void *head,
		 size_t head_size, size_t *ret_head_len)
{
	size_t n = data_len < head_size ? data_len : head_size;

	(void)client;
	memcpy(head, data, n);
	*ret_head_len = n;
	*ret_len = data_len;
	return 0;
}

int
iigt_handle_point(struct udk_service *client, const struct iigt_point *p, struct iigt_point *ret_q)
{
	(void)client;
	ret_q->at.x = -p->at.x;
	ret_q->at.y = -p->at.y;
	ret_q->flags = ~p->flags;
	ret_q->tag = p->tag + 1;
	return 0;
}

int
iigt_handle_big(struct udk_service *client, const struct iigt_big *b, struct iigt_big *ret_c)
{
	(void)client;
	ret_c->seed = b->seed;
	for (size_t i = 0; i < IIGT_BIG_SIZE; i++)
		ret_c->bytes[i] = (uint8_t)~b->bytes[i];
	return 0;
}

/* On the user client's queue, after the call's reply went out. */
static void
later_done(void *data)
{
	struct later *l = data;

	iigt_later_complete(l->ref, 0, l->n + 1, -1, IIGT_MODE_AUTO);
	udk_async_ref_free(l->ref);
	free(l);
}

int
iigt_handle_later(struct udk_service *client, const struct udk_async_ref *completion, uint64_t n)
{
	struct later *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->n = n;
	r = udk_async_ref_copy(completion, &l->ref);
	if (r >= 0)
		r = udk_queue_dispatch_async(udk_service_get_default_queue(client), later_done, l);
	if (r < 0) {
		udk_async_ref_free(l->ref);
		free(l);
	}
	return r;
}

int
iigt_handle_fail(struct udk_service *client, int32_t code)
{
	(void)client;
	if (code < 0)
		return udk_error_set(code, "asked to fail with %s", udk_error_name(code));
	return 0;
}

int
iigt_handle_liar(struct udk_service *client, bool lie, bool unterminated, uint32_t *ret_small, char *text,
		 size_t text_size)
{
	(void)client;
	*ret_small = lie ? 11 : 5;
	if (unterminated)
		memset(text, 'x', text_size);
	else
		snprintf(text, text_size, "ok");
	return 0;
}

int
iigt_handle_ping(struct udk_service *client)
{
	(void)client;
	return 0;
}

/* The byte sum of @len app bytes at @addr, and optionally fill them with @byte. */
static int
touch(struct udk_service *client, uint64_t addr, uint64_t len, int byte, uint64_t *ret_sum)
{
	struct udk_address_segment seg = { addr, len };
	struct udk_memory_descriptor *md = NULL;
	uint8_t *p;
	uint64_t n, sum = 0;
	int r;

	r = udk_user_client_create_memory_descriptor(client, byte >= 0 ? UDK_MEMORY_DIRECTION_INOUT
								     : UDK_MEMORY_DIRECTION_OUT,
						     1, &seg, &md);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_map(md, (void **)&p, &n);
	for (uint64_t i = 0; r >= 0 && i < n; i++) {
		sum += p[i];
		if (byte >= 0)
			p[i] = (uint8_t)byte;
	}
	udk_memory_descriptor_unref(md);
	*ret_sum += sum;
	return r < 0 ? r : 0;
}

int
iigt_handle_fill(struct udk_service *client, const struct iigt_fill *f, uint64_t *ret_old)
{
	return touch(client, f->w.addr, f->w.size, (uint8_t)f->byte, ret_old);
}

int
iigt_handle_peek(struct udk_service *client, uint64_t addr, uint64_t len, uint64_t *ret_sum)
{
	return touch(client, addr, len, -1, ret_sum);
}

int
iigt_handle_spans(struct udk_service *client, const struct iigt_spans *s, uint64_t *ret_sum)
{
	int r = 0;

	if (s->count > 4)
		return udk_error_set(-EINVAL, "at most 4 spans, not %llu", (unsigned long long)s->count);
	for (uint64_t i = 0; r >= 0 && i < s->count; i++)
		r = touch(client, s->addr[i], IIGT_ANSWER, -1, ret_sum);
	return r;
}

/* On the user client's queue, after the call's reply went out. */
static void
touch_done(void *data)
{
	struct later *l = data;

	iigt_touch_complete(l->ref, 0, l->n);
	udk_async_ref_free(l->ref);
	free(l);
}

int
iigt_handle_touch(struct udk_service *client, const struct udk_async_ref *completion, const struct iigt_window *w)
{
	struct later *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	/* the memory is reachable during the call only: read it now */
	r = touch(client, w->addr, w->size, -1, &l->n);
	if (r >= 0)
		r = udk_async_ref_copy(completion, &l->ref);
	if (r >= 0)
		r = udk_queue_dispatch_async(udk_service_get_default_queue(client), touch_done, l);
	if (r < 0) {
		udk_async_ref_free(l->ref);
		free(l);
	}
	return r;
}

#ifndef IIGT_FUZZ
static const struct udk_class iigt_driver = {
	UDK_CLASS_INIT,
	.name = IIGT_SERVICE_CLASS,
	.start = iigt_start,
};

static const struct udk_class iigt_user_client = {
	UDK_CLASS_INIT,
	.name = IIGT_USER_CLIENT_CLASS,
	.methods = iigt_dispatch,
	.n_methods = IIGT_SELECTOR_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &iigt_driver, &iigt_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
#endif
