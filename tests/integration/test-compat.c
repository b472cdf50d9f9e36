/* SPDX-License-Identifier: MIT */
/*
 * DriverKit compatibility (docs/driverkit-compat.md): personalities written
 * the way real dexts write them match, or are refused, as on macOS, and
 * every key the compatibility page lists is handled as it says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>
#include <udk/udk.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.compat"

static const char *
entitlements_with(const char *extra)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
		 "<key>com.apple.developer.driverkit</key><true/>\n"
		 "<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n%s"
		 "</dict></plist>\n",
		 extra);
	return buf;
}

/* A personality as real dexts write it, running the test driver. */
#define DEXT_PERSONALITY(name, ioclass, provider, extra)                                                       \
	"<key>" name "</key><dict>"                                                                            \
	"<key>CFBundleIdentifier</key><string>" ID "</string>"                                                 \
	"<key>CFBundleIdentifierKernel</key><string>com.apple.kpi.iokit</string>"                              \
	"<key>IOClass</key><string>" ioclass "</string>"                                                       \
	"<key>IOUserClass</key><string>TestDriver</string>"                                                    \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>" provider "</string>"                                              \
	"<key>IOPersonalityPublisher</key><string>" ID "</string>"                                             \
	"<key>UserClientProperties</key><dict><key>IOClass</key><string>IOUserUserClient</string>"             \
	"<key>IOUserClass</key><string>TestUserClient</string></dict>" extra "</dict>"

TEST(standard_resources_match_real_personalities)
{
	struct fixture f;
	char *out;

	/* the virtual serial port dext: IOUserResources + IOResourceMatch IOKit */
	fixture_init(&f);
	fixture_add_bundle(&f, "Serial.dext", ID,
			   DEXT_PERSONALITY("VirtualSerial", "IOUserSerial", "IOUserResources",
					    "<key>IOResourceMatch</key><string>IOKit</string>"
					    "<key>IOMatchCategory</key><string>VirtualSerial</string>")
				   DEXT_PERSONALITY("Waits", "IOUserService", "IOUserResources",
						    "<key>IOResourceMatch</key><string>com.example.never</string>"
						    "<key>IOMatchCategory</key><string>Waits</string>"));
	fixture_bundle_file(&f, "Serial.dext", "Entitlements.plist",
			    entitlements_with("<key>com.apple.developer.driverkit.family.serial</key><true/>\n"));
	fixture_start(&f, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /IOUserResources", "VirtualSerial: matches", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /IOUserResources");
	ASSERT_CONTAINS(out, "ok      IOResourceMatch: resource \"IOKit\" is published");
	/* a resource nobody published: explain lists what is published */
	ASSERT_CONTAINS(out, "resource \"com.example.never\" has not been published (yet); published now: IOKit, IOBSD");
	free(out);
	fixture_stop(&f);
}

