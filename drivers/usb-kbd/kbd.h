/* SPDX-License-Identifier: MIT */
/* kbd.h - the contract between the USB boot-keyboard driver and its apps. */
#ifndef UDK_EXAMPLE_USB_KBD_H
#define UDK_EXAMPLE_USB_KBD_H

#include <stdint.h>

enum kbd_selector {
	KBD_GET_INFO,		/* -> vendor, product, interface, backend (0 sim, 1 usbfs), idle ms, reports so far */
	KBD_READ,		/* scalars n, timeout ms -> struct: n reports of 8 bytes (fewer at the timeout) */
	KBD_SELECTOR_COUNT,
};

#endif
