/* SPDX-License-Identifier: MIT */
/*
 * capture-card - a simulated PCIe video capture card (see
 * drivers/capture/capture-regs.h for its programming model).
 *
 * Properties (machine description): Width (8192), Height (4320).
 * A frame engine thread fills free buffers by DMA through the simulated
 * IOMMU and raises an MSI per frame.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <udk/families/pci-devmodel.h>

#include "capture-regs.h"

#define FIFO 64

struct slot {
	uint32_t index;
	uint64_t addr;
	uint64_t frame;
};

struct card {
	struct udk_dm_function *fn;
	uint32_t width, height, fps;
	uint64_t queue_addr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot free_q[FIFO], done_q[FIFO];
	unsigned free_n, done_n;
	uint32_t last_done_frame;
	bool run, quit;
	uint64_t frames, faults;
	pthread_t engine;
	bool engine_started;
};

static uint64_t
frame_size(const struct card *c)
{
	return (uint64_t)c->width * c->height * 4;
}

/*
 * Draw frame @n into the buffer at @p.  Like a DMA engine, the card never
 * reads the buffer: streaming stores write whole cache lines without
 * fetching them first.
 */
static void
draw(struct card *c, uint8_t *p, uint64_t n)
{
	size_t stride = (size_t)c->width * 4;

	for (uint32_t y = 0; y < c->height; y++) {
		uint32_t px = cap_pixel(n, y);
		uint8_t *row = p + stride * y;
#if defined(__SSE2__)
		if (((uintptr_t)row & 15) == 0) {
			__m128i v = _mm_set1_epi32((int)px);
			size_t i = 0;
			for (; i + 64 <= stride; i += 64) {
				_mm_stream_si128((__m128i *)(row + i), v);
				_mm_stream_si128((__m128i *)(row + i + 16), v);
				_mm_stream_si128((__m128i *)(row + i + 32), v);
				_mm_stream_si128((__m128i *)(row + i + 48), v);
			}
			for (; i < stride; i += 4)
				memcpy(row + i, &px, 4);
			continue;
		}
#endif
		for (size_t i = 0; i < stride; i += 4)
			memcpy(row + i, &px, 4);
	}
#if defined(__SSE2__)
	/* make the streaming stores visible before the done entry */
	_mm_sfence();
#endif
	memcpy(p, "UDKFRAME", 8);
	memcpy(p + 8, &n, 8);
}

static void *
engine(void *data)
{
	struct card *c = data;
	uint64_t period_ns = 0, next = 0;

	for (;;) {
		struct slot s;
		void *p = NULL;

		pthread_mutex_lock(&c->lock);
		while (!c->quit && (!c->run || c->free_n == 0 || c->done_n == FIFO))
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->quit) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		s = c->free_q[0];
		memmove(&c->free_q[0], &c->free_q[1], sizeof(s) * --c->free_n);
		period_ns = c->fps ? 1000000000ull / c->fps : 0;
		pthread_mutex_unlock(&c->lock);

		if (period_ns) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			if (next > now) {
				struct timespec d = { (time_t)((next - now) / 1000000000ull), (long)((next - now) % 1000000000ull) };
				nanosleep(&d, NULL);
			}
			next = (next > now ? next : now) + period_ns;
		}
		/* the DMA: straight into the buffer the driver prepared */
		if (udk_dm_dma_get(c->fn, s.addr, frame_size(c), true, &p) < 0) {
			pthread_mutex_lock(&c->lock);
			c->faults++;
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		pthread_mutex_lock(&c->lock);
		s.frame = c->frames++;
		pthread_mutex_unlock(&c->lock);
		draw(c, p, s.frame);
		udk_dm_dma_put(c->fn, p);
		pthread_mutex_lock(&c->lock);
		c->done_q[c->done_n++] = s;
		pthread_mutex_unlock(&c->lock);
		udk_dm_raise_msi(c->fn, 0);
	}
}

