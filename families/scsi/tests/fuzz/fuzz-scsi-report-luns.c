/* SPDX-License-Identifier: MIT */
/* REPORT LUNS parameter data as a target sends it. */
#include "scsi-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t luns[64];
	size_t total = 0;
	int n = udk_scsi_report_luns_decode(data, size, luns, 64, &total);

	if (n > 64)
		__builtin_trap();
	for (int i = 0; i < n; i++) {
		uint8_t enc[8];
		if (!(luns[i] >> 63))
			udk_scsi_lun_encode(luns[i], enc);
	}
	return 0;
}
