/* SPDX-License-Identifier: MIT */
/*
 * capture - the driver of the simulated PCIe video capture card, the udk
 * example of a PCI driver: it opens its IOPCIDevice, reads an EDID ROM
 * through a BAR, prepares the app's frame buffers for DMA (16 frames of 8K
 * are 2.26 GB: no limit applies), takes an MSI per frame and tells the app
 * through a data queue.  Its user client's methods are declared in
 * capture.xml; udk-iig generates the checked dispatch table and the
 * capture_handle_*() prototypes implemented here (capture-driver.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/ring.h>
#include <udk/userclient.h>

#include "capture-regs.h"
#include "capture-driver.h"

struct buffer {
	struct udk_memory_descriptor *md;
	struct udk_dma_command *cmd;
	uint64_t iova;
};

struct capture {
	struct udk_pci_device *pci;
	struct udk_queue *irq_q;
	struct udk_interrupt_source *frame_irq, *test_irq;
	uint32_t width, height, stride, frame_size;
	const uint8_t *edid;		/* BAR1, mapped read-only */

	pthread_mutex_t lock;		/* the session below */
	struct udk_service *owner;	/* the user client using the card */
	struct buffer bufs[CAPTURE_MAX_BUFFERS];
	unsigned n_bufs;
	struct udk_ring *events;
	uint64_t lost_events;

	pthread_cond_t test_cond;	/* interrupt latency test */
	uint64_t test_latency;
	bool test_seen;
};

static struct capture *card;

static uint32_t
reg(struct capture *c, uint32_t off)
{
	uint32_t v = 0;

	udk_pci_memory_read32(c->pci, 0, off, &v);
	return v;
}

/* MSI vector 0: pop every finished frame and tell the app. */
static void
frame_done(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	struct capture *c = ctx;

	(void)src;
	(void)count;
	for (;;) {
		uint32_t pop = reg(c, CAP_DONE_POP);
		struct capture_event ev;

		if (!(pop & CAP_DONE_VALID))
			break;
		ev = (struct capture_event){ pop & 0xffff, 0, reg(c, CAP_DONE_FRAME), time_ns };
		pthread_mutex_lock(&c->lock);
		if (!c->events || udk_ring_enqueue(c->events, &ev, sizeof(ev)) < 0)
			c->lost_events++;
		pthread_mutex_unlock(&c->lock);
	}
}

/* MSI vector 1: the latency probe. */
static void
test_irq(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	struct capture *c = ctx;
	uint64_t now = udk_time_now_ns();

	(void)src;
	(void)count;
	pthread_mutex_lock(&c->lock);
	c->test_latency = now > time_ns ? now - time_ns : 0;
	c->test_seen = true;
	pthread_cond_signal(&c->test_cond);
	pthread_mutex_unlock(&c->lock);
}

static int
capture_start(struct udk_service *self, struct udk_service *provider)
{
	struct capture *c = udk_service_get_ivars(self);
	void *rom;
	int r;

	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->test_cond, NULL);
	r = udk_pci_open(provider, &c->pci);
	if (r < 0)
		return r;
	if (reg(c, CAP_ID) != CAP_ID_VALUE)
		return udk_error_set(-ENODEV, "BAR0 does not look like the capture card (ID register 0x%08x)",
				     reg(c, CAP_ID));
	c->width = reg(c, CAP_WIDTH);
	c->height = reg(c, CAP_HEIGHT);
	c->stride = reg(c, CAP_STRIDE);
	c->frame_size = reg(c, CAP_FRAME_SIZE);
	r = udk_pci_map_bar(c->pci, 1, &rom, NULL);
	if (r < 0)
		return r;
	c->edid = rom;
	if ((r = udk_queue_create("capture-irq", &c->irq_q)) < 0 ||
	    (r = udk_interrupt_source_create(c->pci, 0, c->irq_q, frame_done, c, &c->frame_irq)) < 0 ||
	    (r = udk_interrupt_source_create(c->pci, 1, c->irq_q, test_irq, c, &c->test_irq)) < 0)
		return r;
	card = c;
	udk_log_info("capture card: %ux%u BGRA, %u bytes per frame", c->width, c->height, c->frame_size);
	return udk_service_register(self);
}

