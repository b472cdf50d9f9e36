/* SPDX-License-Identifier: MIT */
/*
 * The SCSI family's decoders and the simulated target, without processes:
 * sense data in both formats and every key, the ASC/ASCQ table and its
 * ranges, the explanation of ILLEGAL REQUEST, INQUIRY and VPD, REPORT LUNS,
 * READ CAPACITY, and the simulated disk's command set (the seed's INQUIRY
 * case included).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "scsi-private.h"
#include "target.h"
#include "test.h"

TEST(every_sense_key_has_a_name_and_a_meaning)
{
	static const char *const want[16] = {
		"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR", "ILLEGAL REQUEST",
		"UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
		"RESERVED (0xC)", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
	};
	for (unsigned k = 0; k < 16; k++) {
		ASSERT_STREQ(udk_scsi_sense_key_name((uint8_t)k), want[k]);
		ASSERT_TRUE(strlen(udk_scsi_sense_key_meaning((uint8_t)k)) > 5);
	}
}

TEST(fixed_format_sense_of_the_seed_case)
{
	/* CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE */
	uint8_t sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00, 0, 0, 0, 0 };
	struct udk_scsi_sense s;
	char words[512];

	ASSERT_OK(udk_scsi_sense_decode(sense, sizeof(sense), &s));
	ASSERT_TRUE(s.valid);
	ASSERT_FALSE(s.descriptor_format);
	ASSERT_FALSE(s.deferred);
	ASSERT_EQ(s.sense_key, 5);
	ASSERT_EQ(s.asc, 0x20);
	ASSERT_EQ(s.ascq, 0);
	udk_scsi_sense_describe(sense, sizeof(sense), words, sizeof(words));
	ASSERT_STREQ(words, "sense key ILLEGAL REQUEST (0x5), ASC 0x20 ASCQ 0x00: INVALID COMMAND OPERATION CODE "
			    "(fixed format, current)");
}

TEST(descriptor_format_sense_with_information_and_field_pointer)
{
	uint8_t sense[8 + 12 + 8] = { 0x72, 0x03, 0x11, 0x00, 0, 0, 0, 20 };
	struct udk_scsi_sense s;
	char words[512];

	/* information descriptor: LBA 0x123456789 */
	sense[8] = 0x00;
	sense[9] = 0x0a;
	sense[10] = 0x80;
	scsi_put64(sense + 12, 0x123456789ull);
	/* sense key specific */
	sense[20] = 0x02;
	sense[21] = 0x06;
	sense[24] = 0x80;
	ASSERT_OK(udk_scsi_sense_decode(sense, sizeof(sense), &s));
	ASSERT_TRUE(s.descriptor_format);
	ASSERT_EQ(s.sense_key, 3);
	ASSERT_EQ(s.asc, 0x11);
	ASSERT_TRUE(s.information_valid);
	ASSERT_EQ(s.information, 0x123456789ull);
	ASSERT_TRUE(s.sense_key_specific_valid);
	udk_scsi_sense_describe(sense, sizeof(sense), words, sizeof(words));
	ASSERT_CONTAINS(words, "MEDIUM ERROR (0x3), ASC 0x11 ASCQ 0x00: UNRECOVERED READ ERROR (descriptor format, "
			       "current); information 0x123456789");
}

