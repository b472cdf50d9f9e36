/* SPDX-License-Identifier: MIT */
/*
 * Sense data as a target (or a peer process) sends it: the decoder, the
 * words and the explanation.  The first byte of the input picks the CDB
 * the explanation is about (its opcode and length).
 */
#include "scsi-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_scsi_sense s;
	uint8_t cdb[16] = { 0 };
	char buf[2048];

	if (size < 1)
		return 0;
	cdb[0] = data[0];
	udk_scsi_sense_decode(data + 1, size - 1, &s);
	udk_scsi_sense_describe(data + 1, size - 1, buf, sizeof(buf));
	udk_scsi_explain(cdb, 1 + data[0] % 16, data + 1, size - 1, buf, sizeof(buf));
	if (size >= 3)
		udk_scsi_asc_describe(data[1], data[2], buf, sizeof(buf));
	return 0;
}