static int
capture_stop(struct udk_service *self, struct udk_service *provider)
{
	struct capture *c = udk_service_get_ivars(self);

	(void)provider;
	udk_pci_memory_write32(c->pci, 0, CAP_CONTROL, 0);
	udk_interrupt_source_destroy(c->frame_irq);
	udk_interrupt_source_destroy(c->test_irq);
	udk_pci_close(c->pci);
	udk_queue_unref(c->irq_q);
	return 0;
}

/* ---- the user client ---- */

static void
end_session(struct capture *c)
{
	udk_pci_memory_write32(c->pci, 0, CAP_CONTROL, 0);
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->n_bufs; i++) {
		udk_dma_command_free(c->bufs[i].cmd);
		udk_memory_descriptor_unref(c->bufs[i].md);
	}
	memset(c->bufs, 0, sizeof(c->bufs));
	c->n_bufs = 0;
	udk_ring_unref(c->events);
	c->events = NULL;
	c->owner = NULL;
	pthread_mutex_unlock(&c->lock);
}

static int
uc_start(struct udk_service *uc, struct udk_service *provider)
{
	int r = 0;

	(void)provider;
	pthread_mutex_lock(&card->lock);
	if (card->owner)
		r = udk_error_set(-UDK_E_BUSY, "the capture card is in use by another app");
	else
		card->owner = uc;
	pthread_mutex_unlock(&card->lock);
	return r;
}

static void
uc_closed(struct udk_service *uc)
{
	if (card->owner == uc)
		end_session(card);
}

int
capture_handle_get_edid(struct udk_service *uc, const struct capture_edid *e)
{
	struct udk_address_segment seg = { e->uaddr, e->size };
	struct udk_memory_descriptor *md = NULL;
	int r;

	if (e->size > 256)
		return udk_error_set(-EINVAL, "the EDID is 256 bytes; asked for %llu", (unsigned long long)e->size);
	/* the forum's case: an OutIn descriptor over the app's buffer */
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &md);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_write(md, 0, card->edid, e->size);
	udk_memory_descriptor_unref(md);
	return r;
}

int
capture_handle_get_format(struct udk_service *uc, uint64_t *ret_width, uint64_t *ret_height, uint64_t *ret_stride,
			  uint64_t *ret_frame_size)
{
	(void)uc;
	*ret_width = card->width;
	*ret_height = card->height;
	*ret_stride = card->stride;
	*ret_frame_size = card->frame_size;
	return 0;
}

int
capture_handle_add_buffers(struct udk_service *uc, const struct capture_buffers *b)
{
	struct udk_dma_spec spec = { .max_address_bits = 64 };
	int r = 0;

	if (b->count < 1 || b->count > CAPTURE_MAX_BUFFERS)
		return udk_error_set(-EINVAL, "1..%d buffers, not %llu", CAPTURE_MAX_BUFFERS, (unsigned long long)b->count);
	if (b->size != card->frame_size)
		return udk_error_set(-EINVAL, "each buffer holds one frame of %u bytes; size says %llu", card->frame_size,
				     (unsigned long long)b->size);
	pthread_mutex_lock(&card->lock);
	if (card->n_bufs)
		r = udk_error_set(-EBUSY, "buffers are added once per session");
	for (unsigned i = 0; r >= 0 && i < b->count; i++) {
		struct buffer *buf = &card->bufs[i];
		struct udk_address_segment seg = { b->addr[i], card->frame_size }, dma[1];
		uint32_t n = 1;
		r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &seg, &buf->md);
		if (r >= 0)
			r = udk_dma_command_create(card->pci, &spec, &buf->cmd);
		if (r >= 0)
			r = udk_dma_command_prepare(buf->cmd, buf->md, 0, 0, &n, dma);
		if (r >= 0) {
			buf->iova = dma[0].address;
			card->n_bufs = i + 1;
		}
	}
	pthread_mutex_unlock(&card->lock);
	if (r < 0) {
		/* drop what was prepared; the app may try again */
		end_session(card);
		card->owner = uc;
	}
	return r;
}

