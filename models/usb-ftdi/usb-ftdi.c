/* SPDX-License-Identifier: MIT */
/*
 * usb-ftdi - a simulated FTDI FT232 USB-serial chip (0403:6001), as QEMU's
 * usb-serial emulates it, with its serial line looped back: what the host
 * sends on bulk OUT comes back on bulk IN.
 *
 *   configuration 1, interface 0 class 0xFF/0xFF/0xFF
 *       0x81 bulk IN 64: each packet is 2 status bytes, then up to 62 data bytes;
 *            nothing to send: the transfer waits (the chip NAKs)
 *       0x02 bulk OUT 64
 *   vendor requests: reset, modem control, flow control, baud, data format,
 *   latency (OUT), modem status (IN 2 bytes), latency (IN 1 byte)
 */
#include <stdio.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

#define RX 4096u

static const uint8_t descriptors[] = {
	18, UDK_USB_DT_DEVICE, 0x00, 0x02, 0, 0, 0, 8, 0x03, 0x04, 0x01, 0x60, 0x00, 0x04, 1, 2, 3, 1,
	9, UDK_USB_DT_CONFIGURATION, 32, 0, 1, 1, 0, 0xa0, 50,
	9, UDK_USB_DT_INTERFACE, 0, 0, 2, 0xff, 0xff, 0xff, 2,
	7, UDK_USB_DT_ENDPOINT, 0x81, UDK_USB_TRANSFER_BULK, 64, 0, 0,
	7, UDK_USB_DT_ENDPOINT, 0x02, UDK_USB_TRANSFER_BULK, 64, 0, 0,
};

static const char *const strings[] = { "udk", "udk USB serial (simulated FT232)", "S-0001" };

static uint8_t rx[RX];
static size_t rx_head, rx_len;
static uint8_t latency = 16;
static uint32_t baud_value;

static void
service(struct udk_dm_function *fn)
{
	bool moved = true;

	while (moved) {
		struct udk_dm_usb_transfer *out = udk_dm_usb_pending(fn, 0x02);
		struct udk_dm_usb_transfer *in = udk_dm_usb_pending(fn, 0x81);
		moved = false;
		if (out) {
			size_t off = (size_t)(uintptr_t)out->model_data;
			while (off < out->length && rx_len < RX) {
				rx[(rx_head + rx_len) % RX] = out->data[off++];
				rx_len++;
			}
			out->model_data = (void *)(uintptr_t)off;
			if (off == out->length) {
				udk_dm_usb_complete(out, 0);
				moved = true;
			}
		}
		if (in && rx_len) {
			uint32_t pos = 0;
			while (rx_len && in->length - pos > 2) {
				uint32_t room = in->length - pos < 64 ? in->length - pos : 64, n = 0;
				in->data[pos] = 0xb1; /* CTS, DSR, DCD, and the reserved 1 */
				in->data[pos + 1] = 0x60; /* transmitter empty */
				while (n < room - 2 && rx_len) {
					in->data[pos + 2 + n++] = rx[rx_head];
					rx_head = (rx_head + 1) % RX;
					rx_len--;
				}
				pos += 2 + n;
			}
			in->actual = pos;
			udk_dm_usb_complete(in, 0);
			moved = true;
		}
	}
}

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	if (t->endpoint != 0x81 && t->endpoint != 0x02)
		return -EPIPE;
	t->model_data = NULL;
	service(fn);
	return UDK_DM_USB_PENDING;
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	const struct udk_usb_setup *s = &t->setup;

	(void)fn;
	if (s->bmRequestType == 0x40) {
		switch (s->bRequest) {
		case 0: /* reset */
			if (s->wValue == 0 || s->wValue == 1)
				rx_head = rx_len = 0;
			return 0;
		case 1: /* modem control */
		case 2: /* flow control */
		case 4: /* data format */
		case 6: /* event character */
		case 7: /* error character */
			return 0;
		case 3: /* baud */
			baud_value = (uint32_t)s->wValue | (uint32_t)(s->wIndex & 1) << 16;
			return 0;
		case 9:
			latency = (uint8_t)s->wValue;
			return 0;
		default:
			return -EPIPE;
		}
	}
	if (s->bmRequestType == 0xc0 && s->bRequest == 5 && t->length >= 2) {
		t->data[0] = 0xb1;
		t->data[1] = 0x60;
		t->actual = 2;
		return 0;
	}
	if (s->bmRequestType == 0xc0 && s->bRequest == 10 && t->length >= 1) {
		t->data[0] = latency;
		t->actual = 1;
		return 0;
	}
	return -EPIPE;
}

static void
on_reset(struct udk_dm_function *fn, const char *why)
{
	(void)fn;
	(void)why;
	rx_head = rx_len = 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_usb_device dev = {
		.descriptors = descriptors,
		.descriptors_len = sizeof(descriptors),
		.strings = strings,
		.n_strings = 3,
		.speed = UDK_USB_SPEED_FULL,
	};
	static const struct udk_dm_usb_ops ops = {
		UDK_DM_USB_OPS_INIT,
		.control = on_control,
		.transfer = on_transfer,
		.reset = on_reset,
	};
	struct udk_dm *dm;
	int r;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-ftdi: %s\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	return udk_dm_run(dm);
}
