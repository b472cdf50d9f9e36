/* SPDX-License-Identifier: MIT */
/*
 * bench-capture - the capture card end to end, against baselines measured
 * in the same run:
 *
 *   frame capture throughput (the card's DMA into the app's buffers, every
 *   frame checked) against single-thread memset of the same bytes: the
 *   device model writes the frames, it reads nothing, so a store-only
 *   loop is the honest baseline (memcpy, which also reads, is shown for
 *   reference);
 *   preparing 16 x 8K frame buffers (2.26 GB) for DMA against touching one
 *   byte per page of the same amount of fresh shared memory;
 *   MSI latency from the device model to the driver's handler.
 *
 * Runs udkd with the capture card, then examples/capture-app --json.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include <udk/buffer.h>

#include "fixture.h"
#include "test.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
json_num(const char *s, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(s, k);
	if (!p)
		FAIL("capture-app printed no %s: %s", key, s);
	return strtod(p + strlen(k), NULL);
}

TEST_FULL(bench, 1800)
{
	const char *fs = getenv("UDK_BENCH_FRAMES");
	int frames = fs ? atoi(fs) : 300;
	struct fixture f;
	char cmd[1024], *out = NULL;
	size_t len = 0;
	FILE *p;
	double gbs, prepare_ms, touch_ms, memcpy_gbs = 0, memset_gbs = 0, irq_med, irq_p99;
	uint64_t frame_bytes = 8192ull * 4320 * 4;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", TEST_DEVICE("capture0", "capture-card", ""));
	fixture_add_bundle_exe(&f, "Capture.dext", "org.udk.example.capture", "drivers/capture-driver",
			       "<key>CaptureCard</key><dict>"
			       "<key>IOUserClass</key><string>CaptureDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.capture</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0xca9f1234</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>CaptureUserClient</string></dict></dict>");
	fixture_start(&f, "--log-level", "notice", NULL);
	fixture_wait_class(&f, "CaptureDriver", 10000);
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --json --frames %d --irq-latency 2000",
		 build_path("examples/capture-app"), f.runtime, frames);
	p = popen(cmd, "r");
	{
		FILE *mem = open_memstream(&out, &len);
		for (int c; (c = fgetc(p)) != EOF;)
			fputc(c, mem);
		fclose(mem);
	}
	if (pclose(p) != 0)
		FAIL("capture-app failed: %s", out);
	fixture_stop(&f);
	gbs = json_num(out, "gbs");
	prepare_ms = json_num(out, "prepare_ms");
	irq_med = json_num(out, "irq_median_ns");
	irq_p99 = json_num(out, "irq_p99_ns");
	ASSERT_EQ((long long)json_num(out, "bad"), 0);

	/* baselines: memset and memcpy of one frame, hot, best of 5 each */
	{
		uint8_t *a = malloc(frame_bytes), *b = malloc(frame_bytes);
		ASSERT_TRUE(a && b);
		memset(a, 1, frame_bytes);
		memset(b, 2, frame_bytes);
		for (int i = 0; i < 5; i++) {
			double t0 = now_s(), g;
			memset(b, i, frame_bytes);
			__asm__ volatile("" ::"r"(b) : "memory");
			g = (double)frame_bytes / (now_s() - t0) / 1e9;
			if (g > memset_gbs)
				memset_gbs = g;
			t0 = now_s();
			memcpy(b, a, frame_bytes);
			__asm__ volatile("" ::"r"(b) : "memory");
			g = (double)frame_bytes / (now_s() - t0) / 1e9;
			if (g > memcpy_gbs)
				memcpy_gbs = g;
		}
		free(a);
		free(b);
	}
	/* baseline: touch a byte per page of 16 fresh frame-sized buffers */
	{
		struct udk_buffer *bufs[16];
		double t0;
		for (int i = 0; i < 16; i++)
			ASSERT_OK(udk_buffer_create(frame_bytes, 0, &bufs[i]));
		t0 = now_s();
		for (int i = 0; i < 16; i++) {
			volatile uint8_t *q = udk_buffer_get_address(bufs[i]);
			for (uint64_t k = 0; k < frame_bytes; k += 4096)
				q[k] = 1;
		}
		touch_ms = (now_s() - t0) * 1e3;
		for (int i = 0; i < 16; i++)
			udk_buffer_unref(bufs[i]);
	}
	printf("# capture card benchmark, 8192x4320 BGRA, 16 buffers\n");
	printf("#   capture: %.2f GB/s (%.1f frames/s, every frame checked); memset %.2f GB/s, ratio %.2f; "
	       "memcpy %.2f GB/s (reference), ratio %.2f\n",
	       gbs, json_num(out, "fps"), memset_gbs, gbs / memset_gbs, memcpy_gbs, gbs / memcpy_gbs);
	printf("#   prepare 2.26 GB for DMA: %.2f ms; touching a byte per page: %.1f ms; ratio %.4f\n", prepare_ms,
	       touch_ms, prepare_ms / touch_ms);
	printf("#   MSI latency, device model to driver handler: median %.1f us, p99 %.1f us\n", irq_med / 1e3,
	       irq_p99 / 1e3);
	printf("BENCH {\"bench\":\"capture\",\"capture_gbs\":%.2f,\"memset_gbs\":%.2f,\"ratio_capture\":%.3f,"
	       "\"memcpy_gbs\":%.2f,\"ratio_capture_memcpy\":%.3f,\"prepare_ms\":%.3f,\"touch_ms\":%.1f,"
	       "\"ratio_prepare\":%.5f,\"msi_median_us\":%.1f,\"msi_p99_us\":%.1f}\n",
	       gbs, memset_gbs, gbs / memset_gbs, memcpy_gbs, gbs / memcpy_gbs, prepare_ms, touch_ms,
	       prepare_ms / touch_ms, irq_med / 1e3, irq_p99 / 1e3);
	free(out);
}
