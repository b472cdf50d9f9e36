/* SPDX-License-Identifier: MIT */
/*
 * The HID channel (families/hid/proto-hid.h) as either end receives it: a
 * datagram from a hostile driver walked the way udkd walks it, and one
 * "from udkd" walked the way libudk-hid does; every record that passes is
 * then used as the receiver would: reports and Linux input frames decoded
 * into events, payloads copied.  The first byte picks the direction.
 */
#include <stdlib.h>
#include <string.h>

#include "hid-decode.h"
#include "proto-hid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hid_decoder *kbd_dec, *ev_dec;
static struct udk_hid_descriptor *kbd;

static void
emit(void *ctx, const struct udk_hid_event *ev)
{
	(*(unsigned *)ctx) += ev->type;
}

static int
on_record(void *ctx, const struct proto_hid_rec *rec, const uint8_t *payload)
{
	unsigned *n = ctx;
	uint8_t copy[PROTO_HID_MAX_PAYLOAD];

	if (rec->len > sizeof(copy))
		abort();
	memcpy(copy, payload, rec->len);
	switch (rec->type) {
	case PROTO_HID_REC_REPORT:
	case PROTO_HID_REC_INPUT:
		if (udk_hid_report_check(kbd, UDK_HID_REPORT_INPUT, copy, rec->len, NULL) == 0)
			hid_decoder_report(kbd_dec, rec->time_ns, copy, rec->len, emit, n);
		break;
	case PROTO_HID_REC_EVENTS:
		hid_decoder_evdev(ev_dec, rec->time_ns, (const struct proto_hid_evdev *)copy,
				  rec->len / sizeof(struct proto_hid_evdev), emit, n);
		break;
	default:
		break;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned n = 0;
	/* the walker reads records at 8-byte offsets: give it an aligned copy, as recv() would */
	uint8_t *buf;

	if (!kbd) {
		size_t len;
		const uint8_t *d = udk_hid_boot_keyboard_descriptor(&len);
		if (udk_hid_descriptor_parse(d, len, &kbd, NULL) < 0 || hid_decoder_new(kbd, 1, &kbd_dec) < 0 ||
		    hid_decoder_new(NULL, 2, &ev_dec) < 0)
			abort();
	}
	if (size < 1 || size > PROTO_HID_MAX_DATAGRAM + 1)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	proto_hid_walk(buf, size - 1, data[0] & 1, on_record, &n);
	free(buf);
	/* what is down goes up, as when a device goes away */
	hid_decoder_release_all(kbd_dec, 0, emit, &n);
	hid_decoder_release_all(ev_dec, 0, emit, &n);
	return 0;
}
