/* SPDX-License-Identifier: MIT */
/*
 * HID report descriptors as a hostile device or driver gives them to udkd
 * (families/hid/common/descriptor.c): parse; what parses is dumped, its
 * usages listed, and every report it defines is checked and read back
 * from bytes of the input, at the descriptor's length and one byte off.
 */
#include <stdlib.h>
#include <string.h>

#include <udk/families/hid-descriptor.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udk_hid_descriptor *d = NULL;
	struct udk_hid_problem p;
	uint8_t report[UDK_HID_MAX_REPORT + 1];
	uint32_t usages[8];
	char *dump = NULL;

	if (udk_hid_descriptor_parse(data, size, &d, &p) < 0) {
		if (!p.code || p.offset > size)
			abort();
		return 0;
	}
	if (udk_hid_descriptor_dump(d, &dump) < 0 || !dump)
		abort();
	free(dump);
	udk_hid_descriptor_device_usages(d, usages, 8);
	for (int t = 0; t < 3; t++) {
		uint8_t ids[256];
		size_t n = udk_hid_descriptor_report_ids(d, t, ids, 256);
		for (size_t k = 0; k < n && k < 256; k++) {
			size_t len = udk_hid_descriptor_report_length(d, t, ids[k]);
			if (!len || len > UDK_HID_MAX_REPORT)
				abort();
			for (size_t i = 0; i <= len; i++)
				report[i] = size ? data[i % size] : 0;
			if (udk_hid_descriptor_uses_report_ids(d))
				report[0] = ids[k];
			if (udk_hid_report_check(d, t, report, len, NULL) < 0)
				abort();
			if (udk_hid_report_check(d, t, report, len + 1, NULL) == 0 ||
			    udk_hid_report_check(d, t, report, len - 1, NULL) == 0)
				abort();
			for (uint32_t f = 0; f < udk_hid_descriptor_get_field_count(d); f++) {
				const struct udk_hid_field *fl = udk_hid_descriptor_get_field(d, f);
				if ((int)fl->type != t || fl->report_id != ids[k])
					continue;
				for (uint32_t e = 0; e < fl->count && e < 64; e++) {
					int32_t v = udk_hid_field_get_value(fl, report, len, e);
					udk_hid_field_usage(fl, e, v);
					udk_hid_field_set_value(fl, report, len, e, v);
					if (udk_hid_field_get_value(fl, report, len, e) != v)
						abort();
				}
			}
		}
	}
	udk_hid_descriptor_free(d);
	return 0;
}
