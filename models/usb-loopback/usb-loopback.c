/* SPDX-License-Identifier: MIT */
/*
 * usb-loopback - the seed's device: a vendor-class USB device with bulk
 * IN and OUT, simulated.
 *
 *   device 1209:0001, bDeviceClass 0 (per interface), USB 2.0 high speed
 *   configuration 1: interface 0, class 0xFF (vendor specific)
 *       endpoint 0x01  bulk OUT  512 bytes
 *       endpoint 0x81  bulk IN   512 bytes
 *
 * What goes out comes back in, through a 1 MiB FIFO: an OUT transfer
 * waits while the FIFO is full, an IN transfer while it is empty (and
 * ends with what there is, as a short packet would).  When a reader is
 * already waiting and the FIFO is empty, bytes go straight across.
 *
 * Vendor requests on the default pipe:
 *   0xC0 0x01  IN 4 bytes: bytes in the FIFO (little endian)
 *   0x40 0x02  OUT: empty the FIFO
 *   anything else stalls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

#define FIFO_SIZE (1u << 20)
#define EP_OUT 0x01
#define EP_IN 0x81

static const uint8_t descriptors[] = {
	/* device */
	18, UDK_USB_DT_DEVICE, 0x00, 0x02, 0x00, 0x00, 0x00, 64, 0x09, 0x12, 0x01, 0x00, 0x00, 0x01, 1, 2, 3, 1,
	/* configuration 1: 32 bytes, 1 interface, bus powered, 100 mA */
	9, UDK_USB_DT_CONFIGURATION, 32, 0, 1, 1, 0, 0x80, 50,
	/* interface 0, alternate 0, 2 endpoints, class 0xFF */
	9, UDK_USB_DT_INTERFACE, 0, 0, 2, 0xff, 0x00, 0x00, 0,
	7, UDK_USB_DT_ENDPOINT, EP_OUT, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
	7, UDK_USB_DT_ENDPOINT, EP_IN, UDK_USB_TRANSFER_BULK, 0x00, 0x02, 0,
};

static const char *const strings[] = { "udk", "Vendor loopback", "0001" };

struct fifo {
	uint8_t *buf;
	size_t head, len;
};

static struct fifo fifo;

static size_t
fifo_put(const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n && fifo.len < FIFO_SIZE) {
		size_t tail = (fifo.head + fifo.len) % FIFO_SIZE;
		/* contiguous room: to the end of the buffer, or up to the head when wrapped */
		size_t k = tail >= fifo.head ? FIFO_SIZE - tail : fifo.head - tail;
		if (k > n - done)
			k = n - done;
		memcpy(fifo.buf + tail, p + done, k);
		fifo.len += k;
		done += k;
	}
	return done;
}

static size_t
fifo_get(uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n && fifo.len) {
		size_t k = FIFO_SIZE - fifo.head;
		if (k > fifo.len)
			k = fifo.len;
		if (k > n - done)
			k = n - done;
		memcpy(p + done, fifo.buf + fifo.head, k);
		fifo.head = (fifo.head + k) % FIFO_SIZE;
		fifo.len -= k;
		done += k;
	}
	if (!fifo.len)
		fifo.head = 0;
	return done;
}

/* Move what can move; true if anything did. */
static bool
step_out(struct udk_dm_usb_transfer *t)
{
	size_t off = (size_t)(uintptr_t)t->model_data;
	size_t n = fifo_put(t->data + off, t->length - off);

	t->model_data = (void *)(uintptr_t)(off + n);
	return n > 0;
}

static void
service(struct udk_dm_function *fn)
{
	bool moved = true;

	while (moved) {
		struct udk_dm_usb_transfer *out = udk_dm_usb_pending(fn, EP_OUT);
		struct udk_dm_usb_transfer *in = udk_dm_usb_pending(fn, EP_IN);
		moved = false;
		if (out && in && !fifo.len) {
			/* a reader is waiting and nothing is queued: straight across, one copy */
			size_t off = (size_t)(uintptr_t)out->model_data, n = out->length - off;
			if (n > in->length)
				n = in->length;
			memcpy(in->data, out->data + off, n);
			in->actual = (uint32_t)n;
			out->model_data = (void *)(uintptr_t)(off + n);
			udk_dm_usb_complete(in, 0);
			if (off + n == out->length)
				udk_dm_usb_complete(out, 0);
			moved = true;
			continue;
		}
		if (out && step_out(out)) {
			moved = true;
			if ((size_t)(uintptr_t)out->model_data == out->length)
				udk_dm_usb_complete(out, 0);
		}
		if (in && fifo.len) {
			in->actual = (uint32_t)fifo_get(in->data, in->length);
			udk_dm_usb_complete(in, 0);
			moved = true;
		}
	}
}

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	if (t->endpoint != EP_OUT && t->endpoint != EP_IN)
		return -EPIPE;
	if (t->endpoint == EP_OUT)
		t->model_data = (void *)0; /* bytes taken so far */
	/* keep it, and move what can move: service() completes what is done */
	service(fn);
	return UDK_DM_USB_PENDING;
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	(void)fn;
	if (t->setup.bmRequestType == 0xc0 && t->setup.bRequest == 0x01 && t->length >= 4) {
		uint32_t n = (uint32_t)fifo.len;
		memcpy(t->data, &n, 4);
		t->actual = 4;
		return 0;
	}
	if (t->setup.bmRequestType == 0x40 && t->setup.bRequest == 0x02) {
		fifo.head = fifo.len = 0;
		return 0;
	}
	return -EPIPE;
}

static void
on_reset(struct udk_dm_function *fn, const char *why)
{
	(void)why;
	fifo.head = fifo.len = 0;
	udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_NOTICE, "loopback FIFO emptied by the reset");
}

static int
on_config(struct udk_dm_function *fn, uint8_t value)
{
	(void)fn;
	(void)value;
	fifo.head = fifo.len = 0;
	return 0;
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
		.reset = on_reset,
		.set_configuration = on_config,
	};
	struct udk_dm *dm;
	int r;

	fifo.buf = malloc(FIFO_SIZE);
	if (!fifo.buf || udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-loopback: %s\n", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	r = udk_dm_run(dm);
	free(fifo.buf);
	return r;
}
