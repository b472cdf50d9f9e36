/* SPDX-License-Identifier: MIT */
/*
 * desc.c - reading USB descriptors (usb-desc.h).  Everything here reads
 * bytes a device, a device model or sysfs gave: every length and count is
 * checked before it is used, and the problem is put in words.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usb-desc.h"
#include "util.h"

static void
problem(struct usb_config *c, const char *fmt, ...) UDK_PRINTF(2, 3);

static void
problem(struct usb_config *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (c->problem)
		return; /* the first one says enough */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problem = strdup(msg);
	if (!c->problem)
		c->problem = strdup("out of memory");
}

static struct usb_iface *
iface_get(struct usb_config *c, uint8_t number)
{
	struct usb_iface *n;

	for (unsigned i = 0; i < c->n_ifaces; i++)
		if (c->ifaces[i].number == number)
			return &c->ifaces[i];
	if (c->n_ifaces >= USB_MAX_INTERFACES) {
		problem(c, "configuration %u has more than %u interfaces", c->d.bConfigurationValue, USB_MAX_INTERFACES);
		return NULL;
	}
	n = reallocarray(c->ifaces, c->n_ifaces + 1, sizeof(*n));
	if (!n) {
		problem(c, "out of memory");
		return NULL;
	}
	c->ifaces = n;
	memset(&n[c->n_ifaces], 0, sizeof(*n));
	n[c->n_ifaces].number = number;
	return &n[c->n_ifaces++];
}

static struct usb_alt *
alt_add(struct usb_config *c, struct usb_iface *i, const uint8_t *q)
{
	struct usb_alt *n, *a;

	for (unsigned k = 0; k < i->n_alts; k++)
		if (i->alts[k].d.bAlternateSetting == q[3]) {
			problem(c, "interface %u of configuration %u has alternate setting %u twice", q[2],
				c->d.bConfigurationValue, q[3]);
			return NULL;
		}
	if (i->n_alts >= USB_MAX_ALTS) {
		problem(c, "interface %u has more than %u alternate settings", i->number, USB_MAX_ALTS);
		return NULL;
	}
	n = reallocarray(i->alts, i->n_alts + 1, sizeof(*n));
	if (!n) {
		problem(c, "out of memory");
		return NULL;
	}
	i->alts = n;
	a = &n[i->n_alts++];
	memset(a, 0, sizeof(*a));
	memcpy(&a->d, q, sizeof(a->d));
	a->raw = q;
	return a;
}

