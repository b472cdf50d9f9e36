/* SPDX-License-Identifier: MIT */
/*
 * bench-hid - key-to-event latency through the keyboard remapper, against
 * reading the same keyboard without it, measured in the same run.
 *
 * The keyboard is the simulated one (models/hid-test): this machine's
 * kernel has no uinput or uhid, so no Linux input device can be made here;
 * the guest rig measures the same on a real kernel
 * (tests/guest/53-hid-latency.sh).  Each key's latency is from the moment
 * the keyboard sent its report (the event's timestamp) to the moment an
 * app holds the event:
 *
 *   baseline  keyboard -> udkd -> event service -> app
 *   remapped  keyboard -> udkd -> remapper (seize, remap) -> udkd (virtual
 *             keyboard) -> event service -> app
 *
 * The difference is what the remapper adds: udkd handing the frame to the
 * seizing driver, the driver's remapping, its report and acknowledgement
 * back to udkd, the virtual keyboard's input path.  Keys go one at a time
 * (the next once the last arrived), so this is latency, not throughput.
 * Goal: under 100 us added, median.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/families/hid-client.h>

#include "hid-fixture.h"
#include "test.h"

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* @n keys down and up; latencies (us) of every event into @lat. */
static void
measure(struct fixture *f, struct udk_hid_client *h, int n, double *lat)
{
	for (int i = 0; i < n; i++) {
		struct udk_hid_event ev;
		const char *r = hid_sim(f, "kbd0", i % 2 ? "release x" : "press x");
		if (strcmp(r, "ok"))
			FAIL("the keyboard said %s", r);
		do {
			if (udk_hid_client_next_event(h, &ev, 30000) < 0) {
				char *log = fixture_log(f);
				FAIL("no event for key %d in 30 s; udkd log:\n%s", i, log);
			}
		} while (ev.type != UDK_HID_EVENT_KEYBOARD);
		lat[i] = (double)(mono_ns() - ev.timestamp_ns) / 1000.0;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
}

TEST_FULL(bench, 1800)
{
	const char *ks = getenv("UDK_BENCH_KEYS");
	int n = ks ? atoi(ks) : 4000;
	double *base = calloc((size_t)n, sizeof(double)), *remap = calloc((size_t)n, sizeof(double));
	struct udk_hid_client *h;
	struct fixture f;
	char *dev;
	double bmed, bp99, rmed, rp99;

	fixture_init(&f);
	hid_install_bundle(&f, "hid-events", "HIDEvents", "drivers/hid-events", NULL,
			   "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n");
	hid_install_bundle(&f, "hid-remap", "HIDRemap", "drivers/hid-remap", NULL,
			   "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n");
	dev = hid_sim_device(&f, "kbd0", "<string>keyboard</string>", "USB", false);
	fixture_set_machine_devices(&f, "", dev);
	free(dev);
	fixture_start(&f, "--log-level", "notice", NULL);
	free(hid_udkctl(&f, 0, "access grant --hid keyboard org.udk.hid-events"));

	/* the keyboard read directly by the event service: no remapper (it has no grant) */
	h = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	measure(&f, h, n / 10, base); /* warm up */
	measure(&f, h, n, base);
	udk_hid_client_close(h);

	/* the remapper seizes it and types through its virtual keyboard */
	free(hid_udkctl(&f, 0, "access grant --hid keyboard org.udk.hid-remap"));
	/* running: its Start() seized the keyboard */
	ASSERT_TRUE(fixture_wait_output(&f, "drivers org.udk.hid-remap", ": running", 30000));
	h = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	measure(&f, h, n / 10, remap);
	measure(&f, h, n, remap);
	udk_hid_client_close(h);
	fixture_stop(&f);

	bmed = base[n / 2];
	bp99 = base[n * 99 / 100];
	rmed = remap[n / 2];
	rp99 = remap[n * 99 / 100];
	printf("# key-to-event latency, %d keys each: direct %.1f us median, %.1f us p99; through the remapper "
	       "%.1f us median, %.1f us p99\n",
	       n, bmed, bp99, rmed, rp99);
	printf("# the remapper adds %.1f us median (goal: under 100 us: %s), %.1f us p99; ratio %.2fx median, %.2fx "
	       "p99\n",
	       rmed - bmed, rmed - bmed < 100 ? "met" : "missed", rp99 - bp99, rmed / bmed, rp99 / bp99);
	printf("BENCH {\"bench\":\"hid\",\"keys\":%d,\"direct_median_us\":%.1f,\"direct_p99_us\":%.1f,"
	       "\"remapped_median_us\":%.1f,\"remapped_p99_us\":%.1f,\"added_median_us\":%.1f,\"added_p99_us\":%.1f,"
	       "\"ratio_median\":%.2f,\"ratio_p99\":%.2f,\"goal_added_median_us\":100,\"goal_met\":%s}\n",
	       n, bmed, bp99, rmed, rp99, rmed - bmed, rp99 - bp99, rmed / bmed, rp99 / bp99,
	       rmed - bmed < 100 ? "true" : "false");
	free(base);
	free(remap);
}
