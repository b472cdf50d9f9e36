/* SPDX-License-Identifier: MIT */
/*
 * usb-test - a simulated USB device for the USB family's tests.
 *
 *   device 1209:0002, USB 2.1 (it has a BOS), high speed, 2 configurations
 *   configuration 1:
 *     interface 0  class 0xFF
 *         0x01 bulk OUT 512 and 0x81 bulk IN 512: an echo through a 64 KiB FIFO
 *         0x82 interrupt IN 8 bytes: one report {u32 counter, "udkR"} per
 *              report queued with the vendor request 0x10
 *     interface 1  class 0xFF, alternate 0 without endpoints, alternate 1:
 *         0x83 isochronous IN 192: packet i of a transfer holds bytes
 *              (seq + i) & 0xff, 100 of them
 *         0x03 isochronous OUT 192: counts the bytes
 *     interface 2  class 0x0A (CDC data)
 *         0x04 bulk OUT 64, 0x84 bulk IN 64: IN gives 16 bytes 0xA5
 *   configuration 2: interface 0, class 0xFF, 0x85 bulk IN 512 (16 bytes 0x5A)
 *
 * Vendor requests:
 *   0x40 0x01 OUT up to 256 bytes: kept;  0xC0 0x01 IN: gives them back
 *   0x40 0x10 wValue n: queue n interrupt reports
 *   0x40 0x20 wIndex ep: halt (stall) endpoint ep
 *   0xC0 0x30 IN 24 bytes: u32 resets, configurations set, reports sent,
 *             iso OUT bytes, opens of interface 1 alternate 1, halts cleared
 *   0x40 0x7f: the model exits (the hardware is gone)
 *   anything else stalls.
 *
 * Properties (machine description) "Variant" breaks the descriptors on
 * purpose: "bad-maxpacket", "bad-interfaces", "bad-length", "bad-device",
 * "bad-endpoints".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/families/usb-devmodel.h>

#define FIFO 65536u

static uint8_t descs[512];
static size_t descs_len;

static const char *const strings[] = { "udk", "USB test device", "T-0001", "vendor interface" };

static const uint8_t bos[] = {
	5, UDK_USB_DT_BOS, 12, 0, 1,
	/* USB 2.0 extension: LPM */
	7, UDK_USB_DT_DEVICE_CAPABILITY, 0x02, 0x02, 0x00, 0x00, 0x00,
};

struct state {
	uint8_t fifo[FIFO];
	size_t fifo_len;
	uint8_t ctl[256];
	size_t ctl_len;
	uint32_t reports_queued, reports_sent;
	uint32_t resets, configs, iso_out, alt_opens, halts_cleared;
	uint32_t iso_seq;
};

static struct state st;

static void
put(const uint8_t *p, size_t n)
{
	memcpy(descs + descs_len, p, n);
	descs_len += n;
}

