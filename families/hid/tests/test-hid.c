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
	hid_wait_path(&f, "/HIDVirtual/RemapKeyboard/IOHIDInterface", 10000);
	ASSERT_TRUE(fixture_wait_output(&f, "drivers " REMAP_ID, "running", 10000));
	hid_wait_path(&f, "/HIDSimulated/kbd0/IOHIDInterface/Remapper/RemapKeyboard", 10000);
	out = hid_udkctl(&f, 0, "props /HIDSimulated/kbd0/IOHIDInterface/Remapper/RemapKeyboard");
	ASSERT_CONTAINS(out, "\"UDKHIDDevice\" = \"/HIDVirtual/RemapKeyboard\"");
	free(out);
	out = hid_udkctl(&f, 0, "props /HIDVirtual/RemapKeyboard");
	ASSERT_CONTAINS(out, "\"Product\" = \"udk remapped keyboard\"");
	ASSERT_CONTAINS(out, "\"Transport\" = \"Virtual\"");
	ASSERT_CONTAINS(out, "\"Built-In\" = false");
	ASSERT_CONTAINS(out, "\"PrimaryUsage\" = 6");
	ASSERT_CONTAINS(out, "\"UDKHIDBackend\" = \"virtual\"");
	free(out);
	vk = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
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

/* ---- protected-device access ---- */

static bool
remap_on(struct fixture *f, const char *kbd)
{
	char path[256];
	uint64_t id;

	snprintf(path, sizeof(path), "/HIDSimulated/%s/IOHIDInterface/Remapper", kbd);
	return udk_client_lookup_path(f->client, path, &id) >= 0;
}

struct remap_wait {
	struct fixture *f;
	const char *kbd;
};

static bool
remap_on_cond(void *data)
{
	struct remap_wait *w = data;
	return remap_on(w->f, w->kbd);
}

TEST(keyboards_need_the_users_grant_built_in_or_not)
{
	struct fixture f;
	char *dev0, *dev1, *devs, *out;
	struct udk_hid_client *raw0;
	struct remap_wait w0 = { &f, "kbd0" }, w1 = { &f, "kbd1" };

	fixture_init(&f);
	install_events(&f);
	install_remap(&f);
	dev0 = hid_sim_device(&f, "kbd0", "<string>keyboard</string>", "i8042", true);
	dev1 = hid_sim_device(&f, "kbd1", "<string>keyboard</string>", "USB", false);
	ASSERT_TRUE(asprintf(&devs, "%s%s", dev0, dev1) > 0);
	fixture_set_machine_devices(&f, "", devs);
	free(dev0);
	free(dev1);
	free(devs);
	fixture_start(&f, NULL);
	hid_wait_path(&f, "/HIDSimulated/kbd1/IOHIDInterface", 10000);
	/* refused on both, with the policy, the device and the command */
	ASSERT_TRUE(fixture_wait_output(&f, "explain " REMAP_ID " /HIDSimulated/kbd1/IOHIDInterface",
					"the keyboard \"udk simulated keyboard\" (external, USB", 10000));
	ASSERT_TRUE(fixture_wait_output(&f, "explain " REMAP_ID " /HIDSimulated/kbd0/IOHIDInterface",
					"the built-in keyboard \"udk simulated keyboard\" (built-in, i8042", 10000));
	out = hid_udkctl(&f, 0, "explain " REMAP_ID " /HIDSimulated/kbd0/IOHIDInterface");
	ASSERT_CONTAINS(out, "protected-device access (org.udk.hid.protected-device-access): org.udk.hid-remap may not "
			     "seize");
	ASSERT_CONTAINS(out, "built-in and external keyboards follow the same rule");
	ASSERT_CONTAINS(out, "`udkctl access grant --hid keyboard org.udk.hid-remap` (every keyboard)");
	ASSERT_CONTAINS(out, "`udkctl access grant --hid device:sim:kbd0 org.udk.hid-remap` (only this one)");
	free(out);
	out = hid_udkctl(&f, 0, "access list");
	ASSERT_CONTAINS(out, "org.udk.hid-remap wants hid keyboard");
	ASSERT_CONTAINS(out, "grant with: udkctl access grant --hid keyboard org.udk.hid-remap");
	free(out);
	ASSERT_FALSE(remap_on(&f, "kbd0") || remap_on(&f, "kbd1"));
	/* a grant for one device: that one only */
	out = hid_udkctl(&f, 0, "access grant --hid device:sim:kbd1 " REMAP_ID);
	ASSERT_CONTAINS(out, "granted hid device:sim:kbd1 to org.udk.hid-remap");
	free(out);
	ASSERT_TRUE(fixture_poll(10000, remap_on_cond, &w1));
	ASSERT_FALSE(remap_on(&f, "kbd0"));
	/* the class: every keyboard, the built-in one as well */
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " REMAP_ID));
	ASSERT_TRUE(fixture_poll(10000, remap_on_cond, &w0));
	out = hid_udkctl(&f, 0, "access list " REMAP_ID);
	ASSERT_CONTAINS(out, "hid keyboard -> org.udk.hid-remap");
	ASSERT_CONTAINS(out, "hid device:sim:kbd1 -> org.udk.hid-remap");
	ASSERT_CONTAINS(out, "device requests (refused): none");
	free(out);
	/* an unknown grant is refused in words */
	out = hid_udkctl(&f, 1, "access grant --hid mice " REMAP_ID);
	ASSERT_CONTAINS(out, "\"mice\" is not a HID grant");
	free(out);
	/* revoking releases the built-in keyboard at once: its other reader sees the next key */
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " EVENTS_ID));
	raw0 = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap x"), "ok");
	ASSERT_STREQ(hid_read_keys(raw0, 2, 300), "");
	out = hid_udkctl(&f, 0, "access revoke --hid keyboard " REMAP_ID);
	ASSERT_CONTAINS(out, "1 hid grant(s) removed");
	free(out);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap y"), "ok");
	ASSERT_STREQ(hid_read_keys(raw0, 2, 5000), "y down y up");
	/* kbd1 keeps its own grant */
	ASSERT_TRUE(remap_on(&f, "kbd1"));
	{
		char *log = fixture_log(&f);
		ASSERT_CONTAINS(log, "kbd0: org.udk.hid-remap loses it: the grant was revoked; the device is released");
		free(log);
	}
	udk_hid_client_close(raw0);
	fixture_stop(&f);
}