TEST(real_dext_personalities_match_per_family_with_their_entitlements)
{
	static const struct {
		const char *label, *personality, *entitlement, *missing;
	} cases[] = {
		{ "braille-usb",
		  DEXT_PERSONALITY("Braille", "IOUserService", "IOUSBHostDevice",
				   "<key>idVendor</key><integer>7025</integer><key>idProduct</key><integer>4097</integer>"),
		  "<key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key>"
		  "<integer>7025</integer></dict></array>\n",
		  "com.apple.developer.driverkit.transport.usb" },
		{ "gamepad-interface",
		  DEXT_PERSONALITY("Gamepad", "AppleUserHIDDevice", "IOUSBHostInterface",
				   "<key>idVendor</key><integer>1356</integer><key>idProduct</key><integer>2508</integer>"
				   "<key>bInterfaceNumber</key><integer>0</integer>"),
		  "<key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key>"
		  "<integer>1356</integer></dict></array>\n"
		  "<key>com.apple.developer.driverkit.transport.hid</key><true/>\n"
		  "<key>com.apple.developer.driverkit.family.hid.device</key><true/>\n",
		  "com.apple.developer.driverkit.family.hid.device" },
		{ "scsi-controller",
		  DEXT_PERSONALITY("HBA", "IOUserSCSIParallelInterfaceController", "IOPCIDevice",
				   "<key>IOPCIPrimaryMatch</key><string>0x00121000&amp;0x00ffffff</string>"),
		  "<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"
		  "<key>IOPCIPrimaryMatch</key><string>0x00121000&amp;0x00ffffff</string></dict></array>\n"
		  "<key>com.apple.developer.driverkit.family.scsicontroller</key><true/>\n",
		  "com.apple.developer.driverkit.family.scsicontroller" },
		{ "audio",
		  DEXT_PERSONALITY("Audio", "IOUserAudioDriver", "IOUserResources",
				   "<key>IOResourceMatch</key><string>IOKit</string>"
				   "<key>IOMatchCategory</key><string>Audio</string>"),
		  "<key>com.apple.developer.driverkit.family.audio</key><true/>\n",
		  "com.apple.developer.driverkit.family.audio" },
		{ "block-storage",
		  DEXT_PERSONALITY("Block", "IOUserBlockStorageDevice", "IOUserResources",
				   "<key>IOResourceMatch</key><string>IOKit</string>"
				   "<key>IOMatchCategory</key><string>Block</string>"),
		  "<key>com.apple.developer.driverkit.family.block-storage-device</key><true/>\n",
		  "com.apple.developer.driverkit.family.block-storage-device" },
	};
	static const char *const machine =
		"<dict><key>Name</key><string>braille</string><key>Class</key><string>IOUSBHostDevice</string>"
		"<key>Properties</key><dict><key>idVendor</key><integer>7025</integer>"
		"<key>idProduct</key><integer>4097</integer></dict></dict>"
		"<dict><key>Name</key><string>gamepad</string><key>Class</key><string>IOUSBHostDevice</string>"
		"<key>Properties</key><dict><key>idVendor</key><integer>1356</integer>"
		"<key>idProduct</key><integer>2508</integer></dict>"
		"<key>Children</key><array><dict><key>Name</key><string>if0</string>"
		"<key>Class</key><string>IOUSBHostInterface</string><key>Properties</key><dict>"
		"<key>idVendor</key><integer>1356</integer><key>idProduct</key><integer>2508</integer>"
		"<key>bInterfaceNumber</key><integer>0</integer><key>bInterfaceClass</key><integer>3</integer>"
		"</dict></dict></array></dict>"
		"<dict><key>Name</key><string>hba</string><key>Class</key><string>IOPCIDevice</string>"
		"<key>Properties</key><dict><key>vendor-id</key><integer>4096</integer>"
		"<key>device-id</key><integer>18</integer></dict></dict>";
	static const char *const paths[] = { "/braille", "/gamepad/if0", "/hba", "/IOUserResources",
					     "/IOUserResources" };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int entitled = 0; entitled < 2; entitled++) {
			struct fixture f;
			char args[256], *out;

			printf("# %s, %s\n", cases[i].label, entitled ? "entitled" : "not entitled");
			fixture_init(&f);
			fixture_set_machine(&f, machine);
			fixture_add_bundle(&f, "Dext.dext", ID, cases[i].personality);
			fixture_bundle_file(&f, "Dext.dext", "Entitlements.plist",
					    entitlements_with(entitled ? cases[i].entitlement : ""));
			fixture_start(&f, NULL);
			snprintf(args, sizeof(args), "explain " ID " %s", paths[i]);
			if (entitled) {
				ASSERT_TRUE(fixture_wait_output(&f, args, "and is running as TestDriver", 10000));
			} else {
				out = fixture_udkctl(&f, NULL, args);
				ASSERT_CONTAINS(out, "does not match");
				ASSERT_CONTAINS(out, cases[i].missing);
				free(out);
			}
			fixture_stop(&f);
		}
	}
}

TEST(dext_entitlements_bound_who_matches_a_service)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	/* a driver whose own service asks matching drivers for family.serial */
	fixture_add_bundle(&f, "Parent.dext", ID,
			   DEXT_PERSONALITY("Parent", "IOUserService", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Parent</string>"
					    "<key>IOServiceDEXTEntitlements</key><array><array>"
					    "<string>com.apple.developer.driverkit.family.serial</string></array></array>"));
	fixture_add_bundle(&f, "Child.dext", "org.udk.test.child",
			   TEST_PERSONALITY("Child", "org.udk.test.child", "TestDriver", ""));
	fixture_add_bundle(&f, "Bad.dext", "org.udk.test.bad",
			   TEST_PERSONALITY("Bad", "org.udk.test.bad", "IOUserResources",
					    "<key>IOServiceDEXTEntitlements</key><array><string>x</string></array>"));
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "TestDriver", 10000);
	out = fixture_udkctl(&f, NULL, "explain org.udk.test.child /IOUserResources/TestDriver");
	ASSERT_CONTAINS(out, "FAILED  entitlements: the service's IOServiceDEXTEntitlements asks for "
			     "com.apple.developer.driverkit.family.serial, which the bundle does not hold");
	free(out);
	out = fixture_udkctl(&f, NULL, "props /IOUserResources/TestDriver");
	ASSERT_CONTAINS(out, "com.apple.developer.driverkit.family.serial");
	free(out);
	/* a malformed set is refused with its key path */
	out = fixture_udkctl(&f, NULL, "drivers org.udk.test.bad");
	ASSERT_CONTAINS(out, "IOKitPersonalities.Bad.IOServiceDEXTEntitlements");
	ASSERT_CONTAINS(out, "must be an <array> of <array>s of entitlement <string>s");
	free(out);
	fixture_stop(&f);
}

