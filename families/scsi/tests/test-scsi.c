/* SPDX-License-Identifier: MIT */
/*
 * The SCSI family on simulated hardware: the sim-hba device model, the
 * SimHBA controller driver, the family's scan and nubs, the testscsi
 * peripheral driver sending CDBs (the seed's INQUIRY case), refusals,
 * deadlines with abort and reset, 32 tasks in flight, `udkctl scsi`.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/client.h>
#include <udk/families/scsi.h>

#include "fixture.h"
#include "test.h"
#include "testscsi.h"

#define HBA_ID "org.udk.test.simhba"
#define PERIPH_ID "org.udk.test.scsiperiph"

#define SCSI_ENTITLEMENTS                                                                                      \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict></array>\n"                            \
	"<key>com.apple.developer.driverkit.family.scsicontroller</key><true/>\n"                             \
	"<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"                                    \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define PERIPH_ENTITLEMENTS                                                                                    \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.scsi</key><array><dict>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer></dict></array>\n"                              \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define HBA_PERSONALITY                                                                                        \
	"<key>SimHBA</key><dict>"                                                                              \
	"<key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"                             \
	"<key>IOUserClass</key><string>SimHBA</string>"                                                        \
	"<key>IOUserServerName</key><string>" HBA_ID "</string>"                                              \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                              \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict>"

#define PERIPH_PERSONALITY                                                                                     \
	"<key>Disk</key><dict>"                                                                                \
	"<key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"                                  \
	"<key>IOUserClass</key><string>TestSCSIPeripheral</string>"                                            \
	"<key>IOUserServerName</key><string>" PERIPH_ID "</string>"                                           \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer>"                                               \
	"<key>Vendor Identification</key><string>UDK</string>"                                                \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestSCSIUserClient</string></dict>" \
	"</dict>"

struct env {
	struct fixture f;
	uint64_t periph;
	struct udk_connection *conn;
};

static void
env_up(struct env *e, const char *props, bool with_periph)
{
	char dev[1024];

	memset(e, 0, sizeof(*e));
	snprintf(dev, sizeof(dev),
		 TEST_DEVICE("hba0", "sim-hba", "<key>Location</key><string>00:06.0</string>"
						 "<key>Properties</key><dict>%s</dict>"),
		 props ? props : "");
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", dev);
	fixture_add_bundle_exe(&e->f, "SimHBA.dext", HBA_ID, "drivers/simhba-driver", HBA_PERSONALITY);
	fixture_bundle_file(&e->f, "SimHBA.dext", "Entitlements.plist", SCSI_ENTITLEMENTS);
	if (with_periph) {
		fixture_add_bundle_exe(&e->f, "Periph.dext", PERIPH_ID, "tests/testscsi", PERIPH_PERSONALITY);
		fixture_bundle_file(&e->f, "Periph.dext", "Entitlements.plist", PERIPH_ENTITLEMENTS);
	}
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	if (with_periph) {
		e->periph = fixture_wait_class(&e->f, "TestSCSIPeripheral", 15000);
		ASSERT_OK(udk_client_open(e->f.client, e->periph, 0, &e->conn));
	} else {
		fixture_wait_class(&e->f, "IOSCSIPeripheralDeviceNub", 15000);
	}
}

static void
env_down(struct env *e)
{
	udk_connection_unref(e->conn);
	fixture_stop(&e->f);
}

static int
send(struct env *e, const uint8_t *cdb, uint32_t cdb_len, uint32_t dir, uint64_t requested, uint64_t bufsize,
     uint32_t timeout_ms, struct testscsi_result *res)
{
	static struct testscsi_cdb in;
	size_t n = sizeof(*res);

	memset(&in, 0, sizeof(in));
	memcpy(in.cdb, cdb, cdb_len > 16 ? 16 : cdb_len);
	in.cdb_length = cdb_len;
	in.direction = dir;
	in.requested = requested;
	in.buffer_size = bufsize;
	in.timeout_ms = timeout_ms;
	int r = udk_connection_call(e->conn, TESTSCSI_SEND, NULL, 0, &in, sizeof(in), NULL, NULL, res, &n);

	if (r == -UDK_E_DRIVER_DIED && getenv("UDK_TEST_VERBOSE")) {
		sleep(1);
		char *log = fixture_log(&e->f);
		test_log("udkd's log:\n%s", log);
		free(log);
	}
	return r;
}

TEST_FULL(the_scan_publishes_a_nub_per_lun_that_peripherals_match, 120)
{
	struct env e;
	char *out;

	env_up(&e, "<key>Disks</key><integer>2</integer><key>LUNs</key><integer>2</integer>"
		   "<key>Serial</key><string>SCAN</string>",
	       true);
	ASSERT_TRUE(fixture_wait_output(&e.f, "tree", "Target1-LUN1", 10000));
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_CONTAINS(out, "+-o SimHBA  <SimHBA:IOUserSCSIParallelInterfaceController");
	ASSERT_CONTAINS(out, "+-o Target0-LUN0  <IOSCSIPeripheralDeviceNub:IOService");
	ASSERT_CONTAINS(out, "+-o Target0-LUN1  <IOSCSIPeripheralDeviceNub:IOService");
	ASSERT_CONTAINS(out, "+-o Target1-LUN0  <IOSCSIPeripheralDeviceNub:IOService");
	ASSERT_CONTAINS(out, "TestSCSIPeripheral  <TestSCSIPeripheral:IOUserSCSIPeripheralDeviceType00");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "props /PCI0/hba0/SimHBA/Target1-LUN1");
	ASSERT_CONTAINS(out, "\"Peripheral Device Type\" = 0");
	ASSERT_CONTAINS(out, "\"Vendor Identification\" = \"UDK\"");
	ASSERT_CONTAINS(out, "\"Product Identification\" = \"SimDisk\"");
	ASSERT_CONTAINS(out, "\"Product Revision Level\" = \"0100\"");
	ASSERT_CONTAINS(out, "\"SCSI Unit Serial Number\" = \"SCAN-1-1\"");
	ASSERT_CONTAINS(out, "\"SCSI Logical Unit Number\" = 1");
	ASSERT_CONTAINS(out, "\"SCSI Device Identifier\" = \"naa.6a1b2c30");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "explain " PERIPH_ID " /PCI0/hba0/SimHBA/Target0-LUN1");
	ASSERT_CONTAINS(out, "Peripheral Device Type: 0");
	ASSERT_CONTAINS(out, "Vendor Identification: \"UDK\" starts with \"UDK\"");
	ASSERT_CONTAINS(out, "transport.scsi");
	free(out);
	env_down(&e);
}

TEST_FULL(seed_inquiry_with_user_send_cdb, 120)
{
	static const uint8_t inquiry[6] = { 0x12, 0x00, 0x00, 0x00, 0x24, 0x00 };
	static const uint8_t start_stop[6] = { 0x1b, 0x00, 0x00, 0x00, 0x01, 0x00 };
	struct testscsi_result res;
	struct env e;

	env_up(&e, NULL, true);
	/* the seed: INQUIRY 12 00 00 00 24 00 with a 512-byte buffer */
	ASSERT_OK(send(&e, inquiry, 6, UDK_SCSI_DATA_FROM_TARGET, 512, 512, 0, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.service_response, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.realized, 36);
	ASSERT_EQ(res.data[0], 0x00); /* connected, direct access block device */
	ASSERT_TRUE(memcmp(res.data + 8, "UDK     ", 8) == 0);
	ASSERT_TRUE(memcmp(res.data + 16, "SimDisk         ", 16) == 0);
	ASSERT_TRUE(memcmp(res.data + 32, "0100", 4) == 0);
	/* an opcode the target rejects: CHECK CONDITION, ILLEGAL REQUEST, 20/00, in words */
	ASSERT_OK(send(&e, start_stop, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.service_response, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE);
	ASSERT_EQ(res.status, UDK_SCSI_STATUS_CHECK_CONDITION);
	ASSERT_GE(res.sense_length, 14);
	ASSERT_EQ(res.sense[2] & 0xf, 5);
	ASSERT_EQ(res.sense[12], 0x20);
	ASSERT_STREQ(res.sense_words, "sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND OPERATION "
				      "CODE (fixed format, current)");
	ASSERT_CONTAINS(res.explanation, "does not implement opcode 0x1b (START STOP UNIT)");
	env_down(&e);
}

TEST_FULL(refusals_before_the_controller_sees_the_task, 120)
{
	static const uint8_t read10[16] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	struct testscsi_result res;
	struct env e;
	char *out, *log;
	int status;

	env_up(&e, NULL, true);
	/* a 17-byte CDB */
	ASSERT_OK(send(&e, read10, 17, UDK_SCSI_DATA_FROM_TARGET, 2048, 2048, 0, &res));
	ASSERT_EQ(res.result, -EMSGSIZE);
	ASSERT_CONTAINS(res.reason, "a CDB is 1..16 bytes; this one is 17 (refused before the controller saw it)");
	/* a buffer shorter than the requested count */
	ASSERT_OK(send(&e, read10, 10, UDK_SCSI_DATA_FROM_TARGET, 2048, 512, 0, &res));
	ASSERT_EQ(res.result, -UDK_E_BAD_ADDRESS);
	ASSERT_CONTAINS(res.reason, "fewer than the 2048 requested (refused before the controller saw it)");
	/* a LUN that does not exist, through udkctl on the controller */
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA --lun 5 -r 36 12 00 00 00 24 00");
	ASSERT_EQ(status, 3);
	ASSERT_CONTAINS(out, "UDK_E_NO_SUCH_SERVICE: LUN 5 of target 0 does not exist on this controller (the scan "
			     "found LUNs 0); refused before the controller saw it");
	free(out);
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA 28 00 00 00 00 00 00 00 08 00 00 00 00 00 00 00 00");
	ASSERT_EQ(status, 2);
	ASSERT_CONTAINS(out, "EMSGSIZE: the CDB has 17 bytes");
	free(out);
	/* the HBA never saw any of them: the model counted only the scan's commands, and no refused CDB
	 * reached the driver's log of commands */
	log = fixture_log(&e.f);
	ASSERT_TRUE(!strstr(log, "lun 5"));
	free(log);
	env_down(&e);
}

TEST_FULL(the_app_buffer_as_a_memory_descriptor, 120)
{
	static struct testscsi_cdb in;
	struct testscsi_result res;
	uint8_t *buf = calloc(1, 8192);
	size_t n = sizeof(res);
	struct env e;

	env_up(&e, NULL, true);
	/* write 8 blocks from the driver's buffer, read them into the app's memory */
	memset(&in, 0, sizeof(in));
	in.cdb[0] = 0x2a;
	in.cdb[5] = 16;
	in.cdb[8] = 4;
	in.cdb_length = 10;
	in.direction = UDK_SCSI_DATA_TO_TARGET;
	in.requested = 2048;
	in.buffer_size = 2048;
	for (int i = 0; i < 2048; i++)
		in.data[i] = (uint8_t)(i ^ 0x5a);
	ASSERT_OK(udk_connection_call(e.conn, TESTSCSI_SEND, NULL, 0, &in, sizeof(in), NULL, NULL, &res, &n));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.status, 0);
	memset(&in, 0, sizeof(in));
	in.cdb[0] = 0x28;
	in.cdb[5] = 16;
	in.cdb[8] = 4;
	in.cdb_length = 10;
	in.direction = UDK_SCSI_DATA_FROM_TARGET;
	in.requested = 2048;
	in.buffer_size = 8192;
	in.app_address = (uintptr_t)buf;
	n = sizeof(res);
	{
		/* the app's buffer goes by address: exposed to the driver for this call */
		struct udk_memory_range range = { buf, 8192, UDK_MEMORY_DIRECTION_INOUT };
		struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &in, .struct_input_size = sizeof(in),
					   .struct_output = &res, .struct_output_size = n, .ranges = &range, .n_ranges = 1 };
		ASSERT_OK(udk_connection_call_args(e.conn, TESTSCSI_SEND, &a));
	}
	ASSERT_OK(res.result);
	ASSERT_EQ(res.realized, 2048);
	for (int i = 0; i < 2048; i++)
		if (buf[i] != (uint8_t)(i ^ 0x5a))
			FAIL("byte %d of the app's buffer is 0x%02x", i, buf[i]);
	free(buf);
	env_down(&e);
}

