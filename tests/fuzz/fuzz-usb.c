/* SPDX-License-Identifier: MIT */
/*
 * The USB family's decoders (families/usb/common/): what a device, a
 * device model, sysfs, a driver, the kernel's vhci-hcd or a uevent could
 * send.  The first byte picks the decoder:
 *   0  descriptors (a device and its configurations), then every string
 *   1  a USB/IP stream, message after message
 *   2  a transfer request (driver -> model)
 *   3  a completion (model -> driver)
 *   4  a kernel uevent
 * Every structure the decoder returns is walked, so a bound it got wrong
 * shows up under AddressSanitizer.
 */
#include <string.h>

#include "usb-check.h"
#include "usb-desc.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void
walk_descs(const uint8_t *p, size_t n)
{
	struct usb_descs *d = NULL;

	if (usb_descs_parse(p, n, &d) < 0)
		return;
	for (unsigned i = 0; i < d->n_configs; i++) {
		const struct usb_config *c = &d->configs[i];
		for (size_t k = 0; k < c->len; k++)
			sink += c->raw[k];
		for (unsigned j = 0; j < c->n_ifaces; j++)
			for (unsigned a = 0; a < c->ifaces[j].n_alts; a++) {
				const struct usb_alt *alt = &c->ifaces[j].alts[a];
				sink += alt->raw[0] + alt->n_eps;
				for (size_t k = 0; k < alt->extra_len; k++)
					sink += alt->extra[k];
				for (unsigned e = 0; e < alt->n_eps; e++) {
					sink += alt->eps[e].raw[2] + alt->eps[e].d.wMaxPacketSize;
					for (size_t k = 0; k < alt->eps[e].extra_len; k++)
						sink += alt->eps[e].extra[k];
					sink += usb_alt_endpoint(alt, alt->eps[e].d.bEndpointAddress) != NULL;
				}
			}
		sink += usb_descs_config(d, c->d.bConfigurationValue) != NULL;
	}
	usb_descs_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;
	const char *why = NULL;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: {
		char out[256];
		walk_descs(p, n);
		usb_string_to_utf8(p, n, out, sizeof(out));
		break;
	}
	case 1: {
		/* as the model reads its socket: whole messages off the front */
		size_t off = 0;
		while (off < n) {
			ssize_t len = usbip_message_len(p + off, n - off, &why);
			struct usbip_submit u;
			if (len <= 0)
				break;
			if (usbip_be32(p + off) == USBIP_CMD_SUBMIT && usbip_parse_submit(p + off, (size_t)len, &u, &why) == 0) {
				if (u.dir == USBIP_DIR_OUT)
					for (uint32_t k = 0; k < u.length; k++)
						sink += u.data[k];
				for (uint32_t k = 0; k < u.n_packets; k++)
					sink += usbip_be32(u.iso + (size_t)k * USBIP_ISO_DESC + 4);
			}
			off += (size_t)len;
		}
		break;
	}
	case 2: {
		struct proto_usb_submit s;
		const uint8_t *lens = NULL, *outp = NULL;
		if (usb_submit_check(p, n, &s, &lens, &outp, &why) == 0) {
			for (unsigned k = 0; k < s.n_packets * 4u; k++)
				sink += lens[k];
			for (uint32_t k = 0; outp && k < s.length; k++)
				sink += outp[k];
		}
		break;
	}
	case 3: {
		struct proto_usb_complete c;
		const uint8_t *pk = NULL, *in = NULL;
		if (usb_complete_check(p, n, &c, &pk, &in) == 0) {
			for (size_t k = 0; k < c.n_packets * sizeof(struct udk_usb_iso_packet); k++)
				sink += pk[k];
			for (uint32_t k = 0; k < c.inline_len; k++)
				sink += in[k];
		}
		break;
	}
	case 4: {
		struct usb_uevent ev;
		char buf[8192];
		if (n >= sizeof(buf))
			break;
		memcpy(buf, p, n);
		buf[n] = 0;
		if (usb_uevent_parse(buf, n, &ev) == 0)
			sink += strlen(ev.action) + strlen(ev.sysname);
		break;
	}
	}
	return 0;
}