static void
parse_config(struct usb_config *c, const uint8_t *p, size_t avail, unsigned index)
{
	size_t off, total;
	struct usb_alt *alt = NULL;
	struct usb_ep *ep = NULL;

	c->raw = p;
	if (avail < sizeof(c->d)) {
		c->len = avail;
		problem(c, "configuration %u is cut short: %zu bytes where a configuration descriptor needs 9", index,
			avail);
		return;
	}
	memcpy(&c->d, p, sizeof(c->d));
	c->d.wTotalLength = usb_le16(p + 2);
	if (c->d.bDescriptorType != UDK_USB_DT_CONFIGURATION || c->d.bLength < sizeof(c->d)) {
		c->len = MIN(avail, (size_t)MAX(c->d.wTotalLength, sizeof(c->d)));
		problem(c, "configuration %u starts with descriptor type 0x%02x, length %u: not a configuration "
			   "descriptor (type 0x02, at least 9 bytes)",
			index, c->d.bDescriptorType, c->d.bLength);
		return;
	}
	total = c->d.wTotalLength;
	/* from here on nothing is read past @avail, and c->len never says more */
	if (total < c->d.bLength) {
		c->len = MIN(avail, (size_t)c->d.bLength);
		problem(c, "configuration %u has wTotalLength %zu, shorter than its own descriptor", c->d.bConfigurationValue,
			total);
		return;
	}
	if (total > avail) {
		problem(c, "configuration %u has wTotalLength %zu but only %zu bytes of descriptors follow",
			c->d.bConfigurationValue, total, avail);
		total = avail;
	}
	c->len = total;
	if (c->d.bConfigurationValue == 0)
		problem(c, "configuration %u has bConfigurationValue 0, which means \"not configured\"", index);
	for (off = c->d.bLength; off < total;) {
		const uint8_t *q = p + off;
		size_t left = total - off;
		uint8_t dl, type;

		if (left < 2) {
			problem(c, "configuration %u: a descriptor at offset %zu is cut short", c->d.bConfigurationValue, off);
			break;
		}
		dl = q[0];
		type = q[1];
		if (dl < 2) {
			problem(c, "configuration %u: the descriptor at offset %zu has bLength %u (at least 2)",
				c->d.bConfigurationValue, off, dl);
			break;
		}
		if (dl > left) {
			problem(c, "configuration %u: the descriptor at offset %zu (type 0x%02x) has bLength %u, past the "
				   "end of the configuration (%zu bytes left)",
				c->d.bConfigurationValue, off, type, dl, left);
			break;
		}
		if (type == UDK_USB_DT_INTERFACE) {
			struct usb_iface *i;
			if (dl < sizeof(struct udk_usb_interface_descriptor)) {
				problem(c, "configuration %u: an interface descriptor of %u bytes (9 needed)",
					c->d.bConfigurationValue, dl);
				break;
			}
			i = iface_get(c, q[2]);
			alt = i ? alt_add(c, i, q) : NULL;
			ep = NULL;
			if (!alt)
				break;
		} else if (type == UDK_USB_DT_ENDPOINT) {
			struct udk_usb_endpoint_descriptor e;
			unsigned xt;
			uint16_t mps;
			if (dl < sizeof(e)) {
				problem(c, "configuration %u: an endpoint descriptor of %u bytes (7 needed)",
					c->d.bConfigurationValue, dl);
				break;
			}
			if (!alt) {
				problem(c, "configuration %u: an endpoint descriptor before any interface descriptor",
					c->d.bConfigurationValue);
				break;
			}
			memcpy(&e, q, sizeof(e));
			e.wMaxPacketSize = usb_le16(q + 4);
			xt = e.bmAttributes & 3;
			mps = e.wMaxPacketSize & 0x7ff;
			if (UDK_USB_ENDPOINT_NUMBER(e.bEndpointAddress) == 0) {
				problem(c, "interface %u alternate %u lists endpoint 0x%02x, the default control pipe's "
					   "number",
					alt->d.bInterfaceNumber, alt->d.bAlternateSetting, e.bEndpointAddress);
				break;
			}
			if (e.bEndpointAddress & 0x70) {
				problem(c, "interface %u alternate %u lists endpoint address 0x%02x with reserved bits set",
					alt->d.bInterfaceNumber, alt->d.bAlternateSetting, e.bEndpointAddress);
				break;
			}
			if (mps == 0 && !(xt == UDK_USB_TRANSFER_ISOCHRONOUS && alt->d.bAlternateSetting == 0)) {
				problem(c, "endpoint 0x%02x (%s) of interface %u alternate %u has wMaxPacketSize 0: it could "
					   "never move data",
					e.bEndpointAddress, usb_transfer_type_name(xt), alt->d.bInterfaceNumber,
					alt->d.bAlternateSetting);
				break;
			}
			if (usb_alt_endpoint(alt, e.bEndpointAddress)) {
				problem(c, "interface %u alternate %u lists endpoint 0x%02x twice", alt->d.bInterfaceNumber,
					alt->d.bAlternateSetting, e.bEndpointAddress);
				break;
			}
			if (alt->n_eps >= USB_MAX_ENDPOINTS) {
				problem(c, "interface %u alternate %u has more than %u endpoints", alt->d.bInterfaceNumber,
					alt->d.bAlternateSetting, USB_MAX_ENDPOINTS);
				break;
			}
			ep = &alt->eps[alt->n_eps++];
			ep->d = e;
			ep->raw = q;
		} else if (ep) {
			/* class or companion descriptors follow the endpoint they describe */
			if (!ep->extra)
				ep->extra = q;
			ep->extra_len = (size_t)(q + dl - ep->extra);
		} else if (alt) {
			if (!alt->extra)
				alt->extra = q;
			alt->extra_len = (size_t)(q + dl - alt->extra);
		}
		off += dl;
	}
	for (unsigned i = 0; i < c->n_ifaces; i++)
		for (unsigned k = 0; k < c->ifaces[i].n_alts; k++) {
			const struct usb_alt *a = &c->ifaces[i].alts[k];
			if (a->n_eps != a->d.bNumEndpoints)
				problem(c, "interface %u alternate %u declares bNumEndpoints %u but %u endpoint descriptors "
					   "follow it",
					a->d.bInterfaceNumber, a->d.bAlternateSetting, a->d.bNumEndpoints, a->n_eps);
		}
	if (c->n_ifaces != c->d.bNumInterfaces)
		problem(c, "configuration %u claims %u interface%s (bNumInterfaces) but holds %u",
			c->d.bConfigurationValue, c->d.bNumInterfaces, c->d.bNumInterfaces == 1 ? "" : "s",
			c->n_ifaces);
}