TEST(io_class_roles_and_mismatches_are_explained)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_add_bundle(&f, "Roles.dext", ID,
			   DEXT_PERSONALITY("Net", "IOUserNetworkEthernet", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Net</string>")
				   DEXT_PERSONALITY("Typo", "IOUserSerail", "IOUserResources",
						    "<key>IOMatchCategory</key><string>Typo</string>")
					   DEXT_PERSONALITY("Peripheral", "IOUserService", "IOUserResources",
							    "<key>IOMatchCategory</key><string>Peripheral</string>"
							    "<key>TestRequireClass</key>"
							    "<string>IOUserSCSIPeripheralDeviceType00</string>"
							    "<key>TestRequireRole</key><string>SCSI peripheral</string>"));
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, NULL, "drivers " ID);
	ASSERT_CONTAINS(out, "is IOUserNetworkEthernet, a class of DriverKit's networking family, which udk does not "
			     "have");
	ASSERT_CONTAINS(out, "\"IOUserSerail\" is not a class udk knows (did you mean \"IOUserSerial\"?)");
	free(out);
	/* the family library's check: the sentence reaches explain and drivers */
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /IOUserResources", "the driver reports", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /IOUserResources");
	ASSERT_CONTAINS(out, "this driver registers a SCSI peripheral but its IOClass is IOUserService; set IOClass "
			     "to IOUserSCSIPeripheralDeviceType00 in IOKitPersonalities.Peripheral");
	free(out);
	out = fixture_udkctl(&f, NULL, "drivers " ID);
	ASSERT_CONTAINS(out, "problem: UDK_E_UNSUPPORTED: this driver registers a SCSI peripheral");
	free(out);
	fixture_stop(&f);
}

TEST(create_from_properties_makes_entitled_services)
{
	struct fixture f;
	char *out;
	uint64_t id = 0;

	fixture_init(&f);
	fixture_add_bundle(&f, "Maker.dext", ID,
			   DEXT_PERSONALITY("Maker", "IOUserService", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Maker</string>"
					    "<key>TestCreate</key><string>PortProperties</string>"
					    "<key>PortProperties</key><dict><key>IOClass</key><string>IOUserUSBSerial</string>"
					    "<key>IOUserClass</key><string>TestDriver</string>"
					    "<key>IOTTYBaseName</key><string>mycustombasename</string></dict>")
				   DEXT_PERSONALITY("NoDict", "IOUserService", "IOUserResources",
						    "<key>IOMatchCategory</key><string>NoDict</string>"
						    "<key>TestCreate</key><string>Missing</string>")
					   DEXT_PERSONALITY("NoClass", "IOUserService", "IOUserResources",
							    "<key>IOMatchCategory</key><string>NoClass</string>"
							    "<key>TestCreate</key><string>Other</string>"
							    "<key>Other</key><dict><key>IOUserClass</key>"
							    "<string>NotInThisExecutable</string></dict>"));
	fixture_bundle_file(&f, "Maker.dext", "Entitlements.plist",
			    entitlements_with("<key>com.apple.developer.driverkit.family.serial</key><true/>\n"));
	fixture_start(&f, NULL);
	/* the made service: a child of the driver, of the family's class, with the dictionary's properties */
	{
		struct udk_value *m = udk_matching_class("IOUserSerial");
		ASSERT_OK(udk_client_wait_for_service(f.client, m, 10000, &id));
		udk_value_unref(m);
	}
	out = fixture_udkctl(&f, NULL, "tree");
	ASSERT_CONTAINS(out, "TestDriver:IOUserUSBSerial:IOUserSerial:IOService");
	free(out);
	/* the other two personalities' Start() fails, in its own time */
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /IOUserResources", "Create(): Other.IOUserClass", 10000));
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /IOUserResources", "has no <dict> \"Missing\"", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /IOUserResources");
	ASSERT_CONTAINS(out, "Create(): the personality has no <dict> \"Missing\"");
	ASSERT_CONTAINS(out, "Create(): Other.IOUserClass \"NotInThisExecutable\" is not a class of this executable");
	free(out);
	fixture_stop(&f);

	/* without family.serial the made port is refused, and Start() says why */
	fixture_init(&f);
	fixture_add_bundle(&f, "Maker.dext", ID,
			   DEXT_PERSONALITY("Maker", "IOUserService", "IOUserResources",
					    "<key>IOMatchCategory</key><string>Maker</string>"
					    "<key>TestCreate</key><string>PortProperties</string>"
					    "<key>PortProperties</key><dict><key>IOClass</key><string>IOUserSerial</string>"
					    "<key>IOUserClass</key><string>TestDriver</string></dict>"));
	fixture_bundle_file(&f, "Maker.dext", "Entitlements.plist", entitlements_with(""));
	fixture_start(&f, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /IOUserResources", "UDK_E_ENTITLEMENT", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /IOUserResources");
	ASSERT_CONTAINS(out, "com.apple.developer.driverkit.family.serial");
	free(out);
	fixture_stop(&f);
}

