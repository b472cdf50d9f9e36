/* SPDX-License-Identifier: MIT */
/*
 * usb-descs - print a device's descriptors as udk reads them (the reader
 * udkd, the driver library and the device models share).
 *
 *   usb-descs /sys/bus/usb/devices/1-1/descriptors
 */
#include <stdio.h>
#include <stdlib.h>

#include "usb-desc.h"
#include "util.h"

int
main(int argc, char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	struct usb_descs *d = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: usb-descs FILE\n");
		return 2;
	}
	if ((r = read_file(argv[1], 2 * USB_MAX_DESCRIPTORS, &buf, &len)) < 0) {
		fprintf(stderr, "usb-descs: %s: %s\n", argv[1], udk_strerror(r));
		return 1;
	}
	if ((r = usb_descs_parse((const uint8_t *)buf, len, &d)) < 0) {
		fprintf(stderr, "usb-descs: %s\n", udk_error_reason());
		free(buf);
		return 1;
	}
	printf("device %04x:%04x USB %x.%02x class 0x%02x, %u configuration%s\n", d->dev.idVendor, d->dev.idProduct,
	       d->dev.bcdUSB >> 8, d->dev.bcdUSB & 0xff, d->dev.bDeviceClass, d->n_configs, d->n_configs == 1 ? "" : "s");
	for (unsigned i = 0; i < d->n_configs; i++) {
		const struct usb_config *c = &d->configs[i];
		printf("configuration %u: %u interface%s%s%s\n", c->d.bConfigurationValue, c->n_ifaces,
		       c->n_ifaces == 1 ? "" : "s", c->problem ? "; unusable: " : "", c->problem ? c->problem : "");
		for (unsigned j = 0; j < c->n_ifaces; j++)
			for (unsigned a = 0; a < c->ifaces[j].n_alts; a++) {
				const struct usb_alt *alt = &c->ifaces[j].alts[a];
				printf("interface %u alternate %u: class 0x%02x subclass 0x%02x protocol 0x%02x, endpoints",
				       alt->d.bInterfaceNumber, alt->d.bAlternateSetting, alt->d.bInterfaceClass,
				       alt->d.bInterfaceSubClass, alt->d.bInterfaceProtocol);
				for (unsigned e = 0; e < alt->n_eps; e++)
					printf(" 0x%02x %s %u", alt->eps[e].d.bEndpointAddress,
					       usb_transfer_type_name(alt->eps[e].d.bmAttributes),
					       alt->eps[e].d.wMaxPacketSize & 0x7ff);
				printf("%s\n", alt->n_eps ? "" : " none");
			}
	}
	usb_descs_free(d);
	free(buf);
	return 0;
}
