/* SPDX-License-Identifier: MIT */
/*
 * usb-kbd - a simulated USB keyboard (1209:0003) in boot protocol that
 * types its property "Text" (lower-case letters and spaces; default
 * "udk"): a report with the key down, then one with every key up, for
 * each character, on interrupt IN 0x81.  Then it has nothing to say (the
 * transfers wait).  SET_IDLE and SET_PROTOCOL are accepted; GET_DESCRIPTOR
 * of the report descriptor gives the boot keyboard's.
 */
#include <stdio.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

static const uint8_t report_desc[] = {
	0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25, 0x01,
	0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x06, 0x75, 0x08,
	0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00, 0xc0,
};

static const uint8_t descriptors[] = {
	18, UDK_USB_DT_DEVICE, 0x00, 0x02, 0, 0, 0, 8, 0x09, 0x12, 0x03, 0x00, 0x00, 0x01, 1, 2, 0, 1,
	9, UDK_USB_DT_CONFIGURATION, 34, 0, 1, 1, 0, 0xa0, 50,
	9, UDK_USB_DT_INTERFACE, 0, 0, 1, 0x03, 0x01, 0x01, 0,
	9, UDK_USB_DT_HID, 0x11, 0x01, 0, 1, 0x22, sizeof(report_desc), 0,
	7, UDK_USB_DT_ENDPOINT, 0x81, UDK_USB_TRANSFER_INTERRUPT, 8, 0, 10,
};

static const char *const strings[] = { "udk", "Simulated keyboard" };

static const char *text = "udk";
static size_t next;	/* report index: 2 per character */
static uint8_t protocol = 1, idle;

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	uint8_t r[8] = { 0 };
	char ch;

	(void)fn;
	if (t->endpoint != 0x81)
		return -EPIPE;
	if (next >= 2 * strlen(text))
		return UDK_DM_USB_PENDING; /* nothing pressed: the host keeps asking */
	ch = text[next / 2];
	if (next % 2 == 0)
		r[2] = ch == ' ' ? 44 : ch >= 'a' && ch <= 'z' ? (uint8_t)(4 + ch - 'a') : 0;
	next++;
	t->actual = t->length < 8 ? t->length : 8;
	memcpy(t->data, r, t->actual);
	return 0;
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	const struct udk_usb_setup *s = &t->setup;

	(void)fn;
	if (s->bmRequestType == 0x81 && s->bRequest == UDK_USB_REQ_GET_DESCRIPTOR && (s->wValue >> 8) == 0x22) {
		t->actual = t->length < sizeof(report_desc) ? t->length : sizeof(report_desc);
		memcpy(t->data, report_desc, t->actual);
		return 0;
	}
	if (s->bmRequestType == 0x21 && s->bRequest == 0x0a) { /* SET_IDLE */
		idle = (uint8_t)(s->wValue >> 8);
		return 0;
	}
	if (s->bmRequestType == 0x21 && s->bRequest == 0x0b) { /* SET_PROTOCOL */
		protocol = (uint8_t)s->wValue;
		return 0;
	}
	if (s->bmRequestType == 0xa1 && s->bRequest == 0x03 && t->length >= 1) { /* GET_PROTOCOL */
		t->data[0] = protocol;
		t->actual = 1;
		return 0;
	}
	return -EPIPE;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_usb_device dev = {
		.descriptors = descriptors,
		.descriptors_len = sizeof(descriptors),
		.strings = strings,
		.n_strings = 2,
		.speed = UDK_USB_SPEED_FULL,
	};
	static const struct udk_dm_usb_ops ops = {
		UDK_DM_USB_OPS_INIT,
		.control = on_control,
		.transfer = on_transfer,
	};
	struct udk_dm *dm;
	const char *t;
	int r;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	t = udk_dict_get_string(udk_dm_get_properties(dm), "Text");
	if (t)
		text = t;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-kbd: %s\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	return udk_dm_run(dm);
}