TEST_FULL(a_hung_target_misses_its_deadline_and_the_task_is_aborted, 120)
{
	static const uint8_t sync10[10] = { 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t tur[6] = { 0 };
	struct testscsi_result res;
	struct env e;

	env_up(&e, "<key>HangOpcodes</key><array><integer>53</integer></array>", true);
	ASSERT_OK(send(&e, sync10, 10, UDK_SCSI_DATA_NONE, 0, 0, 400, &res));
	ASSERT_EQ(res.result, -UDK_E_DEADLINE);
	ASSERT_EQ(res.error, -UDK_E_DEADLINE);
	ASSERT_EQ(res.service_response, UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE);
	ASSERT_CONTAINS(res.reason, "target 0 LUN 0 did not complete SYNCHRONIZE CACHE(10) (35 00 00 00 00 00 00 00 00 "
				    "00) within 400 ms; the task was aborted");
	/* the LUN goes on working */
	ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res));
	ASSERT_OK(res.result);
	ASSERT_EQ(res.status, 0);
	env_down(&e);
}

TEST_FULL(an_abort_that_fails_ends_in_a_reset_and_unit_attention, 120)
{
	static const uint8_t sync10[10] = { 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t tur[6] = { 0 };
	struct testscsi_result res;
	struct env e;

	env_up(&e, "<key>HangOpcodes</key><array><integer>53</integer></array><key>AbortFails</key><true/>", true);
	ASSERT_OK(send(&e, sync10, 10, UDK_SCSI_DATA_NONE, 0, 0, 300, &res));
	ASSERT_EQ(res.result, -UDK_E_DEADLINE);
	ASSERT_CONTAINS(res.reason, "did not complete SYNCHRONIZE CACHE(10)");
	ASSERT_CONTAINS(res.reason, "the abort failed, so the controller did a LUN reset");
	/* the target reports the reset once */
	ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res));
	ASSERT_EQ(res.status, UDK_SCSI_STATUS_CHECK_CONDITION);
	ASSERT_CONTAINS(res.sense_words, "UNIT ATTENTION (0x6), ASC 0x29 ASCQ 0x03");
	ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res));
	ASSERT_EQ(res.status, 0);
	ASSERT_TRUE(fixture_wait_log(&e.f, "SCSI LUN reset of target 0 LUN 0 after SYNCHRONIZE CACHE(10)", 5000));
	ASSERT_TRUE(fixture_wait_log(&e.f, "target 0 reset", 5000));
	env_down(&e);
}

