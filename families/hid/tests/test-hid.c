/* SPDX-License-Identifier: MIT */
/*
 * The HID family on simulated devices: nubs with DriverKit's properties,
 * event services and apps, the remapper and its virtual keyboard, the
 * protected-device policy, bad reports and descriptors, and a remapper
 * that crashes or hangs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udk/families/hid-client.h>
#include <udk/families/hid-usage.h>

#include "hid-fixture.h"
#include "test.h"

#define EVENTS_ID "org.udk.hid-events"
#define REMAP_ID "org.udk.hid-remap"
/* tests open the event service's user client without a grant of their own */
#define ANY_APP "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
install_events(struct fixture *f)
{
	hid_install_bundle(f, "hid-events", "HIDEvents", "drivers/hid-events", NULL, ANY_APP);
}

static void
install_remap(struct fixture *f)
{
	hid_install_bundle(f, "hid-remap", "HIDRemap", "drivers/hid-remap", "<key>RemapTestHooks</key><true/>",
			   ANY_APP);
}

static void
start_with_keyboard(struct fixture *f, const char *transport, bool built_in, const char *functions)
{
	char *dev = hid_sim_device(f, "kbd0", functions ? functions : "<string>keyboard</string>", transport, built_in);

	fixture_set_machine_devices(f, "", dev);
	free(dev);
	fixture_start(f, NULL);
}

TEST(simulated_keyboard_is_published_with_driverkit_hid_properties)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	start_with_keyboard(&f, "i8042", true, "<string>keyboard</string><string>mouse</string>");
	hid_wait_path(&f, "/HIDSimulated/kbd0/IOHIDInterface", 10000);
	out = hid_udkctl(&f, 0, "props /HIDSimulated/kbd0");
	ASSERT_CONTAINS(out, "\"Transport\" = \"i8042\"");
	ASSERT_CONTAINS(out, "\"Built-In\" = true");
	ASSERT_CONTAINS(out, "\"VendorID\" = 4617");
	ASSERT_CONTAINS(out, "\"PrimaryUsagePage\" = 1");
	ASSERT_CONTAINS(out, "\"PrimaryUsage\" = 6");
	ASSERT_CONTAINS(out, "\"DeviceUsagePairs\" = [{\"DeviceUsagePage\":1,\"DeviceUsage\":6}]");
	ASSERT_CONTAINS(out, "\"MaxInputReportSize\" = 8");
	ASSERT_CONTAINS(out, "\"MaxOutputReportSize\" = 1");
	ASSERT_CONTAINS(out, "\"UDKHIDProtected\" = true");
	ASSERT_CONTAINS(out, "\"ReportDescriptor\"");
	free(out);
	/* the mouse: two application collections, two usage pairs, not protected */
	out = hid_udkctl(&f, 0, "props /HIDSimulated/kbd0.1/IOHIDInterface");
	ASSERT_CONTAINS(out, "{\"DeviceUsagePage\":1,\"DeviceUsage\":2},{\"DeviceUsagePage\":12,\"DeviceUsage\":1}");
	ASSERT_CONTAINS(out, "\"UDKHIDProtected\" = false");
	free(out);
	out = hid_udkctl(&f, 0, "families");
	ASSERT_CONTAINS(out, "hid");
	free(out);
	fixture_stop(&f);
}

TEST(personalities_match_with_the_hid_keys_and_explain_says_why)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	install_remap(&f);
	start_with_keyboard(&f, "USB", false, "<string>keyboard</string><string>mouse</string>");
	hid_wait_path(&f, "/HIDSimulated/kbd0.1/IOHIDInterface", 10000);
	out = hid_udkctl(&f, 0, "explain " REMAP_ID " /HIDSimulated/kbd0/IOHIDInterface");
	ASSERT_CONTAINS(out, "DeviceUsagePairs");
	ASSERT_CONTAINS(out, "one pair is among the device's (1/6)");
	free(out);
	out = hid_udkctl(&f, 0, "explain " REMAP_ID " /HIDSimulated/kbd0.1/IOHIDInterface");
	ASSERT_CONTAINS(out, "no pair is among the device's usage pairs (page/usage: 1/2, 12/1)");
	free(out);
	fixture_stop(&f);
}

