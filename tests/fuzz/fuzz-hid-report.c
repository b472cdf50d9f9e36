/* SPDX-License-Identifier: MIT */
/*
 * Input reports as a device sends them, against real descriptors: the
 * first byte picks the descriptor (a boot keyboard, a mouse with a
 * consumer control and report IDs, a gamepad), the rest is a run of
 * reports of lengths taken from the input.  Each is checked
 * (udk_hid_report_check: what udkd drops) and, when it passes, decoded
 * into events as event services and the uinput export do.
 */
#include <stdlib.h>
#include <string.h>

#include "hid-decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mouse_consumer[] = {
	0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x85, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01,
	0x29, 0x03, 0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05,
	0x81, 0x01, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7f, 0x75, 0x08,
	0x95, 0x03, 0x81, 0x06, 0xc0, 0xc0, 0x05, 0x0c, 0x09, 0x01, 0xa1, 0x01, 0x85, 0x02, 0x19, 0x00,
	0x2a, 0x3c, 0x02, 0x15, 0x00, 0x26, 0x3c, 0x02, 0x95, 0x01, 0x75, 0x10, 0x81, 0x00, 0xc0,
};
/* 16 buttons, four 8-bit absolute axes */
static const uint8_t gamepad[] = {
	0x05, 0x01, 0x09, 0x05, 0xa1, 0x01, 0x05, 0x09, 0x19, 0x01, 0x29, 0x10, 0x15, 0x00, 0x25, 0x01,
	0x75, 0x01, 0x95, 0x10, 0x81, 0x02, 0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x32, 0x09, 0x35,
	0x15, 0x81, 0x25, 0x7f, 0x75, 0x08, 0x95, 0x04, 0x81, 0x02, 0xc0,
};

static void
emit(void *ctx, const struct udk_hid_event *ev)
{
	(*(unsigned *)ctx) += ev->type;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct udk_hid_descriptor *desc[3];
	static struct hid_decoder *dec[3];
	unsigned which, n = 0;
	size_t at = 1;

	if (!desc[0]) {
		size_t len;
		const uint8_t *k = udk_hid_boot_keyboard_descriptor(&len);
		if (udk_hid_descriptor_parse(k, len, &desc[0], NULL) < 0 ||
		    udk_hid_descriptor_parse(mouse_consumer, sizeof(mouse_consumer), &desc[1], NULL) < 0 ||
		    udk_hid_descriptor_parse(gamepad, sizeof(gamepad), &desc[2], NULL) < 0)
			abort();
		for (int i = 0; i < 3; i++)
			if (hid_decoder_new(desc[i], (uint64_t)i, &dec[i]) < 0)
				abort();
	}
	if (size < 1)
		return 0;
	which = data[0] % 3;
	while (at < size) {
		size_t len = data[at++] % 16, left = size - at;
		uint8_t report[16];
		if (len > left)
			len = left;
		memcpy(report, data + at, len);
		at += len;
		if (udk_hid_report_check(desc[which], UDK_HID_REPORT_INPUT, report, len, NULL) == 0)
			hid_decoder_report(dec[which], at, report, len, emit, &n);
	}
	hid_decoder_release_all(dec[which], 0, emit, &n);
	return 0;
}