TEST(the_entitlement_must_list_the_keyboard_usage)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	install_remap(&f);
	/* transport.hid <true/>, as a DriverKit dext may carry it */
	fixture_bundle_file(&f, "HIDRemap.dext", "Entitlements.plist",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit</key><true/>"
			    "<key>com.apple.developer.driverkit.transport.hid</key><true/>"
			    "<key>com.apple.developer.driverkit.family.hid.device</key><true/>"
			    "</dict></plist>\n");
	start_with_keyboard(&f, "SPI", true, NULL);
	hid_wait_path(&f, "/HIDSimulated/kbd0/IOHIDInterface", 10000);
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " REMAP_ID));
	out = hid_udkctl(&f, 0, "explain " REMAP_ID " /HIDSimulated/kbd0/IOHIDInterface");
	ASSERT_CONTAINS(out, "is <true/>, which covers HID devices but not keyboards");
	ASSERT_CONTAINS(out, "list {DeviceUsagePage 1, DeviceUsage 6} in transport.hid");
	free(out);
	ASSERT_FALSE(remap_on(&f, "kbd0"));
	fixture_stop(&f);
}

/* ---- bad input ---- */

TEST(reports_of_the_wrong_length_or_id_are_dropped_counted_and_logged)
{
	struct fixture f;
	struct udk_hid_client *kbd, *mouse;
	struct udk_hid_event ev;
	char *out, *log;

	fixture_init(&f);
	install_events(&f);
	start_with_keyboard(&f, "USB", false, "<string>keyboard</string><string>mouse</string>");
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " EVENTS_ID));
	kbd = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	mouse = hid_events_open(&f, "/HIDSimulated/kbd0.1", UDK_HID_SUBSCRIBE_EVENTS);
	/* a boot keyboard report is 8 bytes: 7 and 9 are dropped */
	ASSERT_STREQ(hid_sim(&f, "kbd0", "raw 0 00 00 04 00 00 00 00"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "raw 0 00 00 04 00 00 00 00 00 00"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "raw 0"), "ok");
	/* the mouse numbers its reports 1 and 2: 7 is unknown */
	ASSERT_STREQ(hid_sim(&f, "kbd0", "raw 1 07 01 02 03 04"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap b"), "ok");
	ASSERT_STREQ(hid_read_keys(kbd, 2, 5000), "b down b up");
	ASSERT_ERR(udk_hid_client_next_event(mouse, &ev, 200), -EAGAIN);
	out = hid_udkctl(&f, 0, "--json families hid");
	ASSERT_CONTAINS(out, "\"UDK_HID_E_REPORT_SHORT\": 2");
	ASSERT_CONTAINS(out, "\"UDK_HID_E_REPORT_LONG\": 1");
	ASSERT_CONTAINS(out, "\"UDK_HID_E_REPORT_UNKNOWN_ID\": 1");
	free(out);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "kbd0 (udk simulated keyboard): dropped an input report: UDK_HID_E_REPORT_SHORT: input "
			     "report 0 has 7 bytes; the report descriptor says 8");
	ASSERT_CONTAINS(log, "dropped an input report: UDK_HID_E_REPORT_UNKNOWN_ID: input report ID 7 is not in the "
			     "report descriptor");
	free(log);
	udk_hid_client_close(kbd);
	udk_hid_client_close(mouse);
	fixture_stop(&f);
}

#define TESTHID_ID "org.udk.test.hid"
#define TESTHID_PERSONALITY                                                                                    \
	"<key>Root</key><dict><key>IOClass</key><string>IOUserService</string>"                                \
	"<key>IOUserClass</key><string>TestHIDRoot</string>"                                                   \
	"<key>IOUserServerName</key><string>" TESTHID_ID "</string>"                                           \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                           \
	"<key>IOMatchCategory</key><string>TestHID</string>"                                                   \
	"<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"             \
	"<key>IOUserClass</key><string>TestHIDUserClient</string></dict></dict>"
#define TESTHID_ENTITLEMENTS                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"                           \
	"<key>com.apple.developer.driverkit</key><true/>"                                                     \
	"<key>com.apple.developer.driverkit.transport.hid</key><true/>"                                       \
	"<key>com.apple.developer.driverkit.family.hid.device</key><true/>"                                   \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>"                         \
	"</dict></plist>\n"

static struct udk_connection *
open_testhid(struct fixture *f)
{
	struct udk_connection *conn = NULL;
	uint64_t id = fixture_wait_class(f, "TestHIDRoot", 10000);

	ASSERT_OK(udk_client_open(f->client, id, 0, &conn));
	return conn;
}

static int
testhid_create(struct udk_connection *conn, bool raw, const uint8_t *desc, size_t len, char *reason, size_t cap)
{
	uint64_t in = raw, out = 0;
	uint32_t n_out = 1;

	ASSERT_OK(udk_connection_call(conn, 0, &in, 1, desc, len, &out, &n_out, reason, &cap));
	return (int)(int64_t)out;
}

TEST(bad_descriptors_are_refused_when_the_device_is_made)
{
	static const struct {
		const char *what;
		uint8_t bytes[40];
		size_t len;
		enum udk_hid_problem_code code;
	} bad[] = {
		{ "report size 0", { 0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x00, 0x95, 0x01, 0x81, 0x02, 0xc0 }, 13,
		  UDK_HID_E_REPORT_SIZE },
		{ "unbalanced", { 0xa1, 0x01, 0x75, 0x08, 0x95, 0x01, 0x81, 0x02 }, 8, UDK_HID_E_UNBALANCED },
		{ "too deep",
		  { 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0,
		    0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0, 0xa1, 0 },
		  34, UDK_HID_E_TOO_DEEP },
		{ "report IDs mixed", { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0x85, 0x02, 0x81, 0x02 }, 10,
		  UDK_HID_E_REPORT_ID_MIXED },
		{ "truncated", { 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0x26, 0xff }, 8, UDK_HID_E_TRUNCATED },
	};
	struct fixture f;
	struct udk_connection *conn;
	char reason[1024], *log;
	size_t klen;
	const uint8_t *kbd = udk_hid_boot_keyboard_descriptor(&klen);

	fixture_init(&f);
	fixture_add_bundle_exe(&f, "TestHID.dext", TESTHID_ID, "families/hid/tests/testhid", TESTHID_PERSONALITY);
	fixture_bundle_file(&f, "TestHID.dext", "Entitlements.plist", TESTHID_ENTITLEMENTS);
	fixture_start(&f, NULL);
	conn = open_testhid(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (int raw = 0; raw < 2; raw++) {
			int r = testhid_create(conn, raw, bad[i].bytes, bad[i].len, reason, sizeof(reason));
			printf("# %s (%s): %s\n", bad[i].what, raw ? "raw, udkd refuses" : "libudk-hid refuses", reason);
			ASSERT_ERR(r, -UDK_E_BAD_DESCRIPTOR);
			ASSERT_CONTAINS(reason, udk_hid_problem_name(bad[i].code));
			ASSERT_CONTAINS(reason, "of the report descriptor");
		}
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "virtual HID device TestHIDDevice refused: UDK_HID_E_TOO_DEEP at byte 32 of the report "
			     "descriptor: collections nest deeper than 16 levels");
	free(log);
	/* nothing of the refused ones is left, and a good one is made */
	{
		uint64_t id;
		ASSERT_ERR(udk_client_lookup_path(f.client, "/HIDVirtual/TestHIDDevice", &id), -UDK_E_NO_SUCH_SERVICE);
	}
	ASSERT_OK(testhid_create(conn, false, kbd, klen, reason, sizeof(reason)));
	hid_wait_path(&f, "/HIDVirtual/TestHIDDevice/IOHIDInterface", 5000);
	udk_connection_unref(conn);
	fixture_stop(&f);
}

TEST(output_and_feature_reports_reach_the_virtual_device_and_leds_the_real_keyboard)
{
	struct fixture f;
	struct udk_connection *conn;
	struct udk_hid_client *vk, *td;
	char reason[256];
	uint8_t last[16];
	size_t klen, last_len = sizeof(last);
	const uint8_t *kbd = udk_hid_boot_keyboard_descriptor(&klen);
	uint64_t out[2];
	uint32_t n_out = 2;
	const uint8_t caps_led = 0x02;

	fixture_init(&f);
	install_events(&f);
	install_remap(&f);
	fixture_add_bundle_exe(&f, "TestHID.dext", TESTHID_ID, "families/hid/tests/testhid", TESTHID_PERSONALITY);
	fixture_bundle_file(&f, "TestHID.dext", "Entitlements.plist", TESTHID_ENTITLEMENTS);
	start_with_keyboard(&f, "USB", false, NULL);
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " EVENTS_ID));
	free(hid_udkctl(&f, 0, "access grant --hid keyboard " REMAP_ID));
	/* a test device: an app's output report arrives at its driver's set_report */
	conn = open_testhid(&f);
	ASSERT_OK(testhid_create(conn, false, kbd, klen, reason, sizeof(reason)));
	td = hid_events_open(&f, "/HIDVirtual/TestHIDDevice", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_OK(udk_hid_client_set_report(td, UDK_HID_REPORT_OUTPUT, &caps_led, 1));
	ASSERT_OK(udk_connection_call(conn, 2, NULL, 0, NULL, 0, out, &n_out, last, &last_len));
	ASSERT_EQ(out[0], 1);
	ASSERT_EQ(out[1], UDK_HID_REPORT_OUTPUT);
	ASSERT_EQ(last_len, 1);
	ASSERT_EQ(last[0], 0x02);
	/* a report of the wrong length is refused by the library before udkd drops it */
	{
		uint8_t r9[9] = { 0 };
		uint64_t st = 0;
		uint32_t n1 = 1;
		ASSERT_OK(udk_connection_call(conn, 1, NULL, 0, r9, 9, &st, &n1, NULL, NULL));
		ASSERT_EQ((int64_t)st, -EBADMSG);
	}
	/* the remapper's virtual keyboard: caps lock LED set on it lights the real keyboard's */
	vk = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_OK(udk_hid_client_set_report(vk, UDK_HID_REPORT_OUTPUT, &caps_led, 1));
	ASSERT_STREQ(hid_sim(&f, "kbd0", "leds"), "leds 02");
	udk_hid_client_close(vk);
	udk_hid_client_close(td);
	udk_connection_unref(conn);
	fixture_stop(&f);
}

/* ---- a remapper that crashes or hangs ---- */

static struct udk_connection *
open_remapper(struct fixture *f)
{
	struct udk_connection *conn = NULL;
	uint64_t id = fixture_wait_class(f, "Remapper", 10000);

	ASSERT_OK(udk_client_open(f->client, id, 0, &conn));
	return conn;
}

static long
remapper_pid(struct fixture *f)
{
	struct udk_connection *conn = open_remapper(f);
	uint64_t out[3];
	uint32_t n = 3;

	ASSERT_OK(udk_connection_call(conn, 0, NULL, 0, NULL, 0, out, &n, NULL, NULL));
	udk_connection_unref(conn);
	return (long)out[2];
}

/* Hang (1) or Crash (2): on a connection opened before, as a hung driver opens no new ones. */
static void
remapper_call(struct udk_connection *conn, uint64_t selector)
{
	/* a crash ends the connection before the answer */
	(void)udk_connection_call(conn, selector, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL);
}

static void
remap_setup(struct fixture *f, const char *extra1, const char *extra2)
{
	char *dev = hid_sim_device(f, "kbd0", "<string>keyboard</string>", "USB", false);

	install_events(f);
	install_remap(f);
	fixture_set_machine_devices(f, "", dev);
	free(dev);
	fixture_start(f, "--hid-handoff-ms", "5000", extra1, extra2, NULL);
	free(hid_udkctl(f, 0, "access grant --hid keyboard " EVENTS_ID));
	free(hid_udkctl(f, 0, "access grant --hid keyboard " REMAP_ID));
	hid_wait_path(f, "/HIDVirtual/RemapKeyboard/IOHIDInterface", 10000);
	ASSERT_TRUE(fixture_wait_output(f, "drivers " REMAP_ID, "running", 10000));
}

TEST(no_key_is_lost_or_repeated_across_a_remapper_crash)
{
	struct fixture f;
	struct udk_hid_client *vk, *raw;
	struct udk_connection *conn;
	long pid1, pid2;
	char *log;

	fixture_init(&f);
	remap_setup(&f, "--crash-limit", "3");
	vk = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	raw = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	pid1 = remapper_pid(&f);
	conn = open_remapper(&f);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap q w"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 4, 5000), "q down q up w down w up");
	/*
	 * The remapper stops handling keys (its queue hangs) while keys are
	 * typed: they wait, unacknowledged.  Then it crashes.  Keys typed
	 * while it restarts wait in the hand-off.  Its next instance gets all
	 * of them, in order, through the same virtual keyboard.
	 */
	remapper_call(conn, 1);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap e a r"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "press t"), "ok");
	remapper_call(conn, 2);
	udk_connection_unref(conn);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "release t"), "ok");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap y u"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 14, 10000),
		     "e down e up b down b up r down r up t down t up y down y up u down u up");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap i"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 4, 5000), "i down i up");
	/* nothing twice, nothing around the remapper */
	ASSERT_STREQ(hid_read_keys(vk, 1, 300), "");
	ASSERT_STREQ(hid_read_keys(raw, 1, 300), "");
	pid2 = remapper_pid(&f);
	ASSERT_NE(pid1, pid2);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "kbd0: org.udk.hid-remap, which seized it, ended holding");
	ASSERT_CONTAINS(log, "kbd0: org.udk.hid-remap is back after");
	ASSERT_CONTAINS(log, "RemapKeyboard: its driver ended; the device, its readers and its Linux export wait");
	ASSERT_CONTAINS(log, "org.udk.hid-remap is back and takes its virtual HID device RemapKeyboard again");
	free(log);
	udk_hid_client_close(vk);
	udk_hid_client_close(raw);
	fixture_stop(&f);
}