static void
build(const char *variant)
{
	uint8_t *cfg;
	size_t cfg_start;
	bool bad_mps = variant && strcmp(variant, "bad-maxpacket") == 0;
	bool bad_ifs = variant && strcmp(variant, "bad-interfaces") == 0;
	bool bad_len = variant && strcmp(variant, "bad-length") == 0;
	bool bad_dev = variant && strcmp(variant, "bad-device") == 0;
	bool bad_eps = variant && strcmp(variant, "bad-endpoints") == 0;
	const uint8_t dev[] = { bad_dev ? 17 : 18, UDK_USB_DT_DEVICE, 0x10, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0x02, 0x00,
				0x00, 0x01, 1, 2, 3, 2 };

	descs_len = 0;
	put(dev, sizeof(dev));
	/* configuration 1 */
	cfg_start = descs_len;
	{
		const uint8_t c[] = { 9, UDK_USB_DT_CONFIGURATION, 0, 0, bad_ifs ? 4 : 3, 1, 0, 0xc0, 50 };
		put(c, sizeof(c));
	}
	{
		const uint8_t i0[] = { 9, UDK_USB_DT_INTERFACE, 0, 0, bad_eps ? 4 : 3, 0xff, 0, 0, 4 };
		const uint8_t e1[] = { 7, UDK_USB_DT_ENDPOINT, 0x01, 2, 0x00, 0x02, 0 };
		const uint8_t e81[] = { 7, UDK_USB_DT_ENDPOINT, 0x81, 2, bad_mps ? 0 : 0x00, bad_mps ? 0 : 0x02, 0 };
		const uint8_t e82[] = { 7, UDK_USB_DT_ENDPOINT, 0x82, 3, 8, 0, 4 };
		put(i0, sizeof(i0));
		put(e1, sizeof(e1));
		put(e81, sizeof(e81));
		put(e82, sizeof(e82));
	}
	{
		const uint8_t i1a0[] = { 9, UDK_USB_DT_INTERFACE, 1, 0, 0, 0xff, 1, 0, 0 };
		const uint8_t i1a1[] = { 9, UDK_USB_DT_INTERFACE, 1, 1, 2, 0xff, 1, 0, 0 };
		const uint8_t e83[] = { 7, UDK_USB_DT_ENDPOINT, 0x83, 1 | (1 << 2), 192, 0, 1 };
		const uint8_t e3[] = { 7, UDK_USB_DT_ENDPOINT, 0x03, 1 | (1 << 2), 192, 0, 1 };
		put(i1a0, sizeof(i1a0));
		put(i1a1, sizeof(i1a1));
		put(e83, sizeof(e83));
		put(e3, sizeof(e3));
	}
	if (!bad_ifs) {
		const uint8_t i2[] = { 9, UDK_USB_DT_INTERFACE, 2, 0, 2, 0x0a, 0, 0, 0 };
		const uint8_t e4[] = { 7, UDK_USB_DT_ENDPOINT, 0x04, 2, 64, 0, 0 };
		const uint8_t e84[] = { 7, UDK_USB_DT_ENDPOINT, 0x84, 2, 64, 0, 0 };
		put(i2, sizeof(i2));
		put(e4, sizeof(e4));
		put(e84, sizeof(e84));
	}
	if (bad_len) {
		/* an interface descriptor that says it is longer than what is left */
		const uint8_t i9[] = { 40, UDK_USB_DT_INTERFACE, 9, 0, 0, 0xff, 0, 0, 0 };
		put(i9, sizeof(i9));
	}
	cfg = descs + cfg_start;
	cfg[2] = (uint8_t)(descs_len - cfg_start);
	cfg[3] = (uint8_t)((descs_len - cfg_start) >> 8);
	/* configuration 2 */
	cfg_start = descs_len;
	{
		const uint8_t c[] = { 9, UDK_USB_DT_CONFIGURATION, 25, 0, 1, 2, 0, 0x80, 50 };
		const uint8_t i0[] = { 9, UDK_USB_DT_INTERFACE, 0, 0, 1, 0xff, 2, 0, 0 };
		const uint8_t e85[] = { 7, UDK_USB_DT_ENDPOINT, 0x85, 2, 0x00, 0x02, 0 };
		put(c, sizeof(c));
		put(i0, sizeof(i0));
		put(e85, sizeof(e85));
	}
}

/* Move what can move: held transfers complete here. */
static void
service(struct udk_dm_function *fn)
{
	struct udk_dm_usb_transfer *t;

	/* echo */
	if ((t = udk_dm_usb_pending(fn, 0x01)) && st.fifo_len + t->length <= FIFO) {
		memcpy(st.fifo + st.fifo_len, t->data, t->length);
		st.fifo_len += t->length;
		udk_dm_usb_complete(t, 0);
	}
	if ((t = udk_dm_usb_pending(fn, 0x81)) && st.fifo_len) {
		size_t n = st.fifo_len < t->length ? st.fifo_len : t->length;
		memcpy(t->data, st.fifo, n);
		memmove(st.fifo, st.fifo + n, st.fifo_len - n);
		st.fifo_len -= n;
		t->actual = (uint32_t)n;
		udk_dm_usb_complete(t, 0);
		/* room for a waiting writer */
		if ((t = udk_dm_usb_pending(fn, 0x01)) && st.fifo_len + t->length <= FIFO) {
			memcpy(st.fifo + st.fifo_len, t->data, t->length);
			st.fifo_len += t->length;
			udk_dm_usb_complete(t, 0);
		}
	}
	/* interrupt reports */
	if ((t = udk_dm_usb_pending(fn, 0x82)) && st.reports_queued) {
		uint32_t n = ++st.reports_sent;
		uint8_t r[8];
		st.reports_queued--;
		memcpy(r, &n, 4);
		memcpy(r + 4, "udkR", 4);
		t->actual = t->length < 8 ? t->length : 8;
		memcpy(t->data, r, t->actual);
		udk_dm_usb_complete(t, 0);
	}
}

