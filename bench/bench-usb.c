/* SPDX-License-Identifier: MIT */
/*
 * bench-usb - bulk throughput of the simulated vendor-class loopback (the
 * forum's example: app -> driver -> device model -> driver -> app, every
 * byte checked) against memcpy of the same bytes, measured in the same run.
 *
 * The app's buffers are shared memory; the device model reaches the
 * driver's view of them without a copy, so what remains are the model's
 * two copies (into its FIFO and out of it) and one message per transfer
 * each way.  The guest rig measures real devices: bench/guest/usb.sh.
 */
#include <stdio.h>
#include <time.h>

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
		FAIL("usb-vendor-app printed no %s: %s", key, s);
	return strtod(p + strlen(k), NULL);
}

static double
loop_mbs(struct fixture *f, uint64_t bytes, uint64_t chunk)
{
	char cmd[1024], *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	double mbs;

	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --json --bytes %llu --chunk %llu --repeat 3",
		 build_path("examples/usb-vendor-app"), f->runtime, (unsigned long long)bytes, (unsigned long long)chunk);
	p = popen(cmd, "r");
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	if (pclose(p) != 0)
		FAIL("usb-vendor-app failed: %s", out);
	ASSERT_EQ((long long)json_num(out, "bad"), 0);
	mbs = json_num(out, "mbs");
	free(out);
	return mbs;
}

TEST_FULL(bench, 1800)
{
	const char *ms = getenv("UDK_BENCH_USB_MB");
	uint64_t bytes = (uint64_t)(ms ? atoi(ms) : 256) << 20;
	static const uint64_t chunks[] = { 64 << 10, 256 << 10, 1 << 20 };
	double mbs[3], memcpy_mbs = 0;
	struct fixture f;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    "<dict><key>Name</key><string>loop0</string><key>Model</key><string>usb-loopback</string>"
				    "<key>Kind</key><string>usb</string></dict>");
	fixture_add_bundle_exe(&f, "UsbVendor.dext", "org.udk.example.usb-vendor", "drivers/usb-vendor-driver",
			       "<key>VendorLoopback</key><dict>"
			       "<key>IOUserClass</key><string>VendorDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.usb-vendor</string>"
			       "<key>IOProviderClass</key><string>IOUSBHostDevice</string>"
			       "<key>idVendor</key><integer>0x1209</integer><key>idProduct</key><integer>0x0001</integer>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>VendorUserClient</string></dict></dict>");
	fixture_start(&f, "--log-level", "notice", NULL);
	fixture_wait_class(&f, "VendorDriver", 10000);
	for (int i = 0; i < 3; i++)
		mbs[i] = loop_mbs(&f, bytes, chunks[i]);
	fixture_stop(&f);
	/* baseline: memcpy of the same bytes from one buffer to another, hot, best of 5 */
	{
		uint8_t *a = malloc(bytes), *b = malloc(bytes);
		memset(a, 1, bytes);
		memset(b, 2, bytes);
		for (int i = 0; i < 5; i++) {
			double t0 = now_s();
			memcpy(b, a, bytes);
			__asm__ volatile("" ::"r"(b) : "memory");
			double m = (double)bytes / (now_s() - t0) / 1e6;
			if (m > memcpy_mbs)
				memcpy_mbs = m;
		}
		free(a);
		free(b);
	}
	printf("# USB bulk loopback, simulated vendor-class device, %llu MiB out and back, every byte checked\n",
	       (unsigned long long)(bytes >> 20));
	for (int i = 0; i < 3; i++)
		printf("#   %4llu KiB transfers: %.0f MB/s; memcpy of the same bytes %.0f MB/s; ratio %.3f\n",
		       (unsigned long long)(chunks[i] >> 10), mbs[i], memcpy_mbs, mbs[i] / memcpy_mbs);
	printf("BENCH {\"bench\":\"usb\",\"loop_64k_mbs\":%.1f,\"loop_256k_mbs\":%.1f,\"loop_1m_mbs\":%.1f,"
	       "\"memcpy_mbs\":%.1f,\"ratio_64k\":%.4f,\"ratio_256k\":%.4f,\"ratio_1m\":%.4f}\n",
	       mbs[0], mbs[1], mbs[2], memcpy_mbs, mbs[0] / memcpy_mbs, mbs[1] / memcpy_mbs, mbs[2] / memcpy_mbs);
}