TEST(provider_merge_properties_reach_the_provider)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine(&f, "<dict><key>Name</key><string>widget0</string><key>Class</key>"
				"<string>UDKTestDevice</string></dict>");
	fixture_add_bundle(&f, "Merge.dext", ID,
			   DEXT_PERSONALITY("Merge", "IOUserService", "UDKTestDevice",
					    "<key>IOProviderMergeProperties</key><dict><key>ExampleMerged</key>"
					    "<string>yes</string></dict>"));
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "TestDriver", 10000);
	out = fixture_udkctl(&f, NULL, "props /widget0");
	ASSERT_CONTAINS(out, "\"ExampleMerged\" = \"yes\"");
	free(out);
	fixture_stop(&f);
}

/*
 * The compatibility page's key tables: a bundle carrying every listed key
 * gets no "unknown key" warning for any of them, and every key marked
 * implemented names a test that exists.
 */
TEST(every_key_the_compatibility_page_lists_is_handled_as_it_says)
{
	char path[512], *doc = NULL, *line, *save = NULL;
	size_t len = 0, n_info = 0, n_pers = 0, n_impl = 0;
	char info_keys[8192] = "", pers_keys[8192] = "";
	FILE *fp;
	enum { NONE, INFO, PERS } section = NONE;
	struct fixture f;
	char *out;

	snprintf(path, sizeof(path), "%s/docs/driverkit-compat.md", getenv("UDK_SOURCE_ROOT"));
	fp = fopen(path, "r");
	ASSERT_NOT_NULL(fp);
	ASSERT_TRUE(getdelim(&doc, &len, '\0', fp) > 0);
	fclose(fp);
	for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[128], handling[512], test[160];
		if (strncmp(line, "## Info.plist", 13) == 0)
			section = INFO;
		else if (strncmp(line, "## Personality keys", 19) == 0)
			section = PERS;
		else if (strncmp(line, "## ", 3) == 0)
			section = NONE;
		if (section == NONE || sscanf(line, "| `%127[^`]` | %511[^|]| `%159[^`]`", key, handling, test) < 2)
			continue;
		if (!strstr(line, "| `") || strstr(line, "| — |"))
			snprintf(test, sizeof(test), "—");
		if (section == INFO) {
			if (strcmp(key, "IOKitPersonalities") && strcmp(key, "CFBundleIdentifier") &&
			    strcmp(key, "CFBundleExecutable") && strcmp(key, "CFBundleVersion")) {
				size_t l = strlen(info_keys);
				snprintf(info_keys + l, sizeof(info_keys) - l, "<key>%s</key><string>%s</string>\n", key,
					 strcmp(key, "CFBundlePackageType") ? "x" : "DEXT");
			}
			n_info++;
		} else {
			size_t l = strlen(pers_keys);
			if (!strncmp(handling, "accepted", 8))
				snprintf(pers_keys + l, sizeof(pers_keys) - l, "<key>%s</key>%s", key,
					 strcmp(key, "IOMatchDefer") ? "<string>x</string>" : "<true/>");
			n_pers++;
		}
		if (!strncmp(handling, "implemented", 11)) {
			/* the named test exists */
			char pattern[600];
			int st;
			ASSERT_TRUE(strcmp(test, "—") != 0);
			snprintf(pattern, sizeof(pattern), "grep -rqs 'TEST(%s)' '%s/tests' '%s/families'", test,
				 getenv("UDK_SOURCE_ROOT"), getenv("UDK_SOURCE_ROOT"));
			st = system(pattern);
			if (st != 0)
				FAIL("docs/driverkit-compat.md: %s names test %s, which does not exist", key, test);
			n_impl++;
		}
	}
	free(doc);
	printf("# %zu Info.plist keys, %zu personality keys, %zu implemented with a test\n", n_info, n_pers, n_impl);
	ASSERT_GE(n_info, 20);
	ASSERT_GE(n_pers, 20);

	/* one bundle carrying every accepted key */
	fixture_init(&f);
	{
		char *info = NULL;
		ASSERT_TRUE(asprintf(&info,
				     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
				     "<key>CFBundleIdentifier</key><string>" ID "</string>\n"
				     "<key>CFBundleExecutable</key><string>testdrv</string>\n"
				     "<key>CFBundleVersion</key><string>1.0</string>\n%s"
				     "<key>IOKitPersonalities</key><dict>"
				     "<key>All</key><dict><key>IOClass</key><string>IOUserService</string>"
				     "<key>IOUserClass</key><string>TestDriver</string>"
				     "<key>IOUserServerName</key><string>" ID "</string>"
				     "<key>IOProviderClass</key><string>IOUserResources</string>"
				     "<key>IOMatchCategory</key><string>All</string>%s</dict>"
				     "</dict></dict></plist>\n",
				     info_keys, pers_keys) > 0);
		fixture_add_raw_bundle(&f, "All.dext", info, build_path("tests/testdrv"));
		free(info);
	}
	fixture_start(&f, NULL);
	out = fixture_udkctl(&f, NULL, "drivers " ID);
	ASSERT_NOT_CONTAINS(out, "unknown key");
	ASSERT_NOT_CONTAINS(out, "warning");
	free(out);
	fixture_stop(&f);
}

