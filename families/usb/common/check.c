/* SPDX-License-Identifier: MIT */
/*
 * check.c - decoding what peers send the USB family (usb-check.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "usb-check.h"
#include "util.h"

int
usb_submit_check(const uint8_t *p, size_t len, struct proto_usb_submit *s, const uint8_t **ret_lens,
		 const uint8_t **ret_out, const char **why)
{
	bool in;
	size_t need;

	if (len < sizeof(*s)) {
		*why = "the transfer request is shorter than its header";
		return -UDK_E_PROTOCOL;
	}
	memcpy(s, p, sizeof(*s));
	if (s->type > UDK_USB_TRANSFER_INTERRUPT || s->length > PROTO_USB_MAX_TRANSFER ||
	    s->n_packets > PROTO_USB_MAX_PACKETS) {
		*why = "the transfer request has a bad type, length or packet count";
		return -UDK_E_PROTOCOL;
	}
	in = s->type == UDK_USB_TRANSFER_CONTROL ? (s->setup.bmRequestType & UDK_USB_DIR_IN) != 0
						 : (s->endpoint & UDK_USB_ENDPOINT_IN) != 0;
	need = sizeof(*s) + (size_t)s->n_packets * sizeof(uint32_t) + (s->mem == 0 && !in ? s->length : 0);
	if (len != need) {
		*why = "the transfer request's size does not match its packets and data";
		return -UDK_E_PROTOCOL;
	}
	if (s->n_packets) {
		uint64_t sum = 0;
		for (unsigned i = 0; i < s->n_packets; i++) {
			uint32_t l;
			memcpy(&l, p + sizeof(*s) + i * sizeof(l), sizeof(l));
			sum += l;
		}
		if (sum != s->length) {
			*why = "the packet lengths do not add up to the transfer's length";
			return -EINVAL;
		}
	}
	*ret_lens = p + sizeof(*s);
	*ret_out = s->mem == 0 && !in ? p + sizeof(*s) + (size_t)s->n_packets * sizeof(uint32_t) : NULL;
	return 0;
}

int
usb_complete_check(const uint8_t *p, size_t len, struct proto_usb_complete *c, const uint8_t **ret_packets,
		   const uint8_t **ret_inline)
{
	size_t need;

	if (len < sizeof(*c))
		return -UDK_E_PROTOCOL;
	memcpy(c, p, sizeof(*c));
	if (c->n_packets > PROTO_USB_MAX_PACKETS || c->inline_len > PROTO_USB_MAX_TRANSFER)
		return -UDK_E_PROTOCOL;
	need = sizeof(*c) + (size_t)c->n_packets * sizeof(struct udk_usb_iso_packet) + c->inline_len;
	if (len != need)
		return -UDK_E_PROTOCOL;
	*ret_packets = p + sizeof(*c);
	*ret_inline = p + sizeof(*c) + (size_t)c->n_packets * sizeof(struct udk_usb_iso_packet);
	return 0;
}

uint32_t
usbip_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

void
usbip_put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

ssize_t
usbip_message_len(const uint8_t *p, size_t len, const char **why)
{
	uint32_t cmd, dir, length, np;
	size_t total;

	if (len < USBIP_HDR)
		return 0;
	cmd = usbip_be32(p);
	if (cmd == USBIP_CMD_UNLINK)
		return USBIP_HDR;
	if (cmd != USBIP_CMD_SUBMIT) {
		*why = "the kernel sent an unknown USB/IP command";
		return -1;
	}
	dir = usbip_be32(p + 12);
	length = usbip_be32(p + 24);
	np = usbip_be32(p + 32);
	if (np == 0xffffffffu)
		np = 0;
	if (dir > USBIP_DIR_IN || usbip_be32(p + 16) > 15 || length > PROTO_USB_MAX_TRANSFER ||
	    np > PROTO_USB_MAX_PACKETS) {
		*why = "the kernel sent a USB/IP submission with a bad direction, endpoint, length or packet count";
		return -1;
	}
	total = USBIP_HDR + (dir == USBIP_DIR_OUT ? length : 0) + (size_t)np * USBIP_ISO_DESC;
	return len >= total ? (ssize_t)total : 0;
}

int
usbip_parse_submit(const uint8_t *p, size_t len, struct usbip_submit *out, const char **why)
{
	const char *w = NULL;
	ssize_t total = usbip_message_len(p, len, &w);
	uint32_t off = 0;

	if (total <= 0 || (size_t)total != len || usbip_be32(p) != USBIP_CMD_SUBMIT) {
		*why = w ? w : "not one whole USB/IP submission";
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->seq = usbip_be32(p + 4);
	out->dir = usbip_be32(p + 12);
	out->ep = usbip_be32(p + 16);
	out->flags = usbip_be32(p + 20);
	out->length = usbip_be32(p + 24);
	out->n_packets = usbip_be32(p + 32);
	if (out->n_packets == 0xffffffffu)
		out->n_packets = 0;
	memcpy(out->setup, p + 40, 8);
	out->data = p + USBIP_HDR;
	out->iso = out->data + (out->dir == USBIP_DIR_OUT ? out->length : 0);
	for (uint32_t i = 0; i < out->n_packets; i++) {
		const uint8_t *d = out->iso + (size_t)i * USBIP_ISO_DESC;
		uint32_t l = usbip_be32(d + 4);
		if (usbip_be32(d) != off || l > out->length - off) {
			*why = "the kernel sent isochronous packets that do not tile the buffer";
			return -EINVAL;
		}
		off += l;
	}
	return 0;
}

int
usb_uevent_parse(const char *buf, size_t len, struct usb_uevent *ev)
{
	size_t head = strnlen(buf, len), off;
	const char *action = NULL, *devpath = NULL, *subsystem = NULL, *devtype = NULL, *slash;

	memset(ev, 0, sizeof(*ev));
	if (head >= len || !memchr(buf, '@', head))
		return -EINVAL;
	for (off = head + 1; off < len;) {
		const char *s = buf + off;
		size_t l = strnlen(s, len - off);
		if (l == len - off)
			break; /* not terminated: ignore the rest */
		if (startswith(s, "ACTION="))
			action = s + 7;
		else if (startswith(s, "DEVPATH="))
			devpath = s + 8;
		else if (startswith(s, "SUBSYSTEM="))
			subsystem = s + 10;
		else if (startswith(s, "DEVTYPE="))
			devtype = s + 8;
		off += l + 1;
	}
	if (!action || !devpath || !streq(subsystem, "usb"))
		return -EINVAL;
	slash = strrchr(devpath, '/');
	slash = slash ? slash + 1 : devpath;
	if (!*slash || strlen(slash) >= sizeof(ev->sysname) || strlen(action) >= sizeof(ev->action))
		return -EINVAL;
	strcpy(ev->action, action);
	strcpy(ev->sysname, slash);
	ev->device = streq(devtype, "usb_device");
	ev->interface = streq(devtype, "usb_interface");
	return ev->device || ev->interface ? 0 : -EINVAL;
}