TEST(deferred_and_vendor_and_bad_response_codes)
{
	uint8_t deferred[18] = { 0x71, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0x00 };
	uint8_t vendor[4] = { 0x7f, 1, 2, 3 };
	uint8_t bad[18] = { 0x42 };
	struct udk_scsi_sense s;
	char words[256];

	ASSERT_OK(udk_scsi_sense_decode(deferred, sizeof(deferred), &s));
	ASSERT_TRUE(s.deferred);
	udk_scsi_sense_describe(deferred, sizeof(deferred), words, sizeof(words));
	ASSERT_CONTAINS(words, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (fixed format, deferred)");
	ASSERT_OK(udk_scsi_sense_decode(vendor, sizeof(vendor), &s));
	ASSERT_FALSE(s.valid);
	ASSERT_ERR(udk_scsi_sense_decode(bad, sizeof(bad), &s), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "response code 0x42 is not a sense data format");
	ASSERT_ERR(udk_scsi_sense_decode(bad, 0, &s), -EINVAL);
	ASSERT_STREQ(udk_scsi_response_code_name(0x72), "descriptor format, current");
	ASSERT_NULL(udk_scsi_response_code_name(0x10));
}

TEST(truncated_sense_is_decoded_as_far_as_it_goes)
{
	uint8_t sense[18] = { 0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x01 };
	struct udk_scsi_sense s;

	for (size_t len = 0; len <= sizeof(sense); len++) {
		int r = udk_scsi_sense_decode(sense, len, &s);
		if (len < 3) {
			ASSERT_ERR(r, -EINVAL);
			continue;
		}
		ASSERT_OK(r);
		ASSERT_EQ(s.sense_key, 2);
		ASSERT_EQ(s.asc, len >= 14 ? 0x04 : 0);
	}
}

TEST(the_asc_table_and_its_ranges)
{
	char buf[200];

	ASSERT_EQ(udk_scsi_asc_describe(0x24, 0x00, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "INVALID FIELD IN CDB");
	ASSERT_EQ(udk_scsi_asc_describe(0x25, 0x00, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "LOGICAL UNIT NOT SUPPORTED");
	ASSERT_EQ(udk_scsi_asc_describe(0x3a, 0x02, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "MEDIUM NOT PRESENT - TRAY OPEN");
	ASSERT_EQ(udk_scsi_asc_describe(0x40, 0x91, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "DIAGNOSTIC FAILURE ON COMPONENT 0x91");
	ASSERT_EQ(udk_scsi_asc_describe(0x4d, 0x07, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "TAGGED OVERLAPPED COMMANDS (TASK TAG 0x07)");
	ASSERT_EQ(udk_scsi_asc_describe(0x5d, 0x32, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "DATA CHANNEL IMPENDING FAILURE DATA ERROR RATE TOO HIGH");
	ASSERT_EQ(udk_scsi_asc_describe(0x21, 0x85, buf, sizeof(buf)), 1);
	ASSERT_STREQ(buf, "LOGICAL BLOCK ADDRESS OUT OF RANGE (vendor specific qualifier 0x85)");
	ASSERT_EQ(udk_scsi_asc_describe(0x90, 0x01, buf, sizeof(buf)), 0);
	ASSERT_CONTAINS(buf, "vendor specific code");
	ASSERT_EQ(udk_scsi_asc_describe(0x7e, 0x7e, buf, sizeof(buf)), 0);
	ASSERT_CONTAINS(buf, "not in SPC's table");
	/* the table is sorted and free of duplicates */
	for (size_t i = 1; i < scsi_asc_table_size; i++) {
		unsigned a = scsi_asc_table[i - 1].asc << 8 | scsi_asc_table[i - 1].ascq;
		unsigned b = scsi_asc_table[i].asc << 8 | scsi_asc_table[i].ascq;
		if (a >= b)
			FAIL("the ASC table is out of order at %02x/%02x", scsi_asc_table[i].asc, scsi_asc_table[i].ascq);
	}
	ASSERT_GE(scsi_asc_table_size, 500);
}

TEST(illegal_request_is_explained_with_its_usual_causes)
{
	uint8_t inq16[16] = { 0x12, 0, 0, 0, 0x24, 0 };
	uint8_t sense[18];
	char buf[2048];

	scsi_build_sense(sense, 5, 0x20, 0, -1, -1, true);
	udk_scsi_explain(inq16, 16, sense, sizeof(sense), buf, sizeof(buf));
	ASSERT_CONTAINS(buf, "INVALID COMMAND OPERATION CODE means the target does not implement opcode 0x12 (INQUIRY)");
	ASSERT_CONTAINS(buf, "this opcode's group makes it a 6-byte CDB, but 16 bytes were sent");
	ASSERT_CONTAINS(buf, "a LUN that does not exist");
	scsi_build_sense(sense, 5, 0x24, 0, 4, -1, true);
	udk_scsi_explain(inq16, 6, sense, sizeof(sense), buf, sizeof(buf));
	ASSERT_CONTAINS(buf, "the target points at byte 4 (value 0x24)");
	ASSERT_CONTAINS(buf, "allocation length");
	scsi_build_sense(sense, 5, 0x25, 0, -1, -1, true);
	udk_scsi_explain(inq16, 6, sense, sizeof(sense), buf, sizeof(buf));
	ASSERT_CONTAINS(buf, "LOGICAL UNIT NOT SUPPORTED: the command went to a LUN the target does not have");
	scsi_build_sense(sense, 6, 0x29, 0, -1, -1, true);
	udk_scsi_explain(inq16, 6, sense, sizeof(sense), buf, sizeof(buf));
	ASSERT_CONTAINS(buf, "UNIT ATTENTION");
}

TEST(opcodes_and_cdbs_in_words)
{
	uint8_t rc16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0 };
	char buf[200];

	ASSERT_STREQ(udk_scsi_opcode_name(0x28), "READ(10)");
	ASSERT_NULL(udk_scsi_opcode_name(0xff));
	ASSERT_EQ(udk_scsi_cdb_length_for_opcode(0x12), 6);
	ASSERT_EQ(udk_scsi_cdb_length_for_opcode(0x28), 10);
	ASSERT_EQ(udk_scsi_cdb_length_for_opcode(0x88), 16);
	ASSERT_EQ(udk_scsi_cdb_length_for_opcode(0xa0), 12);
	udk_scsi_cdb_describe(rc16, 16, buf, sizeof(buf));
	ASSERT_STREQ(buf, "READ CAPACITY(16) (9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00)");
	ASSERT_STREQ(udk_scsi_status_name(2), "CHECK CONDITION");
	ASSERT_STREQ(udk_scsi_service_response_name(2), "TASK_COMPLETE");
}

static struct scsi_sim_disk disk;
static uint8_t *ram;

static void
disk_up(void)
{
	ram = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(ram != MAP_FAILED);
	scsi_sim_disk_init(&disk, 512, 2048, ram, -1, "SN0001", 0x1122334455667788ull);
	disk.ua_pending = false;
}

static void
run(const uint8_t *cdb, size_t len, uint8_t *data, uint64_t n, int dir, struct scsi_sim_result *res)
{
	struct scsi_sim_disk *const disks[1] = { &disk };
	static const uint64_t luns[1] = { 0 };

	scsi_sim_execute(disks, luns, 1, 0, cdb, len, data, n, dir, res);
}

TEST(seed_inquiry_returns_36_bytes_with_vendor_and_product)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 0x24, 0 }, data[512];
	struct scsi_sim_result res;
	struct udk_scsi_inquiry q;

	disk_up();
	memset(data, 0xee, sizeof(data));
	run(cdb, 6, data, sizeof(data), SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.realized, 36);
	ASSERT_EQ(data[36], 0xee); /* nothing past the allocation length */
	ASSERT_OK(udk_scsi_inquiry_decode(data, res.realized, &q));
	ASSERT_STREQ(q.vendor, "UDK");
	ASSERT_STREQ(q.product, "SimDisk");
	ASSERT_STREQ(q.revision, "0100");
	ASSERT_EQ(q.device_type, 0);
	ASSERT_EQ(q.peripheral_qualifier, 0);
}

TEST(unsupported_opcodes_answer_invalid_command_operation_code)
{
	static const uint8_t ops[] = { 0x04, 0x08, 0x0a, 0x15, 0x1b, 0x2f, 0x41, 0x4d, 0x5e, 0x89, 0xa8, 0xc0, 0xff };
	uint8_t cdb[16] = { 0 };
	struct scsi_sim_result res;
	struct udk_scsi_sense s;

	disk_up();
	for (size_t i = 0; i < sizeof(ops); i++) {
		cdb[0] = ops[i];
		run(cdb, 16, NULL, 0, SCSI_SIM_DIR_NONE, &res);
		ASSERT_EQ(res.status, 2);
		ASSERT_OK(udk_scsi_sense_decode(res.sense, res.sense_len, &s));
		ASSERT_EQ(s.sense_key, 5);
		ASSERT_EQ(s.asc, 0x20);
	}
}

TEST(the_sbc_subset_reads_writes_and_reports)
{
	uint8_t cdb[16], data[4096], back[4096];
	struct scsi_sim_result res;
	struct udk_scsi_capacity cap;
	uint64_t luns[4];
	size_t total;

	disk_up();
	/* WRITE(16) 8 blocks at 100, READ(10) them back */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x8a;
	scsi_put64(cdb + 2, 100);
	scsi_put32(cdb + 10, 8);
	run(cdb, 16, data, 4096, SCSI_SIM_DIR_TO_TARGET, &res);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(res.realized, 4096);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x28;
	scsi_put32(cdb + 2, 100);
	scsi_put16(cdb + 7, 8);
	run(cdb, 10, back, 4096, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 0);
	ASSERT_TRUE(memcmp(data, back, 4096) == 0);
	/* out of range: 21/00 */
	scsi_put32(cdb + 2, 2045);
	run(cdb, 10, back, 4096, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 2);
	ASSERT_EQ(res.sense[12], 0x21);
	/* READ CAPACITY (10) and (16) */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x25;
	run(cdb, 10, back, 8, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_OK(udk_scsi_capacity10_decode(back, res.realized, &cap));
	ASSERT_EQ(cap.last_lba, 2047);
	ASSERT_EQ(cap.block_size, 512);
	cdb[0] = 0x9e;
	cdb[1] = 0x10;
	scsi_put32(cdb + 10, 32);
	run(cdb, 16, back, 32, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_OK(udk_scsi_capacity16_decode(back, res.realized, &cap));
	ASSERT_EQ(cap.last_lba, 2047);
	ASSERT_TRUE(cap.thin_provisioned);
	/* REPORT LUNS */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa0;
	scsi_put32(cdb + 6, 256);
	run(cdb, 12, back, 256, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(udk_scsi_report_luns_decode(back, res.realized, luns, 4, &total), 1);
	ASSERT_EQ(total, 1);
	ASSERT_EQ(luns[0], 0);
	/* UNMAP blocks 100..103, they read back as zeros */
	{
		uint8_t param[24] = { 0 };
		scsi_put16(param, 22);
		scsi_put16(param + 2, 16);
		scsi_put64(param + 8, 100);
		scsi_put32(param + 16, 4);
		memset(cdb, 0, sizeof(cdb));
		cdb[0] = 0x42;
		scsi_put16(cdb + 7, 24);
		run(cdb, 10, param, 24, SCSI_SIM_DIR_TO_TARGET, &res);
		ASSERT_EQ(res.status, 0);
		ASSERT_EQ(ram[100 * 512], 0);
		ASSERT_EQ(ram[104 * 512], data[2048]);
	}
	/* MODE SENSE(6), caching page: write cache enabled */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x1a;
	cdb[2] = 0x08;
	cdb[4] = 0xff;
	run(cdb, 6, back, 255, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(back[4 + 8], 0x08);
	ASSERT_EQ(back[4 + 8 + 2] & 0x04, 0x04);
	/* SYNCHRONIZE CACHE */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x35;
	run(cdb, 10, NULL, 0, SCSI_SIM_DIR_NONE, &res);
	ASSERT_EQ(res.status, 0);
}

TEST(vpd_pages_and_unit_attention)
{
	uint8_t cdb[6] = { 0x12, 1, 0x00, 0, 255, 0 }, data[256];
	struct scsi_sim_result res;
	uint8_t pages[8];
	size_t n = 0;
	char text[128];

	disk_up();
	run(cdb, 6, data, 255, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_OK(udk_scsi_vpd_supported_decode(data, res.realized, pages, 8, &n));
	ASSERT_EQ(n, 3);
	ASSERT_EQ(pages[1], 0x80);
	ASSERT_EQ(pages[2], 0x83);
	cdb[2] = 0x80;
	run(cdb, 6, data, 255, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_OK(udk_scsi_vpd_serial_decode(data, res.realized, text, sizeof(text)));
	ASSERT_STREQ(text, "SN0001");
	cdb[2] = 0x83;
	run(cdb, 6, data, 255, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_OK(udk_scsi_vpd_designator_decode(data, res.realized, text, sizeof(text)));
	ASSERT_STREQ(text, "naa.6a1b2c30000000001122334455667788");
	cdb[2] = 0xb0; /* not implemented: INVALID FIELD IN CDB, byte 2 */
	run(cdb, 6, data, 255, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 2);
	ASSERT_EQ(res.sense[12], 0x24);
	ASSERT_EQ(res.sense[15], 0xc0);
	ASSERT_EQ(res.sense[17], 2);
	/* after a reset: one UNIT ATTENTION, INQUIRY still answers */
	scsi_sim_disk_reset(&disk, 0x02);
	{
		uint8_t tur[6] = { 0 }, inq[6] = { 0x12, 0, 0, 0, 36, 0 };
		run(inq, 6, data, 36, SCSI_SIM_DIR_FROM_TARGET, &res);
		ASSERT_EQ(res.status, 0);
		run(tur, 6, NULL, 0, SCSI_SIM_DIR_NONE, &res);
		ASSERT_EQ(res.status, 2);
		ASSERT_EQ(res.sense[2], 6);
		ASSERT_EQ(res.sense[12], 0x29);
		ASSERT_EQ(res.sense[13], 0x02);
		run(tur, 6, NULL, 0, SCSI_SIM_DIR_NONE, &res);
		ASSERT_EQ(res.status, 0);
	}
}

TEST(a_lun_that_does_not_exist)
{
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 }, tur[6] = { 0 }, data[64];
	struct scsi_sim_disk *const disks[1] = { &disk };
	static const uint64_t luns[1] = { 0 };
	struct scsi_sim_result res;

	disk_up();
	scsi_sim_execute(disks, luns, 1, 3, inq, 6, data, 36, SCSI_SIM_DIR_FROM_TARGET, &res);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(data[0], 0x7f); /* peripheral qualifier 3, no device type */
	scsi_sim_execute(disks, luns, 1, 3, tur, 6, NULL, 0, SCSI_SIM_DIR_NONE, &res);
	ASSERT_EQ(res.status, 2);
	ASSERT_EQ(res.sense[12], 0x25);
}

TEST(report_luns_and_inquiry_decoders_refuse_short_data)
{
	uint8_t b[64] = { 0 };
	struct udk_scsi_inquiry q;
	uint64_t luns[8];
	size_t total = 0;

	ASSERT_ERR(udk_scsi_inquiry_decode(b, 4, &q), -EINVAL);
	b[4] = 20; /* additional length says 25 bytes */
	ASSERT_ERR(udk_scsi_inquiry_decode(b, 64, &q), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "ask with allocation length 0x24");
	ASSERT_ERR(udk_scsi_report_luns_decode(b, 7, luns, 8, &total), -EINVAL);
	/* a list length beyond what arrived: only what arrived is read */
	memset(b, 0, sizeof(b));
	scsi_put32(b, 800);
	b[8 + 1] = 1;
	b[16] = 0x40;
	b[17] = 0x12;
	ASSERT_EQ(udk_scsi_report_luns_decode(b, 24, luns, 8, &total), 2);
	ASSERT_EQ(total, 100);
	ASSERT_EQ(luns[0], 1);
	ASSERT_EQ(luns[1], 0x12);
	udk_scsi_lun_encode(300, b);
	ASSERT_EQ(b[0], 0x41);
	ASSERT_EQ(b[1], 300 & 0xff);
}
