/* SPDX-License-Identifier: MIT */
/*
 * bench-edu - the edu driver against the simulated edu (models/edu), with
 * baselines measured in the same run:
 *
 *   MSI latency, from the driver's write to the raise-interrupt register to
 *   its handler on the dispatch queue, against one eventfd wake-up between
 *   two threads (the kernel's floor for any interrupt delivered to user
 *   space through an eventfd, as VFIO and the simulation both do);
 *   the DMA round trip of 4095 bytes (app buffer -> device -> app buffer,
 *   prepared, transferred, completed, every byte checked by the driver),
 *   against two memcpy of the same bytes.
 *
 * The same figures in the QEMU guest, through VFIO, come from
 * tests/guest/20-vfio-edu.sh (docs/guest-rig.md).
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double
json_num(const char *s, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(s, k);
	if (!p)
		FAIL("edu-app printed no %s: %s", key, s);
	return strtod(p + strlen(k), NULL);
}

static int ping, pong;

static void *
ponger(void *data)
{
	uint64_t v;

	(void)data;
	while (read(ping, &v, sizeof(v)) == sizeof(v) && v != 2)
		if (write(pong, &(uint64_t){ 1 }, 8) != 8)
			break;
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Median of one eventfd wake-up: half a ping-pong between two threads. */
static double
eventfd_wakeup_ns(int n)
{
	uint64_t *t = calloc((size_t)n, sizeof(*t)), v;
	pthread_t th;
	double med;

	ping = eventfd(0, EFD_CLOEXEC);
	pong = eventfd(0, EFD_CLOEXEC);
	pthread_create(&th, NULL, ponger, NULL);
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		if (write(ping, &(uint64_t){ 1 }, 8) != 8 || read(pong, &v, sizeof(v)) != sizeof(v))
			FAIL("eventfd ping-pong");
		t[i] = (now_ns() - t0) / 2;
	}
	if (write(ping, &(uint64_t){ 2 }, 8) != 8)
		FAIL("eventfd stop");
	pthread_join(th, NULL);
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	med = (double)t[n / 2];
	free(t);
	close(ping);
	close(pong);
	return med;
}

static double
memcpy_pair_ns(size_t len, int n)
{
	uint8_t *a = malloc(len), *b = malloc(len), *c = malloc(len);
	uint64_t *t = calloc((size_t)n, sizeof(*t));
	double med;

	memset(a, 0x5a, len);
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		memcpy(b, a, len);
		__asm__ volatile("" ::: "memory");
		memcpy(c, b, len);
		__asm__ volatile("" ::: "memory");
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	med = (double)t[n / 2];
	free(a);
	free(b);
	free(c);
	free(t);
	return med;
}

TEST_FULL(bench, 1800)
{
	struct fixture f;
	char cmd[1024], *out = NULL;
	size_t len = 0;
	FILE *p;
	double irq_med, irq_p99, dma_med, wake, cpy;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    TEST_DEVICE("edu0", "edu",
						"<key>Properties</key><dict><key>DmaMask</key>"
						"<integer>4294967295</integer></dict>"));
	fixture_add_bundle_exe(&f, "Edu.dext", "org.udk.example.edu", "drivers/edu-driver",
			       "<key>Edu</key><dict>"
			       "<key>IOUserClass</key><string>EduDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.edu</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0x11e81234</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>EduUserClient</string></dict></dict>");
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "EduDriver", 10000);
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --json --irqs 2000 --rounds 500 --bytes 4095 --factorial 0",
		 build_path("examples/edu-app"), f.runtime);
	p = popen(cmd, "r");
	ASSERT_NOT_NULL(p);
	{
		FILE *mem = open_memstream(&out, &len);
		for (int c; (c = fgetc(p)) != EOF;)
			fputc(c, mem);
		fclose(mem);
	}
	ASSERT_EQ(pclose(p), 0);
	ASSERT_EQ(json_num(out, "dma_wrong"), 0);
	irq_med = json_num(out, "irq_median_ns");
	irq_p99 = json_num(out, "irq_p99_ns");
	dma_med = json_num(out, "dma_median_ns");
	free(out);
	fixture_stop(&f);
	wake = eventfd_wakeup_ns(2000);
	cpy = memcpy_pair_ns(4095, 2000);
	printf("# edu benchmark, simulated edu (models/edu), 2000 interrupts, 500 DMA round trips of 4095 bytes\n");
	printf("#   MSI latency, raise register to driver handler: median %.1f us, p99 %.1f us; "
	       "one eventfd wake-up %.1f us; ratio %.1f\n",
	       irq_med / 1e3, irq_p99 / 1e3, wake / 1e3, irq_med / wake);
	printf("#   DMA round trip 4095 bytes: median %.1f us; two memcpy of it %.2f us; ratio %.0f\n", dma_med / 1e3,
	       cpy / 1e3, dma_med / cpy);
	printf("BENCH {\"bench\":\"edu\",\"msi_median_us\":%.1f,\"msi_p99_us\":%.1f,\"eventfd_wakeup_us\":%.2f,"
	       "\"ratio_msi\":%.2f,\"dma_roundtrip_us\":%.1f,\"memcpy_pair_us\":%.3f,\"ratio_dma\":%.1f}\n",
	       irq_med / 1e3, irq_p99 / 1e3, wake / 1e3, irq_med / wake, dma_med / 1e3, cpy / 1e3, dma_med / cpy);
}