static int
on_transfer(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	switch (t->endpoint) {
	case 0x01:
	case 0x81:
	case 0x82:
		service(fn);
		return UDK_DM_USB_PENDING;
	case 0x83: {
		uint32_t off = 0;
		for (uint32_t i = 0; i < t->n_packets; i++) {
			uint32_t n = t->packets[i].length < 100 ? t->packets[i].length : 100;
			memset(t->data + off, (int)((st.iso_seq + i) & 0xff), n);
			t->packets[i].actual = n;
			t->packets[i].status = 0;
			off += t->packets[i].length;
		}
		st.iso_seq += t->n_packets;
		return 0;
	}
	case 0x03:
		for (uint32_t i = 0; i < t->n_packets; i++) {
			t->packets[i].actual = t->packets[i].length;
			st.iso_out += t->packets[i].length;
		}
		return 0;
	case 0x04:
		return 0;
	case 0x84:
	case 0x85:
		t->actual = t->length < 16 ? t->length : 16;
		memset(t->data, t->endpoint == 0x84 ? 0xa5 : 0x5a, t->actual);
		return 0;
	default:
		return -EPIPE;
	}
}

static int
on_control(struct udk_dm_function *fn, struct udk_dm_usb_transfer *t)
{
	const struct udk_usb_setup *s = &t->setup;

	if (s->bmRequestType == 0x40 && s->bRequest == 0x01) {
		st.ctl_len = t->length < sizeof(st.ctl) ? t->length : sizeof(st.ctl);
		memcpy(st.ctl, t->data, st.ctl_len);
		return 0;
	}
	if (s->bmRequestType == 0xc0 && s->bRequest == 0x01) {
		t->actual = (uint32_t)(st.ctl_len < t->length ? st.ctl_len : t->length);
		memcpy(t->data, st.ctl, t->actual);
		return 0;
	}
	if (s->bmRequestType == 0x40 && s->bRequest == 0x10) {
		st.reports_queued += s->wValue;
		service(fn);
		return 0;
	}
	if (s->bmRequestType == 0x40 && s->bRequest == 0x20) {
		udk_dm_usb_halt(fn, (uint8_t)s->wIndex);
		return 0;
	}
	if (s->bmRequestType == 0xc0 && s->bRequest == 0x30) {
		uint32_t v[6] = { st.resets, st.configs, st.reports_sent, st.iso_out, st.alt_opens, st.halts_cleared };
		t->actual = t->length < sizeof(v) ? t->length : sizeof(v);
		memcpy(t->data, v, t->actual);
		return 0;
	}
	if (s->bmRequestType == 0x40 && s->bRequest == 0x7f) {
		udk_dm_log(udk_dm_function_get_model(fn), UDK_LOG_NOTICE, "asked to die: the hardware goes away");
		exit(3);
	}
	return -EPIPE;
}

static int
on_config(struct udk_dm_function *fn, uint8_t value)
{
	(void)fn;
	if (value)
		st.configs++;
	st.fifo_len = 0;
	st.reports_queued = 0;
	return 0;
}

static int
on_interface(struct udk_dm_function *fn, uint8_t iface, uint8_t alt)
{
	(void)fn;
	if (iface == 1 && alt == 1)
		st.alt_opens++;
	return 0;
}

static void
on_clear_halt(struct udk_dm_function *fn, uint8_t ep)
{
	(void)fn;
	(void)ep;
	st.halts_cleared++;
}

static void
on_reset(struct udk_dm_function *fn, const char *why)
{
	(void)fn;
	(void)why;
	st.resets++;
	st.fifo_len = 0;
	st.reports_queued = 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_usb_ops ops = {
		UDK_DM_USB_OPS_INIT,
		.control = on_control,
		.transfer = on_transfer,
		.set_configuration = on_config,
		.set_interface = on_interface,
		.clear_halt = on_clear_halt,
		.reset = on_reset,
	};
	struct udk_dm_usb_device dev = {
		.strings = strings,
		.n_strings = 4,
		.bos = bos,
		.bos_len = sizeof(bos),
		.speed = UDK_USB_SPEED_HIGH,
	};
	struct udk_dm *dm;
	const char *variant;
	int r;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 1;
	variant = udk_dict_get_string(udk_dm_get_properties(dm), "Variant");
	build(variant);
	dev.descriptors = descs;
	dev.descriptors_len = descs_len;
	r = udk_dm_add_usb_device(dm, &dev, &ops, NULL, NULL);
	if (r < 0) {
		fprintf(stderr, "usb-test: the device cannot be added: %s\n",
			udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	return udk_dm_run(dm);
}