TEST_FULL(thirty_two_tasks_in_flight_the_rest_wait, 120)
{
	static struct testscsi_cdb in;
	uint64_t out[4];
	uint32_t n = 4;
	struct env e;

	env_up(&e, "<key>HangOpcodes</key><array><integer>53</integer></array>", true);
	memset(&in, 0, sizeof(in));
	in.cdb[0] = 0x35;
	in.cdb_length = 10;
	in.timeout_ms = 1500;
	/* 40 tasks that never complete: the first 32 take every slot with a 1.5 s deadline; the other 8
	 * have a 300 ms deadline, which passes while they wait (the first slot frees at 1.5 s), so each
	 * ends "never started" and exactly the 32 reach the HBA and are aborted at their deadline. */
	uint64_t args[3] = { 40, 32, 300 };
	ASSERT_OK(udk_connection_call(e.conn, TESTSCSI_FLOOD, args, 3, &in, sizeof(in), out, &n, NULL, NULL));
	ASSERT_EQ(n, 4);
	ASSERT_EQ(out[0], 0);
	ASSERT_EQ(out[1], 32);
	ASSERT_EQ(out[2], 8);
	ASSERT_EQ(out[3], 0);
	/* and 100 that complete: all good */
	in.cdb[0] = 0x00;
	in.cdb_length = 6;
	in.timeout_ms = 10000;
	uint64_t args2[3] = { 100, 0, 0 };
	n = 4;
	ASSERT_OK(udk_connection_call(e.conn, TESTSCSI_FLOOD, args2, 3, &in, sizeof(in), out, &n, NULL, NULL));
	ASSERT_EQ(out[0], 100);
	env_down(&e);
}

