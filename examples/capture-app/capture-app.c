/* SPDX-License-Identifier: MIT */
/*
 * capture-app - capture frames from the (simulated) PCIe capture card.
 *
 *   capture-app [--frames N] [--buffers N] [--warmup N] [--runtime-dir DIR] [--json]
 *
 * Reads the card's EDID through the driver (the driver writes into this
 * app's buffer), allocates frame buffers as shared memory, lets the driver
 * prepare them for DMA, and checks every frame the card delivers: the
 * frame number in its header and the first and last pixel of every row.
 * Reports frames per second and GB/s over the frames after the warm-up
 * (by default one pass over the buffers, whose pages the first frames
 * bring into memory).
 *
 * The calls are typed, from capture-client.h, which udk-iig generates from
 * drivers/capture/capture.xml (the reference page: build/drivers/capture.md).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/ring.h>

#include "capture-client.h"
#include "capture-regs.h"

static int
die(const char *what, int r)
{
	fprintf(stderr, "capture-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The frame's header, then the first and last pixel of each row. */
static bool
check_frame(const uint8_t *p, uint64_t frame, uint32_t width, uint32_t height, uint32_t stride)
{
	uint64_t n;

	if (memcmp(p, "UDKFRAME", 8) != 0)
		return false;
	memcpy(&n, p + 8, 8);
	if (n != frame)
		return false;
	for (uint32_t y = 0; y < height; y++) {
		uint32_t first, last, want = cap_pixel(frame, y);
		memcpy(&first, p + (size_t)stride * y + (y ? 0 : 16), 4);
		memcpy(&last, p + (size_t)stride * y + (size_t)(width - 1) * 4, 4);
		if (first != want || last != want)
			return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "frames", required_argument, NULL, 'f' },
		{ "buffers", required_argument, NULL, 'b' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "irq-latency", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL;
	uint64_t frames = 60, nbuf = 16, fmt[4], warmup = UINT64_MAX, irqs = 0, lat[2] = { 0, 0 };
	double prepare_ms;
	bool json = false;
	struct udk_client *c = NULL;
	struct udk_connection *conn = NULL;
	struct udk_ring *events = NULL;
	struct udk_buffer *buf[CAPTURE_MAX_BUFFERS] = { 0 };
	struct capture_buffers bufs = { 0 };
	uint8_t edid[256];
	struct capture_edid e = { sizeof(edid), (uint64_t)(uintptr_t)edid };
	uint64_t id, good = 0, bad = 0;
	double t0, t1;
	int o, r;

	while ((o = getopt_long(argc, argv, "f:b:r:jw:i:", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			frames = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			nbuf = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			runtime = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			warmup = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			irqs = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: capture-app [--frames N] [--buffers 1..16] [--warmup N] [--runtime-dir DIR] "
					"[--json]\n");
			return 2;
		}
	}
	if (!frames || !nbuf || nbuf > CAPTURE_MAX_BUFFERS) {
		fprintf(stderr, "capture-app: --frames must be positive and --buffers 1..16\n");
		return 2;
	}
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	{
		struct udk_value *m = udk_matching_class(CAPTURE_SERVICE_CLASS);
		r = udk_client_wait_for_service(c, m, 10000, &id);
		udk_value_unref(m);
		if (r < 0)
			return die("find the capture card's driver", r);
	}
	if ((r = udk_client_open(c, id, 0, &conn)) < 0)
		return die("open", r);

	/* the EDID: the driver writes straight into our buffer */
	memset(edid, 0, sizeof(edid));
	if ((r = capture_get_edid(conn, &e)) < 0)
		return die("GetEdid", r);
	{
		uint8_t sum = 0;
		for (int i = 0; i < 128; i++)
			sum += edid[i];
		uint16_t mid = (uint16_t)(edid[8] << 8 | edid[9]);
		/* the display name descriptor: up to 13 characters, ended by a newline */
		const char *name = (const char *)edid + 0x36 + 18 + 5;
		int name_len = (int)strcspn(name, "\n");
		if (name_len > 13)
			name_len = 13;
		if (!json)
			printf("EDID: manufacturer %c%c%c, product %04x, checksum %s, name \"%.*s\"\n",
			       '@' + ((mid >> 10) & 31), '@' + ((mid >> 5) & 31), '@' + (mid & 31),
			       edid[10] | edid[11] << 8, sum == 0 ? "ok" : "BAD", name_len, name);
	}
	if ((r = capture_get_format(conn, &fmt[0], &fmt[1], &fmt[2], &fmt[3])) < 0)
		return die("GetFormat", r);
	if (!json)
		printf("format: %" PRIu64 "x%" PRIu64 " BGRA, %" PRIu64 " bytes per frame, %" PRIu64
		       " buffers (%.2f GB)\n",
		       fmt[0], fmt[1], fmt[3], nbuf, (double)(fmt[3] * nbuf) / 1e9);

	/* frame buffers: shared memory, prepared for DMA by the driver */
	bufs.count = nbuf;
	bufs.size = fmt[3];
	for (uint64_t i = 0; i < nbuf; i++) {
		if ((r = udk_buffer_create(fmt[3], 0, &buf[i])) < 0)
			return die("allocate a frame buffer", r);
		bufs.addr[i] = (uint64_t)(uintptr_t)udk_buffer_get_address(buf[i]);
	}
	t0 = now_s();
	if ((r = capture_add_buffers(conn, &bufs)) < 0)
		return die("AddBuffers", r);
	t1 = now_s();
	prepare_ms = (t1 - t0) * 1e3;
	if (!json)
		printf("prepared %" PRIu64 " buffers for DMA in %.2f ms\n", nbuf, prepare_ms);
	if (irqs) {
		if ((r = capture_interrupt_latency(conn, irqs, &lat[0], &lat[1])) < 0)
			return die("InterruptLatency", r);
		if (!json)
			printf("MSI latency, device to driver handler, %" PRIu64 " interrupts: median %.1f us, p99 %.1f us\n",
			       irqs, (double)lat[0] / 1e3, (double)lat[1] / 1e3);
	}
	if ((r = udk_connection_map_data_queue(conn, 0, &events)) < 0)
		return die("map the frame queue", r);
	if ((r = capture_start(conn, 0)) < 0)
		return die("Start", r);

	if (warmup == UINT64_MAX)
		warmup = nbuf;
	t0 = now_s();
	for (uint64_t i = 0; i < warmup + frames; i++) {
		struct capture_event ev;
		uint32_t len;
		if ((r = udk_ring_dequeue_wait(events, &ev, sizeof(ev), &len, 10000)) < 0)
			return die("wait for a frame", r);
		if (ev.index >= nbuf)
			return die("the driver named a buffer that does not exist", -EPROTO);
		if (check_frame(udk_buffer_get_address(buf[ev.index]), ev.frame, (uint32_t)fmt[0], (uint32_t)fmt[1],
				(uint32_t)fmt[2]))
			good++;
		else
			bad++;
		if ((r = capture_release(conn, ev.index)) < 0)
			return die("Release", r);
		if (i + 1 == warmup)
			t0 = now_s();
	}
	t1 = now_s();
	capture_stop(conn);
	{
		double fps = (double)frames / (t1 - t0), gbs = fps * (double)fmt[3] / 1e9;
		if (json)
			printf("{\"frames\":%" PRIu64 ",\"good\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"fps\":%.2f,\"gbs\":%.3f,"
			       "\"frame_bytes\":%" PRIu64 ",\"buffers\":%" PRIu64 ",\"prepare_ms\":%.3f,"
			       "\"irq_median_ns\":%" PRIu64 ",\"irq_p99_ns\":%" PRIu64 "}\n",
			       warmup + frames, good, bad, fps, gbs, fmt[3], nbuf, prepare_ms, lat[0], lat[1]);
		else
			printf("captured %" PRIu64 " frames: %" PRIu64 " checked good, %" PRIu64
			       " bad; after %" PRIu64 " warm-up frames: %.1f frames/s, %.2f GB/s\n",
			       warmup + frames, good, bad, warmup, fps, gbs);
	}
	udk_ring_unref(events);
	for (uint64_t i = 0; i < nbuf; i++)
		udk_buffer_unref(buf[i]);
	udk_connection_unref(conn);
	udk_client_unref(c);
	return bad ? 1 : 0;
}
