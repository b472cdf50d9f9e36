/* SPDX-License-Identifier: MIT */
/*
 * usb-cdc-acm - a simulated CDC-ACM serial port (1209:0005) whose line is
 * looped back: what the host writes comes back to it.  Given to Linux
 * (machine description <key>Host</key><string>linux</string>), the
 * kernel's cdc_acm drives it through vhci-hcd and it becomes /dev/ttyACM0.
 *
 *   interface 0  CDC communications, ACM (class 2 / 2 / 1): the header, call
 *                management, ACM and union functional descriptors;
 *                0x83 interrupt IN (notifications: none are sent)
 *   interface 1  CDC data (class 0x0A): 0x02 bulk OUT, 0x81 bulk IN
 *   class requests: SET/GET_LINE_CODING, SET_CONTROL_LINE_STATE, SEND_BREAK
 */
#include <stdio.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

#define FIFO 65536u

static const uint8_t descriptors[] = {
	18, UDK_USB_DT_DEVICE, 0x00, 0x02, 0x02, 0x00, 0x00, 64, 0x09, 0x12, 0x05, 0x00, 0x00, 0x01, 1, 2, 3, 1,
	9, UDK_USB_DT_CONFIGURATION, 67, 0, 2, 1, 0, 0x80, 50,
	9, UDK_USB_DT_INTERFACE, 0, 0, 1, 0x02, 0x02, 0x01, 0,
	5, UDK_USB_DT_CS_INTERFACE, 0x00, 0x10, 0x01,		/* header, CDC 1.10 */
	5, UDK_USB_DT_CS_INTERFACE, 0x01, 0x00, 0x01,		/* call management: data interface 1 */
	4, UDK_USB_DT_CS_INTERFACE, 0x02, 0x02,			/* ACM: line coding and state */
	5, UDK_USB_DT_CS_INTERFACE, 0x06, 0x00, 0x01,		/* union: master 0, slave 1 */
	7, UDK_USB_DT_ENDPOINT, 0x83, UDK_USB_TRANSFER_INTERRUPT, 16, 0, 10,
	9, UDK_USB_DT_INTERFACE, 1, 0, 2, 0x0a, 0x00, 0x00, 0,
	7, UDK_USB_DT_ENDPOINT, 0x02, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
	7, UDK_USB_DT_ENDPOINT, 0x81, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
};

static const char *const strings[] = { "udk", "Simulated CDC-ACM port", "A-0001" };

static uint8_t fifo[FIFO];
static size_t head, len;
static uint8_t line_coding[7] = { 0x00, 0xc2, 0x01, 0x00, 0, 0, 8 }; /* 115200 8N1 */
static uint64_t bytes_looped;

static void
service(struct udk_dm_function *fn)
{
	bool moved = true;

	while (moved) {
		struct udk_dm_usb_transfer *out = udk_dm_usb_pending(fn, 0x02);
		struct udk_dm_usb_transfer *in = udk_dm_usb_pending(fn, 0x81);
		moved = false;
		if (out && FIFO - len >= out->length) {
			for (uint32_t i = 0; i < out->length; i++)
				fifo[(head + len + i) % FIFO] = out->data[i];
			len += out->length;
			udk_dm_usb_complete(out, 0);
			moved = true;
		}
		if (in && len) {
			uint32_t n = 0;
			while (n < in->length && len) {
				in->data[n++] = fifo[head];
				head = (head + 1) % FIFO;
				len--;
			}
			in->actual = n;
			bytes_looped += n;
			udk_dm_usb_complete(in, 0);
			moved = true;
		}
	}
}

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	if (t->endpoint == 0x83)
		return UDK_DM_USB_PENDING; /* no serial state to notify */
	if (t->endpoint != 0x02 && t->endpoint != 0x81)
		return -EPIPE;
	service(fn);
	return UDK_DM_USB_PENDING;
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	const struct udk_usb_setup *s = &t->setup;

	(void)fn;
	if (s->bmRequestType == 0x21 && s->bRequest == 0x20 && t->length == 7) { /* SET_LINE_CODING */
		memcpy(line_coding, t->data, 7);
		return 0;
	}
	if (s->bmRequestType == 0xa1 && s->bRequest == 0x21) { /* GET_LINE_CODING */
		t->actual = t->length < 7 ? t->length : 7;
		memcpy(t->data, line_coding, t->actual);
		return 0;
	}
	if (s->bmRequestType == 0x21 && (s->bRequest == 0x22 || s->bRequest == 0x23))
		return 0; /* SET_CONTROL_LINE_STATE, SEND_BREAK */
	return -EPIPE;
}

static int
on_config(struct udk_dm_function *fn, uint8_t value)
{
	(void)value;
	head = len = 0;
	udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_INFO, "CDC-ACM: configuration %u (host: %s)", value,
		   udk_dm_usb_get_host(fn));
	return 0;
}

static void
on_reset(struct udk_dm_function *fn, const char *why)
{
	(void)fn;
	(void)why;
	head = len = 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_usb_device dev = {
		.descriptors = descriptors,
		.descriptors_len = sizeof(descriptors),
		.strings = strings,
		.n_strings = 3,
		.speed = UDK_USB_SPEED_HIGH,
	};
	static const struct udk_dm_usb_ops ops = {
		UDK_DM_USB_OPS_INIT,
		.control = on_control,
		.transfer = on_transfer,
		.set_configuration = on_config,
		.reset = on_reset,
	};
	struct udk_dm *dm;
	int r;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-cdc-acm: %s\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	return udk_dm_run(dm);
}