TEST(a_remapper_that_does_not_come_back_gives_the_keyboard_back)
{
	struct fixture f;
	struct udk_hid_client *vk, *raw;
	struct udk_connection *conn;
	char *log;

	fixture_init(&f);
	/* one crash disables it: no next instance */
	remap_setup(&f, "--crash-limit", "1");
	vk = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	raw = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap q"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 2, 5000), "q down q up");
	conn = open_remapper(&f);
	remapper_call(conn, 1);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap w a"), "ok");
	remapper_call(conn, 2);
	udk_connection_unref(conn);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap e"), "ok");
	/* after the hand-off time the keyboard is the user's again, and gets what nobody handled */
	ASSERT_STREQ(hid_read_keys(raw, 6, 15000), "w down w up a down a up e down e up");
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap r"), "ok");
	ASSERT_STREQ(hid_read_keys(raw, 2, 5000), "r down r up");
	ASSERT_STREQ(hid_read_keys(vk, 1, 300), "");
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "no new instance came within 5000 ms: the device is released");
	ASSERT_CONTAINS(log, "input frame(s) nobody handled were given back to the device");
	free(log);
	udk_hid_client_close(vk);
	udk_hid_client_close(raw);
	fixture_stop(&f);
}

TEST(a_hung_remapper_is_killed_and_the_keyboard_works_again)
{
	struct fixture f;
	struct udk_hid_client *vk;
	struct udk_connection *conn;
	struct udk_hid_event ev;
	struct timespec t0, t1;
	double ms;
	char *log;

	fixture_init(&f);
	remap_setup(&f, "--watchdog-ms", "300");
	vk = hid_events_open(&f, "/HIDVirtual/RemapKeyboard", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap q"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 2, 5000), "q down q up");
	/* it hangs; a key typed now is held until the watchdog kills it and its next instance runs */
	conn = open_remapper(&f);
	remapper_call(conn, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "press a"), "ok");
	ASSERT_OK(udk_hid_client_next_event(vk, &ev, 30000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(ev.type, UDK_HID_EVENT_KEYBOARD);
	ASSERT_EQ(ev.key.usage, 0x05); /* a -> b */
	ASSERT_EQ(ev.key.value, 1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1000 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("# the keyboard was unavailable for %.0f ms (watchdog 300 ms: a ping unanswered for 300 ms after "
	       "up to 300 ms, then a restart)\n",
	       ms);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "release a"), "ok");
	ASSERT_STREQ(hid_read_keys(vk, 1, 5000), "b up");
	udk_connection_unref(conn);
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "stopped answering: no reply to a ping for 300 ms");
	ASSERT_CONTAINS(log, "kbd0: org.udk.hid-remap is back after");
	free(log);
	udk_hid_client_close(vk);
	fixture_stop(&f);
}