TEST(an_app_receives_key_pointer_scroll_and_consumer_events_with_timestamps)
{
	struct fixture f;
	struct udk_hid_client *kbd, *mouse;
	struct udk_hid_event ev;
	struct udk_hid_client_stats st;
	uint64_t before, t0;
	char *out;

	fixture_init(&f);
	install_events(&f);
	start_with_keyboard(&f, "USB", false, "<string>keyboard</string><string>mouse</string>");
	out = hid_udkctl(&f, 0, "access grant --hid keyboard " EVENTS_ID);
	ASSERT_CONTAINS(out, "granted hid keyboard to " EVENTS_ID);
	free(out);
	kbd = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	mouse = hid_events_open(&f, "/HIDSimulated/kbd0.1", UDK_HID_SUBSCRIBE_EVENTS | UDK_HID_SUBSCRIBE_REPORTS);
	before = mono_ns();
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap a caps_lock"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "press left_shift z"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "release z left_shift"), "ok");
	ASSERT_STREQ(hid_read_keys(kbd, 8, 5000),
		     "a down a up caps_lock down caps_lock up left_shift down z down z up left_shift up");
	/* the pointer, the wheel, a button, a consumer key */
	ASSERT_STREQ(hid_sim(&f, "kbd0", "mouse 5 -3"), "ok");
	ASSERT_OK(udk_hid_client_next_event(mouse, &ev, 5000));
	ASSERT_EQ(ev.type, UDK_HID_EVENT_POINTER);
	ASSERT_EQ(ev.pointer.x, 5);
	ASSERT_EQ(ev.pointer.y, -3);
	ASSERT_EQ(ev.pointer.buttons, 0);
	ASSERT_GE(ev.timestamp_ns, before);
	ASSERT_LE(ev.timestamp_ns, mono_ns());
	t0 = ev.timestamp_ns;
	ASSERT_STREQ(hid_sim(&f, "kbd0", "mouse 0 0 1"), "ok");
	ASSERT_OK(udk_hid_client_next_event(mouse, &ev, 5000));
	ASSERT_EQ(ev.type, UDK_HID_EVENT_POINTER);
	ASSERT_EQ(ev.pointer.buttons, 1);
	ASSERT_GE(ev.timestamp_ns, t0);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "wheel -2"), "ok");
	ASSERT_OK(udk_hid_client_next_event(mouse, &ev, 5000));
	ASSERT_EQ(ev.type, UDK_HID_EVENT_SCROLL);
	ASSERT_EQ(ev.scroll.dy, -2);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "consumer volume_up"), "ok");
	ASSERT_OK(udk_hid_client_next_event(mouse, &ev, 5000));
	ASSERT_EQ(ev.type, UDK_HID_EVENT_CONSUMER);
	ASSERT_EQ(ev.key.usage_page, 0x0c);
	ASSERT_EQ(ev.key.usage, 0xe9);
	ASSERT_EQ(ev.key.value, 1);
	ASSERT_OK(udk_hid_client_next_event(mouse, &ev, 5000));
	ASSERT_EQ(ev.type, UDK_HID_EVENT_CONSUMER);
	ASSERT_EQ(ev.key.value, 0);
	/* the raw reports came too: mouse, button, wheel, consumer down and up */
	{
		uint8_t buf[64];
		size_t len = 0;
		uint64_t t = 0;
		ASSERT_OK(udk_hid_client_next_report(mouse, buf, sizeof(buf), &len, &t, 5000));
		ASSERT_EQ(len, 5);
		ASSERT_EQ(buf[0], 1);
		ASSERT_EQ(buf[2], 5);
		ASSERT_EQ((int8_t)buf[3], -3);
		ASSERT_EQ(t, t0);
	}
	ASSERT_OK(udk_hid_client_get_stats(mouse, &st));
	ASSERT_EQ(st.events, 5);
	ASSERT_EQ(st.events_dropped, 0);
	ASSERT_EQ(st.reports, 5);
	udk_hid_client_close(kbd);
	udk_hid_client_close(mouse);
	fixture_stop(&f);
}

TEST(remapper_seizes_the_keyboard_and_types_through_its_virtual_keyboard)
{
	struct fixture f;
	struct udk_hid_client *vk, *raw;
	struct udk_hid_event ev;
	char *out;

	fixture_init(&f);
	install_events(&f);
	install_remap(&f);
	start_with_keyboard(&f, "USB", false, NULL);
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " EVENTS_ID));
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " REMAP_ID));
	hid_wait_path(&f, "/HIDSimulated/kbd0/IOHIDInterface/Remapper/RemapKeyboard/IOHIDInterface", 10000);
	out = hid_udkctl(&f, 0, "props /HIDSimulated/kbd0/IOHIDInterface/Remapper/RemapKeyboard");
	ASSERT_CONTAINS(out, "\"Product\" = \"udk remapped keyboard\"");
	ASSERT_CONTAINS(out, "\"Transport\" = \"Virtual\"");
	ASSERT_CONTAINS(out, "\"Built-In\" = false");
	ASSERT_CONTAINS(out, "\"PrimaryUsage\" = 6");
	ASSERT_CONTAINS(out, "\"UDKHIDBackend\" = \"virtual\"");
	free(out);
	vk = hid_events_open(&f, "/HIDSimulated/kbd0/IOHIDInterface/Remapper/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	raw = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	/* caps_lock -> escape, a -> b, x stays, right_alt + h -> left_arrow */
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap caps_lock a x"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "press right_alt"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap h"), "ok");
	/* released after the layer key: still what it was pressed as */
	ASSERT_STREQ(hid_sim(&f, "kbd0", "press j"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "release right_alt"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "release j"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 12, 5000), "escape down escape up b down b up x down x up "
						  "left_arrow down left_arrow up down_arrow down down_arrow up");
	/* seized: the keyboard's other reader saw nothing of it */
	ASSERT_ERR(udk_hid_client_next_event(raw, &ev, 300), -EAGAIN);
	out = hid_udkctl(&f, 0, "--json families hid");
	ASSERT_CONTAINS(out, "\"seized\": true");
	free(out);
	udk_hid_client_close(vk);
	udk_hid_client_close(raw);
	fixture_stop(&f);
}