static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width)
{
	struct card *c = udk_dm_function_get_userdata(fn);
	uint64_t v = 0;

	(void)bar;
	pthread_mutex_lock(&c->lock);
	switch (off) {
	case CAP_ID:
		v = CAP_ID_VALUE;
		break;
	case CAP_CONTROL:
		v = c->run ? CAP_CONTROL_RUN : 0;
		break;
	case CAP_STATUS:
		v = c->run;
		break;
	case CAP_WIDTH:
		v = c->width;
		break;
	case CAP_HEIGHT:
		v = c->height;
		break;
	case CAP_FORMAT:
		v = CAP_FOURCC_BGRA;
		break;
	case CAP_STRIDE:
		v = c->width * 4;
		break;
	case CAP_FRAME_SIZE:
		v = (uint32_t)frame_size(c);
		break;
	case CAP_QUEUE_ADDR:
		v = width == 8 ? c->queue_addr : (uint32_t)c->queue_addr;
		break;
	case CAP_DONE_POP:
		if (c->done_n) {
			v = CAP_DONE_VALID | c->done_q[0].index;
			c->last_done_frame = (uint32_t)c->done_q[0].frame;
			memmove(&c->done_q[0], &c->done_q[1], sizeof(c->done_q[0]) * --c->done_n);
			pthread_cond_signal(&c->cond);
		}
		break;
	case CAP_DONE_FRAME:
		v = c->last_done_frame;
		break;
	case CAP_FRAMES:
		v = (uint32_t)c->frames;
		break;
	case CAP_FAULTS:
		v = (uint32_t)c->faults;
		break;
	case CAP_FPS:
		v = c->fps;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

static void
mmio_write(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width, uint64_t v)
{
	struct card *c = udk_dm_function_get_userdata(fn);

	(void)bar;
	if (off == CAP_IRQ_TEST) {
		udk_dm_raise_msi(fn, 1);
		return;
	}
	pthread_mutex_lock(&c->lock);
	switch (off) {
	case CAP_CONTROL:
		c->run = v & CAP_CONTROL_RUN;
		pthread_cond_signal(&c->cond);
		break;
	case CAP_QUEUE_ADDR:
		c->queue_addr = width == 8 ? v : ((c->queue_addr & ~0xffffffffull) | (uint32_t)v);
		break;
	case CAP_QUEUE_ADDR + 4:
		c->queue_addr = (c->queue_addr & 0xffffffffull) | (v << 32);
		break;
	case CAP_QUEUE_PUSH:
		if (c->free_n < FIFO) {
			c->free_q[c->free_n++] = (struct slot){ (uint32_t)v, c->queue_addr, 0 };
			pthread_cond_signal(&c->cond);
		}
		break;
	case CAP_FPS:
		c->fps = (uint32_t)v;
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

static void
reset(struct udk_dm_function *fn, const char *why)
{
	struct card *c = udk_dm_function_get_userdata(fn);

	pthread_mutex_lock(&c->lock);
	c->run = false;
	c->free_n = c->done_n = 0;
	c->queue_addr = 0;
	c->fps = 0;
	pthread_mutex_unlock(&c->lock);
	udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_INFO, "capture card reset: %s", why);
}

/* A monitor's EDID: header, a made-up vendor "UDK", 8192x4320 preferred. */
static void
make_edid(uint8_t *e)
{
	static const uint8_t hdr[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
	uint8_t sum = 0;

	memset(e, 0, 256);
	memcpy(e, hdr, 8);
	/* manufacturer id "UDK": 5-bit letters packed big endian */
	uint16_t id = (uint16_t)(((('U' - '@') & 31) << 10) | ((('D' - '@') & 31) << 5) | (('K' - '@') & 31));
	e[8] = (uint8_t)(id >> 8);
	e[9] = (uint8_t)id;
	e[10] = 0x01;	/* product 0x0001 */
	e[18] = 1;	/* EDID 1.4 */
	e[19] = 4;
	memcpy(e + 0x36 + 18 * 1, "\0\0\0\xfc\0udk capture\n ", 18); /* display name descriptor */
	for (int i = 0; i < 127; i++)
		sum += e[i];
	e[127] = (uint8_t)(0x100 - sum);
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
		.mmio_write = mmio_write,
		.reset = reset,
	};
	struct udk_dm_pci_config cfg = {
		.vendor_id = CAP_VENDOR,
		.device_id = CAP_DEVICE,
		.subsystem_vendor_id = CAP_VENDOR,
		.subsystem_id = 0x0001,
		.class_code = 0x040000, /* multimedia video */
		.revision = 1,
		.bars = {
			[0] = { 4096, 0 },
			[1] = { 4096, UDK_DM_BAR_MAPPABLE | UDK_DM_BAR_READONLY },
		},
		.msix_vectors = 2,
		.power_management = true,
	};
	static struct card c;
	struct udk_dm *dm;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	c.width = (uint32_t)udk_dict_get_int(udk_dm_get_properties(dm), "Width", 8192);
	c.height = (uint32_t)udk_dict_get_int(udk_dm_get_properties(dm), "Height", 4320);
	if (!c.width || !c.height || c.width > 16384 || c.height > 16384 || c.width % 2) {
		fprintf(stderr, "capture-card: Width and Height must be 2..16384 (even width)\n");
		return 1;
	}
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &c, &c.fn) < 0) {
		fprintf(stderr, "capture-card: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	make_edid(udk_dm_bar_address(c.fn, 1));
	pthread_create(&c.engine, NULL, engine, &c);
	return udk_dm_run(dm);
}