/* The pids of the running instances of @id, from `udkctl drivers` (0 when not running). */
static int
instance_pids(struct fixture *f, const char *id, const char *path_a, const char *path_b, long *ret_a, long *ret_b)
{
	char args[128], *out, *p;

	snprintf(args, sizeof(args), "drivers %s", id);
	out = fixture_udkctl(f, NULL, args);
	*ret_a = *ret_b = 0;
	for (int k = 0; k < 2; k++) {
		char want[160];
		snprintf(want, sizeof(want), "instance %s: running, pid ", k ? path_b : path_a);
		p = strstr(out, want);
		if (p)
			*(k ? ret_b : ret_a) = strtol(p + strlen(want), NULL, 10);
	}
	free(out);
	return 0;
}

struct pids_cond {
	struct fixture *f;
	const char *id;
	bool same;
	long not_pid;
	long a, b;
};

static bool
pids_ready(void *data)
{
	struct pids_cond *c = data;

	instance_pids(c->f, c->id, "/PCI0/pcitest0/TestPciDriver", "/PCI0/pcitest1/TestPciDriver", &c->a, &c->b);
	return c->a > 0 && c->b > 0 && (c->same ? c->a == c->b : c->a != c->b) && c->a != c->not_pid;
}

TEST(one_process_server_runs_every_instance_in_one_process)
{
	struct fixture f;
	struct pids_cond c = { .f = &f, .id = ID, .same = true };
	long a, b;

	/* two simulated PCI functions, one personality with IOUserServerOneProcess */
	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    TEST_DEVICE("pcitest0", "pci-test", "") TEST_DEVICE("pcitest1", "pci-test", ""));
	fixture_add_bundle_exe(&f, "P.dext", ID, "tests/testpci",
			       TESTPCI_PERSONALITY("P", ID, "<key>IOUserServerOneProcess</key><true/>"));
	fixture_start(&f, "--restart-base-ms", "20", NULL);
	if (!fixture_poll(15000, pids_ready, &c)) {
		char *out = fixture_udkctl(&f, NULL, "drivers " ID), *log = fixture_log(&f);
		FAIL("the two instances do not share one process: %s\n%s", out, log);
	}
	printf("# both instances in pid %ld\n", c.a);

	/* one provider goes: the server and the other instance stay */
	{
		char *out = fixture_udkctl(&f, NULL, "sim unplug pcitest0");
		free(out);
	}
	for (int i = 0; i < 100; i++) {
		instance_pids(&f, ID, "/PCI0/pcitest0/TestPciDriver", "/PCI0/pcitest1/TestPciDriver", &a, &b);
		if (a == 0)
			break;
		usleep(20000);
	}
	ASSERT_EQ(a, 0);
	ASSERT_EQ(b, c.a);
	/* it comes back into the same server (the unplugged model may still be exiting: plug until taken) */
	{
		int st = -1;
		char *out = NULL;
		for (int i = 0; i < 200 && st != 0; i++) {
			if (i)
				usleep(50000);
			free(out);
			out = fixture_udkctl(&f, &st, "sim plug pcitest0");
		}
		if (st != 0)
			FAIL("udkctl sim plug pcitest0 keeps failing: %s", out);
		free(out);
	}
	if (!fixture_poll(15000, pids_ready, &c)) {
		char *out = fixture_udkctl(&f, NULL, "drivers " ID), *log = fixture_log(&f);
		FAIL("the replugged instance did not join the server: %s\n%s", out, log);
	}
	ASSERT_EQ(c.a, b);

	/* the server crashes: both instances restart, again in one process */
	ASSERT_EQ(kill((pid_t)c.a, SIGKILL), 0);
	c.not_pid = c.a;
	ASSERT_TRUE(fixture_poll(15000, pids_ready, &c));
	printf("# after SIGKILL both instances in new pid %ld\n", c.a);
	fixture_stop(&f);

	/* without the key: one process per provider */
	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    TEST_DEVICE("pcitest0", "pci-test", "") TEST_DEVICE("pcitest1", "pci-test", ""));
	fixture_add_bundle_exe(&f, "P.dext", ID, "tests/testpci", TESTPCI_PERSONALITY("P", ID, ""));
	fixture_start(&f, NULL);
	c = (struct pids_cond){ .f = &f, .id = ID, .same = false };
	ASSERT_TRUE(fixture_poll(15000, pids_ready, &c));
	fixture_stop(&f);
}