TEST_FULL(udkctl_scsi_sends_raw_cdbs_and_explains_illegal_request, 120)
{
	struct env e;
	char *out;
	int status;

	env_up(&e, "<key>Serial</key><string>RAW0001</string>", false);
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA/Target0-LUN0 --decode -r 36 12 00 00 00 24 00");
	ASSERT_EQ(status, 0);
	ASSERT_CONTAINS(out, "INQUIRY (12 00 00 00 24 00)");
	ASSERT_CONTAINS(out, "SCSI status: GOOD (0x00)");
	ASSERT_CONTAINS(out, "Received 36 bytes of data:");
	ASSERT_CONTAINS(out, "Vendor identification: UDK");
	ASSERT_CONTAINS(out, "Product identification: SimDisk");
	free(out);
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA/Target0-LUN0 --decode -r 255 12 01 80 00 ff 00");
	ASSERT_EQ(status, 0);
	ASSERT_CONTAINS(out, "Unit serial number: RAW0001");
	free(out);
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA/Target0-LUN0 --decode -r 32 9e10000000000000000000000020 0000");
	ASSERT_EQ(status, 0);
	ASSERT_CONTAINS(out, "Last LBA: 131071");
	ASSERT_CONTAINS(out, "Block size: 512");
	free(out);
	/* an opcode the disk does not implement, sent as a 16-byte CDB */
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA/Target0-LUN0 a5 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
	ASSERT_EQ(status, 1);
	ASSERT_CONTAINS(out, "SCSI status: CHECK CONDITION (0x02)");
	ASSERT_CONTAINS(out, "Sense: sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND OPERATION CODE");
	ASSERT_CONTAINS(out, "this opcode's group makes it a 12-byte CDB, but 16 bytes were sent");
	ASSERT_CONTAINS(out, "a LUN that does not exist");
	free(out);
	/* INQUIRY with a page code but no EVPD: INVALID FIELD IN CDB, byte 2 */
	out = fixture_udkctl(&e.f, &status, "scsi /PCI0/hba0/SimHBA/Target0-LUN0 -r 36 12 00 80 00 24 00");
	ASSERT_EQ(status, 1);
	ASSERT_CONTAINS(out, "INVALID FIELD IN CDB");
	ASSERT_CONTAINS(out, "the target points at byte 2 (value 0x80)");
	free(out);
	/* the usage names the family's command */
	out = fixture_udkctl(&e.f, &status, "--help");
	ASSERT_CONTAINS(out, "Commands families add");
	ASSERT_CONTAINS(out, "  scsi  (");
	free(out);
	env_down(&e);
}

