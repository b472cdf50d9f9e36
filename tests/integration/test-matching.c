/* SPDX-License-Identifier: MIT */
/*
 * Matching keys against a machine with PCI, USB and named services, and
 * registry notifications.
 */
#include <signal.h>

#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define MACHINE                                                                                                \
	"<dict><key>Name</key><string>pci0</string><key>Class</key><string>IOPCIDevice</string>"               \
	"<key>Properties</key><dict><key>vendor-id</key><integer>0x8086</integer>"                           \
	"<key>device-id</key><integer>0x1001</integer><key>subsystem-vendor-id</key><integer>0x1af4</integer>" \
	"<key>subsystem-id</key><integer>1</integer><key>class-code</key><integer>0x020000</integer>"         \
	"</dict></dict>"                                                                                       \
	"<dict><key>Name</key><string>usb0</string><key>Class</key><string>IOUSBHostDevice</string>"           \
	"<key>Properties</key><dict><key>idVendor</key><integer>0x05ac</integer>"                            \
	"<key>idProduct</key><integer>0x1234</integer><key>bcdDevice</key><integer>0x0100</integer>"         \
	"<key>bDeviceClass</key><integer>0</integer></dict></dict>"                                           \
	"<dict><key>Name</key><string>thing</string><key>Class</key><string>UDKTestDevice</string>"            \
	"<key>Properties</key><dict><key>IOName</key><string>acme,widget-3</string>"                         \
	"<key>serial</key><string>S-77</string></dict></dict>"

static char *
driver_on(struct fixture *f, const char *path)
{
	char args[300];

	snprintf(args, sizeof(args), "tree %s", path);
	return fixture_udkctl(f, NULL, args);
}

TEST(pci_primary_match_starts_the_driver_and_explains_a_miss)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine(&f, MACHINE);
	fixture_add_bundle(&f, "Nic.dext", "org.udk.test.nic",
			   TEST_PERSONALITY("Nic", "org.udk.test.nic", "IOPCIDevice",
					    "<key>IOPCIPrimaryMatch</key><string>0x12348086 0x10018086</string>"));
	fixture_add_bundle(&f, "Other.dext", "org.udk.test.other",
			   TEST_PERSONALITY("Other", "org.udk.test.other", "IOPCIDevice",
					    "<key>IOPCIPrimaryMatch</key><string>0x10028086</string>"));
	fixture_start(&f, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "tree /pci0", "from org.udk.test.nic", 10000));
	out = driver_on(&f, "/pci0");
	ASSERT_FALSE(strstr(out, "org.udk.test.other") != NULL);
	free(out);
	out = fixture_udkctl(&f, NULL, "explain org.udk.test.other /pci0");
	ASSERT_CONTAINS(out, "FAILED  IOPCIPrimaryMatch: device/vendor 0x10018086 is not in \"0x10028086\"");
	free(out);
	out = fixture_udkctl(&f, NULL, "explain org.udk.test.nic /pci0");
	ASSERT_CONTAINS(out, "ok      IOPCIPrimaryMatch: device/vendor 0x10018086 matches 0x10018086&0xffffffff");
	free(out);
	fixture_stop(&f);
}