static char *
run_cmd(int *ret_status, const char *cmd)
{
	char *out = NULL;
	size_t len = 0;
	FILE *p = popen(cmd, "r"), *mem = open_memstream(&out, &len);
	char buf[4096];
	size_t n;
	int st;

	if (!p || !mem)
		FAIL("popen: %m");
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, mem);
	st = pclose(p);
	fclose(mem);
	if (ret_status)
		*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

TEST(user_client_dext_entitlements_are_asked_of_apps)
{
	struct fixture f;
	char cmd[8192], *out;
	int st;

	fixture_init(&f);
	fixture_add_bundle(&f, "Uc.dext", ID,
			   "<key>Uc</key><dict><key>IOClass</key><string>IOUserService</string>"
			   "<key>IOUserClass</key><string>TestDriver</string>"
			   "<key>IOUserServerName</key><string>" ID "</string>"
			   "<key>IOProviderClass</key><string>IOUserResources</string>"
			   "<key>IOMatchCategory</key><string>Uc</string>"
			   "<key>UserClientProperties</key><dict>"
			   "<key>IOClass</key><string>IOUserUserClient</string>"
			   "<key>IOUserClass</key><string>TestUserClient</string>"
			   "<key>IOServiceDEXTEntitlements</key><array><array>"
			   "<string>com.example.capture-app</string></array></array></dict></dict>");
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "TestDriver", 10000);

	/* an app without the entitlement (not even signed) is refused, and told which */
	snprintf(cmd, sizeof(cmd), "%s open %s " ID " 2>&1", build_path("tests/hostile-app"), f.runtime);
	out = run_cmd(&st, cmd);
	ASSERT_CONTAINS(out, "open: UDK_E_NOT_PERMITTED");
	ASSERT_CONTAINS(out, "asks apps for the entitlement com.example.capture-app");
	free(out);

	/* the same program, signed with it (developer mode: any key), is admitted */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cp %s %s/app; printf '%%s' '<plist version=\"1.0\"><dict><key>com.example.capture-app</key>"
		 "<true/></dict></plist>' > %s/app.plist; %s keygen --comment t %s/k >/dev/null; "
		 "%s sign-app --key %s/k.secret --entitlements %s/app.plist %s/app >/dev/null; %s/app open %s " ID
		 " 2>&1",
		 build_path("tests/hostile-app"), f.dir, f.dir, build_path("tools/udk-sign"), f.dir,
		 build_path("tools/udk-sign"), f.dir, f.dir, f.dir, f.dir, f.runtime);
	out = run_cmd(&st, cmd);
	ASSERT_CONTAINS(out, "open: ok");
	free(out);
	fixture_stop(&f);
}
