/* SPDX-License-Identifier: MIT */
/*
 * INQUIRY data as a target sends it: standard data, VPD pages 0x00, 0x80
 * and 0x83, and READ CAPACITY (10) and (16).
 */
#include "scsi-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_scsi_inquiry q;
	struct udk_scsi_capacity c;
	uint8_t pages[16];
	size_t n;
	char buf[256];

	udk_scsi_inquiry_decode(data, size, &q);
	udk_scsi_vpd_supported_decode(data, size, pages, sizeof(pages), &n);
	udk_scsi_vpd_serial_decode(data, size, buf, sizeof(buf));
	udk_scsi_vpd_designator_decode(data, size, buf, sizeof(buf));
	udk_scsi_capacity10_decode(data, size, &c);
	udk_scsi_capacity16_decode(data, size, &c);
	udk_scsi_cdb_describe(data, size > 32 ? 32 : size, buf, sizeof(buf));
	return 0;
}