TEST(usb_family_score_is_added_to_the_probe_score)
{
	struct fixture f;
	struct udk_value *svc = NULL, *m;
	uint64_t id;

	fixture_init(&f);
	fixture_set_machine(&f, MACHINE);
	/* vendor+product (90000) beats a higher IOProbeScore with vendor only... */
	fixture_add_bundle(&f, "Exact.dext", "org.udk.test.exact",
			   TEST_PERSONALITY("Exact", "org.udk.test.exact", "IOUSBHostDevice",
					    "<key>idVendor</key><integer>1452</integer>"
					    "<key>idProduct</key><integer>4660</integer>"));
	fixture_add_bundle(&f, "Loose.dext", "org.udk.test.loose",
			   TEST_PERSONALITY("Loose", "org.udk.test.loose", "IOUSBHostDevice",
					    "<key>idVendor</key><integer>1452</integer>"
					    "<key>IOProbeScore</key><integer>50000</integer>"));
	fixture_start(&f, NULL);
	m = udk_matching_class("TestDriver");
	ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &id));
	udk_value_unref(m);
	ASSERT_OK(udk_client_copy_service(f.client, id, &svc));
	ASSERT_STREQ(udk_dict_get_string(udk_dict_get(svc, "properties"), "CFBundleIdentifier"), "org.udk.test.exact");
	ASSERT_EQ(udk_dict_get_int(svc, "score", 0), 90000);
	udk_value_unref(svc);
	{
		char *out = fixture_udkctl(&f, NULL, "explain org.udk.test.loose /usb0");
		ASSERT_CONTAINS(out, "the keys match but form none of the USB matching sets");
		ASSERT_CONTAINS(out, "lost category IODefaultMatchCategory to org.udk.test.exact (Exact, score 90000)");
		free(out);
	}
	fixture_stop(&f);
}

TEST(name_property_and_resource_match)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine(&f, MACHINE);
	fixture_add_bundle(&f, "Name.dext", "org.udk.test.name",
			   TEST_PERSONALITY("ByName", "org.udk.test.name", "UDKTestDevice",
					    "<key>IONameMatch</key><array><string>nope</string>"
					    "<string>acme,widget-*</string></array>"));
	fixture_add_bundle(&f, "Prop.dext", "org.udk.test.prop",
			   TEST_PERSONALITY("ByProp", "org.udk.test.prop", "UDKTestDevice",
					    "<key>IOMatchCategory</key><string>Prop</string>"
					    "<key>IOPropertyMatch</key><dict><key>serial</key><string>S-77</string></dict>"));
	fixture_add_bundle(&f, "PropMiss.dext", "org.udk.test.propmiss",
			   TEST_PERSONALITY("PropMiss", "org.udk.test.propmiss", "UDKTestDevice",
					    "<key>IOMatchCategory</key><string>Miss</string>"
					    "<key>IOPropertyMatch</key><dict><key>serial</key><string>S-78</string></dict>"));
	/* waits for a resource that a third driver publishes */
	fixture_add_bundle(&f, "Res.dext", "org.udk.test.res",
			   TEST_PERSONALITY("NeedsRes", "org.udk.test.res", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Res</string>"
					    "<key>IOResourceMatch</key><string>org.udk.test.ready</string>"));
	fixture_start(&f, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "tree /thing", "from org.udk.test.name", 10000));
	ASSERT_TRUE(fixture_wait_output(&f, "tree /thing", "from org.udk.test.prop", 10000));
	out = fixture_udkctl(&f, NULL, "explain org.udk.test.propmiss /thing");
	ASSERT_CONTAINS(out, "FAILED  IOPropertyMatch: property \"serial\" has a different value");
	free(out);
	out = fixture_udkctl(&f, NULL, "explain org.udk.test.res /IOUserResources");
	ASSERT_CONTAINS(out, "resource \"org.udk.test.ready\" has not been published (yet)");
	free(out);
	/* now the publisher arrives: the waiting driver starts */
	fixture_add_bundle(&f, "Pub.dext", "org.udk.test.pub",
			   TEST_PERSONALITY("Pub", "org.udk.test.pub", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Pub</string>"
					    "<key>TestResource</key><string>org.udk.test.ready</string>"));
	free(fixture_udkctl(&f, NULL, "rescan"));
	ASSERT_TRUE(fixture_wait_output(&f, "tree /IOUserResources", "from org.udk.test.res", 10000));
	fixture_stop(&f);
}

struct events {
	int arrivals, terminations, properties;
	uint64_t last_id;
};

static void
on_event(struct udk_client *c, enum udk_notification_type type, uint64_t id, const char *name, void *userdata)
{
	struct events *e = userdata;

	(void)c;
	(void)name;
	e->last_id = id;
	if (type == UDK_NOTIFY_ARRIVAL)
		e->arrivals++;
	else if (type == UDK_NOTIFY_TERMINATION)
		e->terminations++;
	else
		e->properties++;
}

