/* SPDX-License-Identifier: MIT */
/* ftdi.h - the contract between the FTDI USB-serial driver and its apps. */
#ifndef UDK_EXAMPLE_USB_FTDI_H
#define UDK_EXAMPLE_USB_FTDI_H

#include <stdint.h>

enum ftdi_selector {
	FTDI_GET_INFO,		/* -> vendor, product, backend (0 sim, 1 usbfs), baud, bytes in, bytes out, overruns */
	FTDI_WRITE,		/* struct ftdi_io -> bytes written */
	FTDI_READ,		/* struct ftdi_io -> bytes read (waits up to timeout for the first, then takes what is there) */
	FTDI_SET_BAUD,		/* scalar baud -> the rate the chip runs at */
	FTDI_MODEM_STATUS,	/* -> the modem status byte (CTS 0x10, DSR 0x20, RI 0x40, DCD 0x80) */
	FTDI_LOOP,		/* struct ftdi_loop -> bytes that came back, checked */
	FTDI_SELECTOR_COUNT,
};

struct ftdi_io {
	uint64_t addr;
	uint32_t length;
	uint32_t timeout_ms;
};

/* Send @length bytes from @out and read them back into @in (a loopback on
 * the other side), @chunk bytes per write. */
struct ftdi_loop {
	uint64_t out;
	uint64_t in;
	uint32_t length;
	uint32_t chunk;
	uint32_t timeout_ms;
	uint32_t reserved;
};

#endif