static void
push(struct capture *c, unsigned index)
{
	udk_pci_memory_write64(c->pci, 0, CAP_QUEUE_ADDR, c->bufs[index].iova);
	udk_pci_memory_write32(c->pci, 0, CAP_QUEUE_PUSH, index);
}

int
capture_handle_start(struct udk_service *uc, uint32_t fps)
{
	(void)uc;
	if (!card->n_bufs)
		return udk_error_set(-ENXIO, "add buffers first");
	if (!card->events)
		return udk_error_set(-ENXIO, "map data queue 0 first, to hear about frames");
	udk_pci_memory_write32(card->pci, 0, CAP_FPS, fps);
	for (unsigned i = 0; i < card->n_bufs; i++)
		push(card, i);
	return udk_pci_memory_write32(card->pci, 0, CAP_CONTROL, CAP_CONTROL_RUN);
}

int
capture_handle_stop(struct udk_service *uc)
{
	(void)uc;
	return udk_pci_memory_write32(card->pci, 0, CAP_CONTROL, 0);
}

int
capture_handle_release(struct udk_service *uc, uint32_t index)
{
	(void)uc;
	if (index >= card->n_bufs)
		return udk_error_set(-EINVAL, "buffer %u does not exist", index);
	push(card, index);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* capture.xml bounds n to 1..100000; the generated code checked it. */
int
capture_handle_interrupt_latency(struct udk_service *uc, uint64_t n, uint64_t *ret_median_ns, uint64_t *ret_p99_ns)
{
	uint64_t *lat;

	(void)uc;
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		struct timespec ts;
		pthread_mutex_lock(&card->lock);
		card->test_seen = false;
		pthread_mutex_unlock(&card->lock);
		udk_pci_memory_write32(card->pci, 0, CAP_IRQ_TEST, 1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		pthread_mutex_lock(&card->lock);
		while (!card->test_seen)
			if (pthread_cond_timedwait(&card->test_cond, &card->lock, &ts)) {
				pthread_mutex_unlock(&card->lock);
				free(lat);
				return udk_error_set(-UDK_E_DEADLINE, "the test interrupt did not arrive");
			}
		lat[i] = card->test_latency;
		pthread_mutex_unlock(&card->lock);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	*ret_median_ns = lat[n / 2];
	*ret_p99_ns = lat[(n - 1) * 99 / 100];
	free(lat);
	return 0;
}

static int
copy_data_queue(struct udk_service *uc, uint64_t type, struct udk_ring **ret)
{
	int r = 0;

	(void)uc;
	if (type != 0)
		return udk_error_set(-EINVAL, "data queue %llu does not exist", (unsigned long long)type);
	pthread_mutex_lock(&card->lock);
	if (!card->events)
		r = udk_ring_create(64 * 1024, UDK_RING_PRODUCER, &card->events);
	if (r >= 0)
		*ret = udk_ring_ref(card->events);
	pthread_mutex_unlock(&card->lock);
	return r;
}

static const struct udk_class capture_driver = {
	UDK_CLASS_INIT,
	.name = CAPTURE_SERVICE_CLASS,
	.ivars_size = sizeof(struct capture),
	.start = capture_start,
	.stop = capture_stop,
};

static const struct udk_class capture_user_client = {
	UDK_CLASS_INIT,
	.name = CAPTURE_USER_CLIENT_CLASS,
	.start = uc_start,
	.methods = capture_dispatch,	/* generated from capture.xml */
	.n_methods = CAPTURE_SELECTOR_COUNT,
	.client_closed = uc_closed,
	.copy_data_queue_for_type = copy_data_queue,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &capture_driver, &capture_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