static void
pump_until(struct fixture *f, int *counter, int want)
{
	for (int i = 0; i < 500 && *counter < want; i++)
		udk_client_dispatch(f->client, 20);
	ASSERT_GE(*counter, want);
}

TEST(notifications_for_arrival_termination_and_properties)
{
	struct fixture f;
	struct events ev = { 0 };
	struct udk_value *m;
	uint64_t pid, id;

	fixture_init(&f);
	fixture_set_machine(&f, MACHINE);
	fixture_start(&f, NULL);
	m = udk_matching_class("TestDriver");
	ASSERT_OK(udk_client_add_notification(f.client, UDK_NOTIFY_ARRIVAL, m, on_event, &ev, NULL));
	ASSERT_OK(udk_client_add_notification(f.client, UDK_NOTIFY_TERMINATION, m, on_event, &ev, NULL));
	udk_value_unref(m);
	fixture_add_bundle(&f, "A.dext", "org.udk.test.a",
			   TEST_PERSONALITY("A", "org.udk.test.a", "IOUserResources",
					    "<key>IOMatchCategory</key><string>T</string>"));
	free(fixture_udkctl(&f, NULL, "rescan"));
	pump_until(&f, &ev.arrivals, 1);
	id = ev.last_id;
	{
		struct udk_value *svc = NULL;
		ASSERT_OK(udk_client_copy_service(f.client, id, &svc));
		pid = (uint64_t)udk_dict_get_int(udk_dict_get(svc, "properties"), "DriverPid", 0);
		udk_value_unref(svc);
	}
	kill((pid_t)pid, SIGKILL);
	pump_until(&f, &ev.terminations, 1);
	pump_until(&f, &ev.arrivals, 2);
	ASSERT_NE(ev.last_id, id);

	/* property changes on a machine service */
	m = udk_value_new_dict();
	udk_dict_set_string(m, "IONameMatch", "thing");
	ASSERT_OK(udk_client_add_notification(f.client, UDK_NOTIFY_PROPERTY, m, on_event, &ev, NULL));
	udk_value_unref(m);
	{
		int st;
		char *out = fixture_udkctl(&f, &st, "set-property /thing temperature 41");
		ASSERT_EQ(st, 0);
		free(out);
	}
	pump_until(&f, &ev.properties, 1);
	{
		char *out = fixture_udkctl(&f, NULL, "props /thing");
		ASSERT_CONTAINS(out, "\"temperature\" = 41");
		free(out);
	}
	fixture_stop(&f);
}

TEST(matching_dictionaries_from_apps)
{
	struct fixture f;
	struct udk_value *m;
	uint64_t *ids = NULL;
	size_t n = 0;

	fixture_init(&f);
	fixture_set_machine(&f, MACHINE);
	fixture_start(&f, NULL);
	/* class chain */
	m = udk_matching_class("IOService");
	ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
	ASSERT_GE(n, 5);
	free(ids);
	udk_value_unref(m);
	/* a family key in an app's dictionary */
	m = udk_value_new_dict();
	udk_dict_set_string(m, "IOPCIPrimaryMatch", "0x10018086");
	ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
	ASSERT_EQ(n, 1);
	free(ids);
	udk_value_unref(m);
	/* a plain property */
	m = udk_value_new_dict();
	udk_dict_set_string(m, "serial", "S-77");
	ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
	ASSERT_EQ(n, 1);
	free(ids);
	udk_value_unref(m);
	/* nothing */
	m = udk_matching_class("IOBlockStorageDevice");
	ASSERT_OK(udk_client_find_services(f.client, m, &ids, &n));
	ASSERT_EQ(n, 0);
	free(ids);
	{
		uint64_t id;
		ASSERT_ERR(udk_client_find_service(f.client, "IOBlockStorageDevice", &id), -UDK_E_NO_SUCH_SERVICE);
		ASSERT_CONTAINS(udk_error_reason(), "udkctl explain");
	}
	udk_value_unref(m);
	fixture_stop(&f);
}