int
usb_descs_parse(const uint8_t *p, size_t len, struct usb_descs **ret)
{
	struct usb_descs *d;
	size_t off;
	unsigned want;

	if (!p || len < sizeof(struct udk_usb_device_descriptor))
		return udk_set_reason(-EINVAL, "the device descriptor is %zu bytes; it must be 18", p ? len : 0);
	if (len > USB_MAX_DESCRIPTORS)
		return udk_set_reason(-EINVAL, "%zu bytes of descriptors; udk reads at most %u", len, USB_MAX_DESCRIPTORS);
	if (p[0] != sizeof(struct udk_usb_device_descriptor) || p[1] != UDK_USB_DT_DEVICE)
		return udk_set_reason(-EINVAL,
				      "the device descriptor has bLength %u and type 0x%02x; it must be 18 and 0x01", p[0],
				      p[1]);
	if (p[7] != 8 && p[7] != 16 && p[7] != 32 && p[7] != 64 && !(p[7] == 9 && usb_le16(p + 2) >= 0x0300))
		return udk_set_reason(-EINVAL,
				      "bMaxPacketSize0 is %u; the default pipe takes 8, 16, 32 or 64 bytes (9, meaning "
				      "512, from USB 3.0 on)",
				      p[7]);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->blob = malloc(len);
	if (!d->blob) {
		free(d);
		return -ENOMEM;
	}
	memcpy(d->blob, p, len);
	d->blob_len = len;
	memcpy(&d->dev, p, sizeof(d->dev));
	d->dev.bcdUSB = usb_le16(p + 2);
	d->dev.idVendor = usb_le16(p + 8);
	d->dev.idProduct = usb_le16(p + 10);
	d->dev.bcdDevice = usb_le16(p + 12);
	want = MIN(d->dev.bNumConfigurations, USB_MAX_CONFIGS);
	d->configs = calloc(want ? want : 1, sizeof(*d->configs));
	if (!d->configs) {
		usb_descs_free(d);
		return -ENOMEM;
	}
	for (off = sizeof(d->dev); d->n_configs < want;) {
		struct usb_config *c = &d->configs[d->n_configs++];
		if (off >= len) {
			c->raw = d->blob + len;
			problem(c, "the device says it has %u configurations but the descriptors hold only %u",
				d->dev.bNumConfigurations, d->n_configs - 1);
			break;
		}
		parse_config(c, d->blob + off, len - off, d->n_configs - 1);
		if (!c->len)
			break;
		off += c->len;
	}
	/* two configurations with one value: the second can never be set */
	for (unsigned i = 0; i < d->n_configs; i++)
		for (unsigned k = 0; k < i; k++)
			if (d->configs[i].d.bConfigurationValue && d->configs[i].d.bConfigurationValue == d->configs[k].d.bConfigurationValue)
				problem(&d->configs[i], "configuration %u repeats bConfigurationValue %u", i,
					d->configs[i].d.bConfigurationValue);
	*ret = d;
	return 0;
}

void
usb_descs_free(struct usb_descs *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->n_configs; i++) {
		struct usb_config *c = &d->configs[i];
		for (unsigned k = 0; k < c->n_ifaces; k++)
			free(c->ifaces[k].alts);
		free(c->ifaces);
		free(c->problem);
	}
	free(d->configs);
	free(d->blob);
	free(d);
}

const struct usb_config *
usb_descs_config(const struct usb_descs *d, uint8_t value)
{
	for (unsigned i = 0; d && value && i < d->n_configs; i++)
		if (d->configs[i].d.bConfigurationValue == value)
			return &d->configs[i];
	return NULL;
}