/* ---- the matching keys, as IOHIDFamily scores them ---- */

#define HID_PERSONALITY(name, extra)                                                                           \
	TEST_PERSONALITY(name, "org.udk.test.hidmatch", "IOHIDInterface",                                       \
			 "<key>IOMatchCategory</key><string>" name "</string>" extra)

TEST(hid_matching_keys_and_scores)
{
	static const struct {
		const char *name, *verdict;
	} cases[] = {
		{ "UsagePair", "matches with score 1200" },
		{ "UsageKeys", "matches with score 1200" },
		{ "Primary", "matches with score 1200" },
		{ "VendorProductTransport", "matches with score 7000" },
		{ "ProductArray", "matches with score 5975" },
		{ "ProductMask", "matches with score 5950" },
		{ "WrongVendor", "VendorID: the device has 4617, the personality asks for 1" },
		{ "WrongUsage", "no pair is among the device's usage pairs (page/usage: 1/6)" },
		{ "BuiltIn", "IOPropertyMatch" },
	};
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(
		&f, "Match.dext", "org.udk.test.hidmatch",
		HID_PERSONALITY("UsagePair", "<key>DeviceUsagePairs</key><array><dict><key>DeviceUsagePage</key>"
					     "<integer>1</integer><key>DeviceUsage</key><integer>6</integer></dict></array>")
			HID_PERSONALITY("UsageKeys", "<key>DeviceUsagePage</key><integer>1</integer>"
						     "<key>DeviceUsage</key><integer>6</integer>")
				HID_PERSONALITY("Primary", "<key>PrimaryUsagePage</key><integer>1</integer>"
							   "<key>PrimaryUsage</key><integer>6</integer>")
					HID_PERSONALITY("VendorProductTransport",
							"<key>VendorID</key><integer>4617</integer>"
							"<key>ProductID</key><integer>1</integer>"
							"<key>Transport</key><string>i8042</string>")
						HID_PERSONALITY("ProductArray",
								"<key>VendorID</key><integer>4617</integer>"
								"<key>ProductIDArray</key><array><integer>9</integer>"
								"<integer>1</integer></array>")
							HID_PERSONALITY("ProductMask",
									"<key>VendorID</key><integer>4617</integer>"
									"<key>ProductID</key><integer>0x101</integer>"
									"<key>ProductIDMask</key><integer>0xff</integer>")
								HID_PERSONALITY("WrongVendor",
										"<key>VendorID</key><integer>1</integer>")
									HID_PERSONALITY(
										"WrongUsage",
										"<key>DeviceUsagePairs</key><array><dict>"
										"<key>DeviceUsagePage</key><integer>1</integer>"
										"<key>DeviceUsage</key><integer>2</integer>"
										"</dict></array>")
										HID_PERSONALITY("BuiltIn",
												"<key>IOPropertyMatch</key><dict>"
												"<key>Built-In</key><true/></dict>"));
	fixture_bundle_file(&f, "Match.dext", "Entitlements.plist",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
			    "<key>com.apple.developer.driverkit</key><true/>"
			    "<key>com.apple.developer.driverkit.transport.hid</key><array><dict>"
			    "<key>DeviceUsagePage</key><integer>1</integer></dict></array>"
			    "</dict></plist>\n");
	start_with_keyboard(&f, "i8042", true, NULL);
	hid_wait_path(&f, "/HIDSimulated/kbd0/IOHIDInterface", 10000);
	out = hid_udkctl(&f, 0, "explain org.udk.test.hidmatch /HIDSimulated/kbd0/IOHIDInterface");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* the personality's own block of the report */
		char head[128], *at, *end, *block;
		snprintf(head, sizeof(head), "org.udk.test.hidmatch %s: ", cases[i].name);
		at = strstr(out, head);
		if (!at)
			FAIL("no %s in:\n%s", head, out);
		end = strstr(at + strlen(head), "\n  org.udk.test.hidmatch ");
		block = strndup(at, end ? (size_t)(end - at) : strlen(at));
		if (!strstr(block, cases[i].verdict))
			FAIL("%s: expected \"%s\" in:\n%s", cases[i].name, cases[i].verdict, block);
		free(block);
	}
	/* the built-in keyboard matches IOPropertyMatch Built-In as on macOS */
	ASSERT_CONTAINS(strstr(out, "hidmatch BuiltIn: "), "BuiltIn: matches with score");
	free(out);
	/* the family's keys are checked when the bundle loads */
	out = hid_udkctl(&f, 0, "drivers org.udk.test.hidmatch");
	ASSERT_NOT_CONTAINS(out, "unknown key");
	free(out);
	fixture_stop(&f);
}

