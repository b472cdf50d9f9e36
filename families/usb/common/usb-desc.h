/* SPDX-License-Identifier: MIT */
/*
 * usb-desc.h - the USB family's descriptor reader (internal), shared by
 * udkd, libudk-usb, the USB device-model kind and the fuzz target.
 *
 * Input is what a device gives and what Linux keeps in
 * /sys/bus/usb/devices/X/descriptors: the device descriptor followed by
 * every configuration descriptor with its interfaces, endpoints and
 * class-specific descriptors, back to back.  Descriptors come from
 * devices, device models and sysfs: every length and count is checked.
 *
 * A bad device descriptor makes the whole set unusable (usb_descs_parse
 * fails with a sentence).  A bad configuration (a length that runs past
 * its end, fewer interfaces than bNumInterfaces says, an endpoint count
 * that does not add up, a bulk or interrupt endpoint with max packet 0)
 * is kept with its problem: the device stays visible, that configuration
 * cannot be set, and the sentence says why.
 */
#ifndef UDK_USB_DESC_H
#define UDK_USB_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/families/usb-spec.h>

#define USB_MAX_DESCRIPTORS (64u * 1024u)	/* the whole set */
#define USB_MAX_CONFIGS 8u			/* as Linux (USB_MAXCONFIG) */
#define USB_MAX_INTERFACES 32u			/* per configuration (USB_MAXINTERFACES) */
#define USB_MAX_ALTS 16u			/* per interface */
#define USB_MAX_ENDPOINTS 30u			/* per alternate setting */

struct usb_ep {
	struct udk_usb_endpoint_descriptor d;	/* host order */
	const uint8_t *raw;			/* in the blob */
	const uint8_t *extra;			/* descriptors after it (companions...) */
	size_t extra_len;
};

struct usb_alt {
	struct udk_usb_interface_descriptor d;
	const uint8_t *raw;
	const uint8_t *extra;			/* class-specific descriptors after it */
	size_t extra_len;
	unsigned n_eps;
	struct usb_ep eps[USB_MAX_ENDPOINTS];
};

struct usb_iface {
	uint8_t number;
	unsigned n_alts;
	struct usb_alt *alts;			/* in descriptor order */
};

struct usb_config {
	struct udk_usb_configuration_descriptor d;
	const uint8_t *raw;			/* wTotalLength bytes (or what there is) */
	size_t len;
	unsigned n_ifaces;
	struct usb_iface *ifaces;		/* in order of first appearance */
	char *problem;				/* NULL: usable */
};

struct usb_descs {
	struct udk_usb_device_descriptor dev;	/* host order */
	unsigned n_configs;
	struct usb_config *configs;
	uint8_t *blob;				/* our copy of the input */
	size_t blob_len;
};

/* Read @len bytes at @p.  -EINVAL with a reason when the device
 * descriptor is unusable; otherwise 0 (configurations may carry problems). */
int usb_descs_parse(const uint8_t *p, size_t len, struct usb_descs **ret);
void usb_descs_free(struct usb_descs *d);

/* The configuration with bConfigurationValue @value, or NULL. */
const struct usb_config *usb_descs_config(const struct usb_descs *d, uint8_t value);
const struct usb_iface *usb_config_iface(const struct usb_config *c, uint8_t number);
const struct usb_alt *usb_iface_alt(const struct usb_iface *i, uint8_t alt);
/* The endpoint @address in alternate setting @alt, or NULL. */
const struct usb_ep *usb_alt_endpoint(const struct usb_alt *alt, uint8_t address);

/* A UTF-16LE string descriptor as UTF-8 into @out (NUL-terminated).
 * -EINVAL when malformed. */
int usb_string_to_utf8(const uint8_t *desc, size_t len, char *out, size_t out_len);
/* A string descriptor of @s (UTF-8) into @out (at most 255 bytes); returns
 * its length. */
size_t usb_string_from_utf8(const char *s, uint8_t *out, size_t out_len);

/* "bulk", "interrupt"... */
const char *usb_transfer_type_name(unsigned type);
const char *usb_speed_name(unsigned speed);

static inline uint16_t
usb_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

#endif