static bool
periph_gone(void *data)
{
	struct env *e = data;
	char *out = fixture_udkctl(&e->f, NULL, "tree");
	bool gone = !strstr(out, "TestSCSIPeripheral");

	free(out);
	return gone;
}

TEST_FULL(unplugging_the_hba_stops_the_peripheral_and_plugging_brings_it_back, 120)
{
	static const uint8_t tur[6] = { 0 };
	struct testscsi_result res;
	struct env e;
	char *out;

	env_up(&e, NULL, true);
	out = fixture_udkctl(&e.f, NULL, "sim unplug hba0");
	free(out);
	ASSERT_TRUE(fixture_poll(10000, periph_gone, &e));
	{
		/* the peripheral's driver is stopping or gone: the call fails with a named error either way */
		int r = send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res);
		if (r == 0) {
			ASSERT_TRUE(res.result == -UDK_E_HARDWARE_GONE || res.result == -UDK_E_TERMINATED);
			test_log("a call while the driver stops: %s: %s", udk_error_name(res.result), res.reason);
		} else {
			/* udkd told the app the hardware went before it stopped the driver */
			ASSERT_ERR(r, -UDK_E_HARDWARE_GONE);
		}
	}
	udk_connection_unref(e.conn);
	e.conn = NULL;
	out = fixture_udkctl(&e.f, NULL, "sim plug hba0");
	free(out);
	e.periph = fixture_wait_class(&e.f, "TestSCSIPeripheral", 15000);
	ASSERT_OK(udk_client_open(e.f.client, e.periph, 0, &e.conn));
	ASSERT_OK(send(&e, tur, 6, UDK_SCSI_DATA_NONE, 0, 0, 0, &res));
	ASSERT_OK(res.result);
	env_down(&e);
}

TEST_FULL(a_peripheral_without_the_entitlement_does_not_match, 120)
{
	struct env e;
	char *out;

	fixture_init(&e.f);
	fixture_set_machine_devices(&e.f, "", TEST_DEVICE("hba0", "sim-hba", ""));
	fixture_add_bundle_exe(&e.f, "SimHBA.dext", HBA_ID, "drivers/simhba-driver", HBA_PERSONALITY);
	fixture_bundle_file(&e.f, "SimHBA.dext", "Entitlements.plist", SCSI_ENTITLEMENTS);
	/* the fixture's default entitlements: no transport.scsi */
	fixture_add_bundle_exe(&e.f, "Periph.dext", PERIPH_ID, "tests/testscsi", PERIPH_PERSONALITY);
	fixture_start(&e.f, NULL);
	fixture_wait_class(&e.f, "IOSCSIPeripheralDeviceNub", 15000);
	out = fixture_udkctl(&e.f, NULL, "explain " PERIPH_ID " /PCI0/hba0/SimHBA/Target0-LUN0");
	ASSERT_CONTAINS(out, "transport.scsi");
	ASSERT_CONTAINS(out, "does not match");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_TRUE(!strstr(out, "TestSCSIPeripheral"));
	free(out);
	e.conn = NULL;
	env_down(&e);
}
