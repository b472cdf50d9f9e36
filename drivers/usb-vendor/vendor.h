/* SPDX-License-Identifier: MIT */
/* vendor.h - the contract between the vendor-class USB driver and its apps. */
#ifndef UDK_EXAMPLE_USB_VENDOR_H
#define UDK_EXAMPLE_USB_VENDOR_H

#include <stdint.h>

enum vendor_selector {
	VENDOR_GET_INFO,	/* -> scalars: enum vendor_info */
	VENDOR_LOOP,		/* struct vendor_loop -> bytes that came back */
	VENDOR_WRITE,		/* struct vendor_io: bulk OUT from the app's buffer -> bytes sent */
	VENDOR_READ,		/* struct vendor_io: bulk IN into the app's buffer -> bytes received */
	VENDOR_STRINGS,		/* -> struct output "manufacturer\0product\0serial\0" */
	VENDOR_SELECTOR_COUNT,
};

enum vendor_info {
	VI_VENDOR,
	VI_PRODUCT,
	VI_INTERFACES,		/* how many interfaces the iterator returned */
	VI_CLASS,		/* bInterfaceClass of the one the driver opened */
	VI_INTERFACE,		/* its number */
	VI_EP_IN,
	VI_EP_OUT,
	VI_MAX_PACKET,
	VI_CONFIGURATION,
	VI_BACKEND,		/* 0 sim, 1 usbfs */
	VI_INTERFACE_ID,	/* registry id of its IOUSBHostInterface nub */
	VI_COUNT,
};

/* Stream @length bytes out of the app's @out buffer and back into @in, in
 * @chunk-byte transfers, @depth of each direction in flight. */
struct vendor_loop {
	uint64_t out;
	uint64_t in;
	uint64_t length;
	uint32_t chunk;
	uint32_t depth;
};

struct vendor_io {
	uint64_t addr;
	uint32_t length;
	uint32_t timeout_ms;
};

#endif