const struct usb_iface *
usb_config_iface(const struct usb_config *c, uint8_t number)
{
	for (unsigned i = 0; c && i < c->n_ifaces; i++)
		if (c->ifaces[i].number == number)
			return &c->ifaces[i];
	return NULL;
}

const struct usb_alt *
usb_iface_alt(const struct usb_iface *i, uint8_t alt)
{
	for (unsigned k = 0; i && k < i->n_alts; k++)
		if (i->alts[k].d.bAlternateSetting == alt)
			return &i->alts[k];
	return NULL;
}

const struct usb_ep *
usb_alt_endpoint(const struct usb_alt *alt, uint8_t address)
{
	for (unsigned k = 0; alt && k < alt->n_eps; k++)
		if (alt->eps[k].d.bEndpointAddress == address)
			return &alt->eps[k];
	return NULL;
}

int
usb_string_to_utf8(const uint8_t *desc, size_t len, char *out, size_t out_len)
{
	size_t o = 0;

	if (!out_len)
		return -EINVAL;
	out[0] = 0;
	if (len < 2 || desc[0] < 2 || desc[0] > len || desc[1] != UDK_USB_DT_STRING || (desc[0] & 1))
		return udk_set_reason(-EINVAL, "not a string descriptor (bLength %u, type 0x%02x)", len ? desc[0] : 0,
				      len > 1 ? desc[1] : 0);
	for (size_t i = 2; i + 1 < desc[0]; i += 2) {
		uint32_t cp = usb_le16(desc + i);
		char buf[4];
		size_t n;

		/* surrogate pairs */
		if (cp >= 0xd800 && cp < 0xdc00 && i + 3 < desc[0]) {
			uint32_t lo = usb_le16(desc + i + 2);
			if (lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 2;
			} else {
				cp = 0xfffd;
			}
		} else if (cp >= 0xd800 && cp < 0xe000) {
			cp = 0xfffd;
		}
		if (cp < 0x80) {
			buf[0] = (char)cp;
			n = 1;
		} else if (cp < 0x800) {
			buf[0] = (char)(0xc0 | (cp >> 6));
			buf[1] = (char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			buf[0] = (char)(0xe0 | (cp >> 12));
			buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			buf[2] = (char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			buf[0] = (char)(0xf0 | (cp >> 18));
			buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			buf[3] = (char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		if (o + n + 1 > out_len)
			return udk_set_reason(-ENOBUFS, "the string does not fit in %zu bytes", out_len);
		memcpy(out + o, buf, n);
		o += n;
	}
	out[o] = 0;
	return (int)o;
}

size_t
usb_string_from_utf8(const char *s, uint8_t *out, size_t out_len)
{
	size_t o = 2;
	const unsigned char *u = (const unsigned char *)s;

	out_len = MIN(out_len, 254u);
	while (*u && o + 2 <= out_len) {
		uint32_t cp;
		if (*u < 0x80) {
			cp = *u++;
		} else if ((*u & 0xe0) == 0xc0 && (u[1] & 0xc0) == 0x80) {
			cp = ((uint32_t)(*u & 0x1f) << 6) | (u[1] & 0x3f);
			u += 2;
		} else if ((*u & 0xf0) == 0xe0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80) {
			cp = ((uint32_t)(*u & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
			u += 3;
		} else {
			cp = 0xfffd;
			u++;
			while ((*u & 0xc0) == 0x80)
				u++;
		}
		out[o++] = (uint8_t)cp;
		out[o++] = (uint8_t)(cp >> 8);
	}
	out[0] = (uint8_t)o;
	out[1] = UDK_USB_DT_STRING;
	return o;
}

const char *
usb_transfer_type_name(unsigned type)
{
	static const char *const names[] = { "control", "isochronous", "bulk", "interrupt" };
	return names[type & 3];
}

const char *
usb_speed_name(unsigned speed)
{
	switch (speed) {
	case UDK_USB_SPEED_LOW:
		return "low (1.5 Mbit/s)";
	case UDK_USB_SPEED_FULL:
		return "full (12 Mbit/s)";
	case UDK_USB_SPEED_HIGH:
		return "high (480 Mbit/s)";
	case UDK_USB_SPEED_SUPER:
		return "super (5 Gbit/s)";
	case UDK_USB_SPEED_SUPER_PLUS:
		return "super+ (10 Gbit/s)";
	default:
		return "unknown";
	}
}