TEST(a_remapper_that_stops_gives_the_keyboard_back_at_once)
{
	struct fixture f;
	struct udk_hid_client *raw;
	char cmd[600], *log;

	fixture_init(&f);
	remap_setup(&f, NULL, NULL);
	raw = hid_events_open(&f, "/HIDSimulated/kbd0", UDK_HID_SUBSCRIBE_EVENTS);
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap q"), "ok");
	ASSERT_STREQ(hid_read_keys(raw, 1, 300), "");
	/* the bundle goes away: the remapper stops, closing the keyboard in its Stop() */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/HIDRemap.dext'", f.bundles);
	ASSERT_EQ(system(cmd), 0);
	free(hid_udkctl(&f, 0, "rescan"));
	for (int i = 0;; i++) {
		char *out = hid_udkctl(&f, 0, "--json families hid");
		bool gone = !strstr(out, "\"driver\": \"org.udk.hid-remap\"");
		free(out);
		if (gone)
			break;
		if (i > 200)
			FAIL("the remapper still holds the keyboard");
		usleep(50000);
	}
	ASSERT_STREQ(hid_sim(&f, "kbd0", "tap w"), "ok");
	/* at once: well inside the 5000 ms a crashed remapper's keys would wait */
	ASSERT_STREQ(hid_read_keys(raw, 2, 2000), "w down w up");
	log = fixture_log(&f);
	ASSERT_NOT_CONTAINS(log, "kbd0: org.udk.hid-remap, which seized it, ended holding");
	free(log);
	udk_hid_client_close(raw);
	fixture_stop(&f);
}
